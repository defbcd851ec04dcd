//! A development PKI for the hub (`vawg-hub pki init|issue`, `vawg-hub token`): a CA, the
//! server's certificate (localhost, 127.0.0.1), agency client certificates naming
//! `urn:vawg:agency:<id>`, the ES256 key that signs development tokens with its JWKS, and the
//! audit log's signing key. Production deployments bring their own CA and identity provider;
//! the hub only needs the CA certificate, its server key pair, a JWKS file and an audit key.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{Datelike, Utc};
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, SanType, date_time_ymd,
};
use vawg_audit::key_id_of;
use vawg_auth::{cert::AGENCY_URI_PREFIX, jwt::Claims};
use vawg_domain::identity::AgencyKind;

/// Issuer of development tokens.
pub const DEV_ISSUER: &str = "urn:vawg:hub:dev";
/// Audience of development tokens (the hub).
pub const DEV_AUDIENCE: &str = "urn:vawg:hub";

/// The files of a development PKI folder.
#[derive(Clone, Debug)]
pub struct Pki {
    /// The folder.
    pub dir: PathBuf,
}

impl Pki {
    /// The PKI in `dir` (not created).
    pub fn at(dir: impl Into<PathBuf>) -> Pki {
        Pki { dir: dir.into() }
    }
    /// CA certificate (PEM): the hub's `tls.ca_cert`, and what clients trust.
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }
    /// CA private key (PEM).
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    /// Server certificate (PEM): `tls.server_cert`.
    pub fn server_cert(&self) -> PathBuf {
        self.dir.join("server.pem")
    }
    /// Server private key (PEM): `tls.server_key`.
    pub fn server_key(&self) -> PathBuf {
        self.dir.join("server.key")
    }
    /// The ES256 key that signs development tokens (PKCS#8 PEM).
    pub fn jwt_key(&self) -> PathBuf {
        self.dir.join("jwt-signing.key")
    }
    /// The JWKS with the token key's public half: `jwt.jwks_file`.
    pub fn jwks(&self) -> PathBuf {
        self.dir.join("jwks.json")
    }
    /// The audit log's signing key (PKCS#8 PEM): `audit.signing_key`.
    pub fn audit_key(&self) -> PathBuf {
        self.dir.join("audit-signing.key")
    }
    /// An agency's certificate (PEM).
    pub fn agency_cert(&self, agency_id: &str) -> PathBuf {
        self.dir.join("agencies").join(format!("{agency_id}.pem"))
    }
    /// An agency's private key (PEM).
    pub fn agency_key(&self, agency_id: &str) -> PathBuf {
        self.dir.join("agencies").join(format!("{agency_id}.key"))
    }
}

fn write_secret(path: &Path, text: &str) -> anyhow::Result<()> {
    fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

fn validity(params: &mut CertificateParams, days: i64) {
    let now = Utc::now();
    let start = now - chrono::Duration::days(1);
    let end = now + chrono::Duration::days(days);
    params.not_before = date_time_ymd(start.year(), start.month() as u8, start.day() as u8);
    params.not_after = date_time_ymd(end.year(), end.month() as u8, end.day() as u8);
}

/// Creates a CA, a server certificate for `localhost` / `127.0.0.1`, the token key and JWKS,
/// and the audit key in `dir`. Refuses to overwrite an existing CA.
pub fn init(dir: &Path) -> anyhow::Result<Pki> {
    let pki = Pki::at(dir);
    if pki.ca_cert().exists() {
        bail!("{} already holds a CA; not overwriting it", dir.display());
    }
    fs::create_dir_all(dir.join("agencies"))
        .with_context(|| format!("creating {}", dir.display()))?;

    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca = CertificateParams::default();
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name
        .push(DnType::CommonName, "vawg-hub development CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "vawg-hub (development)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    validity(&mut ca, 3650);
    let ca_cert = ca.self_signed(&ca_key)?;
    fs::write(pki.ca_cert(), ca_cert.pem())?;
    write_secret(&pki.ca_key(), &ca_key.serialize_pem())?;

    let issuer = Issuer::new(ca, ca_key);
    let server_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut server = CertificateParams::new(vec!["localhost".to_string()])?;
    server
        .subject_alt_names
        .push(SanType::IpAddress([127, 0, 0, 1].into()));
    server
        .distinguished_name
        .push(DnType::CommonName, "vawg-hub");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    validity(&mut server, 825);
    let server_cert = server.signed_by(&server_key, &issuer)?;
    fs::write(pki.server_cert(), server_cert.pem())?;
    write_secret(&pki.server_key(), &server_key.serialize_pem())?;

    rotate_token_key(&pki)?;
    let audit_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    write_secret(&pki.audit_key(), &audit_key.serialize_pem())?;
    Ok(pki)
}

/// The JWKS entry (RFC 7517) of an ES256 public key.
fn jwk_of(key: &KeyPair) -> serde_json::Value {
    // Uncompressed SEC1 point: 0x04 || x || y.
    let raw = key.public_key_raw();
    serde_json::json!({
        "kty": "EC",
        "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&raw[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&raw[33..65]),
        "kid": key_id_of(raw),
        "alg": "ES256",
        "use": "sig",
    })
}

/// Generates a new token signing key; the JWKS keeps the previous public key too, so tokens
/// already issued stay valid while the hub picks up the new one (rotation by `kid`).
pub fn rotate_token_key(pki: &Pki) -> anyhow::Result<String> {
    let mut keys: Vec<serde_json::Value> = Vec::new();
    if let Ok(old) = fs::read_to_string(pki.jwt_key()) {
        keys.push(jwk_of(&KeyPair::from_pem(&old)?));
    }
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let jwk = jwk_of(&key);
    let kid = jwk["kid"].as_str().unwrap_or_default().to_string();
    keys.insert(0, jwk);
    write_secret(&pki.jwt_key(), &key.serialize_pem())?;
    let jwks = serde_json::json!({ "keys": keys });
    fs::write(pki.jwks(), serde_json::to_string_pretty(&jwks)?)?;
    Ok(kid)
}

/// Validity of an agency certificate, as calendar dates (UTC).
#[derive(Clone, Copy, Debug)]
pub struct Validity {
    /// First valid day (year, month, day).
    pub not_before: (i32, u8, u8),
    /// Last valid day (year, month, day).
    pub not_after: (i32, u8, u8),
}

/// Issues an agency's client certificate (SAN URI `urn:vawg:agency:<id>`, the kind in the
/// subject's OU), valid for a year unless `validity` says otherwise. Returns the certificate
/// and key paths.
pub fn issue(
    pki: &Pki,
    agency_id: &str,
    kind: AgencyKind,
    validity_override: Option<Validity>,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    if agency_id.is_empty()
        || !agency_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        bail!("agency id must be letters, digits, '-', '_' or '.'");
    }
    let ca_key = KeyPair::from_pem(
        &fs::read_to_string(pki.ca_key())
            .with_context(|| format!("reading {}", pki.ca_key().display()))?,
    )?;
    let issuer = Issuer::from_ca_cert_pem(&fs::read_to_string(pki.ca_cert())?, ca_key)?;
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params
        .distinguished_name
        .push(DnType::CommonName, agency_id);
    params
        .distinguished_name
        .push(DnType::OrganizationalUnitName, kind.as_str());
    params.subject_alt_names = vec![SanType::URI(
        format!("{AGENCY_URI_PREFIX}{agency_id}").try_into()?,
    )];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    match validity_override {
        Some(v) => {
            params.not_before = date_time_ymd(v.not_before.0, v.not_before.1, v.not_before.2);
            params.not_after = date_time_ymd(v.not_after.0, v.not_after.1, v.not_after.2);
        }
        None => validity(&mut params, 365),
    }
    let cert = params.signed_by(&key, &issuer)?;
    fs::create_dir_all(pki.dir.join("agencies"))?;
    let (cert_path, key_path) = (pki.agency_cert(agency_id), pki.agency_key(agency_id));
    fs::write(&cert_path, cert.pem())?;
    write_secret(&key_path, &key.serialize_pem())?;
    Ok((cert_path, key_path))
}

/// What a development token says.
#[derive(Clone, Debug)]
pub struct TokenSpec {
    /// The agency (`sub`).
    pub agency_id: String,
    /// Scopes granted.
    pub scopes: Vec<String>,
    /// `iss`.
    pub issuer: String,
    /// `aud`.
    pub audience: String,
    /// Seconds from now until `exp` (negative for an expired token).
    pub ttl_seconds: i64,
    /// Seconds from now until `nbf` (0: valid at once).
    pub not_before_seconds: i64,
}

impl TokenSpec {
    /// A token for `agency_id` with `scopes`, the development issuer and audience, valid for
    /// an hour.
    pub fn new(agency_id: &str, scopes: impl IntoIterator<Item = impl Into<String>>) -> TokenSpec {
        TokenSpec {
            agency_id: agency_id.to_string(),
            scopes: scopes.into_iter().map(Into::into).collect(),
            issuer: DEV_ISSUER.to_string(),
            audience: DEV_AUDIENCE.to_string(),
            ttl_seconds: 3600,
            not_before_seconds: 0,
        }
    }
}

/// Signs a token with the ES256 key in `key_file` (PKCS#8 PEM); its `kid` is derived from the
/// public key, as in the JWKS.
pub fn mint_token(key_file: &Path, spec: &TokenSpec) -> anyhow::Result<String> {
    let pem =
        fs::read_to_string(key_file).with_context(|| format!("reading {}", key_file.display()))?;
    let kid = key_id_of(KeyPair::from_pem(&pem)?.public_key_raw());
    let now = Utc::now().timestamp();
    let at = |offset: i64| u64::try_from(now + offset).unwrap_or(0);
    let claims = Claims {
        iss: spec.issuer.clone(),
        sub: spec.agency_id.clone(),
        aud: spec.audience.clone(),
        exp: at(spec.ttl_seconds),
        nbf: at(spec.not_before_seconds),
        iat: at(0),
        scope: spec.scopes.join(" "),
    };
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid);
    let key = EncodingKey::from_ec_pem(pem.as_bytes()).context("token key")?;
    Ok(encode(&header, &claims, &key)?)
}

/// Settings for a hub on this development PKI: listening on 127.0.0.1 port 0 (tests, benches
/// and the demo pick their own), mutual TLS with the PKI's server certificate and CA, tokens
/// from its JWKS, audit heads signed with its audit key, and a development pseudonymisation key
/// kept in `data_dir` (generated on first use).
pub fn dev_settings(
    pki: &Pki,
    database_url: String,
    data_dir: &Path,
) -> vawg_server::config::Settings {
    use vawg_server::config::{AuditSettings, JwtSettings, Settings, TlsSettings};
    let mut settings = Settings {
        listen: ([127, 0, 0, 1], 0).into(),
        database_url,
        tls: Some(TlsSettings {
            ca_cert: pki.ca_cert(),
            server_cert: pki.server_cert(),
            server_key: pki.server_key(),
        }),
        jwt: Some(JwtSettings {
            issuer: DEV_ISSUER.into(),
            audience: DEV_AUDIENCE.into(),
            jwks_file: pki.jwks(),
        }),
        audit: AuditSettings {
            signing_key: Some(pki.audit_key()),
        },
        ..Settings::default()
    };
    settings.pseudonym.dev_key_file = Some(data_dir.join("pseudonym-dev.key"));
    settings
}
