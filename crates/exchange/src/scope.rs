//! What a `RequestRecords` may concern before the firewall decides, and the flow it decides:
//! the area rule (records of the requester's registered areas only) and the police-personnel
//! label, which the firewall's hard rule then decides on.

use std::collections::BTreeSet;

use vawg_domain::identity::CallerIdentity;
use vawg_policy::{Flow, hard_rules::serves_area};
use vawg_proto::pb;
use vawg_store::exchange::SharedRecord;

use crate::mask;

/// The RPC a record request is decided for.
pub(crate) const RPC_REQUEST_RECORDS: &str = "/vawg.v1.ExchangeService/RequestRecords";

/// The records a request may concern at all, before the firewall decides: only those of the
/// areas the requester is registered for (an agency registered for no area sees none), and,
/// for professional standards, only records labelled `suspect_is_police_personnel` (that
/// purpose is about police personnel as suspects, nothing else).
pub fn in_scope(
    caller: &CallerIdentity,
    purpose: pb::Purpose,
    found: Vec<SharedRecord>,
) -> Vec<SharedRecord> {
    found
        .into_iter()
        .filter(|r| serves_area(caller, &r.area_code))
        .filter(|r| purpose != pb::Purpose::ProfessionalStandards || mask::police_personnel(r))
        .collect()
}

/// The flow of reading `found` for a request of (purpose, lawful basis, kinds asked for).
pub(crate) fn read_flow(
    (purpose, lawful_basis, kinds): (pb::Purpose, pb::LawfulBasis, &BTreeSet<pb::EventKind>),
    found: &[SharedRecord],
) -> Flow {
    let mut flow = Flow::new(pb::Action::ReadRecords, purpose, RPC_REQUEST_RECORDS);
    flow.lawful_basis = lawful_basis;
    let found_kinds: BTreeSet<pb::EventKind> = found
        .iter()
        .filter_map(|r| pb::EventKind::from_str_name(&format!("EVENT_KIND_{}", r.event_kind)))
        .collect();
    flow.event_kinds = if found.is_empty() {
        kinds.iter().copied().collect()
    } else {
        found_kinds.into_iter().collect()
    };
    flow.categories = found
        .iter()
        .map(|r| r.category.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    flow.police_personnel = found.iter().any(mask::police_personnel);
    flow
}
