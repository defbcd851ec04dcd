//! The mapping file of `vawg-hub push`: how an agency's extract — its column names, its local
//! codes, its date formats — becomes contract records.
//!
//! ```toml
//! [source]
//! format = "csv"                       # csv | ndjson (default: from the file's extension)
//! delimiter = ","                      # csv only
//! reference_period = "recorded_month"  # or event_month, recorded_day, event_day, or map
//!                                      # "reference_period.start" and ".end"
//! [fields]
//! source_record_id = { column = "CRIME_NO" }
//! "victim.sex" = { column = "V_GENDER", codes = { F = "FEMALE", M = "MALE" } }
//! "area.gss_code" = { value = "E23000001" }
//! event_time = { column = "COMMITTED", format = "%d/%m/%Y" }
//! ```
//!
//! A field is read from a `column` (a CSV header, or a JSON key with dots for nesting),
//! translated by `codes` when given, or set to a constant `value`. A required field whose cell
//! is empty takes its `default`, or the row is refused; an `optional` one is left unset. A cell
//! whose code is not in `codes` is refused, never guessed. Dates and times without a zone are
//! taken as UTC.

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, bail};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use serde::Deserialize;
use vawg_proto::pb::{self, vawg_record::Event};

/// The input format of an extract.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Comma- (or otherwise) separated values with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

/// How each record's statistical reference period is derived, when not mapped from columns.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PeriodRule {
    /// The calendar month of `recorded_time`.
    #[default]
    RecordedMonth,
    /// The calendar month of `event_time`.
    EventMonth,
    /// The day of `recorded_time`.
    RecordedDay,
    /// The day of `event_time`.
    EventDay,
}

/// The `[source]` table.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceSpec {
    /// csv or ndjson; from the file's extension when absent.
    pub format: Option<Format>,
    /// The CSV delimiter (one character; default `,`).
    pub delimiter: Option<char>,
    /// How the reference period is derived.
    #[serde(default)]
    pub reference_period: PeriodRule,
}

/// Where one contract field comes from.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The column (CSV header or JSON key; dots reach into nested objects).
    pub column: Option<String>,
    /// A constant value for every row.
    pub value: Option<String>,
    /// The agency's local codes to contract values.
    pub codes: Option<BTreeMap<String, String>>,
    /// A `chrono` format for dates and times (default: RFC 3339 or `YYYY-MM-DD`).
    pub format: Option<String>,
    /// The value when the cell is empty.
    pub default: Option<String>,
    /// Leave the field unset when the cell is empty (instead of refusing the row).
    #[serde(default)]
    pub optional: bool,
}

/// A whole mapping file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// How to read the file.
    #[serde(default)]
    pub source: SourceSpec,
    /// Contract field path → where it comes from.
    pub fields: BTreeMap<String, FieldSpec>,
}

/// The person fields, under `victim.` and `suspect.`.
const PERSON_FIELDS: [&str; 13] = [
    "given_name",
    "family_name",
    "date_of_birth",
    "nhs_number",
    "pnc_id",
    "local_person_id",
    "sex",
    "age_at_event",
    "ethnic_group",
    "disability",
    "sexual_orientation",
    "gender_identity",
    "immigration_status",
];

/// The record fields besides people and the event's own fields.
const RECORD_FIELDS: [&str; 15] = [
    "source_record_id",
    "revision",
    "source_agency_id",
    "event",
    "event_time",
    "recorded_time",
    "reference_period.start",
    "reference_period.end",
    "counting_unit",
    "area.gss_code",
    "area.level",
    "classification.scheme",
    "classification.code",
    "case_references.police_crime_reference",
    "case_references.cps_urn",
];

/// Each event kind the loader builds, with its fields (under `event.`).
const EVENTS: [(&str, &[&str]); 16] = [
    (
        "crime_recorded",
        &["domestic_abuse_flag", "relationship", "online_flag"],
    ),
    ("police_outcome", &["home_office_outcome_type", "group"]),
    ("cps_referral", &["referral_type"]),
    ("charging_decision", &["decision_maker", "decision"]),
    ("prosecution_outcome", &["result"]),
    (
        "court_outcome",
        &["court_type", "verdict", "trial_effectiveness"],
    ),
    (
        "protective_order",
        &["order_type", "decision", "expires_on"],
    ),
    ("victim_withdrawal", &["stage", "case_ended"]),
    (
        "marac_referral",
        &[
            "referring_agency",
            "repeat_referral",
            "children_in_household",
        ],
    ),
    ("support_referral", &["to_agency_id", "service_type"]),
    ("support_provided", &["service_type", "contacts"]),
    ("unable_to_support", &["service_type", "reason"]),
    ("health_disclosure", &["setting"]),
    ("health_referral", &["setting", "destination"]),
    ("domestic_homicide", &["homicide_type"]),
    ("victim_satisfaction", &["stage", "level"]),
];

fn known_field(path: &str) -> bool {
    if RECORD_FIELDS.contains(&path) || path == "case_references.court_case_number" {
        return true;
    }
    if let Some(f) = path
        .strip_prefix("victim.")
        .or_else(|| path.strip_prefix("suspect."))
    {
        return PERSON_FIELDS.contains(&f);
    }
    if let Some(f) = path.strip_prefix("event.") {
        return EVENTS.iter().any(|(_, fields)| fields.contains(&f));
    }
    false
}

impl Mapping {
    /// Reads and checks a mapping file.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Mapping> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading the mapping file {}", path.display()))?;
        let mapping: Mapping = toml::from_str(&text)
            .with_context(|| format!("parsing the mapping file {}", path.display()))?;
        mapping
            .check()
            .with_context(|| format!("in the mapping file {}", path.display()))?;
        Ok(mapping)
    }

    /// Checks that every field is one the loader knows, set one way, and that the fields every
    /// record needs are mapped.
    pub fn check(&self) -> anyhow::Result<()> {
        for (path, spec) in &self.fields {
            if !known_field(path) {
                bail!(
                    "field '{path}' is not a contract field the loader maps (record fields: {}; \
                     victim.* and suspect.*: {}; event.*: the fields of the event kind)",
                    RECORD_FIELDS.join(", "),
                    PERSON_FIELDS.join(", ")
                );
            }
            match (&spec.column, &spec.value) {
                (Some(_), Some(_)) => bail!("field '{path}' has both a column and a value"),
                (None, None) => bail!("field '{path}' needs a column or a value"),
                _ => {}
            }
        }
        for required in [
            "source_record_id",
            "source_agency_id",
            "event",
            "event_time",
            "recorded_time",
            "counting_unit",
            "area.gss_code",
            "area.level",
            "classification.scheme",
            "classification.code",
        ] {
            if !self.fields.contains_key(required) {
                bail!("field '{required}' is not mapped; every record needs it");
            }
        }
        if let Some(spec) = self.fields.get("event") {
            let values: Vec<&String> = match (&spec.value, &spec.codes) {
                (Some(v), _) => vec![v],
                (None, Some(codes)) => codes.values().collect(),
                (None, None) => vec![],
            };
            for v in values {
                if !EVENTS.iter().any(|(name, _)| name == v) {
                    bail!(
                        "event kind '{v}' is not one the loader builds ({})",
                        EVENTS.map(|(n, _)| n).join(", ")
                    );
                }
            }
        }
        if let Some(d) = self.source.delimiter
            && !d.is_ascii()
        {
            bail!("the CSV delimiter must be one ASCII character");
        }
        Ok(())
    }
}

/// One row of an extract: its position and a way to read a column.
pub trait Row {
    /// The cell of `column`, trimmed; `None` when the column is absent or the cell empty.
    fn get(&self, column: &str) -> Option<String>;
}

/// A CSV row with its header.
pub struct CsvRow<'a> {
    /// Column name → index.
    pub header: &'a HashMap<String, usize>,
    /// The cells.
    pub record: &'a csv::StringRecord,
}

impl Row for CsvRow<'_> {
    fn get(&self, column: &str) -> Option<String> {
        let i = *self.header.get(column)?;
        let cell = self.record.get(i)?.trim();
        (!cell.is_empty()).then(|| cell.to_string())
    }
}

/// An NDJSON row.
pub struct JsonRow<'a>(pub &'a serde_json::Value);

impl Row for JsonRow<'_> {
    fn get(&self, column: &str) -> Option<String> {
        let mut v = self.0;
        for part in column.split('.') {
            v = v.get(part)?;
        }
        let text = match v {
            serde_json::Value::Null => return None,
            serde_json::Value::String(s) => s.trim().to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            serde_json::Value::Number(n) => n.to_string(),
            other => other.to_string(),
        };
        (!text.is_empty()).then_some(text)
    }
}

/// A problem converting one row: which column (or field) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappingError {
    /// The extract's column, or the contract field when it is a constant.
    pub column: String,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for MappingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column {}: {}", self.column, self.reason)
    }
}

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
            event,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct MapRow(HashMap<&'static str, &'static str>);

    impl Row for MapRow {
        fn get(&self, column: &str) -> Option<String> {
            self.0
                .get(column)
                .filter(|v| !v.is_empty())
                .map(|v| v.to_string())
        }
    }

    fn mapping() -> Mapping {
        toml::from_str(
            r#"
            [source]
            reference_period = "recorded_month"
            [fields]
            source_agency_id = { value = "police-e23000001" }
            source_record_id = { column = "REF" }
            event = { value = "crime_recorded" }
            counting_unit = { value = "CRIME" }
            event_time = { column = "WHEN", format = "%d/%m/%Y" }
            recorded_time = { column = "REC", format = "%d/%m/%Y %H:%M" }
            "area.gss_code" = { value = "E23000001" }
            "area.level" = { value = "POLICE_FORCE_AREA" }
            "classification.scheme" = { value = "HO_OFFENCE" }
            "classification.code" = { column = "CODE" }
            "victim.given_name" = { column = "NAME" }
            "victim.sex" = { column = "SEX", codes = { F = "FEMALE", M = "MALE" } }
            "event.relationship" = { column = "REL", default = "NOT_KNOWN", codes = { EX = "EX_PARTNER" } }
            "event.domestic_abuse_flag" = { column = "DA", codes = { Y = "true", N = "false" } }
            "#,
        )
        .unwrap()
    }

    fn row(pairs: &[(&'static str, &'static str)]) -> MapRow {
        let mut m: HashMap<_, _> = [
            ("REF", "NS/1"),
            ("WHEN", "03/02/2025"),
            ("REC", "28/02/2025 09:15"),
            ("CODE", "8Q"),
            ("NAME", "Testina"),
            ("SEX", "F"),
            ("REL", "EX"),
            ("DA", "Y"),
        ]
        .into_iter()
        .collect();
        m.extend(pairs.iter().copied());
        MapRow(m)
    }

    #[test]
    fn converts_a_row_with_local_codes_and_formats() {
        let m = mapping();
        m.check().unwrap();
        let r = m.convert(&row(&[])).unwrap();
        assert_eq!(r.source_record_id, "NS/1");
        assert_eq!(r.revision, 1);
        assert_eq!(
            r.victim.unwrap().demographics.unwrap().sex(),
            pb::Sex::Female
        );
        let period = r.reference_period.unwrap();
        assert_eq!(
            (period.start.unwrap().day, period.end.unwrap().day),
            (1, 28)
        );
        let Some(Event::CrimeRecorded(c)) = r.event else {
            panic!("a crime")
        };
        assert!(c.domestic_abuse_flag);
        assert_eq!(c.relationship(), pb::Relationship::ExPartner);
        // Empty cell: the default (a contract value) applies.
        let r = m.convert(&row(&[("REL", "")])).unwrap();
        let Some(Event::CrimeRecorded(c)) = r.event else {
            panic!("a crime")
        };
        assert_eq!(c.relationship(), pb::Relationship::NotKnown);
    }

    #[test]
    fn names_every_bad_column_and_why() {
        let m = mapping();
        let errors = m
            .convert(&row(&[("SEX", "Q"), ("REC", "yesterday"), ("REF", "")]))
            .unwrap_err();
        let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|e| e.starts_with("column SEX: code 'Q'")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e.starts_with("column REC: 'yesterday' does not match")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|e| e == "column REF: empty, but source_record_id is required"),
            "{text:?}"
        );
    }

    #[test]
    fn refuses_unknown_fields_and_missing_essentials() {
        let mut m = mapping();
        m.fields.insert(
            "victim.shoe_size".into(),
            FieldSpec {
                column: Some("X".into()),
                value: None,
                codes: None,
                format: None,
                default: None,
                optional: false,
            },
        );
        assert!(
            m.check()
                .unwrap_err()
                .to_string()
                .contains("victim.shoe_size")
        );
        let mut m = mapping();
        m.fields.remove("classification.code");
        assert!(
            m.check()
                .unwrap_err()
                .to_string()
                .contains("classification.code")
        );
    }

    #[test]
    fn json_rows_read_nested_keys() {
        let v = serde_json::json!({"client": {"age": 33, "name": " Testina "}, "x": null});
        let r = JsonRow(&v);
        assert_eq!(r.get("client.age").as_deref(), Some("33"));
        assert_eq!(r.get("client.name").as_deref(), Some("Testina"));
        assert_eq!(r.get("x"), None);
        assert_eq!(r.get("client.missing"), None);
    }
}
