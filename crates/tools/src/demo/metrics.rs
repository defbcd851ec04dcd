//! Step 3: the central team reads cross-government metrics — the attrition funnel, charge
//! delays, withdrawal, the definitions side by side, and unmet need — as exact working figures
//! marked not for release, then a fixed publication table prepared for release.

use std::collections::BTreeMap;

use anyhow::Context;
use vawg_client::HubClient;
use vawg_proto::pb;

use crate::report::{self, Format};

/// A date in the contract's shape.
pub(super) fn date(y: i32, m: i32, d: i32) -> pb::Date {
    pb::Date {
        year: y,
        month: m,
        day: d,
    }
}

/// `metric` over the whole period, all victims, all offences, by police force area.
fn query(metric: &str, from: pb::Date, to: pb::Date) -> pb::MetricQuery {
    pb::MetricQuery {
        metric_id: metric.into(),
        victim_scope: pb::VictimScope::AllVictims as i32,
        counting_rule: pb::CountingRule::AllOffences as i32,
        period: Some(pb::ReferencePeriod {
            start: Some(from),
            end: Some(to),
        }),
        grain: pb::TimeGrain::WholePeriod as i32,
        area_level: pb::AreaLevel::PoliceForceArea as i32,
        ..Default::default()
    }
}

async fn table(client: &HubClient, q: pb::MetricQuery) -> anyhow::Result<pb::MetricTable> {
    let response = client
        .metrics()
        .query_metric(pb::QueryMetricRequest { query: Some(q) })
        .await?;
    response
        .into_inner()
        .table
        .context("the hub returned no table")
}

/// The financial year 2020-21.
fn first_year() -> (pb::Date, pb::Date) {
    (date(2020, 4, 1), date(2021, 3, 31))
}

/// Every year of synthetic data (2020-2024).
fn all_years() -> (pb::Date, pb::Date) {
    (date(2020, 4, 1), date(2024, 3, 31))
}

/// Prints each of the central team's tables.
pub(super) async fn central_metrics(central: &HubClient) -> anyhow::Result<()> {
    attrition_funnel(central).await?;
    referral_to_charge(central).await?;
    withdrawal(central).await?;
    definitions_compared(central).await?;
    unmet_need(central).await?;
    publication_table(central).await
}

/// A fixed publication table, suppressed for release, as the central team would publish it.
async fn publication_table(central: &HubClient) -> anyhow::Result<()> {
    println!(
        "\n  Publication table, prepared for release (primary and secondary suppression, GSS symbols):"
    );
    let response = central
        .metrics()
        .get_publication_table(pb::GetPublicationTableRequest {
            table_id: "recorded_crimes_by_category_quarterly".into(),
            financial_year: "2020-21".into(),
        })
        .await?
        .into_inner();
    let publication = response.publication.unwrap_or_default();
    println!("  {}", publication.title);
    let table = response.table.context("the hub returned no table")?;
    print!(
        "{}",
        report::render(&table, pb::MetricUnit::Count, Format::Table)
    );
    Ok(())
}

async fn attrition_funnel(central: &HubClient) -> anyhow::Result<()> {
    let (fy_start, fy_end) = first_year();
    println!(
        "\n  Attrition funnel — crimes recorded in 2020-21, linked across police, CPS and courts:"
    );
    let mut q = query("attrition_funnel", fy_start, fy_end);
    q.breakdowns = vec![pb::Breakdown::Subtype as i32];
    let t = table(central, q).await?;
    let recorded = t
        .rows
        .first()
        .and_then(|r| r.cell)
        .map(|c| c.value)
        .unwrap_or(0.0);
    let mut rows = vec![vec![
        "stage".to_string(),
        "cases".to_string(),
        "of recorded".to_string(),
    ]];
    for r in &t.rows {
        let cell = r.cell.unwrap_or_default();
        let share = if recorded > 0.0 && report::has_value(&cell) {
            format!("{:.1}%", cell.value / recorded * 100.0)
        } else {
            String::new()
        };
        rows.push(vec![
            r.dimensions[1].label.clone(),
            report::cell_text(&cell, pb::MetricUnit::Count),
            share,
        ]);
    }
    print!("{}", report::align(&rows));
    Ok(())
}

/// Days from referral to charge, by category: mean, median and p90, with the number of
/// charges.
async fn referral_to_charge(central: &HubClient) -> anyhow::Result<()> {
    let (all_start, all_end) = all_years();
    println!("\n  Days from police referral to CPS charge, by category (charges 2020-2024):");
    let mut by_stat: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut counts: BTreeMap<String, String> = BTreeMap::new();
    for stat in ["mean", "median", "p90"] {
        let mut q = query("referral_to_charge_days", all_start, all_end);
        q.breakdowns = vec![pb::Breakdown::Category as i32];
        q.statistic = stat.into();
        let t = table(central, q).await?;
        for r in t.rows.iter().chain(&t.totals) {
            let category = r
                .dimensions
                .get(1)
                .map(|d| d.label.clone())
                .unwrap_or_else(|| "All VAWG".into());
            let cell = r.cell.unwrap_or_default();
            by_stat
                .entry(category.clone())
                .or_default()
                .push(report::cell_text(&cell, pb::MetricUnit::Days));
            counts.insert(
                category,
                if cell.base > 0 {
                    cell.base.to_string()
                } else {
                    report::cell_text(&cell, pb::MetricUnit::Count)
                },
            );
        }
    }
    let mut rows = vec![vec![
        "category".into(),
        "charges".into(),
        "mean".into(),
        "median".into(),
        "p90".into(),
    ]];
    for (category, stats) in by_stat {
        let mut row = vec![
            category.clone(),
            counts.get(&category).cloned().unwrap_or_default(),
        ];
        row.extend(stats);
        rows.push(row);
    }
    print!("{}", report::align(&rows));
    println!("  (The NAO found 158 days for rape against 46 for all crime.)");
    Ok(())
}

async fn withdrawal(central: &HubClient) -> anyhow::Result<()> {
    let (all_start, all_end) = all_years();
    println!(
        "\n  Victim withdrawal by stage — cases reaching each stage, share where the victim withdrew:"
    );
    let mut q = query("withdrawal_rate", all_start, all_end);
    q.breakdowns = vec![pb::Breakdown::Subtype as i32];
    print!(
        "{}",
        report::render(
            &table(central, q).await?,
            pb::MetricUnit::Proportion,
            Format::Table
        )
    );
    Ok(())
}

/// The counting rules from the most inclusive to the least: the order in which, cell by cell,
/// their counts can only fall (`docs/counting.md` §2.8).
const RULES_BY_INCLUSION: [pb::CountingRule; 4] = [
    pb::CountingRule::AllOffences,
    pb::CountingRule::PrincipalPlusCourseOfConduct,
    pb::CountingRule::PrincipalCrime,
    pb::CountingRule::OnePerRelationship,
];

async fn definitions_compared(central: &HubClient) -> anyhow::Result<()> {
    let (fy_start, fy_end) = first_year();
    println!(
        "\n  Recorded VAWG crimes 2020-21 under each victim scope and counting rule, side by side \
         (CompareDefinitions, definition vawg-v2):"
    );
    let variants = [
        pb::VictimScope::AllVictims,
        pb::VictimScope::WomenAndGirls,
        pb::VictimScope::Aged16Plus,
    ]
    .into_iter()
    .flat_map(|scope| {
        RULES_BY_INCLUSION.map(|rule| pb::DefinitionVariant {
            victim_scope: scope as i32,
            counting_rule: rule as i32,
        })
    })
    .collect();
    let compared = central
        .metrics()
        .compare_definitions(pb::CompareDefinitionsRequest {
            query: Some(query("recorded_crimes", fy_start, fy_end)),
            variants,
        })
        .await?
        .into_inner();
    print!(
        "{}",
        report::render_comparison(&compared, pb::MetricUnit::Count)
    );
    println!(
        "  ALL_OFFENCES counts every offence (a crime with two suspects once).\n  \
         PRINCIPAL_PLUS_COURSE_OF_CONDUCT (the police rule 2017/18-2023) keeps, per victim per \
         incident, the most serious offence\n    and the most serious course-of-conduct offence \
         (stalking, harassment, controlling or coercive behaviour) beside it.\n  \
         PRINCIPAL_CRIME (the police rule since 2023) keeps only the most serious offence per \
         victim per incident.\n  \
         ONE_PER_RELATIONSHIP (the NAO's one-line summary) keeps one offence per victim/suspect \
         relationship over all time,\n    so a victim's repeat reports of one abuser count once.\n  \
         Under every rule, violence by strangers and acquaintances that the force did not flag as \
         domestic abuse is\n    outside VAWG in vawg-v2 (stored, counted nowhere); vawg-v1 \
         counted it as domestic abuse."
    );
    Ok(())
}

async fn unmet_need(central: &HubClient) -> anyhow::Result<()> {
    let (all_start, all_end) = all_years();
    println!(
        "\n  Unmet need — referred victims a service could not support, by reason and force area:"
    );
    let mut q = query("unable_to_support", all_start, all_end);
    q.breakdowns = vec![pb::Breakdown::Subtype as i32, pb::Breakdown::Area as i32];
    print!(
        "{}",
        report::render(
            &table(central, q).await?,
            pb::MetricUnit::Count,
            Format::Table
        )
    );
    Ok(())
}
