//! Bearer tokens: JWTs signed with RS256, ES256 or EdDSA only, keys by `kid` from a JWKS
//! file (re-read when it changes or when a token names an unknown `kid`, so keys rotate
//! without a restart). `iss`, `aud`, `exp`, `nbf` and `sub` are required and checked, with
//! 30 seconds of leeway for clock skew.

use std::{
    collections::{BTreeSet, HashMap},
    path::PathBuf,
    sync::RwLock,
    time::SystemTime,
};

use jsonwebtoken::{
    Algorithm, DecodingKey, Validation, decode, decode_header,
    jwk::{JwkSet, KeyAlgorithm},
};
use serde::{Deserialize, Serialize};

use crate::Error;

/// The only algorithms accepted. Never `none`, never HMAC (which would let anyone holding the
/// public key forge tokens).
pub const ALLOWED_ALGORITHMS: [Algorithm; 3] =
    [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Clock-skew allowance for `exp` and `nbf`, in seconds.
pub const LEEWAY_SECONDS: u64 = 30;

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
    by_kid: HashMap<String, (DecodingKey, Option<Algorithm>)>,
}

/// Validates bearer tokens.
pub struct TokenValidator {
    issuer: String,
    audience: String,
    jwks_file: PathBuf,
    keys: RwLock<Keys>,
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
    Ok(Keys { modified, by_kid })
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
        })
    }

    fn reload(&self) {
        match read_keys(&self.jwks_file) {
            Ok(keys) => {
                if let Ok(mut guard) = self.keys.write() {
                    *guard = keys;
                }
            }
            Err(e) => tracing::warn!(error = %e, "JWKS reload failed; keeping the keys in use"),
        }
    }

    fn key(&self, kid: &str) -> Option<(DecodingKey, Option<Algorithm>)> {
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
        let found = self.keys.read().ok()?.by_kid.get(kid).cloned();
        if found.is_some() {
            return found;
        }
        // Unknown kid: the keys may have rotated within the file's timestamp resolution.
        self.reload();
        self.keys.read().ok()?.by_kid.get(kid).cloned()
    }

    /// Validates a token; the error says why in words fit for the caller (no token content).
    pub fn validate(&self, token: &str) -> Result<Claims, Error> {
        let refuse = |why: &str| Error::Unauthenticated(format!("invalid token: {why}"));
        let header =
            decode_header(token).map_err(|_| refuse("malformed or unsupported algorithm"))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(refuse("algorithm not allowed (RS256, ES256 or EdDSA only)"));
        }
        let kid = header.kid.as_deref().ok_or_else(|| refuse("no kid"))?;
        let (key, key_alg) = self.key(kid).ok_or_else(|| refuse("unknown signing key"))?;
        if key_alg.is_some_and(|a| a != header.alg) {
            return Err(refuse("algorithm does not match the key"));
        }
        let v = validation(header.alg, &self.issuer, &self.audience);
        decode::<Claims>(token, &key, &v)
            .map(|d| d.claims)
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

    #[test]
    fn hmac_and_none_are_not_allowed() {
        assert!(!ALLOWED_ALGORITHMS.contains(&Algorithm::HS256));
        assert!(!ALLOWED_ALGORITHMS.contains(&Algorithm::HS384));
        assert!(!ALLOWED_ALGORITHMS.contains(&Algorithm::HS512));
        assert!("none".parse::<Algorithm>().is_err());
    }
}
