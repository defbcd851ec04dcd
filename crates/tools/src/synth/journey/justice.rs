//! The criminal justice part of a journey: the police investigation, the CPS charging
//! decision, the court, protective orders, and the victim withdrawing at any stage.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use vawg_proto::pb::{self, vawg_record::Event};

use super::Journey;
use crate::synth::{
    catalogue::Crime,
    generator::{Gen, date},
};

/// How a prosecution ended: the CPS's result, the court's verdict, and the trial.
type Prosecuted = (
    pb::ProsecutionResult,
    pb::CourtVerdict,
    pb::TrialEffectiveness,
);

impl Journey {
    /// The police investigation: no suspect, the victim withdrawing, evidential difficulties,
    /// or a referral to the CPS.
    pub(super) fn investigation(&mut self, g: &mut Gen) {
        let investigated = self.crime_at + g.delay(30.0);
        let roll: f64 = g.rng.r#gen();
        if self.crime != Crime::Homicide && self.suspect.is_none() {
            self.police_outcome(
                g,
                investigated,
                18,
                pb::PoliceOutcomeGroup::NoSuspectIdentified,
            );
        } else if self.crime != Crime::Homicide && roll < 0.25 {
            g.emit(
                &self.agencies.police,
                "VW",
                investigated,
                self.pfa,
                pb::CountingUnit::Crime,
                ("HO_OFFENCE", self.ho),
                Some(&self.victim),
                self.suspect.as_ref(),
                &self.refs,
                Event::VictimWithdrawal(pb::VictimWithdrawal {
                    stage: pb::WithdrawalStage::Police as i32,
                    case_ended: true,
                }),
            );
            self.police_outcome(
                g,
                investigated + Duration::days(2),
                16,
                pb::PoliceOutcomeGroup::VictimDoesNotSupport,
            );
        } else if self.crime != Crime::Homicide && roll < 0.45 {
            self.police_outcome(
                g,
                investigated,
                15,
                pb::PoliceOutcomeGroup::EvidentialDifficultiesVictimSupports,
            );
        } else {
            self.cps_referral(g, investigated);
        }
    }

    /// A Home Office outcome of the investigation.
    fn police_outcome(
        &self,
        g: &mut Gen,
        at: DateTime<Utc>,
        outcome_type: u32,
        group: pb::PoliceOutcomeGroup,
    ) {
        g.emit(
            &self.agencies.police,
            "PO",
            at,
            self.pfa,
            pb::CountingUnit::Crime,
            ("HO_OFFENCE", self.ho),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::PoliceOutcome(pb::PoliceOutcome {
                home_office_outcome_type: outcome_type,
                group: group as i32,
            }),
        );
    }

    /// The CPS classification: its monitoring flag, or the offence.
    fn cps_class(&self) -> (&'static str, &'static str) {
        self.crime
            .cps_flag()
            .map(|f| ("CPS_FLAG", f))
            .unwrap_or(("HO_OFFENCE", self.ho))
    }

    /// Referral to the CPS for a charging decision, the decision (after a victim withdrawal,
    /// sometimes), and on a charge the prosecution.
    fn cps_referral(&mut self, g: &mut Gen, referred: DateTime<Utc>) {
        self.refs.cps_urn = format!("URN{}{:07}", &self.force.gss[..3], self.j + 1);
        g.emit(
            &self.agencies.police,
            "RF",
            referred,
            self.pfa,
            pb::CountingUnit::Defendant,
            ("HO_OFFENCE", self.ho),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::CpsReferral(pb::CpsReferral {
                referral_type: pb::ReferralType::ChargingDecision as i32,
            }),
        );
        let mean = if self.crime == Crime::Rape {
            158.0
        } else {
            46.0
        };
        let decided = referred + g.delay(mean);
        let cps_withdrawal = g.chance(0.1);
        if cps_withdrawal {
            g.emit(
                &self.agencies.cps,
                "VW",
                decided - Duration::days(3),
                self.pfa,
                pb::CountingUnit::Defendant,
                self.cps_class(),
                Some(&self.victim),
                self.suspect.as_ref(),
                &self.refs,
                Event::VictimWithdrawal(pb::VictimWithdrawal {
                    stage: pb::WithdrawalStage::Cps as i32,
                    case_ended: true,
                }),
            );
        }
        let decision = if cps_withdrawal || g.chance(0.22) {
            pb::ChargeDecision::NoFurtherAction
        } else if g.chance(0.04) {
            pb::ChargeDecision::AdministrativelyFinalised
        } else {
            pb::ChargeDecision::Charge
        };
        g.emit(
            &self.agencies.cps,
            "CD",
            decided,
            self.pfa,
            pb::CountingUnit::Defendant,
            self.cps_class(),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::ChargingDecision(pb::ChargingDecision {
                decision_maker: pb::DecisionMaker::Cps as i32,
                decision: decision as i32,
            }),
        );
        if decision == pb::ChargeDecision::Charge {
            self.prosecution(g, decided);
        }
    }

    /// The charge, the court hearing and its outcome, the CPS's result, and on a conviction
    /// (often) a protective order.
    fn prosecution(&mut self, g: &mut Gen, decided: DateTime<Utc>) {
        self.police_outcome(
            g,
            decided + Duration::days(1),
            1,
            pb::PoliceOutcomeGroup::ChargedOrSummonsed,
        );
        self.refs.court_case_number = format!("CC{}{:07}", &self.force.gss[..3], self.j + 1);
        let heard = decided + g.delay(if self.crime.sexual() { 300.0 } else { 90.0 });
        let court_type = if self.crime.sexual() || self.crime == Crime::Homicide {
            pb::CourtType::Crown
        } else {
            pb::CourtType::Magistrates
        };
        let (result, verdict, trial) = self.court_result(g, heard);
        g.emit(
            &self.agencies.court,
            "CO",
            heard,
            self.pfa,
            pb::CountingUnit::Defendant,
            ("HO_OFFENCE", self.ho),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::CourtOutcome(pb::CourtOutcome {
                court_type: court_type as i32,
                verdict: verdict as i32,
                trial_effectiveness: trial as i32,
            }),
        );
        g.emit(
            &self.agencies.cps,
            "PR",
            heard + Duration::days(1),
            self.pfa,
            pb::CountingUnit::Defendant,
            self.cps_class(),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::ProsecutionOutcome(pb::ProsecutionOutcome {
                result: result as i32,
            }),
        );
        if verdict == pb::CourtVerdict::Convicted && g.chance(0.7) {
            self.order_on_conviction(g, heard);
        }
    }

    /// How the case ends at court: the victim withdrawing before the hearing, a guilty plea,
    /// a conviction after trial, or an acquittal.
    fn court_result(&self, g: &mut Gen, heard: DateTime<Utc>) -> Prosecuted {
        if g.chance(0.1) {
            g.emit(
                &self.agencies.court,
                "VW",
                heard - Duration::days(7),
                self.pfa,
                pb::CountingUnit::Defendant,
                ("HO_OFFENCE", self.ho),
                Some(&self.victim),
                self.suspect.as_ref(),
                &self.refs,
                Event::VictimWithdrawal(pb::VictimWithdrawal {
                    stage: pb::WithdrawalStage::Court as i32,
                    case_ended: true,
                }),
            );
            (
                pb::ProsecutionResult::VictimIssues,
                pb::CourtVerdict::Dismissed,
                pb::TrialEffectiveness::Cracked,
            )
        } else if g.chance(0.55) {
            (
                pb::ProsecutionResult::ConvictionGuiltyPlea,
                pb::CourtVerdict::Convicted,
                pb::TrialEffectiveness::Cracked,
            )
        } else if g.chance(0.6) {
            (
                pb::ProsecutionResult::ConvictionAfterTrial,
                pb::CourtVerdict::Convicted,
                pb::TrialEffectiveness::Effective,
            )
        } else {
            (
                pb::ProsecutionResult::Acquittal,
                pb::CourtVerdict::Acquitted,
                if g.chance(0.2) {
                    pb::TrialEffectiveness::Ineffective
                } else {
                    pb::TrialEffectiveness::Effective
                },
            )
        }
    }

    /// The order the court grants on conviction, for two years.
    fn order_on_conviction(&self, g: &mut Gen, heard: DateTime<Utc>) {
        let (order, class) = match self.crime {
            Crime::Stalking => (
                pb::OrderType::StalkingProtectionOrder,
                ("ORDER_TYPE", "SPO"),
            ),
            Crime::Rape | Crime::OtherSexual => (
                pb::OrderType::SexualHarmPreventionOrder,
                ("ORDER_TYPE", "SHPO"),
            ),
            _ => (pb::OrderType::RestrainingOrder, ("HO_OFFENCE", self.ho)),
        };
        let expires = heard.date_naive() + Duration::days(365 * 2);
        g.emit(
            &self.agencies.court,
            "OR",
            heard,
            self.pfa,
            pb::CountingUnit::Order,
            class,
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::ProtectiveOrder(pb::ProtectiveOrder {
                order_type: order as i32,
                decision: pb::OrderDecision::Granted as i32,
                expires_on: Some(date(expires)),
            }),
        );
    }

    /// Police-led protection for domestic abuse: a DVPO applied for, then granted (mostly).
    pub(super) fn domestic_violence_protection(&self, g: &mut Gen) {
        if !(self.crime == Crime::DomesticAbuse && g.chance(0.08)) {
            return;
        }
        let at = self.crime_at + Duration::hours(30);
        g.emit(
            &self.agencies.police,
            "OR",
            at,
            self.pfa,
            pb::CountingUnit::Order,
            ("ORDER_TYPE", "DVPO"),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::ProtectiveOrder(pb::ProtectiveOrder {
                order_type: pb::OrderType::DomesticViolenceProtectionOrder as i32,
                decision: pb::OrderDecision::Applied as i32,
                expires_on: None,
            }),
        );
        let granted = g.chance(0.9);
        g.emit(
            &self.agencies.court,
            "OR",
            at + Duration::hours(20),
            self.pfa,
            pb::CountingUnit::Order,
            ("ORDER_TYPE", "DVPO"),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::ProtectiveOrder(pb::ProtectiveOrder {
                order_type: pb::OrderType::DomesticViolenceProtectionOrder as i32,
                decision: if granted {
                    pb::OrderDecision::Granted
                } else {
                    pb::OrderDecision::Refused
                } as i32,
                expires_on: Some(date(at.date_naive() + Duration::days(28))),
            }),
        );
    }
}
