//! Aggregate maintenance off the ingest path.
//!
//! The ingest and retraction transactions do not touch the aggregate tables. They append the
//! ids of the records they inserted, superseded or retracted to `agg_queue`, in the same
//! transaction as the change, so an acknowledged change can never be missed. The aggregator
//! drains the queue in batches: it reads every queued record (whatever its state now), takes
//! the union of the entities those records belong to — an old revision names the entities the
//! record left, the new one those it joined — recomputes each entity from its current records
//! ([`crate::aggregates::refresh`]) and deletes the queue rows it processed, all in one
//! transaction. Recomputing from the current state makes a batch idempotent and order-free, so
//! a crash mid-batch only means the batch runs again.
//!
//! Two things drain the queue: a background task per process ([`Store::spawn_aggregator`]),
//! woken by every commit but waiting for ingest to pause (at most a few seconds) so bursts are
//! acknowledged at full speed and aggregated together; and every read of the aggregates
//! ([`Store::settle_aggregates`]), which first drains everything committed before it began, so
//! a reader always sees every change acknowledged before its query (read-your-writes, as when
//! aggregates were maintained inside the ingest transaction). Drains are serialised: by a mutex
//! within the process and, on PostgreSQL, by an advisory transaction lock across replicas
//! (class 3), which also makes per-entity locks unnecessary.
//!
//! Why: maintaining the aggregates inside every ingest transaction made each chunk reload and
//! rewrite every victim, suspect, case and relationship it touched, several times the work of
//! storing the records, and concurrent writers queued on the hot aggregate rows. Batching
//! across chunks also coalesces the work: a case touched by the police, the CPS and the court
//! within a batch is recomputed once.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use tokio::sync::{Mutex, Notify, OnceCell};
use vawg_domain::aggregate::CellKeySecret;

use crate::{Conn, Pool, Store, StoreError, aggregates};

/// Queue rows processed per drain transaction: large enough to coalesce the entities many
/// records share (a case is recomputed once per batch however many of its records arrived),
/// while a batch still holds SQLite's writer lock for only a couple of seconds — which is why
/// the background task waits for ingest to pause (BENCHMARKS.md).
const DRAIN_BATCH: i64 = 20_000;

/// The background task drains once ingest has been quiet this long, so that a burst of chunks
/// is acknowledged at full speed (on SQLite a drain holds the one writer lock) and aggregated
/// together afterwards, sharing the entities its records have in common.
const QUIET: Duration = Duration::from_millis(500);

/// ...but never defers a drain longer than this under continuous ingest. This bounds when
/// aggregation starts, not the backlog: when ingest outpaces the aggregator the queue grows,
/// and a read then waits for it (BENCHMARKS.md, gaps).
const MAX_DEFER: Duration = Duration::from_secs(5);

/// How often the background task looks at the queue without a wake-up (changes committed by
/// another replica on the same PostgreSQL database do not wake this one).
const POLL: Duration = Duration::from_secs(1);

/// Shared by every clone of a [`Store`].
#[derive(Debug)]
pub(crate) struct State {
    drain: Mutex<()>,
    wake: Notify,
    last_change: std::sync::Mutex<Instant>,
    /// The cell-key secret, read once (`Store::cell_key_secret`). `Debug` is redacted.
    pub(crate) secret: OnceCell<CellKeySecret>,
}

impl Default for State {
    fn default() -> State {
        State {
            drain: Mutex::new(()),
            wake: Notify::new(),
            last_change: std::sync::Mutex::new(Instant::now()),
            secret: OnceCell::new(),
        }
    }
}

impl State {
    fn quiet_for(&self) -> Duration {
        self.last_change
            .lock()
            .map(|t| t.elapsed())
            .unwrap_or(Duration::ZERO)
    }
}

/// Queues the records whose aggregate contributions may have changed. Call inside the
/// transaction that changed them.
pub(crate) async fn enqueue(conn: &mut Conn<'_>, record_ids: &[i64]) -> Result<(), StoreError> {
    if record_ids.is_empty() {
        return Ok(());
    }
    match conn {
        Conn::Sqlite(c) => {
            // One JSON array: one statement text, prepared once per connection.
            sqlx::query("INSERT INTO agg_queue (record_id) SELECT value FROM json_each(?)")
                .bind(crate::sql::json_array(record_ids)?)
                .execute(&mut **c)
                .await?;
        }
        Conn::Postgres(c) => {
            sqlx::query("INSERT INTO agg_queue (record_id) SELECT unnest($1::bigint[])")
                .bind(record_ids)
                .execute(&mut **c)
                .await?;
        }
    }
    Ok(())
}

/// Drains one batch of queue rows with `seq <= upto` (all rows when `None`) inside `conn`'s
/// transaction, keying the aggregates with `secret`. Returns the number of queue rows
/// processed (0: nothing left).
async fn drain_in(
    conn: &mut Conn<'_>,
    upto: Option<i64>,
    secret: &CellKeySecret,
) -> Result<usize, StoreError> {
    let upto = upto.unwrap_or(i64::MAX);
    let sql = "SELECT seq, record_id FROM agg_queue WHERE seq <= $1 ORDER BY seq LIMIT $2";
    let rows: Vec<(i64, i64)> = crate::with_conn!(conn, |c| {
        sqlx::query_as(sql)
            .bind(upto)
            .bind(DRAIN_BATCH)
            .fetch_all(&mut **c)
            .await?
    });
    if rows.is_empty() {
        return Ok(0);
    }
    let started = std::time::Instant::now();
    let ids: BTreeSet<i64> = rows.iter().map(|(_, id)| *id).collect();
    let ids: Vec<i64> = ids.into_iter().collect();
    let (entities, known) = aggregates::entities_of_records(conn, &ids).await?;
    let n_entities = entities.len();
    let resolved = started.elapsed();
    aggregates::refresh(conn, entities, &known, secret).await?;
    vawg_telemetry::record_aggregate_batch(rows.len() as u64, started.elapsed());
    tracing::debug!(
        records = ids.len(),
        entities = n_entities,
        resolve_ms = resolved.as_millis() as u64,
        refresh_ms = (started.elapsed() - resolved).as_millis() as u64,
        "aggregate batch"
    );
    let seqs: Vec<i64> = rows.iter().map(|(seq, _)| *seq).collect();
    match conn {
        // The writer lock is held: every row read is committed and no other drain runs, so
        // the rows read are exactly those up to the largest sequence read.
        Conn::Sqlite(c) => {
            sqlx::query("DELETE FROM agg_queue WHERE seq <= ?")
                .bind(seqs[seqs.len() - 1])
                .execute(&mut **c)
                .await?;
        }
        // Sequences are assigned before commit, so a lower one may commit later than a higher
        // one read here: delete exactly the rows read.
        Conn::Postgres(c) => {
            sqlx::query("DELETE FROM agg_queue WHERE seq = ANY($1)")
                .bind(&seqs)
                .execute(&mut **c)
                .await?;
        }
    }
    Ok(rows.len())
}

impl Store {
    /// Drains one batch in its own transaction; returns the queue rows processed.
    async fn drain_batch(&self, upto: Option<i64>) -> Result<usize, StoreError> {
        let secret = self.cell_key_secret().await?;
        let _one_at_a_time = self.agg.drain.lock().await;
        match self.pool() {
            Pool::Sqlite(p) => {
                let mut tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let n = drain_in(&mut Conn::Sqlite(&mut tx), upto, secret).await?;
                tx.commit().await?;
                Ok(n)
            }
            Pool::Postgres(p) => {
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(3, 0)")
                    .execute(&mut *tx)
                    .await?;
                let n = drain_in(&mut Conn::Postgres(&mut tx), upto, secret).await?;
                tx.commit().await?;
                Ok(n)
            }
        }
    }

    /// Brings the aggregate tables up to date with every change committed before this call
    /// (reads of the aggregates call it first).
    pub async fn settle_aggregates(&self) -> Result<(), StoreError> {
        let target: Option<i64> = crate::dispatch_pool!(self.pool(), |p| {
            sqlx::query_scalar("SELECT MAX(seq) FROM agg_queue")
                .fetch_one(p)
                .await?
        });
        let Some(target) = target else {
            return Ok(());
        };
        while self.drain_batch(Some(target)).await? > 0 {}
        Ok(())
    }

    /// Drains the queue until it is empty; returns the queue rows processed.
    pub async fn drain_aggregates(&self) -> Result<usize, StoreError> {
        let mut total = 0;
        loop {
            let n = self.drain_batch(None).await?;
            if n == 0 {
                return Ok(total);
            }
            total += n;
        }
    }

    /// Queue rows not yet aggregated (the aggregator's lag, for health and benchmarks).
    pub async fn aggregate_backlog(&self) -> Result<i64, StoreError> {
        Ok(crate::dispatch_pool!(self.pool(), |p| {
            sqlx::query_scalar("SELECT COUNT(*) FROM agg_queue")
                .fetch_one(p)
                .await?
        }))
    }

    /// Wakes the background aggregator (after a commit that queued records).
    pub(crate) fn aggregates_changed(&self) {
        if let Ok(mut t) = self.agg.last_change.lock() {
            *t = Instant::now();
        }
        self.agg.wake.notify_one();
    }

    /// Starts the background aggregator: drains the queue once this process's ingest has been
    /// quiet for a moment (at the latest a few seconds after a change), and looks at the queue
    /// every second for changes other replicas made. Stops when the pool is closed.
    pub fn spawn_aggregator(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = store.agg.wake.notified() => {
                        let deferred = Instant::now();
                        loop {
                            let quiet = store.agg.quiet_for();
                            if quiet >= QUIET || deferred.elapsed() >= MAX_DEFER {
                                break;
                            }
                            tokio::time::sleep(QUIET - quiet).await;
                        }
                    }
                    _ = tokio::time::sleep(POLL) => {}
                }
                if store.is_closed() {
                    return;
                }
                if let Err(e) = store.drain_aggregates().await {
                    if store.is_closed() {
                        return;
                    }
                    tracing::warn!(error = %e, "aggregate maintenance failed; retrying");
                    tokio::time::sleep(POLL).await;
                }
            }
        })
    }
}
