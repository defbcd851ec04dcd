//! Step 2: every agency streams its synthetic records, with a progress bar per kind of agency.

use std::{collections::BTreeMap, sync::Arc};

use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use vawg_client::Tally;
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb;

use super::hub::Hub;
use crate::synth;

/// Every agency streams its records: police first (the crimes every later stage refers to),
/// then the other agencies four at a time, one progress bar per kind of agency.
pub(super) async fn push_all(hub: &Arc<Hub>, data: &synth::SynthData) -> anyhow::Result<Tally> {
    let (_multi, bars) = progress_bars(data)?;
    let push = |agency: &synth::SynthAgency| {
        let hub = hub.clone();
        let records: Vec<pb::VawgRecord> = data.records_of(&agency.id).cloned().collect();
        let bar = bars[&agency.kind].clone();
        let (id, kind) = (agency.id.clone(), agency.kind);
        async move {
            let client = hub.client(&id, kind).await?;
            let tally = client
                .stream(records, 250, 4, |_, results| bar.inc(results.len() as u64))
                .await?;
            anyhow::Ok(tally)
        }
    };
    let mut total = Tally::default();
    let mut add = |t: Tally| {
        total.accepted += t.accepted;
        total.superseded += t.superseded;
        total.duplicate += t.duplicate;
        total.stale += t.stale;
        total.rejected += t.rejected;
    };
    let police: Vec<_> = data
        .agencies
        .iter()
        .filter(|a| a.kind == AgencyKind::Police)
        .collect();
    let others: Vec<_> = data
        .agencies
        .iter()
        .filter(|a| a.kind != AgencyKind::Police)
        .collect();
    for results in [
        futures::stream::iter(police.into_iter().map(push))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await,
        futures::stream::iter(others.into_iter().map(push))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await,
    ] {
        for r in results {
            add(r?);
        }
    }
    for bar in bars.values() {
        bar.finish_with_message("done");
    }
    Ok(total)
}

/// A progress bar per kind of agency, hidden when stdout is not a terminal (the bars must
/// live as long as the returned [`MultiProgress`]).
fn progress_bars(
    data: &synth::SynthData,
) -> anyhow::Result<(MultiProgress, BTreeMap<AgencyKind, ProgressBar>)> {
    let multi = MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("  {prefix:<18} [{bar:30}] {pos:>6}/{len:<6} {msg}")?
        .progress_chars("=> ");
    let mut groups: BTreeMap<AgencyKind, Vec<&synth::SynthAgency>> = BTreeMap::new();
    for a in &data.agencies {
        groups.entry(a.kind).or_default().push(a);
    }
    let mut bars: BTreeMap<AgencyKind, ProgressBar> = BTreeMap::new();
    for (kind, members) in &groups {
        let n: usize = members.iter().map(|a| data.records_of(&a.id).count()).sum();
        let bar = multi.add(ProgressBar::new(n as u64));
        bar.set_style(style.clone());
        bar.set_prefix(format!(
            "{} ({})",
            kind.as_str().to_lowercase().replace('_', " "),
            members.len()
        ));
        bars.insert(*kind, bar);
    }
    Ok((multi, bars))
}
