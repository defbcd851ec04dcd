//! Every notation example in the comments of `deploy/definitions/vawg-v2.toml`, through the pure
//! [`Notation::canonical`] and through lookups in the embedded vawg-v2.

use super::*;

fn v2() -> Definition {
    Definition::from_toml_str(VAWG_V2_TOML, VAWG_V2_FILE).unwrap_or_else(|e| panic!("{e}"))
}

/// The canonical code a submitted code finds in vawg-v2, or `None` when it is rejected.
fn found(d: &Definition, scheme: &str, code: &str) -> Option<String> {
    match d.lookup(scheme, code, None) {
        Ok(m) => Some(m.mapping.code.clone()),
        Err(ClassifyError::UnknownCode { code: given, .. }) => {
            assert_eq!(given, code, "the error names the code as given");
            None
        }
        Err(e) => panic!("{scheme} {code}: {e}"),
    }
}

#[test]
fn ho_offence_canonical_forms() {
    let n = Notation::HoOffence;
    // "class = digits [ letter ] e.g. 1, 3B, 8N, 19C, 105A (leading zeros allowed: 008N)".
    for (given, canonical) in [
        ("1", "1"),
        ("3B", "3B"),
        ("8N", "8N"),
        ("19C", "19C"),
        ("105A", "105A"),
        ("008N", "8N"),
        // "So "4/1", "4.1", "004/01", "04/001" and "4/01" are all "4/1"".
        ("4/1", "4/1"),
        ("4.1", "4/1"),
        ("004/01", "4/1"),
        ("04/001", "4/1"),
        ("4/01", "4/1"),
        // ""19c" and "019C" are "19C"; "001/01" is "1/1"".
        ("19c", "19C"),
        ("019C", "19C"),
        ("001/01", "1/1"),
        // HOCR's own forms: "37/1", "15/00" ("00" -> "0"), "24/17"; ONS's "4.4", "37.1".
        ("37/1", "37/1"),
        ("15/00", "15/0"),
        ("24/17", "24/17"),
        ("4.4", "4/4"),
        ("37.1", "37/1"),
        // Force zero-padding: "08/67" is class 8, subclass 67.
        ("08/67", "8/67"),
        ("008/66", "8/66"),
        // "The parts are compared as whole numbers, never as decimals: "4.10" is 4/10".
        ("4.10", "4/10"),
        // Trimmed.
        ("  4.1 ", "4/1"),
        ("0", "0"),
        ("000", "0"),
    ] {
        assert_eq!(n.canonical(given).as_deref(), Some(canonical), "{given:?}");
    }
}

#[test]
fn ho_offence_rejects_what_is_not_a_code() {
    let n = Notation::HoOffence;
    // "ONS aggregate labels such as "1/4.1/4.10/4.2", spaces inside the code, a letter after the
    // subclass - is not a code and is rejected as unknown".
    for given in [
        "1/4.1/4.10/4.2",
        "4 /1",
        "4/ 1",
        "19 C",
        "4/1A",
        "19CD",
        "C19",
        "",
        "/1",
        "4/",
        "4.",
        "4//1",
        "4./1",
        "19C.",
        "٤/١",
    ] {
        assert_eq!(n.canonical(given), None, "{given:?}");
    }
}

#[test]
fn ho_offence_lookups_in_v2() {
    let d = v2();
    for given in ["4/1", "4.1", "004/01", "04/001", "4/01"] {
        assert_eq!(
            found(&d, "HO_OFFENCE", given).as_deref(),
            Some("4/1"),
            "{given}"
        );
    }
    for given in ["19c", "019C", " 19C "] {
        assert_eq!(
            found(&d, "HO_OFFENCE", given).as_deref(),
            Some("19C"),
            "{given}"
        );
    }
    assert_eq!(found(&d, "HO_OFFENCE", "001/01").as_deref(), Some("1/1"));
    assert_eq!(found(&d, "HO_OFFENCE", "008N").as_deref(), Some("8N"));
    assert_eq!(found(&d, "HO_OFFENCE", "4.2").as_deref(), Some("4/2"));
    // 4.10 is 4/10 (corporate manslaughter, not in the file), never 4/1.
    assert_eq!(found(&d, "HO_OFFENCE", "4.10"), None);
    for given in ["1/4.1/4.10/4.2", "4 /1", "4/1A", "08/67", "008/66"] {
        assert_eq!(found(&d, "HO_OFFENCE", given), None, "{given}");
    }
}

#[test]
fn ho_offence_never_rolls_a_subclass_up_to_its_class() {
    let d = v2();
    // Classes 1, 2, 3B and 8N are listed; none of these subclasses is.
    for given in ["1/3", "2/1", "3B/1", "8N/1", "19C/0"] {
        assert_eq!(found(&d, "HO_OFFENCE", given), None, "{given}");
    }
    // A listed subclass is found as itself, not as its class.
    let m = d.lookup("HO_OFFENCE", "1.2", None).unwrap();
    assert_eq!(m.mapping.code, "1/2");
    assert_eq!(
        m.mapping.description,
        "Murder of a person under 1 year of age"
    );
}

#[test]
fn icd10_canonical_forms() {
    let n = Notation::Icd10;
    // ""T74.1", "t74.1" and "T741" are all "T74.1"; "Y05" stays "Y05"".
    for (given, canonical) in [
        ("T74.1", "T74.1"),
        ("t74.1", "T74.1"),
        ("T741", "T74.1"),
        ("Y05", "Y05"),
        ("y05", "Y05"),
        (" Y07.0 ", "Y07.0"),
        ("Y070", "Y07.0"),
        // The grammar's "one further character": the NHS "X" filler reads as a fourth character,
        // which no listed code has, so it never finds the three-character code.
        ("Y05X", "Y05.X"),
    ] {
        assert_eq!(n.canonical(given).as_deref(), Some(canonical), "{given:?}");
    }
    // ICD-10-CM extensions beyond four characters, dots elsewhere, inner spaces.
    for given in [
        "T74.10", "N90.81", "N90.810", "T7.41", "T74.", "T 74.1", "74.1", "TT4.1", "",
    ] {
        assert_eq!(n.canonical(given), None, "{given:?}");
    }
}

#[test]
fn icd10_lookups_in_v2() {
    let d = v2();
    for given in ["T74.1", "t74.1", "T741"] {
        assert_eq!(
            found(&d, "ICD10", given).as_deref(),
            Some("T74.1"),
            "{given}"
        );
    }
    assert_eq!(found(&d, "ICD10", "Y05").as_deref(), Some("Y05"));
    assert_eq!(found(&d, "ICD10", "y070").as_deref(), Some("Y07.0"));
    // "Not accepted: the NHS "X" filler ... (e.g. "Y05X")" and ICD-10-CM extensions; T74.3 and
    // N90.81x are left out of the file.
    for given in ["Y05X", "Y05.X", "T74.10", "T74.3", "N90.81"] {
        assert_eq!(found(&d, "ICD10", given), None, "{given}");
    }
}

#[test]
fn legislation_canonical_forms() {
    let n = Notation::Legislation;
    for (given, canonical) in [
        ("Serious Crime Act 2015 s76", "Serious Crime Act 2015 s76"),
        (
            "  anti-social behaviour, crime and policing act 2014  s121 ",
            "anti-social behaviour, crime and policing act 2014 s121",
        ),
        (
            "Sexual Offences Act 2003 s66B(2)",
            "Sexual Offences Act 2003 s66B(2)",
        ),
        ("Family Law Act 1996\ts63CA", "Family Law Act 1996 s63CA"),
        ("SERIOUS CRIME ACT 2015 S76", "SERIOUS CRIME ACT 2015 S76"),
    ] {
        assert_eq!(n.canonical(given).as_deref(), Some(canonical), "{given:?}");
    }
    // ""s.76", "section 76" or "SCA 2015 s76" are not this notation" - the last has the shape, so
    // it is a code of the notation that the file does not list (see the lookup test).
    for given in [
        "Serious Crime Act 2015 s.76",
        "Serious Crime Act 2015 section 76",
        "Serious Crime Act 2015",
        "2015 s76",
        "Serious Crime Act 15 s76",
        "Serious Crime Act 2015 s76 (2)",
        "Serious Crime Act 2015 s76()",
        "Serious Crime Act 2015 s76(2",
        "Serious Crime Act 2015 s76(2)(a)",
        "Serious Crime Act 2015 s",
    ] {
        assert_eq!(n.canonical(given), None, "{given:?}");
    }
}

#[test]
fn legislation_lookups_in_v2() {
    let d = v2();
    let canonical = "Anti-social Behaviour, Crime and Policing Act 2014 s121";
    for given in [
        canonical,
        "anti-social behaviour, crime and policing act 2014  s121",
        "ANTI-SOCIAL BEHAVIOUR, CRIME AND POLICING ACT 2014 S121",
        " Anti-social  Behaviour,\tCrime and Policing Act 2014 s121 ",
    ] {
        assert_eq!(
            found(&d, "LEGISLATION", given).as_deref(),
            Some(canonical),
            "{given:?}"
        );
    }
    for given in [
        "Serious Crime Act 2015 s.76",
        "Serious Crime Act 2015 section 76",
        "SCA 2015 s76",
        "Serious Crime Act 2015 s7",
        "Serious Crime Act 2015 s766",
    ] {
        assert_eq!(found(&d, "LEGISLATION", given), None, "{given:?}");
    }
}

#[test]
fn legislation_subsection_falls_back_to_its_section() {
    let d = v2();
    // "Sexual Offences Act 2003 s66B(2)" -> "Sexual Offences Act 2003 s66B".
    let m = d
        .lookup(
            "LEGISLATION",
            "Sexual Offences Act 2003 s66B(2)",
            Some("POLICE"),
        )
        .unwrap();
    assert_eq!(m.mapping.code, "Sexual Offences Act 2003 s66B");
    assert!(matches!(m.target, Target::Category(c) if c.id == "intimate_image_abuse"));
    for (given, section) in [
        (
            "serious crime act 2015 s76(1)",
            "Serious Crime Act 2015 s76",
        ),
        (
            "Serious Crime Act 2015 s75A(1)",
            "Serious Crime Act 2015 s75A",
        ),
        (
            "Female Genital Mutilation Act 2003 s3A(1)",
            "Female Genital Mutilation Act 2003 s3A",
        ),
        (
            "Protection from Harassment Act 1997 s4A(1A)",
            "Protection from Harassment Act 1997 s4A",
        ),
    ] {
        assert_eq!(
            found(&d, "LEGISLATION", given).as_deref(),
            Some(section),
            "{given}"
        );
    }
    // The fallback drops the subsection only: never the section's letter (s66B(2) is not s66),
    // and a section that is not listed stays unknown with or without a subsection.
    assert_eq!(
        found(&d, "LEGISLATION", "Sexual Offences Act 2003 s66(2)"),
        None
    );
    assert_eq!(
        found(&d, "LEGISLATION", "Sexual Offences Act 2003 s8(1)"),
        None
    );
}

#[test]
fn legislation_listed_subsection_wins_over_its_section() {
    let text = r#"version = "t"
title = "t"
effective_from = "2026-04-01"
description = "t"

[[categories]]
id = "a"
name = "A"
harm_rank = 1
course_of_conduct = false
description = "A."

[[categories]]
id = "b"
name = "B"
harm_rank = 2
course_of_conduct = false
description = "B."

[[schemes]]
id = "LEGISLATION"
name = "By statute"
agency_kinds = ["POLICE"]
source = "legislation.gov.uk"
notation = "legislation"

[[schemes.codes]]
code = "Some Act 2000 s1"
description = "Section 1"
category = "a"

[[schemes.codes]]
code = "Some Act 2000 s1(2)"
description = "Section 1(2)"
category = "b"
"#;
    let d = Definition::from_toml_str(text, "t.toml").unwrap();
    let code = |c: &str| {
        d.lookup("LEGISLATION", c, None)
            .unwrap()
            .mapping
            .code
            .clone()
    };
    assert_eq!(code("some act 2000 s1(2)"), "Some Act 2000 s1(2)");
    assert_eq!(code("Some Act 2000 s1(3)"), "Some Act 2000 s1");
    assert_eq!(code("Some Act 2000 s1"), "Some Act 2000 s1");
}

#[test]
fn exact_notation_is_vawg_v1_matching() {
    let n = Notation::Exact;
    assert_eq!(n.canonical(" 19c ").as_deref(), Some("19c"));
    let d = v2();
    // CPS_FLAG, ORDER_TYPE and VAWG_CATEGORY have no notation: trimmed, case-insensitive, nothing
    // else rewritten.
    assert_eq!(d.scheme("CPS_FLAG").unwrap().notation, Notation::Exact);
    assert_eq!(
        found(&d, "CPS_FLAG", " domestic_abuse ").as_deref(),
        Some("DOMESTIC_ABUSE")
    );
    assert_eq!(found(&d, "ORDER_TYPE", "fgmpo").as_deref(), Some("FGMPO"));
    assert_eq!(found(&d, "ORDER_TYPE", "FGM PO"), None);
    assert_eq!(found(&d, "VAWG_CATEGORY", "RAPE").as_deref(), Some("rape"));
}

#[test]
fn notation_keys_round_trip() {
    for n in Notation::NAMED {
        assert_eq!(Notation::from_key(n.key().unwrap()), Some(n));
        assert_eq!(n.to_string(), n.key().unwrap());
    }
    assert_eq!(Notation::Exact.key(), None);
    assert_eq!(Notation::from_key("HO_OFFENCE"), None);
    assert_eq!(Notation::from_key("exact"), None);
}
