//! The fixed catalogue synthetic journeys draw from: police force areas and their partners,
//! obviously fake names, and the kinds of crime with their codes.

use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// A police force area and its partners.
pub(super) struct Force {
    /// GSS code of the police force area.
    pub(super) gss: &'static str,
    /// The slug in the partner agencies' ids.
    pub(super) slug: &'static str,
    /// A local authority in the force area (GSS), if modelled.
    pub(super) la: Option<&'static str>,
    /// Relative volume.
    pub(super) weight: u32,
}

/// The five force areas journeys happen in.
pub(super) const FORCES: [Force; 5] = [
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

/// Obviously fake given names (women and girls).
pub(super) const GIVEN: [&str; 12] = [
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
/// Obviously fake given names (men and boys).
pub(super) const GIVEN_MALE: [&str; 6] = [
    "Testo", "Fakeston", "Mockard", "Dummond", "Synthan", "Exemplo",
];
/// Obviously fake family names (a unique suffix is added).
pub(super) const FAMILY: [&str; 10] = [
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
pub(super) enum Crime {
    DomesticAbuse,
    Stalking,
    Harassment,
    Rape,
    OtherSexual,
    Homicide,
}

impl Crime {
    /// A Home Office offence code for this kind of crime.
    pub(super) fn ho_code(self, rng: &mut ChaCha8Rng) -> &'static str {
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

    /// The VAWG category name.
    pub(super) fn category(self) -> &'static str {
        match self {
            Crime::DomesticAbuse => "domestic_abuse",
            Crime::Stalking => "stalking",
            Crime::Harassment => "harassment",
            Crime::Rape => "rape",
            Crime::OtherSexual => "other_sexual_offences",
            Crime::Homicide => "domestic_homicide",
        }
    }

    /// The CPS monitoring flag, for the crimes the CPS flags.
    pub(super) fn cps_flag(self) -> Option<&'static str> {
        match self {
            Crime::DomesticAbuse => Some("DOMESTIC_ABUSE"),
            Crime::Rape => Some("RAPE"),
            Crime::OtherSexual => Some("SEXUAL_OFFENCES_EXCLUDING_RAPE"),
            _ => None,
        }
    }

    /// Rape or another sexual offence.
    pub(super) fn sexual(self) -> bool {
        matches!(self, Crime::Rape | Crime::OtherSexual)
    }
}
