//! What subscribers use: wake-ups (an in-process broadcast on SQLite, `LISTEN`/`NOTIFY` on
//! PostgreSQL), the outbox read by sequence, and acknowledgements.

use std::{sync::LazyLock, time::Duration};

use sqlx::postgres::PgListener;
use tokio::sync::broadcast;

use super::Topic;
use crate::{Pool, Store, StoreError};

/// The PostgreSQL channel notified at the commit of new notifications. The payload is
/// `<recipient agency id> <topic>` (agency ids and topic names hold no spaces).
pub const PG_CHANNEL: &str = "vawg_notifications";

/// Capacity of a wake-up broadcast; a subscriber that lags behind simply re-reads the outbox.
const WAKEUP_CAPACITY: usize = 4096;

/// The in-process wake-ups of SQLite stores (one process owns a SQLite file).
static SQLITE_WAKEUPS: LazyLock<broadcast::Sender<Wakeup>> =
    LazyLock::new(|| broadcast::channel(WAKEUP_CAPACITY).0);

/// "Look at the outbox again".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// New notifications for this recipient and topic are committed.
    Recipient {
        /// Recipient agency id.
        agency_id: String,
        /// Topic.
        topic: Topic,
    },
    /// Wake-ups may have been missed (the listening connection was re-established): every
    /// subscriber should look.
    All,
}

impl Wakeup {
    /// Whether a subscriber of `agency_id` on `topic` should look.
    pub fn concerns(&self, agency_id: &str, topic: Topic) -> bool {
        match self {
            Wakeup::Recipient {
                agency_id: a,
                topic: t,
            } => a == agency_id && *t == topic,
            Wakeup::All => true,
        }
    }
}

/// What to announce once the ingest transaction has committed (see [`Announcement::publish`]).
#[derive(Debug, Default)]
#[must_use = "publish the announcement after the transaction commits"]
pub struct Announcement {
    /// The wake-ups to send in this process (SQLite only).
    pub(super) sqlite: Vec<Wakeup>,
}

impl Announcement {
    /// Wakes this process's subscribers (SQLite). Call right after commit. On PostgreSQL the
    /// database itself announces at commit (`NOTIFY`), to every replica; this does nothing.
    pub fn publish(self) {
        for w in self.sqlite {
            // No receiver is not an error: nobody is subscribed.
            let _ = SQLITE_WAKEUPS.send(w);
        }
    }
}

/// One stored notification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredNotification {
    /// Sequence, per recipient and topic.
    pub sequence: u64,
    /// The encoded `vawg.v1.Notification`.
    pub content: Vec<u8>,
}

/// The result of [`Store::acknowledge`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acknowledged {
    /// The acknowledged sequence now held (never decreases).
    Upto(u64),
    /// The sequence is beyond the last one assigned: nothing was changed.
    BeyondLast {
        /// The last sequence assigned (0 when none).
        last: u64,
    },
}

/// A stored sequence (a signed column) as the contract's `u64`.
fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("negative sequence".into()))
}

/// A wake-up from its `NOTIFY` payload (see [`PG_CHANNEL`]).
fn parse_payload(payload: &str) -> Option<Wakeup> {
    let (agency_id, topic) = payload.split_once(' ')?;
    Some(Wakeup::Recipient {
        agency_id: agency_id.to_string(),
        topic: Topic::parse(topic)?,
    })
}

impl Store {
    /// A broadcast of wake-ups for subscribers. On SQLite, the process-wide broadcast that
    /// [`Announcement::publish`] feeds. On PostgreSQL, a new broadcast fed by a task that
    /// `LISTEN`s on [`PG_CHANNEL`] over its own pooled connection (so it sees commits made by
    /// any replica); the task sends [`Wakeup::All`] after re-establishing a lost connection and
    /// ends when the pool is closed.
    pub async fn notification_wakeups(&self) -> Result<broadcast::Sender<Wakeup>, StoreError> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(SQLITE_WAKEUPS.clone()),
            Pool::Postgres(p) => {
                let mut listener = PgListener::connect_with(p).await?;
                listener.listen(PG_CHANNEL).await?;
                let (tx, _) = broadcast::channel(WAKEUP_CAPACITY);
                tokio::spawn(forward_wakeups(listener, tx.clone()));
                Ok(tx)
            }
        }
    }

    /// Up to `limit` notifications for `agency_id` on `topic` with a sequence above `after`, in
    /// sequence order.
    pub async fn notifications_after(
        &self,
        agency_id: &str,
        topic: Topic,
        after: u64,
        limit: u32,
    ) -> Result<Vec<StoredNotification>, StoreError> {
        let sql = "SELECT sequence, content FROM notifications \
                   WHERE recipient_agency_id = $1 AND topic = $2 AND sequence > $3 \
                   ORDER BY sequence LIMIT $4";
        let after = i64::try_from(after).unwrap_or(i64::MAX);
        let rows: Vec<(i64, Vec<u8>)> = crate::dispatch_pool!(&self.pool, |p| {
            sqlx::query_as(sql)
                .bind(agency_id)
                .bind(topic.as_str())
                .bind(after)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?
        });
        rows.into_iter()
            .map(|(sequence, content)| {
                Ok(StoredNotification {
                    sequence: to_u64(sequence)?,
                    content,
                })
            })
            .collect()
    }

    /// The last sequence `agency_id` acknowledged on `topic` (0 when none).
    pub async fn acknowledged(&self, agency_id: &str, topic: Topic) -> Result<u64, StoreError> {
        let sql =
            "SELECT acknowledged FROM notification_cursors WHERE agency_id = $1 AND topic = $2";
        let v: Option<i64> = crate::dispatch_pool!(&self.pool, |p| {
            sqlx::query_scalar(sql)
                .bind(agency_id)
                .bind(topic.as_str())
                .fetch_optional(p)
                .await?
        });
        to_u64(v.unwrap_or(0))
    }

    /// Records that `agency_id` processed everything on `topic` up to `sequence`. The held
    /// value never decreases; a sequence beyond the last assigned is refused.
    pub async fn acknowledge(
        &self,
        agency_id: &str,
        topic: Topic,
        sequence: u64,
    ) -> Result<Acknowledged, StoreError> {
        let seq = i64::try_from(sequence).unwrap_or(i64::MAX);
        let sql = "UPDATE notification_cursors \
                   SET acknowledged = CASE WHEN acknowledged > $3 THEN acknowledged ELSE $3 END \
                   WHERE agency_id = $1 AND topic = $2 AND last_sequence >= $3 \
                   RETURNING acknowledged";
        let updated: Option<i64> = crate::dispatch_pool!(&self.pool, |p| {
            sqlx::query_scalar(sql)
                .bind(agency_id)
                .bind(topic.as_str())
                .bind(seq)
                .fetch_optional(p)
                .await?
        });
        if let Some(v) = updated {
            return Ok(Acknowledged::Upto(to_u64(v)?));
        }
        let sql = "SELECT last_sequence, acknowledged FROM notification_cursors \
                   WHERE agency_id = $1 AND topic = $2";
        let row: Option<(i64, i64)> = crate::dispatch_pool!(&self.pool, |p| {
            sqlx::query_as(sql)
                .bind(agency_id)
                .bind(topic.as_str())
                .fetch_optional(p)
                .await?
        });
        match row {
            None if sequence == 0 => Ok(Acknowledged::Upto(0)),
            None => Ok(Acknowledged::BeyondLast { last: 0 }),
            Some((last, _)) => Ok(Acknowledged::BeyondLast {
                last: to_u64(last)?,
            }),
        }
    }
}

/// Sends what `listener` hears to `tx`, and [`Wakeup::All`] whenever notifications may have
/// been missed; ends when the pool is closed.
async fn forward_wakeups(mut listener: PgListener, tx: broadcast::Sender<Wakeup>) {
    loop {
        match listener.try_recv().await {
            Ok(Some(n)) => {
                if let Some(w) = parse_payload(n.payload()) {
                    let _ = tx.send(w);
                }
            }
            // Reconnected: anything sent meanwhile was lost.
            Ok(None) => {
                let _ = tx.send(Wakeup::All);
            }
            Err(sqlx::Error::PoolClosed) => break,
            Err(e) => {
                tracing::warn!(error = %e, "notification listener failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
                let _ = tx.send(Wakeup::All);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wake_up_payloads_round_trip() {
        let w = parse_payload("school-100001 ENCOMPASS").unwrap();
        assert!(w.concerns("school-100001", Topic::Encompass));
        assert!(!w.concerns("school-100002", Topic::Encompass));
        assert!(!w.concerns("school-100001", Topic::Marac));
        assert!(Wakeup::All.concerns("anyone", Topic::Marac));
        assert_eq!(parse_payload("nonsense"), None);
        assert_eq!(parse_payload("a BOGUS"), None);
    }
}
