//! The per-record checks of a chunk before it reaches the store: validation, the firewall's
//! per-record refusals, and the rules across records (a charge follows its referral).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use vawg_domain::identity::CallerIdentity;
use vawg_proto::pb::{self, EventKind};

use super::{IngestApi, gate::Gate};
use crate::{
    error::IngestError,
    validate::{ValidRecord, Violation},
};

/// The outcome of one record of a chunk before it reaches the store.
pub(super) enum Checked {
    /// Valid, and not refused: to be stored.
    Valid(Box<ValidRecord>),
    /// Rejected, with every violation found.
    Rejected(Vec<Violation>),
}

impl IngestApi {
    /// Validates each record and applies the firewall's per-record refusals: a refusal, naming
    /// its rule, replaces validation's own words about the same field.
    pub(super) fn check_records(
        &self,
        caller: &CallerIdentity,
        records: Vec<pb::VawgRecord>,
        gate: &Gate,
    ) -> Vec<Checked> {
        let refusals: Vec<Vec<Violation>> = records
            .iter()
            .map(|r| gate.rule_violations(caller, r))
            .collect();
        self.prepare(caller, records)
            .into_iter()
            .zip(refusals)
            .map(|(r, mut rules)| match r {
                Ok(v) if rules.is_empty() => Checked::Valid(Box::new(v)),
                Ok(_) => Checked::Rejected(rules),
                Err(mut v) => {
                    if !rules.is_empty() {
                        v.retain(|v| !rules.iter().any(|r| r.field == v.field));
                        rules.extend(v);
                        v = rules;
                    }
                    Checked::Rejected(v)
                }
            })
            .collect()
    }

    /// A charging decision cannot precede the CPS referral of the same case: the referral is
    /// looked up by the case's police crime reference pseudonym (under every key in the ring,
    /// so a rotation does not hide earlier referrals), among stored records and earlier records
    /// of the same chunk.
    pub(super) async fn check_charges_follow_referrals(
        &self,
        checked: &mut [Checked],
    ) -> Result<(), IngestError> {
        let charge_refs: Vec<String> = checked
            .iter()
            .filter_map(|c| match c {
                Checked::Valid(v) if v.event_kind == EventKind::ChargingDecision => {
                    Some(v.police_ref_lookup.iter().cloned())
                }
                _ => None,
            })
            .flatten()
            .collect();
        if charge_refs.is_empty() {
            return Ok(());
        }
        let mut earliest: HashMap<String, DateTime<Utc>> =
            self.store.earliest_referrals(&charge_refs).await?;
        for c in checked.iter() {
            if let Checked::Valid(v) = c
                && v.event_kind == EventKind::CpsReferral
                && let Some(r) = &v.row.police_ref_pseudonym
            {
                let t = earliest.entry(r.clone()).or_insert(v.row.event_time);
                *t = (*t).min(v.row.event_time);
            }
        }
        for c in checked.iter_mut() {
            let Checked::Valid(v) = c else { continue };
            if v.event_kind != EventKind::ChargingDecision {
                continue;
            }
            let referred = v
                .police_ref_lookup
                .iter()
                .filter_map(|r| earliest.get(r))
                .min();
            if let Some(referred) = referred
                && v.row.event_time < *referred
            {
                *c = Checked::Rejected(vec![Violation::new(
                    "event_time",
                    format!(
                        "a charging decision cannot precede the CPS referral of the same case \
                             (referred {})",
                        referred.date_naive()
                    ),
                )]);
            }
        }
        Ok(())
    }
}
