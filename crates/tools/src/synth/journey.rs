//! One victim journey: the crime and the people in it, drawn first, then each stage the
//! journey may go through, in a fixed order — the order of the draws from the seeded stream is
//! what makes a seed give the same output, so the steps must not be reordered.

mod justice;
mod partners;

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use vawg_proto::pb::{self, vawg_record::Event};

use super::{
    catalogue::{Crime, FORCES, Force},
    generator::{Gen, Person},
};

/// An area and its level, as records carry it.
type AreaOf = (&'static str, pb::AreaLevel);

/// The people already seen, by force (index into [`FORCES`]): some victims come back and some
/// suspects have several victims.
#[derive(Default)]
pub(super) struct Population {
    victims: Vec<(usize, Person)>,
    suspects: Vec<(usize, Person)>,
}

impl Population {
    /// Indexes of the people in `people` known to force `fi`.
    fn known_to(people: &[(usize, Person)], fi: usize) -> Vec<usize> {
        people
            .iter()
            .enumerate()
            .filter(|(_, (f, _))| *f == fi)
            .map(|(i, _)| i)
            .collect()
    }
}

/// The agencies of a journey's force area.
struct Agencies {
    police: String,
    cps: String,
    court: String,
    health: String,
    idva: String,
    isva: String,
}

impl Agencies {
    fn of(force: &Force) -> Agencies {
        Agencies {
            police: format!("police-{}", force.gss.to_ascii_lowercase()),
            cps: format!("cps-{}", force.slug),
            court: format!("hmcts-{}", force.slug),
            health: format!("nhs-{}", force.slug),
            idva: format!("support-idva-{}", force.slug),
            isva: format!("support-isva-{}", force.slug),
        }
    }
}

/// A journey being generated: what was drawn at its start, and the case references it gains
/// on the way.
pub(super) struct Journey {
    /// The journey's number (0-based), in its references.
    j: usize,
    /// The force's index in [`FORCES`].
    fi: usize,
    force: &'static Force,
    agencies: Agencies,
    /// The police force area.
    pfa: AreaOf,
    /// The local authority, or the police force area when none is modelled.
    local: AreaOf,
    crime_at: DateTime<Utc>,
    crime: Crime,
    victim: Person,
    /// The victim was already known to this force.
    repeat: bool,
    suspect: Option<Person>,
    refs: pb::CaseReferences,
    /// The Home Office offence code.
    ho: &'static str,
    /// Domestic abuse, or a crime between (ex-)partners.
    da_related: bool,
}

impl Journey {
    /// Generates journey `j` (crimes from `start` over a year) into `g`.
    pub(super) fn generate(
        g: &mut Gen,
        population: &mut Population,
        j: usize,
        start: DateTime<Utc>,
    ) {
        let (mut journey, relationship) = Journey::draw(g, population, j, start);
        journey.crime_recorded(g, relationship);
        journey.investigation(g);
        journey.domestic_violence_protection(g);
        journey.marac(g);
        journey.support(g);
        journey.health(g);
        journey.encompass(g);
        journey.police_satisfaction(g);
    }

    /// Draws the force, the crime, the victim, the suspect and their relationship.
    fn draw(
        g: &mut Gen,
        population: &mut Population,
        j: usize,
        start: DateTime<Utc>,
    ) -> (Journey, pb::Relationship) {
        let fi = pick_force(g);
        let force = &FORCES[fi];
        let pfa = (force.gss, pb::AreaLevel::PoliceForceArea);
        let local = force
            .la
            .map(|la| (la, pb::AreaLevel::LocalAuthority))
            .unwrap_or(pfa);
        let crime_at = start + Duration::minutes(g.rng.gen_range(0..365 * 24 * 60));
        let crime = draw_crime(g);
        let (victim, repeat) = draw_victim(g, population, fi, crime_at);
        let suspect = draw_suspect(g, population, fi, crime, &victim, crime_at);
        let refs = pb::CaseReferences {
            police_crime_reference: format!("CR/{}/{:06}", force.gss, j + 1),
            ..Default::default()
        };
        let ho = crime.ho_code(&mut g.rng);
        let relationship = draw_relationship(g, crime, suspect.is_some());
        let da_related = matches!(crime, Crime::DomesticAbuse | Crime::Homicide)
            || matches!(
                relationship,
                pb::Relationship::Partner | pb::Relationship::ExPartner
            );
        let journey = Journey {
            j,
            fi,
            force,
            agencies: Agencies::of(force),
            pfa,
            local,
            crime_at,
            crime,
            victim,
            repeat,
            suspect,
            refs,
            ho,
            da_related,
        };
        (journey, relationship)
    }

    /// The crime as the police record it (and the homicide, for the rare homicide).
    fn crime_recorded(&self, g: &mut Gen, relationship: pb::Relationship) {
        let online_flag = g.chance(0.1);
        g.emit(
            &self.agencies.police,
            "CR",
            self.crime_at,
            self.pfa,
            pb::CountingUnit::Crime,
            ("HO_OFFENCE", self.ho),
            Some(&self.victim),
            self.suspect.as_ref(),
            &self.refs,
            Event::CrimeRecorded(pb::CrimeRecorded {
                domestic_abuse_flag: self.da_related,
                relationship: relationship as i32,
                online_flag,
            }),
        );
        if self.crime == Crime::Homicide {
            g.emit(
                &self.agencies.police,
                "DH",
                self.crime_at,
                self.pfa,
                pb::CountingUnit::Person,
                ("HO_OFFENCE", "1"),
                Some(&self.victim),
                self.suspect.as_ref(),
                &self.refs,
                Event::DomesticHomicide(pb::DomesticHomicide {
                    homicide_type: pb::HomicideType::IntimatePartner as i32,
                }),
            );
        }
    }
}

/// A force, by weight.
fn pick_force(g: &mut Gen) -> usize {
    let total_weight: u32 = FORCES.iter().map(|f| f.weight).sum();
    let mut w = g.rng.gen_range(0..total_weight);
    FORCES
        .iter()
        .position(|f| {
            if w < f.weight {
                true
            } else {
                w -= f.weight;
                false
            }
        })
        .unwrap_or(0)
}

fn draw_crime(g: &mut Gen) -> Crime {
    let r: f64 = g.rng.r#gen();
    if r < 0.002 {
        Crime::Homicide
    } else if r < 0.55 {
        Crime::DomesticAbuse
    } else if r < 0.65 {
        Crime::Stalking
    } else if r < 0.75 {
        Crime::Harassment
    } else if r < 0.85 {
        Crime::Rape
    } else {
        Crime::OtherSexual
    }
}

/// The victim: sometimes someone already known to this force (a repeat victim). Returns the
/// victim and whether they were known.
fn draw_victim(
    g: &mut Gen,
    population: &mut Population,
    fi: usize,
    crime_at: DateTime<Utc>,
) -> (Person, bool) {
    let known = Population::known_to(&population.victims, fi);
    let repeat = !known.is_empty() && g.chance(0.15);
    let victim = if repeat {
        population.victims[known[g.rng.gen_range(0..known.len())]]
            .1
            .clone()
    } else {
        let female = g.rng.gen_bool(0.8);
        let age = if g.chance(0.06) {
            g.rng.gen_range(13..16)
        } else {
            g.rng.gen_range(16..75)
        };
        let p = g.person(female, age, crime_at.date_naive());
        population.victims.push((fi, p.clone()));
        p
    };
    (victim, repeat)
}

/// The suspect: unknown for some crimes; sometimes a suspect with other victims.
fn draw_suspect(
    g: &mut Gen,
    population: &mut Population,
    fi: usize,
    crime: Crime,
    victim: &Person,
    crime_at: DateTime<Utc>,
) -> Option<Person> {
    let known = Population::known_to(&population.suspects, fi);
    if crime != Crime::DomesticAbuse && g.chance(0.12) {
        None
    } else if !known.is_empty() && g.chance(0.1) {
        Some(
            population.suspects[known[g.rng.gen_range(0..known.len())]]
                .1
                .clone(),
        )
    } else {
        let female_victim = victim.demographics.sex == pb::Sex::Female as i32;
        let female = !female_victim && g.chance(0.3);
        let age = g.rng.gen_range(17..70);
        let mut s = g.person(female, age, crime_at.date_naive());
        s.ids.pnc_id = format!("SYN/{:07}", g.people);
        population.suspects.push((fi, s.clone()));
        Some(s)
    }
}

fn draw_relationship(g: &mut Gen, crime: Crime, suspect_known: bool) -> pb::Relationship {
    match crime {
        Crime::DomesticAbuse | Crime::Homicide => {
            if g.chance(0.55) {
                pb::Relationship::Partner
            } else if g.chance(0.6) {
                pb::Relationship::ExPartner
            } else {
                pb::Relationship::FamilyMember
            }
        }
        Crime::Stalking | Crime::Harassment => {
            if g.chance(0.5) {
                pb::Relationship::ExPartner
            } else {
                pb::Relationship::Acquaintance
            }
        }
        _ if !suspect_known => pb::Relationship::NotKnown,
        _ => {
            if g.chance(0.4) {
                pb::Relationship::Acquaintance
            } else if g.chance(0.5) {
                pb::Relationship::Partner
            } else {
                pb::Relationship::Stranger
            }
        }
    }
}
