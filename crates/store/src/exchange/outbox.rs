//! The notifications outbox, written inside the ingest transaction: which notifications the
//! records just stored give rise to and to whom (the routing rules), their per-recipient
//! sequences, and the rows themselves.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use prost::Message;
use sqlx::{Encode, PgConnection, QueryBuilder, Type};
use vawg_proto::pb::{self, notification::Content};

use super::{Announcement, PG_CHANNEL, Topic, Wakeup};
use crate::{
    Conn, StoreError,
    detail::{Detail, marac_referral, sealed_from_detail},
    records::NewRecord,
    sql::ts,
};

/// Rows per multi-row insert into the outbox.
const ROWS_PER_INSERT: usize = 500;

/// The event kinds that give rise to notifications.
const NOTIFYING_KINDS: [&str; 3] = [
    "ENCOMPASS_NOTIFICATION",
    "MARAC_REFERRAL",
    "SUPPORT_REFERRAL",
];

/// One notification to write: recipient, topic, record and the content without its sequence.
struct Pending {
    recipient: String,
    topic: Topic,
    record_id: i64,
    notification: pb::Notification,
}

/// Notifications grouped by (recipient, topic), in a fixed order so that concurrent
/// transactions always lock cursor rows in the same order; in hub record id order within a
/// group.
type Groups = BTreeMap<(String, Topic), Vec<Pending>>;

/// A time as the contract's timestamp.
fn timestamp(t: &DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
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
    let d = Detail(&record.detail);
    let pending = |recipient: String, topic: Topic, content: Content| Pending {
        recipient,
        topic,
        record_id,
        notification: pb::Notification {
            sequence: 0,
            topic: topic.to_pb() as i32,
            created_time: Some(timestamp(now)),
            source_agency_id: agency_id.to_string(),
            record_id: record_id.to_string(),
            content: Some(content),
        },
    };
    match record.event_kind.as_str() {
        "ENCOMPASS_NOTIFICATION" => {
            let Some(school) = record.fields.to_agency_id.clone() else {
                return Vec::new();
            };
            let content = Content::Encompass(pb::EncompassContent {
                incident_time: Some(timestamp(&record.event_time)),
                sealed_pupil_details: d.field("sealed_pupil_details").and_then(sealed_from_detail),
                police_contact: d.string("police_contact"),
                school_urn: d.string("school_urn"),
            });
            vec![pending(school, Topic::Encompass, content)]
        }
        "MARAC_REFERRAL" => {
            let referral = marac_referral(d);
            let content = pb::MaracContent {
                victim_pseudonym: record.victim_pseudonym.clone().unwrap_or_default(),
                referring_agency: referral.referring_agency,
                repeat_referral: referral.repeat_referral,
                children_in_household: referral.children_in_household,
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
                service_type: d.service_type(),
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
    let newest = newest_inserted(records, ids_by_key);
    if newest.is_empty() {
        return Ok(Announcement::default());
    }
    let maracs = if newest.iter().any(|(r, _)| r.event_kind == "MARAC_REFERRAL") {
        marac_areas(conn).await?
    } else {
        Vec::new()
    };
    let now = Utc::now();
    let groups = group_by_recipient(agency_id, newest, &maracs, &now);
    let (rows, wakeups) = assign_sequences(conn, groups).await?;
    insert_notifications(conn, agency_id, &rows, now).await?;
    match conn {
        Conn::Sqlite(_) => Ok(Announcement { sqlite: wakeups }),
        Conn::Postgres(c) => {
            notify_at_commit(c, &wakeups).await?;
            Ok(Announcement::default())
        }
    }
}

/// The newest inserted revision of each record of a notifying kind, with its hub record id,
/// in hub record id order.
fn newest_inserted<'a>(
    records: &'a [NewRecord],
    ids_by_key: &HashMap<(String, u32), i64>,
) -> Vec<(&'a NewRecord, i64)> {
    let mut newest: BTreeMap<&str, (&NewRecord, i64)> = BTreeMap::new();
    for r in records {
        if !NOTIFYING_KINDS.contains(&r.event_kind.as_str()) {
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
    let mut ordered: Vec<(&NewRecord, i64)> = newest.into_values().collect();
    ordered.sort_by_key(|(_, id)| *id);
    ordered
}

/// Routes each record (see [`route`]) and groups the notifications by recipient and topic.
fn group_by_recipient(
    agency_id: &str,
    records: Vec<(&NewRecord, i64)>,
    maracs: &[(String, Vec<String>)],
    now: &DateTime<Utc>,
) -> Groups {
    let mut groups = Groups::new();
    for (r, id) in records {
        for p in route(agency_id, r, id, maracs, now) {
            groups
                .entry((p.recipient.clone(), p.topic))
                .or_default()
                .push(p);
        }
    }
    groups
}

/// Takes the next sequences of each (recipient, topic) from its cursor row (the upsert locks
/// the row until commit: sequences are gap-free and become visible in order). Returns each
/// notification with its sequence, and a wake-up per group.
async fn assign_sequences(
    conn: &mut Conn<'_>,
    groups: Groups,
) -> Result<(Vec<(Pending, i64)>, Vec<Wakeup>), StoreError> {
    let sql = "INSERT INTO notification_cursors (agency_id, topic, last_sequence) \
               VALUES ($1, $2, $3) ON CONFLICT (agency_id, topic) \
               DO UPDATE SET last_sequence = notification_cursors.last_sequence + $3 \
               RETURNING last_sequence";
    let mut rows: Vec<(Pending, i64)> = Vec::new();
    let mut wakeups = Vec::new();
    for ((recipient, topic), pending) in groups {
        let n = pending.len() as i64;
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
    Ok((rows, wakeups))
}

/// A notification row: the notification, its sequence and its encoding with that sequence.
type Row<'a> = (&'a Pending, i64, Vec<u8>);

/// Inserts the notifications, each encoded with its sequence, in multi-row inserts.
async fn insert_notifications(
    conn: &mut Conn<'_>,
    agency_id: &str,
    rows: &[(Pending, i64)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let encoded: Vec<Row<'_>> = rows
        .iter()
        .map(|(p, seq)| {
            let mut n = p.notification.clone();
            n.sequence = *seq as u64;
            (p, *seq, n.encode_to_vec())
        })
        .collect();
    for part in encoded.chunks(ROWS_PER_INSERT) {
        match conn {
            Conn::Sqlite(c) => {
                let mut qb = insert_statement(agency_id, part, ts(&now));
                qb.build().execute(&mut **c).await?;
            }
            Conn::Postgres(c) => {
                let mut qb = insert_statement(agency_id, part, now);
                qb.build().execute(&mut **c).await?;
            }
        }
    }
    Ok(())
}

/// A multi-row insert of notification rows, the same on both backends but for how
/// `created_at` is held (`created`: RFC 3339 text on SQLite, a timestamp on PostgreSQL).
fn insert_statement<'a, DB, T>(
    agency_id: &'a str,
    rows: &'a [Row<'a>],
    created: T,
) -> QueryBuilder<'a, DB>
where
    DB: sqlx::Database,
    T: 'a + Clone + Encode<'a, DB> + Type<DB>,
    &'a str: Encode<'a, DB> + Type<DB>,
    &'a [u8]: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(
        "INSERT INTO notifications (recipient_agency_id, topic, sequence, record_id, \
         source_agency_id, content, created_at) ",
    );
    qb.push_values(rows, |mut b, (p, seq, content)| {
        b.push_bind(p.recipient.as_str())
            .push_bind(p.topic.as_str())
            .push_bind(*seq)
            .push_bind(p.record_id)
            .push_bind(agency_id)
            .push_bind(content.as_slice())
            .push_bind(created.clone());
    });
    qb
}

/// Queues a `NOTIFY` per wake-up on [`PG_CHANNEL`]: delivered by PostgreSQL at commit, to
/// every replica listening; not at all on rollback.
async fn notify_at_commit(c: &mut PgConnection, wakeups: &[Wakeup]) -> Result<(), StoreError> {
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
        .execute(&mut *c)
        .await?;
    Ok(())
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
