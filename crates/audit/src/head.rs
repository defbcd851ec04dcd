//! Signed tree heads: the hub's ECDSA P-256 audit key signs (size, root, time) after every
//! group commit; agencies keep heads as receipts and anyone holding the public key checks them.

use chrono::{TimeZone, Utc};
use ring::{
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
        UnparsedPublicKey,
    },
};
use sha2::{Digest, Sha256};
use vawg_proto::pb;
use vawg_store::audit::StoredHead;

use crate::Error;

/// The signature algorithm of tree heads.
pub const HEAD_ALGORITHM: &str = "ECDSA_P256_SHA256";
const HEAD_CONTEXT: &[u8] = b"vawg-hub audit tree head v1\n";

fn head_message(tree_size: u64, root: &[u8], timestamp_ms: i64) -> Vec<u8> {
    let mut m = HEAD_CONTEXT.to_vec();
    m.extend_from_slice(&tree_size.to_be_bytes());
    m.extend_from_slice(root);
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m
}

fn timestamp_ms(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        .unwrap_or(0)
}

/// The hub's audit signing key (ECDSA P-256, PKCS#8).
pub struct HeadSigner {
    key: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for HeadSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadSigner")
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Key id: the first 8 bytes of SHA-256 of the public key, in hex.
pub fn key_id_of(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

impl HeadSigner {
    /// From a PKCS#8 PEM file's text.
    pub fn from_pem(pem: &str) -> Result<HeadSigner, Error> {
        use rustls::pki_types::{PrivatePkcs8KeyDer, pem::PemObject};
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| Error::Keys(format!("audit signing key: {e}")))?;
        HeadSigner::from_pkcs8_der(der.secret_pkcs8_der())
    }

    /// From a PKCS#8 DER document.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<HeadSigner, Error> {
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng).map_err(|_| {
                Error::Keys("audit signing key is not an ECDSA P-256 PKCS#8 key".into())
            })?;
        let key_id = key_id_of(key.public_key().as_ref());
        Ok(HeadSigner { key, key_id, rng })
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The verifier for heads this key signs.
    pub fn verifier(&self) -> HeadVerifier {
        HeadVerifier {
            public_key: self.key.public_key().as_ref().to_vec(),
            key_id: self.key_id.clone(),
        }
    }

    /// Signs a head.
    pub fn sign(&self, tree_size: u64, root: [u8; 32]) -> Result<pb::SignedTreeHead, Error> {
        let now = Utc::now();
        let ts_ms = now.timestamp_millis();
        let signature = self
            .key
            .sign(&self.rng, &head_message(tree_size, &root, ts_ms))
            .map_err(|_| Error::Keys("signing the audit head failed".into()))?;
        let when = Utc.timestamp_millis_opt(ts_ms).single().unwrap_or(now);
        Ok(pb::SignedTreeHead {
            tree_size,
            root_hash: root.to_vec(),
            timestamp: Some(prost_types::Timestamp {
                seconds: when.timestamp(),
                nanos: i32::try_from(when.timestamp_subsec_millis() * 1_000_000).unwrap_or(0),
            }),
            signature: signature.as_ref().to_vec(),
            key_id: self.key_id.clone(),
            algorithm: HEAD_ALGORITHM.to_string(),
        })
    }
}

/// Checks head signatures.
#[derive(Clone, Debug)]
pub struct HeadVerifier {
    public_key: Vec<u8>,
    key_id: String,
}

impl HeadVerifier {
    /// Whether `head` carries a valid signature by this key.
    pub fn verify(&self, head: &pb::SignedTreeHead) -> bool {
        head.key_id == self.key_id
            && head.algorithm == HEAD_ALGORITHM
            && UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.public_key)
                .verify(
                    &head_message(
                        head.tree_size,
                        &head.root_hash,
                        timestamp_ms(head.timestamp.as_ref()),
                    ),
                    &head.signature,
                )
                .is_ok()
    }
}

/// A stored head as the contract message.
pub fn head_from_stored(h: &StoredHead) -> pb::SignedTreeHead {
    pb::SignedTreeHead {
        tree_size: h.tree_size,
        root_hash: hex::decode(&h.root_hash).unwrap_or_default(),
        timestamp: Some(prost_types::Timestamp {
            seconds: h.timestamp_ms.div_euclid(1000),
            nanos: i32::try_from(h.timestamp_ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
        }),
        signature: hex::decode(&h.signature).unwrap_or_default(),
        key_id: h.key_id.clone(),
        algorithm: h.algorithm.clone(),
    }
}

/// The contract message as a stored head.
pub fn stored_from_head(h: &pb::SignedTreeHead) -> StoredHead {
    StoredHead {
        tree_size: h.tree_size,
        root_hash: hex::encode(&h.root_hash),
        timestamp_ms: timestamp_ms(h.timestamp.as_ref()),
        signature: hex::encode(&h.signature),
        key_id: h.key_id.clone(),
        algorithm: h.algorithm.clone(),
    }
}
