//! The tamper-evident audit log: every decision is a leaf of an RFC 6962 Merkle tree
//! (`leaf = SHA-256(0x00 || canonical JSON)`, `node = SHA-256(0x01 || left || right)`), each
//! leaf also chained to the one before (`chain = SHA-256(previous chain || leaf)`), and every
//! append returns a head signed with the hub's ECDSA P-256 audit key. Edits, deletions and
//! reordering break the leaf hashes or the chain; truncation (and wholesale rewriting with
//! recomputed hashes) is caught against a previously signed head.

use std::sync::{Arc, Mutex as StdMutex};

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use ring::{
    rand::SystemRandom,
    signature::{
        ECDSA_P256_SHA256_ASN1, ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair, KeyPair,
        UnparsedPublicKey,
    },
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use vawg_domain::identity::{AgencyKind, CallerIdentity};
use vawg_proto::pb;
use vawg_store::{
    Store,
    audit::{AuditRow, AuditWriter, StoredHead},
};

use crate::{
    Error,
    decision::{Decision, Flow},
};

/// The signature algorithm of tree heads.
pub const HEAD_ALGORITHM: &str = "ECDSA_P256_SHA256";
const HEAD_CONTEXT: &[u8] = b"vawg-hub audit tree head v1\n";

/// One audit entry, exactly as hashed (canonical JSON in this field order). Ids and
/// pseudonyms only, never personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Position in the log, from 0 (set on append).
    pub index: u64,
    /// When (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// The calling agency (what the verified certificate named; empty when unknown).
    pub agency_id: String,
    /// Its kind (empty when not identified).
    pub agency_kind: String,
    /// The gRPC method ("" for refusals during the TLS handshake).
    pub rpc: String,
    /// The action (contract name).
    pub action: String,
    /// The purpose (contract name).
    pub purpose: String,
    /// The lawful basis (contract name).
    pub lawful_basis: String,
    /// Whether the flow was allowed.
    pub allowed: bool,
    /// The gRPC status the caller got when refused (e.g. `PERMISSION_DENIED`), else empty.
    pub status: String,
    /// The deciding policies or rules.
    pub policy_ids: Vec<String>,
    /// Version of the policy set.
    pub policy_set_version: String,
    /// Why, in words.
    pub reason: String,
    /// Pseudonyms of the records or subjects involved.
    pub subject_pseudonyms: Vec<String>,
    /// Whether a hard rule decided.
    pub hard_rule: bool,
    /// Whether the policies allowed what a hard rule refused.
    pub override_attempt: bool,
    /// Whether this only decided if the RPC may be called (the auth layer).
    pub gate: bool,
}

fn now_text() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn status_name(code: tonic::Code) -> String {
    // tonic's description is prose; the contract names are what operators grep for.
    match code {
        tonic::Code::Unauthenticated => "UNAUTHENTICATED",
        tonic::Code::PermissionDenied => "PERMISSION_DENIED",
        tonic::Code::InvalidArgument => "INVALID_ARGUMENT",
        tonic::Code::Unavailable => "UNAVAILABLE",
        tonic::Code::Ok => "",
        _ => "REFUSED",
    }
    .to_string()
}

impl AuditRecord {
    /// A firewall decision about an identified caller.
    pub fn decision(
        caller: &CallerIdentity,
        flow: &Flow,
        decision: &Decision,
        subject_pseudonyms: &[String],
    ) -> AuditRecord {
        AuditRecord {
            index: 0,
            time: now_text(),
            agency_id: caller.agency_id.clone(),
            agency_kind: caller.agency_kind.as_str().to_string(),
            rpc: flow.rpc.clone(),
            action: flow.action.as_str_name().to_string(),
            purpose: flow.purpose.as_str_name().to_string(),
            lawful_basis: flow.lawful_basis.as_str_name().to_string(),
            allowed: decision.allowed,
            status: if decision.allowed {
                String::new()
            } else {
                status_name(tonic::Code::PermissionDenied)
            },
            policy_ids: decision.policy_ids.clone(),
            policy_set_version: decision.policy_set_version.clone(),
            reason: decision.reason.clone(),
            subject_pseudonyms: subject_pseudonyms.to_vec(),
            hard_rule: decision.hard_rule,
            override_attempt: decision.override_attempt,
            gate: flow.gate,
        }
    }

    /// A refusal before the caller was identified.
    pub fn refusal(
        agency_id: &str,
        rpc: &str,
        status: tonic::Code,
        reason: &str,
        policy_set_version: &str,
    ) -> AuditRecord {
        AuditRecord {
            index: 0,
            time: now_text(),
            agency_id: agency_id.to_string(),
            agency_kind: String::new(),
            rpc: rpc.to_string(),
            action: pb::Action::Unspecified.as_str_name().to_string(),
            purpose: pb::Purpose::Unspecified.as_str_name().to_string(),
            lawful_basis: pb::LawfulBasis::Unspecified.as_str_name().to_string(),
            allowed: false,
            status: status_name(status),
            policy_ids: vec!["identity".into()],
            policy_set_version: policy_set_version.to_string(),
            reason: reason.to_string(),
            subject_pseudonyms: Vec::new(),
            hard_rule: false,
            override_attempt: false,
            gate: true,
        }
    }

    /// The contract message.
    pub fn to_pb(&self, leaf_hash: &[u8]) -> pb::AuditEntry {
        let time = DateTime::parse_from_rfc3339(&self.time)
            .ok()
            .map(|t| prost_types::Timestamp {
                seconds: t.timestamp(),
                nanos: i32::try_from(t.timestamp_subsec_nanos()).unwrap_or(0),
            });
        let kind = self
            .agency_kind
            .parse::<AgencyKind>()
            .map(|k| k.to_pb())
            .unwrap_or(pb::AgencyKind::Unspecified);
        let mut reason = self.reason.clone();
        if !self.status.is_empty() {
            reason = format!("[{}] {reason}", self.status);
        }
        pb::AuditEntry {
            index: self.index,
            time,
            caller_agency_id: self.agency_id.clone(),
            caller_agency_kind: kind as i32,
            rpc: self.rpc.clone(),
            action: pb::Action::from_str_name(&self.action).unwrap_or_default() as i32,
            purpose: pb::Purpose::from_str_name(&self.purpose).unwrap_or_default() as i32,
            lawful_basis: pb::LawfulBasis::from_str_name(&self.lawful_basis).unwrap_or_default()
                as i32,
            allowed: self.allowed,
            policy_ids: self.policy_ids.clone(),
            policy_set_version: self.policy_set_version.clone(),
            reason,
            subject_pseudonyms: self.subject_pseudonyms.clone(),
            leaf_hash: leaf_hash.to_vec(),
            hard_rule: self.hard_rule,
        }
    }
}

/// RFC 6962 leaf hash.
pub fn leaf_hash(entry: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(entry);
    h.finalize().into()
}

fn node_hash(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

fn chain_hash(previous: &[u8; 32], leaf: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(previous);
    h.update(leaf);
    h.finalize().into()
}

/// The right edge of an RFC 6962 tree: the roots of its perfect subtrees, largest first.
#[derive(Clone, Debug, Default)]
pub struct Frontier {
    size: u64,
    nodes: Vec<(u32, [u8; 32])>,
}

impl Frontier {
    /// Adds a leaf hash.
    pub fn push(&mut self, leaf: [u8; 32]) {
        let mut node = (0u32, leaf);
        while let Some(&(height, left)) = self.nodes.last() {
            if height != node.0 {
                break;
            }
            self.nodes.pop();
            node = (height + 1, node_hash(&left, &node.1));
        }
        self.nodes.push(node);
        self.size += 1;
    }

    /// Number of leaves.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The Merkle tree hash (SHA-256 of the empty string for an empty tree).
    pub fn root(&self) -> [u8; 32] {
        let mut iter = self.nodes.iter().rev();
        let Some(&(_, mut acc)) = iter.next() else {
            return Sha256::digest([]).into();
        };
        for (_, left) in iter {
            acc = node_hash(left, &acc);
        }
        acc
    }
}

fn head_message(tree_size: u64, root: &[u8], timestamp_ms: i64) -> Vec<u8> {
    let mut m = HEAD_CONTEXT.to_vec();
    m.extend_from_slice(&tree_size.to_be_bytes());
    m.extend_from_slice(root);
    m.extend_from_slice(&timestamp_ms.to_be_bytes());
    m
}

fn timestamp_ms(ts: Option<&prost_types::Timestamp>) -> i64 {
    ts.map(|t| t.seconds * 1000 + i64::from(t.nanos) / 1_000_000)
        .unwrap_or(0)
}

/// The hub's audit signing key (ECDSA P-256, PKCS#8).
pub struct HeadSigner {
    key: EcdsaKeyPair,
    key_id: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for HeadSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HeadSigner")
            .field("key_id", &self.key_id)
            .finish()
    }
}

/// Key id: the first 8 bytes of SHA-256 of the public key, in hex.
pub fn key_id_of(public_key: &[u8]) -> String {
    hex::encode(&Sha256::digest(public_key)[..8])
}

impl HeadSigner {
    /// From a PKCS#8 PEM file's text.
    pub fn from_pem(pem: &str) -> Result<HeadSigner, Error> {
        use rustls::pki_types::{PrivatePkcs8KeyDer, pem::PemObject};
        let der = PrivatePkcs8KeyDer::from_pem_slice(pem.as_bytes())
            .map_err(|e| Error::Keys(format!("audit signing key: {e}")))?;
        HeadSigner::from_pkcs8_der(der.secret_pkcs8_der())
    }

    /// From a PKCS#8 DER document.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<HeadSigner, Error> {
        let rng = SystemRandom::new();
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, der, &rng).map_err(|_| {
                Error::Keys("audit signing key is not an ECDSA P-256 PKCS#8 key".into())
            })?;
        let key_id = key_id_of(key.public_key().as_ref());
        Ok(HeadSigner { key, key_id, rng })
    }

    /// The key id.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The verifier for heads this key signs.
    pub fn verifier(&self) -> HeadVerifier {
        HeadVerifier {
            public_key: self.key.public_key().as_ref().to_vec(),
            key_id: self.key_id.clone(),
        }
    }

    /// Signs a head.
    pub fn sign(&self, tree_size: u64, root: [u8; 32]) -> Result<pb::SignedTreeHead, Error> {
        let now = Utc::now();
        let ts_ms = now.timestamp_millis();
        let signature = self
            .key
            .sign(&self.rng, &head_message(tree_size, &root, ts_ms))
            .map_err(|_| Error::Keys("signing the audit head failed".into()))?;
        let when = Utc.timestamp_millis_opt(ts_ms).single().unwrap_or(now);
        Ok(pb::SignedTreeHead {
            tree_size,
            root_hash: root.to_vec(),
            timestamp: Some(prost_types::Timestamp {
                seconds: when.timestamp(),
                nanos: i32::try_from(when.timestamp_subsec_millis() * 1_000_000).unwrap_or(0),
            }),
            signature: signature.as_ref().to_vec(),
            key_id: self.key_id.clone(),
            algorithm: HEAD_ALGORITHM.to_string(),
        })
    }
}

/// Checks head signatures.
#[derive(Clone, Debug)]
pub struct HeadVerifier {
    public_key: Vec<u8>,
    key_id: String,
}

impl HeadVerifier {
    /// Whether `head` carries a valid signature by this key.
    pub fn verify(&self, head: &pb::SignedTreeHead) -> bool {
        head.key_id == self.key_id
            && head.algorithm == HEAD_ALGORITHM
            && UnparsedPublicKey::new(&ECDSA_P256_SHA256_ASN1, &self.public_key)
                .verify(
                    &head_message(
                        head.tree_size,
                        &head.root_hash,
                        timestamp_ms(head.timestamp.as_ref()),
                    ),
                    &head.signature,
                )
                .is_ok()
    }
}

/// A stored head as the contract message.
pub fn head_from_stored(h: &StoredHead) -> pb::SignedTreeHead {
    pb::SignedTreeHead {
        tree_size: h.tree_size,
        root_hash: hex::decode(&h.root_hash).unwrap_or_default(),
        timestamp: Some(prost_types::Timestamp {
            seconds: h.timestamp_ms.div_euclid(1000),
            nanos: i32::try_from(h.timestamp_ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
        }),
        signature: hex::decode(&h.signature).unwrap_or_default(),
        key_id: h.key_id.clone(),
        algorithm: h.algorithm.clone(),
    }
}

fn stored_from_head(h: &pb::SignedTreeHead) -> StoredHead {
    StoredHead {
        tree_size: h.tree_size,
        root_hash: hex::encode(&h.root_hash),
        timestamp_ms: timestamp_ms(h.timestamp.as_ref()),
        signature: hex::encode(&h.signature),
        key_id: h.key_id.clone(),
        algorithm: h.algorithm.clone(),
    }
}

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
        let gone = || Error::AuditUnwritten {
            retryable: false,
            cause: "the audit writer has stopped".into(),
        };
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Pending { record, reply })
            .await
            .map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
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

/// The outcome of verifying the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Whether everything verified.
    pub ok: bool,
    /// Entries checked.
    pub entries_checked: u64,
    /// Index of the first bad entry when not ok.
    pub first_bad_index: Option<u64>,
    /// What is wrong, when not ok.
    pub problem: String,
    /// Merkle root of the entries that verified.
    pub root_hash: [u8; 32],
}

impl VerifyReport {
    /// The contract message, with `head` the signed head of the verified log.
    pub fn to_pb(&self, head: Option<pb::SignedTreeHead>) -> pb::VerifyAuditResponse {
        pb::VerifyAuditResponse {
            ok: self.ok,
            entries_checked: self.entries_checked,
            first_bad_index: self.first_bad_index.unwrap_or(0),
            problem: self.problem.clone(),
            head,
        }
    }
}

/// Verifies the whole log in `store`: positions, leaf hashes, chain, and the Merkle root at
/// the size of every head the hub stored and of `against` (a head an agency holds). Head
/// signatures are checked when `signer` is given.
pub async fn verify_store(
    store: &Store,
    signer: Option<&HeadSigner>,
    against: Option<&pb::SignedTreeHead>,
) -> Result<VerifyReport, Error> {
    let mut heads: Vec<pb::SignedTreeHead> = Vec::new();
    if let Some(h) = store.audit_latest_head().await? {
        heads.push(head_from_stored(&h));
    }
    if let Some(h) = against {
        heads.push(h.clone());
    }
    let verifier = signer.map(HeadSigner::verifier);
    let bad = |i: u64, problem: String, frontier: &Frontier| VerifyReport {
        ok: false,
        entries_checked: i,
        first_bad_index: Some(i),
        problem,
        root_hash: frontier.root(),
    };
    if let Some(h) = verifier
        .as_ref()
        .and_then(|v| heads.iter().find(|h| !v.verify(h)))
    {
        return Ok(bad(
            h.tree_size.saturating_sub(1),
            format!(
                "the head for {} entries does not carry a valid signature by key {}",
                h.tree_size,
                signer.map(|s| s.key_id()).unwrap_or_default()
            ),
            &Frontier::default(),
        ));
    }
    let mut frontier = Frontier::default();
    let mut chain = [0u8; 32];
    let mut from = 0u64;
    loop {
        let rows = store.audit_read(from, 1000, None).await?;
        let Some(last) = rows.last() else { break };
        from = last.idx.saturating_add(1);
        for row in &rows {
            let i = frontier.size();
            if row.idx != i {
                return Ok(bad(
                    i,
                    format!(
                        "entry {i} is missing (the next stored entry is {})",
                        row.idx
                    ),
                    &frontier,
                ));
            }
            let leaf = leaf_hash(row.entry.as_bytes());
            if hex::encode(leaf) != row.leaf_hash {
                return Ok(bad(
                    i,
                    format!("entry {i} was altered: its content does not match its leaf hash"),
                    &frontier,
                ));
            }
            match serde_json::from_str::<AuditRecord>(&row.entry) {
                Ok(r) if r.index == i && r.agency_id == row.agency_id => {}
                Ok(r) if r.index != i => {
                    return Ok(bad(
                        i,
                        format!(
                            "entry {i} holds the entry written at position {} (moved)",
                            r.index
                        ),
                        &frontier,
                    ));
                }
                _ => {
                    return Ok(bad(
                        i,
                        format!("entry {i} was altered: its fields do not match"),
                        &frontier,
                    ));
                }
            }
            let next = chain_hash(&chain, &leaf);
            if hex::encode(next) != row.chain_hash {
                return Ok(bad(
                    i,
                    format!("entry {i} does not chain from entry {}", i.wrapping_sub(1)),
                    &frontier,
                ));
            }
            chain = next;
            frontier.push(leaf);
            let size = frontier.size();
            if let Some(h) = heads
                .iter()
                .find(|h| h.tree_size == size && h.root_hash != frontier.root())
            {
                return Ok(bad(
                    size - 1,
                    format!(
                        "the log's first {} entries do not match the head signed for that size \
                         (rewritten)",
                        h.tree_size
                    ),
                    &frontier,
                ));
            }
        }
    }
    let size = frontier.size();
    if let Some(h) = heads
        .iter()
        .filter(|h| h.tree_size > size)
        .max_by_key(|h| h.tree_size)
    {
        return Ok(bad(
            size,
            format!(
                "the log was truncated: a head was signed for {} entries but only {size} remain",
                h.tree_size
            ),
            &frontier,
        ));
    }
    Ok(VerifyReport {
        ok: true,
        entries_checked: size,
        first_bad_index: None,
        problem: String::new(),
        root_hash: frontier.root(),
    })
}

#[cfg(test)]
mod group_commit_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn reference_root(leaves: &[[u8; 32]]) -> [u8; 32] {
        match leaves.len() {
            0 => Sha256::digest([]).into(),
            1 => leaves[0],
            n => {
                let mut k = 1;
                while k * 2 < n {
                    k *= 2;
                }
                node_hash(&reference_root(&leaves[..k]), &reference_root(&leaves[k..]))
            }
        }
    }

    #[test]
    fn frontier_root_matches_the_rfc6962_definition() {
        let leaves: Vec<[u8; 32]> = (0u8..20).map(|i| leaf_hash(&[i])).collect();
        for n in 0..leaves.len() {
            let mut f = Frontier::default();
            for l in &leaves[..n] {
                f.push(*l);
            }
            assert_eq!(f.root(), reference_root(&leaves[..n]), "size {n}");
        }
    }

    #[test]
    fn empty_tree_hash_is_sha256_of_nothing() {
        assert_eq!(
            hex::encode(Frontier::default().root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
