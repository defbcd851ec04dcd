//! What happens in an incident: the pattern of abuse a first report shows, the offences the
//! police record for it, the relationship they record, the domestic-abuse flag, and whether a
//! second suspect took part.
//!
//! Proportions are plausible rather than estimates; where a public figure exists it is cited:
//!
//! - [NAO] National Audit Office, *Tackling violence against women and girls*, HC 547, January
//!   2025 (`/work/shared/seeds`, file 001): para 1.2 — the police flagged nearly 831,000 offences
//!   as domestic abuse-related in the year ending June 2024, more than 650,000 of them violence
//!   against the person (about 78%), and 33% of all violence-against-the-person offences were
//!   flagged; the victim was female in 86% of police-recorded sexual offences; 36% of sexual
//!   offences were rape; key facts — 97% of people convicted of sexual offences were male,
//!   "with a high proportion known to the victim".
//! - [ONS15] ONS, *Focus on: Violent Crime and Sexual Offences, year ending March 2015*,
//!   experimental statistics 2: where the victim of violence against the person was a woman, 50%
//!   of offences were domestic abuse-related, against 16% for men (the source vawg-v2 cites).
//! - [ONS17] ONS, *Domestic abuse in England and Wales: year ending March 2017*: women were the
//!   victims in around three-quarters of domestic abuse-related crimes recorded by the police.
//! - [ONS19] ONS, *Domestic abuse victim characteristics, year ending March 2019*: 74% of victims
//!   of domestic homicide were female, against 13% of victims of non-domestic homicide.
//!
//! Under vawg-v2 these choices make the counting rules differ as they do in reality
//! (`docs/counting.md` §2): several offences per incident separate `ALL_OFFENCES`,
//! `PRINCIPAL_PLUS_COURSE_OF_CONDUCT` and `PRINCIPAL_CRIME`; repeat incidents in one
//! relationship (`people.rs`) separate `PRINCIPAL_CRIME` from `ONE_PER_RELATIONSHIP`; two-suspect
//! crimes are one offence under every rule; stranger violence is out of scope.

use vawg_domain::definition::is_domestic_relationship;
use vawg_proto::pb::Relationship;

use crate::synth::{catalogue::Crime, generator::Gen};

/// The kind of abuse a first report shows; repeat incidents of a relationship keep it (or turn
/// domestic, see `people.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Pattern {
    /// Violence or coercive control by a partner, ex-partner or family member.
    Domestic,
    /// Stalking or harassment.
    Stalking,
    /// Rape or another sexual offence.
    Sexual,
    /// Violence by a stranger or an acquaintance: out of scope of VAWG under vawg-v2 unless
    /// another category applies in the incident (strangulation, harassment) or the force flags it.
    Violence,
    /// Murder or manslaughter.
    Homicide,
}

impl Pattern {
    /// The pattern of a first report. Domestic abuse dominates, as in police data (831,000
    /// domestic abuse-related offences against 194,000 sexual offences [NAO]); sexual offences
    /// are over-represented (a quarter, rape 36% of them [NAO]) so that the justice stages of
    /// rape cases, whose delays the demo reports, have cases enough; a tenth is violence by
    /// strangers and acquaintances, which vawg-v1 counted as domestic abuse and vawg-v2 leaves
    /// out of scope; homicide is rare. So most violence against the person here is domestic,
    /// unlike all police-recorded violence (33% flagged [NAO]): the data are a VAWG extract,
    /// not all crime.
    pub(super) fn draw(g: &mut Gen) -> Pattern {
        g.weighted(&[
            (Pattern::Homicide, 3),
            (Pattern::Domestic, 450),
            (Pattern::Stalking, 180),
            (Pattern::Sexual, 250),
            (Pattern::Violence, 117),
        ])
    }

    /// The chance that the victim is female: around three-quarters for domestic abuse
    /// [ONS17], 86% for sexual offences [NAO], 74% against 13% for domestic and non-domestic
    /// homicide [ONS19] (here 70% and 30%: a VAWG extract over-represents women); violence by
    /// strangers and acquaintances is mostly against men, but forces' VAWG extracts skew female.
    pub(super) fn female_share(self, relationship: Relationship) -> f64 {
        match self {
            Pattern::Domestic => 0.75,
            Pattern::Stalking => 0.8,
            Pattern::Sexual => 0.86,
            Pattern::Violence => 0.55,
            Pattern::Homicide if is_domestic_relationship(relationship) => 0.7,
            Pattern::Homicide => 0.3,
        }
    }

    /// The suspect's true relationship to the victim (`NotKnown`: no suspect identified).
    /// Sexual offences are mostly by someone known to the victim [NAO key facts]; stalking
    /// and harassment mostly by ex-partners and acquaintances.
    pub(super) fn relationship(self, g: &mut Gen) -> Relationship {
        use Relationship::*;
        match self {
            Pattern::Domestic => g.weighted(&[(Partner, 50), (ExPartner, 32), (FamilyMember, 18)]),
            Pattern::Stalking => g.weighted(&[(ExPartner, 45), (Acquaintance, 40), (Stranger, 15)]),
            Pattern::Sexual => g.weighted(&[
                (Partner, 12),
                (ExPartner, 8),
                (FamilyMember, 6),
                (Acquaintance, 42),
                (Stranger, 18),
                (NotKnown, 14),
            ]),
            Pattern::Violence => g.weighted(&[(Stranger, 45), (Acquaintance, 40), (NotKnown, 15)]),
            Pattern::Homicide => g.weighted(&[
                (Partner, 45),
                (ExPartner, 15),
                (FamilyMember, 15),
                (Acquaintance, 15),
                (Stranger, 10),
            ]),
        }
    }

    /// The offences the police record for one incident, most serious first.
    ///
    /// - Domestic: 17% of incidents hold more than one offence — an assault with controlling
    ///   or coercive behaviour (10%), with strangulation (5%), or with both (2%); 12% are
    ///   controlling or coercive behaviour alone. Both offences are over-represented against
    ///   police data (where coercive control and strangulation are each a few percent of
    ///   domestic violence against the person) because they are what separates the counting
    ///   rules. An assault with criminal damage is recorded as the assault alone here:
    ///   criminal damage is no VAWG offence (the hub rejects its code).
    /// - Stalking and harassment: 18% stalking with harassment (e.g. malicious
    ///   communications) in one report — what the 2023 counting change stopped counting
    ///   twice — and 7% stalking with an assault, by an ex-partner.
    /// - Sexual: 10% of incidents hold a rape with a sexual assault or a strangulation.
    /// - Violence by strangers and acquaintances: 5% with a strangulation, in scope whatever
    ///   the relationship, and 5% with harassment.
    pub(super) fn offences(self, g: &mut Gen, relationship: Relationship) -> Vec<Crime> {
        use Crime::*;
        let mut offences = match self {
            Pattern::Domestic => g
                .weighted(&[
                    (&[Assault][..], 70),
                    (&[Assault, Coercive][..], 10),
                    (&[Strangulation, Assault][..], 5),
                    (&[Strangulation, Assault, Coercive][..], 2),
                    (&[Coercive][..], 12),
                    (&[Strangulation][..], 1),
                ])
                .to_vec(),
            Pattern::Stalking => g
                .weighted(&[
                    (&[Stalking][..], 45),
                    (&[Stalking, Harassment][..], 18),
                    (&[Harassment][..], 30),
                    (&[Stalking, Assault][..], 7),
                ])
                .to_vec(),
            Pattern::Sexual => g
                .weighted(&[
                    (&[Rape][..], 30),
                    (&[Rape, OtherSexual][..], 6),
                    (&[Rape, Strangulation][..], 4),
                    (&[OtherSexual][..], 60),
                ])
                .to_vec(),
            Pattern::Violence => g
                .weighted(&[
                    (&[Assault][..], 90),
                    (&[Strangulation, Assault][..], 5),
                    (&[Assault, Harassment][..], 5),
                ])
                .to_vec(),
            Pattern::Homicide => vec![Homicide],
        };
        // Stalking with violence, in these data, is an ex-partner's.
        if self == Pattern::Stalking && relationship != Relationship::ExPartner {
            offences.retain(|o| *o != Assault);
        }
        offences.sort_by_key(|o| o.harm_rank());
        offences
    }

    /// The chance that a second suspect took part (two records of each crime, one suspect
    /// each): group sexual offences and street violence, and family members acting together.
    pub(super) fn second_suspect_chance(self, relationship: Relationship) -> f64 {
        match (self, relationship) {
            (_, Relationship::NotKnown) => 0.0,
            (Pattern::Sexual, Relationship::Acquaintance | Relationship::Stranger) => 0.1,
            (Pattern::Violence, _) => 0.12,
            (Pattern::Domestic, Relationship::FamilyMember) => 0.1,
            _ => 0.0,
        }
    }

    /// The chance that the victim reports this relationship again after a first report (each
    /// further report: [`CONTINUE`]). Domestic abuse and stalking are repeated by nature; a
    /// sexual offence by a partner or acquaintance less often; never a stranger here.
    pub(super) fn repeat_chance(self, relationship: Relationship) -> f64 {
        match (self, relationship) {
            (_, Relationship::NotKnown | Relationship::Stranger) => 0.0,
            (Pattern::Homicide | Pattern::Violence, _) => 0.0,
            (Pattern::Domestic | Pattern::Stalking, _) => 0.3,
            (Pattern::Sexual, r) if is_domestic_relationship(r) => 0.15,
            (Pattern::Sexual, _) => 0.05,
        }
    }
}

/// The chance of one more report after a repeat report.
pub(super) const CONTINUE: f64 = 0.35;

/// The relationship and flag a force records for an incident.
pub(super) struct Recorded {
    pub(super) relationship: Relationship,
    pub(super) flag: bool,
}

/// How the force records the relationship and the domestic-abuse flag. Most crimes between
/// partners, ex-partners and family members are flagged (92%; 85% for sexual offences); the
/// rest are unflagged (a `DOMESTIC_RELATIONSHIP_WITHOUT_FLAG` data-quality finding, counted as
/// domestic by the relationship). A few domestic incidents are mis-keyed as STRANGER yet
/// flagged (2%), and 3% of crimes by acquaintances and strangers are flagged anyway (both a
/// `FLAG_WITH_NON_DOMESTIC_RELATIONSHIP` finding: the flag wins). Crimes with no suspect are
/// never flagged.
pub(super) fn recorded(g: &mut Gen, pattern: Pattern, relationship: Relationship) -> Recorded {
    if pattern == Pattern::Domestic && g.chance(0.02) {
        return Recorded {
            relationship: Relationship::Stranger,
            flag: true,
        };
    }
    let flag = if is_domestic_relationship(relationship) {
        g.chance(if pattern == Pattern::Sexual {
            0.85
        } else {
            0.92
        })
    } else if relationship == Relationship::NotKnown {
        false
    } else {
        g.chance(0.03)
    };
    Recorded { relationship, flag }
}

/// The relationship recorded for a second suspect: the same kind of relationship, or a
/// stranger among an acquaintance's companions.
pub(super) fn second_relationship(g: &mut Gen, first: Relationship) -> Relationship {
    match first {
        Relationship::Acquaintance if g.chance(0.5) => Relationship::Stranger,
        r => r,
    }
}
