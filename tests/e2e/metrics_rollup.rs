//! The aggregate roll-ups and the grouped reads: after synthetic journeys, revisions and
//! retractions, every roll-up equals the full aggregate table grouped by its key, and every
//! read — grouped and filtered in the database, from whichever table the store picks — equals
//! the same grouping done in Rust over the full table.

use std::collections::BTreeMap;

use vawg_domain::aggregate::{FactKey, FactValue};
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;
use vawg_store::{
    Store,
    aggregates::{AggregateFilter, Dimension},
    rollup::{self, AggregateTable},
};
use vawg_tools::synth;

use crate::both_backends;

async fn stream(agency: &Agency, records: Vec<pb::VawgRecord>) {
    let chunks: Vec<pb::StreamRecordsRequest> = records
        .chunks(200)
        .map(|c| pb::StreamRecordsRequest {
            records: c.to_vec(),
        })
        .collect();
    let mut acks = agency
        .ingest()
        .stream_records(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner();
    while let Some(ack) = acks.message().await.unwrap() {
        for r in &ack.results {
            assert!(
                matches!(
                    r.status(),
                    pb::RecordStatus::Accepted | pb::RecordStatus::Superseded
                ),
                "{}: {:?}",
                r.source_record_id,
                r.violations
            );
        }
    }
}

/// A second revision of `r` whose victim is 20 years older (another age band: the roll-ups
/// move) and of another ethnic group (only the full table moves).
fn revised(r: &pb::VawgRecord) -> pb::VawgRecord {
    let mut r = r.clone();
    r.revision += 1;
    if let Some(d) = r.victim.as_mut().and_then(|v| v.demographics.as_mut()) {
        d.age_at_event = Some(d.age_at_event.unwrap_or(20) + 20);
        d.ethnic_group = if d.ethnic_group == pb::EthnicGroup::Asian as i32 {
            pb::EthnicGroup::Mixed as i32
        } else {
            pb::EthnicGroup::Asian as i32
        };
    }
    r
}

/// Synthetic journeys through every agency; then every seventh record revised and every
/// eleventh retracted. (Also the aggregator's recomputation test.)
pub(crate) async fn load(app: &TestApp) {
    let data = synth::generate(120, 29);
    for a in &data.agencies {
        let areas: Vec<&str> = a.areas.iter().map(String::as_str).collect();
        let agency = app.agency(&a.id, a.kind, &areas).await;
        let records: Vec<pb::VawgRecord> = data.records_of(&a.id).cloned().collect();
        stream(&agency, records.clone()).await;
        let revisions: Vec<pb::VawgRecord> = records.iter().step_by(7).map(revised).collect();
        stream(&agency, revisions).await;
        for r in records.iter().skip(3).step_by(11) {
            agency
                .ingest()
                .retract_record(pb::RetractRecordRequest {
                    source_record_id: r.source_record_id.clone(),
                    reason: "test".into(),
                })
                .await
                .unwrap();
        }
    }
}

/// The rows of `full` matching `filter`, summed by `group_by` in Rust (the reference).
fn reference(
    full: &BTreeMap<FactKey, FactValue>,
    filter: &AggregateFilter,
    group_by: &[Dimension],
) -> BTreeMap<FactKey, FactValue> {
    let keep = AggregateTable {
        name: "reference",
        dimensions: Box::leak(group_by.to_vec().into_boxed_slice()),
    };
    let within = |values: &[String], v: &String| values.is_empty() || values.contains(v);
    let mut out: BTreeMap<FactKey, FactValue> = BTreeMap::new();
    for (k, v) in full {
        let matches = k.month >= filter.from_month
            && k.month <= filter.to_month
            && within(&filter.series, &k.series)
            && within(&filter.areas, &k.area)
            && (filter.area_prefixes.is_empty()
                || filter.area_prefixes.iter().any(|p| k.area.starts_with(p)))
            && within(&filter.categories, &k.category)
            && within(&filter.sexes, &k.sex)
            && within(&filter.age_bands, &k.age_band);
        if matches {
            out.entry(rollup::project(k, &keep)).or_default().add(v, 1);
        }
    }
    out
}

fn sorted(rows: Vec<(FactKey, FactValue)>) -> BTreeMap<FactKey, FactValue> {
    let n = rows.len();
    let out: BTreeMap<FactKey, FactValue> = rows.into_iter().collect();
    assert_eq!(out.len(), n, "a read returned one key twice");
    out
}

/// Reads of the shapes the metrics service makes: each names its series, a month range, maybe
/// an area level, areas, categories or scope columns, and what it groups by.
fn reads() -> Vec<(AggregateFilter, Vec<Dimension>)> {
    use Dimension as D;
    let base = |series: &[&str]| AggregateFilter {
        series: series.iter().map(|s| s.to_string()).collect(),
        from_month: "2000-01".into(),
        to_month: "2100-12".into(),
        ..Default::default()
    };
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let pfa = strings(&["E23", "W15"]);
    vec![
        // Women and girls, monthly, police force areas.
        (
            AggregateFilter {
                sexes: strings(&["SEX_FEMALE"]),
                area_prefixes: pfa.clone(),
                ..base(&["recorded_crimes"])
            },
            vec![D::Month],
        ),
        // Whole period (no month) by sex and age band.
        (base(&["recorded_crimes"]), vec![D::Sex, D::AgeBand]),
        // A proportion's two series, by area, local authorities.
        (
            AggregateFilter {
                area_prefixes: strings(&["E06", "E07", "E08", "E09", "W06"]),
                ..base(&["victim_satisfaction:num", "victim_satisfaction:den"])
            },
            vec![D::Month, D::Area],
        ),
        // The other proportion, whole period, police force areas.
        (
            AggregateFilter {
                area_prefixes: pfa.clone(),
                ..base(&["charge_rate:num", "charge_rate:den"])
            },
            vec![],
        ),
        // By category, 16+, one named area.
        (
            AggregateFilter {
                areas: strings(&["E23000001"]),
                age_bands: strings(&["16-24", "25-34", "35-44", "45-54", "55-64", "65+"]),
                ..base(&["convictions", "recorded_crimes"])
            },
            vec![D::Month, D::Category],
        ),
        // Days: the bucket.
        (
            AggregateFilter {
                area_prefixes: pfa.clone(),
                ..base(&["referral_to_charge_days"])
            },
            vec![D::Month, D::Bucket],
        ),
        // Equality breakdowns and sub-types: the full table only.
        (base(&["recorded_crimes"]), vec![D::Month, D::EthnicGroup]),
        (
            AggregateFilter {
                categories: strings(&["domestic_abuse"]),
                ..base(&["victim_withdrawals", "protective_orders"])
            },
            vec![D::Subtype, D::ImmigrationStatus, D::Disability],
        ),
        // A narrow month range, every series.
        (
            AggregateFilter {
                from_month: "2020-07".into(),
                to_month: "2020-12".into(),
                ..base(&[])
            },
            vec![D::Month, D::Area, D::Sex],
        ),
    ]
}

async fn rollups_equal_the_full_table_grouped(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    load(&app).await;
    let store: &Store = app.store();

    // (Whether the full table equals a recomputation from the records is the metrics and
    // ingest tests' concern; here the roll-ups must equal the full table as it stands.)
    let full = store.all_aggregates().await.unwrap();
    for table in rollup::ROLLUPS {
        let held = store.rollup_aggregates(table).await.unwrap();
        let expected = rollup::roll_up(&full, table);
        assert!(!expected.is_empty());
        assert!(
            expected.len() < full.len(),
            "{} is no narrower than the full table",
            table.name
        );
        assert_eq!(
            held, expected,
            "{} differs from agg_counts grouped by its key",
            table.name
        );
    }

    let mut from_rollups = 0;
    for (filter, group_by) in reads() {
        let expected = reference(&full, &filter, &group_by);
        assert!(
            !expected.is_empty(),
            "{filter:?} {group_by:?} reads nothing"
        );
        let picked = rollup::table_for_read(&filter, &group_by);
        from_rollups += usize::from(picked != &rollup::FULL);
        assert_eq!(
            sorted(store.aggregate_rows(&filter, &group_by).await.unwrap()),
            expected,
            "{filter:?} grouped by {group_by:?}, from {}",
            picked.name
        );
        // Every table able to answer gives the same answer.
        for table in rollup::ROLLUPS.iter().chain([&rollup::FULL]) {
            if !table.covers(&rollup::read_dimensions(&filter, &group_by)) {
                continue;
            }
            assert_eq!(
                sorted(
                    store
                        .aggregate_rows_in(table, &filter, &group_by)
                        .await
                        .unwrap()
                ),
                expected,
                "{filter:?} grouped by {group_by:?}, from {}",
                table.name
            );
        }
    }
    assert!(from_rollups >= 4, "the typical reads go to the roll-ups");
    app.stop().await;
}
both_backends!(rollups, rollups_equal_the_full_table_grouped);
