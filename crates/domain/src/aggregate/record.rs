//! What a record contributes on its own: the metrics of single events (referrals, charges,
//! prosecutions, orders, withdrawals, support, disclosures, homicides, funding).

use super::{
    Computation, Contributions, FactRecord, FactValue, domestic_context, is_conviction, key, put,
};
use crate::pb::{self, vawg_record::Event};

/// The metrics computed here, and how. (A crime or a support record without a victim pseudonym
/// is also counted here, as its own victim: `recorded_crimes` and `people_supported` are
/// declared by the victim entity's module.)
pub(super) const METRICS: [(&str, Computation); 16] = [
    ("domestic_context_findings", Computation::Count),
    ("cps_referrals", Computation::Count),
    ("charges", Computation::Count),
    ("prosecutions", Computation::Count),
    ("convictions", Computation::Count),
    ("conviction_rate", Computation::Proportion),
    ("protective_orders", Computation::Count),
    ("victim_withdrawals", Computation::Count),
    ("marac_referrals", Computation::Count),
    ("support_referrals", Computation::Count),
    ("unable_to_support", Computation::Count),
    ("health_disclosures", Computation::Count),
    ("encompass_notifications", Computation::Count),
    ("domestic_homicides", Computation::Count),
    ("victim_satisfaction", Computation::Proportion),
    ("support_funding", Computation::Amount),
];

/// Adds what record `r` contributes on its own, in the month of its event. A record whose
/// category is empty (out of scope of the definition, or a context not yet resolved) counts in
/// no VAWG figure.
pub(super) fn contributions(r: &FactRecord, out: &mut Contributions) {
    if r.category.is_empty() {
        return;
    }
    if r.victim.is_none() {
        // Its own victim, its own incident: one offence, one person, under every rule.
        match &r.event {
            Event::CrimeRecorded(c) => {
                let k = key("recorded_crimes", r, r.event_date, domestic_context([c]), 0);
                super::put_offence(out, k, r, FactValue::count(1));
            }
            Event::SupportProvided(s) => put(
                out,
                key(
                    "people_supported",
                    r,
                    r.event_date,
                    s.service_type().as_str_name(),
                    0,
                ),
                FactValue::count(1),
            ),
            _ => {}
        }
    }
    facts(&r.event, |series, subtype, value| {
        put(out, key(series, r, r.event_date, subtype, 0), value)
    });
}

/// The facts of one event, as `emit(series, sub-type, value)`: one arm per event kind, so a new
/// metric of single records is usually one more line here.
fn facts(event: &Event, mut emit: impl FnMut(&'static str, &'static str, FactValue)) {
    let one = FactValue::count(1);
    match event {
        Event::CrimeRecorded(c) => {
            if let Some(finding) = domestic_context_finding(c) {
                emit("domestic_context_findings", finding, one)
            }
        }
        Event::CpsReferral(_) => emit("cps_referrals", "", one),
        Event::ChargingDecision(c) => {
            if c.decision() == pb::ChargeDecision::Charge {
                emit("charges", c.decision_maker().as_str_name(), one);
            }
        }
        Event::ProsecutionOutcome(p) => {
            let result = p.result();
            emit("prosecutions", result.as_str_name(), one);
            emit("conviction_rate:den", "", one);
            if is_conviction(result) {
                emit("convictions", result.as_str_name(), one);
                emit("conviction_rate:num", "", one);
            }
        }
        Event::ProtectiveOrder(o) => {
            if o.decision() == pb::OrderDecision::Granted {
                emit("protective_orders", o.order_type().as_str_name(), one);
            }
        }
        Event::VictimWithdrawal(w) => emit("victim_withdrawals", w.stage().as_str_name(), one),
        Event::MaracReferral(m) => emit("marac_referrals", m.referring_agency().as_str_name(), one),
        Event::SupportReferral(s) => emit("support_referrals", s.service_type().as_str_name(), one),
        Event::UnableToSupport(u) => emit("unable_to_support", u.reason().as_str_name(), one),
        Event::HealthDisclosure(h) => emit("health_disclosures", h.setting().as_str_name(), one),
        Event::EncompassNotification(_) => emit("encompass_notifications", "", one),
        Event::DomesticHomicide(h) => {
            emit("domestic_homicides", h.homicide_type().as_str_name(), one)
        }
        Event::VictimSatisfaction(s) => {
            let stage = s.stage().as_str_name();
            emit("victim_satisfaction:den", stage, one);
            if matches!(
                s.level(),
                pb::SatisfactionLevel::Satisfied | pb::SatisfactionLevel::VerySatisfied
            ) {
                emit("victim_satisfaction:num", stage, one);
            }
        }
        Event::FundingReturn(f) => emit(
            "support_funding",
            f.service_type().as_str_name(),
            FactValue {
                amount: f.amount_pence as i64,
                ..one
            },
        ),
        // Counted through the entities they belong to (relationships, cases), or not at all.
        Event::SupportProvided(_)
        | Event::PoliceOutcome(_)
        | Event::CourtOutcome(_)
        | Event::HealthReferral(_) => {}
    }
}

/// Where a crime's domestic-abuse flag and relationship disagree (`docs/counting.md` §2.9): the
/// flag wins in classification, and the disagreement is a data-quality finding.
fn domestic_context_finding(c: &pb::CrimeRecorded) -> Option<&'static str> {
    use pb::Relationship as R;
    match (c.domestic_abuse_flag, c.relationship()) {
        (true, R::Acquaintance | R::Stranger) => Some("FLAG_WITH_NON_DOMESTIC_RELATIONSHIP"),
        (false, R::Partner | R::ExPartner | R::FamilyMember) => {
            Some("DOMESTIC_RELATIONSHIP_WITHOUT_FLAG")
        }
        _ => None,
    }
}
