//! Keyed pseudonymisation of personal and case identifiers.
//!
//! Raw identifiers (names, dates of birth, NHS numbers, PNC ids, case numbers) arrive over
//! mutual TLS and are replaced at once by `HMAC-SHA256(key, domain || normalised value)`,
//! truncated to 128 bits. The same person or case gives the same pseudonym whichever agency
//! sends it, so journeys link across agencies, yet nobody holding only the hub's data (without
//! the key, which lives outside the database) can recover or test an identifier.
//!
//! Key rotation: a [`Keyring`] holds a primary key and any previous keys. New pseudonyms use
//! the primary; [`Keyring::pseudonymise_all`] gives the pseudonyms under every key, so the
//! hub can find records pseudonymised under an earlier key (exchange look-ups) and record the
//! link from an old pseudonym to the new one whenever the same person is seen again.

use std::{collections::BTreeMap, fmt};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::pb;

type HmacSha256 = Hmac<Sha256>;

/// Bytes of the HMAC kept in a pseudonym (128 bits: collision-free at national scale).
const PSEUDONYM_BYTES: usize = 16;

/// One pseudonymisation key. Its secret never prints.
#[derive(Clone)]
pub struct PseudonymKey {
    id: String,
    secret: Vec<u8>,
}

impl PseudonymKey {
    /// A key from its id and secret bytes (at least 32 bytes).
    pub fn new(id: impl Into<String>, secret: Vec<u8>) -> Result<Self, PseudonymError> {
        let id = id.into();
        if id.is_empty()
            || !id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(PseudonymError::BadKeyId(id));
        }
        if secret.len() < 32 {
            return Err(PseudonymError::ShortKey {
                id,
                len: secret.len(),
            });
        }
        Ok(Self { id, secret })
    }

    /// The key id (stored beside every pseudonym).
    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for PseudonymKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PseudonymKey")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

/// Errors building keys or pseudonyms. Never carries an identifier value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PseudonymError {
    /// The key id has characters other than letters, digits, '-' and '_'.
    #[error("pseudonymisation key id '{0}' is not a simple identifier")]
    BadKeyId(String),
    /// The secret is too short.
    #[error("pseudonymisation key '{id}' is {len} bytes; at least 32 are required")]
    ShortKey {
        /// Key id.
        id: String,
        /// Length given.
        len: usize,
    },
    /// No key at all.
    #[error("the pseudonymisation keyring is empty")]
    EmptyKeyring,
    /// Two keys share an id.
    #[error("pseudonymisation key id '{0}' appears twice")]
    DuplicateKey(String),
}

/// What an identifier identifies; part of the HMAC input so that values of different kinds
/// never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdentifierKind {
    /// A person, linked by normalised family name, given name and date of birth.
    PersonNameDob,
    /// A person, by NHS number.
    PersonNhsNumber,
    /// A person, by Police National Computer id.
    PersonPnc,
    /// A person, by an agency's local id (linked within that agency only).
    PersonLocal,
    /// A police crime reference.
    PoliceCrimeReference,
    /// A CPS unique reference number.
    CpsUrn,
    /// A court case number.
    CourtCaseNumber,
    /// An agency's incident (occurrence or report) reference. Its pseudonym is namespaced by
    /// the agency where it is used (`<agency id>:<pseudonym>`), so two agencies' equal
    /// references are different incidents.
    IncidentReference,
}

impl IdentifierKind {
    fn domain(self) -> &'static str {
        match self {
            IdentifierKind::PersonNameDob => "person:name-dob",
            IdentifierKind::PersonNhsNumber => "person:nhs",
            IdentifierKind::PersonPnc => "person:pnc",
            IdentifierKind::PersonLocal => "person:local",
            IdentifierKind::PoliceCrimeReference => "case:police",
            IdentifierKind::CpsUrn => "case:cps",
            IdentifierKind::IncidentReference => "case:incident",
            IdentifierKind::CourtCaseNumber => "case:court",
        }
    }
}

/// A pseudonym and the key it was made with.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pseudonym {
    /// Key id.
    pub key_id: String,
    /// Lower-case hex of the truncated HMAC (32 characters).
    pub value: String,
}

/// The pseudonymisation keys in force: one primary, any number of previous keys.
#[derive(Clone, Debug)]
pub struct Keyring {
    primary: PseudonymKey,
    previous: Vec<PseudonymKey>,
}

impl Keyring {
    /// A keyring; `keys[0]` is the primary, the rest previous keys, newest first.
    pub fn new(mut keys: Vec<PseudonymKey>) -> Result<Self, PseudonymError> {
        if keys.is_empty() {
            return Err(PseudonymError::EmptyKeyring);
        }
        let mut seen = BTreeMap::new();
        for k in &keys {
            if seen.insert(k.id.clone(), ()).is_some() {
                return Err(PseudonymError::DuplicateKey(k.id.clone()));
            }
        }
        let primary = keys.remove(0);
        Ok(Self {
            primary,
            previous: keys,
        })
    }

    /// The primary key's id.
    pub fn primary_key_id(&self) -> &str {
        &self.primary.id
    }

    /// The pseudonym of an already normalised value under the primary key.
    pub fn pseudonymise(&self, kind: IdentifierKind, normalised: &str) -> Pseudonym {
        hmac(&self.primary, kind, normalised)
    }

    /// The pseudonyms under every key, primary first (for look-ups across a rotation).
    pub fn pseudonymise_all(&self, kind: IdentifierKind, normalised: &str) -> Vec<Pseudonym> {
        std::iter::once(&self.primary)
            .chain(&self.previous)
            .map(|k| hmac(k, kind, normalised))
            .collect()
    }

    /// The linking pseudonym of a person from the identifiers an agency holds, or `None` when
    /// it holds none usable. Preference (deterministic, so every agency that holds the same
    /// identifiers derives the same pseudonym): name + date of birth, which every agency
    /// holds; then NHS number; then PNC id; then the agency's local id (agency-scoped).
    pub fn person(&self, ids: &pb::PersonIdentifiers, agency_id: &str) -> Option<Pseudonym> {
        person_linking_key(ids, agency_id).map(|(kind, value)| self.pseudonymise(kind, &value))
    }

    /// Like [`Keyring::person`], under every key.
    pub fn person_all(&self, ids: &pb::PersonIdentifiers, agency_id: &str) -> Vec<Pseudonym> {
        person_linking_key(ids, agency_id)
            .map(|(kind, value)| self.pseudonymise_all(kind, &value))
            .unwrap_or_default()
    }

    /// The pseudonym of a case reference (normalised: upper case, no spaces or separators).
    pub fn case(&self, kind: IdentifierKind, reference: &str) -> Option<Pseudonym> {
        let n = normalise_reference(reference);
        (!n.is_empty()).then(|| self.pseudonymise(kind, &n))
    }
}

fn hmac(key: &PseudonymKey, kind: IdentifierKind, normalised: &str) -> Pseudonym {
    let mut mac = HmacSha256::new_from_slice(&key.secret).expect("HMAC takes any key length");
    mac.update(kind.domain().as_bytes());
    mac.update(&[0]);
    mac.update(normalised.as_bytes());
    let out = mac.finalize().into_bytes();
    Pseudonym {
        key_id: key.id.clone(),
        value: hex::encode(&out[..PSEUDONYM_BYTES]),
    }
}

/// Normalises a name: upper case letters only (accents folded by dropping non-ASCII letters'
/// marks is out of scope; non-letters are removed), so "O'Brien-Smith " and "obrien smith"
/// agree.
pub fn normalise_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_alphabetic())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Normalises an NHS number to its ten digits; `None` unless it has ten digits and a valid
/// modulus-11 check digit.
pub fn normalise_nhs_number(nhs: &str) -> Option<String> {
    let digits: Vec<u32> = nhs
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_digit(10))
        .collect::<Option<_>>()?;
    if digits.len() != 10 {
        return None;
    }
    let sum: u32 = digits[..9]
        .iter()
        .enumerate()
        .map(|(i, d)| d * (10 - i as u32))
        .sum();
    let check = match 11 - (sum % 11) {
        11 => 0,
        10 => return None,
        c => c,
    };
    (check == digits[9]).then(|| {
        digits
            .iter()
            .map(|d| char::from_digit(*d, 10).unwrap())
            .collect()
    })
}

/// The modulus-11 check digit for nine NHS-number digits, or `None` when no valid number
/// starts with them. Used by the synthetic data generator.
pub fn nhs_check_digit(first_nine: &[u32; 9]) -> Option<u32> {
    let sum: u32 = first_nine
        .iter()
        .enumerate()
        .map(|(i, d)| d * (10 - i as u32))
        .sum();
    match 11 - (sum % 11) {
        11 => Some(0),
        10 => None,
        c => Some(c),
    }
}

/// Normalises a reference number (PNC id, crime reference, URN, case number): upper case,
/// letters and digits only.
pub fn normalise_reference(reference: &str) -> String {
    reference
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

fn person_linking_key(
    ids: &pb::PersonIdentifiers,
    agency_id: &str,
) -> Option<(IdentifierKind, String)> {
    let family = normalise_name(&ids.family_name);
    let given = normalise_name(&ids.given_name);
    if let (false, false, Some(dob)) = (
        family.is_empty(),
        given.is_empty(),
        ids.date_of_birth.as_ref(),
    ) && dob.year > 0
        && (1..=12).contains(&dob.month)
        && (1..=31).contains(&dob.day)
    {
        let value = format!(
            "{family}|{given}|{:04}-{:02}-{:02}",
            dob.year, dob.month, dob.day
        );
        return Some((IdentifierKind::PersonNameDob, value));
    }
    if let Some(nhs) = normalise_nhs_number(&ids.nhs_number) {
        return Some((IdentifierKind::PersonNhsNumber, nhs));
    }
    let pnc = normalise_reference(&ids.pnc_id);
    if !pnc.is_empty() {
        return Some((IdentifierKind::PersonPnc, pnc));
    }
    let local = normalise_reference(&ids.local_person_id);
    if !local.is_empty() {
        return Some((IdentifierKind::PersonLocal, format!("{agency_id}|{local}")));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(ids: &[&str]) -> Keyring {
        Keyring::new(
            ids.iter()
                .map(|id| PseudonymKey::new(*id, id.bytes().cycle().take(32).collect()).unwrap())
                .collect(),
        )
        .unwrap()
    }

    fn person(given: &str, family: &str) -> pb::PersonIdentifiers {
        pb::PersonIdentifiers {
            given_name: given.into(),
            family_name: family.into(),
            date_of_birth: Some(pb::Date {
                year: 1990,
                month: 2,
                day: 3,
            }),
            ..Default::default()
        }
    }

    #[test]
    fn same_person_links_across_agencies_despite_formatting() {
        let r = ring(&["k1"]);
        let a = r.person(&person("Alice", "O'Brien"), "police-1").unwrap();
        let b = r.person(&person(" alice ", "OBRIEN"), "health-1").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.value.len(), 32);
        assert_ne!(
            a,
            r.person(&person("Alicia", "O'Brien"), "police-1").unwrap()
        );
    }

    #[test]
    fn kinds_are_domain_separated_and_keys_differ() {
        let r = ring(&["k1", "k0"]);
        assert_ne!(
            r.pseudonymise(IdentifierKind::CpsUrn, "X1"),
            r.pseudonymise(IdentifierKind::CourtCaseNumber, "X1")
        );
        let all = r.pseudonymise_all(IdentifierKind::CpsUrn, "X1");
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].key_id, "k1");
        assert_ne!(all[0].value, all[1].value);
    }

    #[test]
    fn nhs_numbers_are_checked() {
        // 943 476 5919 is the NHS's own published example of a valid number format.
        assert_eq!(
            normalise_nhs_number("943 476 5919").as_deref(),
            Some("9434765919")
        );
        assert_eq!(normalise_nhs_number("943 476 5918"), None);
        assert_eq!(normalise_nhs_number("12345"), None);
        assert_eq!(nhs_check_digit(&[9, 4, 3, 4, 7, 6, 5, 9, 1]), Some(9));
    }

    #[test]
    fn local_ids_link_only_within_an_agency() {
        let r = ring(&["k1"]);
        let ids = pb::PersonIdentifiers {
            local_person_id: "A-17".into(),
            ..Default::default()
        };
        assert_ne!(r.person(&ids, "school-1"), r.person(&ids, "school-2"));
        assert_eq!(r.person(&pb::PersonIdentifiers::default(), "x"), None);
    }

    #[test]
    fn keys_never_print_and_are_validated() {
        let k = PseudonymKey::new("k1", vec![7; 32]).unwrap();
        assert!(!format!("{k:?}").contains('7'));
        assert!(PseudonymKey::new("k 1", vec![7; 32]).is_err());
        assert!(PseudonymKey::new("k1", vec![7; 8]).is_err());
        assert!(Keyring::new(vec![]).is_err());
    }
}
