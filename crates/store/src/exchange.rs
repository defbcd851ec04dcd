//! Exchange: the notifications outbox (Operation Encompass, MARAC and support referrals), its
//! per-recipient sequences and acknowledgements, sealing keys, and the look-up of records about
//! a subject for purpose-limited sharing.
//!
//! # Outbox
//!
//! [`enqueue_notifications`] runs INSIDE the ingest transaction ([`Store::ingest`]): a
//! notification exists exactly when its record is committed, never before and never without
//! it, and it survives restarts until delivered. Each (recipient agency, topic) has a cursor row
//! holding the last sequence assigned; the ingest transaction bumps it with an upsert, which
//! locks the row until commit, so sequences are gap-free and become visible in sequence order
//! even with several replicas writing (cursor rows are locked in a fixed order: no deadlock).
//!
//! # Live delivery
//!
//! - PostgreSQL: the transaction also runs `pg_notify('vawg_notifications', …)`, which
//!   PostgreSQL delivers at commit to every replica's `LISTEN` connection
//!   ([`Store::notification_wakeups`]), so whichever replica received the record, every replica
//!   with a subscriber wakes at once.
//! - SQLite (one process): after commit, [`Announcement::publish`] wakes the subscribers of this
//!   process through an in-process broadcast.
//!
//! Either way a wake-up only says "look again": subscribers read the outbox by sequence, and
//! also poll it on a short interval, so a lost wake-up delays a notification but never loses it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::LazyLock,
    time::Duration,
};

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use prost::Message;
use sqlx::{QueryBuilder, Row};
use tokio::sync::broadcast;
use vawg_proto::pb;

use crate::{Conn, Pool, Store, StoreError, records::NewRecord};

/// The PostgreSQL channel notified at the commit of new notifications. The payload is
/// `<recipient agency id> <topic>` (agency ids and topic names hold no spaces).
pub const PG_CHANNEL: &str = "vawg_notifications";

/// Capacity of a wake-up broadcast; a subscriber that lags behind simply re-reads the outbox.
const WAKEUP_CAPACITY: usize = 4096;

/// Rows per multi-row insert into the outbox.
const ROWS_PER_INSERT: usize = 500;

/// The in-process wake-ups of SQLite stores (one process owns a SQLite file).
static SQLITE_WAKEUPS: LazyLock<broadcast::Sender<Wakeup>> =
    LazyLock::new(|| broadcast::channel(WAKEUP_CAPACITY).0);

/// A notification topic (mirrors `vawg.v1.Topic`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topic {
    /// Operation Encompass notifications to a school.
    Encompass,
    /// MARAC referrals to the MARAC of the victim's area.
    Marac,
    /// Support referrals to the receiving service.
    SupportReferral,
}

impl Topic {
    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Encompass => "ENCOMPASS",
            Topic::Marac => "MARAC",
            Topic::SupportReferral => "SUPPORT_REFERRAL",
        }
    }

    /// The contract value.
    pub fn to_pb(self) -> pb::Topic {
        match self {
            Topic::Encompass => pb::Topic::Encompass,
            Topic::Marac => pb::Topic::Marac,
            Topic::SupportReferral => pb::Topic::SupportReferral,
        }
    }

    /// From the contract value; `None` for UNSPECIFIED.
    pub fn from_pb(topic: pb::Topic) -> Option<Topic> {
        match topic {
            pb::Topic::Unspecified => None,
            pb::Topic::Encompass => Some(Topic::Encompass),
            pb::Topic::Marac => Some(Topic::Marac),
            pb::Topic::SupportReferral => Some(Topic::SupportReferral),
        }
    }

    fn parse(s: &str) -> Option<Topic> {
        [Topic::Encompass, Topic::Marac, Topic::SupportReferral]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

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
    sqlite: Vec<Wakeup>,
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

/// A current, non-retracted record as the exchange may share it, before minimisation. Holds
/// pseudonyms, never identifiers, and not the immigration status (it is never read for sharing).
#[derive(Clone, Debug, PartialEq)]
pub struct SharedRecord {
    /// Hub record id.
    pub record_id: i64,
    /// Owning agency.
    pub agency_id: String,
    /// The agency's record id.
    pub source_record_id: String,
    /// Revision.
    pub revision: u32,
    /// Event kind, canonical name.
    pub event_kind: String,
    /// Definition version.
    pub definition_version: String,
    /// Local scheme.
    pub local_scheme: String,
    /// Local code.
    pub local_code: String,
    /// Common category.
    pub category: String,
    /// Event time.
    pub event_time: DateTime<Utc>,
    /// Recorded time.
    pub recorded_time: DateTime<Utc>,
    /// First day of the reference period.
    pub period_start: NaiveDate,
    /// Last day of the reference period.
    pub period_end: NaiveDate,
    /// Counting unit, canonical name.
    pub counting_unit: String,
    /// GSS code.
    pub area_code: String,
    /// Area level, canonical name.
    pub area_level: String,
    /// Victim pseudonym.
    pub victim_pseudonym: Option<String>,
    /// Suspect pseudonym.
    pub suspect_pseudonym: Option<String>,
    /// Police crime reference pseudonym.
    pub police_ref_pseudonym: Option<String>,
    /// CPS URN pseudonym.
    pub cps_urn_pseudonym: Option<String>,
    /// Court case number pseudonym.
    pub court_case_pseudonym: Option<String>,
    /// Victim sex.
    pub victim_sex: Option<String>,
    /// Victim age at the event.
    pub victim_age: Option<u32>,
    /// Victim ethnic group.
    pub victim_ethnic_group: Option<String>,
    /// Victim disability.
    pub victim_disability: Option<String>,
    /// Victim sexual orientation.
    pub victim_sexual_orientation: Option<String>,
    /// Victim gender identity.
    pub victim_gender_identity: Option<String>,
    /// The event as JSON (identifiers removed; sealed payloads as hex ciphertext).
    pub detail: serde_json::Value,
}

/// Columns read by [`Store::records_about`]. Immigration status deliberately absent.
const SHARED_COLUMNS: &str = "record_id, agency_id, source_record_id, revision, event_kind, \
    definition_version, local_scheme, local_code, category, event_time, recorded_time, \
    period_start, period_end, counting_unit, area_code, area_level, victim_pseudonym, \
    suspect_pseudonym, police_ref_pseudonym, cps_urn_pseudonym, court_case_pseudonym, \
    victim_sex, victim_age, victim_ethnic_group, victim_disability, victim_sexual_orientation, \
    victim_gender_identity, event_detail";

fn ts(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn parse_ts(s: &str) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StoreError::Corrupt("a stored timestamp is not RFC 3339".into()))
}

fn parse_date(s: &str) -> Result<NaiveDate, StoreError> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| StoreError::Corrupt("a stored date is not ISO 8601".into()))
}

fn to_u64(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v).map_err(|_| StoreError::Corrupt("negative sequence".into()))
}

fn timestamp(t: &DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// A contract enum value from a stored canonical name (`POLICE` + prefix `REFERRING_AGENCY_`).
fn enum_value<E: Into<i32>>(
    canonical: Option<&str>,
    prefix: &str,
    parse: fn(&str) -> Option<E>,
) -> i32 {
    canonical
        .and_then(|c| parse(&format!("{prefix}{c}")))
        .map(Into::into)
        .unwrap_or(0)
}

/// The sealed payload kept in a record's detail (hex ciphertext), back as the contract message.
pub fn sealed_from_detail(v: &serde_json::Value) -> Option<pb::SealedPayload> {
    let s = |f: &str| v.get(f).and_then(|x| x.as_str()).unwrap_or_default();
    if v.is_null() {
        return None;
    }
    Some(pb::SealedPayload {
        recipient_agency_id: s("recipient_agency_id").to_string(),
        key_id: s("key_id").to_string(),
        suite: s("suite").to_string(),
        encapsulated_key: hex::decode(s("encapsulated_key")).ok()?,
        ciphertext: hex::decode(s("ciphertext")).ok()?,
    })
}

/// One notification to write: recipient, topic, record and the content without its sequence.
struct Pending {
    recipient: String,
    topic: Topic,
    record_id: i64,
    notification: pb::Notification,
}

/// The notification a stored record gives rise to, and to whom, by the routing rules:
/// - an Operation Encompass notification goes only to the school named (`school-<URN>`), with
///   minimal content: when, the sealed pupil details, the police contact, the URN;
/// - a MARAC referral goes to every active MARAC whose registry areas hold the record's area;
/// - a support referral goes to the service it is addressed to.
fn route(
    agency_id: &str,
    record: &NewRecord,
    record_id: i64,
    maracs: &[(String, Vec<String>)],
    now: &DateTime<Utc>,
) -> Vec<Pending> {
    use pb::notification::Content;
    let d = &record.detail;
    let s = |f: &str| d.get(f).and_then(|v| v.as_str());
    let base = |topic: Topic, content: Content| pb::Notification {
        sequence: 0,
        topic: topic.to_pb() as i32,
        created_time: Some(timestamp(now)),
        source_agency_id: agency_id.to_string(),
        record_id: record_id.to_string(),
        content: Some(content),
    };
    let pending = |recipient: String, topic: Topic, content: Content| Pending {
        recipient,
        topic,
        record_id,
        notification: base(topic, content),
    };
    match record.event_kind.as_str() {
        "ENCOMPASS_NOTIFICATION" => {
            let Some(school) = record.fields.to_agency_id.clone() else {
                return Vec::new();
            };
            let content = Content::Encompass(pb::EncompassContent {
                incident_time: Some(timestamp(&record.event_time)),
                sealed_pupil_details: d.get("sealed_pupil_details").and_then(sealed_from_detail),
                police_contact: s("police_contact").unwrap_or_default().to_string(),
                school_urn: s("school_urn").unwrap_or_default().to_string(),
            });
            vec![pending(school, Topic::Encompass, content)]
        }
        "MARAC_REFERRAL" => {
            let content = pb::MaracContent {
                victim_pseudonym: record.victim_pseudonym.clone().unwrap_or_default(),
                referring_agency: enum_value(
                    s("referring_agency"),
                    "REFERRING_AGENCY_",
                    pb::ReferringAgency::from_str_name,
                ),
                repeat_referral: d
                    .get("repeat_referral")
                    .and_then(|v| v.as_bool())
                    .unwrap_or(false),
                children_in_household: d
                    .get("children_in_household")
                    .and_then(|v| v.as_u64())
                    .unwrap_or(0) as u32,
                area_code: record.area_code.clone(),
                category: record.category.clone(),
            };
            maracs
                .iter()
                .filter(|(_, areas)| areas.iter().any(|a| a == &record.area_code))
                .map(|(id, _)| pending(id.clone(), Topic::Marac, Content::Marac(content.clone())))
                .collect()
        }
        "SUPPORT_REFERRAL" => {
            let Some(to) = record.fields.to_agency_id.clone() else {
                return Vec::new();
            };
            let content = Content::SupportReferral(pb::SupportReferralContent {
                victim_pseudonym: record.victim_pseudonym.clone().unwrap_or_default(),
                service_type: enum_value(
                    s("service_type"),
                    "SUPPORT_SERVICE_TYPE_",
                    pb::SupportServiceType::from_str_name,
                ),
                category: record.category.clone(),
                area_code: record.area_code.clone(),
            });
            vec![pending(to, Topic::SupportReferral, content)]
        }
        _ => Vec::new(),
    }
}

/// Writes the notifications that the records just stored give rise to, inside the ingest
/// transaction `conn`. `ids_by_key` maps (source record id, revision) to the hub record id of
/// every row inserted; only the newest inserted revision of each record is announced (a
/// revision is new information for the recipient; duplicates and stale revisions are not).
/// Call [`Announcement::publish`] after the transaction commits.
pub async fn enqueue_notifications(
    conn: &mut Conn<'_>,
    agency_id: &str,
    records: &[NewRecord],
    ids_by_key: &HashMap<(String, u32), i64>,
) -> Result<Announcement, StoreError> {
    // Newest inserted revision per source record.
    let mut newest: BTreeMap<&str, (&NewRecord, i64)> = BTreeMap::new();
    for r in records {
        if !matches!(
            r.event_kind.as_str(),
            "ENCOMPASS_NOTIFICATION" | "MARAC_REFERRAL" | "SUPPORT_REFERRAL"
        ) {
            continue;
        }
        let Some(&id) = ids_by_key.get(&(r.source_record_id.clone(), r.revision)) else {
            continue;
        };
        match newest.get(r.source_record_id.as_str()) {
            Some((held, _)) if held.revision >= r.revision => {}
            _ => {
                newest.insert(&r.source_record_id, (r, id));
            }
        }
    }
    if newest.is_empty() {
        return Ok(Announcement::default());
    }
    let maracs = if newest
        .values()
        .any(|(r, _)| r.event_kind == "MARAC_REFERRAL")
    {
        marac_areas(conn).await?
    } else {
        Vec::new()
    };
    let now = Utc::now();
    // Group by (recipient, topic), in a fixed order so that cursor rows are always locked in the
    // same order by concurrent transactions; records in hub record id order within a group.
    let mut groups: BTreeMap<(String, Topic), Vec<Pending>> = BTreeMap::new();
    let mut ordered: Vec<(&NewRecord, i64)> = newest.into_values().collect();
    ordered.sort_by_key(|(_, id)| *id);
    for (r, id) in ordered {
        for p in route(agency_id, r, id, &maracs, &now) {
            groups
                .entry((p.recipient.clone(), p.topic))
                .or_default()
                .push(p);
        }
    }
    let mut rows: Vec<(Pending, i64)> = Vec::new();
    let mut wakeups = Vec::new();
    for ((recipient, topic), pending) in groups {
        let n = pending.len() as i64;
        let sql = "INSERT INTO notification_cursors (agency_id, topic, last_sequence) \
                   VALUES ($1, $2, $3) ON CONFLICT (agency_id, topic) \
                   DO UPDATE SET last_sequence = notification_cursors.last_sequence + $3 \
                   RETURNING last_sequence";
        let last: i64 = crate::with_conn!(conn, |c| {
            sqlx::query_scalar(sql)
                .bind(&recipient)
                .bind(topic.as_str())
                .bind(n)
                .fetch_one(&mut **c)
                .await?
        });
        for (i, p) in pending.into_iter().enumerate() {
            rows.push((p, last - n + 1 + i as i64));
        }
        wakeups.push(Wakeup::Recipient {
            agency_id: recipient,
            topic,
        });
    }
    let encoded: Vec<(&Pending, i64, Vec<u8>)> = rows
        .iter()
        .map(|(p, seq)| {
            let mut n = p.notification.clone();
            n.sequence = *seq as u64;
            (p, *seq, n.encode_to_vec())
        })
        .collect();
    match conn {
        Conn::Sqlite(c) => {
            for part in encoded.chunks(ROWS_PER_INSERT) {
                let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(
                    "INSERT INTO notifications (recipient_agency_id, topic, sequence, record_id, \
                     source_agency_id, content, created_at) ",
                );
                let created = ts(&now);
                qb.push_values(part, |mut b, (p, seq, content)| {
                    b.push_bind(p.recipient.as_str())
                        .push_bind(p.topic.as_str())
                        .push_bind(*seq)
                        .push_bind(p.record_id)
                        .push_bind(agency_id)
                        .push_bind(content.as_slice())
                        .push_bind(created.clone());
                });
                qb.build().execute(&mut **c).await?;
            }
            Ok(Announcement { sqlite: wakeups })
        }
        Conn::Postgres(c) => {
            for part in encoded.chunks(ROWS_PER_INSERT) {
                let mut qb: QueryBuilder<sqlx::Postgres> = QueryBuilder::new(
                    "INSERT INTO notifications (recipient_agency_id, topic, sequence, record_id, \
                     source_agency_id, content, created_at) ",
                );
                qb.push_values(part, |mut b, (p, seq, content)| {
                    b.push_bind(p.recipient.as_str())
                        .push_bind(p.topic.as_str())
                        .push_bind(*seq)
                        .push_bind(p.record_id)
                        .push_bind(agency_id)
                        .push_bind(content.as_slice())
                        .push_bind(now);
                });
                qb.build().execute(&mut **c).await?;
            }
            // Delivered by PostgreSQL at commit, to every replica listening; not at all on
            // rollback.
            let payloads: Vec<String> = wakeups
                .iter()
                .filter_map(|w| match w {
                    Wakeup::Recipient { agency_id, topic } => {
                        Some(format!("{agency_id} {}", topic.as_str()))
                    }
                    Wakeup::All => None,
                })
                .collect();
            sqlx::query("SELECT pg_notify($1, p) FROM UNNEST($2::text[]) AS p")
                .bind(PG_CHANNEL)
                .bind(&payloads)
                .execute(&mut **c)
                .await?;
            Ok(Announcement::default())
        }
    }
}

/// Active MARACs and the areas each serves (from the agency registry).
async fn marac_areas(conn: &mut Conn<'_>) -> Result<Vec<(String, Vec<String>)>, StoreError> {
    let sql = "SELECT id, areas FROM agencies WHERE kind = 'MARAC' AND status = 'active'";
    let rows: Vec<(String, String)> =
        crate::with_conn!(conn, |c| { sqlx::query_as(sql).fetch_all(&mut **c).await? });
    rows.into_iter()
        .map(|(id, areas)| {
            let areas: Vec<String> = serde_json::from_str(&areas)
                .map_err(|_| StoreError::Corrupt("agency areas are not a JSON array".into()))?;
            Ok((id, areas))
        })
        .collect()
}

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
                let mut listener = sqlx::postgres::PgListener::connect_with(p).await?;
                listener.listen(PG_CHANNEL).await?;
                let (tx, _) = broadcast::channel(WAKEUP_CAPACITY);
                let out = tx.clone();
                tokio::spawn(async move {
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
                });
                Ok(out)
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

    /// Current, non-retracted records (any agency) whose victim has one of `victim_pseudonyms`,
    /// restricted to `event_kinds` (canonical names) unless empty, oldest event first, at most
    /// `limit`.
    pub async fn records_about(
        &self,
        victim_pseudonyms: &[String],
        event_kinds: &[String],
        limit: u32,
    ) -> Result<Vec<SharedRecord>, StoreError> {
        if victim_pseudonyms.is_empty() {
            return Ok(Vec::new());
        }
        match &self.pool {
            Pool::Sqlite(p) => {
                let mut qb: QueryBuilder<sqlx::Sqlite> = QueryBuilder::new(format!(
                    "SELECT {SHARED_COLUMNS} FROM records \
                     WHERE is_current = 1 AND retracted = 0 AND victim_pseudonym IN ("
                ));
                let mut sep = qb.separated(", ");
                for v in victim_pseudonyms {
                    sep.push_bind(v.as_str());
                }
                qb.push(")");
                if !event_kinds.is_empty() {
                    qb.push(" AND event_kind IN (");
                    let mut sep = qb.separated(", ");
                    for k in event_kinds {
                        sep.push_bind(k.as_str());
                    }
                    qb.push(")");
                }
                qb.push(" ORDER BY event_time, record_id LIMIT ")
                    .push_bind(i64::from(limit));
                let rows = qb.build().fetch_all(p).await?;
                rows.iter()
                    .map(|r| {
                        shared_record(
                            r,
                            parse_ts(&r.try_get::<String, _>("event_time")?)?,
                            parse_ts(&r.try_get::<String, _>("recorded_time")?)?,
                            parse_date(&r.try_get::<String, _>("period_start")?)?,
                            parse_date(&r.try_get::<String, _>("period_end")?)?,
                            serde_json::from_str(&r.try_get::<String, _>("event_detail")?)
                                .map_err(|_| StoreError::Corrupt("record detail".into()))?,
                        )
                    })
                    .collect()
            }
            Pool::Postgres(p) => {
                let rows = sqlx::query(&format!(
                    "SELECT {SHARED_COLUMNS} FROM records \
                     WHERE is_current AND NOT retracted AND victim_pseudonym = ANY($1) \
                     AND (cardinality($2::text[]) = 0 OR event_kind = ANY($2)) \
                     ORDER BY event_time, record_id LIMIT $3"
                ))
                .bind(victim_pseudonyms)
                .bind(event_kinds)
                .bind(i64::from(limit))
                .fetch_all(p)
                .await?;
                rows.iter()
                    .map(|r| {
                        shared_record(
                            r,
                            r.try_get("event_time")?,
                            r.try_get("recorded_time")?,
                            r.try_get("period_start")?,
                            r.try_get("period_end")?,
                            r.try_get::<sqlx::types::Json<serde_json::Value>, _>("event_detail")?
                                .0,
                        )
                    })
                    .collect()
            }
        }
    }
}

fn shared_record<R: Row>(
    r: &R,
    event_time: DateTime<Utc>,
    recorded_time: DateTime<Utc>,
    period_start: NaiveDate,
    period_end: NaiveDate,
    detail: serde_json::Value,
) -> Result<SharedRecord, StoreError>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i32: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i32>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(SharedRecord {
        record_id: r.try_get("record_id")?,
        agency_id: r.try_get("agency_id")?,
        source_record_id: r.try_get("source_record_id")?,
        revision: u32::try_from(r.try_get::<i32, _>("revision")?)
            .map_err(|_| StoreError::Corrupt("negative revision".into()))?,
        event_kind: r.try_get("event_kind")?,
        definition_version: r.try_get("definition_version")?,
        local_scheme: r.try_get("local_scheme")?,
        local_code: r.try_get("local_code")?,
        category: r.try_get("category")?,
        event_time,
        recorded_time,
        period_start,
        period_end,
        counting_unit: r.try_get("counting_unit")?,
        area_code: r.try_get("area_code")?,
        area_level: r.try_get("area_level")?,
        victim_pseudonym: r.try_get("victim_pseudonym")?,
        suspect_pseudonym: r.try_get("suspect_pseudonym")?,
        police_ref_pseudonym: r.try_get("police_ref_pseudonym")?,
        cps_urn_pseudonym: r.try_get("cps_urn_pseudonym")?,
        court_case_pseudonym: r.try_get("court_case_pseudonym")?,
        victim_sex: r.try_get("victim_sex")?,
        victim_age: r
            .try_get::<Option<i32>, _>("victim_age")?
            .map(|a| a.max(0) as u32),
        victim_ethnic_group: r.try_get("victim_ethnic_group")?,
        victim_disability: r.try_get("victim_disability")?,
        victim_sexual_orientation: r.try_get("victim_sexual_orientation")?,
        victim_gender_identity: r.try_get("victim_gender_identity")?,
        detail,
    })
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

    #[test]
    fn topics_round_trip() {
        for t in [Topic::Encompass, Topic::Marac, Topic::SupportReferral] {
            assert_eq!(Topic::from_pb(t.to_pb()), Some(t));
            assert_eq!(Topic::parse(t.as_str()), Some(t));
        }
        assert_eq!(Topic::from_pb(pb::Topic::Unspecified), None);
    }
}
