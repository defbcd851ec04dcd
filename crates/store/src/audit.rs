//! Persistence of the firewall's audit log: append-only rows (triggers refuse UPDATE and
//! DELETE on both backends) and the signed tree heads the hub has issued. Hashing, signing and
//! verification live in `vawg-audit`; this module only stores and reads.

use sqlx::{
    Connection, PgConnection, Postgres, Row, Sqlite, SqliteConnection, pool::PoolConnection,
};

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

/// Binds a head's six columns, in table order, to `query`.
fn bind_head<'q, DB>(
    query: sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>,
    head: &'q StoredHead,
) -> sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>
where
    DB: sqlx::Database,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query
        .bind(to_i64(head.tree_size))
        .bind(head.root_hash.as_str())
        .bind(head.timestamp_ms)
        .bind(head.signature.as_str())
        .bind(head.key_id.as_str())
        .bind(head.algorithm.as_str())
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

    /// Appends `rows` (consecutive indices, in order) and `head` (the signed head covering them)
    /// atomically: one commit, one fsync, for a whole group of audit entries. Either every row
    /// and the head are stored or nothing is. A unique violation (another writer took one of
    /// the indices) comes back as `StoreError::Database`; [`StoreError::is_conflict`] tells
    /// it apart. (The log's writer uses an [`AuditWriter`], which keeps its connection.)
    pub async fn audit_append_batch(
        &self,
        rows: &[AuditRow],
        head: &StoredHead,
    ) -> Result<(), StoreError> {
        self.audit_writer().append_batch(rows, head).await
    }

    /// A writer of audit groups (see [`AuditWriter`]).
    pub fn audit_writer(&self) -> AuditWriter {
        AuditWriter {
            store: self.clone(),
            conn: None,
        }
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
            bind_head(sqlx::query(sql), head).execute(p).await?;
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

/// A connection of the pool, by backend.
enum WriterConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

/// Writes groups of audit entries, each with its signed head, one group per commit.
///
/// It keeps the connection it wrote on while groups keep coming, so that a commit never
/// waits behind other queries for a pooled connection (nor pays the pool's check of an idle
/// connection); [`AuditWriter::release`] gives it back when the log falls idle. A connection
/// whose group failed is never kept.
pub struct AuditWriter {
    store: Store,
    conn: Option<WriterConn>,
}

impl std::fmt::Debug for AuditWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditWriter")
            .field("holds_connection", &self.conn.is_some())
            .finish()
    }
}

impl AuditWriter {
    /// Appends `rows` (consecutive indices, in order) and `head` atomically; see
    /// [`Store::audit_append_batch`].
    pub async fn append_batch(
        &mut self,
        rows: &[AuditRow],
        head: &StoredHead,
    ) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut conn = match self.conn.take() {
            Some(conn) => conn,
            None => match self.store.pool() {
                Pool::Sqlite(p) => WriterConn::Sqlite(p.acquire().await?),
                Pool::Postgres(p) => WriterConn::Postgres(p.acquire().await?),
            },
        };
        let written = match &mut conn {
            WriterConn::Sqlite(c) => append_sqlite(c, rows, head).await,
            WriterConn::Postgres(c) => append_postgres(c, rows, head).await,
        };
        if written.is_ok() {
            self.conn = Some(conn);
        }
        written
    }

    /// Returns the connection to the pool (the log is idle; the pool may be closing).
    pub fn release(&mut self) {
        self.conn = None;
    }
}

/// SQLite's head insert: a size already stored is skipped with `WHERE NOT EXISTS` (the
/// append-only trigger of migration 0620 refuses any insert onto a stored key, before an
/// `ON CONFLICT` clause could skip it).
const HEAD_INSERT: &str = "INSERT INTO audit_heads \
     (tree_size, root_hash, timestamp_ms, signature, key_id, algorithm) \
     SELECT $1, $2, $3, $4, $5, $6 \
     WHERE NOT EXISTS (SELECT 1 FROM audit_heads WHERE tree_size = $1)";

/// The text of SQLite's refusal of an insert onto a stored audit index (migration 0620).
const SQLITE_INDEX_TAKEN: &str = "audit index taken";

/// Rows per multi-row `INSERT` on SQLite (5 parameters each).
const SQLITE_ROWS_PER_INSERT: usize = 64;

/// SQLite: one transaction; the rows in multi-row `INSERT`s of up to
/// [`SQLITE_ROWS_PER_INSERT`] rows (plain `?` parameters, bound exactly as given), then the
/// head.
async fn append_sqlite(
    conn: &mut SqliteConnection,
    rows: &[AuditRow],
    head: &StoredHead,
) -> Result<(), StoreError> {
    let mut tx = conn.begin().await?;
    for chunk in rows.chunks(SQLITE_ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO audit_log (idx, agency_id, entry, leaf_hash, chain_hash) VALUES ",
        );
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 {
                "(?, ?, ?, ?, ?)"
            } else {
                ", (?, ?, ?, ?, ?)"
            });
        }
        let mut query = sqlx::query(&sql);
        for r in chunk {
            query = query
                .bind(to_i64(r.idx))
                .bind(r.agency_id.as_str())
                .bind(r.entry.as_str())
                .bind(r.leaf_hash.as_str())
                .bind(r.chain_hash.as_str());
        }
        query.execute(&mut *tx).await?;
    }
    bind_head(sqlx::query(HEAD_INSERT), head)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// PostgreSQL: ONE statement (so one round trip, atomic on its own): the rows from arrays
/// through `UNNEST` in a data-modifying CTE, and the head.
async fn append_postgres(
    conn: &mut PgConnection,
    rows: &[AuditRow],
    head: &StoredHead,
) -> Result<(), StoreError> {
    let idx: Vec<i64> = rows.iter().map(|r| to_i64(r.idx)).collect();
    let agency: Vec<&str> = rows.iter().map(|r| r.agency_id.as_str()).collect();
    let entry: Vec<&str> = rows.iter().map(|r| r.entry.as_str()).collect();
    let leaf: Vec<&str> = rows.iter().map(|r| r.leaf_hash.as_str()).collect();
    let chain: Vec<&str> = rows.iter().map(|r| r.chain_hash.as_str()).collect();
    sqlx::query(
        "WITH entries AS ( \
             INSERT INTO audit_log (idx, agency_id, entry, leaf_hash, chain_hash) \
             SELECT * FROM UNNEST($7::int8[], $8::text[], $9::text[], $10::text[], $11::text[])) \
         INSERT INTO audit_heads \
             (tree_size, root_hash, timestamp_ms, signature, key_id, algorithm) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tree_size) DO NOTHING",
    )
    .bind(to_i64(head.tree_size))
    .bind(&head.root_hash)
    .bind(head.timestamp_ms)
    .bind(&head.signature)
    .bind(&head.key_id)
    .bind(&head.algorithm)
    .bind(&idx)
    .bind(&agency)
    .bind(&entry)
    .bind(&leaf)
    .bind(&chain)
    .execute(conn)
    .await?;
    Ok(())
}

impl StoreError {
    /// Whether the error is a unique-key conflict (e.g. two writers took the same audit index).
    pub fn is_conflict(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(e))
            if e.is_unique_violation() || e.message().contains(SQLITE_INDEX_TAKEN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestDatabase;

    fn row(idx: u64) -> AuditRow {
        AuditRow {
            idx,
            agency_id: format!("agency-{}", idx % 3),
            entry: format!("{{\"index\":{idx},\"reason\":\"quote \\\" and unicode é\"}}"),
            leaf_hash: format!("{idx:064x}"),
            chain_hash: format!("{:064x}", idx + 1),
        }
    }

    fn head(tree_size: u64) -> StoredHead {
        StoredHead {
            tree_size,
            root_hash: "ab".repeat(32),
            timestamp_ms: 1_700_000_000_000 + i64::try_from(tree_size).unwrap(),
            signature: "cd".repeat(70),
            key_id: "0123456789abcdef".into(),
            algorithm: "ECDSA_P256_SHA256".into(),
        }
    }

    async fn a_group_is_stored_whole_or_not_at_all(store: &Store) {
        // A group is stored exactly, in index order, with its head.
        let first: Vec<AuditRow> = (0..5).map(row).collect();
        store.audit_append_batch(&first, &head(5)).await.unwrap();
        assert_eq!(store.audit_read(0, 100, None).await.unwrap(), first);
        assert_eq!(store.audit_latest_head().await.unwrap(), Some(head(5)));

        // A group that collides with a stored index is refused as a conflict, and none of its
        // rows, nor its head, is stored.
        let clashing: Vec<AuditRow> = (4..9).map(row).collect();
        let err = store
            .audit_append_batch(&clashing, &head(9))
            .await
            .unwrap_err();
        assert!(err.is_conflict(), "{err:?}");
        assert_eq!(store.audit_read(0, 100, None).await.unwrap(), first);
        assert_eq!(store.audit_latest_head().await.unwrap(), Some(head(5)));

        // The next group goes on from there; one row is a group too.
        let next: Vec<AuditRow> = (5..6).map(row).collect();
        store.audit_append_batch(&next, &head(6)).await.unwrap();
        let hashes = store.audit_hashes().await.unwrap();
        assert_eq!(
            hashes.iter().map(|h| h.0).collect::<Vec<_>>(),
            (0..6).collect::<Vec<_>>()
        );
        assert_eq!(store.audit_latest_head().await.unwrap(), Some(head(6)));
        assert_eq!(
            store.audit_read(0, 100, Some("agency-2")).await.unwrap(),
            vec![row(2), row(5)]
        );

        // A group larger than one multi-row statement is stored exactly, in one commit.
        let large: Vec<AuditRow> = (6..156).map(row).collect();
        store.audit_append_batch(&large, &head(156)).await.unwrap();
        assert_eq!(
            store.audit_read(0, 1000, None).await.unwrap(),
            (0..156).map(row).collect::<Vec<_>>()
        );
        assert_eq!(store.audit_latest_head().await.unwrap(), Some(head(156)));
        // ... and one that collides in its last statement leaves nothing behind either.
        let late_clash: Vec<AuditRow> = (156..300).chain([155]).map(row).collect();
        assert!(
            store
                .audit_append_batch(&late_clash, &head(301))
                .await
                .unwrap_err()
                .is_conflict()
        );
        assert_eq!(store.audit_hashes().await.unwrap().len(), 156);
        assert_eq!(store.audit_latest_head().await.unwrap(), Some(head(156)));
    }

    #[tokio::test]
    async fn sqlite_a_group_is_stored_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
            .await
            .unwrap();
        store.migrate().await.unwrap();
        a_group_is_stored_whole_or_not_at_all(&store).await;
        store.close().await;
    }

    #[tokio::test]
    async fn postgres_a_group_is_stored_whole_or_not_at_all() {
        let db = TestDatabase::create().await.unwrap();
        let store = Store::connect(&db.url).await.unwrap();
        store.migrate().await.unwrap();
        a_group_is_stored_whole_or_not_at_all(&store).await;
        store.close().await;
        db.drop_database().await.unwrap();
    }
}
