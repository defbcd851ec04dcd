//! What the entities linked by pseudonyms contribute: a victim/suspect relationship (recorded
//! crimes under the counting rules), a victim (repeat victimisation) and a suspect (linked to
//! several victims or force areas).

use super::{Computation, Contributions, FactRecord, FactValue, crimes, key, put};
use crate::counting::{self, CountingRule, Offence};

/// The metrics computed here, and how.
pub(super) const METRICS: [(&str, Computation); 3] = [
    ("recorded_crimes", Computation::Count),
    ("repeat_victimisations", Computation::Count),
    ("perpetrators_multiple", Computation::Count),
];

/// Adds what a victim/suspect relationship contributes: each of its crimes, counted under each
/// counting rule.
pub(super) fn relationship_contributions(records: &[FactRecord], out: &mut Contributions) {
    let crimes = crimes(records);
    let offences: Vec<Offence> = crimes
        .iter()
        .map(|r| Offence {
            id: format!("{:020}", r.record_id),
            victim: r.victim.clone().unwrap_or_default(),
            suspect: r.suspect.clone(),
            category: r.category.clone(),
            harm_rank: r.harm_rank,
            course_of_conduct: r.course_of_conduct,
            event_date: r.event_date,
        })
        .collect();
    let principal: Vec<&str> = counting::counted(&offences, CountingRule::PrincipalCrime)
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    let with_coc: Vec<&str> =
        counting::counted(&offences, CountingRule::PrincipalPlusCourseOfConduct)
            .iter()
            .map(|o| o.id.as_str())
            .collect();
    for (r, o) in crimes.iter().zip(&offences) {
        let v = FactValue {
            n_all: 1,
            n_principal: principal.contains(&o.id.as_str()) as i64,
            n_principal_coc: with_coc.contains(&o.id.as_str()) as i64,
            ..FactValue::default()
        };
        put(out, key("recorded_crimes", r, r.event_date, "", 0), v);
    }
}

/// Adds what a victim contributes: each crime that had another in the previous twelve months.
pub(super) fn victim_contributions(records: &[FactRecord], out: &mut Contributions) {
    let crimes = crimes(records);
    for (i, r) in crimes.iter().enumerate() {
        let repeat = crimes[..i]
            .iter()
            .any(|p| (r.event_date - p.event_date).num_days() <= 365);
        if repeat {
            put(
                out,
                key("repeat_victimisations", r, r.event_date, "", 0),
                FactValue::count(1),
            );
        }
    }
}

/// Adds what a suspect contributes: once when linked to a second victim, once when linked to a
/// second force area.
pub(super) fn suspect_contributions(records: &[FactRecord], out: &mut Contributions) {
    let crimes = crimes(records);
    let mut victims: Vec<&str> = Vec::new();
    let mut areas: Vec<&str> = Vec::new();
    // Counted once, in the month the suspect first became linked to a second victim (or
    // force area), with that crime's dimensions.
    let (mut multi_victim, mut multi_area) = (false, false);
    for r in crimes {
        if let Some(v) = r.victim.as_deref()
            && !victims.contains(&v)
        {
            victims.push(v);
            if victims.len() == 2 && !multi_victim {
                multi_victim = true;
                put(
                    out,
                    key(
                        "perpetrators_multiple",
                        r,
                        r.event_date,
                        "MULTIPLE_VICTIMS",
                        0,
                    ),
                    FactValue::count(1),
                );
            }
        }
        if !areas.contains(&r.area_code.as_str()) {
            areas.push(&r.area_code);
            if areas.len() == 2 && !multi_area {
                multi_area = true;
                put(
                    out,
                    key(
                        "perpetrators_multiple",
                        r,
                        r.event_date,
                        "MULTIPLE_AREAS",
                        0,
                    ),
                    FactValue::count(1),
                );
            }
        }
    }
}
