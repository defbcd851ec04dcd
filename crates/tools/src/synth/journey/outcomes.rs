//! Police outcomes (Home Office outcome types 1-22): the lead crime's, drawn by the
//! investigation, and the incident's other crimes', which follow it.
//!
//! Forces may leave the outcome group out (the hub derives it from the type); here London and
//! Greater Manchester still send it, as clients written before the hub derived groups do, and
//! the other forces leave it out.

use chrono::{DateTime, Duration, Utc};
use vawg_proto::pb::{self, vawg_record::Event};

use super::Journey;
use crate::synth::{catalogue::Class, generator::Gen};

/// How the lead crime was closed: the outcome type and when.
#[derive(Clone, Copy)]
pub(super) struct Closure {
    pub(super) outcome: u32,
    pub(super) at: DateTime<Utc>,
}

/// The Home Office group of the outcome types these data use (the table in `record.proto`).
fn group(outcome: u32) -> pb::PoliceOutcomeGroup {
    use pb::PoliceOutcomeGroup as G;
    match outcome {
        1 => G::ChargedOrSummonsed,
        2 | 3 => G::OutOfCourtFormal,
        4 => G::TakenIntoConsideration,
        5 | 9 | 10 => G::ProsecutionPrevented,
        8 => G::OutOfCourtInformal,
        14 | 16 => G::VictimDoesNotSupport,
        15 => G::EvidentialDifficultiesVictimSupports,
        18 => G::NoSuspectIdentified,
        20 => G::TransferredToAnotherBody,
        21 => G::FurtherInvestigationNotInPublicInterest,
        22 => G::DiversionaryActivity,
        _ => G::Unspecified,
    }
}

/// An outcome the police reach without the CPS, for the 5% of identified-suspect crimes that
/// end neither in withdrawal, evidential difficulties nor a referral: cautions, community
/// resolutions, diversion, not in the public interest, transferred, and (rarely) the suspect
/// died.
pub(super) fn police_only(g: &mut Gen) -> u32 {
    g.weighted(&[
        (3, 25),
        (8, 20),
        (21, 18),
        (22, 14),
        (20, 10),
        (10, 8),
        (5, 5),
    ])
}

/// The outcome of another crime of the incident, given the lead's: charged with it (or taken
/// into consideration) when the lead was charged; otherwise closed the same way.
fn follows(g: &mut Gen, lead: u32) -> u32 {
    match lead {
        1 => g.weighted(&[(1, 60), (4, 10), (15, 30)]),
        other => other,
    }
}

impl Journey {
    /// A Home Office outcome for the crime with references `refs` and class `class`.
    pub(super) fn outcome_of(
        &self,
        g: &mut Gen,
        at: DateTime<Utc>,
        outcome: u32,
        class: Class,
        refs: &pb::CaseReferences,
    ) {
        let group = if self.fi < 2 {
            group(outcome)
        } else {
            pb::PoliceOutcomeGroup::Unspecified
        };
        g.emit(
            &self.agencies.police,
            "PO",
            at,
            self.pfa,
            pb::CountingUnit::Crime,
            class,
            Some(&self.victim),
            self.suspect(),
            refs,
            Event::PoliceOutcome(pb::PoliceOutcome {
                home_office_outcome_type: outcome,
                group: group as i32,
            }),
        );
    }

    /// The lead crime's outcome; returns how it was closed.
    pub(super) fn police_outcome(&self, g: &mut Gen, at: DateTime<Utc>, outcome: u32) -> Closure {
        self.outcome_of(g, at, outcome, self.class, &self.refs);
        Closure { outcome, at }
    }

    /// The outcomes of the incident's other crimes, a day after the lead's (charged crimes
    /// carry the lead's CPS file, one file for the incident).
    pub(super) fn other_outcomes(&self, g: &mut Gen, closure: Option<Closure>) {
        let Some(closure) = closure else { return };
        for (_, class, refs) in &self.others {
            let outcome = follows(g, closure.outcome);
            let mut refs = refs.clone();
            if matches!(outcome, 1 | 4) {
                refs.cps_urn = self.refs.cps_urn.clone();
            }
            self.outcome_of(g, closure.at + Duration::days(1), outcome, *class, &refs);
        }
    }
}
