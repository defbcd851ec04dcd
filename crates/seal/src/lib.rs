//! vawg-seal: sealed payloads — identifying details a sender seals to the recipient agency's
//! public key, so that the hub routes and stores only ciphertext it cannot read.
//!
//! It sits beside the services, not under them: agencies' systems (`vawg-client`, the demo) seal
//! and open, and the hub's exchange service (`vawg-exchange`) only checks registered public keys
//! and names the suite. It depends on nothing but the contracts (`vawg-proto`), so a client
//! pulls in no server code.
//!
//! HPKE (RFC 9180) in base mode, single shot, with the suite
//! DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305. The associated data binds the
//! ciphertext to the recipient agency id and key id named in the payload, so a payload relabelled
//! for another recipient does not open. Agencies' systems call [`generate_keypair`], register
//! the public key with `RegisterSealingKey`, [`seal`] to a recipient's key from `GetSealingKey`,
//! and [`open`] what they receive. The hub itself never calls [`open`] and never holds a private
//! key.

use std::fmt;

use hpke::{
    Deserializable, Kem as _, OpModeR, OpModeS, Serializable, aead::ChaCha20Poly1305,
    kdf::HkdfSha256, kem::X25519HkdfSha256,
};
use rand_core::{OsRng, TryRngCore};
use vawg_proto::{ErrorKind, error::ServiceError, pb};

type Kem = X25519HkdfSha256;
type Aead = ChaCha20Poly1305;
type Kdf = HkdfSha256;

/// The HPKE suite, as named in `SealedPayload.suite` and `GetSealingKeyResponse.suite`.
pub const SUITE: &str = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305";

/// Length of an X25519 public or private key.
pub const KEY_BYTES: usize = 32;

/// HPKE `info`: separates this use of the keys from any other.
const INFO: &[u8] = b"vawg-hub sealed payload v1";

/// Why a payload could not be sealed or opened (wrong key, tampered or malformed payload, a
/// malformed key). The words never carry key material or plaintext.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Sealing or opening failed; the text says which part was wrong.
    #[error("sealed payload: {0}")]
    Sealing(&'static str),
}

impl ServiceError for Error {
    /// A payload or key the caller supplied is malformed, or does not open: the request is at
    /// fault.
    fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidArgument
    }
}

/// An agency's sealing key pair. The private key never prints and never goes to the hub.
#[derive(Clone)]
pub struct KeyPair {
    private_key: [u8; KEY_BYTES],
    public_key: [u8; KEY_BYTES],
}

impl KeyPair {
    /// The public key, to register with the hub.
    pub fn public_key(&self) -> &[u8] {
        &self.public_key
    }

    /// The private key bytes, for the agency to keep in its own secret store.
    pub fn private_key(&self) -> &[u8] {
        &self.private_key
    }

    /// A key pair from stored private key bytes.
    pub fn from_private_key(bytes: &[u8]) -> Result<KeyPair, Error> {
        let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(bytes)
            .map_err(|_| Error::Sealing("a private key is 32 bytes"))?;
        let pk = <Kem as hpke::Kem>::sk_to_pk(&sk);
        Ok(KeyPair {
            private_key: to_array(&sk.to_bytes()),
            public_key: to_array(&pk.to_bytes()),
        })
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public_key", &hex_short(&self.public_key))
            .field("private_key", &"[redacted]")
            .finish()
    }
}

fn hex_short(b: &[u8]) -> String {
    b.iter()
        .take(4)
        .map(|x| format!("{x:02x}"))
        .collect::<String>()
        + "…"
}

fn to_array(b: &[u8]) -> [u8; KEY_BYTES] {
    let mut out = [0u8; KEY_BYTES];
    out.copy_from_slice(&b[..KEY_BYTES]);
    out
}

fn aad(recipient_agency_id: &str, key_id: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(recipient_agency_id.len() + key_id.len() + 1);
    v.extend_from_slice(recipient_agency_id.as_bytes());
    v.push(0x1f);
    v.extend_from_slice(key_id.as_bytes());
    v
}

/// A fresh key pair from the operating system's random source.
pub fn generate_keypair() -> KeyPair {
    let mut rng = OsRng.unwrap_err();
    let (sk, pk) = Kem::gen_keypair(&mut rng);
    KeyPair {
        private_key: to_array(&sk.to_bytes()),
        public_key: to_array(&pk.to_bytes()),
    }
}

/// Checks that `public_key` is an X25519 public key.
pub fn check_public_key(public_key: &[u8]) -> Result<(), Error> {
    <Kem as hpke::Kem>::PublicKey::from_bytes(public_key)
        .map(|_| ())
        .map_err(|_| Error::Sealing("a public key is 32 bytes (X25519)"))
}

/// Seals `plaintext` to the recipient agency's public key `public_key` (id `key_id`).
pub fn seal(
    recipient_agency_id: &str,
    key_id: &str,
    public_key: &[u8],
    plaintext: &[u8],
) -> Result<pb::SealedPayload, Error> {
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(public_key)
        .map_err(|_| Error::Sealing("a public key is 32 bytes (X25519)"))?;
    let mut rng = OsRng.unwrap_err();
    let (encapped, ciphertext) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
        &OpModeS::Base,
        &pk,
        INFO,
        plaintext,
        &aad(recipient_agency_id, key_id),
        &mut rng,
    )
    .map_err(|_| Error::Sealing("sealing failed"))?;
    Ok(pb::SealedPayload {
        recipient_agency_id: recipient_agency_id.to_string(),
        key_id: key_id.to_string(),
        suite: SUITE.to_string(),
        encapsulated_key: encapped.to_bytes().to_vec(),
        ciphertext,
    })
}

/// Opens a payload sealed to `keys`. Fails for any other key, another suite, or a payload whose
/// ciphertext, recipient or key id was altered.
pub fn open(keys: &KeyPair, sealed: &pb::SealedPayload) -> Result<Vec<u8>, Error> {
    if sealed.suite != SUITE {
        return Err(Error::Sealing("unsupported HPKE suite"));
    }
    let sk = <Kem as hpke::Kem>::PrivateKey::from_bytes(&keys.private_key)
        .map_err(|_| Error::Sealing("a private key is 32 bytes"))?;
    let encapped = <Kem as hpke::Kem>::EncappedKey::from_bytes(&sealed.encapsulated_key)
        .map_err(|_| Error::Sealing("the encapsulated key is malformed"))?;
    hpke::single_shot_open::<Aead, Kdf, Kem>(
        &OpModeR::Base,
        &sk,
        &encapped,
        INFO,
        &sealed.ciphertext,
        &aad(&sealed.recipient_agency_id, &sealed.key_id),
    )
    .map_err(|_| Error::Sealing("the payload does not open with this key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_only_with_the_recipients_key_and_label() {
        let school = generate_keypair();
        let other = generate_keypair();
        let sealed = seal("school-100001", "k1", school.public_key(), b"pupil details").unwrap();
        assert_eq!(sealed.suite, SUITE);
        assert_ne!(sealed.ciphertext, b"pupil details");
        assert_eq!(open(&school, &sealed).unwrap(), b"pupil details");
        assert!(open(&other, &sealed).is_err());
        let mut relabelled = sealed.clone();
        relabelled.recipient_agency_id = "school-100002".into();
        assert!(open(&school, &relabelled).is_err());
        let mut tampered = sealed;
        tampered.ciphertext[0] ^= 1;
        assert!(open(&school, &tampered).is_err());
    }

    #[test]
    fn key_pairs_round_trip_and_never_print_the_private_key() {
        let k = generate_keypair();
        let again = KeyPair::from_private_key(k.private_key()).unwrap();
        assert_eq!(again.public_key(), k.public_key());
        assert!(format!("{k:?}").contains("[redacted]"));
        assert!(check_public_key(k.public_key()).is_ok());
        assert!(check_public_key(&[1, 2, 3]).is_err());
    }
}
