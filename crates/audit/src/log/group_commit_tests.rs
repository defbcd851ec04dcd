//! Group commit: many concurrent appends, one transaction and one signed head per group, and
//! every caller answered only once its own entry is durable, under a head that covers it.

use std::{collections::BTreeSet, sync::Arc, time::Duration};

use ring::{
    rand::SystemRandom,
    signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair},
};
use tokio::task::JoinSet;
use vawg_store::{Pool, testing::TestDatabase};

use super::*;
use crate::verify_store;

/// A fresh database: a temporary SQLite file, or a new PostgreSQL database.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

impl Db {
    async fn create(backend: Backend) -> Db {
        match backend {
            Backend::Sqlite => Db::Sqlite(tempfile::tempdir().unwrap()),
            Backend::Postgres => Db::Postgres(TestDatabase::create().await.unwrap()),
        }
    }

    fn url(&self) -> String {
        match self {
            Db::Sqlite(dir) => format!("sqlite://{}", dir.path().join("audit.db").display()),
            Db::Postgres(db) => db.url.clone(),
        }
    }

    async fn store(&self) -> Store {
        let store = Store::connect(&self.url()).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn drop_database(self) {
        if let Db::Postgres(db) = self {
            db.drop_database().await.unwrap();
        }
    }
}

fn key() -> Vec<u8> {
    EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &SystemRandom::new())
        .unwrap()
        .as_ref()
        .to_vec()
}

fn signer(key: &[u8]) -> HeadSigner {
    HeadSigner::from_pkcs8_der(key).unwrap()
}

/// Caller `i`'s entry: its reason names the caller, so the entry can be found again.
fn record(i: u64) -> AuditRecord {
    AuditRecord::refusal(
        &format!("agency-{}", i % 5),
        "/vawg.v1.DefinitionService/Classify",
        tonic::Code::PermissionDenied,
        &format!("caller {i}"),
        "test-policies",
    )
}

async fn stored(store: &Store) -> Vec<AuditRecord> {
    store
        .audit_read(0, 1_000_000, None)
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_str(&r.entry).unwrap())
        .collect()
}

/// The Merkle root of the first `size` stored entries.
async fn root_of_first(store: &Store, size: u64) -> Vec<u8> {
    let mut frontier = Frontier::default();
    for (_, leaf, _) in store
        .audit_hashes()
        .await
        .unwrap()
        .iter()
        .take(size as usize)
    {
        frontier.push(decode32(leaf).unwrap());
    }
    frontier.root().to_vec()
}

/// Checks what each caller got back against the stored log: its own entry at its index, a
/// validly signed head covering it whose root is the root of the stored prefix, and the log
/// verifying against that head.
async fn check_receipts(store: &Store, signer: &HeadSigner, got: &[(u64, Appended)]) {
    let entries = stored(store).await;
    let verifier = signer.verifier();
    let mut checked_heads = BTreeSet::new();
    for (caller, appended) in got {
        let index = appended.index;
        let entry = &entries[usize::try_from(index).unwrap()];
        assert_eq!(entry.reason, format!("caller {caller}"), "entry {index}");
        assert_eq!(entry.index, index);
        let head = &appended.head;
        assert!(
            index < head.tree_size,
            "head {} misses entry {index}",
            head.tree_size
        );
        assert!(verifier.verify(head), "head {} signature", head.tree_size);
        if checked_heads.insert(head.tree_size) {
            assert_eq!(
                head.root_hash,
                root_of_first(store, head.tree_size).await,
                "head {} root",
                head.tree_size
            );
            let report = verify_store(store, Some(signer), Some(head)).await.unwrap();
            assert!(report.ok, "{report:?}");
        }
    }
}

async fn concurrent_appends_are_grouped_contiguous_and_covered(backend: Backend) {
    const CALLERS: u64 = 300;
    let db = Db::create(backend).await;
    let store = db.store().await;
    let key = key();
    let log = Arc::new(AuditLog::open(store.clone(), signer(&key)).await.unwrap());
    let mut tasks = JoinSet::new();
    for i in 0..CALLERS {
        let log = log.clone();
        tasks.spawn(async move { (i, log.append_entry(record(i)).await.unwrap()) });
    }
    let mut got = Vec::new();
    while let Some(done) = tasks.join_next().await {
        got.push(done.unwrap());
    }

    // Indices are exactly 0..CALLERS, each given once.
    got.sort_by_key(|(_, a)| a.index);
    let indices: Vec<u64> = got.iter().map(|(_, a)| a.index).collect();
    assert_eq!(indices, (0..CALLERS).collect::<Vec<_>>());

    // Groups: the callers of one group share its head, which ends exactly at the group's last
    // entry; groups follow one another in index order.
    for pair in got.windows(2) {
        let (a, b) = (&pair[0].1, &pair[1].1);
        assert!(a.head.tree_size <= b.head.tree_size);
        if a.head.tree_size != b.head.tree_size {
            assert_eq!(
                a.head.tree_size,
                a.index + 1,
                "a group's head ends at its last entry"
            );
        } else {
            assert_eq!(a.head, b.head, "one head per group");
        }
    }
    assert_eq!(got.last().unwrap().1.head.tree_size, CALLERS);
    let groups = got
        .windows(2)
        .filter(|p| p[0].1.head.tree_size != p[1].1.head.tree_size)
        .count()
        + 1;
    assert!(
        groups < CALLERS as usize,
        "{CALLERS} concurrent appends made {groups} commits: nothing was grouped"
    );

    check_receipts(&store, log.signer(), &got).await;
    let report = verify_store(&store, Some(log.signer()), None)
        .await
        .unwrap();
    assert!(report.ok, "{report:?}");
    assert_eq!(report.entries_checked, CALLERS);
    let latest = store.audit_latest_head().await.unwrap().unwrap();
    assert_eq!(latest.tree_size, CALLERS);
    let head = log.head().await.unwrap();
    assert_eq!(head.tree_size, CALLERS);
    assert_eq!(head.root_hash, report.root_hash.to_vec());

    // Reopened, the log goes on where it stopped.
    drop(log);
    let log = AuditLog::open(store.clone(), signer(&key)).await.unwrap();
    let next = log.append_entry(record(CALLERS)).await.unwrap();
    assert_eq!(next.index, CALLERS);
    assert_eq!(next.head.tree_size, CALLERS + 1);
    store.close().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_appends_are_grouped_contiguous_and_covered() {
    concurrent_appends_are_grouped_contiguous_and_covered(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_appends_are_grouped_contiguous_and_covered() {
    concurrent_appends_are_grouped_contiguous_and_covered(Backend::Postgres).await;
}

async fn exec(store: &Store, sql: &str) {
    match store.pool() {
        Pool::Sqlite(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
        Pool::Postgres(p) => sqlx::raw_sql(sql).execute(p).await.map(|_| ()),
    }
    .unwrap();
}

async fn a_group_that_cannot_commit_fails_every_caller_and_leaves_no_trace(backend: Backend) {
    let db = Db::create(backend).await;
    let store = db.store().await;
    let log = Arc::new(AuditLog::open(store.clone(), signer(&key())).await.unwrap());
    for i in 0..3 {
        assert_eq!(log.append_entry(record(i)).await.unwrap().index, i);
    }
    // The database now refuses every head: the entries are written first in each group's
    // transaction, so they can only be absent afterwards if they commit with their head.
    let (refuse, allow) = match backend {
        Backend::Sqlite => (
            "CREATE TRIGGER refuse_heads BEFORE INSERT ON audit_heads \
             BEGIN SELECT RAISE(ABORT, 'refused for the test'); END;",
            "DROP TRIGGER refuse_heads;",
        ),
        Backend::Postgres => (
            "CREATE FUNCTION refuse_heads() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'refused for the test'; END; $$; \
             CREATE TRIGGER refuse_heads BEFORE INSERT ON audit_heads \
             FOR EACH ROW EXECUTE FUNCTION refuse_heads();",
            "DROP TRIGGER refuse_heads ON audit_heads; DROP FUNCTION refuse_heads();",
        ),
    };
    exec(&store, refuse).await;
    let mut tasks = JoinSet::new();
    for i in 3..40 {
        let log = log.clone();
        tasks.spawn(async move { log.append_entry(record(i)).await });
    }
    while let Some(done) = tasks.join_next().await {
        let err = done.unwrap().unwrap_err();
        assert_eq!(
            vawg_proto::error::status(&err).code(),
            tonic::Code::Internal
        );
    }
    assert_eq!(stored(&store).await.len(), 3, "no entry without its head");
    assert_eq!(
        store.audit_latest_head().await.unwrap().unwrap().tree_size,
        3
    );
    assert_eq!(log.head().await.unwrap().tree_size, 3);

    // Once the database accepts heads again, the log goes on from entry 3.
    exec(&store, allow).await;
    let next = log.append_entry(record(40)).await.unwrap();
    assert_eq!(next.index, 3);
    check_receipts(&store, log.signer(), &[(40, next)]).await;
    store.close().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_group_that_cannot_commit_fails_every_caller_and_leaves_no_trace() {
    a_group_that_cannot_commit_fails_every_caller_and_leaves_no_trace(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_group_that_cannot_commit_fails_every_caller_and_leaves_no_trace() {
    a_group_that_cannot_commit_fails_every_caller_and_leaves_no_trace(Backend::Postgres).await;
}

/// The process stops (its runtime is torn down with appends queued, a group in flight and
/// callers waiting) and the hub starts again on the same database: every entry a caller was
/// told about is there, at its index, under the head it was given, and the log verifies and
/// goes on.
fn a_crash_between_groups_loses_nothing_acknowledged(backend: Backend) {
    const CALLERS_AT_ONCE: u64 = 24;
    let setup = tokio::runtime::Runtime::new().unwrap();
    let db = setup.block_on(Db::create(backend));
    let url = db.url();
    let key = key();
    let (ack, acks) = std::sync::mpsc::channel::<(u64, Appended)>();

    let doomed = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    doomed.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        store.migrate().await.unwrap();
        let log = Arc::new(AuditLog::open(store, signer(&key)).await.unwrap());
        // Callers that never stop: whenever the crash comes, appends are in flight.
        for first in 0..CALLERS_AT_ONCE {
            let (log, ack) = (log.clone(), ack.clone());
            tokio::spawn(async move {
                for i in (first..).step_by(CALLERS_AT_ONCE as usize) {
                    // (Torn down, the writer may be gone before its callers: no answer.)
                    let Ok(appended) = log.append_entry(record(i)).await else {
                        break;
                    };
                    if ack.send((i, appended)).is_err() {
                        break;
                    }
                }
            });
        }
    });
    drop(ack);
    let mut acknowledged = Vec::new();
    while acknowledged.len() < 500 {
        acknowledged.push(acks.recv_timeout(Duration::from_secs(60)).unwrap());
    }
    doomed.shutdown_timeout(Duration::ZERO);
    acknowledged.extend(acks.try_iter());

    setup.block_on(async {
        let store = Store::connect(&url).await.unwrap();
        let signer = signer(&key);
        let report = verify_store(&store, Some(&signer), None).await.unwrap();
        assert!(report.ok, "{report:?}");
        check_receipts(&store, &signer, &acknowledged).await;
        let size = stored(&store).await.len() as u64;
        assert!(size >= acknowledged.len() as u64);
        let log = AuditLog::open(store.clone(), signer).await.unwrap();
        let next = log.append_entry(record(u64::MAX)).await.unwrap();
        assert!(next.index >= size);
        let report = verify_store(&store, Some(log.signer()), Some(&next.head))
            .await
            .unwrap();
        assert!(report.ok, "{report:?}");
        store.close().await;
        db.drop_database().await;
    });
}

#[test]
fn sqlite_a_crash_between_groups_loses_nothing_acknowledged() {
    a_crash_between_groups_loses_nothing_acknowledged(Backend::Sqlite);
}

#[test]
fn postgres_a_crash_between_groups_loses_nothing_acknowledged() {
    a_crash_between_groups_loses_nothing_acknowledged(Backend::Postgres);
}

/// Two hubs (replicas) append to one database at once: each notices the other's entries by
/// the primary key, catches up and goes on, so indices stay contiguous and the log verifies.
async fn two_replicas_interleave_without_gaps(backend: Backend) {
    const EACH: u64 = 60;
    let db = Db::create(backend).await;
    let store = db.store().await;
    let key = key();
    let a = Arc::new(AuditLog::open(store.clone(), signer(&key)).await.unwrap());
    let other_store = Store::connect(&db.url()).await.unwrap();
    let b = Arc::new(
        AuditLog::open(other_store.clone(), signer(&key))
            .await
            .unwrap(),
    );
    let mut tasks = JoinSet::new();
    for i in 0..2 * EACH {
        let log = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move { (i, log.append_entry(record(i)).await.unwrap()) });
    }
    let mut got = Vec::new();
    while let Some(done) = tasks.join_next().await {
        got.push(done.unwrap());
    }
    let mut indices: Vec<u64> = got.iter().map(|(_, a)| a.index).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..2 * EACH).collect::<Vec<_>>());
    check_receipts(&store, a.signer(), &got).await;
    let report = verify_store(&store, Some(a.signer()), None).await.unwrap();
    assert!(report.ok, "{report:?}");
    other_store.close().await;
    store.close().await;
    db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_two_replicas_interleave_without_gaps() {
    two_replicas_interleave_without_gaps(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_replicas_interleave_without_gaps() {
    two_replicas_interleave_without_gaps(Backend::Postgres).await;
}
