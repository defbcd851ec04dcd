//! vawg-v2: the embedded file, its continuity with vawg-v1, the embedded set, and a located
//! error for every invalid shape of the keys it adds (`[[contexts]]`, `context`, `notation`).

use std::collections::HashSet;

use super::*;

/// A small valid file with the v2 keys; tests derive invalid variants by editing one line so
/// each asserts the exact line and column of its error.
const SMALL: &str = r#"version = "test-v2"
title = "Test definition"
effective_from = "2026-04-01"
description = "For tests."

[[categories]]
id = "domestic_abuse"
name = "Domestic abuse"
harm_rank = 1
course_of_conduct = false
description = "Domestic abuse."

[[categories]]
id = "harassment"
name = "Harassment"
harm_rank = 2
course_of_conduct = true
description = "Harassment."

[[contexts]]
id = "violence_against_the_person"
name = "Violence against the person"
domestic_category = "domestic_abuse"
source = "A cited source"
description = "Assaults."

[[schemes]]
id = "HO_OFFENCE"
name = "Home Office offence classification"
agency_kinds = ["POLICE"]
source = "Home Office Counting Rules"
notation = "ho_offence"

[[schemes.codes]]
code = "8N"
description = "Assault with injury"
context = "violence_against_the_person"

[[schemes.codes]]
code = "8L"
description = "Harassment"
category = "harassment"
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

/// The error of `text`, checked to display as `test.toml:line:column: field: message`.
fn expect_err(text: &str) -> DefinitionError {
    let e = parse(text).map(|_| ()).expect_err("expected an error");
    assert_eq!(
        e.to_string(),
        format!(
            "test.toml:{}:{}: {}: {}",
            e.line, e.column, e.field, e.message
        )
    );
    e
}

fn v1() -> Definition {
    Definition::from_toml_str(VAWG_V1_TOML, VAWG_V1_FILE).unwrap_or_else(|e| panic!("{e}"))
}

fn v2() -> Definition {
    Definition::from_toml_str(VAWG_V2_TOML, VAWG_V2_FILE).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn small_v2_file_is_valid() {
    let d = parse(SMALL).unwrap();
    assert_eq!(d.contexts.len(), 1);
    assert_eq!(d.contexts[0].domestic_category, "domestic_abuse");
    assert_eq!(d.contexts[0].non_domestic_category, None);
    assert_eq!(d.schemes[0].notation, Notation::HoOffence);
    assert_eq!(
        d.schemes[0].codes[0].target,
        MappingTarget::Context("violence_against_the_person".into())
    );
}

#[test]
fn v2_parses_with_its_new_keys() {
    let d = v2();
    assert_eq!(d.version, "vawg-v2");
    assert_eq!(
        d.effective_from,
        NaiveDate::from_ymd_opt(2026, 4, 1).unwrap()
    );
    let ranks: Vec<u32> = d.categories.iter().map(|c| c.harm_rank).collect();
    assert_eq!(
        ranks,
        (1..=12).collect::<Vec<u32>>(),
        "ranks renumbered 1..12"
    );
    assert_eq!(d.category("non_fatal_strangulation").unwrap().harm_rank, 7);
    let contexts: Vec<&str> = d.contexts.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(contexts, ["violence_against_the_person", "homicide"]);
    assert!(d.contexts.iter().all(|c| c.non_domestic_category.is_none()));
    let notation = |s: &str| d.scheme(s).unwrap().notation;
    assert_eq!(notation("HO_OFFENCE"), Notation::HoOffence);
    assert_eq!(notation("ICD10"), Notation::Icd10);
    assert_eq!(notation("LEGISLATION"), Notation::Legislation);
    assert_eq!(notation("CPS_FLAG"), Notation::Exact);
    assert!(
        d.scheme("VAWG_CATEGORY")
            .unwrap()
            .agency_kinds
            .contains(&"POLICE".to_owned())
    );
    for (code, category) in [
        (
            "Serious Crime Act 2015 s76",
            "controlling_or_coercive_behaviour",
        ),
        ("Serious Crime Act 2015 s75A", "non_fatal_strangulation"),
        ("Female Genital Mutilation Act 2003 s1", "fgm"),
        (
            "Anti-social Behaviour, Crime and Policing Act 2014 s121",
            "forced_marriage",
        ),
        (
            "Criminal Justice and Courts Act 2015 s33",
            "intimate_image_abuse",
        ),
    ] {
        for kind in ["POLICE", "CPS", "COURT"] {
            let c = d.classify("LEGISLATION", code, Some(kind)).unwrap();
            assert_eq!(c.category.id, category, "{code}");
        }
    }
    assert_eq!(
        d.classify(
            "VAWG_CATEGORY",
            "controlling_or_coercive_behaviour",
            Some("POLICE")
        )
        .unwrap()
        .category
        .id,
        "controlling_or_coercive_behaviour"
    );
}

#[test]
fn v2_every_code_is_canonical_and_unique_after_normalisation() {
    let d = v2();
    for s in &d.schemes {
        let mut keys = HashSet::new();
        for c in &s.codes {
            assert_eq!(
                s.notation.canonical(&c.code).as_deref(),
                Some(c.code.as_str())
            );
            assert!(
                keys.insert(s.notation.index_key(&c.code)),
                "{} {}",
                s.id,
                c.code
            );
            // Each code finds itself, and only itself, in any spelling the notation accepts.
            let lower = d.lookup(&s.id, &c.code.to_lowercase(), None).unwrap();
            assert_eq!(lower.mapping, c, "{} {}", s.id, c.code);
        }
        assert_eq!(keys.len(), s.codes.len());
    }
}

#[test]
fn v1_codes_kept_in_v2_classify_to_the_same_category() {
    let (v1, v2) = (v1(), v2());
    let mut contexts = 0;
    for s in &v1.schemes {
        for c in &s.codes {
            let old = c.category_id().expect("vawg-v1 has no context classes");
            let new = v2
                .lookup(&s.id, &c.code, None)
                .unwrap_or_else(|e| panic!("vawg-v1 {} {} is not in vawg-v2: {e}", s.id, c.code));
            assert_eq!(new.mapping.code, c.code);
            match new.target {
                Target::Category(cat) => assert_eq!(cat.id, old, "{} {}", s.id, c.code),
                // Only violence against the person and homicide became context classes, each
                // with the vawg-v1 category as its domestic category.
                Target::Context(ctx) => {
                    contexts += 1;
                    assert_eq!(s.id, "HO_OFFENCE");
                    assert!(
                        matches!(
                            (ctx.id.as_str(), old),
                            ("violence_against_the_person", "domestic_abuse")
                                | ("homicide", "domestic_homicide")
                        ),
                        "{} {} was {old}, now context {}",
                        s.id,
                        c.code,
                        ctx.id
                    );
                    assert_eq!(ctx.domestic_category, old);
                }
            }
            // The context-blind classify keeps the vawg-v1 answer for every vawg-v1 code.
            assert_eq!(v2.classify(&s.id, &c.code, None).unwrap().category.id, old);
        }
        let agencies = &v2.scheme(&s.id).unwrap().agency_kinds;
        assert!(
            s.agency_kinds.iter().all(|k| agencies.contains(k)),
            "{}",
            s.id
        );
    }
    assert_eq!(contexts, 7, "1, 4/1, 2, 3B, 5D, 8N, 105A");
}

#[test]
fn embedded_set_holds_v1_and_v2_with_v2_current() {
    let set = DefinitionSet::embedded();
    let versions: Vec<&str> = set.versions().map(|d| d.version.as_str()).collect();
    assert_eq!(versions, ["vawg-v1", "vawg-v2"]);
    assert_eq!(set.current().version, "vawg-v2");
    assert_eq!(set.get("vawg-v1").unwrap().contexts.len(), 0);
    let default =
        Definition::from_toml_str(DEFAULT_DEFINITION_TOML, DEFAULT_DEFINITION_FILE).unwrap();
    assert_eq!(default.version, set.current().version);
    // vawg-v1 still answers as it did: 8N is domestic abuse there, with no context.
    let old = set
        .get("vawg-v1")
        .unwrap()
        .classify("HO_OFFENCE", "8N", Some("POLICE"))
        .unwrap();
    assert_eq!(
        (old.category.id.as_str(), old.context),
        ("domestic_abuse", None)
    );
    // ... and the HO_OFFENCE notation is v2's: vawg-v1 matches exactly.
    assert!(
        set.get("vawg-v1")
            .unwrap()
            .classify("HO_OFFENCE", "4.1", None)
            .is_err()
    );
}

#[test]
fn error_unknown_context_referenced() {
    let e = expect_err(&with_line(37, "context = \"violence\""));
    assert_eq!((e.line, e.column), (37, 11));
    assert_eq!(e.field, "schemes[0].codes[0].context");
    assert!(
        e.message.contains("unknown context `violence`"),
        "{}",
        e.message
    );
    // A category named as a context gets a hint.
    let e = expect_err(&with_line(37, "context = \"harassment\""));
    assert!(
        e.message.contains("category = \"harassment\""),
        "{}",
        e.message
    );
}

#[test]
fn error_code_with_both_category_and_context() {
    let text = SMALL.replace(
        "context = \"violence_against_the_person\"",
        "category = \"harassment\"\ncontext = \"violence_against_the_person\"",
    );
    let e = expect_err(&text);
    assert_eq!((e.line, e.column), (38, 11));
    assert_eq!(e.field, "schemes[0].codes[0].context");
    assert!(e.message.contains("not both"), "{}", e.message);
    assert!(e.message.contains("line 37"), "{}", e.message);
}

#[test]
fn error_code_with_neither_category_nor_context() {
    let e = expect_err(&with_line(37, ""));
    assert_eq!((e.line, e.column), (34, 1));
    assert_eq!(e.field, "schemes[0].codes[0].category");
    assert!(e.message.contains("`context`"), "{}", e.message);
}

#[test]
fn error_unknown_notation() {
    let e = expect_err(&with_line(32, "notation = \"home_office\""));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (32, 12, "schemes[0].notation")
    );
    assert!(
        e.message
            .contains("\"ho_offence\", \"icd10\", \"legislation\""),
        "{}",
        e.message
    );
    let e = expect_err(&with_line(32, "notation = 1"));
    assert_eq!((e.line, e.column), (32, 12));
    assert!(e.message.contains("expected a string"), "{}", e.message);
}

#[test]
fn error_code_not_in_canonical_form() {
    let e = expect_err(&with_line(35, "code = \"008n\""));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (35, 8, "schemes[0].codes[0].code")
    );
    assert!(e.message.contains("write `8N`"), "{}", e.message);
    let e = expect_err(&with_line(35, "code = \"4.1\""));
    assert!(e.message.contains("write `4/1`"), "{}", e.message);
    let e = expect_err(&with_line(35, "code = \"8N 1\""));
    assert_eq!((e.line, e.column), (35, 8));
    assert!(
        e.message.contains("not a code of notation ho_offence"),
        "{}",
        e.message
    );
    // ICD10 and LEGISLATION: the same check with their own forms.
    let icd = SMALL.replace("notation = \"ho_offence\"", "notation = \"icd10\"");
    let e = expect_err(&icd.replace("code = \"8N\"", "code = \"T741\""));
    assert_eq!((e.line, e.column), (35, 8));
    assert!(e.message.contains("write `T74.1`"), "{}", e.message);
    let leg = SMALL.replace("notation = \"ho_offence\"", "notation = \"legislation\"");
    let e = expect_err(&leg.replace("code = \"8N\"", "code = \"Some  Act 2000 s1\""));
    assert!(
        e.message.contains("write `Some Act 2000 s1`"),
        "{}",
        e.message
    );
    let e = expect_err(&leg.replace("code = \"8N\"", "code = \"Some Act s1\""));
    assert!(
        e.message.contains("not a code of notation legislation"),
        "{}",
        e.message
    );
}

#[test]
fn error_duplicate_code_after_normalisation_under_a_notation() {
    let text = format!(
        "{SMALL}\n[[schemes.codes]]\ncode = \"4/1\"\ndescription = \"x\"\ncategory = \"harassment\"\n\
         \n[[schemes.codes]]\ncode = \"4/1\"\ndescription = \"y\"\ncategory = \"harassment\"\n"
    );
    let e = expect_err(&text);
    assert_eq!((e.line, e.column), (50, 8));
    assert_eq!(e.field, "schemes[0].codes[3].code");
    assert!(e.message.contains("line 45"), "{}", e.message);
    assert!(e.message.contains("notation ho_offence"), "{}", e.message);
    // LEGISLATION codes differing only in case are the same code.
    let leg = SMALL
        .replace("notation = \"ho_offence\"", "notation = \"legislation\"")
        .replace("code = \"8N\"", "code = \"Some Act 2000 s1\"")
        .replace("code = \"8L\"", "code = \"some act 2000 S1\"");
    let e = expect_err(&leg);
    assert_eq!((e.line, e.field.as_str()), (40, "schemes[0].codes[1].code"));
}

#[test]
fn error_context_category_does_not_exist() {
    let e = expect_err(&with_line(23, "domestic_category = \"domestic\""));
    assert_eq!((e.line, e.column), (23, 21));
    assert_eq!(e.field, "contexts[0].domestic_category");
    assert!(
        e.message.contains("unknown category `domestic`"),
        "{}",
        e.message
    );
    let text = SMALL.replace(
        "source = \"A cited source\"",
        "non_domestic_category = \"stalking\"\nsource = \"A cited source\"",
    );
    let e = expect_err(&text);
    assert_eq!((e.line, e.column), (24, 25));
    assert_eq!(e.field, "contexts[0].non_domestic_category");
    let text = SMALL.replace(
        "source = \"A cited source\"",
        "non_domestic_category = \"domestic_abuse\"\nsource = \"A cited source\"",
    );
    let e = expect_err(&text);
    assert_eq!(
        (e.line, e.field.as_str()),
        (24, "contexts[0].non_domestic_category")
    );
    assert!(e.message.contains("not a context class"), "{}", e.message);
}

#[test]
fn error_context_fields() {
    let e = expect_err(&with_line(21, "id = \"harassment\""));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (21, 6, "contexts[0].id")
    );
    assert!(
        e.message.contains("already the id of a category"),
        "{}",
        e.message
    );
    let e = expect_err(&with_line(21, "id = \"Violence\""));
    assert_eq!((e.line, e.field.as_str()), (21, "contexts[0].id"));
    let e = expect_err(&with_line(25, ""));
    assert_eq!(
        (e.line, e.column, e.field.as_str()),
        (20, 1, "contexts[0].description")
    );
    let e = expect_err(&with_line(24, "sources = \"x\""));
    assert_eq!((e.line, e.field.as_str()), (24, "contexts[0].sources"));
    assert!(e.message.contains("unknown field"), "{}", e.message);
    let twice = SMALL.replace(
        "[[schemes]]",
        "[[contexts]]\nid = \"violence_against_the_person\"\nname = \"n\"\n\
         domestic_category = \"domestic_abuse\"\nsource = \"s\"\ndescription = \"d\"\n\n[[schemes]]",
    );
    let e = expect_err(&twice);
    assert_eq!((e.line, e.field.as_str()), (28, "contexts[1].id"));
    assert!(e.message.contains("line 21"), "{}", e.message);
}

#[test]
fn error_context_referenced_in_a_file_without_contexts() {
    let text = VAWG_V1_TOML.replacen("category = \"rape\"", "context = \"rape\"", 1);
    let e = Definition::from_toml_str(&text, VAWG_V1_FILE).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("deploy/definitions/vawg-v1.toml:"),
        "{e}"
    );
    assert!(e.field.ends_with(".context"), "{e}");
    assert!(e.message.contains("category = \"rape\""), "{e}");
}
