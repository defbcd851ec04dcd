//! The metric catalogue: every metric the hub can be asked for, what it means, whose data it is
//! and how its value is computed.
//!
//! The catalogue is a reviewed data file, `deploy/metrics/catalogue.toml` (its format is
//! documented at its top), embedded as the default like the common definition. It is parsed and
//! validated once, on first use of [`CATALOGUE`]; the metrics service forces that when it is
//! built, so an invalid file stops the hub at start-up with `file:line:column` and the field,
//! rather than failing queries. Validation checks every enum name against the contracts and
//! every metric against the computations in code ([`super::computed`]): a new metric is a
//! reviewed change to the file plus, at most, a small computation in [`super`], never a new code
//! path in the services.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::LazyLock;

use serde::Deserialize;
use toml::Spanned;

use crate::datafile::{Ctx, DataFileError, Leaf};
use crate::definition::AGENCY_KINDS;
use crate::pb::{self, EventKind};

/// The default catalogue, embedded so the hub runs with nothing to install.
pub const DEFAULT_CATALOGUE_TOML: &str = include_str!("../../../../deploy/metrics/catalogue.toml");

/// The file name reported in errors about [`DEFAULT_CATALOGUE_TOML`].
pub const DEFAULT_CATALOGUE_FILE: &str = "deploy/metrics/catalogue.toml";

/// The catalogue in force: [`DEFAULT_CATALOGUE_TOML`], parsed and validated on first use.
///
/// Panics on first use if the embedded file is invalid, which a unit test rules out; the
/// metrics service forces it at start-up so that can only happen there.
pub static CATALOGUE: LazyLock<Catalogue> = LazyLock::new(|| {
    Catalogue::from_toml_str(DEFAULT_CATALOGUE_TOML, DEFAULT_CATALOGUE_FILE)
        .unwrap_or_else(|e| panic!("the embedded metric catalogue is invalid: {e}"))
});

/// A problem in a catalogue file, located precisely enough for an operator to fix it (the same
/// located error as every reviewed data file).
pub type CatalogueError = DataFileError;

/// How a metric's value is computed from its series: a small closed set, named in the file as
/// `count`, `amount`, `proportion` or `days`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Computation {
    /// A count of the series.
    Count,
    /// A sum of amounts.
    Amount,
    /// A proportion: `<id>:num` over `<id>:den`.
    Proportion,
    /// A distribution of days (mean, median, p90) of the series' buckets.
    Days,
}

impl Computation {
    /// Every computation, in the order the file format lists them.
    pub const ALL: [Computation; 4] = [
        Computation::Count,
        Computation::Amount,
        Computation::Proportion,
        Computation::Days,
    ];

    /// The name the catalogue file uses.
    pub fn name(self) -> &'static str {
        match self {
            Computation::Count => "count",
            Computation::Amount => "amount",
            Computation::Proportion => "proportion",
            Computation::Days => "days",
        }
    }

    /// The computation a catalogue file names, if any.
    pub fn from_name(name: &str) -> Option<Computation> {
        Computation::ALL.into_iter().find(|c| c.name() == name)
    }
}

/// A metric in the catalogue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricDef {
    /// Stable snake_case id, what a query names.
    pub id: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// How it is computed.
    pub computation: Computation,
    /// The theory-of-change outcome.
    pub outcome: pb::Outcome,
    /// Data owners.
    pub owners: Vec<pb::AgencyKind>,
    /// Event kinds it is computed from.
    pub event_kinds: Vec<EventKind>,
    /// Whether the counting rule changes it.
    pub counting_rule_applies: bool,
    /// What the sub-type breakdown means, if it has one.
    pub subtype: Option<String>,
    /// The unit of its values: for a count, what is counted (PERSON, CASE, OFFENCE, RECORD,
    /// INCIDENT, named in the file); otherwise the computation's (PROPORTION, DAYS, PENCE).
    pub unit: pb::MetricUnit,
}

/// A validated catalogue: metrics in file order (the order `ListMetrics` returns them), with
/// unique ids, known enum names, and a computation in code for each.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Catalogue {
    metrics: Vec<MetricDef>,
}

impl Catalogue {
    /// Parses and validates a catalogue file. `file_name` is used only in error messages.
    ///
    /// Returns the first problem found, in document order.
    pub fn from_toml_str(text: &str, file_name: &str) -> Result<Catalogue, CatalogueError> {
        let ctx = Ctx {
            text,
            file: file_name,
        };
        let raw: RawCatalogue = toml::from_str(text).map_err(|e| ctx.toml_error(&e))?;
        ctx.build_catalogue(raw)
    }

    /// The metric with this id (exact match).
    pub fn get(&self, id: &str) -> Option<&MetricDef> {
        self.metrics.iter().find(|m| m.id == id)
    }

    /// The metrics, in file order.
    pub fn iter(&self) -> std::slice::Iter<'_, MetricDef> {
        self.metrics.iter()
    }

    /// The number of metrics.
    pub fn len(&self) -> usize {
        self.metrics.len()
    }

    /// Whether there are no metrics (never, for a validated catalogue).
    pub fn is_empty(&self) -> bool {
        self.metrics.is_empty()
    }
}

impl<'a> IntoIterator for &'a Catalogue {
    type Item = &'a MetricDef;
    type IntoIter = std::slice::Iter<'a, MetricDef>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// A metric of the catalogue in force, by id.
pub fn metric(id: &str) -> Option<&'static MetricDef> {
    CATALOGUE.get(id)
}

/// The aggregate series a metric reads.
pub fn series_of(def: &MetricDef) -> Vec<String> {
    match def.computation {
        Computation::Proportion => vec![format!("{}:num", def.id), format!("{}:den", def.id)],
        _ => vec![def.id.clone()],
    }
}

// ------------------------------------------------------------------------------------------------
// Parsing (see `crate::datafile`): raw structs with spanned leaves, then one check per field.
// ------------------------------------------------------------------------------------------------

type List = Option<Spanned<Vec<Spanned<toml::Value>>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalogue {
    metrics: Option<Spanned<Vec<Spanned<RawMetric>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetric {
    id: Leaf,
    title: Leaf,
    description: Leaf,
    computation: Leaf,
    outcome: Leaf,
    owners: List,
    event_kinds: List,
    counting_rule_applies: Leaf,
    subtype: Leaf,
    unit: Leaf,
}

/// A contract enum the catalogue names by its value names without their prefix (`POLICE`, not
/// `AGENCY_KIND_POLICE`).
trait ContractEnum: Copy + PartialEq + TryFrom<i32> {
    /// The prefix every value name of the enum starts with.
    const PREFIX: &'static str;
    /// What a value is, in error messages.
    const WHAT: &'static str;

    /// The value's name in the contract.
    fn full_name(self) -> &'static str;

    /// The values a catalogue may name: every value but `*_UNSPECIFIED`.
    fn allowed() -> Vec<Self> {
        (1..=i32::from(u8::MAX))
            .filter_map(|i| Self::try_from(i).ok())
            .collect()
    }

    /// The name the catalogue uses.
    fn short_name(self) -> &'static str {
        let full = self.full_name();
        full.strip_prefix(Self::PREFIX).unwrap_or(full)
    }
}

impl ContractEnum for pb::Outcome {
    const PREFIX: &'static str = "OUTCOME_";
    const WHAT: &'static str = "outcome";
    fn full_name(self) -> &'static str {
        self.as_str_name()
    }
}

impl ContractEnum for pb::MetricUnit {
    const PREFIX: &'static str = "METRIC_UNIT_";
    const WHAT: &'static str = "unit of a count";
    fn full_name(self) -> &'static str {
        self.as_str_name()
    }
    /// What a count counts; the other units follow from the computation.
    fn allowed() -> Vec<Self> {
        use pb::MetricUnit as U;
        vec![U::Person, U::Case, U::Offence, U::Record, U::Incident]
    }
}

impl ContractEnum for EventKind {
    const PREFIX: &'static str = "EVENT_KIND_";
    const WHAT: &'static str = "event kind";
    fn full_name(self) -> &'static str {
        self.as_str_name()
    }
}

impl ContractEnum for pb::AgencyKind {
    const PREFIX: &'static str = "AGENCY_KIND_";
    const WHAT: &'static str = "agency kind";
    fn full_name(self) -> &'static str {
        self.as_str_name()
    }
    /// Data is owned by the agencies that submit it: the kinds a definition may name.
    fn allowed() -> Vec<Self> {
        AGENCY_KINDS
            .iter()
            .filter_map(|k| pb::AgencyKind::from_str_name(&format!("AGENCY_KIND_{k}")))
            .collect()
    }
}

impl Ctx<'_> {
    fn build_catalogue(&self, raw: RawCatalogue) -> Result<Catalogue, CatalogueError> {
        let raw = raw
            .metrics
            .ok_or_else(|| self.err(0, "metrics", "at least one [[metrics]] table is required"))?;
        let list_start = raw.span().start;
        let raw = raw.into_inner();
        if raw.is_empty() {
            return Err(self.err(list_start, "metrics", "at least one metric is required"));
        }
        let mut metrics = Vec::with_capacity(raw.len());
        // id → line of first definition
        let mut id_lines: HashMap<String, usize> = HashMap::new();
        for (i, item) in raw.into_iter().enumerate() {
            let table = item.span();
            metrics.push(self.metric_def(item.into_inner(), &table, i, &mut id_lines)?);
        }
        Ok(Catalogue { metrics })
    }

    fn metric_def(
        &self,
        m: RawMetric,
        table: &Range<usize>,
        i: usize,
        id_lines: &mut HashMap<String, usize>,
    ) -> Result<MetricDef, CatalogueError> {
        let path = |f: &str| format!("metrics[{i}].{f}");
        let (id, id_span) = self.unique_id(&m.id, table, &path("id"), "metric", id_lines)?;
        let Some(in_code) = super::computed(&id) else {
            return Err(self.err(
                id_span.start,
                &path("id"),
                format!(
                    "metric `{id}` has no computation in code: the aggregator \
                     (vawg_domain::aggregate) must compute it before the catalogue can list it"
                ),
            ));
        };
        let (title, _) = self.string(&m.title, table, &path("title"))?;
        let (description, _) = self.string(&m.description, table, &path("description"))?;
        let computation = self.computation(&m.computation, table, &path("computation"))?;
        if computation != in_code {
            return Err(self.err(
                m.computation
                    .as_ref()
                    .map_or(table.start, |c| c.span().start),
                &path("computation"),
                format!(
                    "`{}` does not match the code, which computes `{id}` as `{}`",
                    computation.name(),
                    in_code.name()
                ),
            ));
        }
        let outcome = self.required(&m.outcome, table, &path("outcome"))?;
        let outcome = self.enum_value(outcome, &path("outcome"))?;
        let owners = self.enum_list(m.owners, table, &path("owners"))?;
        let event_kinds = self.enum_list(m.event_kinds, table, &path("event_kinds"))?;
        let counting_rule_applies = self.boolean(
            &m.counting_rule_applies,
            table,
            &path("counting_rule_applies"),
        )?;
        let subtype = match m.subtype {
            None => None,
            Some(_) => Some(self.string(&m.subtype, table, &path("subtype"))?.0),
        };
        let unit = match computation {
            Computation::Count => {
                let unit = self.required(&m.unit, table, &path("unit"))?;
                self.enum_value(unit, &path("unit"))?
            }
            Computation::Amount | Computation::Proportion | Computation::Days => {
                if let Some(u) = &m.unit {
                    return Err(self.err(
                        u.span().start,
                        &path("unit"),
                        "only a count names its unit; the others follow from the computation",
                    ));
                }
                match computation {
                    Computation::Amount => pb::MetricUnit::Pence,
                    Computation::Proportion => pb::MetricUnit::Proportion,
                    _ => pb::MetricUnit::Days,
                }
            }
        };
        Ok(MetricDef {
            id,
            title,
            description,
            computation,
            outcome,
            owners,
            event_kinds,
            counting_rule_applies,
            subtype,
            unit,
        })
    }

    fn computation(
        &self,
        leaf: &Leaf,
        table: &Range<usize>,
        field: &str,
    ) -> Result<Computation, CatalogueError> {
        let (name, span) = self.string(leaf, table, field)?;
        Computation::from_name(&name).ok_or_else(|| {
            let names: Vec<&str> = Computation::ALL.iter().map(|c| c.name()).collect();
            self.err(
                span.start,
                field,
                format!(
                    "unknown computation `{name}`; expected one of {}",
                    names.join(", ")
                ),
            )
        })
    }

    /// One enum value, named without its prefix.
    fn enum_value<E: ContractEnum>(
        &self,
        v: &Spanned<toml::Value>,
        field: &str,
    ) -> Result<E, CatalogueError> {
        let start = v.span().start;
        let name = match v.get_ref() {
            toml::Value::String(s) => s.trim(),
            other => {
                return Err(self.err(
                    start,
                    field,
                    format!("expected a string, found {}", other.type_str()),
                ));
            }
        };
        let allowed = E::allowed();
        allowed
            .iter()
            .copied()
            .find(|e| e.short_name() == name)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|e| e.short_name()).collect();
                self.err(
                    start,
                    field,
                    format!(
                        "unknown {} `{name}`; expected one of {}",
                        E::WHAT,
                        names.join(", ")
                    ),
                )
            })
    }

    /// A required, non-empty list of enum values, each named once.
    fn enum_list<E: ContractEnum>(
        &self,
        raw: List,
        table: &Range<usize>,
        field: &str,
    ) -> Result<Vec<E>, CatalogueError> {
        let raw = raw.ok_or_else(|| self.err(table.start, field, "required field is missing"))?;
        let list_start = raw.span().start;
        let raw = raw.into_inner();
        if raw.is_empty() {
            return Err(self.err(
                list_start,
                field,
                format!("at least one {} is required", E::WHAT),
            ));
        }
        let mut values: Vec<E> = Vec::with_capacity(raw.len());
        for (k, v) in raw.iter().enumerate() {
            let kpath = format!("{field}[{k}]");
            let value: E = self.enum_value(v, &kpath)?;
            if values.contains(&value) {
                return Err(self.err(
                    v.span().start,
                    &kpath,
                    format!("{} `{}` is listed twice", E::WHAT, value.short_name()),
                ));
            }
            values.push(value);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests;
