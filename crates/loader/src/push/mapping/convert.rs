//! Converting one row: every mapped field read, translated and checked, every problem of the
//! row collected rather than the first.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use vawg_proto::pb::{self, vawg_record::Event};

use super::{Mapping, MappingError, PeriodRule, Row};

/// Converts rows with one mapping, collecting every problem of a row rather than the first.
struct Converter<'a, R: Row> {
    mapping: &'a Mapping,
    row: &'a R,
    errors: Vec<MappingError>,
}

impl<R: Row> Converter<'_, R> {
    fn where_(&self, path: &str) -> String {
        match self.mapping.fields.get(path).and_then(|s| s.column.clone()) {
            Some(c) => c,
            None => format!("(constant {path})"),
        }
    }

    fn fail(&mut self, path: &str, reason: impl Into<String>) {
        let column = self.where_(path);
        self.errors.push(MappingError {
            column,
            reason: reason.into(),
        });
    }

    /// The contract value of `path` for this row: `Ok(None)` when unmapped or optional and
    /// empty; records an error and returns `None` when required and empty or not in `codes`.
    fn text(&mut self, path: &str, required: bool) -> Option<String> {
        let spec = self.mapping.fields.get(path)?;
        let raw = match (&spec.value, &spec.column) {
            (Some(v), _) => Some(v.clone()),
            (None, Some(c)) => self.row.get(c).or_else(|| spec.default.clone()),
            (None, None) => None,
        };
        let Some(raw) = raw else {
            if required && !spec.optional {
                self.fail(path, format!("empty, but {path} is required"));
            }
            return None;
        };
        match &spec.codes {
            Some(codes) if spec.value.is_none() => match codes.get(&raw) {
                Some(v) => Some(v.clone()),
                // A default is already a contract value.
                None if spec.default.as_deref() == Some(raw.as_str()) => Some(raw),
                None => {
                    let known: Vec<&str> = codes.keys().map(String::as_str).collect();
                    self.fail(
                        path,
                        format!(
                            "code '{raw}' is not in the mapping's codes for {path} ({})",
                            known.join(", ")
                        ),
                    );
                    None
                }
            },
            _ => Some(raw),
        }
    }

    fn string(&mut self, path: &str) -> String {
        self.text(path, false).unwrap_or_default()
    }

    fn required_string(&mut self, path: &str) -> String {
        self.text(path, true).unwrap_or_default()
    }

    fn number<T: std::str::FromStr>(&mut self, path: &str, required: bool) -> Option<T> {
        let text = self.text(path, required)?;
        match text.parse::<T>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.fail(path, format!("'{text}' is not a whole number"));
                None
            }
        }
    }

    fn boolean(&mut self, path: &str) -> bool {
        let Some(text) = self.text(path, false) else {
            return false;
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" => true,
            "false" | "no" | "n" | "0" => false,
            _ => {
                self.fail(path, format!("'{text}' is not true or false"));
                false
            }
        }
    }

    /// A contract enum value by name, with or without its prefix (`FEMALE`, `SEX_FEMALE`).
    fn enumeration(
        &mut self,
        path: &str,
        required: bool,
        prefix: &str,
        parse: fn(&str) -> Option<i32>,
    ) -> i32 {
        let Some(text) = self.text(path, required) else {
            return 0;
        };
        let upper = text.trim().to_ascii_uppercase().replace(['-', ' '], "_");
        let full = if upper.starts_with(prefix) {
            upper
        } else {
            format!("{prefix}{upper}")
        };
        match parse(&full) {
            Some(v) => v,
            None => {
                self.fail(
                    path,
                    format!("'{text}' is not a contract value for {path} ({prefix}…)"),
                );
                0
            }
        }
    }

    fn parse_datetime(&self, path: &str, text: &str) -> Result<DateTime<Utc>, String> {
        let format = self.mapping.fields.get(path).and_then(|s| s.format.clone());
        match format {
            Some(f) => NaiveDateTime::parse_from_str(text, &f)
                .or_else(|_| {
                    NaiveDate::parse_from_str(text, &f).map(|d| d.and_time(NaiveTime::MIN))
                })
                .map(|t| t.and_utc())
                .map_err(|_| format!("'{text}' does not match the date format '{f}'")),
            None => DateTime::parse_from_rfc3339(text)
                .map(|t| t.with_timezone(&Utc))
                .or_else(|_| {
                    NaiveDate::parse_from_str(text, "%Y-%m-%d")
                        .map(|d| d.and_time(NaiveTime::MIN).and_utc())
                })
                .map_err(|_| {
                    format!("'{text}' is not an RFC 3339 time or YYYY-MM-DD date (set `format`)")
                }),
        }
    }

    fn time(&mut self, path: &str) -> Option<DateTime<Utc>> {
        let text = self.text(path, true)?;
        match self.parse_datetime(path, &text) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(path, e);
                None
            }
        }
    }

    fn date(&mut self, path: &str) -> Option<pb::Date> {
        let text = self.text(path, false)?;
        match self.parse_datetime(path, &text) {
            Ok(t) => Some(date(t.date_naive())),
            Err(e) => {
                self.fail(path, e);
                None
            }
        }
    }

    fn person(&mut self, who: &str) -> Option<pb::PersonReference> {
        let mapped = self
            .mapping
            .fields
            .keys()
            .any(|k| k.starts_with(&format!("{who}.")));
        if !mapped {
            return None;
        }
        let p = |f: &str| format!("{who}.{f}");
        let identifiers = pb::PersonIdentifiers {
            given_name: self.string(&p("given_name")),
            family_name: self.string(&p("family_name")),
            date_of_birth: self.date(&p("date_of_birth")),
            nhs_number: self.string(&p("nhs_number")),
            pnc_id: self.string(&p("pnc_id")),
            local_person_id: self.string(&p("local_person_id")),
        };
        let has_identifier = !identifiers.given_name.is_empty()
            || !identifiers.family_name.is_empty()
            || !identifiers.nhs_number.is_empty()
            || !identifiers.pnc_id.is_empty()
            || !identifiers.local_person_id.is_empty();
        let demographics = pb::Demographics {
            sex: self.enumeration(&p("sex"), false, "SEX_", |s| {
                pb::Sex::from_str_name(s).map(|v| v as i32)
            }),
            age_at_event: self.number(&p("age_at_event"), false),
            ethnic_group: self.enumeration(&p("ethnic_group"), false, "ETHNIC_GROUP_", |s| {
                pb::EthnicGroup::from_str_name(s).map(|v| v as i32)
            }),
            disability: self.enumeration(&p("disability"), false, "DISABILITY_", |s| {
                pb::Disability::from_str_name(s).map(|v| v as i32)
            }),
            sexual_orientation: self.enumeration(
                &p("sexual_orientation"),
                false,
                "SEXUAL_ORIENTATION_",
                |s| pb::SexualOrientation::from_str_name(s).map(|v| v as i32),
            ),
            gender_identity: self.enumeration(
                &p("gender_identity"),
                false,
                "GENDER_IDENTITY_",
                |s| pb::GenderIdentity::from_str_name(s).map(|v| v as i32),
            ),
            immigration_status: self.enumeration(
                &p("immigration_status"),
                false,
                "IMMIGRATION_STATUS_",
                |s| pb::ImmigrationStatus::from_str_name(s).map(|v| v as i32),
            ),
        };
        // A suspect whose every identifier cell is empty is an unknown suspect: leave it out.
        if who == "suspect" && !has_identifier && identifiers.date_of_birth.is_none() {
            return None;
        }
        Some(pb::PersonReference {
            identifiers: Some(identifiers),
            pseudonym: String::new(),
            demographics: Some(demographics),
        })
    }

    fn event(&mut self) -> Option<Event> {
        let kind = self.text("event", true)?;
        macro_rules! en {
            ($field:literal, $ty:ident, $prefix:literal) => {
                self.enumeration(concat!("event.", $field), true, $prefix, |s| {
                    pb::$ty::from_str_name(s).map(|v| v as i32)
                })
            };
        }
        let event = match kind.as_str() {
            "crime_recorded" => Event::CrimeRecorded(pb::CrimeRecorded {
                domestic_abuse_flag: self.boolean("event.domestic_abuse_flag"),
                relationship: en!("relationship", Relationship, "RELATIONSHIP_"),
                online_flag: self.boolean("event.online_flag"),
            }),
            "police_outcome" => Event::PoliceOutcome(pb::PoliceOutcome {
                home_office_outcome_type: self
                    .number("event.home_office_outcome_type", true)
                    .unwrap_or(0),
                group: en!("group", PoliceOutcomeGroup, "POLICE_OUTCOME_GROUP_"),
            }),
            "cps_referral" => Event::CpsReferral(pb::CpsReferral {
                referral_type: en!("referral_type", ReferralType, "REFERRAL_TYPE_"),
            }),
            "charging_decision" => Event::ChargingDecision(pb::ChargingDecision {
                decision_maker: en!("decision_maker", DecisionMaker, "DECISION_MAKER_"),
                decision: en!("decision", ChargeDecision, "CHARGE_DECISION_"),
            }),
            "prosecution_outcome" => Event::ProsecutionOutcome(pb::ProsecutionOutcome {
                result: en!("result", ProsecutionResult, "PROSECUTION_RESULT_"),
            }),
            "court_outcome" => Event::CourtOutcome(pb::CourtOutcome {
                court_type: en!("court_type", CourtType, "COURT_TYPE_"),
                verdict: en!("verdict", CourtVerdict, "COURT_VERDICT_"),
                trial_effectiveness: self.enumeration(
                    "event.trial_effectiveness",
                    false,
                    "TRIAL_EFFECTIVENESS_",
                    |s| pb::TrialEffectiveness::from_str_name(s).map(|v| v as i32),
                ),
            }),
            "protective_order" => Event::ProtectiveOrder(pb::ProtectiveOrder {
                order_type: en!("order_type", OrderType, "ORDER_TYPE_"),
                decision: en!("decision", OrderDecision, "ORDER_DECISION_"),
                expires_on: self.date("event.expires_on"),
            }),
            "victim_withdrawal" => Event::VictimWithdrawal(pb::VictimWithdrawal {
                stage: en!("stage", WithdrawalStage, "WITHDRAWAL_STAGE_"),
                case_ended: self.boolean("event.case_ended"),
            }),
            "marac_referral" => Event::MaracReferral(pb::MaracReferral {
                referring_agency: en!("referring_agency", ReferringAgency, "REFERRING_AGENCY_"),
                repeat_referral: self.boolean("event.repeat_referral"),
                children_in_household: self
                    .number("event.children_in_household", false)
                    .unwrap_or(0),
            }),
            "support_referral" => Event::SupportReferral(pb::SupportReferral {
                to_agency_id: self.required_string("event.to_agency_id"),
                service_type: en!("service_type", SupportServiceType, "SUPPORT_SERVICE_TYPE_"),
            }),
            "support_provided" => Event::SupportProvided(pb::SupportProvided {
                service_type: en!("service_type", SupportServiceType, "SUPPORT_SERVICE_TYPE_"),
                contacts: self.number("event.contacts", false).unwrap_or(0),
            }),
            "unable_to_support" => Event::UnableToSupport(pb::UnableToSupport {
                service_type: en!("service_type", SupportServiceType, "SUPPORT_SERVICE_TYPE_"),
                reason: en!("reason", UnableToSupportReason, "UNABLE_TO_SUPPORT_REASON_"),
            }),
            "health_disclosure" => Event::HealthDisclosure(pb::HealthDisclosure {
                setting: en!("setting", HealthSetting, "HEALTH_SETTING_"),
            }),
            "health_referral" => Event::HealthReferral(pb::HealthReferral {
                setting: en!("setting", HealthSetting, "HEALTH_SETTING_"),
                destination: en!(
                    "destination",
                    HealthReferralDestination,
                    "HEALTH_REFERRAL_DESTINATION_"
                ),
            }),
            "domestic_homicide" => Event::DomesticHomicide(pb::DomesticHomicide {
                homicide_type: en!("homicide_type", HomicideType, "HOMICIDE_TYPE_"),
            }),
            "victim_satisfaction" => Event::VictimSatisfaction(pb::VictimSatisfaction {
                stage: en!("stage", SatisfactionStage, "SATISFACTION_STAGE_"),
                level: en!("level", SatisfactionLevel, "SATISFACTION_LEVEL_"),
            }),
            other => {
                self.fail(
                    "event",
                    format!("event kind '{other}' is not one the loader builds"),
                );
                return None;
            }
        };
        Some(event)
    }
}

fn date(d: NaiveDate) -> pb::Date {
    pb::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn timestamp(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn period(rule: PeriodRule, event: DateTime<Utc>, recorded: DateTime<Utc>) -> pb::ReferencePeriod {
    let (t, month) = match rule {
        PeriodRule::RecordedMonth => (recorded, true),
        PeriodRule::EventMonth => (event, true),
        PeriodRule::RecordedDay => (recorded, false),
        PeriodRule::EventDay => (event, false),
    };
    let d = t.date_naive();
    if !month {
        return pb::ReferencePeriod {
            start: Some(date(d)),
            end: Some(date(d)),
        };
    }
    let first = d.with_day(1).unwrap_or(d);
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    let last = next.and_then(|n| n.pred_opt()).unwrap_or(d);
    pb::ReferencePeriod {
        start: Some(date(first)),
        end: Some(date(last)),
    }
}

impl Mapping {
    /// Converts one row to a contract record, or every reason it cannot be converted.
    pub fn convert(&self, row: &impl Row) -> Result<pb::VawgRecord, Vec<MappingError>> {
        let mut c = Converter {
            mapping: self,
            row,
            errors: Vec::new(),
        };
        let source_record_id = c.required_string("source_record_id");
        let revision = if self.fields.contains_key("revision") {
            c.number("revision", true).unwrap_or(0)
        } else {
            1
        };
        let source_agency_id = c.required_string("source_agency_id");
        let event_time = c.time("event_time");
        let recorded_time = c.time("recorded_time");
        let reference_period = if self.fields.contains_key("reference_period.start") {
            Some(pb::ReferencePeriod {
                start: c.date("reference_period.start"),
                end: c.date("reference_period.end"),
            })
        } else {
            match (event_time, recorded_time) {
                (Some(e), Some(r)) => Some(period(self.source.reference_period, e, r)),
                _ => None,
            }
        };
        let counting_unit = c.enumeration("counting_unit", true, "COUNTING_UNIT_", |s| {
            pb::CountingUnit::from_str_name(s).map(|v| v as i32)
        });
        let area = pb::Area {
            gss_code: c.required_string("area.gss_code"),
            level: c.enumeration("area.level", true, "AREA_LEVEL_", |s| {
                pb::AreaLevel::from_str_name(s).map(|v| v as i32)
            }),
        };
        let classification = pb::LocalClassification {
            scheme: c.required_string("classification.scheme"),
            code: c.required_string("classification.code"),
        };
        let victim = c.person("victim");
        let suspect = c.person("suspect");
        let refs = pb::CaseReferences {
            police_crime_reference: c.string("case_references.police_crime_reference"),
            cps_urn: c.string("case_references.cps_urn"),
            court_case_number: c.string("case_references.court_case_number"),
            ..Default::default()
        };
        let has_refs = !(refs.police_crime_reference.is_empty()
            && refs.cps_urn.is_empty()
            && refs.court_case_number.is_empty());
        let event = c.event();
        if !c.errors.is_empty() {
            return Err(c.errors);
        }
        Ok(pb::VawgRecord {
            source_record_id,
            revision,
            source_agency_id,
            event_time: event_time.map(timestamp),
            recorded_time: recorded_time.map(timestamp),
            reference_period,
            counting_unit,
            area: Some(area),
            classification: Some(classification),
            victim,
            suspect,
            case_references: has_refs.then_some(refs),
            category: String::new(),
            definition_version: String::new(),
            suspect_is_police_personnel: false,
            event,
        })
    }
}
