//! Firewall rules that are facts about the domain rather than reviewable policy: which kinds
//! of agency produce which kinds of record. The firewall enforces them as hard rules after the
//! policy engine; ingest reports them per record.

use crate::{
    identity::AgencyKind,
    pb::{EventKind, vawg_record::Event},
};

/// The key in a stored record's detail that labels its suspect as police personnel
/// (`VawgRecord.suspect_is_police_personnel`): present, and `true`, only on labelled records.
pub const POLICE_PERSONNEL_KEY: &str = "suspect_is_police_personnel";

/// Whether an agency of `kind` may submit records of `event` kind. Deny by default: anything
/// not listed is refused (a school cannot submit a court outcome; immigration enforcement
/// and the central team submit nothing).
pub fn may_produce(kind: AgencyKind, event: EventKind) -> bool {
    use AgencyKind as A;
    use EventKind as E;
    match event {
        E::Unspecified => false,
        E::CrimeRecorded | E::PoliceOutcome | E::DomesticHomicide | E::EncompassNotification => {
            kind == A::Police
        }
        E::CpsReferral | E::ChargingDecision => matches!(kind, A::Police | A::Cps),
        E::ProsecutionOutcome => kind == A::Cps,
        E::CourtOutcome => kind == A::Court,
        E::ProtectiveOrder => matches!(kind, A::Court | A::Police),
        E::VictimWithdrawal => matches!(kind, A::Police | A::Cps | A::Court),
        E::MaracReferral => matches!(
            kind,
            A::Police
                | A::Health
                | A::LocalAuthority
                | A::SupportService
                | A::Probation
                | A::Marac
                | A::School
        ),
        E::SupportReferral => matches!(
            kind,
            A::Police
                | A::Cps
                | A::Court
                | A::Health
                | A::LocalAuthority
                | A::School
                | A::SupportService
                | A::Probation
                | A::Marac
        ),
        E::SupportProvided | E::UnableToSupport => kind == A::SupportService,
        E::HealthDisclosure | E::HealthReferral => kind == A::Health,
        E::VictimSatisfaction => matches!(kind, A::Police | A::Court | A::SupportService),
        E::FundingReturn => matches!(kind, A::Commissioner | A::LocalAuthority),
    }
}

/// The event kind of a record's event (the `event` oneof of `VawgRecord`).
pub fn event_kind(event: &Event) -> EventKind {
    match event {
        Event::CrimeRecorded(_) => EventKind::CrimeRecorded,
        Event::PoliceOutcome(_) => EventKind::PoliceOutcome,
        Event::CpsReferral(_) => EventKind::CpsReferral,
        Event::ChargingDecision(_) => EventKind::ChargingDecision,
        Event::ProsecutionOutcome(_) => EventKind::ProsecutionOutcome,
        Event::CourtOutcome(_) => EventKind::CourtOutcome,
        Event::ProtectiveOrder(_) => EventKind::ProtectiveOrder,
        Event::VictimWithdrawal(_) => EventKind::VictimWithdrawal,
        Event::MaracReferral(_) => EventKind::MaracReferral,
        Event::SupportReferral(_) => EventKind::SupportReferral,
        Event::SupportProvided(_) => EventKind::SupportProvided,
        Event::UnableToSupport(_) => EventKind::UnableToSupport,
        Event::HealthDisclosure(_) => EventKind::HealthDisclosure,
        Event::HealthReferral(_) => EventKind::HealthReferral,
        Event::EncompassNotification(_) => EventKind::EncompassNotification,
        Event::DomesticHomicide(_) => EventKind::DomesticHomicide,
        Event::VictimSatisfaction(_) => EventKind::VictimSatisfaction,
        Event::FundingReturn(_) => EventKind::FundingReturn,
    }
}

/// Every event kind (except UNSPECIFIED), in contract order.
pub const EVENT_KINDS: [EventKind; 18] = [
    EventKind::CrimeRecorded,
    EventKind::PoliceOutcome,
    EventKind::CpsReferral,
    EventKind::ChargingDecision,
    EventKind::ProsecutionOutcome,
    EventKind::CourtOutcome,
    EventKind::ProtectiveOrder,
    EventKind::VictimWithdrawal,
    EventKind::MaracReferral,
    EventKind::SupportReferral,
    EventKind::SupportProvided,
    EventKind::UnableToSupport,
    EventKind::HealthDisclosure,
    EventKind::HealthReferral,
    EventKind::EncompassNotification,
    EventKind::DomesticHomicide,
    EventKind::VictimSatisfaction,
    EventKind::FundingReturn,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn immigration_enforcement_and_the_central_team_produce_nothing() {
        for event in EVENT_KINDS {
            assert!(
                !may_produce(AgencyKind::ImmigrationEnforcement, event),
                "{event:?}"
            );
            assert!(!may_produce(AgencyKind::CentralAnalyst, event), "{event:?}");
        }
    }

    #[test]
    fn every_event_kind_has_a_producer_and_schools_cannot_submit_court_outcomes() {
        for event in EVENT_KINDS {
            assert!(
                AgencyKind::ALL.iter().any(|k| may_produce(*k, event)),
                "{event:?}"
            );
        }
        assert!(!may_produce(AgencyKind::School, EventKind::CourtOutcome));
        assert!(may_produce(AgencyKind::Court, EventKind::CourtOutcome));
        assert!(!may_produce(AgencyKind::Police, EventKind::Unspecified));
    }
}
