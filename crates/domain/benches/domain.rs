//! Criterion microbenchmarks of the pure domain logic on every ingest and query path:
//! classification of a local code, pseudonymisation of a person, a firewall policy evaluation
//! (Cedar, the embedded policy set) and statistical disclosure control of a metric table.
//!
//! Run with `cargo bench --bench domain` (see BENCHMARKS.md).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use vawg_domain::{
    definition::DefinitionSet,
    disclosure::{ControlledCube, DisclosureRules},
    identity::{AgencyKind, CallerIdentity},
    pseudonym::{Keyring, PseudonymKey},
};
use vawg_policy::{Flow, engine::PolicyEngine};
use vawg_proto::pb;

fn classification(c: &mut Criterion) {
    let set = DefinitionSet::embedded();
    let def = set.current().clone();
    c.bench_function("classify HO_OFFENCE 8N (police)", |b| {
        b.iter(|| {
            def.classify(black_box("HO_OFFENCE"), black_box("8N"), Some("POLICE"))
                .expect("8N is mapped")
                .category
                .harm_rank
        })
    });
}

fn pseudonymisation(c: &mut Criterion) {
    let keyring = Keyring::new(vec![
        PseudonymKey::new("bench", vec![7u8; 32]).expect("a 32-byte key"),
    ])
    .expect("a keyring");
    let ids = pb::PersonIdentifiers {
        given_name: "Testina".into(),
        family_name: "Mockford-Bac".into(),
        date_of_birth: Some(pb::Date {
            year: 1990,
            month: 5,
            day: 17,
        }),
        nhs_number: "9990001234".into(),
        ..Default::default()
    };
    c.bench_function("pseudonymise a person (name + date of birth)", |b| {
        b.iter(|| keyring.person(black_box(&ids), black_box("police-e23000001")))
    });
}

fn policy_evaluation(c: &mut Criterion) {
    let engine = PolicyEngine::embedded().expect("the embedded policies load");
    let caller = CallerIdentity {
        agency_id: "police-e23000001".into(),
        agency_kind: AgencyKind::Police,
        scopes: ["records:write".to_string()].into(),
        areas: vec!["E23000001".into()],
    };
    let mut flow = Flow::new(
        pb::Action::Submit,
        pb::Purpose::Statistics,
        "/vawg.v1.IngestService/StreamRecords",
    );
    flow.event_kinds = vec![pb::EventKind::CrimeRecorded];
    flow.categories = vec!["domestic_abuse".into()];
    flow.record_agency_ids = vec!["police-e23000001".into()];
    c.bench_function("firewall policy evaluation (Cedar, submit records)", |b| {
        b.iter(|| engine.evaluate(black_box(&caller), black_box(&flow)))
    });
}

fn disclosure_control(c: &mut Criterion) {
    // A typical dashboard table: 5 forces x 12 months x 2 sexes, small counts included.
    let mut cells = Vec::new();
    for force in 0..5u64 {
        for month in 1..=12u64 {
            for sex in ["FEMALE", "MALE"] {
                let value = (force * 37 + month * 11 + sex.len() as u64) % 60;
                cells.push((
                    vec![
                        format!("E2300000{force}"),
                        format!("2025-{month:02}"),
                        sex.to_string(),
                    ],
                    value,
                ));
            }
        }
    }
    let rules = DisclosureRules {
        threshold: 5,
        rounding_base: 5,
    };
    c.bench_function("disclosure control, 120-cell 3-dimension table", |b| {
        b.iter(|| ControlledCube::control(black_box(cells.clone()), rules).dims())
    });
}

criterion_group!(
    domain,
    classification,
    pseudonymisation,
    policy_evaluation,
    disclosure_control
);
criterion_main!(domain);
