//! The appending side of the log: one writer task, group commit, fail closed.

use std::sync::{Arc, Mutex as StdMutex};

use tokio::sync::{mpsc, oneshot};
use vawg_proto::pb;
use vawg_store::{
    Store,
    audit::{AuditRow, AuditWriter},
};

use crate::{
    AuditRecord, Error, HeadSigner,
    head::stored_from_head,
    merkle::{Frontier, chain_hash, leaf_hash},
};

#[derive(Clone)]
struct LogState {
    frontier: Frontier,
    chain: [u8; 32],
}

/// Most entries one group commit writes (one transaction, one signed head). Larger groups
/// wait for the next commit.
pub const MAX_GROUP: usize = 512;

/// Appends waiting for the writer beyond which callers wait to enqueue (backpressure).
const QUEUE_DEPTH: usize = 4096;

/// How long the writer keeps its database connection with nothing to write.
const IDLE_RELEASE: std::time::Duration = std::time::Duration::from_millis(50);

/// Times a group is retried after another replica took its indices (each retry reloads the
/// log's state from the store first).
const CONFLICT_RETRIES: usize = 16;

/// An entry appended to the log: where it is, and the signed head that covers it.
#[derive(Clone, Debug, PartialEq)]
pub struct Appended {
    /// The entry's index (position in the log).
    pub index: u64,
    /// A signed head whose tree includes the entry (`index < head.tree_size`), stored in the
    /// same transaction as the entry.
    pub head: pb::SignedTreeHead,
}

/// An append waiting for its group commit.
struct Pending {
    record: AuditRecord,
    reply: oneshot::Sender<Result<Appended, Error>>,
}

/// The appending side of the log, with group commit.
///
/// One writer task owns the log's state (the Merkle frontier and the chain hash). Callers
/// queue their entries and wait; the writer takes every entry queued while its previous
/// commit was in flight (up to [`MAX_GROUP`]), gives them consecutive indices in queue order,
/// chains and hashes them, signs ONE head covering all of them, and writes the entries and
/// that head in ONE transaction. Only after the commit does each caller get its index and the
/// head, so no caller proceeds before its entry is durable, and the fsync is paid once per
/// group rather than once per call. A group that fails to commit fails every caller in it
/// (fail closed) and leaves the state as it was. Another replica taking the same index is
/// detected by the primary key and the state reloaded from the store.
///
/// Callers that give up waiting (a cancelled RPC) do not withdraw their entry: a decision
/// once queued is recorded.
pub struct AuditLog {
    signer: Arc<HeadSigner>,
    queue: mpsc::Sender<Pending>,
    /// Size and root of the log as last committed (for [`AuditLog::head`]).
    committed: Arc<StdMutex<(u64, [u8; 32])>>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

async fn load_state(store: &Store) -> Result<LogState, Error> {
    let mut frontier = Frontier::default();
    let mut chain = [0u8; 32];
    for (idx, leaf, ch) in store.audit_hashes().await? {
        if idx != frontier.size() {
            return Err(Error::Store(vawg_store::StoreError::Corrupt(format!(
                "audit entry {} is missing",
                frontier.size()
            ))));
        }
        let leaf: [u8; 32] =
            decode32(&leaf).ok_or_else(|| corrupt(format!("audit entry {idx}: leaf hash")))?;
        chain = decode32(&ch).ok_or_else(|| corrupt(format!("audit entry {idx}: chain hash")))?;
        frontier.push(leaf);
    }
    Ok(LogState { frontier, chain })
}

fn corrupt(what: String) -> Error {
    Error::Store(vawg_store::StoreError::Corrupt(what))
}

fn decode32(s: &str) -> Option<[u8; 32]> {
    hex::decode(s).ok()?.try_into().ok()
}

/// The writer that owns the log's state.
struct Writer {
    store: Store,
    writer: AuditWriter,
    signer: Arc<HeadSigner>,
    state: LogState,
    committed: Arc<StdMutex<(u64, [u8; 32])>>,
}

impl Writer {
    /// Commits groups until every [`AuditLog`] handle is gone and the queue is drained.
    async fn run(mut self, mut queue: mpsc::Receiver<Pending>) {
        let mut group = Vec::with_capacity(MAX_GROUP);
        loop {
            // Busy, the writer keeps its connection from one group to the next; idle for a
            // while, it gives it back to the pool (which may be closing).
            let received =
                match tokio::time::timeout(IDLE_RELEASE, queue.recv_many(&mut group, MAX_GROUP))
                    .await
                {
                    Ok(received) => received,
                    Err(_idle) => {
                        self.writer.release();
                        queue.recv_many(&mut group, MAX_GROUP).await
                    }
                };
            if received == 0 {
                break;
            }
            let (records, replies): (Vec<_>, Vec<_>) =
                group.drain(..).map(|p| (p.record, p.reply)).unzip();
            let entries = records.len();
            match self.commit(records).await {
                Ok((first, head)) => {
                    if let Ok(mut c) = self.committed.lock() {
                        *c = (self.state.frontier.size(), self.state.frontier.root());
                    }
                    for (i, reply) in replies.into_iter().enumerate() {
                        // A caller that stopped waiting has nothing to be told.
                        let _ = reply.send(Ok(Appended {
                            index: first + i as u64,
                            head: head.clone(),
                        }));
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, entries, "audit group commit failed; its calls are refused");
                    for reply in replies {
                        let _ = reply.send(Err(e.for_group()));
                    }
                }
            }
        }
    }

    /// Writes `records` as the next entries, in order, with one signed head, in one
    /// transaction. Returns the first index and the head. The state advances only on commit.
    async fn commit(
        &mut self,
        mut records: Vec<AuditRecord>,
    ) -> Result<(u64, pb::SignedTreeHead), Error> {
        for _attempt in 0..CONFLICT_RETRIES {
            let first = self.state.frontier.size();
            let mut next = self.state.clone();
            let mut rows = Vec::with_capacity(records.len());
            for (record, index) in records.iter_mut().zip(first..) {
                record.index = index;
                let entry = serde_json::to_string(&*record).expect("audit records serialise");
                let leaf = leaf_hash(entry.as_bytes());
                next.chain = chain_hash(&next.chain, &leaf);
                next.frontier.push(leaf);
                rows.push(AuditRow {
                    idx: index,
                    agency_id: record.agency_id.clone(),
                    entry,
                    leaf_hash: hex::encode(leaf),
                    chain_hash: hex::encode(next.chain),
                });
            }
            let head = self
                .signer
                .sign(next.frontier.size(), next.frontier.root())?;
            match self
                .writer
                .append_batch(&rows, &stored_from_head(&head))
                .await
            {
                Ok(()) => {
                    self.state = next;
                    return Ok((first, head));
                }
                Err(e) if e.is_conflict() => {
                    // Another replica appended: catch up and retry at the new end.
                    self.state = load_state(&self.store).await?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(corrupt("audit log append kept conflicting".into()))
    }
}

impl AuditLog {
    /// Opens the log over `store`, rebuilding the Merkle frontier from the stored leaves, and
    /// starts its writer task (on the current Tokio runtime; it ends when the log is dropped).
    pub async fn open(store: Store, signer: HeadSigner) -> Result<AuditLog, Error> {
        let state = load_state(&store).await?;
        let signer = Arc::new(signer);
        let committed = Arc::new(StdMutex::new((
            state.frontier.size(),
            state.frontier.root(),
        )));
        let (queue, receiver) = mpsc::channel(QUEUE_DEPTH);
        let writer = Writer {
            writer: store.audit_writer(),
            store,
            signer: signer.clone(),
            state,
            committed: committed.clone(),
        };
        tokio::spawn(writer.run(receiver));
        Ok(AuditLog {
            signer,
            queue,
            committed,
        })
    }

    /// The signing key.
    pub fn signer(&self) -> &HeadSigner {
        &self.signer
    }

    /// Appends `record` (its index is set by the writer) and returns the signed head covering
    /// it, once the entry is committed.
    pub async fn append(&self, record: AuditRecord) -> Result<pb::SignedTreeHead, Error> {
        self.append_entry(record).await.map(|a| a.head)
    }

    /// Appends `record` and returns its index and the signed head covering it, once the entry
    /// (and that head) are committed.
    pub async fn append_entry(&self, record: AuditRecord) -> Result<Appended, Error> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { record, reply })
            .await
            .map_err(|_| Error::writer_stopped())?;
        answer.await.map_err(|_| Error::writer_stopped())?
    }

    /// A signed head of the log as last committed.
    pub async fn head(&self) -> Result<pb::SignedTreeHead, Error> {
        let (size, root) = *self
            .committed
            .lock()
            .map_err(|_| corrupt("the audit log state is poisoned".into()))?;
        self.signer.sign(size, root)
    }
}

#[cfg(test)]
mod group_commit_tests;
