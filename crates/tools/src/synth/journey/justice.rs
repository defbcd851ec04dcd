//! The criminal justice part of a journey: the police investigation, the CPS charging
//! decision, the court, protective orders, and the victim withdrawing at any stage.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use vawg_proto::pb::{self, vawg_record::Event};

use super::{
    Journey,
    outcomes::{self, Closure},
};
use crate::synth::{
    catalogue::{Class, Crime},
    generator::{Gen, date},
};

/// How a prosecution ended: the CPS's result, the court's verdict, and the trial.
type Prosecuted = (
    pb::ProsecutionResult,
    pb::CourtVerdict,
    pb::TrialEffectiveness,
);

impl Journey {
    /// The police investigation of the lead crime: no suspect, the victim withdrawing,
    /// evidential difficulties, an outcome without the CPS, or a referral to the CPS (always,
    /// for a homicide whose suspect is alive). Returns how the lead crime was closed, if it was.
    pub(super) fn investigation(&mut self, g: &mut Gen) -> Option<Closure> {
        let investigated = self.crime_at + g.delay(30.0);
        if self.crime == Crime::Homicide {
            // Some domestic homicides end in the suspect's suicide: outcome 5, offender died.
            return if self.domestic && g.chance(0.15) {
                Some(self.police_outcome(g, investigated, 5))
            } else {
                self.cps_referral(g, investigated)
            };
        }
        if self.suspects.is_empty() {
            // Investigation complete, no suspect identified (18); or the victim does not
            // support action before one is (14).
            let outcome = if g.chance(0.15) { 14 } else { 18 };
            return Some(self.police_outcome(g, investigated, outcome));
        }
        let roll: f64 = g.rng.r#gen();
        if roll < 0.25 {
            g.emit(
                &self.agencies.police,
                "VW",
                investigated,
                self.pfa,
                pb::CountingUnit::Crime,
                self.class,
                Some(&self.victim),
                self.suspect(),
                &self.refs,
                Event::VictimWithdrawal(pb::VictimWithdrawal {
                    stage: pb::WithdrawalStage::Police as i32,
                    case_ended: true,
                }),
            );
            Some(self.police_outcome(g, investigated + Duration::days(2), 16))
        } else if roll < 0.45 {
            Some(self.police_outcome(g, investigated, 15))
        } else if roll < 0.5 {
            let outcome = outcomes::police_only(g);
            Some(self.police_outcome(g, investigated, outcome))
        } else {
            self.cps_referral(g, investigated)
        }
    }

    /// The CPS classification: its monitoring flag, or the offence as the police record it
    /// (Home Office code or legislation, both open to the CPS).
    fn cps_class(&self) -> Class {
        self.crime
            .cps_flag(self.domestic)
            .map(|f| ("CPS_FLAG", f))
            .unwrap_or(self.class)
    }

    /// Referral to the CPS for a charging decision, the decision (after a victim withdrawal,
    /// sometimes), and on a charge the prosecution. Returns how the police closed the crime:
    /// charged (1); not charged — the victim withdrew (16), evidential difficulties (15) or not
    /// in the public interest (9); or nothing yet, when the file was administratively finalised.
    fn cps_referral(&mut self, g: &mut Gen, referred: DateTime<Utc>) -> Option<Closure> {
        self.refs.cps_urn = format!("URN{}{:07}", &self.force.gss[..3], self.j + 1);
        g.emit(
            &self.agencies.police,
            "RF",
            referred,
            self.pfa,
            pb::CountingUnit::Defendant,
            self.class,
            Some(&self.victim),
            self.suspect(),
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
                self.suspect(),
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
            self.suspect(),
            &self.refs,
            Event::ChargingDecision(pb::ChargingDecision {
                decision_maker: pb::DecisionMaker::Cps as i32,
                decision: decision as i32,
            }),
        );
        match decision {
            pb::ChargeDecision::Charge => Some(self.prosecution(g, decided)),
            pb::ChargeDecision::NoFurtherAction => {
                let outcome = if cps_withdrawal {
                    16
                } else if g.chance(0.75) {
                    15
                } else {
                    9
                };
                Some(self.police_outcome(g, decided + Duration::days(1), outcome))
            }
            _ => None,
        }
    }

    /// The charge, the court hearing and its outcome, the CPS's result, and on a conviction
    /// (often) a protective order. Returns the police outcome: charged.
    fn prosecution(&mut self, g: &mut Gen, decided: DateTime<Utc>) -> Closure {
        let charged = self.police_outcome(g, decided + Duration::days(1), 1);
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
            self.class,
            Some(&self.victim),
            self.suspect(),
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
            self.suspect(),
            &self.refs,
            Event::ProsecutionOutcome(pb::ProsecutionOutcome {
                result: result as i32,
            }),
        );
        if verdict == pb::CourtVerdict::Convicted && g.chance(0.7) {
            self.order_on_conviction(g, heard);
        }
        charged
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
                self.class,
                Some(&self.victim),
                self.suspect(),
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
            _ => (pb::OrderType::RestrainingOrder, self.class),
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
            self.suspect(),
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
        let domestic_violence = matches!(
            self.crime,
            Crime::Assault | Crime::Strangulation | Crime::Coercive
        );
        if !(self.domestic && domestic_violence && g.chance(0.08)) {
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
            self.suspect(),
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
            self.suspect(),
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
