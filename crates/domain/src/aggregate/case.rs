//! What a case contributes: the justice journey of one police crime reference (pseudonymised),
//! linked across police, CPS and courts — the attrition funnel, the charge rate, the days from
//! referral to charge, and withdrawals by stage.

use chrono::NaiveDate;

use super::{Computation, Contributions, FactRecord, FactValue, crimes, is_conviction, key, put};
use crate::pb::{self, vawg_record::Event};

/// The metrics computed here, and how.
pub(super) const METRICS: [(&str, Computation); 6] = [
    ("cases_referred", Computation::Count),
    ("victim_does_not_support_rate", Computation::Proportion),
    ("charge_rate", Computation::Proportion),
    ("referral_to_charge_days", Computation::Days),
    ("withdrawal_rate", Computation::Proportion),
    ("attrition_funnel", Computation::Count),
];

/// The justice journey of one case, from its records.
struct Journey<'a> {
    crime: Option<&'a FactRecord>,
    referred: Option<NaiveDate>,
    charged: Option<NaiveDate>,
    prosecuted: bool,
    convicted: bool,
    withdrawn: [bool; 3],
}

fn journey(records: &[FactRecord]) -> Journey<'_> {
    let mut j = Journey {
        crime: crimes(records).first().copied(),
        referred: None,
        charged: None,
        prosecuted: false,
        convicted: false,
        withdrawn: [false; 3],
    };
    let earliest = |slot: &mut Option<NaiveDate>, d: NaiveDate| {
        if slot.is_none_or(|s| d < s) {
            *slot = Some(d);
        }
    };
    for r in records {
        match &r.event {
            Event::CpsReferral(_) => earliest(&mut j.referred, r.event_date),
            Event::ChargingDecision(c) if c.decision() == pb::ChargeDecision::Charge => {
                earliest(&mut j.charged, r.event_date)
            }
            Event::ProsecutionOutcome(p) => {
                j.prosecuted = true;
                j.convicted |= is_conviction(p.result());
            }
            Event::CourtOutcome(c) => {
                j.prosecuted = true;
                j.convicted |= c.verdict() == pb::CourtVerdict::Convicted;
            }
            Event::VictimWithdrawal(w) => match w.stage() {
                pb::WithdrawalStage::Police => j.withdrawn[0] = true,
                pb::WithdrawalStage::Cps => j.withdrawn[1] = true,
                pb::WithdrawalStage::Court => j.withdrawn[2] = true,
                pb::WithdrawalStage::Unspecified => {}
            },
            _ => {}
        }
    }
    j
}

/// Funnel stage names, in order.
pub const FUNNEL_STAGES: [&str; 5] = [
    "1_recorded",
    "2_referred",
    "3_charged",
    "4_prosecuted",
    "5_convicted",
];
/// Withdrawal stages for the withdrawal rate, in order.
pub const WITHDRAWAL_STAGES: [&str; 3] = [
    "WITHDRAWAL_STAGE_POLICE",
    "WITHDRAWAL_STAGE_CPS",
    "WITHDRAWAL_STAGE_COURT",
];

/// Adds what a case contributes, given its records.
pub(super) fn contributions(records: &[FactRecord], out: &mut Contributions) {
    let j = journey(records);
    let one = FactValue::count(1);
    // A case whose crime is out of scope of the definition (e.g. an assault by a stranger) is
    // not a VAWG case, whatever its later records say.
    let crime_out_of_scope = records
        .iter()
        .any(|r| r.kind() == pb::EventKind::CrimeRecorded && r.category.is_empty());
    if j.crime.is_none() && crime_out_of_scope {
        return;
    }
    // Dimensions come from the crime when the hub holds it, else from the earliest record
    // that has a category.
    let Some(anchor) = j.crime.or_else(|| {
        records
            .iter()
            .filter(|r| !r.category.is_empty())
            .min_by(|a, b| (a.event_date, &a.unit).cmp(&(b.event_date, &b.unit)))
    }) else {
        return;
    };
    if let Some(crime) = j.crime {
        funnel(&j, crime, out);
        reached_stage(out, crime, crime.event_date, 0, j.withdrawn[0]);
    }
    if let Some(referred) = j.referred {
        // The case once, in the month of its first referral (an early-advice and a full-file
        // referral of one case are two `cps_referrals` records, one case referred).
        put(out, key("cases_referred", anchor, referred, "", 0), one);
        put(out, key("charge_rate:den", anchor, referred, "", 0), one);
        reached_stage(out, anchor, referred, 1, j.withdrawn[1]);
        if let Some(charged) = j.charged {
            put(out, key("charge_rate:num", anchor, referred, "", 0), one);
            let days = (charged - referred).num_days().max(0);
            put(
                out,
                key("referral_to_charge_days", anchor, charged, "", days),
                one,
            );
        }
    }
    if let Some(charged) = j.charged {
        reached_stage(out, anchor, charged, 2, j.withdrawn[2]);
    }
    closed_without_the_victims_support(records, anchor, out);
}

/// The case's police outcome (its latest, by date then stable unit), in the month of that
/// outcome: every case with an outcome in the denominator, and in the numerator when the
/// outcome is Home Office type 14 or 16 — evidential difficulties, the victim does not support
/// further action (read from the type, so outcomes stored with an older group count alike).
fn closed_without_the_victims_support(
    records: &[FactRecord],
    anchor: &FactRecord,
    out: &mut Contributions,
) {
    let latest = records
        .iter()
        .filter_map(|r| match &r.event {
            Event::PoliceOutcome(o) => Some((r, o.home_office_outcome_type)),
            _ => None,
        })
        .max_by(|a, b| (a.0.event_date, &a.0.unit).cmp(&(b.0.event_date, &b.0.unit)));
    let Some((outcome, outcome_type)) = latest else {
        return;
    };
    let one = FactValue::count(1);
    let date = outcome.event_date;
    put(
        out,
        key("victim_does_not_support_rate:den", anchor, date, "", 0),
        one,
    );
    if matches!(outcome_type, 14 | 16) {
        put(
            out,
            key("victim_does_not_support_rate:num", anchor, date, "", 0),
            one,
        );
    }
}

/// The funnel stages the case reached, each counted in the month of the crime (a cohort).
fn funnel(j: &Journey<'_>, crime: &FactRecord, out: &mut Contributions) {
    let reached = [
        true,
        j.referred.is_some(),
        j.charged.is_some(),
        j.prosecuted,
        j.convicted,
    ];
    for (stage, reached) in FUNNEL_STAGES.iter().zip(reached) {
        if reached {
            put(
                out,
                key("attrition_funnel", crime, crime.event_date, stage, 0),
                FactValue::count(1),
            );
        }
    }
}

/// The case reached withdrawal stage `stage` (an index into [`WITHDRAWAL_STAGES`]) on `date`:
/// it counts in the withdrawal rate's denominator, and in its numerator if the victim withdrew
/// at that stage.
fn reached_stage(
    out: &mut Contributions,
    anchor: &FactRecord,
    date: NaiveDate,
    stage: usize,
    withdrawn: bool,
) {
    let stage = WITHDRAWAL_STAGES[stage];
    let one = FactValue::count(1);
    put(out, key("withdrawal_rate:den", anchor, date, stage, 0), one);
    if withdrawn {
        put(out, key("withdrawal_rate:num", anchor, date, stage, 0), one);
    }
}

/// The records of a case whose code is a context class not resolved at ingest (a CPS or court
/// record sending, say, an assault code), each with the category of the case's in-scope crime:
/// the crime's context decides theirs (`docs/counting.md` §2.10). None while the case has no
/// in-scope crime; the aggregator recomputes the case when its crime arrives.
pub(super) fn resolved_through_crime(records: &[FactRecord]) -> Vec<FactRecord> {
    let Some(crime) = crimes(records).first().copied() else {
        return Vec::new();
    };
    records
        .iter()
        .filter(|r| r.category.is_empty() && r.context.is_some())
        .filter(|r| r.kind() != pb::EventKind::CrimeRecorded)
        .map(|r| FactRecord {
            category: crime.category.clone(),
            harm_rank: crime.harm_rank,
            course_of_conduct: crime.course_of_conduct,
            ..r.clone()
        })
        .collect()
}
