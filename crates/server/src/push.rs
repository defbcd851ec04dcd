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

use std::{
    collections::{HashMap, VecDeque},
    fs::{File, OpenOptions},
    io::{BufRead, BufReader, Read, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use vawg_client::{Tally, is_held, refusal_reason};
use vawg_proto::pb;

use self::mapping::{CsvRow, Format, JsonRow, Mapping, MappingError};
use crate::connect::ConnectArgs;

/// `vawg-hub push …`
#[derive(Debug, Clone, clap::Args)]
pub struct PushArgs {
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

/// The resume state, saved after every acknowledged chunk.
#[derive(Debug, Serialize, Deserialize)]
struct State {
    /// SHA-256 of the extract: a state for another file (or a changed one) is ignored.
    input_sha256: String,
    /// Data rows fully dealt with (acknowledged or rejected by the mapping), from the start.
    rows_done: u64,
    /// The rejects file's length at that point.
    rejects_len: u64,
    /// The counts so far.
    report: PushReport,
}

fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn save_state(path: &Path, state: &State) -> anyhow::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// One converted row.
enum Converted {
    Record(Box<pb::VawgRecord>),
    Refused(Vec<String>),
}

/// A data row: its number (from 1, header excluded), the line it starts on, and the result.
struct Item {
    row: u64,
    line: u64,
    converted: Converted,
}

/// Reads the extract row by row.
fn read_rows(
    file: &Path,
    format: Format,
    mapping: &Mapping,
) -> anyhow::Result<Box<dyn Iterator<Item = anyhow::Result<Item>> + Send>> {
    let refused = |errors: Vec<MappingError>| {
        Converted::Refused(errors.iter().map(ToString::to_string).collect())
    };
    let open = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mapping = mapping.clone();
    match format {
        Format::Csv => {
            let delimiter = mapping.source.delimiter.unwrap_or(',') as u8;
            let mut reader = csv::ReaderBuilder::new()
                .delimiter(delimiter)
                .flexible(true)
                .from_reader(BufReader::new(open));
            let header: HashMap<String, usize> = reader
                .headers()
                .with_context(|| format!("reading the header row of {}", file.display()))?
                .iter()
                .enumerate()
                .map(|(i, h)| (h.trim().trim_start_matches('\u{feff}').to_string(), i))
                .collect();
            let missing: Vec<&str> = mapping
                .fields
                .values()
                .filter_map(|s| s.column.as_deref())
                .filter(|c| !header.contains_key(*c))
                .collect();
            if !missing.is_empty() {
                bail!(
                    "{} has no column {} named in the mapping",
                    file.display(),
                    missing.join(", ")
                );
            }
            let mut row = 0u64;
            Ok(Box::new(reader.into_records().map(move |r| {
                row += 1;
                let record = r.with_context(|| format!("reading row {row}"))?;
                let line = record.position().map_or(0, |p| p.line());
                let converted = match mapping.convert(&CsvRow {
                    header: &header,
                    record: &record,
                }) {
                    Ok(v) => Converted::Record(Box::new(v)),
                    Err(e) => refused(e),
                };
                Ok(Item {
                    row,
                    line,
                    converted,
                })
            })))
        }
        Format::Ndjson => {
            let mut row = 0u64;
            Ok(Box::new(
                BufReader::new(open)
                    .lines()
                    .enumerate()
                    .filter(|(_, l)| l.as_ref().map_or(true, |l| !l.trim().is_empty()))
                    .map(move |(i, l)| {
                        row += 1;
                        let line = i as u64 + 1;
                        let text = l.with_context(|| format!("reading line {line}"))?;
                        let converted = match serde_json::from_str::<serde_json::Value>(&text) {
                            Ok(v) if v.is_object() => match mapping.convert(&JsonRow(&v)) {
                                Ok(r) => Converted::Record(Box::new(r)),
                                Err(e) => refused(e),
                            },
                            Ok(_) => {
                                Converted::Refused(vec!["the line is not a JSON object".into()])
                            }
                            Err(e) => Converted::Refused(vec![format!("not valid JSON: {e}")]),
                        };
                        Ok(Item {
                            row,
                            line,
                            converted,
                        })
                    }),
            ))
        }
    }
}

fn count_rows(file: &Path, format: Format, mapping: &Mapping) -> anyhow::Result<u64> {
    let open = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    Ok(match format {
        Format::Csv => csv::ReaderBuilder::new()
            .delimiter(mapping.source.delimiter.unwrap_or(',') as u8)
            .flexible(true)
            .from_reader(BufReader::new(open))
            .into_byte_records()
            .count() as u64,
        Format::Ndjson => BufReader::new(open)
            .lines()
            .map_while(Result::ok)
            .filter(|l| !l.trim().is_empty())
            .count() as u64,
    })
}

/// The rejects file: CSV `row,line,source_record_id,stage,reasons`.
struct Rejects {
    writer: csv::Writer<File>,
}

impl Rejects {
    fn open(path: &Path, resume_at: Option<u64>) -> anyhow::Result<Rejects> {
        let fresh = resume_at.is_none();
        let file = match resume_at {
            Some(len) => {
                let f = OpenOptions::new()
                    .write(true)
                    .open(path)
                    .with_context(|| format!("opening {}", path.display()))?;
                // Drop anything written after the last saved state: those rows are redone.
                f.set_len(len)?;
                let mut f = f;
                std::io::Seek::seek(&mut f, std::io::SeekFrom::End(0))?;
                f
            }
            None => File::create(path).with_context(|| format!("creating {}", path.display()))?,
        };
        let mut writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_writer(file);
        if fresh {
            writer.write_record(["row", "line", "source_record_id", "stage", "reasons"])?;
        }
        Ok(Rejects { writer })
    }

    fn write(
        &mut self,
        row: u64,
        line: u64,
        id: &str,
        stage: &str,
        reasons: &str,
    ) -> anyhow::Result<()> {
        self.writer.write_record([
            row.to_string().as_str(),
            &line.to_string(),
            id,
            stage,
            reasons,
        ])?;
        Ok(())
    }

    /// Flushes and returns the file's length.
    fn flush(&mut self) -> anyhow::Result<u64> {
        self.writer.flush()?;
        Ok(self.writer.get_ref().metadata()?.len())
    }
}

/// What the reader attached to a chunk, for when it is acknowledged.
struct ChunkMeta {
    /// (row, line) of each record sent, in order.
    rows: Vec<(u64, u64)>,
    /// Rows the mapping refused while this chunk filled: (row, line, reasons).
    refused: Vec<(u64, u64, Vec<String>)>,
    /// The last data row this chunk accounts for.
    last_row: u64,
}

/// Runs a push.
pub async fn run(args: PushArgs) -> anyhow::Result<PushReport> {
    let mapping = Mapping::load(&args.mapping)?;
    let format = args
        .format
        .or(mapping.source.format)
        .or_else(|| {
            match args.file.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
                Some("csv") => Some(Format::Csv),
                Some("ndjson" | "jsonl") => Some(Format::Ndjson),
                _ => None,
            }
        })
        .context("the format is not given (--format, the mapping's source.format) nor known from the file's extension")?;
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
    let saved = if args.restart || !state_path.exists() {
        None
    } else {
        let text = std::fs::read_to_string(&state_path)
            .with_context(|| format!("reading {}", state_path.display()))?;
        let state: State = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a push state file", state_path.display()))?;
        if state.input_sha256 != input_sha256 {
            eprintln!(
                "{} belongs to another version of the extract; starting from the first row",
                state_path.display()
            );
            None
        } else if !rejects_path.exists() {
            eprintln!(
                "{} is missing; starting from the first row",
                rejects_path.display()
            );
            None
        } else {
            Some(state)
        }
    };
    let mut report = saved.as_ref().map(|s| s.report.clone()).unwrap_or_default();
    report.rejects_file = rejects_path.clone();
    let skip = saved.as_ref().map_or(0, |s| s.rows_done);
    report.resumed_from = skip;
    let mut rejects = Rejects::open(&rejects_path, saved.as_ref().map(|s| s.rejects_len))?;

    let total = count_rows(&args.file, format, &mapping)?;
    let total = args.limit.map_or(total, |l| l.min(total));
    report.rows = total;
    let bar = if args.quiet {
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

    let client = args.connect.connect().await?;

    // The reader fills chunks; each chunk's rows and mapping refusals wait in `metas` until
    // the hub acknowledges it (acknowledgements come in order).
    let metas: Arc<Mutex<VecDeque<ChunkMeta>>> = Arc::default();
    let mut rows = read_rows(&args.file, format, &mapping)?
        .skip_while(move |item| matches!(item, Ok(i) if i.row <= skip))
        .take_while(move |item| !matches!(item, Ok(i) if i.row > total));
    let mut read_error: Option<anyhow::Error> = None;
    let mut leftover: Option<ChunkMeta> = None;
    let chunk_size = args.chunk.max(1);
    let chunks = {
        let metas = metas.clone();
        let read_error = &mut read_error;
        let leftover = &mut leftover;
        futures::stream::iter(std::iter::from_fn(move || {
            let mut records = Vec::with_capacity(chunk_size);
            let mut meta = ChunkMeta {
                rows: Vec::new(),
                refused: Vec::new(),
                last_row: 0,
            };
            while records.len() < chunk_size {
                match rows.next() {
                    None => break,
                    Some(Err(e)) => {
                        *read_error = Some(e);
                        break;
                    }
                    Some(Ok(item)) => {
                        meta.last_row = item.row;
                        match item.converted {
                            Converted::Record(r) => {
                                meta.rows.push((item.row, item.line));
                                records.push(*r);
                            }
                            Converted::Refused(reasons) => {
                                meta.refused.push((item.row, item.line, reasons))
                            }
                        }
                    }
                }
            }
            if records.is_empty() {
                // Nothing to send: the refusals (if any) are written after the last ack.
                if meta.last_row > 0 {
                    *leftover = Some(meta);
                }
                return None;
            }
            if let Ok(mut q) = metas.lock() {
                q.push_back(meta);
            }
            Some(records)
        }))
    };

    let mut failure: Option<anyhow::Error> = None;
    let streamed = client
        .stream_chunks(chunks, args.in_flight, |ack| {
            if failure.is_some() {
                return;
            }
            let Some(meta) = metas.lock().ok().and_then(|mut q| q.pop_front()) else {
                failure = Some(anyhow::anyhow!(
                    "an acknowledgement arrived for a chunk the loader did not send"
                ));
                return;
            };
            let done = (|| -> anyhow::Result<()> {
                write_chunk(&mut rejects, &mut report, &meta, ack.records, ack.results)?;
                let rejects_len = rejects.flush()?;
                save_state(
                    &state_path,
                    &State {
                        input_sha256: input_sha256.clone(),
                        rows_done: meta.last_row,
                        rejects_len,
                        report: report.clone(),
                    },
                )?;
                bar.set_position(meta.last_row);
                Ok(())
            })();
            if let Err(e) = done {
                failure = Some(e);
            }
        })
        .await;
    if let Some(e) = failure {
        return Err(e);
    }
    streamed.context("streaming records to the hub (rerun the same command to resume)")?;
    if let Some(e) = read_error {
        return Err(e.context(format!(
            "reading {} (rerun the same command after fixing it to resume)",
            args.file.display()
        )));
    }
    if let Some(meta) = leftover {
        write_chunk(&mut rejects, &mut report, &meta, &[], &[])?;
        rejects.flush()?;
        bar.set_position(meta.last_row);
    }
    bar.finish_and_clear();
    // Complete: a rerun resends everything (the hub answers DUPLICATE).
    if state_path.exists() {
        std::fs::remove_file(&state_path)
            .with_context(|| format!("removing {}", state_path.display()))?;
    }
    Ok(report)
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
