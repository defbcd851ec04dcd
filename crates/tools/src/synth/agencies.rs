//! The agencies behind the journeys, the local authorities' funding returns, and the order
//! records are submitted in.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb::{self, vawg_record::Event};

use super::{SynthAgency, catalogue::FORCES, generator::Gen};

/// Quarterly funding returns from each modelled local authority's commissioning team.
pub(super) fn funding_returns(g: &mut Gen, start: DateTime<Utc>) {
    for force in FORCES.iter() {
        let Some(la) = force.la else { continue };
        for q in 0..4 {
            let at = start + Duration::days(91 * (q + 1));
            let amount = g.rng.gen_range(8_000_000u64..25_000_000);
            g.emit(
                &format!("la-{}", la.to_ascii_lowercase()),
                "FR",
                at,
                (la, pb::AreaLevel::LocalAuthority),
                pb::CountingUnit::Money,
                ("VAWG_CATEGORY", "domestic_abuse"),
                None,
                None,
                &pb::CaseReferences::default(),
                Event::FundingReturn(pb::FundingReturn {
                    funded_agency_id: format!("support-idva-{}", force.slug),
                    service_type: pb::SupportServiceType::Idva as i32,
                    amount_pence: amount,
                }),
            );
        }
    }
}

/// The agencies that submitted any of `records`: police first, then the justice system, then
/// everyone else.
pub(super) fn submitting(records: &[pb::VawgRecord]) -> Vec<SynthAgency> {
    let mut agencies: Vec<SynthAgency> = Vec::new();
    for force in FORCES.iter() {
        let areas = |la: bool| {
            let mut a = vec![force.gss.to_string()];
            if la {
                a.extend(force.la.map(String::from));
            }
            a
        };
        let agency = |id: String, kind: AgencyKind, la: bool| SynthAgency {
            id,
            kind,
            areas: areas(la),
        };
        // A force serves its force area and the local authorities within it (it refers
        // victims to the MARAC of a local authority), so it is registered for both levels.
        agencies.push(agency(
            format!("police-{}", force.gss.to_ascii_lowercase()),
            AgencyKind::Police,
            true,
        ));
        agencies.push(agency(
            format!("cps-{}", force.slug),
            AgencyKind::Cps,
            false,
        ));
        agencies.push(agency(
            format!("hmcts-{}", force.slug),
            AgencyKind::Court,
            false,
        ));
        agencies.push(agency(
            format!("nhs-{}", force.slug),
            AgencyKind::Health,
            true,
        ));
        agencies.push(agency(
            format!("support-idva-{}", force.slug),
            AgencyKind::SupportService,
            true,
        ));
        agencies.push(agency(
            format!("support-isva-{}", force.slug),
            AgencyKind::SupportService,
            true,
        ));
        if let Some(la) = force.la {
            agencies.push(SynthAgency {
                id: format!("la-{}", la.to_ascii_lowercase()),
                kind: AgencyKind::LocalAuthority,
                areas: vec![la.to_string()],
            });
        }
    }
    let rank = |kind: AgencyKind| match kind {
        AgencyKind::Police => 0,
        AgencyKind::Cps => 1,
        AgencyKind::Court => 2,
        _ => 3,
    };
    agencies.sort_by(|a, b| (rank(a.kind), &a.id).cmp(&(rank(b.kind), &b.id)));
    agencies.retain(|a| records.iter().any(|r| r.source_agency_id == a.id));
    agencies
}

/// Groups `records` by agency in the order of `agencies`, and within an agency by event time
/// (then id).
pub(super) fn submission_order(agencies: &[SynthAgency], records: &mut [pb::VawgRecord]) {
    let order: BTreeMap<&str, usize> = agencies
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    records.sort_by_key(|r| {
        (
            order[r.source_agency_id.as_str()],
            r.event_time.map(|t| t.seconds).unwrap_or_default(),
            r.source_record_id.clone(),
        )
    });
}
