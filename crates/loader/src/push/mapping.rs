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

mod convert;

use std::collections::{BTreeMap, HashMap};

use anyhow::{Context, bail};
use serde::Deserialize;

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

#[cfg(test)]
mod tests;
