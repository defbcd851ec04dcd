//! Synthetic records in bulk for the benchmarks: blocks of journeys that never collide, and
//! rows prepared as ingest would store them.

use std::{collections::BTreeMap, sync::Arc, time::Instant};

use anyhow::Context;
use vawg_ingest::{IngestApi, IngestLimits};
use vawg_proto::pb;
use vawg_store::records::NewRecord;

use super::hub::{BenchHub, rss_kib};
use crate::synth::{self, SynthAgency};

/// Synthetic records in blocks, each block a fresh [`synth::generate`] run whose identifiers
/// (source record ids, case references, family names) carry the block's tag, so blocks never
/// collide with each other or with earlier runs on the same database and entity sizes stay
/// realistic however many records are generated.
pub struct Blocks {
    run: String,
    next: u64,
    journeys: usize,
}

impl Blocks {
    /// Blocks of `journeys` journeys each, tagged with a fresh run id.
    pub fn new(journeys: usize) -> Blocks {
        let run: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .chars()
            .filter(char::is_ascii_alphabetic)
            .take(6)
            .collect();
        Blocks {
            run,
            next: 0,
            journeys,
        }
    }

    /// The agencies every block draws from (the same set each time).
    pub fn agencies() -> Vec<SynthAgency> {
        synth::generate(200, 0).agencies
    }

    /// The next block: agencies and records, grouped by agency in submission order.
    pub fn next_block(&mut self) -> synth::SynthData {
        let block = self.next;
        self.next += 1;
        let mut data = synth::generate(self.journeys, block + 1);
        let tag = format!("{}{}", self.run, letters(block));
        for r in &mut data.records {
            r.source_record_id = format!("{tag}-{}", r.source_record_id);
            if let Some(c) = r.case_references.as_mut() {
                for reference in [
                    &mut c.police_crime_reference,
                    &mut c.cps_urn,
                    &mut c.court_case_number,
                ] {
                    if !reference.is_empty() {
                        reference.push('/');
                        reference.push_str(&tag);
                    }
                }
            }
            for person in [r.victim.as_mut(), r.suspect.as_mut()]
                .into_iter()
                .flatten()
            {
                if let Some(ids) = person.identifiers.as_mut() {
                    if !ids.family_name.is_empty() {
                        ids.family_name.push('-');
                        ids.family_name.push_str(&tag);
                    }
                    if !ids.pnc_id.is_empty() {
                        ids.pnc_id.push('/');
                        ids.pnc_id.push_str(&tag);
                    }
                }
            }
        }
        data
    }
}

/// `n` written in letters (a, b, …, z, ba, …): a tag that survives name normalisation.
fn letters(mut n: u64) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (n % 26) as u8);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Journeys per generated block (about 5,000 records).
pub(super) const BLOCK_JOURNEYS: usize = 1_000;

/// An ingest service over the bench hub's store, keyring and firewall, for preparing rows
/// (validation, classification, pseudonymisation) and for bulk loads that skip gRPC.
pub fn bench_ingest_api(hub: &BenchHub) -> anyhow::Result<IngestApi> {
    Ok(IngestApi::new(
        hub.store.clone(),
        Arc::new(vawg_server::app::load_definitions(None)?),
        Arc::new(vawg_server::keys::load_keyring(&hub.settings)?),
        IngestLimits {
            max_batch_records: 100_000,
            max_stream_records: u64::MAX,
        },
        hub.firewall.clone(),
    ))
}

/// Validates, classifies and pseudonymises `records` as ingest would, by agency; every
/// synthetic record must pass.
pub fn prepare_rows(
    api: &IngestApi,
    agencies: &[SynthAgency],
    records: Vec<pb::VawgRecord>,
) -> anyhow::Result<Vec<(String, Vec<NewRecord>)>> {
    let mut by_agency: BTreeMap<String, Vec<pb::VawgRecord>> = BTreeMap::new();
    for r in records {
        by_agency
            .entry(r.source_agency_id.clone())
            .or_default()
            .push(r);
    }
    let mut out = Vec::new();
    for a in agencies {
        let Some(mine) = by_agency.remove(&a.id) else {
            continue;
        };
        let caller = vawg_domain::identity::CallerIdentity {
            agency_id: a.id.clone(),
            agency_kind: a.kind,
            scopes: [vawg_domain::identity::scope::RECORDS_WRITE.to_string()].into(),
            areas: a.areas.clone(),
        };
        let mut rows = Vec::with_capacity(mine.len());
        for prepared in api.prepare(&caller, mine) {
            match prepared {
                Ok(v) => rows.push(v.row),
                Err(violations) => anyhow::bail!("a synthetic record was refused: {violations:?}"),
            }
        }
        out.push((a.id.clone(), rows));
    }
    anyhow::ensure!(
        by_agency.is_empty(),
        "records of agencies outside the synthetic set"
    );
    Ok(out)
}

/// Loads `records` records through the store's ingest path (one transaction per chunk with the
/// outbox and aggregate queue maintained, as over gRPC, but without the RPC), printing
/// progress; returns once the aggregates have caught up.
pub async fn bulk_load(hub: &BenchHub, records: usize, chunk: usize) -> anyhow::Result<()> {
    let api = bench_ingest_api(hub)?;
    let agencies = Blocks::agencies();
    let mut blocks = Blocks::new(BLOCK_JOURNEYS * 4);
    let started = Instant::now();
    let mut loaded = 0usize;
    let mut last_report = 0usize;
    while loaded < records {
        let data = blocks.next_block();
        let mut block = data.records;
        block.truncate(records - loaded);
        let n = block.len();
        for (agency, rows) in prepare_rows(&api, &agencies, block)? {
            for part in rows.chunks(chunk) {
                hub.store
                    .ingest(&agency, part.to_vec())
                    .await
                    .context("bulk loading")?;
            }
        }
        loaded += n;
        if loaded - last_report >= 100_000 || loaded == records {
            last_report = loaded;
            // What autovacuum would do (test servers often run without it): without fresh
            // statistics PostgreSQL's plans for the aggregate refresh fall back to full scans.
            if let vawg_store::Pool::Postgres(p) = hub.store.pool() {
                sqlx::query("ANALYZE records, agg_queue, agg_entities, agg_counts")
                    .execute(p)
                    .await?;
            }
            let secs = started.elapsed().as_secs_f64();
            eprintln!(
                "  loaded {loaded} records in {secs:.0} s ({:.0} records/s, resident {:.0} MiB)",
                loaded as f64 / secs,
                rss_kib().unwrap_or_default() as f64 / 1024.0
            );
        }
    }
    hub.store
        .settle_aggregates()
        .await
        .context("aggregating the loaded records")?;
    eprintln!(
        "  aggregated {loaded} records in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
