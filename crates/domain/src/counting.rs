//! Victim scopes and counting rules, as pure functions (`docs/counting.md` is the
//! specification; section numbers below are its).
//!
//! The same records give different VAWG figures depending on whom you count and how you count
//! offences. The National Audit Office (*Tackling violence against women and girls*, HC 547,
//! January 2025, paras 3.17–3.21) found that the Home Office, police forces and the Crime Survey
//! each use a different scope, and that police counting follows the Home Office Counting Rules'
//! principal crime rule, itself changed in 2017 and again in 2023. The hub makes both choices
//! explicit parameters so a metric can be reported under each, side by side.

mod offences;

pub use offences::{CrimeRecord, Offence, offences, picked};

/// A victim's recorded sex, as far as scope filtering needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Sex {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Not recorded or not known.
    NotKnown,
}

/// Whose victimisation is counted.
///
/// The three scopes are the ones the NAO found in use (report para 3.17, and para 3.18 for the
/// Crime Survey); keeping them separate is what lets the hub show why published figures differ.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VictimScope {
    /// `ALL_VICTIMS`: every victim, of any age and any sex — the Home Office definition of VAWG
    /// "includes all victims, across all age ranges and genders" (NAO para 3.17).
    AllVictims,
    /// `WOMEN_AND_GIRLS`: female victims of any age — "police forces only include women and
    /// girls" (NAO para 3.17). A victim whose sex is not known is excluded, because the scope
    /// cannot be shown to apply.
    WomenAndGirls,
    /// `AGED_16_PLUS`: victims aged 16 or over, of any sex — the Crime Survey for England and
    /// Wales "does not include children under the age of 16" (NAO para 3.18). A victim whose age
    /// at the event is not known is excluded, for the same reason as unknown sex above; such
    /// victims still count under `ALL_VICTIMS`, so the difference stays visible.
    Aged16Plus,
}

impl VictimScope {
    /// Every scope, in the order they are usually reported.
    pub const ALL: [VictimScope; 3] = [
        VictimScope::AllVictims,
        VictimScope::WomenAndGirls,
        VictimScope::Aged16Plus,
    ];

    /// Whether a victim of this sex and age at the event falls within the scope.
    pub fn includes(&self, sex: Sex, age_at_event: Option<u32>) -> bool {
        match self {
            VictimScope::AllVictims => true,
            VictimScope::WomenAndGirls => sex == Sex::Female,
            VictimScope::Aged16Plus => age_at_event.is_some_and(|age| age >= 16),
        }
    }

    /// The stable name used in contracts, configuration and reports, e.g. `ALL_VICTIMS`.
    pub fn as_str(&self) -> &'static str {
        match self {
            VictimScope::AllVictims => "ALL_VICTIMS",
            VictimScope::WomenAndGirls => "WOMEN_AND_GIRLS",
            VictimScope::Aged16Plus => "AGED_16_PLUS",
        }
    }

    /// Parses the name produced by [`VictimScope::as_str`] (trimmed, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str().eq_ignore_ascii_case(s))
    }
}

/// How offences against the same victim are counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CountingRule {
    /// `ALL_OFFENCES`: every offence counts once; records of one crime that differ only by
    /// suspect are one offence (section 2.4). Closest to offending; not what any published
    /// police series does.
    AllOffences,
    /// `PRINCIPAL_CRIME`: per victim per incident, the single most serious offence, however
    /// many offenders took part (Home Office Counting Rules, General Rules sections D "One
    /// Crime per Victim" and F "Principal Crime Rule"; section 2.5). The rule since 2023.
    PrincipalCrime,
    /// `PRINCIPAL_PLUS_COURSE_OF_CONDUCT`: per victim per incident, the most serious offence
    /// that is not a course of conduct plus the most serious one that is — the course-of-conduct
    /// offence "recorded in addition to the most serious additional offence" (Home Office table
    /// notes; NAO para 3.21; section 2.6). The rule from 2017/18 until 2023.
    PrincipalPlusCourseOfConduct,
    /// `ONE_PER_RELATIONSHIP`: the NAO's one-line summary (para 3.20), "one crime per
    /// victim/perpetrator relationship", over all time: a victim's principal crimes joined by a
    /// shared suspect count once, the most serious (section 2.7). Later incidents change past
    /// months under this rule, by design.
    OnePerRelationship,
}

impl CountingRule {
    /// Every rule, in the contract's order. From the most inclusive to the least, the order is
    /// `ALL_OFFENCES ≥ PRINCIPAL_PLUS_COURSE_OF_CONDUCT ≥ PRINCIPAL_CRIME ≥ ONE_PER_RELATIONSHIP`,
    /// cell by cell (section 2.8; property-tested).
    pub const ALL: [CountingRule; 4] = [
        CountingRule::AllOffences,
        CountingRule::PrincipalCrime,
        CountingRule::PrincipalPlusCourseOfConduct,
        CountingRule::OnePerRelationship,
    ];

    /// The stable name used in contracts, configuration and reports, e.g. `PRINCIPAL_CRIME`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CountingRule::AllOffences => "ALL_OFFENCES",
            CountingRule::PrincipalCrime => "PRINCIPAL_CRIME",
            CountingRule::PrincipalPlusCourseOfConduct => "PRINCIPAL_PLUS_COURSE_OF_CONDUCT",
            CountingRule::OnePerRelationship => "ONE_PER_RELATIONSHIP",
        }
    }

    /// Parses the name produced by [`CountingRule::as_str`] (trimmed, case-insensitive).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        Self::ALL
            .into_iter()
            .find(|rule| rule.as_str().eq_ignore_ascii_case(s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes() {
        use VictimScope::*;
        assert!(AllVictims.includes(Sex::NotKnown, None));
        assert!(WomenAndGirls.includes(Sex::Female, Some(9)));
        assert!(WomenAndGirls.includes(Sex::Female, None));
        assert!(!WomenAndGirls.includes(Sex::Male, Some(30)));
        assert!(!WomenAndGirls.includes(Sex::NotKnown, Some(30)));
        assert!(Aged16Plus.includes(Sex::Male, Some(16)));
        assert!(!Aged16Plus.includes(Sex::Female, Some(15)));
        assert!(!Aged16Plus.includes(Sex::Female, None));
    }

    #[test]
    fn names_round_trip() {
        for scope in VictimScope::ALL {
            assert_eq!(VictimScope::parse(scope.as_str()), Some(scope));
        }
        for rule in CountingRule::ALL {
            assert_eq!(CountingRule::parse(rule.as_str()), Some(rule));
        }
        assert_eq!(
            VictimScope::parse(" women_and_girls "),
            Some(VictimScope::WomenAndGirls)
        );
        assert_eq!(
            CountingRule::parse("one_per_relationship"),
            Some(CountingRule::OnePerRelationship)
        );
        assert_eq!(VictimScope::parse("WOMEN"), None);
        assert_eq!(CountingRule::parse(""), None);
    }
}
