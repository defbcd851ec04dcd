//! Agencies' sealing keys: the X25519 public keys that payloads for an agency are sealed to.

use chrono::Utc;

use crate::{Pool, Store, StoreError, sql::ts};

/// An agency's public key for sealed payloads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealingKey {
    /// Key id chosen by the agency.
    pub key_id: String,
    /// X25519 public key bytes.
    pub public_key: Vec<u8>,
}

/// The result of [`Store::register_sealing_key`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyRegistration {
    /// The key is now the agency's current key.
    Current,
    /// The agency already registered a different key under this id; key ids are immutable.
    KeyIdTaken,
}

impl Store {
    /// Registers `public_key` under `key_id` as the agency's current sealing key (previous keys
    /// are kept, no longer current, so that payloads sealed to them can still be opened by the
    /// agency). Re-registering the same key makes it current again.
    pub async fn register_sealing_key(
        &self,
        agency_id: &str,
        key_id: &str,
        public_key: &[u8],
    ) -> Result<KeyRegistration, StoreError> {
        let now = Utc::now();
        macro_rules! register {
            ($tx:expr, $now:expr) => {{
                let held: Option<Vec<u8>> = sqlx::query_scalar(
                    "SELECT public_key FROM sealing_keys WHERE agency_id = $1 AND key_id = $2",
                )
                .bind(agency_id)
                .bind(key_id)
                .fetch_optional(&mut *$tx)
                .await?;
                if held.as_deref().is_some_and(|k| k != public_key) {
                    return Ok(KeyRegistration::KeyIdTaken);
                }
                sqlx::query(
                    "UPDATE sealing_keys SET is_current = $2 WHERE agency_id = $1 AND is_current",
                )
                .bind(agency_id)
                .bind(false)
                .execute(&mut *$tx)
                .await?;
                if held.is_some() {
                    sqlx::query(
                        "UPDATE sealing_keys SET is_current = $3 \
                         WHERE agency_id = $1 AND key_id = $2",
                    )
                    .bind(agency_id)
                    .bind(key_id)
                    .bind(true)
                    .execute(&mut *$tx)
                    .await?;
                } else {
                    sqlx::query(
                        "INSERT INTO sealing_keys \
                         (agency_id, key_id, public_key, is_current, registered_at) \
                         VALUES ($1, $2, $3, $4, $5)",
                    )
                    .bind(agency_id)
                    .bind(key_id)
                    .bind(public_key)
                    .bind(true)
                    .bind($now)
                    .execute(&mut *$tx)
                    .await?;
                }
            }};
        }
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                register!(tx, ts(&now));
                tx.commit().await?;
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                // Serialise registrations of one agency (two replicas at once).
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1, 1))")
                    .bind(format!("sealing-key\u{1f}{agency_id}"))
                    .execute(&mut *tx)
                    .await?;
                register!(tx, now);
                tx.commit().await?;
            }
        }
        Ok(KeyRegistration::Current)
    }

    /// The agency's current sealing key, if it registered one.
    pub async fn sealing_key(&self, agency_id: &str) -> Result<Option<SealingKey>, StoreError> {
        let sql = "SELECT key_id, public_key FROM sealing_keys \
                   WHERE agency_id = $1 AND is_current";
        let row: Option<(String, Vec<u8>)> = crate::dispatch_pool!(&self.pool, |p| {
            sqlx::query_as(sql)
                .bind(agency_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.map(|(key_id, public_key)| SealingKey { key_id, public_key }))
    }
}
