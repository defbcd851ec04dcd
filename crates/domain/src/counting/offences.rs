//! Offences and the counting rules over them (`docs/counting.md` §2.1–2.8).
//!
//! Crime records are first grouped into **offences**: the records of one crime, i.e. of one
//! victim in one incident under one police crime reference (records of one crime that differ
//! only by suspect are one offence: Home Office Counting Rules, General Rules section D, "One
//! Crime per Victim"). The rules then pick offences within each **group** (one victim, one
//! incident) or, for `ONE_PER_RELATIONSHIP`, across a victim's whole history. Every choice is
//! deterministic and made on stable keys, never on the hub's record ids, so a revision that
//! changes nothing about a crime changes no count.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use super::CountingRule;

/// A crime record as the counting rules see it (its classification already applied: records
/// out of scope of the definition never reach the rules).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CrimeRecord {
    /// Stable key: the submitting agency and its own record id (`cellkey::record_unit`), the
    /// same for every revision.
    pub key: String,
    /// The victim's pseudonym; a record without one is its own victim (pass its key).
    pub victim: String,
    /// The incident: the agency-namespaced incident reference pseudonym; a record without one
    /// is its own incident (pass its key).
    pub incident: String,
    /// The police crime reference pseudonym; `None`: the record is an offence of its own.
    pub crime_ref: Option<String>,
    /// The suspect's pseudonym; `None` when unknown.
    pub suspect: Option<String>,
    /// Category id.
    pub category: String,
    /// The category's harm rank (1 = most harmful).
    pub harm_rank: u32,
    /// Whether the category is a course-of-conduct offence.
    pub course_of_conduct: bool,
    /// The record's date (for a crime, when it was reported).
    pub date: NaiveDate,
}

/// One offence: the records of one crime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offence {
    /// Indices of its records in the input, smallest stable key first.
    pub records: Vec<usize>,
    /// The victim.
    pub victim: String,
    /// The incident.
    pub incident: String,
    /// The most harmful category among its records.
    pub category: String,
    /// That category's harm rank.
    pub harm_rank: u32,
    /// That category's course-of-conduct flag.
    pub course_of_conduct: bool,
    /// The earliest date of its records: the month it is counted in.
    pub date: NaiveDate,
    /// The known suspects of its records (empty: unknown suspect).
    pub suspects: BTreeSet<String>,
    /// The smallest stable key among its records: its unit for cell keys, and the last
    /// tie-break.
    pub key: String,
}

impl Offence {
    /// "Most serious" is the smallest: lowest harm rank, then earliest date, then smallest key.
    fn order(&self) -> (u32, NaiveDate, &str) {
        (self.harm_rank, self.date, &self.key)
    }
}

/// Groups crime records into offences (§2.1), ordered by victim, incident and key.
pub fn offences(records: &[CrimeRecord]) -> Vec<Offence> {
    let mut by_crime: BTreeMap<(&str, &str, String), Vec<usize>> = BTreeMap::new();
    for (i, r) in records.iter().enumerate() {
        let crime = match &r.crime_ref {
            Some(c) => format!("ref:{c}"),
            None => format!("rec:{}", r.key),
        };
        by_crime
            .entry((&r.victim, &r.incident, crime))
            .or_default()
            .push(i);
    }
    let mut out: Vec<Offence> = by_crime
        .into_values()
        .map(|mut idx| {
            idx.sort_by(|a, b| records[*a].key.cmp(&records[*b].key));
            let first = &records[idx[0]];
            let worst = idx
                .iter()
                .map(|i| &records[*i])
                .min_by(|a, b| (a.harm_rank, &a.category).cmp(&(b.harm_rank, &b.category)))
                .expect("an offence has a record");
            Offence {
                victim: first.victim.clone(),
                incident: first.incident.clone(),
                category: worst.category.clone(),
                harm_rank: worst.harm_rank,
                course_of_conduct: worst.course_of_conduct,
                date: idx
                    .iter()
                    .map(|i| records[*i].date)
                    .min()
                    .expect("non-empty"),
                suspects: idx
                    .iter()
                    .filter_map(|i| records[*i].suspect.clone())
                    .collect(),
                key: first.key.clone(),
                records: idx,
            }
        })
        .collect();
    out.sort_by(|a, b| (&a.victim, &a.incident, &a.key).cmp(&(&b.victim, &b.incident, &b.key)));
    out
}

/// Which offences `rule` counts: one flag per offence, in input order.
pub fn picked(offences: &[Offence], rule: CountingRule) -> Vec<bool> {
    match rule {
        CountingRule::AllOffences => vec![true; offences.len()],
        CountingRule::PrincipalCrime => per_group(offences, |group| vec![most_serious(group)]),
        CountingRule::PrincipalPlusCourseOfConduct => per_group(offences, |group| {
            let (coc, other): (Vec<_>, Vec<_>) =
                group.iter().partition(|(_, o)| o.course_of_conduct);
            [other, coc]
                .into_iter()
                .filter(|part| !part.is_empty())
                .map(|part| most_serious(&part))
                .collect()
        }),
        CountingRule::OnePerRelationship => one_per_relationship(offences),
    }
}

/// The index of the most serious offence of a non-empty group.
fn most_serious(group: &[(usize, &Offence)]) -> usize {
    group
        .iter()
        .min_by(|a, b| a.1.order().cmp(&b.1.order()))
        .expect("a group has an offence")
        .0
}

/// Applies `pick` to each group (one victim, one incident).
fn per_group(offences: &[Offence], pick: impl Fn(&[(usize, &Offence)]) -> Vec<usize>) -> Vec<bool> {
    let mut groups: BTreeMap<(&str, &str), Vec<(usize, &Offence)>> = BTreeMap::new();
    for (i, o) in offences.iter().enumerate() {
        groups
            .entry((&o.victim, &o.incident))
            .or_default()
            .push((i, o));
    }
    let mut out = vec![false; offences.len()];
    for group in groups.values() {
        for i in pick(group) {
            out[i] = true;
        }
    }
    out
}

/// §2.7: per victim, the principal crimes joined (transitively) by a shared known suspect;
/// the most serious of each joined set counts. An offence with no known suspect stays alone.
fn one_per_relationship(offences: &[Offence]) -> Vec<bool> {
    let principal = picked(offences, CountingRule::PrincipalCrime);
    let candidates: Vec<usize> = (0..offences.len()).filter(|i| principal[*i]).collect();
    // Union-find over the candidates.
    let mut parent: Vec<usize> = (0..offences.len()).collect();
    fn root(parent: &mut [usize], i: usize) -> usize {
        let mut r = i;
        while parent[r] != r {
            parent[r] = parent[parent[r]];
            r = parent[r];
        }
        r
    }
    let mut by_suspect: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for &i in &candidates {
        let o = &offences[i];
        for s in &o.suspects {
            match by_suspect.get(&(o.victim.as_str(), s.as_str())) {
                Some(&j) => {
                    let (a, b) = (root(&mut parent, i), root(&mut parent, j));
                    parent[a] = b;
                }
                None => {
                    by_suspect.insert((o.victim.as_str(), s.as_str()), i);
                }
            }
        }
    }
    let mut best: BTreeMap<usize, usize> = BTreeMap::new();
    for &i in &candidates {
        let r = root(&mut parent, i);
        let keep = match best.get(&r) {
            Some(&j) => offences[i].order() < offences[j].order(),
            None => true,
        };
        if keep {
            best.insert(r, i);
        }
    }
    let mut out = vec![false; offences.len()];
    for i in best.into_values() {
        out[i] = true;
    }
    out
}

#[cfg(test)]
mod tests;
