//! The contract's enums as the validator reads them: each with its canonical name and its
//! `UNSPECIFIED` value.

use vawg_proto::pb;

/// A contract enum with its canonical name (the value name without the enum's prefix).
pub(super) trait ProtoEnum: Sized + Copy + PartialEq + TryFrom<i32> {
    /// The zero value, which means "not given".
    const UNSPECIFIED: Self;
    /// The value name without the enum's prefix (`CRIME_RECORDED`, not `EVENT_KIND_CRIME_RECORDED`).
    fn canonical(self) -> &'static str;
}

macro_rules! proto_enum {
    ($($ty:ident => $prefix:literal),* $(,)?) => {$(
        impl ProtoEnum for pb::$ty {
            const UNSPECIFIED: Self = pb::$ty::Unspecified;
            fn canonical(self) -> &'static str {
                let name = self.as_str_name();
                name.strip_prefix($prefix).unwrap_or(name)
            }
        }
    )*};
}

proto_enum! {
    CountingUnit => "COUNTING_UNIT_",
    AreaLevel => "AREA_LEVEL_",
    Sex => "SEX_",
    EthnicGroup => "ETHNIC_GROUP_",
    Disability => "DISABILITY_",
    SexualOrientation => "SEXUAL_ORIENTATION_",
    GenderIdentity => "GENDER_IDENTITY_",
    ImmigrationStatus => "IMMIGRATION_STATUS_",
    Relationship => "RELATIONSHIP_",
    PoliceOutcomeGroup => "POLICE_OUTCOME_GROUP_",
    ReferralType => "REFERRAL_TYPE_",
    DecisionMaker => "DECISION_MAKER_",
    ChargeDecision => "CHARGE_DECISION_",
    ProsecutionResult => "PROSECUTION_RESULT_",
    CourtType => "COURT_TYPE_",
    CourtVerdict => "COURT_VERDICT_",
    TrialEffectiveness => "TRIAL_EFFECTIVENESS_",
    OrderType => "ORDER_TYPE_",
    OrderDecision => "ORDER_DECISION_",
    WithdrawalStage => "WITHDRAWAL_STAGE_",
    ReferringAgency => "REFERRING_AGENCY_",
    SupportServiceType => "SUPPORT_SERVICE_TYPE_",
    UnableToSupportReason => "UNABLE_TO_SUPPORT_REASON_",
    HealthSetting => "HEALTH_SETTING_",
    HealthReferralDestination => "HEALTH_REFERRAL_DESTINATION_",
    HomicideType => "HOMICIDE_TYPE_",
    SatisfactionStage => "SATISFACTION_STAGE_",
    SatisfactionLevel => "SATISFACTION_LEVEL_",
    EventKind => "EVENT_KIND_",
}
