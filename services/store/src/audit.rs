//! Persistence of the firewall's audit log: append-only rows (triggers refuse UPDATE and
//! DELETE on both backends) and the signed tree heads the hub has issued. Hashing, signing and
//! verification live in `vawg-firewall`; this module only stores and reads.

use sqlx::Row;

use crate::{Pool, Store, StoreError};

/// One stored audit entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the log, from 0.
    pub idx: u64,
    /// The calling agency (empty when unauthenticated), for filtering.
    pub agency_id: String,
    /// Canonical JSON of the entry (the bytes the leaf hash covers).
    pub entry: String,
    /// Hex SHA-256(0x00 || entry).
    pub leaf_hash: String,
    /// Hex SHA-256(previous chain hash || leaf hash).
    pub chain_hash: String,
}

/// A signed tree head as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredHead {
    /// Number of entries covered.
    pub tree_size: u64,
    /// Hex Merkle root.
    pub root_hash: String,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
    /// Hex signature.
    pub signature: String,
    /// Signing key id.
    pub key_id: String,
    /// Signature algorithm.
    pub algorithm: String,
}

macro_rules! on_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            Pool::Sqlite($p) => $body,
            Pool::Postgres($p) => $body,
        }
    };
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn row_of(r: (i64, String, String, String, String)) -> AuditRow {
    AuditRow {
        idx: u64::try_from(r.0).unwrap_or(u64::MAX),
        agency_id: r.1,
        entry: r.2,
        leaf_hash: r.3,
        chain_hash: r.4,
    }
}

impl Store {
    /// Appends one entry. A unique violation (another writer took the index) comes back as
    /// `StoreError::Database`; [`StoreError::is_conflict`] tells it apart.
    pub async fn audit_append(&self, row: &AuditRow) -> Result<(), StoreError> {
        let sql = "INSERT INTO audit_log (idx, agency_id, entry, leaf_hash, chain_hash) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .bind(to_i64(row.idx))
                .bind(&row.agency_id)
                .bind(&row.entry)
                .bind(&row.leaf_hash)
                .bind(&row.chain_hash)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// Entries with `idx >= from`, in order, at most `limit`, optionally only one agency's.
    pub async fn audit_read(
        &self,
        from: u64,
        limit: u32,
        agency_id: Option<&str>,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let (sql, agency) = match agency_id {
            Some(a) => (
                "SELECT idx, agency_id, entry, leaf_hash, chain_hash FROM audit_log \
                 WHERE idx >= $1 AND agency_id = $2 ORDER BY idx LIMIT $3",
                a,
            ),
            None => (
                "SELECT idx, agency_id, entry, leaf_hash, chain_hash FROM audit_log \
                 WHERE idx >= $1 AND $2 = '' ORDER BY idx LIMIT $3",
                "",
            ),
        };
        let rows = on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .bind(to_i64(from))
                .bind(agency)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| {
                    row_of((
                        r.get::<i64, _>(0),
                        r.get::<String, _>(1),
                        r.get::<String, _>(2),
                        r.get::<String, _>(3),
                        r.get::<String, _>(4),
                    ))
                })
                .collect::<Vec<_>>()
        });
        Ok(rows)
    }

    /// Every leaf hash in log order with its index and chain hash (to rebuild the Merkle
    /// frontier at start-up). Rows come in stored order of `idx`.
    pub async fn audit_hashes(&self) -> Result<Vec<(u64, String, String)>, StoreError> {
        let sql = "SELECT idx, leaf_hash, chain_hash FROM audit_log ORDER BY idx";
        let rows = on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .fetch_all(p)
                .await?
                .into_iter()
                .map(|r| {
                    (
                        u64::try_from(r.get::<i64, _>(0)).unwrap_or(u64::MAX),
                        r.get::<String, _>(1),
                        r.get::<String, _>(2),
                    )
                })
                .collect::<Vec<_>>()
        });
        Ok(rows)
    }

    /// Records a signed tree head the hub issued (idempotent per tree size).
    pub async fn audit_save_head(&self, head: &StoredHead) -> Result<(), StoreError> {
        let sql = "INSERT INTO audit_heads (tree_size, root_hash, timestamp_ms, signature, key_id, algorithm) \
                   VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tree_size) DO NOTHING";
        on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .bind(to_i64(head.tree_size))
                .bind(&head.root_hash)
                .bind(head.timestamp_ms)
                .bind(&head.signature)
                .bind(&head.key_id)
                .bind(&head.algorithm)
                .execute(p)
                .await?;
        });
        Ok(())
    }

    /// The signed head with the largest tree size the hub has issued, if any.
    pub async fn audit_latest_head(&self) -> Result<Option<StoredHead>, StoreError> {
        let sql = "SELECT tree_size, root_hash, timestamp_ms, signature, key_id, algorithm \
                   FROM audit_heads ORDER BY tree_size DESC LIMIT 1";
        let head = on_pool!(self.pool(), |p| {
            sqlx::query(sql)
                .fetch_optional(p)
                .await?
                .map(|r| StoredHead {
                    tree_size: u64::try_from(r.get::<i64, _>(0)).unwrap_or(u64::MAX),
                    root_hash: r.get(1),
                    timestamp_ms: r.get(2),
                    signature: r.get(3),
                    key_id: r.get(4),
                    algorithm: r.get(5),
                })
        });
        Ok(head)
    }
}

impl StoreError {
    /// Whether the error is a unique-key conflict (e.g. two writers took the same audit index).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e)) if e.is_unique_violation())
    }
}
