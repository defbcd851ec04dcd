//! `vawg-hub synth`: realistic, fully synthetic victim journeys across agencies, deterministic
//! for a seed.
//!
//! Each journey starts with a crime recorded by one of five police forces (real force-area GSS
//! codes: E23000001 Metropolitan Police, E23000005 Greater Manchester, E23000014 West Midlands,
//! E23000010 West Yorkshire, W15000003 South Wales) and may go on through a CPS referral, a
//! charging decision, prosecution and court outcomes and protective orders, with the victim
//! withdrawing at the police, CPS or court stage; alongside run MARAC and support referrals
//! (some services unable to support, including for no recourse to public funds), health
//! disclosures and referrals, Operation Encompass notifications, satisfaction responses, the
//! rare domestic homicide, and quarterly funding returns. Some victims come back (repeat
//! victims) and some suspects have several victims.
//!
//! Delays follow the National Audit Office's finding that rape cases take far longer from
//! referral to charge than other crime (mean 158 days against 46): referral-to-charge delays
//! are drawn from an Erlang distribution with those means.
//!
//! Everything is synthetic: names are obviously fake ("Testina Mockford-Bac"), NHS numbers are
//! in the 999 test range, school URNs are in a 99xxxx range no school uses, PNC ids are
//! `SYN/…`. Every record is valid for the hub: `synth` output ingests with zero rejections.
//!
//! # File format
//!
//! `--out FILE` holds the records as a sequence of length-delimited protobuf `vawg.v1.VawgRecord`
//! messages (each a varint length then the message, as `prost::Message::encode_length_delimited`
//! writes and every protobuf library reads), grouped by source agency — police forces first, so
//! referrals are stored before the charging decisions that follow them — and within an agency in
//! event order. `FILE.agencies.json` lists the agencies (id, kind, areas) that submit them.

use std::{
    io::{BufWriter, Read, Write},
    path::Path,
};

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc};
use prost::Message;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use vawg_domain::{identity::AgencyKind, pseudonym::nhs_check_digit};
use vawg_proto::pb::{self, vawg_record::Event};

/// An agency that submits synthetic records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SynthAgency {
    /// Registry id, e.g. `police-e23000001`.
    pub id: String,
    /// Its kind.
    #[serde(serialize_with = "kind_name")]
    pub kind: AgencyKind,
    /// GSS codes of the areas it serves.
    pub areas: Vec<String>,
}

fn kind_name<S: serde::Serializer>(kind: &AgencyKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(kind.as_str())
}

/// Generated data: the agencies and their records, grouped by agency.
#[derive(Clone, Debug, Default)]
pub struct SynthData {
    /// Agencies, in submission order.
    pub agencies: Vec<SynthAgency>,
    /// Records, grouped by `source_agency_id` in the order of `agencies`.
    pub records: Vec<pb::VawgRecord>,
}

impl SynthData {
    /// The records of one agency, in order.
    pub fn records_of<'a>(
        &'a self,
        agency_id: &'a str,
    ) -> impl Iterator<Item = &'a pb::VawgRecord> {
        self.records
            .iter()
            .filter(move |r| r.source_agency_id == agency_id)
    }
}

/// A police force area and its partners.
struct Force {
    gss: &'static str,
    slug: &'static str,
    /// A local authority in the force area (GSS), if modelled.
    la: Option<&'static str>,
    /// Relative volume.
    weight: u32,
}

const FORCES: [Force; 5] = [
    Force {
        gss: "E23000001",
        slug: "london",
        la: None,
        weight: 40,
    },
    Force {
        gss: "E23000005",
        slug: "greater-manchester",
        la: Some("E08000003"),
        weight: 20,
    },
    Force {
        gss: "E23000014",
        slug: "west-midlands",
        la: Some("E08000025"),
        weight: 18,
    },
    Force {
        gss: "E23000010",
        slug: "west-yorkshire",
        la: Some("E08000035"),
        weight: 15,
    },
    Force {
        gss: "W15000003",
        slug: "south-wales",
        la: Some("W06000015"),
        weight: 7,
    },
];

const GIVEN: [&str; 12] = [
    "Testina",
    "Synthia",
    "Fakey",
    "Mocka",
    "Exempla",
    "Dummia",
    "Placida",
    "Fictiva",
    "Sampla",
    "Nomina",
    "Pretendia",
    "Specima",
];
const GIVEN_MALE: [&str; 6] = [
    "Testo", "Fakeston", "Mockard", "Dummond", "Synthan", "Exemplo",
];
const FAMILY: [&str; 10] = [
    "Mockford",
    "Exampleton",
    "Placeholder",
    "Fakesby",
    "Testwood",
    "Dummington",
    "Synthley",
    "Fictionby",
    "Samplethorpe",
    "Notreal",
];

/// What a journey's crime is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Crime {
    DomesticAbuse,
    Stalking,
    Harassment,
    Rape,
    OtherSexual,
    Homicide,
}

impl Crime {
    fn ho_code(self, rng: &mut ChaCha8Rng) -> &'static str {
        let pick = |rng: &mut ChaCha8Rng, c: &[&'static str]| c[rng.gen_range(0..c.len())];
        match self {
            Crime::DomesticAbuse => pick(rng, &["8N", "105A", "5D", "3B"]),
            Crime::Stalking => "8Q",
            Crime::Harassment => pick(rng, &["8L", "8M", "8R"]),
            Crime::Rape => pick(rng, &["19C", "19D", "19E"]),
            Crime::OtherSexual => pick(rng, &["17A", "20A", "22A", "88A"]),
            Crime::Homicide => "1",
        }
    }
    fn category(self) -> &'static str {
        match self {
            Crime::DomesticAbuse => "domestic_abuse",
            Crime::Stalking => "stalking",
            Crime::Harassment => "harassment",
            Crime::Rape => "rape",
            Crime::OtherSexual => "other_sexual_offences",
            Crime::Homicide => "domestic_homicide",
        }
    }
    fn cps_flag(self) -> Option<&'static str> {
        match self {
            Crime::DomesticAbuse => Some("DOMESTIC_ABUSE"),
            Crime::Rape => Some("RAPE"),
            Crime::OtherSexual => Some("SEXUAL_OFFENCES_EXCLUDING_RAPE"),
            _ => None,
        }
    }
    fn sexual(self) -> bool {
        matches!(self, Crime::Rape | Crime::OtherSexual)
    }
}

#[derive(Clone)]
struct Person {
    ids: pb::PersonIdentifiers,
    demographics: pb::Demographics,
    birth: NaiveDate,
}

struct Gen {
    rng: ChaCha8Rng,
    out: Vec<pb::VawgRecord>,
    next_id: u64,
    people: u64,
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

fn date(d: NaiveDate) -> pb::Date {
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
    fn chance(&mut self, p: f64) -> bool {
        self.rng.gen_bool(p)
    }

    /// Erlang(2) delay in days with the given mean (capped at four times the mean).
    fn delay(&mut self, mean_days: f64) -> Duration {
        let u1: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        let u2: f64 = self.rng.gen_range(f64::EPSILON..1.0);
        // Capped at four times the mean so that no journey runs into the future.
        let days = (-(mean_days / 2.0) * (u1.ln() + u2.ln())).min(4.0 * mean_days);
        Duration::minutes((days * 24.0 * 60.0) as i64 + 60)
    }

    fn person(&mut self, female: bool, age: u32, at: NaiveDate) -> Person {
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
                break d
                    .iter()
                    .chain([&c])
                    .map(|x| char::from(b'0' + *x as u8))
                    .collect::<String>();
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
        demographics.age_at_event = Some(((at - person.birth).num_days() / 365) as u32);
        pb::PersonReference {
            identifiers: Some(person.ids.clone()),
            pseudonym: String::new(),
            demographics: Some(demographics),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn emit(
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
            event: Some(event),
        });
    }
}

/// Generates `journeys` synthetic victim journeys from `seed`. Same seed, same output.
pub fn generate(journeys: usize, seed: u64) -> SynthData {
    let mut g = Gen {
        rng: ChaCha8Rng::seed_from_u64(seed),
        out: Vec::new(),
        next_id: 0,
        people: 0,
    };
    let start = Utc.with_ymd_and_hms(2020, 4, 1, 0, 0, 0).unwrap();
    let total_weight: u32 = FORCES.iter().map(|f| f.weight).sum();
    let mut victims: Vec<(usize, Person)> = Vec::new();
    let mut suspects: Vec<(usize, Person)> = Vec::new();

    for j in 0..journeys {
        let mut w = g.rng.gen_range(0..total_weight);
        let fi = FORCES
            .iter()
            .position(|f| {
                if w < f.weight {
                    true
                } else {
                    w -= f.weight;
                    false
                }
            })
            .unwrap_or(0);
        let force = &FORCES[fi];
        let police = format!("police-{}", force.gss.to_ascii_lowercase());
        let cps = format!("cps-{}", force.slug);
        let court = format!("hmcts-{}", force.slug);
        let health = format!("nhs-{}", force.slug);
        let idva = format!("support-idva-{}", force.slug);
        let isva = format!("support-isva-{}", force.slug);
        let pfa = (force.gss, pb::AreaLevel::PoliceForceArea);
        let local = force
            .la
            .map(|la| (la, pb::AreaLevel::LocalAuthority))
            .unwrap_or(pfa);

        let crime_at = start + Duration::minutes(g.rng.gen_range(0..365 * 24 * 60));
        let r: f64 = g.rng.r#gen();
        let crime = if r < 0.002 {
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
        };

        // Victim: sometimes someone already known to this force (a repeat victim).
        let known: Vec<usize> = victims
            .iter()
            .enumerate()
            .filter(|(_, (f, _))| *f == fi)
            .map(|(i, _)| i)
            .collect();
        let repeat = !known.is_empty() && g.chance(0.15);
        let victim = if repeat {
            victims[known[g.rng.gen_range(0..known.len())]].1.clone()
        } else {
            let female = g.rng.gen_bool(0.8);
            let age = if g.chance(0.06) {
                g.rng.gen_range(13..16)
            } else {
                g.rng.gen_range(16..75)
            };
            let p = g.person(female, age, crime_at.date_naive());
            victims.push((fi, p.clone()));
            p
        };
        // Suspect: unknown for some crimes; sometimes a suspect with other victims.
        let known_s: Vec<usize> = suspects
            .iter()
            .enumerate()
            .filter(|(_, (f, _))| *f == fi)
            .map(|(i, _)| i)
            .collect();
        let suspect = if crime != Crime::DomesticAbuse && g.chance(0.12) {
            None
        } else if !known_s.is_empty() && g.chance(0.1) {
            Some(
                suspects[known_s[g.rng.gen_range(0..known_s.len())]]
                    .1
                    .clone(),
            )
        } else {
            let female_victim = victim.demographics.sex == pb::Sex::Female as i32;
            let female = !female_victim && g.chance(0.3);
            let age = g.rng.gen_range(17..70);
            let mut s = g.person(female, age, crime_at.date_naive());
            s.ids.pnc_id = format!("SYN/{:07}", g.people);
            suspects.push((fi, s.clone()));
            Some(s)
        };

        let mut refs = pb::CaseReferences {
            police_crime_reference: format!("CR/{}/{:06}", force.gss, j + 1),
            ..Default::default()
        };
        let ho = crime.ho_code(&mut g.rng);
        let relationship = match crime {
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
            _ if suspect.is_none() => pb::Relationship::NotKnown,
            _ => {
                if g.chance(0.4) {
                    pb::Relationship::Acquaintance
                } else if g.chance(0.5) {
                    pb::Relationship::Partner
                } else {
                    pb::Relationship::Stranger
                }
            }
        };
        let da_related = matches!(crime, Crime::DomesticAbuse | Crime::Homicide)
            || matches!(
                relationship,
                pb::Relationship::Partner | pb::Relationship::ExPartner
            );
        let online_flag = g.chance(0.1);
        g.emit(
            &police,
            "CR",
            crime_at,
            pfa,
            pb::CountingUnit::Crime,
            ("HO_OFFENCE", ho),
            Some(&victim),
            suspect.as_ref(),
            &refs,
            Event::CrimeRecorded(pb::CrimeRecorded {
                domestic_abuse_flag: da_related,
                relationship: relationship as i32,
                online_flag,
            }),
        );
        let vs = (Some(&victim), suspect.as_ref());

        if crime == Crime::Homicide {
            g.emit(
                &police,
                "DH",
                crime_at,
                pfa,
                pb::CountingUnit::Person,
                ("HO_OFFENCE", "1"),
                vs.0,
                vs.1,
                &refs,
                Event::DomesticHomicide(pb::DomesticHomicide {
                    homicide_type: pb::HomicideType::IntimatePartner as i32,
                }),
            );
        }

        // Police investigation and the criminal justice journey.
        let outcome = |g: &mut Gen,
                       at: DateTime<Utc>,
                       t: u32,
                       group: pb::PoliceOutcomeGroup,
                       refs: &pb::CaseReferences| {
            g.emit(
                &police,
                "PO",
                at,
                pfa,
                pb::CountingUnit::Crime,
                ("HO_OFFENCE", ho),
                vs.0,
                vs.1,
                refs,
                Event::PoliceOutcome(pb::PoliceOutcome {
                    home_office_outcome_type: t,
                    group: group as i32,
                }),
            );
        };
        let investigated = crime_at + g.delay(30.0);
        let roll: f64 = g.rng.r#gen();
        if crime != Crime::Homicide && suspect.is_none() {
            outcome(
                &mut g,
                investigated,
                18,
                pb::PoliceOutcomeGroup::NoSuspectIdentified,
                &refs,
            );
        } else if crime != Crime::Homicide && roll < 0.25 {
            g.emit(
                &police,
                "VW",
                investigated,
                pfa,
                pb::CountingUnit::Crime,
                ("HO_OFFENCE", ho),
                vs.0,
                vs.1,
                &refs,
                Event::VictimWithdrawal(pb::VictimWithdrawal {
                    stage: pb::WithdrawalStage::Police as i32,
                    case_ended: true,
                }),
            );
            outcome(
                &mut g,
                investigated + Duration::days(2),
                16,
                pb::PoliceOutcomeGroup::VictimDoesNotSupport,
                &refs,
            );
        } else if crime != Crime::Homicide && roll < 0.45 {
            outcome(
                &mut g,
                investigated,
                15,
                pb::PoliceOutcomeGroup::EvidentialDifficultiesVictimSupports,
                &refs,
            );
        } else {
            // Referral to the CPS for a charging decision.
            let referred = investigated;
            refs.cps_urn = format!("URN{}{:07}", &force.gss[..3], j + 1);
            g.emit(
                &police,
                "RF",
                referred,
                pfa,
                pb::CountingUnit::Defendant,
                ("HO_OFFENCE", ho),
                vs.0,
                vs.1,
                &refs,
                Event::CpsReferral(pb::CpsReferral {
                    referral_type: pb::ReferralType::ChargingDecision as i32,
                }),
            );
            let mean = if crime == Crime::Rape { 158.0 } else { 46.0 };
            let decided = referred + g.delay(mean);
            let cps_class = crime
                .cps_flag()
                .map(|f| ("CPS_FLAG", f))
                .unwrap_or(("HO_OFFENCE", ho));
            let cps_withdrawal = g.chance(0.1);
            if cps_withdrawal {
                g.emit(
                    &cps,
                    "VW",
                    decided - Duration::days(3),
                    pfa,
                    pb::CountingUnit::Defendant,
                    cps_class,
                    vs.0,
                    vs.1,
                    &refs,
                    Event::VictimWithdrawal(pb::VictimWithdrawal {
                        stage: pb::WithdrawalStage::Cps as i32,
                        case_ended: true,
                    }),
                );
            }
            let decision = if cps_withdrawal || g.chance(0.22) {
                pb::ChargeDecision::NoFurtherAction
            } else if g.chance(0.04) {
                pb::ChargeDecision::AdministrativelyFinalised
            } else {
                pb::ChargeDecision::Charge
            };
            g.emit(
                &cps,
                "CD",
                decided,
                pfa,
                pb::CountingUnit::Defendant,
                cps_class,
                vs.0,
                vs.1,
                &refs,
                Event::ChargingDecision(pb::ChargingDecision {
                    decision_maker: pb::DecisionMaker::Cps as i32,
                    decision: decision as i32,
                }),
            );
            if decision == pb::ChargeDecision::Charge {
                outcome(
                    &mut g,
                    decided + Duration::days(1),
                    1,
                    pb::PoliceOutcomeGroup::ChargedOrSummonsed,
                    &refs,
                );
                refs.court_case_number = format!("CC{}{:07}", &force.gss[..3], j + 1);
                let heard = decided + g.delay(if crime.sexual() { 300.0 } else { 90.0 });
                let court_type = if crime.sexual() || crime == Crime::Homicide {
                    pb::CourtType::Crown
                } else {
                    pb::CourtType::Magistrates
                };
                let (result, verdict, trial) = if g.chance(0.1) {
                    g.emit(
                        &court,
                        "VW",
                        heard - Duration::days(7),
                        pfa,
                        pb::CountingUnit::Defendant,
                        ("HO_OFFENCE", ho),
                        vs.0,
                        vs.1,
                        &refs,
                        Event::VictimWithdrawal(pb::VictimWithdrawal {
                            stage: pb::WithdrawalStage::Court as i32,
                            case_ended: true,
                        }),
                    );
                    (
                        pb::ProsecutionResult::VictimIssues,
                        pb::CourtVerdict::Dismissed,
                        pb::TrialEffectiveness::Cracked,
                    )
                } else if g.chance(0.55) {
                    (
                        pb::ProsecutionResult::ConvictionGuiltyPlea,
                        pb::CourtVerdict::Convicted,
                        pb::TrialEffectiveness::Cracked,
                    )
                } else if g.chance(0.6) {
                    (
                        pb::ProsecutionResult::ConvictionAfterTrial,
                        pb::CourtVerdict::Convicted,
                        pb::TrialEffectiveness::Effective,
                    )
                } else {
                    (
                        pb::ProsecutionResult::Acquittal,
                        pb::CourtVerdict::Acquitted,
                        if g.chance(0.2) {
                            pb::TrialEffectiveness::Ineffective
                        } else {
                            pb::TrialEffectiveness::Effective
                        },
                    )
                };
                g.emit(
                    &court,
                    "CO",
                    heard,
                    pfa,
                    pb::CountingUnit::Defendant,
                    ("HO_OFFENCE", ho),
                    vs.0,
                    vs.1,
                    &refs,
                    Event::CourtOutcome(pb::CourtOutcome {
                        court_type: court_type as i32,
                        verdict: verdict as i32,
                        trial_effectiveness: trial as i32,
                    }),
                );
                g.emit(
                    &cps,
                    "PR",
                    heard + Duration::days(1),
                    pfa,
                    pb::CountingUnit::Defendant,
                    cps_class,
                    vs.0,
                    vs.1,
                    &refs,
                    Event::ProsecutionOutcome(pb::ProsecutionOutcome {
                        result: result as i32,
                    }),
                );
                if verdict == pb::CourtVerdict::Convicted && g.chance(0.7) {
                    let (order, class) = match crime {
                        Crime::Stalking => (
                            pb::OrderType::StalkingProtectionOrder,
                            ("ORDER_TYPE", "SPO"),
                        ),
                        Crime::Rape | Crime::OtherSexual => (
                            pb::OrderType::SexualHarmPreventionOrder,
                            ("ORDER_TYPE", "SHPO"),
                        ),
                        _ => (pb::OrderType::RestrainingOrder, ("HO_OFFENCE", ho)),
                    };
                    let expires = heard.date_naive() + Duration::days(365 * 2);
                    g.emit(
                        &court,
                        "OR",
                        heard,
                        pfa,
                        pb::CountingUnit::Order,
                        class,
                        vs.0,
                        vs.1,
                        &refs,
                        Event::ProtectiveOrder(pb::ProtectiveOrder {
                            order_type: order as i32,
                            decision: pb::OrderDecision::Granted as i32,
                            expires_on: Some(date(expires)),
                        }),
                    );
                }
            }
        }

        // Police-led protection for domestic abuse: a DVPO applied for, then granted.
        if crime == Crime::DomesticAbuse && g.chance(0.08) {
            let at = crime_at + Duration::hours(30);
            g.emit(
                &police,
                "OR",
                at,
                pfa,
                pb::CountingUnit::Order,
                ("ORDER_TYPE", "DVPO"),
                vs.0,
                vs.1,
                &refs,
                Event::ProtectiveOrder(pb::ProtectiveOrder {
                    order_type: pb::OrderType::DomesticViolenceProtectionOrder as i32,
                    decision: pb::OrderDecision::Applied as i32,
                    expires_on: None,
                }),
            );
            let granted = g.chance(0.9);
            g.emit(
                &court,
                "OR",
                at + Duration::hours(20),
                pfa,
                pb::CountingUnit::Order,
                ("ORDER_TYPE", "DVPO"),
                vs.0,
                vs.1,
                &refs,
                Event::ProtectiveOrder(pb::ProtectiveOrder {
                    order_type: pb::OrderType::DomesticViolenceProtectionOrder as i32,
                    decision: if granted {
                        pb::OrderDecision::Granted
                    } else {
                        pb::OrderDecision::Refused
                    } as i32,
                    expires_on: Some(date(at.date_naive() + Duration::days(28))),
                }),
            );
        }

        let no_refs = pb::CaseReferences::default();
        let cat = crime.category();
        // MARAC: high-risk domestic abuse.
        if da_related && g.chance(0.2) {
            let (agency, referrer) = if g.chance(0.7) {
                (police.clone(), pb::ReferringAgency::Police)
            } else {
                (health.clone(), pb::ReferringAgency::HealthSecondaryCare)
            };
            let class = if agency == police {
                ("HO_OFFENCE", ho)
            } else {
                ("ICD10", "T74.1")
            };
            let children = g.rng.gen_range(0..4);
            g.emit(
                &agency,
                "MR",
                crime_at + Duration::days(3),
                local,
                pb::CountingUnit::Referral,
                class,
                Some(&victim),
                None,
                &no_refs,
                Event::MaracReferral(pb::MaracReferral {
                    referring_agency: referrer as i32,
                    repeat_referral: repeat,
                    children_in_household: children,
                }),
            );
        }
        // Referral to specialist support, and what the service could do.
        if g.chance(0.5) {
            let (service, stype) = if crime.sexual() {
                (&isva, pb::SupportServiceType::Isva)
            } else {
                (&idva, pb::SupportServiceType::Idva)
            };
            let referred = crime_at + Duration::days(2);
            g.emit(
                &police,
                "SR",
                referred,
                pfa,
                pb::CountingUnit::Referral,
                ("HO_OFFENCE", ho),
                Some(&victim),
                None,
                &no_refs,
                Event::SupportReferral(pb::SupportReferral {
                    to_agency_id: service.clone(),
                    service_type: stype as i32,
                }),
            );
            let nrpf =
                victim.demographics.immigration_status == pb::ImmigrationStatus::Insecure as i32;
            let answered = referred + g.delay(10.0);
            if (nrpf && g.chance(0.6)) || g.chance(0.25) {
                let reason = if nrpf {
                    pb::UnableToSupportReason::NoRecourseToPublicFunds
                } else {
                    [
                        pb::UnableToSupportReason::Capacity,
                        pb::UnableToSupportReason::Eligibility,
                        pb::UnableToSupportReason::NoContact,
                        pb::UnableToSupportReason::Declined,
                    ][g.rng.gen_range(0..4)]
                };
                g.emit(
                    service,
                    "US",
                    answered,
                    local,
                    pb::CountingUnit::Person,
                    ("VAWG_CATEGORY", cat),
                    Some(&victim),
                    None,
                    &no_refs,
                    Event::UnableToSupport(pb::UnableToSupport {
                        service_type: stype as i32,
                        reason: reason as i32,
                    }),
                );
            } else {
                let contacts = g.rng.gen_range(1..15);
                g.emit(
                    service,
                    "SP",
                    answered,
                    local,
                    pb::CountingUnit::Person,
                    ("VAWG_CATEGORY", cat),
                    Some(&victim),
                    None,
                    &no_refs,
                    Event::SupportProvided(pb::SupportProvided {
                        service_type: stype as i32,
                        contacts,
                    }),
                );
                if g.chance(0.3) {
                    let level = g.rng.gen_range(3..6);
                    g.emit(
                        service,
                        "VS",
                        answered + Duration::days(60),
                        local,
                        pb::CountingUnit::Response,
                        ("VAWG_CATEGORY", cat),
                        Some(&victim),
                        None,
                        &no_refs,
                        Event::VictimSatisfaction(pb::VictimSatisfaction {
                            stage: pb::SatisfactionStage::Support as i32,
                            level,
                        }),
                    );
                }
            }
        }
        // Health: disclosure in a health setting, sometimes a referral on.
        if g.chance(0.15) {
            let code = if crime.sexual() { "T74.2" } else { "T74.1" };
            let setting = [
                pb::HealthSetting::PrimaryCare,
                pb::HealthSetting::EmergencyDepartment,
                pb::HealthSetting::Maternity,
                pb::HealthSetting::MentalHealth,
            ][g.rng.gen_range(0..4)];
            let at = crime_at - Duration::days(g.rng.gen_range(1..60));
            g.emit(
                &health,
                "HD",
                at,
                local,
                pb::CountingUnit::Person,
                ("ICD10", code),
                Some(&victim),
                None,
                &no_refs,
                Event::HealthDisclosure(pb::HealthDisclosure {
                    setting: setting as i32,
                }),
            );
            if g.chance(0.5) {
                g.emit(
                    &health,
                    "HR",
                    at + Duration::hours(2),
                    local,
                    pb::CountingUnit::Referral,
                    ("ICD10", code),
                    Some(&victim),
                    None,
                    &no_refs,
                    Event::HealthReferral(pb::HealthReferral {
                        setting: setting as i32,
                        destination: pb::HealthReferralDestination::Adviser as i32,
                    }),
                );
            }
        }
        // Operation Encompass: children exposed to a domestic abuse incident.
        if da_related && g.chance(0.3) {
            let urn = format!("99{:04}", fi * 100 + g.rng.gen_range(1..40));
            g.emit(
                &police,
                "OE",
                crime_at + Duration::hours(10),
                pfa,
                pb::CountingUnit::Incident,
                ("HO_OFFENCE", ho),
                Some(&victim),
                None,
                &refs,
                Event::EncompassNotification(pb::EncompassNotification {
                    school_urn: urn,
                    sealed_pupil_details: None,
                    police_contact: format!("Safeguarding hub desk, {}", force.slug),
                }),
            );
        }
        // Police satisfaction survey.
        if g.chance(0.2) {
            let level = g.rng.gen_range(1..6);
            g.emit(
                &police,
                "VS",
                crime_at + Duration::days(45),
                pfa,
                pb::CountingUnit::Response,
                ("HO_OFFENCE", ho),
                Some(&victim),
                None,
                &no_refs,
                Event::VictimSatisfaction(pb::VictimSatisfaction {
                    stage: pb::SatisfactionStage::Police as i32,
                    level,
                }),
            );
        }
    }

    // Quarterly funding returns from each modelled local authority's commissioning team.
    for force in FORCES.iter() {
        let Some(la) = force.la else { continue };
        for q in 0..4 {
            let at = start + Duration::days(91 * (q + 1));
            let amount = g.rng.gen_range(8_000_000u64..25_000_000);
            g.emit(
                &format!("la-{}", la.to_ascii_lowercase()),
                "FR",
                at,
                (la, pb::AreaLevel::LocalAuthority),
                pb::CountingUnit::Money,
                ("VAWG_CATEGORY", "domestic_abuse"),
                None,
                None,
                &pb::CaseReferences::default(),
                Event::FundingReturn(pb::FundingReturn {
                    funded_agency_id: format!("support-idva-{}", force.slug),
                    service_type: pb::SupportServiceType::Idva as i32,
                    amount_pence: amount,
                }),
            );
        }
    }

    // Agencies, police first, then the justice system, then everyone else.
    let mut agencies: Vec<SynthAgency> = Vec::new();
    for force in FORCES.iter() {
        let areas = |la: bool| {
            let mut a = vec![force.gss.to_string()];
            if la {
                a.extend(force.la.map(String::from));
            }
            a
        };
        agencies.push(SynthAgency {
            id: format!("police-{}", force.gss.to_ascii_lowercase()),
            kind: AgencyKind::Police,
            areas: areas(false),
        });
        agencies.push(SynthAgency {
            id: format!("cps-{}", force.slug),
            kind: AgencyKind::Cps,
            areas: areas(false),
        });
        agencies.push(SynthAgency {
            id: format!("hmcts-{}", force.slug),
            kind: AgencyKind::Court,
            areas: areas(false),
        });
        agencies.push(SynthAgency {
            id: format!("nhs-{}", force.slug),
            kind: AgencyKind::Health,
            areas: areas(true),
        });
        agencies.push(SynthAgency {
            id: format!("support-idva-{}", force.slug),
            kind: AgencyKind::SupportService,
            areas: areas(true),
        });
        agencies.push(SynthAgency {
            id: format!("support-isva-{}", force.slug),
            kind: AgencyKind::SupportService,
            areas: areas(true),
        });
        if let Some(la) = force.la {
            agencies.push(SynthAgency {
                id: format!("la-{}", la.to_ascii_lowercase()),
                kind: AgencyKind::LocalAuthority,
                areas: vec![la.to_string()],
            });
        }
    }
    let rank = |kind: AgencyKind| match kind {
        AgencyKind::Police => 0,
        AgencyKind::Cps => 1,
        AgencyKind::Court => 2,
        _ => 3,
    };
    agencies.sort_by(|a, b| (rank(a.kind), &a.id).cmp(&(rank(b.kind), &b.id)));
    agencies.retain(|a| g.out.iter().any(|r| r.source_agency_id == a.id));
    let order: std::collections::BTreeMap<&str, usize> = agencies
        .iter()
        .enumerate()
        .map(|(i, a)| (a.id.as_str(), i))
        .collect();
    let mut records = g.out;
    records.sort_by_key(|r| {
        (
            order[r.source_agency_id.as_str()],
            r.event_time.map(|t| t.seconds).unwrap_or_default(),
            r.source_record_id.clone(),
        )
    });
    SynthData { agencies, records }
}

/// Writes the records (length-delimited protobuf) and `FILE.agencies.json`.
pub fn write(data: &SynthData, out: &Path) -> anyhow::Result<()> {
    let file = std::fs::File::create(out).with_context(|| format!("creating {}", out.display()))?;
    let mut w = BufWriter::new(file);
    let mut buf = Vec::new();
    for r in &data.records {
        buf.clear();
        r.encode_length_delimited(&mut buf)?;
        w.write_all(&buf)?;
    }
    w.flush()?;
    let agencies = agencies_path(out);
    std::fs::write(&agencies, serde_json::to_vec_pretty(&data.agencies)?)
        .with_context(|| format!("writing {}", agencies.display()))?;
    Ok(())
}

/// Reads records written by [`write`].
pub fn read_records(path: &Path) -> anyhow::Result<Vec<pb::VawgRecord>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .with_context(|| format!("opening {}", path.display()))?
        .read_to_end(&mut bytes)?;
    let mut buf = bytes.as_slice();
    let mut out = Vec::new();
    while !buf.is_empty() {
        out.push(pb::VawgRecord::decode_length_delimited(&mut buf).context("decoding a record")?);
    }
    Ok(out)
}

/// The agencies file beside an output file.
pub fn agencies_path(out: &Path) -> std::path::PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".agencies.json");
    name.into()
}

/// Options of `vawg-hub synth`.
#[derive(Debug, clap::Args)]
pub struct SynthArgs {
    /// Number of victim journeys.
    #[arg(long, default_value_t = 1000)]
    pub journeys: usize,
    /// Random seed; the same seed gives the same output.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Output file (length-delimited protobuf VawgRecord messages).
    #[arg(long)]
    pub out: std::path::PathBuf,
}

/// Runs `vawg-hub synth`.
pub fn run(args: SynthArgs) -> anyhow::Result<()> {
    let data = generate(args.journeys, args.seed);
    write(&data, &args.out)?;
    println!(
        "{} records from {} agencies ({} journeys, seed {}) written to {}",
        data.records.len(),
        data.agencies.len(),
        args.journeys,
        args.seed,
        args.out.display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::{collections::BTreeSet, sync::Arc};

    use chrono::Utc;
    use vawg_domain::{
        definition::DefinitionSet,
        identity::CallerIdentity,
        pseudonym::{Keyring, PseudonymKey},
    };
    use vawg_ingest::Validator;

    use super::*;

    #[test]
    fn same_seed_same_records_and_a_different_seed_differs() {
        let a = generate(200, 7);
        let b = generate(200, 7);
        assert_eq!(a.records, b.records);
        assert_eq!(a.agencies, b.agencies);
        assert_ne!(a.records, generate(200, 8).records);
    }

    #[test]
    fn every_record_passes_validation_and_the_journey_has_its_stages() {
        let data = generate(1500, 42);
        let defs = Arc::new(DefinitionSet::embedded());
        let ring = Keyring::new(vec![PseudonymKey::new("k", vec![1; 32]).unwrap()]).unwrap();
        let mut kinds = BTreeSet::new();
        for agency in &data.agencies {
            let caller = CallerIdentity {
                agency_id: agency.id.clone(),
                agency_kind: agency.kind,
                scopes: BTreeSet::new(),
                areas: agency.areas.clone(),
            };
            let v = Validator {
                caller: &caller,
                definition: defs.current(),
                keyring: &ring,
                now: Utc::now(),
            };
            for r in data.records_of(&agency.id) {
                let valid = v
                    .validate(r.clone())
                    .unwrap_or_else(|e| panic!("{} {}: {e:?}", agency.id, r.source_record_id));
                kinds.insert(valid.row.event_kind.clone());
            }
        }
        for k in [
            "CRIME_RECORDED",
            "POLICE_OUTCOME",
            "CPS_REFERRAL",
            "CHARGING_DECISION",
            "PROSECUTION_OUTCOME",
            "COURT_OUTCOME",
            "PROTECTIVE_ORDER",
            "VICTIM_WITHDRAWAL",
            "MARAC_REFERRAL",
            "SUPPORT_REFERRAL",
            "SUPPORT_PROVIDED",
            "UNABLE_TO_SUPPORT",
            "HEALTH_DISCLOSURE",
            "HEALTH_REFERRAL",
            "ENCOMPASS_NOTIFICATION",
            "VICTIM_SATISFACTION",
            "FUNDING_RETURN",
        ] {
            assert!(kinds.contains(k), "no {k} in synthetic data");
        }
        let no_recourse = data.records.iter().filter(|r| matches!(&r.event,
            Some(Event::UnableToSupport(u)) if u.reason == pb::UnableToSupportReason::NoRecourseToPublicFunds as i32)).count();
        assert!(no_recourse > 0);
    }

    #[test]
    fn rape_takes_far_longer_from_referral_to_charge() {
        let data = generate(4000, 3);
        let mut referral = std::collections::HashMap::new();
        for r in &data.records {
            if let Some(Event::CpsReferral(_)) = r.event {
                let refs = r.case_references.as_ref().unwrap();
                referral.insert(
                    refs.police_crime_reference.clone(),
                    r.event_time.unwrap().seconds,
                );
            }
        }
        let (mut rape, mut other) = (vec![], vec![]);
        for r in &data.records {
            if let Some(Event::ChargingDecision(_)) = r.event {
                let refs = r.case_references.as_ref().unwrap();
                let days = (r.event_time.unwrap().seconds - referral[&refs.police_crime_reference])
                    as f64
                    / 86400.0;
                if r.classification.as_ref().unwrap().code == "RAPE" {
                    rape.push(days)
                } else {
                    other.push(days)
                }
            }
        }
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (r, o) = (mean(&rape), mean(&other));
        assert!((120.0..200.0).contains(&r), "rape mean {r}");
        assert!((30.0..65.0).contains(&o), "other mean {o}");
    }

    #[test]
    fn names_are_obviously_synthetic_and_files_round_trip() {
        let data = generate(50, 1);
        for r in &data.records {
            if let Some(ids) = r.victim.as_ref().and_then(|v| v.identifiers.as_ref()) {
                assert!(
                    GIVEN.contains(&ids.given_name.as_str())
                        || GIVEN_MALE.contains(&ids.given_name.as_str())
                );
                assert!(ids.nhs_number.starts_with("999"));
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("synth.bin");
        write(&data, &out).unwrap();
        assert_eq!(read_records(&out).unwrap(), data.records);
        assert!(agencies_path(&out).exists());
    }
}
