use super::*;

/// A small valid file; tests derive invalid variants by editing one line so each asserts the
/// exact line of its error.
const SMALL: &str = r#"version = "test-v1"
title = "Test definition"
effective_from = "2025-04-01"
description = "For tests."

[[categories]]
id = "rape"
name = "Rape"
harm_rank = 1
course_of_conduct = false
description = "Rape."

[[categories]]
id = "stalking"
name = "Stalking"
harm_rank = 2
course_of_conduct = true
description = "Stalking."

[[schemes]]
id = "HO_OFFENCE"
name = "Home Office offence classification"
agency_kinds = ["POLICE", "CPS"]
source = "Home Office Counting Rules"

[[schemes.codes]]
code = "19C"
description = "Rape of a female aged 16 and over"
category = "rape"

[[schemes.codes]]
code = "8Q"
description = "Stalking"
category = "stalking"
"#;

fn parse(text: &str) -> Result<Definition, DefinitionError> {
    Definition::from_toml_str(text, "test.toml")
}

/// Replaces the whole of line `line` (1-based) of `SMALL`.
fn with_line(line: usize, replacement: &str) -> String {
    SMALL
        .lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { replacement } else { l })
        .collect::<Vec<_>>()
        .join("\n")
}

fn expect_err(text: &str) -> DefinitionError {
    match parse(text) {
        Ok(_) => panic!("expected an error"),
        Err(e) => e,
    }
}

#[test]
fn small_file_is_valid() {
    let d = parse(SMALL).unwrap();
    assert_eq!(d.version, "test-v1");
    assert_eq!(
        d.effective_from,
        NaiveDate::from_ymd_opt(2025, 4, 1).unwrap()
    );
    assert_eq!(d.categories.len(), 2);
    assert_eq!(d.schemes[0].codes.len(), 2);
    assert_eq!(d.schemes[0].agency_kinds, vec!["POLICE", "CPS"]);
}

#[test]
fn embedded_definition_is_valid() {
    let d = Definition::from_toml_str(VAWG_V1_TOML, VAWG_V1_FILE).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(d.version, "vawg-v1");
    for required in [
        "domestic_homicide",
        "rape",
        "other_sexual_offences",
        "domestic_abuse",
        "stalking",
        "harassment",
        "controlling_or_coercive_behaviour",
        "honour_based_abuse",
        "fgm",
        "forced_marriage",
        "intimate_image_abuse",
    ] {
        assert!(
            d.category(required).is_some(),
            "missing category {required}"
        );
    }
    for scheme in [
        "HO_OFFENCE",
        "CPS_FLAG",
        "ICD10",
        "ORDER_TYPE",
        "VAWG_CATEGORY",
    ] {
        assert!(d.scheme(scheme).is_some(), "missing scheme {scheme}");
    }
}

#[test]
fn embedded_classifies_19c_as_rape() {
    let set = DefinitionSet::embedded();
    let c = set
        .current()
        .classify("HO_OFFENCE", "19C", Some("POLICE"))
        .unwrap();
    assert_eq!(c.category.id, "rape");
    assert_eq!(c.scheme.id, "HO_OFFENCE");
    assert_eq!(c.mapping.code, "19C");
}

#[test]
fn embedded_course_of_conduct_categories() {
    let set = DefinitionSet::embedded();
    let d = set.current();
    let mut coc: Vec<&str> = d
        .categories
        .iter()
        .filter(|c| c.course_of_conduct)
        .map(|c| c.id.as_str())
        .collect();
    coc.sort_unstable();
    assert_eq!(
        coc,
        [
            "controlling_or_coercive_behaviour",
            "harassment",
            "stalking"
        ]
    );
}

#[test]
fn embedded_vawg_category_scheme_covers_every_category_by_its_own_id() {
    let set = DefinitionSet::embedded();
    let d = set.current();
    let scheme = d.scheme("VAWG_CATEGORY").unwrap();
    assert_eq!(scheme.codes.len(), d.categories.len());
    for c in &d.categories {
        let hit = d
            .classify("VAWG_CATEGORY", &c.id, Some("SUPPORT_SERVICE"))
            .unwrap();
        assert_eq!(hit.category.id, c.id);
    }
}

#[test]
fn embedded_every_order_type_and_icd10_code_classifies() {
    let set = DefinitionSet::embedded();
    let d = set.current();
    assert_eq!(
        d.classify("ORDER_TYPE", "SPO", Some("COURT"))
            .unwrap()
            .category
            .id,
        "stalking"
    );
    assert_eq!(
        d.classify("ORDER_TYPE", "FGMPO", Some("COURT"))
            .unwrap()
            .category
            .id,
        "fgm"
    );
    assert_eq!(
        d.classify("ICD10", "Y07.0", Some("HEALTH"))
            .unwrap()
            .category
            .id,
        "domestic_abuse"
    );
}

#[test]
fn classify_matches_trimmed_and_case_insensitive() {
    let d = parse(SMALL).unwrap();
    assert_eq!(
        d.classify("HO_OFFENCE", "  19c ", None)
            .unwrap()
            .category
            .id,
        "rape"
    );
    assert_eq!(
        d.classify("ho_offence", "8q", None).unwrap().category.id,
        "stalking"
    );
    assert_eq!(
        d.classify("HO_OFFENCE", "8Q", Some("AGENCY_KIND_POLICE"))
            .unwrap()
            .category
            .id,
        "stalking"
    );
}

#[test]
fn classify_unknown_scheme() {
    let d = parse(SMALL).unwrap();
    let e = d.classify("NOPE", "19C", None).unwrap_err();
    assert_eq!(
        e,
        ClassifyError::UnknownScheme {
            scheme: "NOPE".into(),
            version: "test-v1".into()
        }
    );
    assert!(e.to_string().contains("NOPE"));
}

#[test]
fn classify_unknown_code_is_rejected_not_guessed() {
    let d = parse(SMALL).unwrap();
    let e = d.classify("HO_OFFENCE", "19", None).unwrap_err();
    assert_eq!(
        e,
        ClassifyError::UnknownCode {
            scheme: "HO_OFFENCE".into(),
            code: "19".into(),
            version: "test-v1".into()
        }
    );
    assert!(e.to_string().contains("never guessed"));
}

#[test]
fn classify_scheme_not_for_agency_kind() {
    let d = parse(SMALL).unwrap();
    let e = d.classify("HO_OFFENCE", "19C", Some("SCHOOL")).unwrap_err();
    assert_eq!(
        e,
        ClassifyError::SchemeNotForAgencyKind {
            scheme: "HO_OFFENCE".into(),
            agency_kind: "SCHOOL".into()
        }
    );
}

#[test]
fn error_display_format() {
    let e = expect_err(&with_line(9, "harm_rank = -1"));
    assert_eq!(
        e.to_string(),
        format!(
            "test.toml:{}:{}: {}: {}",
            e.line, e.column, e.field, e.message
        )
    );
    assert!(
        e.to_string()
            .starts_with("test.toml:9:13: categories[0].harm_rank: ")
    );
}

#[test]
fn error_toml_syntax() {
    let e = expect_err(&with_line(8, "name = \"Rape"));
    assert_eq!(e.line, 8);
    assert_eq!(e.file, "test.toml");
}

#[test]
fn error_missing_required_field() {
    // Blanking line 8 (`name = "Rape"`) leaves the first category without a name; the error
    // points at the table's header.
    let e = expect_err(&with_line(8, ""));
    assert_eq!((e.line, e.column), (6, 1));
    assert_eq!(e.field, "categories[0].name");
    assert!(e.message.contains("missing"));
}

#[test]
fn error_missing_top_level_field() {
    let e = expect_err(&with_line(2, ""));
    assert_eq!((e.line, e.field.as_str()), (1, "title"));
}

#[test]
fn error_empty_id() {
    let e = expect_err(&with_line(14, "id = \"  \""));
    assert_eq!((e.line, e.field.as_str()), (14, "categories[1].id"));
    assert!(e.message.contains("empty"));
    let e = expect_err(&with_line(21, "id = \"\""));
    assert_eq!((e.line, e.field.as_str()), (21, "schemes[0].id"));
}

#[test]
fn error_bad_id_format() {
    let e = expect_err(&with_line(14, "id = \"Stalking\""));
    assert_eq!((e.line, e.field.as_str()), (14, "categories[1].id"));
    let e = expect_err(&with_line(21, "id = \"ho-offence\""));
    assert_eq!((e.line, e.field.as_str()), (21, "schemes[0].id"));
}

#[test]
fn error_duplicate_category_id() {
    let e = expect_err(&with_line(14, "id = \"rape\""));
    assert_eq!((e.line, e.column), (14, 6));
    assert_eq!(e.field, "categories[1].id");
    assert!(e.message.contains("line 7"), "{}", e.message);
}

#[test]
fn error_duplicate_harm_rank() {
    let e = expect_err(&with_line(16, "harm_rank = 1"));
    assert_eq!((e.line, e.field.as_str()), (16, "categories[1].harm_rank"));
    assert!(e.message.contains("`rape`"), "{}", e.message);
}

#[test]
fn error_bad_harm_rank() {
    let e = expect_err(&with_line(16, "harm_rank = 0"));
    assert_eq!((e.line, e.field.as_str()), (16, "categories[1].harm_rank"));
    let e = expect_err(&with_line(16, "harm_rank = \"two\""));
    assert_eq!(e.line, 16);
    assert!(e.message.contains("whole number"));
}

#[test]
fn error_wrong_type() {
    let e = expect_err(&with_line(17, "course_of_conduct = \"yes\""));
    assert_eq!(
        (e.line, e.field.as_str()),
        (17, "categories[1].course_of_conduct")
    );
}

#[test]
fn error_duplicate_scheme_id() {
    let text = format!(
        "{SMALL}\n[[schemes]]\nid = \"HO_OFFENCE\"\nname = \"Again\"\nagency_kinds = [\"POLICE\"]\nsource = \"x\"\n"
    );
    let e = expect_err(&text);
    assert_eq!((e.line, e.field.as_str()), (37, "schemes[1].id"));
    assert!(e.message.contains("line 21"), "{}", e.message);
}

#[test]
fn error_duplicate_code_after_normalisation() {
    let e = expect_err(&with_line(32, "code = \" 19c\""));
    assert_eq!((e.line, e.field.as_str()), (32, "schemes[0].codes[1].code"));
    assert!(e.message.contains("duplicate"));
}

#[test]
fn error_code_maps_to_unknown_category() {
    let e = expect_err(&with_line(34, "category = \"stalkin\""));
    assert_eq!((e.line, e.column), (34, 12));
    assert_eq!(e.field, "schemes[0].codes[1].category");
    assert!(e.message.contains("unknown category `stalkin`"));
}

#[test]
fn error_unknown_agency_kind() {
    let e = expect_err(&with_line(
        23,
        "agency_kinds = [\"POLICE\", \"IMMIGRATION\"]",
    ));
    assert_eq!(
        (e.line, e.field.as_str()),
        (23, "schemes[0].agency_kinds[1]")
    );
    assert!(e.message.contains("IMMIGRATION"));
}

#[test]
fn error_bad_date() {
    let e = expect_err(&with_line(3, "effective_from = \"2025-02-30\""));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (3, 18, "effective_from")
    );
    let e = expect_err(&with_line(3, "effective_from = 2025-04-01T10:00:00"));
    assert_eq!(e.line, 3);
    // A native TOML date is accepted as well as a string.
    let d = parse(&with_line(3, "effective_from = 2025-04-01")).unwrap();
    assert_eq!(
        d.effective_from,
        NaiveDate::from_ymd_opt(2025, 4, 1).unwrap()
    );
}

#[test]
fn error_unknown_field_names_its_path() {
    let e = expect_err(&with_line(33, "descripton = \"Stalking\""));
    assert_eq!(e.line, 33);
    assert_eq!(e.field, "schemes[0].codes[1].descripton");
    assert!(e.message.contains("unknown field"), "{}", e.message);
}

#[test]
fn error_no_categories() {
    let e = expect_err(
        "version = \"v\"\ntitle = \"t\"\neffective_from = \"2025-01-01\"\ndescription = \"d\"\n",
    );
    assert_eq!(e.field, "categories");
}

#[test]
fn definition_set_orders_versions_and_picks_current() {
    let v1 = parse(SMALL).unwrap();
    let v2 = parse(
        &SMALL
            .replace("test-v1", "test-v2")
            .replace("2025-04-01", "2026-04-01"),
    )
    .unwrap();
    let set = DefinitionSet::from_definitions(vec![v2, v1], "test-v2").unwrap();
    let order: Vec<&str> = set.versions().map(|d| d.version.as_str()).collect();
    assert_eq!(order, ["test-v1", "test-v2"]);
    assert_eq!(set.current().version, "test-v2");
    assert!(set.get("test-v1").is_some());
    assert!(set.get("nope").is_none());
}

#[test]
fn definition_set_errors() {
    assert_eq!(
        DefinitionSet::from_definitions(vec![], "x").unwrap_err(),
        DefinitionSetError::Empty
    );
    let v1 = parse(SMALL).unwrap();
    assert_eq!(
        DefinitionSet::from_definitions(vec![v1.clone(), v1.clone()], "test-v1").unwrap_err(),
        DefinitionSetError::DuplicateVersion("test-v1".into())
    );
    assert!(matches!(
        DefinitionSet::from_definitions(vec![v1], "test-v9").unwrap_err(),
        DefinitionSetError::UnknownCurrent { .. }
    ));
}
