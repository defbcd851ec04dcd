//! Bearer tokens: JWTs signed with RS256, ES256 or EdDSA only, keys by `kid` from a JWKS
//! file (re-read when it changes or when a token names an unknown `kid`, so keys rotate
//! without a restart). `iss`, `aud`, `exp`, `nbf` and `sub` are required and checked, with
//! 30 seconds of leeway for clock skew.
//!
//! An agency system sends the same token with every call until it refreshes it, so a token
//! that verified is remembered (by the SHA-256 of its text, in a bounded map) together with
//! the generation of the keys it verified under: a later call with the same token skips the
//! signature check but still has `exp` and `nbf` checked against the clock. A reload of the
//! JWKS whose content changed starts a new generation and forgets every remembered token, so a
//! removed key stops being honoured at once; a reload that finds the same content changes
//! nothing. Refused tokens are never remembered.
//!
//! A token naming an unknown `kid` triggers at most one reload per
//! [`DEFAULT_UNKNOWN_KID_RELOAD_INTERVAL`] (configurable), however many such tokens arrive: a
//! storm of made-up `kid`s costs no file reads beyond that and never empties the cache.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
    sync::{
        Mutex, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant, SystemTime},
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{JwkSet, KeyAlgorithm},
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// The only algorithms accepted. Never `none`, never HMAC (which would let anyone holding the
/// public key forge tokens).
pub const ALLOWED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Clock-skew allowance for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

/// Most verified tokens remembered at once (a few per agency system in practice).
pub const MAX_REMEMBERED_TOKENS: usize = 8192;

/// The least time between two reloads of the JWKS caused by unknown `kid`s.
pub const DEFAULT_UNKNOWN_KID_RELOAD_INTERVAL: Duration = Duration::from_secs(10);

/// The claims of a hub token.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: the agency id (must equal the certificate's).
    pub sub: String,
    /// Audience (the hub).
    pub aud: String,
    /// Expiry (seconds since the epoch).
    pub exp: u64,
    /// Not before (seconds since the epoch).
    pub nbf: u64,
    /// Issued at (seconds since the epoch).
    #[serde(default)]
    pub iat: u64,
    /// Space-separated scopes (RFC 8693 `scope`).
    #[serde(default)]
    pub scope: String,
}

impl Claims {
    /// The scopes as a set.
    pub fn scopes(&self) -> BTreeSet<String> {
        self.scope.split_whitespace().map(str::to_string).collect()
    }
}

/// The validation applied to every token of algorithm `alg` (already checked to be allowed).
pub fn validation(alg: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    v.validate_exp = true;
    v.validate_nbf = true;
    v.leeway = LEEWAY_SECONDS;
    v
}

struct Keys {
    modified: Option<SystemTime>,
    /// SHA-256 of the file's text: a reload finding the same keys changes nothing.
    digest: [u8; 32],
    by_kid: HashMap<String, (DecodingKey, Option<Algorithm>)>,
    /// Bumped at every reload: what was verified under an older generation is forgotten.
    generation: u64,
}

/// Tokens that verified under the keys of `generation`, by SHA-256 of the token text.
#[derive(Default)]
struct Verified {
    generation: u64,
    claims: HashMap<[u8; 32], Claims>,
}

impl Verified {
    /// Remembers `claims` for `digest`, if the keys have not changed since it was verified.
    /// Full: drops the tokens that have expired, and if that frees nothing, everything.
    fn remember(&mut self, generation: u64, digest: [u8; 32], claims: Claims, now: u64) {
        if generation != self.generation {
            return;
        }
        if self.claims.len() >= MAX_REMEMBERED_TOKENS {
            self.claims.retain(|_, c| !expired(c, now));
            if self.claims.len() >= MAX_REMEMBERED_TOKENS {
                self.claims.clear();
            }
        }
        self.claims.insert(digest, claims);
    }
}

/// `exp` as jsonwebtoken checks it: expired once `now - leeway` is past it.
fn expired(claims: &Claims, now: u64) -> bool {
    claims.exp < now.saturating_sub(LEEWAY_SECONDS)
}

/// `nbf` as jsonwebtoken checks it: not yet valid while it is after `now + leeway`.
fn immature(claims: &Claims, now: u64) -> bool {
    claims.nbf > now.saturating_add(LEEWAY_SECONDS)
}

/// Validates bearer tokens.
pub struct TokenValidator {
    issuer: String,
    audience: String,
    jwks_file: PathBuf,
    keys: RwLock<Keys>,
    verified: Mutex<Verified>,
    unknown_kid_interval: Duration,
    last_unknown_kid_reload: Mutex<Option<Instant>>,
    reads: AtomicU64,
}

impl std::fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("jwks_file", &self.jwks_file)
            .finish()
    }
}

fn algorithm_of(alg: &KeyAlgorithm) -> Option<Algorithm> {
    Some(match alg {
        KeyAlgorithm::RS256 => Algorithm::RS256,
        KeyAlgorithm::ES256 => Algorithm::ES256,
        KeyAlgorithm::EdDSA => Algorithm::EdDSA,
        _ => return None,
    })
}

fn read_keys(path: &PathBuf) -> Result<Keys, Error> {
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Keys(format!("reading JWKS {}: {e}", path.display())))?;
    let digest: [u8; 32] = Sha256::digest(text.as_bytes()).into();
    let set: JwkSet = serde_json::from_str(&text)
        .map_err(|e| Error::Keys(format!("JWKS {}: {e}", path.display())))?;
    let mut by_kid = HashMap::new();
    for jwk in &set.keys {
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        let alg = jwk.common.key_algorithm.as_ref().and_then(algorithm_of);
        if jwk.common.key_algorithm.is_some() && alg.is_none() {
            // A key for an algorithm outside the allow-list is ignored.
            continue;
        }
        let key = DecodingKey::from_jwk(jwk)
            .map_err(|e| Error::Keys(format!("JWKS {} key {kid}: {e}", path.display())))?;
        by_kid.insert(kid, (key, alg));
    }
    Ok(Keys {
        modified,
        digest,
        by_kid,
        generation: 0,
    })
}

impl TokenValidator {
    /// Loads the JWKS file now (refusing to start on a bad one).
    pub fn new(
        issuer: impl Into<String>,
        audience: impl Into<String>,
        jwks_file: impl Into<PathBuf>,
    ) -> Result<TokenValidator, Error> {
        let jwks_file = jwks_file.into();
        let keys = read_keys(&jwks_file)?;
        if keys.by_kid.is_empty() {
            return Err(Error::Keys(format!(
                "JWKS {} holds no usable key with a kid",
                jwks_file.display()
            )));
        }
        Ok(TokenValidator {
            issuer: issuer.into(),
            audience: audience.into(),
            jwks_file,
            keys: RwLock::new(keys),
            verified: Mutex::new(Verified::default()),
            unknown_kid_interval: DEFAULT_UNKNOWN_KID_RELOAD_INTERVAL,
            last_unknown_kid_reload: Mutex::new(None),
            reads: AtomicU64::new(1),
        })
    }

    /// This validator, reloading the JWKS for an unknown `kid` at most once per `interval`.
    pub fn with_unknown_kid_reload_interval(mut self, interval: Duration) -> TokenValidator {
        self.unknown_kid_interval = interval;
        self
    }

    /// How many times the JWKS file has been read (for tests and diagnostics).
    pub fn key_file_reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    fn reload(&self) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        match read_keys(&self.jwks_file) {
            Ok(mut keys) => {
                if let Ok(mut guard) = self.keys.write() {
                    if keys.digest == guard.digest {
                        // Same keys: nothing verified under them is forgotten.
                        guard.modified = keys.modified;
                        return;
                    }
                    keys.generation = guard.generation.wrapping_add(1);
                    // Forget what the old keys verified before the new keys are in use, so
                    // no call can be accepted on a remembered token once a key is gone.
                    if let Ok(mut verified) = self.verified.lock() {
                        verified.generation = keys.generation;
                        verified.claims.clear();
                    }
                    *guard = keys;
                }
            }
            Err(e) => tracing::warn!(error = %e, "JWKS reload failed; keeping the keys in use"),
        }
    }

    /// Reloads the JWKS if the file changed; returns the generation of the keys in use.
    fn refresh(&self) -> Option<u64> {
        let modified = std::fs::metadata(&self.jwks_file)
            .and_then(|m| m.modified())
            .ok();
        let stale = self
            .keys
            .read()
            .map(|k| k.modified != modified)
            .unwrap_or(true);
        if stale {
            self.reload();
        }
        self.keys.read().ok().map(|k| k.generation)
    }

    /// The key for `kid` (reloading once if it is unknown) and the generation it belongs to.
    fn key(&self, kid: &str) -> Option<(DecodingKey, Option<Algorithm>, u64)> {
        let lookup = |keys: &Keys| {
            keys.by_kid
                .get(kid)
                .map(|(k, a)| (k.clone(), *a, keys.generation))
        };
        let found = lookup(&*self.keys.read().ok()?);
        if found.is_some() {
            return found;
        }
        // Unknown kid: the keys may have rotated within the file's timestamp resolution. At
        // most one such reload per interval, so a storm of made-up kids costs nothing more.
        {
            let mut last = self.last_unknown_kid_reload.lock().ok()?;
            let now = Instant::now();
            if last.is_some_and(|t| now.duration_since(t) < self.unknown_kid_interval) {
                return None;
            }
            *last = Some(now);
        }
        self.reload();
        lookup(&*self.keys.read().ok()?)
    }

    /// Number of verified tokens remembered (for tests and diagnostics).
    pub fn remembered_tokens(&self) -> usize {
        self.verified.lock().map(|v| v.claims.len()).unwrap_or(0)
    }

    /// Validates a token; the error says why in words fit for the caller (no token content).
    ///
    /// A token that verified under the keys in use is not verified again: its claims are
    /// remembered, and only `exp` and `nbf` are checked again, against the clock, on each use.
    pub fn validate(&self, token: &str) -> Result<Claims, Error> {
        let refuse = |why: &str| Error::Unauthenticated(format!("invalid token: {why}"));
        let generation = self.refresh();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(generation) = generation {
            let remembered = self
                .verified
                .lock()
                .ok()
                .filter(|v| v.generation == generation)
                .and_then(|v| v.claims.get(&digest).cloned());
            if let Some(claims) = remembered {
                let now = jsonwebtoken::get_current_timestamp();
                if expired(&claims, now) {
                    return Err(refuse("expired"));
                }
                if immature(&claims, now) {
                    return Err(refuse("not yet valid"));
                }
                return Ok(claims);
            }
        }
        let header =
            decode_header(token).map_err(|_| refuse("malformed or unsupported algorithm"))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(refuse("algorithm not allowed (RS256, ES256 or EdDSA only)"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| refuse("no kid"))?;
        let (key, key_alg, generation) =
            self.key(kid).ok_or_else(|| refuse("unknown signing key"))?;
        if key_alg.is_some_and(|a| a != header.alg) {
            return Err(refuse("algorithm does not match the key"));
        }
        let v = validation(header.alg, &self.issuer, &self.audience);
        decode::<Claims>(token, &key, &v)
            .map(|d| {
                if let Ok(mut verified) = self.verified.lock() {
                    let now = jsonwebtoken::get_current_timestamp();
                    verified.remember(generation, digest, d.claims.clone(), now);
                }
                d.claims
            })
            .map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                refuse(match e.kind() {
                    K::ExpiredSignature => "expired",
                    K::ImmatureSignature => "not yet valid",
                    K::InvalidAudience => "wrong audience",
                    K::InvalidIssuer => "wrong issuer",
                    K::InvalidSignature => "bad signature",
                    K::MissingRequiredClaim(_) => "a required claim is missing",
                    K::InvalidAlgorithm | K::InvalidAlgorithmName => "algorithm not allowed",
                    _ => "rejected",
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// jsonwebtoken's defaults have changed between versions; pin the ones this module relies
    /// on overriding, so an upgrade that moves them fails here rather than in production.
    #[test]
    fn jsonwebtoken_defaults_are_what_we_override() {
        let d = Validation::new(Algorithm::ES256);
        assert_eq!(d.leeway, 60);
        assert!(d.validate_exp);
        assert!(!d.validate_nbf, "nbf is not checked by default in 9.x");
        assert!(d.validate_aud);
        assert_eq!(d.required_spec_claims, HashSet::from(["exp".to_string()]));
        assert!(d.iss.is_none());
        assert!(d.aud.is_none());
        assert_eq!(d.algorithms, vec![Algorithm::ES256]);
        let default = Validation::default();
        assert_eq!(default.algorithms, vec![Algorithm::HS256]);
    }

    #[test]
    fn our_validation_requires_and_checks_every_claim() {
        let v = validation(Algorithm::ES256, "https://issuer", "vawg-hub");
        assert_eq!(v.leeway, 30);
        assert!(v.validate_exp && v.validate_nbf && v.validate_aud);
        assert_eq!(v.algorithms, vec![Algorithm::ES256]);
        for claim in ["exp", "nbf", "iss", "aud", "sub"] {
            assert!(v.required_spec_claims.contains(claim), "{claim}");
        }
        assert_eq!(v.iss, Some(HashSet::from(["https://issuer".to_string()])));
        assert_eq!(v.aud, Some(HashSet::from(["vawg-hub".to_string()])));
    }

    /// Test keys and tokens: Ed25519, a JWKS file written by the test.
    mod fixture {
        use std::path::Path;

        use jsonwebtoken::{EncodingKey, Header, encode};
        use ring::{
            rand::SystemRandom,
            signature::{Ed25519KeyPair, KeyPair},
        };

        use super::*;

        pub struct Key {
            pub kid: String,
            pkcs8: Vec<u8>,
        }

        impl Key {
            pub fn new(kid: &str) -> Key {
                let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
                    .unwrap()
                    .as_ref()
                    .to_vec();
                Key {
                    kid: kid.into(),
                    pkcs8,
                }
            }

            fn jwk(&self) -> serde_json::Value {
                let public = Ed25519KeyPair::from_pkcs8(&self.pkcs8).unwrap();
                serde_json::json!({
                    "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig",
                    "kid": self.kid, "x": base64url(public.public_key().as_ref()),
                })
            }

            /// A token for `sub` valid from `nbf` to `exp` (seconds from now).
            pub fn token(&self, sub: &str, nbf: i64, exp: i64) -> String {
                let now = jsonwebtoken::get_current_timestamp() as i64;
                let claims = Claims {
                    iss: "https://issuer".into(),
                    sub: sub.into(),
                    aud: "vawg-hub".into(),
                    exp: u64::try_from(now + exp).unwrap(),
                    nbf: u64::try_from(now + nbf).unwrap(),
                    iat: u64::try_from(now).unwrap(),
                    scope: "reference:read".into(),
                };
                let mut header = Header::new(Algorithm::EdDSA);
                header.kid = Some(self.kid.clone());
                encode(&header, &claims, &EncodingKey::from_ed_der(&self.pkcs8)).unwrap()
            }
        }

        /// Writes a JWKS of `keys`, giving the file a modification time of its own.
        pub fn write_jwks(path: &Path, keys: &[&Key], version: u64) {
            let jwks =
                serde_json::json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() });
            std::fs::write(path, jwks.to_string()).unwrap();
            let file = std::fs::File::options().write(true).open(path).unwrap();
            file.set_modified(
                SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000 + version),
            )
            .unwrap();
        }

        fn base64url(bytes: &[u8]) -> String {
            const ALPHABET: &[u8; 64] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let n = chunk
                    .iter()
                    .enumerate()
                    .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
                for i in 0..=chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                }
            }
            out
        }
    }

    fn validator(dir: &std::path::Path) -> TokenValidator {
        TokenValidator::new("https://issuer", "vawg-hub", dir.join("jwks.json")).unwrap()
    }

    #[test]
    fn a_verified_token_is_remembered_and_a_refused_one_never() {
        let dir = tempfile::tempdir().unwrap();
        let key = fixture::Key::new("k1");
        fixture::write_jwks(&dir.path().join("jwks.json"), &[&key], 1);
        let tokens = validator(dir.path());

        let token = key.token("police-1", -10, 600);
        let first = tokens.validate(&token).unwrap();
        assert_eq!(tokens.remembered_tokens(), 1);
        assert_eq!(tokens.validate(&token).unwrap(), first);
        assert_eq!(tokens.remembered_tokens(), 1);

        // Signed by a key that is not in the JWKS but names a kid that is: refused, every time,
        // and never remembered.
        let impostor = fixture::Key::new("k1");
        let forged = impostor.token("police-1", -10, 600);
        for _ in 0..2 {
            let err = tokens.validate(&forged).unwrap_err();
            assert!(err.to_string().contains("bad signature"), "{err}");
        }
        // Tampered with after signing: a different text, so verified afresh, and refused.
        let mut tampered = token.clone();
        tampered.pop();
        assert!(tokens.validate(&tampered).is_err());
        // Expired, or not yet valid (beyond the leeway): refused and not remembered.
        assert!(
            tokens
                .validate(&key.token("police-1", -600, -120))
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        assert!(
            tokens
                .validate(&key.token("police-1", 120, 600))
                .unwrap_err()
                .to_string()
                .contains("not yet valid")
        );
        assert_eq!(tokens.remembered_tokens(), 1);
    }

    #[test]
    fn an_unknown_kid_storm_reloads_at_most_once_per_interval_and_keeps_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        let key = fixture::Key::new("k1");
        fixture::write_jwks(&dir.path().join("jwks.json"), &[&key], 1);
        let tokens = validator(dir.path());
        let good = key.token("police-1", -10, 600);
        tokens.validate(&good).unwrap();
        let reads = tokens.key_file_reads();
        for i in 0..500 {
            let stranger = fixture::Key::new(&format!("unknown-{i}"));
            let err = tokens
                .validate(&stranger.token("police-1", -10, 600))
                .unwrap_err();
            assert!(err.to_string().contains("unknown signing key"), "{err}");
        }
        assert!(
            tokens.key_file_reads() - reads <= 1,
            "one reload per interval"
        );
        // The same file: the reload forgot nothing.
        assert_eq!(tokens.remembered_tokens(), 1);
        assert!(tokens.validate(&good).is_ok());
    }

    #[test]
    fn a_remembered_token_still_has_its_times_checked_on_every_use() {
        let dir = tempfile::tempdir().unwrap();
        let key = fixture::Key::new("k1");
        fixture::write_jwks(&dir.path().join("jwks.json"), &[&key], 1);
        let tokens = validator(dir.path());
        let token = key.token("police-1", -10, 600);
        tokens.validate(&token).unwrap();
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let now = jsonwebtoken::get_current_timestamp();

        // Time passes (simulated by moving the remembered times): past its expiry plus the
        // leeway the remembered token is refused as expired, not served from memory.
        let mut claims = tokens.verified.lock().unwrap().claims[&digest].clone();
        claims.exp = now - LEEWAY_SECONDS - 1;
        tokens
            .verified
            .lock()
            .unwrap()
            .claims
            .insert(digest, claims.clone());
        assert!(
            tokens
                .validate(&token)
                .unwrap_err()
                .to_string()
                .contains("expired")
        );
        // Within the leeway it is still good, as jsonwebtoken would say.
        claims.exp = now - LEEWAY_SECONDS + 5;
        tokens
            .verified
            .lock()
            .unwrap()
            .claims
            .insert(digest, claims.clone());
        assert!(tokens.validate(&token).is_ok());
        // And before its nbf (beyond the leeway) it is not yet valid.
        claims.exp = now + 600;
        claims.nbf = now + LEEWAY_SECONDS + 5;
        tokens
            .verified
            .lock()
            .unwrap()
            .claims
            .insert(digest, claims);
        assert!(
            tokens
                .validate(&token)
                .unwrap_err()
                .to_string()
                .contains("not yet valid")
        );
    }

    #[test]
    fn rotating_the_jwks_forgets_what_the_old_keys_verified() {
        let dir = tempfile::tempdir().unwrap();
        let jwks = dir.path().join("jwks.json");
        let (old, new) = (fixture::Key::new("old"), fixture::Key::new("new"));
        fixture::write_jwks(&jwks, &[&old], 1);
        let tokens = validator(dir.path());
        let token = old.token("police-1", -10, 600);
        tokens.validate(&token).unwrap();
        assert_eq!(tokens.remembered_tokens(), 1);

        // The old key is withdrawn: its token is refused at once, though it was remembered.
        fixture::write_jwks(&jwks, &[&new], 2);
        let err = tokens.validate(&token).unwrap_err();
        assert!(err.to_string().contains("unknown signing key"), "{err}");
        assert_eq!(tokens.remembered_tokens(), 0);
        tokens.validate(&new.token("police-1", -10, 600)).unwrap();

        // A token verified before a rotation is not remembered after it (the generation moved
        // on between the check and the remembering).
        let generation = tokens.keys.read().unwrap().generation;
        let mut verified = tokens.verified.lock().unwrap();
        let before = verified.claims.len();
        let claims = verified.claims.values().next().unwrap().clone();
        verified.remember(generation.wrapping_sub(1), [7; 32], claims, 0);
        assert_eq!(verified.claims.len(), before);
    }

    #[test]
    fn remembered_tokens_are_bounded() {
        let mut verified = Verified::default();
        let claims = |exp| Claims {
            iss: "i".into(),
            sub: "s".into(),
            aud: "a".into(),
            exp,
            nbf: 0,
            iat: 0,
            scope: String::new(),
        };
        let now = 1_000_000;
        for i in 0..MAX_REMEMBERED_TOKENS {
            // Half of them long expired.
            let exp = if i % 2 == 0 { 10 } else { now + 600 };
            let mut digest = [0u8; 32];
            digest[..8].copy_from_slice(&(i as u64).to_le_bytes());
            verified.remember(0, digest, claims(exp), now);
        }
        assert_eq!(verified.claims.len(), MAX_REMEMBERED_TOKENS);
        verified.remember(0, [0xff; 32], claims(now + 600), now);
        assert_eq!(verified.claims.len(), MAX_REMEMBERED_TOKENS / 2 + 1);
        assert!(verified.claims.values().all(|c| !expired(c, now)));
    }

    #[test]
    fn hmac_and_none_are_not_allowed() {
        assert!(!ALLOWED_ALGORITHMS.contains(&Algorithm::HS256));
        assert!(!ALLOWED_ALGORITHMS.contains(&Algorithm::HS384));
        assert!(!ALLOWED_ALGORITHMS.contains(&Algorithm::HS512));
        assert!("none".parse::<Algorithm>().is_err());
    }
}
