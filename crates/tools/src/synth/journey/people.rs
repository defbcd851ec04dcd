//! The people of an incident and when it happens: a first report (a new victim, or now and then
//! one the force already knows, with a new suspect or a suspect with other victims), or the next
//! report of a relationship already reported (a repeat incident: same victim, same suspect,
//! later).
//!
//! Repeat incidents: after a first report of domestic abuse or stalking, 30% of victims report
//! the same suspect again, and after each repeat report 35% report once more (so about 46
//! further reports per 100 such relationships); fewer for sexual offences, none for strangers
//! (`incident.rs`). These rates are our assumption: no published rate of police-recorded repeat
//! reports was retrievable (the NAO report gives none). The window follows the usual one:
//! SafeLives counts a Marac case as a repeat when a further incident between the same victim
//! and perpetrator comes within 12 months of the last referral (safelives.org.uk, "Definition of
//! a 'repeat' at Marac"), and the hub's repeat-victimisation metric looks back 365 days. Repeats
//! follow their predecessor by an Erlang(2) delay with a mean of 200 days (capped at 800): about
//! 88% within 12 months, the rest later, so some repeat reports fall in that window and some do
//! not.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use vawg_domain::definition::is_domestic_relationship;
use vawg_proto::pb::Relationship;

use super::incident::{CONTINUE, Pattern};
use crate::synth::{
    catalogue::FORCES,
    generator::{Gen, Person},
};

/// Mean days from one report of a relationship to the next.
const REPEAT_MEAN_DAYS: f64 = 200.0;

/// A relationship that will be reported again.
#[derive(Clone)]
struct Thread {
    fi: usize,
    victim: Person,
    suspect: Person,
    relationship: Relationship,
    pattern: Pattern,
    /// When the previous report was made.
    last: DateTime<Utc>,
    /// Reports so far.
    reports: u32,
}

/// The people already seen, by force (index into [`FORCES`]), and the relationship to be
/// reported next, if any.
#[derive(Default)]
pub(in crate::synth) struct Population {
    victims: Vec<(usize, Person)>,
    suspects: Vec<(usize, Person)>,
    next: Option<Thread>,
}

/// What an incident starts from: where, when, what kind, and who.
pub(super) struct Setting {
    /// The force's index in [`FORCES`].
    pub(super) fi: usize,
    /// When it was reported.
    pub(super) at: DateTime<Utc>,
    pub(super) pattern: Pattern,
    pub(super) victim: Person,
    /// The suspect's true relationship to the victim (`NotKnown`: no suspect identified).
    pub(super) relationship: Relationship,
    pub(super) suspect: Option<Person>,
    /// The victim reported before: this relationship within the last 12 months, or (on a first
    /// report) another relationship to this force.
    pub(super) repeat: bool,
    /// Reports of this relationship so far, this one included.
    reports: u32,
}

impl Population {
    /// The next incident: the pending report of a known relationship, or a first report.
    pub(super) fn next(&mut self, g: &mut Gen, start: DateTime<Utc>) -> Setting {
        let Some(t) = self.next.take() else {
            return self.first_report(g, start);
        };
        let at = t.last + g.delay(REPEAT_MEAN_DAYS);
        // Repeat reports stay within three years of the first reports' year, so that no record
        // (justice stages follow a crime by up to about two years) is dated in the future,
        // which ingest refuses: a longer chain ends here.
        if at > start + Duration::days(3 * 365) {
            return self.first_report(g, start);
        }
        // A partner who raped or stalked goes on abusing: later reports are domestic abuse.
        let pattern = match t.pattern {
            Pattern::Sexual if is_domestic_relationship(t.relationship) => Pattern::Domestic,
            p => p,
        };
        Setting {
            fi: t.fi,
            at,
            pattern,
            victim: t.victim,
            relationship: t.relationship,
            suspect: Some(t.suspect),
            repeat: at - t.last <= Duration::days(365),
            reports: t.reports + 1,
        }
    }

    /// Decides whether the relationship of `s` will be reported again (the next incident).
    pub(super) fn follow_up(&mut self, g: &mut Gen, s: &Setting) {
        let Some(suspect) = &s.suspect else { return };
        let chance = if s.reports == 1 {
            s.pattern.repeat_chance(s.relationship)
        } else {
            CONTINUE
        };
        if chance > 0.0 && g.chance(chance) {
            self.next = Some(Thread {
                fi: s.fi,
                victim: s.victim.clone(),
                suspect: suspect.clone(),
                relationship: s.relationship,
                pattern: s.pattern,
                last: s.at,
                reports: s.reports,
            });
        }
    }

    /// A first report: the force, the date (uniform over the year from `start`), the pattern,
    /// the relationship, the victim and the suspect.
    fn first_report(&mut self, g: &mut Gen, start: DateTime<Utc>) -> Setting {
        let fi = pick_force(g);
        let at = start + Duration::minutes(g.rng.gen_range(0..365 * 24 * 60));
        let pattern = Pattern::draw(g);
        let relationship = pattern.relationship(g);
        let (victim, repeat) = self.victim(g, fi, at, pattern.female_share(relationship));
        let suspect = (relationship != Relationship::NotKnown)
            .then(|| self.suspect(g, fi, pattern, &victim, at));
        Setting {
            fi,
            at,
            pattern,
            victim,
            relationship,
            suspect,
            repeat,
            reports: 1,
        }
    }

    /// The victim of a first report: 5% are already known to the force (victims of another
    /// relationship); the rest are new, female with chance `female`, 6% aged 13-15. Returns
    /// the victim and whether they were known.
    fn victim(&mut self, g: &mut Gen, fi: usize, at: DateTime<Utc>, female: f64) -> (Person, bool) {
        let known = known_to(&self.victims, fi);
        if !known.is_empty() && g.chance(0.05) {
            let i = known[g.rng.gen_range(0..known.len())];
            return (self.victims[i].1.clone(), true);
        }
        let female = g.chance(female);
        let age = if g.chance(0.06) {
            g.rng.gen_range(13..16)
        } else {
            g.rng.gen_range(16..75)
        };
        let p = g.person(female, age, at.date_naive());
        self.victims.push((fi, p.clone()));
        (p, false)
    }

    /// The suspect of a first report: 8% a suspect the force knows from another victim, else
    /// a new person: male for nearly every female victim (97% of people convicted of sexual
    /// offences are male, NAO key facts), female for 30% of male victims.
    fn suspect(
        &mut self,
        g: &mut Gen,
        fi: usize,
        pattern: Pattern,
        victim: &Person,
        at: DateTime<Utc>,
    ) -> Person {
        let known = known_to(&self.suspects, fi);
        if !known.is_empty() && g.chance(0.08) {
            return self.suspects[known[g.rng.gen_range(0..known.len())]]
                .1
                .clone();
        }
        let female = if victim.female() {
            g.chance(if pattern == Pattern::Sexual {
                0.03
            } else {
                0.05
            })
        } else {
            g.chance(0.3)
        };
        self.new_suspect(g, fi, female, at)
    }

    /// A second suspect in a crime: a new person, male in nine cases out of ten.
    pub(super) fn second_suspect(&mut self, g: &mut Gen, fi: usize, at: DateTime<Utc>) -> Person {
        let female = g.chance(0.1);
        self.new_suspect(g, fi, female, at)
    }

    fn new_suspect(&mut self, g: &mut Gen, fi: usize, female: bool, at: DateTime<Utc>) -> Person {
        let age = g.rng.gen_range(17..70);
        let mut s = g.person(female, age, at.date_naive());
        s.ids.pnc_id = format!("SYN/{:07}", g.people);
        self.suspects.push((fi, s.clone()));
        s
    }
}

/// Indexes of the people in `people` known to force `fi`.
fn known_to(people: &[(usize, Person)], fi: usize) -> Vec<usize> {
    people
        .iter()
        .enumerate()
        .filter(|(_, (f, _))| *f == fi)
        .map(|(i, _)| i)
        .collect()
}

/// A force, by weight.
fn pick_force(g: &mut Gen) -> usize {
    let weights: Vec<(usize, u32)> = FORCES.iter().map(|f| f.weight).enumerate().collect();
    g.weighted(&weights)
}
