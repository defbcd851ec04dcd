//! vawg-store: the hub's persistence, one API over two sqlx backends — a SQLite file (the
//! embedded default: nothing to install) and PostgreSQL (production).
//!
//! Each area of the schema has its own module, each adding methods to [`Store`] and matching
//! on the backend where SQL differs. Migrations live in `migrations/sqlite` and
//! `migrations/postgres` and are embedded in the binary.

use std::{str::FromStr, time::Duration};

use sqlx::{
    PgPool, SqlitePool,
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};
use vawg_proto::error::{ErrorKind, ServiceError};

pub mod agencies;
pub mod aggregates;
pub mod aggregator;
pub mod audit;
pub mod detail;
pub mod exchange;
pub mod records;
pub mod rollup;
mod sql;
pub mod testing;

/// A connection (usually inside a transaction) on either backend, for store functions that
/// must run inside a caller's transaction.
pub enum Conn<'a> {
    /// SQLite.
    Sqlite(&'a mut sqlx::SqliteConnection),
    /// PostgreSQL.
    Postgres(&'a mut sqlx::PgConnection),
}

/// Runs the same code on whichever backend `$conn` (a `&mut Conn`) is; the body is compiled
/// once per backend, with `$c` bound to `&mut &mut XConnection`.
#[macro_export]
macro_rules! with_conn {
    ($conn:expr, |$c:ident| $body:expr) => {
        match $conn {
            $crate::Conn::Sqlite($c) => $body,
            $crate::Conn::Postgres($c) => $body,
        }
    };
}

/// Runs the same code on whichever backend `$pool` (a `&Pool`) is; the body is compiled once
/// per backend, with `$p` bound to the backend's pool.
#[macro_export]
macro_rules! dispatch_pool {
    ($pool:expr, |$p:ident| $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
}

/// Hash buckets of the PostgreSQL advisory locks ingest takes on source records (class 1, the
/// two-key form, apart from any one-key lock; class 3 is the aggregator's drain lock). A
/// transaction holds at most this many, so sixteen concurrent ingest transactions stay
/// well inside the shared lock table (64 × max_connections entries by default) however large
/// their chunks. A power of two.
pub const LOCK_BUCKETS: i32 = 128;

/// Which database engine a store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The connection pool, by backend.
#[derive(Clone, Debug)]
pub enum Pool {
    /// SQLite.
    Sqlite(SqlitePool),
    /// PostgreSQL.
    Postgres(PgPool),
}

/// Errors from the store. Never carries personal data: database text stays server-side.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one the store understands.
    #[error("unsupported database URL (expected sqlite://… or postgres://…)")]
    UnsupportedUrl,
    /// A database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Something asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Stored data failed a consistency check.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl StoreError {
    /// The one classification of store errors into the hub's error model; every service maps
    /// a store error through this, so the same database fault gives the same gRPC code on every
    /// RPC: storage full → `ResourceExhausted`, connection lost or database busy →
    /// `Unavailable`, not found → `NotFound`, unique-key clash → `AlreadyExists`, anything else
    /// → `Internal` (the cause stays in the server log).
    pub fn kind(&self) -> ErrorKind {
        match self {
            StoreError::NotFound(_) => ErrorKind::NotFound,
            s if s.is_storage_full() => ErrorKind::ResourceExhausted,
            s if s.is_unavailable() => ErrorKind::Unavailable,
            StoreError::Database(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                ErrorKind::AlreadyExists
            }
            StoreError::Database(sqlx::Error::RowNotFound) => ErrorKind::NotFound,
            _ => ErrorKind::Internal,
        }
    }

    /// What a client is told of a store error of a kind other than `Internal`: never database
    /// text, SQL or personal data.
    pub fn client_message(&self) -> String {
        match self.kind() {
            ErrorKind::NotFound => self.to_string(),
            ErrorKind::ResourceExhausted => "the hub's storage is full; nothing from this \
                request was stored, retry later (resending is idempotent)"
                .into(),
            ErrorKind::Unavailable => {
                "the database is unavailable; nothing from this request took effect, retry".into()
            }
            ErrorKind::AlreadyExists => {
                "the request conflicted with a concurrent write; resend to see the current state"
                    .into()
            }
            _ => vawg_proto::error::INTERNAL_MESSAGE.into(),
        }
    }

    /// Whether the database's storage is full (SQLite `SQLITE_FULL`: the disk or
    /// `max_page_count`; PostgreSQL class 53, insufficient resources: disk full, out of
    /// memory, too many connections). Nothing was written; a client may retry later.
    pub fn is_storage_full(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(db)) => {
                let code = db.code();
                let code = code.as_deref().unwrap_or("");
                // SQLite reports the primary result code 13 (SQLITE_FULL) or an extended one.
                code == "13" || code.starts_with("53") || db.message().contains("disk is full")
            }
            _ => false,
        }
    }

    /// Whether the error is transient (the database went away) so a client may retry: the
    /// connection broke or could not be made, the pool timed out, or PostgreSQL said it is
    /// shutting down, restarting or not yet accepting connections — SQLSTATE class 08
    /// (connection exception), 57P01 (admin shutdown, what a restart's fast shutdown sends to
    /// every session), 57P02 (crash shutdown), 57P03 (cannot connect now: starting up or
    /// shutting down).
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            ) => true,
            // SQLite: the database stayed locked by other writers beyond the busy timeout
            // (SQLITE_BUSY / SQLITE_LOCKED and their extended codes). Nothing was written;
            // resending is safe and will get through once the queue drains.
            StoreError::Database(sqlx::Error::Database(db))
                if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() =>
            {
                db.code()
                    .and_then(|c| c.parse::<i32>().ok())
                    .is_some_and(|c| matches!(c & 0xff, 5 | 6))
            }
            StoreError::Database(sqlx::Error::Database(db)) => {
                db.code().is_some_and(|c| is_connection_loss_sqlstate(&c))
            }
            _ => false,
        }
    }
}

impl ServiceError for StoreError {
    fn kind(&self) -> ErrorKind {
        StoreError::kind(self)
    }
    fn client_message(&self) -> String {
        StoreError::client_message(self)
    }
}

/// Whether a PostgreSQL SQLSTATE means the server or the connection went away (see
/// [`StoreError::is_unavailable`]), as opposed to anything about the statement.
pub fn is_connection_loss_sqlstate(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03")
}

#[cfg(test)]
mod unavailable_tests {
    use super::is_connection_loss_sqlstate;

    #[test]
    fn connection_loss_sqlstates_are_retryable_and_statement_errors_are_not() {
        for code in [
            "08000", "08003", "08006", "08001", "57P01", "57P02", "57P03",
        ] {
            assert!(is_connection_loss_sqlstate(code), "{code}");
        }
        // Unique violation, syntax error, disk full, query cancelled: not connection loss.
        for code in ["23505", "42601", "53100", "57014", "13", ""] {
            assert!(!is_connection_loss_sqlstate(code), "{code}");
        }
    }
}

/// The hub's store.
#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    agg: std::sync::Arc<aggregator::State>,
}

static SQLITE_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

impl Store {
    /// Connects to `sqlite://PATH` (created if missing; WAL journal, full sync so that an
    /// acknowledged commit survives a crash) or `postgres://…`.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new()
                .max_connections(4)
                // A local file cannot drop a connection the way a network peer can: skip the
                // ping sqlx sends before every acquire (a round trip to the connection's
                // worker thread per query — half the registry read on every RPC).
                .test_before_acquire(false)
                // A connection whose transaction could not end (a COMMIT refused with
                // SQLITE_FULL is rolled back by SQLite, and the ROLLBACK sqlx then sends fails,
                // leaving its depth count above zero) would refuse every later transaction:
                // such a connection is closed rather than returned to the pool.
                .after_release(|conn, _| {
                    Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
                })
                .connect_with(opts)
                .await?;
            Ok(Store {
                pool: Pool::Sqlite(pool),
                agg: Default::default(),
            })
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Ok(Store {
                pool: Pool::Postgres(pool),
                agg: Default::default(),
            })
        } else {
            Err(StoreError::UnsupportedUrl)
        }
    }

    /// Applies any pending migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => SQLITE_MIGRATOR.run(p).await?,
            Pool::Postgres(p) => POSTGRES_MIGRATOR.run(p).await?,
        }
        Ok(())
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The pool, for modules of this crate and for tests that inspect tables directly.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Checks the database answers (for deep health checks).
    pub async fn ping(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Sqlite(p) => {
                sqlx::query("SELECT 1").execute(p).await?;
            }
            Pool::Postgres(p) => {
                sqlx::query("SELECT 1").execute(p).await?;
            }
        }
        Ok(())
    }

    /// Whether [`Store::close`] has been called.
    pub fn is_closed(&self) -> bool {
        match &self.pool {
            Pool::Sqlite(p) => p.is_closed(),
            Pool::Postgres(p) => p.is_closed(),
        }
    }

    /// Closes every connection (waits for in-flight queries).
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(p) => p.close().await,
            Pool::Postgres(p) => p.close().await,
        }
    }
}
