//! The fixed publication tables (`deploy/metrics/publications.toml`): groupings defined in
//! advance that the central team produces for release under primary and secondary suppression
//! (`docs/disclosure.md`, section 3). Everything else leaves the hub through the flexible path,
//! under cell-key perturbation.
//!
//! A table is fixed in everything but its financial year: metric, victim scope, counting rule,
//! grain, area level, breakdowns, categories, the headline categories that complementary
//! suppression spares and the rounding base. Fixing the groupings and aligning the periods to
//! financial years is what makes suppression sound here: the set of published margins is known,
//! so no table of the set can be differenced against another with a period one day longer or
//! one area fewer.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::NaiveDate;
use serde::Deserialize;

use super::{CATALOGUE, Computation};
use crate::{
    counting::{CountingRule, VictimScope},
    pb,
};

/// The embedded publication tables.
pub const DEFAULT_PUBLICATIONS_TOML: &str =
    include_str!("../../../../deploy/metrics/publications.toml");

/// The file name reported in errors about [`DEFAULT_PUBLICATIONS_TOML`].
pub const DEFAULT_PUBLICATIONS_FILE: &str = "deploy/metrics/publications.toml";

/// The publication tables in force, parsed and validated on first use.
///
/// Panics if the embedded file is invalid; a unit test rules that out.
pub static PUBLICATIONS: LazyLock<Vec<PublicationTable>> = LazyLock::new(|| {
    parse(DEFAULT_PUBLICATIONS_TOML).unwrap_or_else(|e| panic!("{DEFAULT_PUBLICATIONS_FILE}: {e}"))
});

/// One fixed publication table.
#[derive(Clone, Debug, PartialEq)]
pub struct PublicationTable {
    /// Stable identifier.
    pub id: String,
    /// Title as published.
    pub title: String,
    /// What the table shows.
    pub description: String,
    /// The catalogue metric (a count).
    pub metric: String,
    /// Victim scope.
    pub victim_scope: VictimScope,
    /// Counting rule.
    pub counting_rule: CountingRule,
    /// Time grain within the financial year.
    pub grain: pb::TimeGrain,
    /// Area level.
    pub area_level: pb::AreaLevel,
    /// Breakdowns besides time (at most two).
    pub breakdowns: Vec<pb::Breakdown>,
    /// Categories the table is restricted to; empty for all.
    pub categories: Vec<String>,
    /// Categories spared by complementary suppression while a smaller complement exists.
    pub headline_categories: Vec<String>,
    /// Rounding base applied after suppression (0: none).
    pub rounding_base: u32,
}

/// The table with id `id`.
pub fn publication(id: &str) -> Option<&'static PublicationTable> {
    PUBLICATIONS.iter().find(|t| t.id == id)
}

impl PublicationTable {
    /// The query the table runs for the financial year starting in April of `start_year`.
    pub fn query(&self, start_year: Option<i32>) -> pb::MetricQuery {
        let period = start_year.map(|y| pb::ReferencePeriod {
            start: Some(pb::Date {
                year: y,
                month: 4,
                day: 1,
            }),
            end: Some(pb::Date {
                year: y + 1,
                month: 3,
                day: 31,
            }),
        });
        pb::MetricQuery {
            metric_id: self.metric.clone(),
            victim_scope: scope_pb(self.victim_scope) as i32,
            counting_rule: rule_pb(self.counting_rule) as i32,
            period,
            grain: self.grain as i32,
            area_level: self.area_level as i32,
            categories: self.categories.clone(),
            breakdowns: self.breakdowns.iter().map(|b| *b as i32).collect(),
            protection: pb::Protection::Suppression as i32,
            ..Default::default()
        }
    }

    /// The contract's description of the table.
    pub fn to_pb(&self) -> pb::PublicationTable {
        pb::PublicationTable {
            id: self.id.clone(),
            title: self.title.clone(),
            description: self.description.clone(),
            query: Some(self.query(None)),
            headline_categories: self.headline_categories.clone(),
            rounding_base: self.rounding_base,
        }
    }
}

/// The first calendar year of a financial year written `2024-25`; `None` unless it is written
/// exactly so (four digits, a hyphen, the last two digits of the next year).
pub fn financial_year_start(fy: &str) -> Option<i32> {
    let (a, b) = fy.split_once('-')?;
    if a.len() != 4 || b.len() != 2 || !a.bytes().chain(b.bytes()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    let start: i32 = a.parse().ok()?;
    let end: i32 = b.parse().ok()?;
    ((start + 1) % 100 == end && NaiveDate::from_ymd_opt(start, 4, 1).is_some()).then_some(start)
}

fn scope_pb(s: VictimScope) -> pb::VictimScope {
    match s {
        VictimScope::AllVictims => pb::VictimScope::AllVictims,
        VictimScope::WomenAndGirls => pb::VictimScope::WomenAndGirls,
        VictimScope::Aged16Plus => pb::VictimScope::Aged16Plus,
    }
}

fn rule_pb(r: CountingRule) -> pb::CountingRule {
    match r {
        CountingRule::AllOffences => pb::CountingRule::AllOffences,
        CountingRule::PrincipalCrime => pb::CountingRule::PrincipalCrime,
        CountingRule::PrincipalPlusCourseOfConduct => {
            pb::CountingRule::PrincipalPlusCourseOfConduct
        }
        CountingRule::OnePerRelationship => pb::CountingRule::OnePerRelationship,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    tables: Vec<RawTable>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    id: String,
    title: String,
    description: String,
    metric: String,
    victim_scope: String,
    counting_rule: String,
    grain: String,
    area_level: String,
    #[serde(default)]
    breakdowns: Vec<String>,
    #[serde(default)]
    categories: Vec<String>,
    #[serde(default)]
    headline_categories: Vec<String>,
    #[serde(default)]
    rounding_base: u32,
}

/// Parses and validates a publications file: every table names a count metric of the
/// catalogue, known enum values (written without their prefix), at most two breakdowns, and a
/// unique id.
pub fn parse(text: &str) -> Result<Vec<PublicationTable>, String> {
    let raw: RawFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut ids = BTreeSet::new();
    raw.tables
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let at = |field: &str, msg: String| format!("tables[{i}] ({}).{field}: {msg}", t.id);
            if !ids.insert(t.id.clone()) {
                return Err(at("id", "listed twice".into()));
            }
            let def = CATALOGUE
                .get(&t.metric)
                .ok_or_else(|| at("metric", format!("'{}' is not in the catalogue", t.metric)))?;
            if def.computation != Computation::Count {
                return Err(at(
                    "metric",
                    "publication tables hold counts; rates, amounts and days are released \
                     through the flexible path under cell-key perturbation"
                        .into(),
                ));
            }
            let victim_scope = VictimScope::parse(&t.victim_scope)
                .ok_or_else(|| at("victim_scope", format!("unknown '{}'", t.victim_scope)))?;
            let counting_rule = CountingRule::parse(&t.counting_rule)
                .ok_or_else(|| at("counting_rule", format!("unknown '{}'", t.counting_rule)))?;
            let grain = pb::TimeGrain::from_str_name(&format!("TIME_GRAIN_{}", t.grain))
                .filter(|g| *g != pb::TimeGrain::Unspecified)
                .ok_or_else(|| at("grain", format!("unknown '{}'", t.grain)))?;
            let area_level = pb::AreaLevel::from_str_name(&format!("AREA_LEVEL_{}", t.area_level))
                .filter(|l| *l != pb::AreaLevel::Unspecified)
                .ok_or_else(|| at("area_level", format!("unknown '{}'", t.area_level)))?;
            let breakdowns = t
                .breakdowns
                .iter()
                .map(|b| {
                    pb::Breakdown::from_str_name(&format!("BREAKDOWN_{b}"))
                        .filter(|b| *b != pb::Breakdown::Unspecified)
                        .ok_or_else(|| at("breakdowns", format!("unknown '{b}'")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            if breakdowns.len() > 2 {
                return Err(at("breakdowns", "at most two besides time".into()));
            }
            if breakdowns.contains(&pb::Breakdown::Subtype) && def.subtype.is_none() {
                return Err(at(
                    "breakdowns",
                    format!("metric '{}' has no sub-type", def.id),
                ));
            }
            Ok(PublicationTable {
                id: t.id.clone(),
                title: t.title,
                description: t.description,
                metric: t.metric,
                victim_scope,
                counting_rule,
                grain,
                area_level,
                breakdowns,
                categories: t.categories,
                headline_categories: t.headline_categories,
                rounding_base: t.rounding_base,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_tables_are_valid_and_name_categories_of_the_definition() {
        let tables = &*PUBLICATIONS;
        assert!(tables.len() >= 4);
        let definition = crate::definition::DefinitionSet::embedded();
        let current = definition.current();
        for t in tables {
            for c in t.categories.iter().chain(&t.headline_categories) {
                assert!(
                    current.category(c).is_some(),
                    "{}: category '{c}' is not in {}",
                    t.id,
                    current.version
                );
            }
            assert_eq!(publication(&t.id), Some(t));
        }
    }

    #[test]
    fn financial_years_are_written_as_published() {
        assert_eq!(financial_year_start("2024-25"), Some(2024));
        assert_eq!(financial_year_start("1999-00"), Some(1999));
        for bad in [
            "2024-26",
            "2024/25",
            "24-25",
            "2024-2025",
            "2024-2x",
            "",
            "-",
        ] {
            assert_eq!(financial_year_start(bad), None, "{bad}");
        }
    }

    #[test]
    fn invalid_tables_are_refused_with_the_field() {
        let base = r#"
[[tables]]
id = "t"
title = "T"
description = "D"
metric = "recorded_crimes"
victim_scope = "ALL_VICTIMS"
counting_rule = "PRINCIPAL_CRIME"
grain = "QUARTER"
area_level = "ENGLAND_AND_WALES"
"#;
        assert!(parse(base).is_ok());
        let err = parse(&base.replace("recorded_crimes", "charge_rate")).unwrap_err();
        assert!(err.contains("tables[0] (t).metric"), "{err}");
        let err = parse(&base.replace("QUARTER", "WEEK")).unwrap_err();
        assert!(err.contains(".grain: unknown 'WEEK'"), "{err}");
        let err = parse(&format!("{base}{base}")).unwrap_err();
        assert!(err.contains("listed twice"), "{err}");
    }
}
