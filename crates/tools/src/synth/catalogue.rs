//! The fixed catalogue synthetic journeys draw from: police force areas and their partners,
//! obviously fake names, and the kinds of offence with the codes the police record them under.

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

/// A scheme and a code, as a record's `classification` carries them.
pub(super) type Class = (&'static str, &'static str);

/// What one offence of an incident is. Every code is one `vawg-v2`
/// (`deploy/definitions/vawg-v2.toml`) lists; none is invented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Crime {
    /// Violence against the person (assault with or without injury, threats to kill, attempted
    /// murder): a *context* code under vawg-v2 — domestic abuse in a domestic context, otherwise
    /// out of scope of VAWG.
    Assault,
    /// Non-fatal strangulation or suffocation (Serious Crime Act 2015 s75A), recorded by
    /// legislation: no Home Office code could be verified.
    Strangulation,
    /// Controlling or coercive behaviour (Serious Crime Act 2015 s76), recorded by legislation.
    Coercive,
    Stalking,
    Harassment,
    Rape,
    OtherSexual,
    /// Murder or manslaughter: a context code — domestic homicide in a domestic context,
    /// otherwise out of scope.
    Homicide,
}

/// Picks from `(item, weight)` pairs, with chances proportional to the weights.
pub(super) fn weighted<T: Copy>(rng: &mut ChaCha8Rng, items: &[(T, u32)]) -> T {
    let total: u32 = items.iter().map(|(_, w)| w).sum();
    let mut r = rng.gen_range(0..total);
    for (item, w) in items {
        if r < *w {
            return *item;
        }
        r -= w;
    }
    items[items.len() - 1].0
}

impl Crime {
    /// How the police record this offence against a victim of that sex and age: a Home Office
    /// offence code or an offence by legislation (Act and section).
    pub(super) fn police_class(self, rng: &mut ChaCha8Rng, female: bool, age: u32) -> Class {
        const HO: &str = "HO_OFFENCE";
        const LEG: &str = "LEGISLATION";
        let code = match self {
            // Assault without injury is the commonest violence-against-the-person offence, then
            // assault with injury; attempted murder is rare.
            Crime::Assault => weighted(
                rng,
                &[("105A", 45), ("8N", 35), ("3B", 10), ("5D", 8), ("2", 2)],
            ),
            Crime::Strangulation => return (LEG, "Serious Crime Act 2015 s75A"),
            Crime::Coercive => return (LEG, "Serious Crime Act 2015 s76"),
            Crime::Stalking => {
                return weighted(
                    rng,
                    &[
                        ((HO, "8Q"), 70),
                        ((LEG, "Protection from Harassment Act 1997 s2A"), 20),
                        ((LEG, "Protection from Harassment Act 1997 s4A"), 10),
                    ],
                );
            }
            Crime::Harassment => {
                return weighted(
                    rng,
                    &[
                        ((HO, "8L"), 42),
                        ((HO, "8R"), 40),
                        ((HO, "8M"), 3),
                        ((LEG, "Protection from Harassment Act 1997 s2"), 15),
                    ],
                );
            }
            Crime::Rape => match (female, age) {
                (true, 0..13) => "19E",
                (true, 13..16) => "19D",
                (true, _) => "19C",
                (false, 0..13) => "19H",
                (false, 13..16) => "19G",
                (false, _) => "19F",
            },
            Crime::OtherSexual => match (female, age) {
                (_, 0..16) => weighted(rng, &[("22B", 40), ("88A", 30), ("20A", 30)]),
                (true, _) => weighted(rng, &[("20A", 65), ("22A", 15), ("88E", 20)]),
                (false, _) => weighted(rng, &[("17A", 75), ("22A", 25)]),
            },
            Crime::Homicide => weighted(rng, &[("1", 85), ("4/1", 15)]),
        };
        (HO, code)
    }

    /// The VAWG category under vawg-v2 in this domestic context; `None`: out of scope.
    pub(super) fn category(self, domestic: bool) -> Option<&'static str> {
        Some(match self {
            Crime::Assault if domestic => "domestic_abuse",
            Crime::Homicide if domestic => "domestic_homicide",
            Crime::Assault | Crime::Homicide => return None,
            Crime::Strangulation => "non_fatal_strangulation",
            Crime::Coercive => "controlling_or_coercive_behaviour",
            Crime::Stalking => "stalking",
            Crime::Harassment => "harassment",
            Crime::Rape => "rape",
            Crime::OtherSexual => "other_sexual_offences",
        })
    }

    /// The category's harm rank in vawg-v2 (1 = most harmful; the context classes take their
    /// domestic category's rank): the most serious offence of an incident leads its justice
    /// journey.
    pub(super) fn harm_rank(self) -> u32 {
        match self {
            Crime::Homicide => 1,
            Crime::Rape => 2,
            Crime::OtherSexual => 4,
            Crime::Stalking => 5,
            Crime::Strangulation => 7,
            Crime::Assault => 8,
            Crime::Coercive => 10,
            Crime::Harassment => 12,
        }
    }

    /// The CPS monitoring flag, for the crimes the CPS flags with a strand of their own
    /// (domestic abuse only for domestic violence, whose flag maps to the same category).
    pub(super) fn cps_flag(self, domestic: bool) -> Option<&'static str> {
        match self {
            Crime::Assault if domestic => Some("DOMESTIC_ABUSE"),
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
