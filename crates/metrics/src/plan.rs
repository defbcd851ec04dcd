//! A query, checked and resolved into what to read: the metric, the counting rule, the period,
//! the breakdowns, who may read which areas, and the aggregate filter and grouping the store
//! runs. Pure, so it is fuzzed and unit-tested without a database; [`table`] turns the rows read
//! into the released table.

use chrono::{Datelike, NaiveDate};
use vawg_domain::{
    aggregate::{self, AGE_BANDS, Computation, MetricDef, publication::PublicationTable},
    counting::CountingRule,
    disclosure::{DisclosureRules, Headlines},
    identity::{AgencyKind, CallerIdentity},
};
use vawg_proto::pb;
use vawg_store::aggregates::{AggregateFilter, Dimension};

use crate::error::{MetricsError, invalid};

mod protected;
mod table;

pub(crate) use table::no_data;
pub use table::{label, statistic};

/// A validated query, ready to run.
pub(crate) struct Plan {
    def: &'static MetricDef,
    query: pb::MetricQuery,
    rule: CountingRule,
    grain: pb::TimeGrain,
    breakdowns: Vec<pb::Breakdown>,
    area_level: pb::AreaLevel,
    /// What the store reads.
    pub(crate) filter: AggregateFilter,
    /// The dimensions the database groups by (the rest is summed there).
    pub(crate) group_by: Vec<Dimension>,
    rules: DisclosureRules,
    /// What complementary suppression spares (publication tables only).
    headlines: Headlines,
    /// The disclosure control the table receives (who may have what: [`protection_of`]).
    pub(crate) protection: pb::Protection,
    statistic: &'static str,
    notes: Vec<String>,
}

impl Plan {
    /// Checks `query` for `caller`, in a fixed order (so the same query always gets the same
    /// error): the metric, definition version, counting rule, period, grain, area level,
    /// breakdowns, statistic, the caller's areas, then the victim scope.
    pub(crate) fn new(
        caller: &CallerIdentity,
        query: &pb::MetricQuery,
        rules: DisclosureRules,
        current_definition: &str,
    ) -> Result<Plan, MetricsError> {
        let def = aggregate::metric(&query.metric_id)
            .ok_or_else(|| MetricsError::UnknownMetric(query.metric_id.clone()))?;
        check_definition_version(query, current_definition)?;
        let scope =
            pb::VictimScope::try_from(query.victim_scope).unwrap_or(pb::VictimScope::Unspecified);
        let rule = counting_rule(query.counting_rule)?;
        let (start, end) = period(query)?;
        let grain =
            pb::TimeGrain::try_from(query.grain).map_err(|_| invalid("grain", "unknown value"))?;
        let area_level = pb::AreaLevel::try_from(query.area_level)
            .map_err(|_| invalid("area_level", "unknown value"))?;
        let breakdowns = breakdowns(def, &query.breakdowns)?;
        let statistic = statistic_of(def, &query.statistic)?;
        check_areas(caller, query, &breakdowns, area_level)?;
        let protection = protection_of(caller, query)?;
        let checked = Checked {
            def,
            scope,
            rule,
            period: (start, end),
            grain,
            area_level,
            breakdowns,
            statistic,
        };
        Plan::resolve(
            checked,
            query,
            current_definition,
            (protection, rules, Headlines::none()),
        )
    }

    /// A fixed publication table for the financial year starting in April of `start_year`:
    /// suppression with the hub's threshold, the table's rounding base and its headlines.
    pub(crate) fn publication(
        table: &PublicationTable,
        start_year: i32,
        rules: DisclosureRules,
        current_definition: &str,
    ) -> Result<Plan, MetricsError> {
        let query = table.query(Some(start_year));
        let def = aggregate::metric(&query.metric_id)
            .ok_or_else(|| MetricsError::UnknownMetric(query.metric_id.clone()))?;
        let scope = pb::VictimScope::try_from(query.victim_scope).unwrap_or_default();
        let rule = counting_rule(query.counting_rule)?;
        let period = period(&query)?;
        let breakdowns = breakdowns(def, &query.breakdowns)?;
        let category_dim = breakdowns
            .iter()
            .position(|b| *b == pb::Breakdown::Category)
            .map(|i| i + 1);
        let headlines = match category_dim {
            Some(d) => Headlines::none().with(d, table.headline_categories.iter().cloned()),
            None => Headlines::none(),
        };
        let rules = DisclosureRules {
            threshold: rules.threshold,
            rounding_base: table.rounding_base as u64,
        };
        let checked = Checked {
            def,
            scope,
            rule,
            period,
            grain: table.grain,
            area_level: table.area_level,
            breakdowns,
            statistic: statistic_of(def, "")?,
        };
        Plan::resolve(
            checked,
            &query,
            current_definition,
            (pb::Protection::Suppression, rules, headlines),
        )
    }

    /// The plan of a checked query.
    fn resolve(
        checked: Checked,
        query: &pb::MetricQuery,
        current_definition: &str,
        (protection, rules, headlines): (pb::Protection, DisclosureRules, Headlines),
    ) -> Result<Plan, MetricsError> {
        let Checked {
            def,
            scope,
            rule,
            period: (start, end),
            grain,
            area_level,
            breakdowns,
            statistic,
        } = checked;
        let notes = notes(def, current_definition, scope, rule, area_level)?;
        let filter = filter(def, query, &breakdowns, scope, (start, end), area_level);
        let group_by = group_by(def, grain, &breakdowns, area_level);
        let mut filled = query.clone();
        filled.definition_version = current_definition.to_string();
        filled.grain = grain as i32;
        filled.protection = protection as i32;
        Ok(Plan {
            def,
            query: filled,
            rule,
            grain,
            breakdowns,
            area_level,
            filter,
            group_by,
            rules,
            headlines,
            protection,
            statistic,
            notes,
        })
    }
}

/// What a query asks for, checked.
struct Checked {
    def: &'static MetricDef,
    scope: pb::VictimScope,
    rule: CountingRule,
    period: (NaiveDate, NaiveDate),
    grain: pb::TimeGrain,
    area_level: pb::AreaLevel,
    breakdowns: Vec<pb::Breakdown>,
    statistic: &'static str,
}

/// Aggregates are held under the current definition only.
fn check_definition_version(
    query: &pb::MetricQuery,
    current_definition: &str,
) -> Result<(), MetricsError> {
    if !query.definition_version.is_empty() && query.definition_version != current_definition {
        return Err(invalid(
            "definition_version",
            format!(
                "aggregates are held under '{current_definition}'; '{}' is not available for aggregation",
                query.definition_version
            ),
        ));
    }
    Ok(())
}

fn counting_rule(rule: i32) -> Result<CountingRule, MetricsError> {
    Ok(
        match pb::CountingRule::try_from(rule).unwrap_or(pb::CountingRule::Unspecified) {
            pb::CountingRule::Unspecified => {
                return Err(invalid(
                    "counting_rule",
                    "required (ALL_OFFENCES, PRINCIPAL_CRIME, PRINCIPAL_PLUS_COURSE_OF_CONDUCT or \
                     ONE_PER_RELATIONSHIP)",
                ));
            }
            pb::CountingRule::AllOffences => CountingRule::AllOffences,
            pb::CountingRule::PrincipalCrime => CountingRule::PrincipalCrime,
            pb::CountingRule::PrincipalPlusCourseOfConduct => {
                CountingRule::PrincipalPlusCourseOfConduct
            }
            pb::CountingRule::OnePerRelationship => CountingRule::OnePerRelationship,
        },
    )
}

/// The first and last day of the period.
fn period(query: &pb::MetricQuery) -> Result<(NaiveDate, NaiveDate), MetricsError> {
    let period = query
        .period
        .as_ref()
        .ok_or_else(|| invalid("period", "required"))?;
    let start = date(&period.start, "period.start")?;
    let end = date(&period.end, "period.end")?;
    if end < start {
        return Err(invalid("period.end", "before period.start"));
    }
    Ok((start, end))
}

fn date(d: &Option<pb::Date>, field: &'static str) -> Result<NaiveDate, MetricsError> {
    let d = d.as_ref().ok_or_else(|| invalid(field, "required"))?;
    NaiveDate::from_ymd_opt(d.year, d.month as u32, d.day as u32)
        .ok_or_else(|| invalid(field, "not a valid date"))
}

/// The breakdowns besides time: known, at most two, each once (repeats are dropped), and a
/// sub-type only for a metric that has one.
fn breakdowns(def: &MetricDef, asked: &[i32]) -> Result<Vec<pb::Breakdown>, MetricsError> {
    let mut breakdowns = Vec::new();
    for b in asked {
        let b = pb::Breakdown::try_from(*b).map_err(|_| invalid("breakdowns", "unknown value"))?;
        if b == pb::Breakdown::Unspecified {
            return Err(invalid(
                "breakdowns",
                "BREAKDOWN_UNSPECIFIED is not a breakdown",
            ));
        }
        if b == pb::Breakdown::Subtype && def.subtype.is_none() {
            return Err(invalid(
                "breakdowns",
                format!("metric '{}' has no sub-type", def.id),
            ));
        }
        if b == pb::Breakdown::DomesticAbuseRelated && !aggregate::by_domestic_context(def) {
            return Err(invalid(
                "breakdowns",
                format!(
                    "metric '{}' has no domestic abuse-related breakdown (crime metrics only: {})",
                    def.id,
                    aggregate::DOMESTIC_CONTEXT_METRICS.join(", ")
                ),
            ));
        }
        if !breakdowns.contains(&b) {
            breakdowns.push(b);
        }
    }
    if breakdowns.len() > 2 {
        return Err(invalid("breakdowns", "at most two breakdowns besides time"));
    }
    if breakdowns.iter().any(|b| profile_part(*b).is_some()) {
        if aggregate::profile_series(def).is_none() {
            return Err(invalid(
                "breakdowns",
                format!(
                    "metric '{}' has no breakdown by suspect, relationship, sexual orientation \
                     or gender identity (offence metrics only: {})",
                    def.id,
                    aggregate::PROFILE_METRICS.join(", ")
                ),
            ));
        }
        if breakdowns.iter().any(|b| {
            matches!(
                b,
                pb::Breakdown::Subtype | pb::Breakdown::DomesticAbuseRelated
            )
        }) {
            return Err(invalid(
                "breakdowns",
                "a breakdown by suspect, relationship, sexual orientation or gender identity \
                 does not combine with BREAKDOWN_SUBTYPE or BREAKDOWN_DOMESTIC_ABUSE_RELATED",
            ));
        }
    }
    Ok(breakdowns)
}

/// The statistic a query asks for: `mean`, `median` or `p90` of days, else the value.
fn statistic_of(def: &MetricDef, asked: &str) -> Result<&'static str, MetricsError> {
    Ok(match (def.computation, asked) {
        (Computation::Days, "" | "mean") => "mean",
        (Computation::Days, "median") => "median",
        (Computation::Days, "p90") => "p90",
        (Computation::Days, other) => {
            return Err(invalid(
                "statistic",
                format!("'{other}' is not one of mean, median, p90"),
            ));
        }
        (_, "") => "value",
        (_, other) => {
            return Err(invalid(
                "statistic",
                format!("metric '{}' has no statistic '{other}'", def.id),
            ));
        }
    })
}

/// Who may read what: the central team reads every area; any other agency reads its own areas
/// and national figures only.
fn check_areas(
    caller: &CallerIdentity,
    query: &pb::MetricQuery,
    breakdowns: &[pb::Breakdown],
    area_level: pb::AreaLevel,
) -> Result<(), MetricsError> {
    if caller.agency_kind == AgencyKind::CentralAnalyst {
        return Ok(());
    }
    let by_area =
        breakdowns.contains(&pb::Breakdown::Area) && area_level != pb::AreaLevel::EnglandAndWales;
    let foreign: Vec<&String> = query
        .area_codes
        .iter()
        .filter(|a| !caller.areas.contains(a))
        .collect();
    if !foreign.is_empty() {
        return Err(MetricsError::Forbidden(format!(
            "agency {} may read figures for its own areas and national figures only; not {}",
            caller.agency_id,
            foreign
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if by_area && query.area_codes.is_empty() {
        return Err(MetricsError::Forbidden(format!(
            "agency {} may break figures down only by its own areas: name them in area_codes",
            caller.agency_id
        )));
    }
    Ok(())
}

/// The protection a caller receives on the flexible path (`docs/disclosure.md`). Agencies
/// always get cell-key perturbation: consistent noise, so no sequence of queries recovers a
/// small count. The central team, which produces the official statistics, gets exact figures
/// marked not for release by default and may ask for what agencies see. Suppression belongs to
/// the fixed publication tables only: on a table builder the next table is the caller's
/// choice, so suppressed tables can be differenced.
pub(crate) fn protection_of(
    caller: &CallerIdentity,
    query: &pb::MetricQuery,
) -> Result<pb::Protection, MetricsError> {
    use pb::Protection as P;
    let asked =
        P::try_from(query.protection).map_err(|_| invalid("protection", "unknown value"))?;
    if asked == P::Suppression {
        return Err(invalid(
            "protection",
            "PROTECTION_SUPPRESSION applies to the fixed publication tables only \
             (GetPublicationTable; ListPublicationTables lists them); the flexible path offers \
             PROTECTION_CELL_KEY_PERTURBATION, and the central team also \
             PROTECTION_EXACT_NOT_FOR_RELEASE",
        ));
    }
    if caller.agency_kind == AgencyKind::CentralAnalyst {
        return Ok(match asked {
            P::Unspecified => P::ExactNotForRelease,
            p => p,
        });
    }
    match asked {
        P::Unspecified | P::CellKeyPerturbation => Ok(P::CellKeyPerturbation),
        p => Err(MetricsError::Forbidden(format!(
            "protection {}: only the central team may read exact figures; agencies receive \
             PROTECTION_CELL_KEY_PERTURBATION",
            p.as_str_name()
        ))),
    }
}

/// The notes every table carries: the definition, scope and rule, and what the figures leave
/// out. Checks the victim scope.
fn notes(
    def: &MetricDef,
    current_definition: &str,
    scope: pb::VictimScope,
    rule: CountingRule,
    area_level: pb::AreaLevel,
) -> Result<Vec<String>, MetricsError> {
    let mut notes = vec![
        format!(
            "Definition {current_definition}; victim scope {}; counting rule {}.",
            scope_name(scope)?,
            rule.as_str()
        ),
        "Periods resolve to whole calendar months.".to_string(),
    ];
    if !def.counting_rule_applies && rule != CountingRule::AllOffences {
        notes.push(format!(
            "The counting rule does not change '{}': it counts events, not offences.",
            def.id
        ));
    }
    if !matches!(
        area_level,
        pb::AreaLevel::EnglandAndWales | pb::AreaLevel::Unspecified
    ) {
        notes.push(
            "Records coded to an area at another level are left out of this area level."
                .to_string(),
        );
    }
    Ok(notes)
}

fn scope_name(scope: pb::VictimScope) -> Result<&'static str, MetricsError> {
    match scope {
        pb::VictimScope::Unspecified => Err(invalid(
            "victim_scope",
            "required (ALL_VICTIMS, WOMEN_AND_GIRLS or AGED_16_PLUS)",
        )),
        s => Ok(s.as_str_name().trim_start_matches("VICTIM_SCOPE_")),
    }
}

/// What the store reads: the metric's series over the period's months, the areas asked for
/// (by area level), the categories, and the victim scope as a filter on sex and age band.
fn filter(
    def: &MetricDef,
    query: &pb::MetricQuery,
    breakdowns: &[pb::Breakdown],
    scope: pb::VictimScope,
    (start, end): (NaiveDate, NaiveDate),
    area_level: pb::AreaLevel,
) -> AggregateFilter {
    let (sexes, age_bands) = match scope {
        pb::VictimScope::AllVictims => (vec![], vec![]),
        pb::VictimScope::WomenAndGirls => (vec![pb::Sex::Female.as_str_name().to_string()], vec![]),
        pb::VictimScope::Aged16Plus => (
            vec![],
            AGE_BANDS
                .iter()
                .filter(|b| **b != "0-15" && **b != "not_known")
                .map(|b| b.to_string())
                .collect(),
        ),
        pb::VictimScope::Unspecified => unreachable!("checked by scope_name"),
    };
    // A breakdown by suspect or relationship reads the metric's profile series instead.
    let profile = breakdowns.iter().any(|b| profile_part(*b).is_some());
    AggregateFilter {
        series: match aggregate::profile_series(def).filter(|_| profile) {
            Some(series) => vec![series],
            None => aggregate::series_of(def),
        },
        from_month: month_key(start),
        to_month: month_key(end),
        areas: query.area_codes.clone(),
        area_prefixes: area_prefixes(area_level)
            .iter()
            .map(|p| p.to_string())
            .collect(),
        categories: query.categories.clone(),
        sexes,
        age_bands,
    }
}

fn month_key(d: NaiveDate) -> String {
    format!("{:04}-{:02}", d.year(), d.month())
}

/// The GSS entity codes (the first three characters of an area code) of an area level; empty
/// for every area.
fn area_prefixes(level: pb::AreaLevel) -> &'static [&'static str] {
    match level {
        pb::AreaLevel::PoliceForceArea => &["E23", "W15"],
        pb::AreaLevel::LocalAuthority => &["E06", "E07", "E08", "E09", "W06"],
        pb::AreaLevel::IntegratedCareBoard => &["E54"],
        pb::AreaLevel::EnglandAndWales | pb::AreaLevel::Unspecified => &[],
    }
}

/// What the table's coordinates and cells read; everything else is summed in the database.
fn group_by(
    def: &MetricDef,
    grain: pb::TimeGrain,
    breakdowns: &[pb::Breakdown],
    area_level: pb::AreaLevel,
) -> Vec<Dimension> {
    let mut group_by = Vec::new();
    if !matches!(
        grain,
        pb::TimeGrain::WholePeriod | pb::TimeGrain::Unspecified
    ) {
        group_by.push(Dimension::Month);
    }
    for b in breakdowns {
        if *b == pb::Breakdown::Area && area_level == pb::AreaLevel::EnglandAndWales {
            continue; // one national cell
        }
        if let Some(d) = dimension(*b)
            && !group_by.contains(&d)
        {
            group_by.push(d);
        }
    }
    if def.computation == Computation::Days {
        group_by.push(Dimension::Bucket);
    }
    group_by
}

/// The part of a profile sub-type ([`aggregate::PROFILE_PARTS`]) a breakdown reads, if it is
/// a breakdown by suspect, relationship, sexual orientation or gender identity.
pub(crate) fn profile_part(b: pb::Breakdown) -> Option<usize> {
    Some(match b {
        pb::Breakdown::SuspectSex => 0,
        pb::Breakdown::SuspectAgeBand => 1,
        pb::Breakdown::SuspectEthnicGroup => 2,
        pb::Breakdown::Relationship => 3,
        pb::Breakdown::SexualOrientation => 4,
        pb::Breakdown::GenderIdentity => 5,
        _ => return None,
    })
}

/// The aggregate dimension a breakdown reads.
fn dimension(b: pb::Breakdown) -> Option<Dimension> {
    Some(match b {
        pb::Breakdown::Area => Dimension::Area,
        pb::Breakdown::Category => Dimension::Category,
        pb::Breakdown::Sex => Dimension::Sex,
        pb::Breakdown::AgeBand => Dimension::AgeBand,
        pb::Breakdown::EthnicGroup => Dimension::EthnicGroup,
        pb::Breakdown::Disability => Dimension::Disability,
        pb::Breakdown::ImmigrationStatus => Dimension::ImmigrationStatus,
        // Crime metrics keep the offence's domestic context as their sub-type, and their
        // profile series the suspect and relationship.
        pb::Breakdown::Subtype | pb::Breakdown::DomesticAbuseRelated => Dimension::Subtype,
        pb::Breakdown::SuspectSex
        | pb::Breakdown::SuspectAgeBand
        | pb::Breakdown::SuspectEthnicGroup
        | pb::Breakdown::Relationship
        | pb::Breakdown::SexualOrientation
        | pb::Breakdown::GenderIdentity => Dimension::Subtype,
        pb::Breakdown::Unspecified => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn central() -> CallerIdentity {
        CallerIdentity {
            agency_id: "central".into(),
            agency_kind: AgencyKind::CentralAnalyst,
            scopes: Default::default(),
            areas: vec![],
        }
    }

    fn read_of(
        metric: &str,
        grain: pb::TimeGrain,
        level: pb::AreaLevel,
        breakdowns: &[pb::Breakdown],
    ) -> (AggregateFilter, Vec<Dimension>) {
        let q = pb::MetricQuery {
            metric_id: metric.into(),
            victim_scope: pb::VictimScope::WomenAndGirls as i32,
            counting_rule: pb::CountingRule::AllOffences as i32,
            period: Some(pb::ReferencePeriod {
                start: Some(pb::Date {
                    year: 2024,
                    month: 4,
                    day: 1,
                }),
                end: Some(pb::Date {
                    year: 2025,
                    month: 3,
                    day: 31,
                }),
            }),
            grain: grain as i32,
            area_level: level as i32,
            breakdowns: breakdowns.iter().map(|b| *b as i32).collect(),
            ..Default::default()
        };
        crate::aggregate_read(&central(), &q, DisclosureRules::default(), "v1").unwrap()
    }

    #[test]
    fn the_database_groups_by_what_the_table_shows_and_nothing_more() {
        use pb::{AreaLevel as L, Breakdown as B, TimeGrain as G};
        let (filter, group_by) = read_of("recorded_crimes", G::Month, L::PoliceForceArea, &[]);
        assert_eq!(group_by, vec![Dimension::Month]);
        assert_eq!(filter.area_prefixes, vec!["E23", "W15"]);
        assert_eq!(filter.sexes, vec!["SEX_FEMALE"]);
        assert_eq!(
            (filter.from_month.as_str(), filter.to_month.as_str()),
            ("2024-04", "2025-03")
        );
        // A whole period has no month; quarters and years are made from months.
        let (_, group_by) = read_of(
            "recorded_crimes",
            G::WholePeriod,
            L::LocalAuthority,
            &[B::Sex],
        );
        assert_eq!(group_by, vec![Dimension::Sex]);
        let (_, group_by) = read_of(
            "convictions",
            G::FinancialYear,
            L::PoliceForceArea,
            &[B::Area, B::Category],
        );
        assert_eq!(
            group_by,
            vec![Dimension::Month, Dimension::Area, Dimension::Category]
        );
        // England and Wales as a whole: one national cell, every area summed.
        let (filter, group_by) = read_of(
            "recorded_crimes",
            G::Quarter,
            L::EnglandAndWales,
            &[B::Area],
        );
        assert_eq!(group_by, vec![Dimension::Month]);
        assert!(filter.area_prefixes.is_empty());
        // Days keep their histogram; proportions read both series.
        let (_, group_by) = read_of(
            "referral_to_charge_days",
            G::WholePeriod,
            L::IntegratedCareBoard,
            &[],
        );
        assert_eq!(group_by, vec![Dimension::Bucket]);
        let (filter, _) = read_of("charge_rate", G::Month, L::PoliceForceArea, &[]);
        assert_eq!(filter.series, vec!["charge_rate:num", "charge_rate:den"]);
    }
}
