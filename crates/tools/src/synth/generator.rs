//! The generator's state and its primitives: chances and delays from the seeded stream, fake
//! people, and records emitted in the contract's shape.

use std::collections::HashSet;

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use vawg_domain::pseudonym::nhs_check_digit;
use vawg_proto::pb::{self, vawg_record::Event};

use super::catalogue::{FAMILY, GIVEN, GIVEN_MALE, weighted};

/// A synthetic person: identifiers, demographics and date of birth.
#[derive(Clone)]
pub(super) struct Person {
    pub(super) ids: pb::PersonIdentifiers,
    pub(super) demographics: pb::Demographics,
    birth: NaiveDate,
}

impl Person {
    /// Whether the person is female.
    pub(super) fn female(&self) -> bool {
        self.demographics.sex == pb::Sex::Female as i32
    }

    /// Age in whole years on `at`.
    pub(super) fn age_on(&self, at: NaiveDate) -> u32 {
        ((at - self.birth).num_days() / 365) as u32
    }
}

/// The generator: one seeded random stream (every draw, in order, decides the output) and the
/// records emitted so far.
pub(super) struct Gen {
    pub(super) rng: ChaCha8Rng,
    pub(super) out: Vec<pb::VawgRecord>,
    next_id: u64,
    pub(super) people: u64,
    /// NHS numbers given out: each person has their own (the hub links people by it).
    nhs_numbers: HashSet<String>,
    /// Crime references given out.
    crimes: u64,
}

fn letters(mut n: u64) -> String {
    let mut s = String::new();
    loop {
        s.push((b'a' + (n % 26) as u8) as char);
        n /= 26;
        if n == 0 {
            break;
        }
    }
    let mut chars: Vec<char> = s.chars().collect();
    chars.reverse();
    let mut out: String = chars.into_iter().collect();
    if let Some(first) = out.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    out
}

fn ts(t: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}

pub(super) fn date(d: NaiveDate) -> pb::Date {
    pb::Date {
        year: d.year(),
        month: d.month() as i32,
        day: d.day() as i32,
    }
}

fn month_of(t: DateTime<Utc>) -> pb::ReferencePeriod {
    let d = t.date_naive();
    let start = d.with_day(1).expect("day 1 exists");
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    }
    .expect("valid month");
    pb::ReferencePeriod {
        start: Some(date(start)),
        end: Some(date(next - Duration::days(1))),
    }
}

impl Gen {
    /// A generator seeded with `seed`, nothing emitted yet.
    pub(super) fn new(seed: u64) -> Gen {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            out: Vec::new(),
            next_id: 0,
            people: 0,
            nhs_numbers: HashSet::new(),
            crimes: 0,
        }
    }

    /// The next police crime number (from 1).
    pub(super) fn next_crime(&mut self) -> u64 {
        self.crimes += 1;
        self.crimes
    }

    /// Picks from `(item, weight)` pairs, with chances proportional to the weights.
    pub(super) fn weighted<T: Copy>(&mut self, items: &[(T, u32)]) -> T {
        weighted(&mut self.rng, items)
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    /// Erlang(2) delay in days with the given mean (capped at four times the mean).
    pub(super) fn delay(&mut self, mean_days: f64) -> Duration {
        let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        // Capped at four times the mean so that no journey runs into the future.
        let days = (-(mean_days / 2.0) * (u1.ln() + u2.ln())).min(4.0 * mean_days);
        Duration::minutes((days * 24.0 * 60.0) as i64 + 60)
    }

    /// A new person of that sex and age on `at`.
    pub(super) fn person(&mut self, female: bool, age: u32, at: NaiveDate) -> Person {
        self.people += 1;
        let given = if female {
            GIVEN[self.rng.gen_range(0..GIVEN.len())]
        } else {
            GIVEN_MALE[self.rng.gen_range(0..GIVEN_MALE.len())]
        };
        let family = format!(
            "{}-{}",
            FAMILY[self.rng.gen_range(0..FAMILY.len())],
            letters(self.people)
        );
        let birth = at - Duration::days(i64::from(age) * 365 + self.rng.gen_range(0..365));
        let nhs = loop {
            let mut d = [9, 9, 9, 0, 0, 0, 0, 0, 0];
            for x in d.iter_mut().skip(3) {
                *x = self.rng.gen_range(0..10);
            }
            if let Some(c) = nhs_check_digit(&d) {
                let nhs = d
                    .iter()
                    .chain([&c])
                    .map(|x| char::from(b'0' + *x as u8))
                    .collect::<String>();
                if self.nhs_numbers.insert(nhs.clone()) {
                    break nhs;
                }
            }
        };
        let r: f64 = self.rng.r#gen();
        let ethnic = if r < 0.74 {
            pb::EthnicGroup::White
        } else if r < 0.84 {
            pb::EthnicGroup::Asian
        } else if r < 0.89 {
            pb::EthnicGroup::Black
        } else if r < 0.93 {
            pb::EthnicGroup::Mixed
        } else if r < 0.95 {
            pb::EthnicGroup::Other
        } else {
            pb::EthnicGroup::NotStated
        };
        let immigration = if self.chance(0.06) {
            pb::ImmigrationStatus::Insecure
        } else if self.chance(0.2) {
            pb::ImmigrationStatus::NotKnown
        } else {
            pb::ImmigrationStatus::Secure
        };
        Person {
            ids: pb::PersonIdentifiers {
                given_name: given.into(),
                family_name: family,
                date_of_birth: Some(date(birth)),
                nhs_number: nhs,
                pnc_id: String::new(),
                local_person_id: String::new(),
            },
            demographics: pb::Demographics {
                sex: if female {
                    pb::Sex::Female
                } else {
                    pb::Sex::Male
                } as i32,
                age_at_event: Some(age),
                ethnic_group: ethnic as i32,
                disability: if self.chance(0.22) {
                    pb::Disability::Disabled
                } else {
                    pb::Disability::NotDisabled
                } as i32,
                sexual_orientation: if self.chance(0.05) {
                    pb::SexualOrientation::Bisexual
                } else if self.chance(0.04) {
                    pb::SexualOrientation::GayOrLesbian
                } else {
                    pb::SexualOrientation::Heterosexual
                } as i32,
                gender_identity: if self.chance(0.01) {
                    pb::GenderIdentity::DifferentFromSexAtBirth
                } else {
                    pb::GenderIdentity::SameAsSexAtBirth
                } as i32,
                immigration_status: immigration as i32,
            },
            birth,
        }
    }

    fn reference(&self, person: &Person, at: NaiveDate) -> pb::PersonReference {
        let mut demographics = person.demographics;
        demographics.age_at_event = Some(person.age_on(at));
        pb::PersonReference {
            identifiers: Some(person.ids.clone()),
            pseudonym: String::new(),
            demographics: Some(demographics),
        }
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn emit(
        &mut self,
        agency: &str,
        prefix: &str,
        at: DateTime<Utc>,
        area: (&str, pb::AreaLevel),
        unit: pb::CountingUnit,
        class: (&str, &str),
        victim: Option<&Person>,
        suspect: Option<&Person>,
        refs: &pb::CaseReferences,
        event: Event,
    ) {
        self.next_id += 1;
        let recorded = at + Duration::minutes(self.rng.gen_range(5..3 * 24 * 60));
        let day = at.date_naive();
        self.out.push(pb::VawgRecord {
            source_record_id: format!("{prefix}-{:08}", self.next_id),
            revision: 1,
            source_agency_id: agency.into(),
            event_time: Some(ts(at)),
            recorded_time: Some(ts(recorded)),
            reference_period: Some(month_of(recorded)),
            counting_unit: unit as i32,
            area: Some(pb::Area {
                gss_code: area.0.into(),
                level: area.1 as i32,
            }),
            classification: Some(pb::LocalClassification {
                scheme: class.0.into(),
                code: class.1.into(),
            }),
            victim: victim.map(|v| self.reference(v, day)),
            suspect: suspect.map(|s| self.reference(s, day)),
            case_references: Some(refs.clone()),
            category: String::new(),
            definition_version: String::new(),
            suspect_is_police_personnel: false,
            event: Some(event),
        });
    }
}
