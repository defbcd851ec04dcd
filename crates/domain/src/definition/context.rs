//! Context classes and the domestic context of a crime (docs/counting.md §2.9).
//!
//! From vawg-v2 a code may map to a *context class* (`[[contexts]]` in the definition file)
//! instead of a category: its category then depends on the crime's domestic context, decided by
//! the force's domestic-abuse flag and the victim-suspect relationship. This module holds the
//! pure rules of that table; [`super::Definition::resolve`] applies them to a context class.
//!
//! | Flag | Relationship | Context | Finding |
//! | --- | --- | --- | --- |
//! | set | PARTNER, EX_PARTNER, FAMILY_MEMBER | domestic | none |
//! | set | NOT_KNOWN or unset | domestic | none |
//! | set | ACQUAINTANCE or STRANGER | domestic (the flag wins) | [`Finding::FlagWithNonDomesticRelationship`] |
//! | not set | PARTNER, EX_PARTNER, FAMILY_MEMBER | domestic (by relationship) | [`Finding::DomesticRelationshipWithoutFlag`] |
//! | not set | anything else | non-domestic | none |

use std::fmt;
use std::str::FromStr;

use super::Category;
use crate::pb;

/// A context class: a group of codes whose category depends on the crime's domestic context.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Context {
    /// Stable snake_case identifier, e.g. `violence_against_the_person`; never the id of a
    /// category.
    pub id: String,
    /// Display name.
    pub name: String,
    /// The id of the category in a domestic context.
    pub domestic_category: String,
    /// The id of the category outside a domestic context; `None` = out of scope of VAWG there.
    pub non_domestic_category: Option<String>,
    /// The public source of the choice made outside a domestic context.
    pub source: String,
    /// What the class covers.
    pub description: String,
}

/// What a crime record says about its domestic context: the two fields of `CrimeRecorded`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CrimeContext {
    /// The force flagged the crime as domestic abuse-related (`CrimeRecorded.domestic_abuse_flag`).
    pub domestic_abuse_flag: bool,
    /// The suspect's relationship to the victim (`CrimeRecorded.relationship`).
    pub relationship: pb::Relationship,
}

impl CrimeContext {
    /// From the contract's fields; an enum value this build does not know counts as unset.
    pub fn new(domestic_abuse_flag: bool, relationship: i32) -> CrimeContext {
        CrimeContext {
            domestic_abuse_flag,
            relationship: pb::Relationship::try_from(relationship)
                .unwrap_or(pb::Relationship::Unspecified),
        }
    }

    /// The context of a recorded crime.
    pub fn of_crime(crime: &pb::CrimeRecorded) -> CrimeContext {
        CrimeContext::new(crime.domestic_abuse_flag, crime.relationship)
    }

    /// The crime's domestic context ([`DomesticContext::of`]).
    pub fn domestic(self) -> DomesticContext {
        DomesticContext::of(self.domestic_abuse_flag, self.relationship)
    }

    /// The flag and the relationship disagree ([`Finding::of`]).
    pub fn finding(self) -> Option<Finding> {
        Finding::of(self.domestic_abuse_flag, self.relationship)
    }
}

/// Partner, ex-partner or family member: "personally connected" (Domestic Abuse Act 2021 s2),
/// the relationships that make a crime domestic without the flag.
pub fn is_domestic_relationship(relationship: pb::Relationship) -> bool {
    matches!(
        relationship,
        pb::Relationship::Partner | pb::Relationship::ExPartner | pb::Relationship::FamilyMember
    )
}

/// Acquaintance or stranger: the relationships that disagree with a domestic-abuse flag.
/// `NOT_KNOWN` and unset are neither domestic nor non-domestic, so they never disagree.
pub fn is_non_domestic_relationship(relationship: pb::Relationship) -> bool {
    matches!(
        relationship,
        pb::Relationship::Acquaintance | pb::Relationship::Stranger
    )
}

/// The domestic abuse-related dimension of a crime (docs/counting.md §2.9), for every crime
/// whatever its code. Stable names: `FLAGGED`, `RELATIONSHIP_ONLY`, `NOT_DOMESTIC`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DomesticContext {
    /// The force flagged it domestic abuse-related: the ONS/Home Office concept.
    Flagged,
    /// Not flagged, but the suspect is a partner, ex-partner or family member: the hub's
    /// fallback.
    RelationshipOnly,
    /// Neither.
    NotDomestic,
}

impl DomesticContext {
    /// Every value, in the order of the table.
    pub const ALL: [DomesticContext; 3] = [
        DomesticContext::Flagged,
        DomesticContext::RelationshipOnly,
        DomesticContext::NotDomestic,
    ];

    /// The domestic context of one crime record: the flag wins; without it, a partner,
    /// ex-partner or family relationship; otherwise not domestic.
    pub fn of(domestic_abuse_flag: bool, relationship: pb::Relationship) -> DomesticContext {
        if domestic_abuse_flag {
            DomesticContext::Flagged
        } else if is_domestic_relationship(relationship) {
            DomesticContext::RelationshipOnly
        } else {
            DomesticContext::NotDomestic
        }
    }

    /// The most domestic of two contexts (`FLAGGED` over `RELATIONSHIP_ONLY` over
    /// `NOT_DOMESTIC`): an offence of several records is flagged when any record is.
    pub fn most_domestic(self, other: DomesticContext) -> DomesticContext {
        self.min(other)
    }

    /// Flagged or by relationship: the context class takes its domestic category.
    pub fn is_domestic(self) -> bool {
        self != DomesticContext::NotDomestic
    }

    /// The stable name: `FLAGGED`, `RELATIONSHIP_ONLY` or `NOT_DOMESTIC`.
    pub fn as_str(self) -> &'static str {
        match self {
            DomesticContext::Flagged => "FLAGGED",
            DomesticContext::RelationshipOnly => "RELATIONSHIP_ONLY",
            DomesticContext::NotDomestic => "NOT_DOMESTIC",
        }
    }
}

impl fmt::Display for DomesticContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for DomesticContext {
    type Err = UnknownName;

    /// The stable name, exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DomesticContext::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A disagreement between the flag and the relationship: a data-quality finding, counted once
/// per record; it never changes a VAWG figure. Stable names as in docs/counting.md §2.9.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Finding {
    /// `FLAG_WITH_NON_DOMESTIC_RELATIONSHIP`: flagged, but the suspect is an acquaintance or a
    /// stranger (the flag wins).
    FlagWithNonDomesticRelationship,
    /// `DOMESTIC_RELATIONSHIP_WITHOUT_FLAG`: not flagged, but the suspect is a partner,
    /// ex-partner or family member (domestic by the relationship).
    DomesticRelationshipWithoutFlag,
}

impl Finding {
    /// Every value.
    pub const ALL: [Finding; 2] = [
        Finding::FlagWithNonDomesticRelationship,
        Finding::DomesticRelationshipWithoutFlag,
    ];

    /// The disagreement between a record's flag and relationship, if any. `NOT_KNOWN` and unset
    /// relationships never disagree.
    pub fn of(domestic_abuse_flag: bool, relationship: pb::Relationship) -> Option<Finding> {
        match (domestic_abuse_flag, relationship) {
            (true, r) if is_non_domestic_relationship(r) => {
                Some(Finding::FlagWithNonDomesticRelationship)
            }
            (false, r) if is_domestic_relationship(r) => {
                Some(Finding::DomesticRelationshipWithoutFlag)
            }
            _ => None,
        }
    }

    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Finding::FlagWithNonDomesticRelationship => "FLAG_WITH_NON_DOMESTIC_RELATIONSHIP",
            Finding::DomesticRelationshipWithoutFlag => "DOMESTIC_RELATIONSHIP_WITHOUT_FLAG",
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Finding {
    type Err = UnknownName;

    /// The stable name, exactly.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Finding::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownName(s.to_owned()))
    }
}

/// A name that is not one of the stable names of [`DomesticContext`] or [`Finding`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown name `{0}`")]
pub struct UnknownName(pub String);

/// A code's category in one crime's context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resolution<'a> {
    /// The category; `None` = out of scope of VAWG (a context class outside a domestic context
    /// with no `non_domestic_category`): the record is stored and counted in no VAWG figure.
    pub category: Option<&'a Category>,
    /// The crime's domestic context, whatever the code.
    pub domestic: DomesticContext,
    /// The flag and the relationship disagree. Set for context-class codes only, the codes the
    /// §2.9 table is about; [`Finding::of`] gives the same test for any record.
    pub finding: Option<Finding>,
}
