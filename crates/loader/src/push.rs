//! `vawg-hub push`: the agency loader. Reads a CSV or NDJSON extract as an agency's system
//! produces it, converts each row to a contract record with a mapping file
//! ([`mapping::Mapping`]), streams the records to the hub over mTLS + JWT, and writes every
//! row that could not be stored to a rejects file with the reasons.
//!
//! Resumable: after each acknowledged chunk the loader saves a state file (the input's
//! SHA-256, the rows done, the rejects file's length). A rerun after a failure skips the rows
//! already acknowledged; anything resent is harmless, because ingest is idempotent on (agency,
//! source record id, revision). When a load completes the state file is removed, so running the
//! same file again resends it all and the hub answers `DUPLICATE`.

pub mod mapping;
mod rejects;
mod rows;
mod state;

use std::{
    collections::VecDeque,
    io::Write,
    path::PathBuf,
    sync::{Arc, Mutex},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use vawg_client::{Ack, Tally, is_held, refusal_reason};
use vawg_proto::pb;

use self::{
    mapping::{Format, Mapping},
    rejects::Rejects,
    rows::{ChunkMeta, Chunker},
    state::{State, save_state, sha256_file, with_suffix},
};
use crate::connect::ConnectArgs;

/// `vawg-hub push …`
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
    /// How to reach the hub and who to be.
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// The mapping file (TOML) from the extract's columns and codes to the contract.
    #[arg(long)]
    pub mapping: PathBuf,
    /// The input format; by default the mapping's, else the file's extension.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Where to write rejected rows (CSV); default `<FILE>.rejects.csv`.
    #[arg(long)]
    pub rejects: Option<PathBuf>,
    /// The resume state file; default `<FILE>.push-state.json`.
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Ignore a saved state and start from the first row.
    #[arg(long)]
    pub restart: bool,
    /// Records per chunk.
    #[arg(long, default_value_t = 500)]
    pub chunk: usize,
    /// Chunks sent and not yet acknowledged, at most.
    #[arg(long, default_value_t = 4)]
    pub in_flight: usize,
    /// Stop after this many rows (for trying a mapping on the head of a large extract).
    #[arg(long)]
    pub limit: Option<u64>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// The extract.
    pub file: PathBuf,
}

/// What a push did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushReport {
    /// Data rows in the extract (or up to `--limit`).
    pub rows: u64,
    /// Rows skipped because a previous run had them acknowledged.
    pub resumed_from: u64,
    /// Rows refused by the mapping (never sent).
    pub mapping_rejects: u64,
    /// Rows sent and refused by the hub (rejected or stale).
    pub hub_rejects: u64,
    /// New records stored.
    pub accepted: u64,
    /// Records that superseded an earlier revision.
    pub superseded: u64,
    /// Records the hub already held at that revision.
    pub duplicate: u64,
    /// Where the rejects are.
    pub rejects_file: PathBuf,
}

impl PushReport {
    fn add(&mut self, t: &Tally) {
        self.accepted += t.accepted;
        self.superseded += t.superseded;
        self.duplicate += t.duplicate;
    }

    /// Rows rejected, by the mapping or the hub.
    pub fn rejected(&self) -> u64 {
        self.mapping_rejects + self.hub_rejects
    }
}

/// Runs a push.
pub async fn run(args: PushArgs) -> anyhow::Result<PushReport> {
    let mapping = Mapping::load(&args.mapping)?;
    let format = input_format(&args, &mapping)?;
    let rejects_path = args
        .rejects
        .clone()
        .unwrap_or_else(|| with_suffix(&args.file, ".rejects.csv"));
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| with_suffix(&args.file, ".push-state.json"));
    let input_sha256 = sha256_file(&args.file)?;

    // Resume where a previous run of the same file stopped.
    let saved = state::resume(args.restart, &state_path, &rejects_path, &input_sha256)?;
    let mut report = saved.as_ref().map(|s| s.report.clone()).unwrap_or_default();
    report.rejects_file = rejects_path.clone();
    let skip = saved.as_ref().map_or(0, |s| s.rows_done);
    report.resumed_from = skip;
    let rejects = Rejects::open(&rejects_path, saved.as_ref().map(|s| s.rejects_len))?;

    let total = rows::count_rows(&args.file, format, &mapping)?;
    let total = args.limit.map_or(total, |l| l.min(total));
    report.rows = total;
    let bar = progress_bar(args.quiet, total, skip);

    let client = args.connect.connect().await?;

    // The reader fills chunks; each chunk's rows and mapping refusals wait in `metas` until
    // the hub acknowledges it (acknowledgements come in order).
    let metas: Arc<Mutex<VecDeque<ChunkMeta>>> = Arc::default();
    let rows = rows::read_rows(&args.file, format, &mapping)?;
    let mut chunker = Chunker::new(rows, skip, total, args.chunk.max(1), metas.clone());
    let mut acks = Acknowledged {
        rejects,
        report,
        metas,
        state_path,
        input_sha256,
        bar,
        failure: None,
    };
    let streamed = client
        .stream_chunks(
            futures::stream::iter(std::iter::from_fn(|| chunker.next_chunk())),
            args.in_flight,
            |ack| acks.on_ack(ack),
        )
        .await;
    if let Some(e) = acks.failure.take() {
        return Err(e);
    }
    streamed.context("streaming records to the hub (rerun the same command to resume)")?;
    if let Some(e) = chunker.read_error.take() {
        return Err(e.context(format!(
            "reading {} (rerun the same command after fixing it to resume)",
            args.file.display()
        )));
    }
    acks.finish(chunker.leftover.take())
}

/// The input format: `--format`, else the mapping's, else the file's extension.
fn input_format(args: &PushArgs, mapping: &Mapping) -> anyhow::Result<Format> {
    args
        .format
        .or(mapping.source.format)
        .or_else(|| {
            match args.file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                Some("csv") => Some(Format::Csv),
                Some("ndjson" | "jsonl") => Some(Format::Ndjson),
                _ => None,
            }
        })
        .context("the format is not given (--format, the mapping's source.format) nor known from the file's extension")
}

/// Rows done of `total` (hidden with `--quiet`), starting at `skip`.
fn progress_bar(quiet: bool, total: u64, skip: u64) -> indicatif::ProgressBar {
    let bar = if quiet {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(total)
    };
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {wide_bar} {pos}/{len} rows ({per_sec}, {eta}) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_position(skip);
    bar
}

/// What happens as chunks are acknowledged: rejects written, counts kept, the state saved.
struct Acknowledged {
    rejects: Rejects,
    report: PushReport,
    metas: Arc<Mutex<VecDeque<ChunkMeta>>>,
    state_path: PathBuf,
    input_sha256: String,
    bar: indicatif::ProgressBar,
    /// The first failure; later acknowledgements are ignored.
    failure: Option<anyhow::Error>,
}

impl Acknowledged {
    fn on_ack(&mut self, ack: Ack<'_>) {
        if self.failure.is_some() {
            return;
        }
        let Some(meta) = self.metas.lock().ok().and_then(|mut q| q.pop_front()) else {
            self.failure = Some(anyhow::anyhow!(
                "an acknowledgement arrived for a chunk the loader did not send"
            ));
            return;
        };
        if let Err(e) = self.record(&meta, ack.records, ack.results) {
            self.failure = Some(e);
        }
    }

    /// Writes the chunk's rejects, then saves the state: a rerun resumes after this chunk.
    fn record(
        &mut self,
        meta: &ChunkMeta,
        records: &[pb::VawgRecord],
        results: &[pb::RecordResult],
    ) -> anyhow::Result<()> {
        write_chunk(&mut self.rejects, &mut self.report, meta, records, results)?;
        let rejects_len = self.rejects.flush()?;
        save_state(
            &self.state_path,
            &State {
                input_sha256: self.input_sha256.clone(),
                rows_done: meta.last_row,
                rejects_len,
                report: self.report.clone(),
            },
        )?;
        self.bar.set_position(meta.last_row);
        Ok(())
    }

    /// After the last acknowledgement: the refusals read after the last chunk, and the state
    /// file removed — complete, a rerun resends everything (the hub answers DUPLICATE).
    fn finish(mut self, leftover: Option<ChunkMeta>) -> anyhow::Result<PushReport> {
        if let Some(meta) = leftover {
            write_chunk(&mut self.rejects, &mut self.report, &meta, &[], &[])?;
            self.rejects.flush()?;
            self.bar.set_position(meta.last_row);
        }
        self.bar.finish_and_clear();
        if self.state_path.exists() {
            std::fs::remove_file(&self.state_path)
                .with_context(|| format!("removing {}", self.state_path.display()))?;
        }
        Ok(self.report)
    }
}

/// Writes a chunk's rejects (mapping refusals, then the hub's) and counts its results.
fn write_chunk(
    rejects: &mut Rejects,
    report: &mut PushReport,
    meta: &ChunkMeta,
    records: &[pb::VawgRecord],
    results: &[pb::RecordResult],
) -> anyhow::Result<()> {
    let mut lines: Vec<(u64, u64, String, &str, String)> = Vec::new();
    for (row, line, reasons) in &meta.refused {
        report.mapping_rejects += 1;
        lines.push((*row, *line, String::new(), "mapping", reasons.join("; ")));
    }
    let mut tally = Tally::default();
    for (i, result) in results.iter().enumerate() {
        match result.status() {
            pb::RecordStatus::Accepted => tally.accepted += 1,
            pb::RecordStatus::Superseded => tally.superseded += 1,
            pb::RecordStatus::Duplicate => tally.duplicate += 1,
            _ => {}
        }
        if !is_held(result) {
            report.hub_rejects += 1;
            let (row, line) = meta.rows.get(i).copied().unwrap_or((0, 0));
            let id = records.get(i).map_or(result.source_record_id.clone(), |r| {
                r.source_record_id.clone()
            });
            lines.push((row, line, id, "hub", refusal_reason(result)));
        }
    }
    report.add(&tally);
    lines.sort_by_key(|l| l.0);
    for (row, line, id, stage, reasons) in lines {
        rejects.write(row, line, &id, stage, &reasons)?;
    }
    Ok(())
}

/// Prints a report.
pub fn print_report(report: &PushReport) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{} rows: {} accepted, {} superseded, {} already held (duplicate), {} rejected ({} by the mapping, {} by the hub)",
        report.rows,
        report.accepted,
        report.superseded,
        report.duplicate,
        report.rejected(),
        report.mapping_rejects,
        report.hub_rejects
    );
    if report.resumed_from > 0 {
        let _ = writeln!(out, "resumed after row {}", report.resumed_from);
    }
    if report.rejected() > 0 {
        let _ = writeln!(
            out,
            "rejected rows and reasons: {}",
            report.rejects_file.display()
        );
    }
}
