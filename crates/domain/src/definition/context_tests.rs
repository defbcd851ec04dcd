//! Context classes: the table of docs/counting.md §2.9, row by row, through the pure functions
//! and through vawg-v2's context codes; the context-blind `classify` of a context code.

use super::*;
use crate::pb::{self, Relationship};

const DOMESTIC: [Relationship; 3] = [
    Relationship::Partner,
    Relationship::ExPartner,
    Relationship::FamilyMember,
];
const NON_DOMESTIC: [Relationship; 2] = [Relationship::Acquaintance, Relationship::Stranger];
const UNKNOWN: [Relationship; 2] = [Relationship::NotKnown, Relationship::Unspecified];

fn v2() -> Definition {
    Definition::from_toml_str(VAWG_V2_TOML, VAWG_V2_FILE).unwrap_or_else(|e| panic!("{e}"))
}

fn crime(flag: bool, relationship: Relationship) -> CrimeContext {
    CrimeContext {
        domestic_abuse_flag: flag,
        relationship,
    }
}

/// (category id or None, domestic context, finding) of a context class in a crime's context.
fn resolved(
    d: &Definition,
    context: &str,
    flag: bool,
    relationship: Relationship,
) -> (Option<String>, DomesticContext, Option<Finding>) {
    let r = d.resolve(context, crime(flag, relationship)).unwrap();
    (r.category.map(|c| c.id.clone()), r.domestic, r.finding)
}

#[test]
fn row_1_flag_set_domestic_relationship_is_domestic_without_finding() {
    let d = v2();
    for rel in DOMESTIC {
        for (context, category) in [
            ("violence_against_the_person", "domestic_abuse"),
            ("homicide", "domestic_homicide"),
        ] {
            assert_eq!(
                resolved(&d, context, true, rel),
                (Some(category.into()), DomesticContext::Flagged, None),
                "{context} {rel:?}"
            );
        }
    }
}

#[test]
fn row_2_flag_set_relationship_not_known_or_unset_is_domestic_without_finding() {
    let d = v2();
    for rel in UNKNOWN {
        assert_eq!(
            resolved(&d, "violence_against_the_person", true, rel),
            (
                Some("domestic_abuse".into()),
                DomesticContext::Flagged,
                None
            ),
            "{rel:?}"
        );
        assert_eq!(
            resolved(&d, "homicide", true, rel),
            (
                Some("domestic_homicide".into()),
                DomesticContext::Flagged,
                None
            ),
            "{rel:?}"
        );
    }
}

#[test]
fn row_3_flag_set_acquaintance_or_stranger_the_flag_wins_with_a_finding() {
    let d = v2();
    for rel in NON_DOMESTIC {
        assert_eq!(
            resolved(&d, "violence_against_the_person", true, rel),
            (
                Some("domestic_abuse".into()),
                DomesticContext::Flagged,
                Some(Finding::FlagWithNonDomesticRelationship)
            ),
            "{rel:?}"
        );
        assert_eq!(
            resolved(&d, "homicide", true, rel).2,
            Some(Finding::FlagWithNonDomesticRelationship)
        );
    }
}

#[test]
fn row_4_no_flag_domestic_relationship_is_domestic_by_relationship_with_a_finding() {
    let d = v2();
    for rel in DOMESTIC {
        assert_eq!(
            resolved(&d, "violence_against_the_person", false, rel),
            (
                Some("domestic_abuse".into()),
                DomesticContext::RelationshipOnly,
                Some(Finding::DomesticRelationshipWithoutFlag)
            ),
            "{rel:?}"
        );
        assert_eq!(
            resolved(&d, "homicide", false, rel),
            (
                Some("domestic_homicide".into()),
                DomesticContext::RelationshipOnly,
                Some(Finding::DomesticRelationshipWithoutFlag)
            ),
            "{rel:?}"
        );
    }
}

#[test]
fn row_5_no_flag_any_other_relationship_is_non_domestic_out_of_scope_in_v2() {
    let d = v2();
    for rel in NON_DOMESTIC.into_iter().chain(UNKNOWN) {
        for context in ["violence_against_the_person", "homicide"] {
            assert_eq!(
                resolved(&d, context, false, rel),
                (None, DomesticContext::NotDomestic, None),
                "{context} {rel:?}"
            );
        }
    }
}

#[test]
fn non_domestic_category_applies_outside_a_domestic_context() {
    let text = VAWG_V2_TOML.replace(
        "domestic_category = \"domestic_abuse\"\n",
        "domestic_category = \"domestic_abuse\"\nnon_domestic_category = \"harassment\"\n",
    );
    let d = Definition::from_toml_str(&text, "t.toml").unwrap();
    assert_eq!(
        d.context("violence_against_the_person")
            .unwrap()
            .non_domestic_category
            .as_deref(),
        Some("harassment")
    );
    assert_eq!(
        resolved(
            &d,
            "violence_against_the_person",
            false,
            Relationship::Stranger
        ),
        (
            Some("harassment".into()),
            DomesticContext::NotDomestic,
            None
        )
    );
    assert_eq!(
        resolved(
            &d,
            "violence_against_the_person",
            true,
            Relationship::Stranger
        )
        .0,
        Some("domestic_abuse".into())
    );
}

#[test]
fn domestic_context_of_every_flag_and_relationship() {
    let all = [
        Relationship::Unspecified,
        Relationship::Partner,
        Relationship::ExPartner,
        Relationship::FamilyMember,
        Relationship::Acquaintance,
        Relationship::Stranger,
        Relationship::NotKnown,
    ];
    for rel in all {
        assert_eq!(DomesticContext::of(true, rel), DomesticContext::Flagged);
        let expected = if DOMESTIC.contains(&rel) {
            DomesticContext::RelationshipOnly
        } else {
            DomesticContext::NotDomestic
        };
        assert_eq!(DomesticContext::of(false, rel), expected, "{rel:?}");
        assert_eq!(crime(false, rel).domestic(), expected);
        // A finding iff flag and relationship disagree; NOT_KNOWN and unset never do.
        for flag in [true, false] {
            let disagree = if flag {
                NON_DOMESTIC.contains(&rel)
            } else {
                DOMESTIC.contains(&rel)
            };
            assert_eq!(Finding::of(flag, rel).is_some(), disagree, "{flag} {rel:?}");
        }
    }
}

#[test]
fn stable_names() {
    let names: Vec<&str> = DomesticContext::ALL.iter().map(|d| d.as_str()).collect();
    assert_eq!(names, ["FLAGGED", "RELATIONSHIP_ONLY", "NOT_DOMESTIC"]);
    for d in DomesticContext::ALL {
        assert_eq!(d.to_string().parse::<DomesticContext>(), Ok(d));
    }
    assert!("flagged".parse::<DomesticContext>().is_err());
    let names: Vec<&str> = Finding::ALL.iter().map(|f| f.as_str()).collect();
    assert_eq!(
        names,
        [
            "FLAG_WITH_NON_DOMESTIC_RELATIONSHIP",
            "DOMESTIC_RELATIONSHIP_WITHOUT_FLAG"
        ]
    );
    for f in Finding::ALL {
        assert_eq!(f.to_string().parse::<Finding>(), Ok(f));
    }
    assert_eq!(
        DomesticContext::RelationshipOnly.most_domestic(DomesticContext::Flagged),
        DomesticContext::Flagged
    );
    assert_eq!(
        DomesticContext::NotDomestic.most_domestic(DomesticContext::RelationshipOnly),
        DomesticContext::RelationshipOnly
    );
}

#[test]
fn crime_context_from_the_contract() {
    let c = CrimeContext::of_crime(&pb::CrimeRecorded {
        domestic_abuse_flag: true,
        relationship: Relationship::Stranger as i32,
        ..Default::default()
    });
    assert_eq!(c, crime(true, Relationship::Stranger));
    // An enum value this build does not know is unset, never domestic.
    assert_eq!(
        CrimeContext::new(false, 99),
        crime(false, Relationship::Unspecified)
    );
}

#[test]
fn classify_in_context_of_context_and_plain_codes() {
    let d = v2();
    let stranger = crime(false, Relationship::Stranger);
    // Worked example r6 (docs/counting.md §2.13): 8N by a stranger, not flagged: out of scope.
    let r6 = d
        .classify_in_context("HO_OFFENCE", "8n", Some("POLICE"), stranger)
        .unwrap();
    assert_eq!(r6.matched.mapping.code, "8N");
    assert!(
        matches!(r6.matched.target, Target::Context(c) if c.id == "violence_against_the_person")
    );
    assert_eq!(r6.resolution.category, None);
    // r7: 105A flagged, stranger: domestic abuse and a finding.
    let r7 = d
        .classify_in_context(
            "HO_OFFENCE",
            "105A",
            Some("POLICE"),
            crime(true, Relationship::Stranger),
        )
        .unwrap();
    assert_eq!(r7.resolution.category.unwrap().id, "domestic_abuse");
    assert_eq!(
        r7.resolution.finding,
        Some(Finding::FlagWithNonDomesticRelationship)
    );
    // A plain category is in scope whatever the relationship: strangulation by a stranger.
    let s = d
        .classify_in_context(
            "LEGISLATION",
            "Serious Crime Act 2015 s75A",
            Some("POLICE"),
            stranger,
        )
        .unwrap();
    assert_eq!(s.resolution.category.unwrap().id, "non_fatal_strangulation");
    assert_eq!(s.resolution.domestic, DomesticContext::NotDomestic);
    assert_eq!(s.resolution.finding, None);
    // The agency kind is checked as by classify.
    assert!(matches!(
        d.classify_in_context("HO_OFFENCE", "8N", Some("HEALTH"), stranger),
        Err(ClassifyError::SchemeNotForAgencyKind { .. })
    ));
}

#[test]
fn context_blind_classify_of_a_context_code_gives_the_domestic_category_and_names_the_class() {
    let d = v2();
    let c = d.classify("HO_OFFENCE", "004.01", Some("POLICE")).unwrap();
    assert_eq!(c.category.id, "domestic_homicide");
    assert_eq!(c.context.unwrap().id, "homicide");
    assert_eq!(c.mapping.code, "4/1");
    assert_eq!(c.mapping.context_id(), Some("homicide"));
    assert_eq!(c.mapping.category_id(), None);
    let plain = d.classify("HO_OFFENCE", "19C", Some("POLICE")).unwrap();
    assert_eq!(plain.context, None);
    assert_eq!(plain.mapping.category_id(), Some("rape"));
}

#[test]
fn resolve_unknown_context_is_an_error() {
    let d = v2();
    let e = d
        .resolve("domestic_abuse", crime(true, Relationship::Partner))
        .unwrap_err();
    assert_eq!(
        e,
        ClassifyError::UnknownContext {
            context: "domestic_abuse".into(),
            version: "vawg-v2".into()
        }
    );
}
