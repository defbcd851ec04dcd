//! What the fuzz targets share: one function per target that takes the fuzzer's bytes and
//! runs them through the hub's real parsing and validation code, plus fixed fixtures (a
//! caller per synthetic agency, a pseudonymisation keyring, the embedded definition, a JWKS).
//!
//! Every function must return normally for any input: a panic, an overflow or an
//! out-of-memory is a finding. The bins under `fuzz_targets/` are one line each; the corpus
//! under `corpus/` is written by `cargo test --release -- --ignored write_corpus`.

use std::{
    collections::HashMap,
    sync::{Arc, OnceLock},
};

use chrono::{TimeZone, Utc};
use prost::Message;
use vawg_auth::jwt::TokenValidator;
use vawg_policy::{default_scopes, engine::PolicyEngine};
use vawg_proto::pb;
use vawg_domain::{definition::{Definition, DefinitionSet}, disclosure::DisclosureRules, identity::{AgencyKind, CallerIdentity}, pseudonym::{Keyring, PseudonymKey}};
use vawg_ingest::Validator;
use vawg_loader::push::mapping::{CsvRow, JsonRow, Mapping};

/// The police force every fallback caller belongs to.
pub const MET_ID: &str = "police-e23000001";

/// The synthetic agencies (the same set the generator and the benchmarks use).
fn agencies() -> &'static HashMap<String, CallerIdentity> {
    static AGENCIES: OnceLock<HashMap<String, CallerIdentity>> = OnceLock::new();
    AGENCIES.get_or_init(|| {
        vawg_tools::synth::generate(50, 0)
            .agencies
            .into_iter()
            .map(|a| {
                let caller = CallerIdentity {
                    agency_id: a.id.clone(),
                    agency_kind: a.kind,
                    scopes: default_scopes(a.kind),
                    areas: a.areas,
                };
                (a.id, caller)
            })
            .collect()
    })
}

/// The caller a record claims to come from when it is a known agency (so validation goes
/// past the "your own records only" check), else the Met.
pub fn caller_for(agency_id: &str) -> CallerIdentity {
    agencies()
        .get(agency_id)
        .cloned()
        .unwrap_or_else(|| CallerIdentity {
            agency_id: MET_ID.into(),
            agency_kind: AgencyKind::Police,
            scopes: default_scopes(AgencyKind::Police),
            areas: vec!["E23000001".into()],
        })
}

/// A fixed two-key ring (a rotation), so every pseudonymisation path runs.
pub fn keyring() -> &'static Keyring {
    static RING: OnceLock<Keyring> = OnceLock::new();
    RING.get_or_init(|| {
        Keyring::new(vec![
            PseudonymKey::new("fuzz-k2", vec![7; 32]).expect("key"),
            PseudonymKey::new("fuzz-k1", vec![3; 32]).expect("key"),
        ])
        .expect("keyring")
    })
}

/// The embedded (current) common definition.
pub fn definition() -> &'static Arc<Definition> {
    static DEFS: OnceLock<DefinitionSet> = OnceLock::new();
    DEFS.get_or_init(DefinitionSet::embedded).current()
}

/// `SubmitBatchRequest` and `StreamRecordsRequest` (the same wire shape) decoded with prost's
/// recursion limit, every record through the ingest [`Validator`] as its claimed agency.
pub fn ingest_records(data: &[u8]) {
    let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut records = Vec::new();
    if let Ok(batch) = pb::SubmitBatchRequest::decode(data) {
        records.extend(batch.records);
    }
    if let Ok(chunk) = pb::StreamRecordsRequest::decode(data) {
        records.extend(chunk.records);
    }
    if let Ok(record) = pb::VawgRecord::decode(data) {
        records.push(record);
    }
    for r in records {
        let caller = caller_for(&r.source_agency_id);
        let validator = Validator {
            caller: &caller,
            definition: definition(),
            keyring: keyring(),
            now,
        };
        if let Err(violations) = validator.validate(r) {
            assert!(
                !violations.is_empty(),
                "a refusal names at least one problem"
            );
        }
    }
}

/// `QueryMetricRequest` decoded, then checked as the metrics service checks it, for a central
/// analyst and for a police force.
pub fn query_metric(data: &[u8]) {
    let Ok(req) = pb::QueryMetricRequest::decode(data) else {
        return;
    };
    let query = req.query.unwrap_or_default();
    let version = definition().version.clone();
    for caller in [
        CallerIdentity {
            agency_id: "analyst-central".into(),
            agency_kind: AgencyKind::CentralAnalyst,
            scopes: default_scopes(AgencyKind::CentralAnalyst),
            areas: vec![],
        },
        caller_for(MET_ID),
    ] {
        let _ = vawg_metrics::validate_query(&caller, &query, DisclosureRules::default(), &version);
    }
}

/// `RequestRecordsRequest` decoded, then checked (enums, kinds, justification, subject
/// pseudonymised under every key) as the exchange checks it.
pub fn request_records(data: &[u8]) {
    let Ok(req) = pb::RequestRecordsRequest::decode(data) else {
        return;
    };
    if let Ok(checked) = vawg_exchange::check_request(&req, keyring(), MET_ID) {
        assert_eq!(checked.pseudonyms.len(), 2, "one pseudonym per key");
    }
}

/// A definition file (TOML) loaded with every invariant check.
pub fn definition_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(def) = Definition::from_toml_str(text, "fuzz.toml") {
        // A definition that loads must classify without panicking.
        for scheme in def.schemes.iter().take(4) {
            for code in scheme.codes.iter().take(4) {
                let _ = def.classify(&scheme.id, &code.code, None);
                let _ = def.classify(&scheme.id, &code.code.to_lowercase(), Some("police"));
            }
        }
    }
}

/// The embedded Cedar schema.
fn schema() -> (String, String) {
    let (name, text) = vawg_policy::engine::EMBEDDED
        .iter()
        .find(|(n, _)| n.ends_with(".cedarschema"))
        .expect("an embedded schema");
    (name.to_string(), text.to_string())
}

/// A policy file (Cedar) loaded beside the embedded schema, as `PolicyEngine::load_dir` would;
/// when the input starts with `SCHEMA\n`, the rest is a schema instead, loaded with the
/// embedded policies.
pub fn policy_files(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let files = if let Some(schema_text) = text.strip_prefix("SCHEMA\n") {
        let mut files: Vec<(String, String)> = vawg_policy::engine::EMBEDDED
            .iter()
            .filter(|(n, _)| n.ends_with(".cedar"))
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect();
        files.push(("fuzz.cedarschema".into(), schema_text.to_string()));
        files
    } else {
        vec![schema(), ("fuzz.cedar".into(), text.to_string())]
    };
    if let Ok(engine) = PolicyEngine::from_files(&files) {
        let _ = engine.version();
        let _ = engine.policies().len();
    }
}

/// The token validator, over a development JWKS written once to a temporary folder.
fn validator() -> &'static TokenValidator {
    static VALIDATOR: OnceLock<(tempfile::TempDir, TokenValidator)> = OnceLock::new();
    &VALIDATOR
        .get_or_init(|| {
            let dir = tempfile::tempdir().expect("temp dir");
            let pki = vawg_tools::pki::init(dir.path()).expect("dev PKI");
            let v = TokenValidator::new(
                vawg_tools::pki::DEV_ISSUER,
                vawg_tools::pki::DEV_AUDIENCE,
                pki.jwks(),
            )
            .expect("validator");
            (dir, v)
        })
        .1
}

/// A bearer token (the JWT's header is parsed first, then `alg`, `kid`, signature, claims).
pub fn jwt_header(data: &[u8]) {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = jsonwebtoken::decode_header(token);
    let _ = validator().validate(token);
}

/// The example loader mappings (the ones an agency starts from).
fn mappings() -> &'static (Mapping, Mapping) {
    static MAPPINGS: OnceLock<(Mapping, Mapping)> = OnceLock::new();
    MAPPINGS.get_or_init(|| {
        let load = |text: &str| {
            let m: Mapping = toml::from_str(text).expect("example mapping parses");
            m.check().expect("example mapping checks");
            m
        };
        (
            load(include_str!(
                "../../deploy/examples/loader/police-crimes.mapping.toml"
            )),
            load(include_str!(
                "../../deploy/examples/loader/support-service.mapping.toml"
            )),
        )
    })
}

/// Loader rows: the input is a CSV extract (header and rows) for the police mapping and, line
/// by line, NDJSON for the support-service mapping; every row converted as `vawg-hub push`
/// converts it.
pub fn loader_rows(data: &[u8]) {
    let (csv_mapping, json_mapping) = mappings();
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    if let Ok(h) = reader.headers() {
        let header: HashMap<String, usize> = h
            .iter()
            .enumerate()
            .map(|(i, h)| (h.trim().trim_start_matches('\u{feff}').to_string(), i))
            .collect();
        for record in reader.records().take(64).flatten() {
            let _ = csv_mapping.convert(&CsvRow {
                header: &header,
                record: &record,
            });
        }
    }
    for line in data.split(|b| *b == b'\n').take(64) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(line) {
            let _ = json_mapping.convert(&JsonRow(&value));
        }
    }
}

/// Writes the seed corpus (valid inputs for every target) under `corpus/<target>/`.
#[cfg(test)]
mod tests {
    use super::*;

    fn write(target: &str, name: &str, bytes: &[u8]) {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("corpus")
            .join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    }

    #[test]
    #[ignore = "writes the committed corpus; run by hand"]
    fn write_corpus() {
        // Records of every kind from the synthetic generator, a few per batch.
        let data = vawg_tools::synth::generate(6, 1);
        let mut kinds = BTreeSet::new();
        for (i, r) in data.records.iter().enumerate() {
            let kind = format!("{:?}", r.event.as_ref().map(std::mem::discriminant));
            if kinds.insert(kind) {
                let batch = pb::SubmitBatchRequest {
                    records: vec![r.clone()],
                };
                write(
                    "ingest_records",
                    &format!("record-{i}"),
                    &batch.encode_to_vec(),
                );
            }
        }
        let batch = pb::SubmitBatchRequest {
            records: data.records.iter().take(8).cloned().collect(),
        };
        write("ingest_records", "batch-8", &batch.encode_to_vec());

        for (i, m) in vawg_domain::aggregate::CATALOGUE.iter().take(6).enumerate() {
            let q = pb::QueryMetricRequest {
                query: Some(pb::MetricQuery {
                    metric_id: m.id.clone(),
                    victim_scope: pb::VictimScope::WomenAndGirls as i32,
                    counting_rule: pb::CountingRule::PrincipalCrime as i32,
                    period: Some(pb::ReferencePeriod {
                        start: Some(pb::Date {
                            year: 2024,
                            month: 4,
                            day: 1,
                        }),
                        end: Some(pb::Date {
                            year: 2025,
                            month: 3,
                            day: 31,
                        }),
                    }),
                    grain: pb::TimeGrain::Quarter as i32,
                    area_level: pb::AreaLevel::PoliceForceArea as i32,
                    area_codes: vec!["E23000001".into()],
                    breakdowns: vec![pb::Breakdown::AgeBand as i32],
                    ..Default::default()
                }),
            };
            write("query_metric", &format!("query-{i}"), &q.encode_to_vec());
        }

        let req = pb::RequestRecordsRequest {
            subject: Some(pb::PersonIdentifiers {
                given_name: "Testina".into(),
                family_name: "Mockford".into(),
                date_of_birth: Some(pb::Date {
                    year: 1991,
                    month: 7,
                    day: 14,
                }),
                ..Default::default()
            }),
            purpose: pb::Purpose::Safeguarding as i32,
            lawful_basis: pb::LawfulBasis::PublicTask as i32,
            justification: "MARAC case review".into(),
            event_kinds: vec![pb::EventKind::CrimeRecorded as i32],
        };
        write("request_records", "subject-name-dob", &req.encode_to_vec());

        write(
            "definition_file",
            "vawg-v1.toml",
            include_bytes!("../../deploy/definitions/vawg-v1.toml"),
        );
        write(
            "definition_file",
            "vawg-v2.toml",
            include_bytes!("../../deploy/definitions/vawg-v2.toml"),
        );
        for (name, text) in vawg_policy::engine::EMBEDDED {
            if name.ends_with(".cedarschema") {
                write("policy_files", name, format!("SCHEMA\n{text}").as_bytes());
            } else {
                write("policy_files", name, text.as_bytes());
            }
        }

        let dir = tempfile::tempdir().unwrap();
        let pki = vawg_tools::pki::init(dir.path()).unwrap();
        let token = vawg_tools::pki::mint_token(
            &pki.jwt_key(),
            &vawg_tools::pki::TokenSpec::new(MET_ID, default_scopes(AgencyKind::Police)),
        )
        .unwrap();
        write("jwt_header", "dev-token", token.as_bytes());
        write(
            "jwt_header",
            "alg-none",
            b"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ4In0.",
        );

        write(
            "loader_rows",
            "police-crimes.csv",
            include_bytes!("../../deploy/examples/loader/police-crimes.csv"),
        );
        write(
            "loader_rows",
            "support-service.ndjson",
            include_bytes!("../../deploy/examples/loader/support-service.ndjson"),
        );
    }

    /// Every committed seed runs through its target without a panic (the corpus as a
    /// regression suite, without libFuzzer).
    #[test]
    fn corpus_replays() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
        let targets: [(&str, fn(&[u8])); 7] = [
            ("ingest_records", ingest_records),
            ("query_metric", query_metric),
            ("request_records", request_records),
            ("definition_file", definition_file),
            ("policy_files", policy_files),
            ("jwt_header", jwt_header),
            ("loader_rows", loader_rows),
        ];
        for (target, run) in targets {
            for entry in std::fs::read_dir(root.join(target)).unwrap() {
                run(&std::fs::read(entry.unwrap().path()).unwrap());
            }
        }
    }
}
