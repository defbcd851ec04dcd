//! One journey: an incident reported to the police — the people in it, the offences recorded
//! for it, drawn first — then each stage the journey may go through, in a fixed order. The
//! order of the draws from the seeded stream is what makes a seed give the same output, so the
//! steps must not be reordered.
//!
//! Every crime record carries the force's incident reference (`INC/<force>/<n>`); each offence
//! of the incident has its own crime reference, and a crime with two suspects is two records
//! (one suspect each) under one crime reference and incident. The incident's most serious
//! offence leads the justice journey (CPS, courts, orders); the other offences get police
//! outcomes that follow the lead's.

mod incident;
mod justice;
mod outcomes;
mod partners;
mod people;

use chrono::{DateTime, Utc};
use vawg_domain::definition::is_domestic_relationship;
use vawg_proto::pb::{self, Relationship, vawg_record::Event};

pub(super) use self::people::Population;
use self::{
    incident::{recorded, second_relationship},
    people::Setting,
};
use super::{
    catalogue::{Class, Crime, FORCES, Force},
    generator::{Gen, Person},
};

/// An area and its level, as records carry it.
type AreaOf = (&'static str, pb::AreaLevel);

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
    /// The incident's most serious offence, which leads the justice journey.
    crime: Crime,
    /// How the police (and the courts) record the lead offence.
    class: Class,
    victim: Person,
    /// The victim reported before (see [`Setting::repeat`]).
    repeat: bool,
    /// The suspects, each with the relationship the force recorded; empty: none identified.
    suspects: Vec<(Person, Relationship)>,
    /// The lead offence's references; the justice journey adds the URN and court number.
    refs: pb::CaseReferences,
    /// The incident's other offences: what, how recorded, their references.
    others: Vec<(Crime, Class, pb::CaseReferences)>,
    /// The force's domestic-abuse flag.
    flag: bool,
    /// Domestic context (`docs/counting.md` §2.9): flagged, or a partner, ex-partner or family
    /// relationship recorded.
    domestic: bool,
}

impl Journey {
    /// Generates journey `j` (first reports from `start` over a year) into `g`.
    pub(super) fn generate(
        g: &mut Gen,
        population: &mut Population,
        j: usize,
        start: DateTime<Utc>,
    ) {
        let setting = population.next(g, start);
        population.follow_up(g, &setting);
        let mut journey = Journey::draw(g, population, j, setting);
        journey.crimes_recorded(g);
        let closure = journey.investigation(g);
        journey.other_outcomes(g, closure);
        journey.domestic_violence_protection(g);
        journey.marac(g);
        journey.support(g);
        journey.health(g);
        journey.encompass(g);
        journey.police_satisfaction(g);
    }

    /// Draws the incident: its offences, the relationship and flag recorded, a second
    /// suspect, and the references.
    fn draw(g: &mut Gen, population: &mut Population, j: usize, s: Setting) -> Journey {
        let force = &FORCES[s.fi];
        let pfa = (force.gss, pb::AreaLevel::PoliceForceArea);
        let local = force
            .la
            .map(|la| (la, pb::AreaLevel::LocalAuthority))
            .unwrap_or(pfa);
        let offences = s.pattern.offences(g, s.relationship);
        let rec = recorded(g, s.pattern, s.relationship);
        let mut suspects: Vec<(Person, Relationship)> = s
            .suspect
            .map(|p| (p, rec.relationship))
            .into_iter()
            .collect();
        if g.chance(s.pattern.second_suspect_chance(s.relationship)) {
            let second = population.second_suspect(g, s.fi, s.at);
            suspects.push((second, second_relationship(g, rec.relationship)));
        }
        let incident = format!("INC/{}/{:06}", force.gss, j + 1);
        let (female, age) = (s.victim.female(), s.victim.age_on(s.at.date_naive()));
        let mut recorded_offences = offences.into_iter().map(|crime| {
            let refs = pb::CaseReferences {
                police_crime_reference: format!("CR/{}/{:06}", force.gss, g.next_crime()),
                incident_reference: incident.clone(),
                ..Default::default()
            };
            (crime, crime.police_class(&mut g.rng, female, age), refs)
        });
        let (crime, class, refs) = recorded_offences
            .next()
            .expect("an incident has an offence");
        let others = recorded_offences.collect();
        Journey {
            j,
            fi: s.fi,
            force,
            agencies: Agencies::of(force),
            pfa,
            local,
            crime_at: s.at,
            crime,
            class,
            victim: s.victim,
            repeat: s.repeat,
            suspects,
            refs,
            others,
            flag: rec.flag,
            domestic: rec.flag || is_domestic_relationship(rec.relationship),
        }
    }

    /// The first suspect, who is charged and tried.
    fn suspect(&self) -> Option<&Person> {
        self.suspects.first().map(|(p, _)| p)
    }

    /// The lead offence's VAWG category under vawg-v2; `None`: out of scope.
    fn category(&self) -> Option<&'static str> {
        self.crime.category(self.domestic)
    }

    /// The crimes as the police record them — each offence of the incident, one record per
    /// suspect — and the homicide, for the rare domestic homicide.
    fn crimes_recorded(&self, g: &mut Gen) {
        let lead = (self.crime, self.class, self.refs.clone());
        for (crime, class, refs) in std::iter::once(&lead).chain(&self.others) {
            let online = g.chance(match crime {
                Crime::Stalking | Crime::Harassment => 0.35,
                Crime::OtherSexual => 0.15,
                _ => 0.03,
            });
            let unknown = [(None, Relationship::NotKnown)];
            let suspects: Vec<(Option<&Person>, Relationship)> = if self.suspects.is_empty() {
                unknown.to_vec()
            } else {
                self.suspects.iter().map(|(p, r)| (Some(p), *r)).collect()
            };
            for (suspect, relationship) in suspects {
                g.emit(
                    &self.agencies.police,
                    "CR",
                    self.crime_at,
                    self.pfa,
                    pb::CountingUnit::Crime,
                    *class,
                    Some(&self.victim),
                    suspect,
                    refs,
                    Event::CrimeRecorded(pb::CrimeRecorded {
                        domestic_abuse_flag: self.flag,
                        relationship: relationship as i32,
                        online_flag: online,
                    }),
                );
            }
        }
        if self.crime == Crime::Homicide && self.domestic {
            self.domestic_homicide(g);
        }
    }

    /// The domestic homicide record.
    fn domestic_homicide(&self, g: &mut Gen) {
        let relationship = self.suspects.first().map(|(_, r)| *r);
        let homicide_type = match relationship {
            Some(Relationship::Partner | Relationship::ExPartner) => {
                pb::HomicideType::IntimatePartner
            }
            _ if self.victim.age_on(self.crime_at.date_naive()) < 16 => pb::HomicideType::Child,
            _ => pb::HomicideType::AdultFamily,
        };
        g.emit(
            &self.agencies.police,
            "DH",
            self.crime_at,
            self.pfa,
            pb::CountingUnit::Person,
            self.class,
            Some(&self.victim),
            self.suspect(),
            &self.refs,
            Event::DomesticHomicide(pb::DomesticHomicide {
                homicide_type: homicide_type as i32,
            }),
        );
    }
}
