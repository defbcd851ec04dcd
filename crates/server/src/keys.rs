//! Pseudonymisation keys: from configuration into a [`Keyring`].
//!
//! Every personal and case identifier an agency sends is replaced at ingest by
//! `HMAC-SHA256(key, kind || normalised value)` ([`vawg_domain::pseudonym`]). The key lives outside
//! the database — in a file or an environment variable — so a copy of the database alone can
//! neither reverse nor test a pseudonym. Each stored record keeps the id of the key it was made
//! with.
//!
//! # Configuration
//!
//! ```toml
//! [pseudonym]
//! key_id = "2025-04"
//! secret_file = "/run/secrets/vawg-pseudonym-2025-04"   # base64, >= 32 bytes decoded
//! ```
//!
//! or `VAWG_PSEUDONYM__KEY_ID` and `VAWG_PSEUDONYM__SECRET` (base64). Make a secret with
//! `head -c 32 /dev/urandom | base64`.
//!
//! Without any key configured, a hub on SQLite (the development default) generates a random
//! development key into `pseudonym-dev.key` beside the database file, readable only by its
//! owner, and reuses it on every start, so pseudonyms stay stable for that data folder. A hub on
//! PostgreSQL refuses to start without a configured key: production keys are managed, never
//! generated on the fly.
//!
//! # Rotation
//!
//! 1. Generate the new secret and make it the primary (`key_id`, `secret_file`); move the old
//!    one to `[[pseudonym.previous]]` (newest first). Restart every replica with the same
//!    keyring.
//! 2. New records are pseudonymised under the new key and say so (`pseudonym_key_id`). Old
//!    records keep their pseudonyms and key id.
//! 3. Linkage across the rotation still works: look-ups compute the pseudonym under every key
//!    in the ring ([`Keyring::pseudonymise_all`]) and match any of them — ingest does this for
//!    the referral that a charging decision must follow — and a later re-keying job can map old
//!    pseudonyms to new ones whenever the same person or case is seen again.
//! 4. Retire a previous key only once no stored record still uses it.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};
use vawg_domain::pseudonym::{Keyring, PseudonymKey};

use crate::config::Settings;

/// Default id of a generated development key.
pub const DEV_KEY_ID: &str = "dev";

/// Builds the keyring the settings describe (generating a development key where allowed).
pub fn load_keyring(settings: &Settings) -> anyhow::Result<Keyring> {
    let p = &settings.pseudonym;
    let mut keys = Vec::new();
    let primary_secret = match (&p.secret, &p.secret_file) {
        (Some(s), _) => Some(decode(s.expose_secret()).context("pseudonym.secret")?),
        (None, Some(file)) => Some(read_secret_file(file)?),
        (None, None) => None,
    };
    match primary_secret {
        Some(secret) => {
            let id = p
                .key_id
                .clone()
                .context("pseudonym.key_id is required when a secret is configured")?;
            keys.push(PseudonymKey::new(id, secret)?);
        }
        None => {
            let file = match (&p.dev_key_file, sqlite_dir(&settings.database_url)) {
                (Some(f), _) => f.clone(),
                (None, Some(dir)) => dir.join("pseudonym-dev.key"),
                (None, None) => bail!(
                    "no pseudonymisation key configured: set pseudonym.key_id and \
                     pseudonym.secret_file (or VAWG_PSEUDONYM__SECRET); a development key is \
                     generated only for a SQLite database or when pseudonym.dev_key_file is set"
                ),
            };
            let secret = dev_key(&file)?;
            tracing::warn!(
                file = %file.display(),
                "using a generated development pseudonymisation key; configure pseudonym.secret_file in production"
            );
            let id = p.key_id.clone().unwrap_or_else(|| DEV_KEY_ID.to_string());
            keys.push(PseudonymKey::new(id, secret)?);
        }
    }
    for (i, prev) in p.previous.iter().enumerate() {
        let secret = match (&prev.secret, &prev.secret_file) {
            (Some(s), _) => decode(s.expose_secret())
                .with_context(|| format!("pseudonym.previous[{i}].secret"))?,
            (None, Some(file)) => read_secret_file(file)?,
            (None, None) => bail!("pseudonym.previous[{i}] has neither secret nor secret_file"),
        };
        keys.push(PseudonymKey::new(prev.key_id.clone(), secret)?);
    }
    Ok(Keyring::new(keys)?)
}

fn decode(text: &str) -> anyhow::Result<Vec<u8>> {
    // The error never echoes the text: it is a secret.
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| anyhow::anyhow!("the pseudonymisation secret is not valid base64"))
}

fn read_secret_file(file: &Path) -> anyhow::Result<Vec<u8>> {
    let text = SecretString::from(
        std::fs::read_to_string(file)
            .with_context(|| format!("reading pseudonymisation key {}", file.display()))?,
    );
    decode(text.expose_secret()).with_context(|| file.display().to_string())
}

/// The folder of a `sqlite://` database file.
fn sqlite_dir(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    if path.is_empty() || path == ":memory:" {
        return None;
    }
    let parent = Path::new(path).parent()?;
    Some(if parent.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        parent.to_path_buf()
    })
}

/// Reads the development key, generating it (owner-only permissions) on first use.
fn dev_key(file: &Path) -> anyhow::Result<Vec<u8>> {
    if file.exists() {
        return read_secret_file(file);
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let secret: [u8; 32] = rand::random();
    let text = base64::engine::general_purpose::STANDARD.encode(secret);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(file) {
        Ok(mut f) => {
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            Ok(secret.to_vec())
        }
        // Another process generated it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => read_secret_file(file),
        Err(e) => Err(e).with_context(|| format!("creating {}", file.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::PreviousKey;

    #[test]
    fn dev_key_is_generated_once_beside_a_sqlite_database_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            database_url: format!("sqlite://{}", dir.path().join("hub.db").display()),
            ..Settings::default()
        };
        let a = load_keyring(&settings).unwrap();
        let b = load_keyring(&settings).unwrap();
        assert_eq!(a.primary_key_id(), DEV_KEY_ID);
        let kind = vawg_domain::pseudonym::IdentifierKind::CpsUrn;
        assert_eq!(a.pseudonymise(kind, "X"), b.pseudonymise(kind, "X"));
        assert!(dir.path().join("pseudonym-dev.key").exists());
    }

    #[test]
    fn postgres_needs_a_configured_key_and_previous_keys_are_loaded() {
        let mut settings = Settings {
            database_url: "postgres://h/db".into(),
            ..Settings::default()
        };
        assert!(load_keyring(&settings).is_err());
        let secret = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        settings.pseudonym.key_id = Some("k2".into());
        settings.pseudonym.secret = Some(secret.clone().into());
        settings.pseudonym.previous = vec![PreviousKey {
            key_id: "k1".into(),
            secret: Some(
                base64::engine::general_purpose::STANDARD
                    .encode([9u8; 32])
                    .into(),
            ),
            secret_file: None,
        }];
        let ring = load_keyring(&settings).unwrap();
        assert_eq!(ring.primary_key_id(), "k2");
        let all = ring.pseudonymise_all(vawg_domain::pseudonym::IdentifierKind::CpsUrn, "X");
        assert_eq!(all.len(), 2);
        // The secret never prints.
        assert!(!format!("{settings:?}").contains(&secret));
    }
}
