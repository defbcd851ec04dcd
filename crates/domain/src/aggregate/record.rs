//! What a record contributes on its own: the metrics of single events (referrals, charges,
//! prosecutions, orders, withdrawals, support, disclosures, homicides, funding).

use super::{Computation, Contributions, FactRecord, FactValue, is_conviction, key, put};
use crate::pb::{self, vawg_record::Event};

/// The metrics computed here, and how.
pub(super) const METRICS: [(&str, Computation); 16] = [
    ("cps_referrals", Computation::Count),
    ("charges", Computation::Count),
    ("prosecutions", Computation::Count),
    ("convictions", Computation::Count),
    ("conviction_rate", Computation::Proportion),
    ("protective_orders", Computation::Count),
    ("victim_withdrawals", Computation::Count),
    ("marac_referrals", Computation::Count),
    ("support_referrals", Computation::Count),
    ("people_supported", Computation::Count),
    ("unable_to_support", Computation::Count),
    ("health_disclosures", Computation::Count),
    ("encompass_notifications", Computation::Count),
    ("domestic_homicides", Computation::Count),
    ("victim_satisfaction", Computation::Proportion),
    ("support_funding", Computation::Amount),
];

/// Adds what record `r` contributes on its own, in the month of its event.
pub(super) fn contributions(r: &FactRecord, out: &mut Contributions) {
    facts(&r.event, |series, subtype, value| {
        put(out, key(series, r, r.event_date, subtype, 0), value)
    });
}

/// The facts of one event, as `emit(series, sub-type, value)`: one arm per event kind, so a new
/// metric of single records is usually one more line here.
fn facts(event: &Event, mut emit: impl FnMut(&'static str, &'static str, FactValue)) {
    let one = FactValue::count(1);
    match event {
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
        Event::SupportProvided(s) => emit("people_supported", s.service_type().as_str_name(), one),
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
        Event::CrimeRecorded(_)
        | Event::PoliceOutcome(_)
        | Event::CourtOutcome(_)
        | Event::HealthReferral(_) => {}
    }
}
