//! Conversion of CSV-like and JSON rows, and the errors named by column.

use vawg_proto::pb::{self, vawg_record::Event};

use super::*;

struct MapRow(HashMap<&'static str, &'static str>);

impl Row for MapRow {
    fn get(&self, column: &str) -> Option<String> {
        self.0
            .get(column)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string())
    }
}

fn mapping() -> Mapping {
    toml::from_str(
        r#"
        [source]
        reference_period = "recorded_month"
        [fields]
        source_agency_id = { value = "police-e23000001" }
        source_record_id = { column = "REF" }
        event = { value = "crime_recorded" }
        counting_unit = { value = "CRIME" }
        event_time = { column = "WHEN", format = "%d/%m/%Y" }
        recorded_time = { column = "REC", format = "%d/%m/%Y %H:%M" }
        "area.gss_code" = { value = "E23000001" }
        "area.level" = { value = "POLICE_FORCE_AREA" }
        "classification.scheme" = { value = "HO_OFFENCE" }
        "classification.code" = { column = "CODE" }
        "victim.given_name" = { column = "NAME" }
        "victim.sex" = { column = "SEX", codes = { F = "FEMALE", M = "MALE" } }
        "event.relationship" = { column = "REL", default = "NOT_KNOWN", codes = { EX = "EX_PARTNER" } }
        "event.domestic_abuse_flag" = { column = "DA", codes = { Y = "true", N = "false" } }
        "#,
    )
    .unwrap()
}

fn row(pairs: &[(&'static str, &'static str)]) -> MapRow {
    let mut m: HashMap<_, _> = [
        ("REF", "NS/1"),
        ("WHEN", "03/02/2025"),
        ("REC", "28/02/2025 09:15"),
        ("CODE", "8Q"),
        ("NAME", "Testina"),
        ("SEX", "F"),
        ("REL", "EX"),
        ("DA", "Y"),
    ]
    .into_iter()
    .collect();
    m.extend(pairs.iter().copied());
    MapRow(m)
}

#[test]
fn converts_a_row_with_local_codes_and_formats() {
    let m = mapping();
    m.check().unwrap();
    let r = m.convert(&row(&[])).unwrap();
    assert_eq!(r.source_record_id, "NS/1");
    assert_eq!(r.revision, 1);
    assert_eq!(
        r.victim.unwrap().demographics.unwrap().sex(),
        pb::Sex::Female
    );
    let period = r.reference_period.unwrap();
    assert_eq!(
        (period.start.unwrap().day, period.end.unwrap().day),
        (1, 28)
    );
    let Some(Event::CrimeRecorded(c)) = r.event else {
        panic!("a crime")
    };
    assert!(c.domestic_abuse_flag);
    assert_eq!(c.relationship(), pb::Relationship::ExPartner);
    // Empty cell: the default (a contract value) applies.
    let r = m.convert(&row(&[("REL", "")])).unwrap();
    let Some(Event::CrimeRecorded(c)) = r.event else {
        panic!("a crime")
    };
    assert_eq!(c.relationship(), pb::Relationship::NotKnown);
}

#[test]
fn names_every_bad_column_and_why() {
    let m = mapping();
    let errors = m
        .convert(&row(&[("SEX", "Q"), ("REC", "yesterday"), ("REF", "")]))
        .unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|e| e.starts_with("column SEX: code 'Q'")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e.starts_with("column REC: 'yesterday' does not match")),
        "{text:?}"
    );
    assert!(
        text.iter()
            .any(|e| e == "column REF: empty, but source_record_id is required"),
        "{text:?}"
    );
}

#[test]
fn refuses_unknown_fields_and_missing_essentials() {
    let mut m = mapping();
    m.fields.insert(
        "victim.shoe_size".into(),
        FieldSpec {
            column: Some("X".into()),
            value: None,
            codes: None,
            format: None,
            default: None,
            optional: false,
        },
    );
    assert!(
        m.check()
            .unwrap_err()
            .to_string()
            .contains("victim.shoe_size")
    );
    let mut m = mapping();
    m.fields.remove("classification.code");
    assert!(
        m.check()
            .unwrap_err()
            .to_string()
            .contains("classification.code")
    );
}

#[test]
fn json_rows_read_nested_keys() {
    let v = serde_json::json!({"client": {"age": 33, "name": " Testina "}, "x": null});
    let r = JsonRow(&v);
    assert_eq!(r.get("client.age").as_deref(), Some("33"));
    assert_eq!(r.get("client.name").as_deref(), Some("Testina"));
    assert_eq!(r.get("x"), None);
    assert_eq!(r.get("client.missing"), None);
}
