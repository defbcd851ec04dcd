//! `vawg-hub synth`: realistic, fully synthetic victim journeys across agencies, deterministic
//! for a seed.
//!
//! Each journey starts with an incident reported to one of five police forces (real force-area
//! GSS codes: E23000001 Metropolitan Police, E23000005 Greater Manchester, E23000014 West
//! Midlands, E23000010 West Yorkshire, W15000003 South Wales). The force records each offence
//! of the incident under its incident reference — an assault with strangulation or controlling
//! or coercive behaviour, stalking with harassment, a rape with a sexual assault — one record
//! per suspect (a crime with two suspects is two records under one crime reference), with the
//! relationship and its domestic-abuse flag, which now and then disagree. The most serious
//! offence may go on through a CPS referral, a charging decision, prosecution and court
//! outcomes and protective orders, with the victim withdrawing at the police, CPS or court
//! stage; the other offences get police outcomes that follow it. Alongside run MARAC and
//! support referrals (some services unable to support, including for no recourse to public
//! funds), health disclosures and referrals, Operation Encompass notifications, satisfaction
//! responses, the rare homicide, and quarterly funding returns. A share of victims report the
//! same suspect again in later incidents (repeat incidents, most within 12 months), some
//! suspects have several victims, and some violence is by strangers — out of scope of VAWG under
//! `vawg-v2`. The proportions, and the public figures behind them, are documented in
//! `journey/incident.rs` and `journey/people.rs`; with them the counting rules differ as they do
//! in reality (`docs/counting.md` §2; `tests/realism.rs` checks the order and the gaps).
//!
//! Delays follow the National Audit Office's finding that rape cases take far longer from
//! referral to charge than other crime (mean 158 days against 46): referral-to-charge delays
//! are drawn from an Erlang distribution with those means.
//!
//! Everything is synthetic: names are obviously fake ("Testina Mockford-Bac"), NHS numbers are
//! in the 999 test range, school URNs are in a 99xxxx range no school uses, PNC ids are
//! `SYN/…`. Every record is valid for the hub: `synth` output ingests with zero rejections.
//!
//! # File format
//!
//! `--out FILE` holds the records as a sequence of length-delimited protobuf `vawg.v1.VawgRecord`
//! messages (each a varint length then the message, as `prost::Message::encode_length_delimited`
//! writes and every protobuf library reads), grouped by source agency — police forces first, so
//! referrals are stored before the charging decisions that follow them — and within an agency in
//! event order. `FILE.agencies.json` lists the agencies (id, kind, areas) that submit them.

mod agencies;
mod catalogue;
mod generator;
mod journey;

use std::{
    io::{BufWriter, Read, Write},
    path::Path,
};

use anyhow::Context;
use chrono::{TimeZone, Utc};
use prost::Message;
use serde::Serialize;
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb;

use self::{
    generator::Gen,
    journey::{Journey, Population},
};

/// An agency that submits synthetic records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SynthAgency {
    /// Registry id, e.g. `police-e23000001`.
    pub id: String,
    /// Its kind.
    #[serde(serialize_with = "kind_name")]
    pub kind: AgencyKind,
    /// GSS codes of the areas it serves.
    pub areas: Vec<String>,
}

fn kind_name<S: serde::Serializer>(kind: &AgencyKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// Generated data: the agencies and their records, grouped by agency.
#[derive(Clone, Debug, Default)]
pub struct SynthData {
    /// Agencies, in submission order.
    pub agencies: Vec<SynthAgency>,
    /// Records, grouped by `source_agency_id` in the order of `agencies`.
    pub records: Vec<pb::VawgRecord>,
}

impl SynthData {
    /// The records of one agency, in order.
    pub fn records_of<'a>(
        &'a self,
        agency_id: &'a str,
    ) -> impl Iterator<Item = &'a pb::VawgRecord> {
        self.records
            .iter()
            .filter(move |r| r.source_agency_id == agency_id)
    }
}

/// Generates `journeys` synthetic victim journeys from `seed`. Same seed, same output.
pub fn generate(journeys: usize, seed: u64) -> SynthData {
    let mut g = Gen::new(seed);
    let start = Utc.with_ymd_and_hms(2020, 4, 1, 0, 0, 0).unwrap();
    let mut population = Population::default();
    for j in 0..journeys {
        Journey::generate(&mut g, &mut population, j, start);
    }
    agencies::funding_returns(&mut g, start);
    let agencies = agencies::submitting(&g.out);
    let mut records = g.out;
    agencies::submission_order(&agencies, &mut records);
    SynthData { agencies, records }
}

/// Writes the records (length-delimited protobuf) and `FILE.agencies.json`.
pub fn write(data: &SynthData, out: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::new(file);
    let mut buf = Vec::new();
    for r in &data.records {
        buf.clear();
        r.encode_length_delimited(&mut buf)?;
        w.write_all(&buf)?;
    }
    w.flush()?;
    let agencies = agencies_path(out);
    std::fs::write(&agencies, serde_json::to_vec_pretty(&data.agencies)?)
        .with_context(|| format!("writing {}", agencies.display()))?;
    Ok(())
}

/// Reads records written by [`write`].
pub fn read_records(path: &Path) -> anyhow::Result<Vec<pb::VawgRecord>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .read_to_end(&mut bytes)?;
    let mut buf = bytes.as_slice();
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(pb::VawgRecord::decode_length_delimited(&mut buf).context("decoding a record")?);
    }
    Ok(out)
}

/// The agencies file beside an output file.
pub fn agencies_path(out: &Path) -> std::path::PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".agencies.json");
    name.into()
}

/// Options of `vawg-hub synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Number of victim journeys.
    #[arg(long, default_value_t = 1000)]
    pub journeys: usize,
    /// Random seed; the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file (length-delimited protobuf VawgRecord messages).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Runs `vawg-hub synth`.
pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let data = generate(args.journeys, args.seed);
    write(&data, &args.out)?;
    println!(
        "{} records from {} agencies ({} journeys, seed {}) written to {}",
        data.records.len(),
        data.agencies.len(),
        args.journeys,
        args.seed,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests;
