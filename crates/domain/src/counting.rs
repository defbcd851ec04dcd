//! Victim scopes and counting rules, as pure functions.
//!
//! The same records give different VAWG figures depending on whom you count and how you count
//! offences. The National Audit Office (*Tackling violence against women and girls*, HC 547,
//! January 2025, paras 3.17–3.21) found that the Home Office, police forces and the Crime Survey
//! each use a different scope, and that police counting follows the Home Office Counting Rules'
//! principal crime rule, itself changed in 2017 and again in 2023. The hub makes both choices
//! explicit parameters so a metric can be reported under each, side by side.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;

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
    /// `ALL_OFFENCES`: every offence recorded counts. Closest to prevalence of offending; not
    /// what any published police series does.
    AllOffences,
    /// `PRINCIPAL_CRIME`: one crime per victim/perpetrator relationship, "the crime that is the
    /// most harmful to the victim" (Home Office Counting Rules, principal crime rule; NAO para
    /// 3.20). The rule in force since 2023.
    PrincipalCrime,
    /// `PRINCIPAL_PLUS_COURSE_OF_CONDUCT`: the principal crime, plus a course-of-conduct offence
    /// (stalking, harassment, controlling or coercive behaviour) where one was also committed —
    /// "two offences would be recorded" (NAO para 3.21). The rule from 2017 until 2023.
    PrincipalPlusCourseOfConduct,
}

impl CountingRule {
    /// Every rule, from the most inclusive to the least.
    pub const ALL: [CountingRule; 3] = [
        CountingRule::AllOffences,
        CountingRule::PrincipalCrime,
        CountingRule::PrincipalPlusCourseOfConduct,
    ];

    /// The stable name used in contracts, configuration and reports, e.g. `PRINCIPAL_CRIME`.
    pub fn as_str(&self) -> &'static str {
        match self {
            CountingRule::AllOffences => "ALL_OFFENCES",
            CountingRule::PrincipalCrime => "PRINCIPAL_CRIME",
            CountingRule::PrincipalPlusCourseOfConduct => "PRINCIPAL_PLUS_COURSE_OF_CONDUCT",
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

/// An offence as the counting rules see it: who, against whom, how harmful, when.
///
/// `harm_rank` and `course_of_conduct` are copied from the offence's category in the definition
/// version it was classified under, so counting needs no definition lookup. Ids are expected to
/// be unique within one call; they break ties deterministically.
#[derive(Clone, Debug)]
pub struct Offence {
    /// The offence (record) id.
    pub id: String,
    /// Victim pseudonym.
    pub victim: String,
    /// Suspect pseudonym; `None` = unknown suspect.
    pub suspect: Option<String>,
    /// Category id from the definition.
    pub category: String,
    /// The category's harm rank (1 = most harmful).
    pub harm_rank: u32,
    /// Whether the category is a course-of-conduct offence.
    pub course_of_conduct: bool,
    /// When the offence happened (or began).
    pub event_date: NaiveDate,
}

/// The relationship key used by the principal crime rule: `(victim, suspect)`.
///
/// An offence with an unknown suspect is its own relationship (`(victim, "unknown:" + id)`):
/// two offences by unknown suspects cannot be assumed to share a perpetrator, so neither may
/// absorb the other. Suspect pseudonyms are keyed hashes, so they cannot collide with the
/// `unknown:` prefix.
pub fn relationship_key(o: &Offence) -> (String, String) {
    let suspect = match &o.suspect {
        Some(s) => s.clone(),
        None => format!("unknown:{}", o.id),
    };
    (o.victim.clone(), suspect)
}

/// Most harmful first: lowest harm rank, then earliest event, then smallest id.
fn harm_order(o: &Offence) -> (u32, NaiveDate, &str) {
    (o.harm_rank, o.event_date, o.id.as_str())
}

/// The offences counted under `rule`, in input order.
///
/// - `ALL_OFFENCES`: all.
/// - `PRINCIPAL_CRIME`: one per victim/suspect relationship ([`relationship_key`]) — the most
///   harmful (lowest `harm_rank`; ties: earliest `event_date`, then smallest id).
/// - `PRINCIPAL_PLUS_COURSE_OF_CONDUCT`: the principal crime, plus — where the principal is not
///   itself a course-of-conduct offence — the most harmful course-of-conduct offence in the same
///   relationship, counted as well.
pub fn counted(offences: &[Offence], rule: CountingRule) -> Vec<&Offence> {
    if rule == CountingRule::AllOffences {
        return offences.iter().collect();
    }
    // Per relationship: index of the principal, and of the most harmful course-of-conduct
    // offence. The input index is the last tie-break, so the choice never depends on hash order.
    let better = |a: usize, b: usize| (harm_order(&offences[a]), a) < (harm_order(&offences[b]), b);
    let mut groups: HashMap<(String, String), (usize, Option<usize>)> = HashMap::new();
    for (i, o) in offences.iter().enumerate() {
        let entry = groups.entry(relationship_key(o)).or_insert((i, None));
        if better(i, entry.0) {
            entry.0 = i;
        }
        if o.course_of_conduct && entry.1.is_none_or(|c| better(i, c)) {
            entry.1 = Some(i);
        }
    }
    let mut chosen: HashSet<usize> = HashSet::with_capacity(groups.len() * 2);
    for (principal, course) in groups.into_values() {
        chosen.insert(principal);
        // If the principal is itself course of conduct, it is also the most harmful such offence,
        // so inserting it again adds nothing: one offence, counted once.
        if let (CountingRule::PrincipalPlusCourseOfConduct, Some(c)) = (rule, course) {
            chosen.insert(c);
        }
    }
    offences
        .iter()
        .enumerate()
        .filter(|(i, _)| chosen.contains(i))
        .map(|(_, o)| o)
        .collect()
}

/// How many offences are counted under `rule`.
pub fn count(offences: &[Offence], rule: CountingRule) -> usize {
    counted(offences, rule).len()
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::*;

    fn date(d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 1, 1).unwrap() + chrono::Days::new(u64::from(d))
    }

    fn offence(
        id: &str,
        victim: &str,
        suspect: Option<&str>,
        category: &str,
        rank: u32,
        coc: bool,
        day: u32,
    ) -> Offence {
        Offence {
            id: id.into(),
            victim: victim.into(),
            suspect: suspect.map(Into::into),
            category: category.into(),
            harm_rank: rank,
            course_of_conduct: coc,
            event_date: date(day),
        }
    }

    fn ids(v: &[&Offence]) -> Vec<String> {
        v.iter().map(|o| o.id.clone()).collect()
    }

    /// Harm ranks as in the embedded vawg-v1 definition.
    fn rape(id: &str, v: &str, s: Option<&str>, day: u32) -> Offence {
        offence(id, v, s, "rape", 2, false, day)
    }
    fn stalking(id: &str, v: &str, s: Option<&str>, day: u32) -> Offence {
        offence(id, v, s, "stalking", 5, true, day)
    }
    fn ccb(id: &str, v: &str, s: Option<&str>, day: u32) -> Offence {
        offence(id, v, s, "controlling_or_coercive_behaviour", 9, true, day)
    }
    fn assault(id: &str, v: &str, s: Option<&str>, day: u32) -> Offence {
        offence(id, v, s, "domestic_abuse", 7, false, day)
    }

    #[test]
    fn one_victim_one_suspect_rape_ccb_stalking() {
        let offences = vec![
            ccb("a", "v1", Some("s1"), 0),
            rape("b", "v1", Some("s1"), 3),
            stalking("c", "v1", Some("s1"), 5),
        ];
        assert_eq!(
            ids(&counted(&offences, CountingRule::PrincipalCrime)),
            ["b"]
        );
        // Rape is the principal; stalking is the most harmful course-of-conduct offence.
        assert_eq!(
            ids(&counted(
                &offences,
                CountingRule::PrincipalPlusCourseOfConduct
            )),
            ["b", "c"]
        );
        assert_eq!(count(&offences, CountingRule::AllOffences), 3);
        assert_eq!(count(&offences, CountingRule::PrincipalCrime), 1);
        assert_eq!(
            count(&offences, CountingRule::PrincipalPlusCourseOfConduct),
            2
        );
    }

    #[test]
    fn course_of_conduct_principal_is_not_counted_twice() {
        let offences = vec![
            stalking("a", "v1", Some("s1"), 0),
            ccb("b", "v1", Some("s1"), 1),
        ];
        assert_eq!(
            ids(&counted(&offences, CountingRule::PrincipalCrime)),
            ["a"]
        );
        assert_eq!(
            ids(&counted(
                &offences,
                CountingRule::PrincipalPlusCourseOfConduct
            )),
            ["a"]
        );
    }

    #[test]
    fn no_course_of_conduct_adds_nothing() {
        let offences = vec![
            assault("a", "v1", Some("s1"), 0),
            rape("b", "v1", Some("s1"), 1),
        ];
        assert_eq!(
            ids(&counted(
                &offences,
                CountingRule::PrincipalPlusCourseOfConduct
            )),
            ["b"]
        );
    }

    #[test]
    fn each_relationship_is_counted_separately() {
        let offences = vec![
            assault("a", "v1", Some("s1"), 0),
            assault("b", "v1", Some("s2"), 0),
            assault("c", "v2", Some("s1"), 0),
            assault("d", "v1", Some("s1"), 1),
        ];
        assert_eq!(
            ids(&counted(&offences, CountingRule::PrincipalCrime)),
            ["a", "b", "c"]
        );
    }

    #[test]
    fn unknown_suspects_are_separate_relationships() {
        let offences = vec![assault("a", "v1", None, 0), assault("b", "v1", None, 0)];
        assert_eq!(count(&offences, CountingRule::PrincipalCrime), 2);
        assert_eq!(
            relationship_key(&offences[0]),
            ("v1".into(), "unknown:a".into())
        );
    }

    #[test]
    fn ties_break_on_earliest_date_then_smallest_id() {
        let offences = vec![
            assault("c", "v1", Some("s1"), 2),
            assault("b", "v1", Some("s1"), 1),
            assault("a", "v1", Some("s1"), 1),
        ];
        assert_eq!(
            ids(&counted(&offences, CountingRule::PrincipalCrime)),
            ["a"]
        );
    }

    #[test]
    fn output_keeps_input_order() {
        let offences = vec![
            stalking("z", "v1", Some("s1"), 9),
            assault("y", "v2", Some("s2"), 0),
            rape("x", "v1", Some("s1"), 0),
        ];
        assert_eq!(
            ids(&counted(
                &offences,
                CountingRule::PrincipalPlusCourseOfConduct
            )),
            ["z", "y", "x"]
        );
    }

    #[test]
    fn empty_input() {
        for rule in CountingRule::ALL {
            assert_eq!(count(&[], rule), 0);
        }
    }

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
            CountingRule::parse("principal_crime"),
            Some(CountingRule::PrincipalCrime)
        );
        assert_eq!(VictimScope::parse("WOMEN"), None);
        assert_eq!(CountingRule::parse(""), None);
    }

    // ---------------------------------------------------------------------------------------
    // Properties
    // ---------------------------------------------------------------------------------------

    /// Offences over a few victims and suspects so relationships repeat; ids are unique.
    fn offences_strategy() -> impl Strategy<Value = Vec<Offence>> {
        prop::collection::vec(
            (
                0..4u8,
                prop::option::weighted(0.8, 0..3u8),
                1..7u32,
                any::<bool>(),
                0..20u32,
            ),
            0..40,
        )
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (v, s, rank, coc, day))| Offence {
                    id: format!("o{i:03}"),
                    victim: format!("v{v}"),
                    suspect: s.map(|s| format!("s{s}")),
                    category: format!("c{rank}"),
                    harm_rank: rank,
                    course_of_conduct: coc,
                    event_date: date(day),
                })
                .collect()
        })
    }

    fn by_relationship(offences: &[&Offence]) -> BTreeMap<(String, String), Vec<Offence>> {
        let mut map: BTreeMap<(String, String), Vec<Offence>> = BTreeMap::new();
        for o in offences {
            map.entry(relationship_key(o))
                .or_default()
                .push((*o).clone());
        }
        map
    }

    fn id_set(v: &[&Offence]) -> BTreeSet<String> {
        v.iter().map(|o| o.id.clone()).collect()
    }

    fn sex_strategy() -> impl Strategy<Value = Sex> {
        prop_oneof![Just(Sex::Female), Just(Sex::Male), Just(Sex::NotKnown)]
    }

    proptest! {
        #[test]
        fn principal_le_plus_coc_le_all(offences in offences_strategy()) {
            let p = count(&offences, CountingRule::PrincipalCrime);
            let pc = count(&offences, CountingRule::PrincipalPlusCourseOfConduct);
            let all = count(&offences, CountingRule::AllOffences);
            prop_assert!(p <= pc && pc <= all, "{p} {pc} {all}");
            // And as sets, not just counts.
            let p_ids = id_set(&counted(&offences, CountingRule::PrincipalCrime));
            let pc_ids = id_set(&counted(&offences, CountingRule::PrincipalPlusCourseOfConduct));
            prop_assert!(p_ids.is_subset(&pc_ids));
        }

        #[test]
        fn principal_is_one_per_relationship_and_minimal(offences in offences_strategy()) {
            let all: Vec<&Offence> = offences.iter().collect();
            let groups = by_relationship(&all);
            let principal = counted(&offences, CountingRule::PrincipalCrime);
            prop_assert_eq!(principal.len(), groups.len());
            let chosen = by_relationship(&principal);
            prop_assert_eq!(chosen.len(), groups.len());
            for (key, picked) in &chosen {
                prop_assert_eq!(picked.len(), 1);
                let min_rank = groups[key].iter().map(|o| o.harm_rank).min().unwrap();
                prop_assert_eq!(picked[0].harm_rank, min_rank);
            }
        }

        #[test]
        fn course_of_conduct_adds_at_most_one_per_relationship(offences in offences_strategy()) {
            let all: Vec<&Offence> = offences.iter().collect();
            let groups = by_relationship(&all);
            let principal = by_relationship(&counted(&offences, CountingRule::PrincipalCrime));
            let plus =
                by_relationship(&counted(&offences, CountingRule::PrincipalPlusCourseOfConduct));
            for (key, members) in &groups {
                let extra = plus[key].len() - principal[key].len();
                prop_assert!(extra <= 1);
                // Something is added exactly when the principal is not course of conduct and the
                // relationship has a course-of-conduct offence; what is added is course of conduct.
                let has_coc = members.iter().any(|o| o.course_of_conduct);
                let expected = usize::from(has_coc && !principal[key][0].course_of_conduct);
                prop_assert_eq!(extra, expected);
                let principal_id = &principal[key][0].id;
                prop_assert!(plus[key].iter().all(|o| &o.id == principal_id || o.course_of_conduct));
            }
        }

        #[test]
        fn independent_of_input_order(
            (offences, shuffled) in offences_strategy()
                .prop_flat_map(|v| (Just(v.clone()), Just(v).prop_shuffle()))
        ) {
            for rule in CountingRule::ALL {
                prop_assert_eq!(
                    id_set(&counted(&offences, rule)),
                    id_set(&counted(&shuffled, rule))
                );
            }
        }

        #[test]
        fn scopes_are_monotone(sex in sex_strategy(), age in prop::option::of(0..120u32)) {
            let all = VictimScope::AllVictims.includes(sex, age);
            prop_assert!(all);
            prop_assert!(!VictimScope::WomenAndGirls.includes(sex, age) || all);
            prop_assert!(!VictimScope::Aged16Plus.includes(sex, age) || all);
            prop_assert_eq!(VictimScope::WomenAndGirls.includes(sex, age), sex == Sex::Female);
            let adult = age.is_some_and(|a| a >= 16);
            prop_assert_eq!(VictimScope::Aged16Plus.includes(sex, age), adult);
        }
    }
}
