//! What runs alongside the criminal justice journey: MARAC, specialist support, health,
//! Operation Encompass and the police satisfaction survey.

use chrono::Duration;
use rand::Rng;
use vawg_proto::pb::{self, vawg_record::Event};

use super::Journey;
use crate::synth::generator::Gen;

/// A support service: its agency id, its type, and the category it records.
type Service<'a> = (&'a str, pb::SupportServiceType, &'static str);

impl Journey {
    /// MARAC: high-risk domestic abuse, referred by the police or a hospital.
    pub(super) fn marac(&self, g: &mut Gen) {
        if !(self.domestic && g.chance(0.2)) {
            return;
        }
        let police = &self.agencies.police;
        let (agency, referrer) = if g.chance(0.7) {
            (police.clone(), pb::ReferringAgency::Police)
        } else {
            (
                self.agencies.health.clone(),
                pb::ReferringAgency::HealthSecondaryCare,
            )
        };
        let class = if agency == *police {
            self.class
        } else {
            ("ICD10", "T74.1")
        };
        let children = g.rng.gen_range(0..4);
        g.emit(
            &agency,
            "MR",
            self.crime_at + Duration::days(3),
            self.local,
            pb::CountingUnit::Referral,
            class,
            Some(&self.victim),
            None,
            &pb::CaseReferences::default(),
            Event::MaracReferral(pb::MaracReferral {
                referring_agency: referrer as i32,
                repeat_referral: self.repeat,
                children_in_household: children,
            }),
        );
    }

    /// Referral to specialist support (an ISVA for sexual offences, else an IDVA), and what
    /// the service could do; only for VAWG crimes (in scope of vawg-v2).
    pub(super) fn support(&self, g: &mut Gen) {
        let Some(category) = self.category() else {
            return;
        };
        if !g.chance(0.5) {
            return;
        }
        let (service, stype) = if self.crime.sexual() {
            (&self.agencies.isva, pb::SupportServiceType::Isva)
        } else {
            (&self.agencies.idva, pb::SupportServiceType::Idva)
        };
        let referred = self.crime_at + Duration::days(2);
        g.emit(
            &self.agencies.police,
            "SR",
            referred,
            self.pfa,
            pb::CountingUnit::Referral,
            self.class,
            Some(&self.victim),
            None,
            &pb::CaseReferences::default(),
            Event::SupportReferral(pb::SupportReferral {
                to_agency_id: service.clone(),
                service_type: stype as i32,
            }),
        );
        let nrpf =
            self.victim.demographics.immigration_status == pb::ImmigrationStatus::Insecure as i32;
        let answered = referred + g.delay(10.0);
        if (nrpf && g.chance(0.6)) || g.chance(0.25) {
            self.unable_to_support(g, (service, stype, category), nrpf, answered);
        } else {
            self.support_provided(g, (service, stype, category), answered);
        }
    }

    /// The service could not support the victim (no recourse to public funds, for an
    /// insecure immigration status).
    fn unable_to_support(
        &self,
        g: &mut Gen,
        (service, stype, category): Service,
        nrpf: bool,
        answered: chrono::DateTime<chrono::Utc>,
    ) {
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
            self.local,
            pb::CountingUnit::Person,
            ("VAWG_CATEGORY", category),
            Some(&self.victim),
            None,
            &pb::CaseReferences::default(),
            Event::UnableToSupport(pb::UnableToSupport {
                service_type: stype as i32,
                reason: reason as i32,
            }),
        );
    }

    /// The service supported the victim, who sometimes answers a satisfaction survey.
    fn support_provided(
        &self,
        g: &mut Gen,
        (service, stype, cat): Service,
        answered: chrono::DateTime<chrono::Utc>,
    ) {
        let contacts = g.rng.gen_range(1..15);
        g.emit(
            service,
            "SP",
            answered,
            self.local,
            pb::CountingUnit::Person,
            ("VAWG_CATEGORY", cat),
            Some(&self.victim),
            None,
            &pb::CaseReferences::default(),
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
                self.local,
                pb::CountingUnit::Response,
                ("VAWG_CATEGORY", cat),
                Some(&self.victim),
                None,
                &pb::CaseReferences::default(),
                Event::VictimSatisfaction(pb::VictimSatisfaction {
                    stage: pb::SatisfactionStage::Support as i32,
                    level,
                }),
            );
        }
    }

    /// Health: disclosure in a health setting before the crime was reported, sometimes a
    /// referral on; only for VAWG crimes.
    pub(super) fn health(&self, g: &mut Gen) {
        if self.category().is_none() || !g.chance(0.15) {
            return;
        }
        let code = if self.crime.sexual() {
            "T74.2"
        } else {
            "T74.1"
        };
        let setting = [
            pb::HealthSetting::PrimaryCare,
            pb::HealthSetting::EmergencyDepartment,
            pb::HealthSetting::Maternity,
            pb::HealthSetting::MentalHealth,
        ][g.rng.gen_range(0..4)];
        let at = self.crime_at - Duration::days(g.rng.gen_range(1..60));
        g.emit(
            &self.agencies.health,
            "HD",
            at,
            self.local,
            pb::CountingUnit::Person,
            ("ICD10", code),
            Some(&self.victim),
            None,
            &pb::CaseReferences::default(),
            Event::HealthDisclosure(pb::HealthDisclosure {
                setting: setting as i32,
            }),
        );
        if g.chance(0.5) {
            g.emit(
                &self.agencies.health,
                "HR",
                at + Duration::hours(2),
                self.local,
                pb::CountingUnit::Referral,
                ("ICD10", code),
                Some(&self.victim),
                None,
                &pb::CaseReferences::default(),
                Event::HealthReferral(pb::HealthReferral {
                    setting: setting as i32,
                    destination: pb::HealthReferralDestination::Adviser as i32,
                }),
            );
        }
    }

    /// Operation Encompass: children exposed to a domestic abuse incident, their school told.
    pub(super) fn encompass(&self, g: &mut Gen) {
        if !(self.domestic && g.chance(0.3)) {
            return;
        }
        let urn = format!("99{:04}", self.fi * 100 + g.rng.gen_range(1..40));
        g.emit(
            &self.agencies.police,
            "OE",
            self.crime_at + Duration::hours(10),
            self.pfa,
            pb::CountingUnit::Incident,
            self.class,
            Some(&self.victim),
            None,
            &self.refs,
            Event::EncompassNotification(pb::EncompassNotification {
                school_urn: urn,
                sealed_pupil_details: None,
                police_contact: format!("Safeguarding hub desk, {}", self.force.slug),
            }),
        );
    }

    /// The police satisfaction survey.
    pub(super) fn police_satisfaction(&self, g: &mut Gen) {
        if !g.chance(0.2) {
            return;
        }
        let level = g.rng.gen_range(1..6);
        g.emit(
            &self.agencies.police,
            "VS",
            self.crime_at + Duration::days(45),
            self.pfa,
            pb::CountingUnit::Response,
            self.class,
            Some(&self.victim),
            None,
            &pb::CaseReferences::default(),
            Event::VictimSatisfaction(pb::VictimSatisfaction {
                stage: pb::SatisfactionStage::Police as i32,
                level,
            }),
        );
    }
}
