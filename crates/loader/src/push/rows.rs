//! Reading the extract: rows converted by the mapping, counted, and gathered into chunks.

use std::{
    collections::{HashMap, VecDeque},
    fs::File,
    io::{BufRead, BufReader},
    path::Path,
    sync::{Arc, Mutex},
};

use anyhow::{Context, bail};
use vawg_proto::pb;

use super::mapping::{CsvRow, Format, JsonRow, Mapping, MappingError};

/// One converted row.
enum Converted {
    Record(Box<pb::VawgRecord>),
    Refused(Vec<String>),
}

/// A data row: its number (from 1, header excluded), the line it starts on, and the result.
pub(super) struct Item {
    row: u64,
    line: u64,
    converted: Converted,
}

/// Rows as the reader yields them.
pub(super) type Rows = Box<dyn Iterator<Item = anyhow::Result<Item>> + Send>;

fn refused(errors: Vec<MappingError>) -> Converted {
    Converted::Refused(errors.iter().map(ToString::to_string).collect())
}

/// Reads the extract row by row.
pub(super) fn read_rows(file: &Path, format: Format, mapping: &Mapping) -> anyhow::Result<Rows> {
    let open = File::open(file).with_context(|| format!("opening {}", file.display()))?;
    let mapping = mapping.clone();
    match format {
        Format::Csv => csv_rows(file, open, mapping),
        Format::Ndjson => Ok(ndjson_rows(open, mapping)),
    }
}

/// CSV rows by the header's column names; fails when a column the mapping names is missing.
fn csv_rows(file: &Path, open: File, mapping: Mapping) -> anyhow::Result<Rows> {
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

/// NDJSON rows: one JSON object a line, blank lines skipped.
fn ndjson_rows(open: File, mapping: Mapping) -> Rows {
    let mut row = 0u64;
    Box::new(
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
                    Ok(_) => Converted::Refused(vec!["the line is not a JSON object".into()]),
                    Err(e) => Converted::Refused(vec![format!("not valid JSON: {e}")]),
                };
                Ok(Item {
                    row,
                    line,
                    converted,
                })
            }),
    )
}

/// Data rows in the extract.
pub(super) fn count_rows(file: &Path, format: Format, mapping: &Mapping) -> anyhow::Result<u64> {
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

/// What the reader attached to a chunk, for when it is acknowledged.
pub(super) struct ChunkMeta {
    /// (row, line) of each record sent, in order.
    pub(super) rows: Vec<(u64, u64)>,
    /// Rows the mapping refused while this chunk filled: (row, line, reasons).
    pub(super) refused: Vec<(u64, u64, Vec<String>)>,
    /// The last data row this chunk accounts for.
    pub(super) last_row: u64,
}

/// Gathers rows into chunks of records for the stream; each chunk's rows and mapping
/// refusals wait in the shared queue until the hub acknowledges it (acknowledgements come in
/// order).
pub(super) struct Chunker {
    rows: Rows,
    chunk_size: usize,
    metas: Arc<Mutex<VecDeque<ChunkMeta>>>,
    /// The error that stopped reading, if one did.
    pub(super) read_error: Option<anyhow::Error>,
    /// Refusals after the last record sent: nothing to send, so they are written after the
    /// last acknowledgement.
    pub(super) leftover: Option<ChunkMeta>,
}

impl Chunker {
    /// Chunks of `chunk_size` records from the rows after `skip` up to `total`.
    pub(super) fn new(
        rows: Rows,
        skip: u64,
        total: u64,
        chunk_size: usize,
        metas: Arc<Mutex<VecDeque<ChunkMeta>>>,
    ) -> Chunker {
        let rows = rows
            .skip_while(move |item| matches!(item, Ok(i) if i.row <= skip))
            .take_while(move |item| !matches!(item, Ok(i) if i.row > total));
        Chunker {
            rows: Box::new(rows),
            chunk_size,
            metas,
            read_error: None,
            leftover: None,
        }
    }

    /// The next chunk's records, its rows queued in `metas`; `None` at the end (or on a read
    /// error, kept in `read_error`).
    pub(super) fn next_chunk(&mut self) -> Option<Vec<pb::VawgRecord>> {
        let mut records = Vec::with_capacity(self.chunk_size);
        let mut meta = ChunkMeta {
            rows: Vec::new(),
            refused: Vec::new(),
            last_row: 0,
        };
        while records.len() < self.chunk_size {
            match self.rows.next() {
                None => break,
                Some(Err(e)) => {
                    self.read_error = Some(e);
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
                self.leftover = Some(meta);
            }
            return None;
        }
        if let Ok(mut q) = self.metas.lock() {
            q.push_back(meta);
        }
        Some(records)
    }
}
