//! Verifying the whole log: positions, leaf hashes, the chain, and the Merkle root at the size
//! of every signed head, so that edits, deletions, reordering, truncation and wholesale
//! rewriting are all caught.

use vawg_proto::pb;
use vawg_store::{Store, audit::AuditRow};

use crate::{
    AuditRecord, Error, HeadSigner,
    head::head_from_stored,
    merkle::{Frontier, chain_hash, leaf_hash},
};

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

/// Entries read from the store at a time.
const PAGE: u32 = 1000;

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
    if let Some(problem) = signer.and_then(|s| badly_signed(s, &heads)) {
        return Ok(problem.report(&Frontier::default()));
    }
    let mut walk = Walk::default();
    let mut from = 0u64;
    loop {
        let rows = store.audit_read(from, PAGE, None).await?;
        let Some(last) = rows.last() else { break };
        from = last.idx.saturating_add(1);
        for row in &rows {
            if let Err(problem) = walk.next(row, &heads) {
                return Ok(problem.report(&walk.frontier));
            }
        }
    }
    if let Some(problem) = truncated(walk.frontier.size(), &heads) {
        return Ok(problem.report(&walk.frontier));
    }
    Ok(VerifyReport {
        ok: true,
        entries_checked: walk.frontier.size(),
        first_bad_index: None,
        problem: String::new(),
        root_hash: walk.frontier.root(),
    })
}

/// What is wrong, and the index it is reported at.
struct Problem {
    index: u64,
    what: String,
}

impl Problem {
    fn at(index: u64, what: String) -> Problem {
        Problem { index, what }
    }

    /// The report, with the root of the entries that verified before the problem.
    fn report(self, verified: &Frontier) -> VerifyReport {
        VerifyReport {
            ok: false,
            entries_checked: self.index,
            first_bad_index: Some(self.index),
            problem: self.what,
            root_hash: verified.root(),
        }
    }
}

/// The first head not validly signed by `signer`, if any.
fn badly_signed(signer: &HeadSigner, heads: &[pb::SignedTreeHead]) -> Option<Problem> {
    let verifier = signer.verifier();
    let h = heads.iter().find(|h| !verifier.verify(h))?;
    Some(Problem::at(
        h.tree_size.saturating_sub(1),
        format!(
            "the head for {} entries does not carry a valid signature by key {}",
            h.tree_size,
            signer.key_id()
        ),
    ))
}

/// A head signed for more entries than the log holds (the largest such), if any.
fn truncated(size: u64, heads: &[pb::SignedTreeHead]) -> Option<Problem> {
    let h = heads
        .iter()
        .filter(|h| h.tree_size > size)
        .max_by_key(|h| h.tree_size)?;
    Some(Problem::at(
        size,
        format!(
            "the log was truncated: a head was signed for {} entries but only {size} remain",
            h.tree_size
        ),
    ))
}

/// The entries verified so far, in order: the tree over them and the chain hash of the last.
#[derive(Default)]
struct Walk {
    frontier: Frontier,
    chain: [u8; 32],
}

impl Walk {
    /// Checks the next stored entry (its position, leaf hash, fields and chain) and adds it;
    /// then checks the root against any head signed for the size reached.
    fn next(&mut self, row: &AuditRow, heads: &[pb::SignedTreeHead]) -> Result<(), Problem> {
        let i = self.frontier.size();
        if row.idx != i {
            return Err(Problem::at(
                i,
                format!(
                    "entry {i} is missing (the next stored entry is {})",
                    row.idx
                ),
            ));
        }
        let leaf = leaf_hash(row.entry.as_bytes());
        if hex::encode(leaf) != row.leaf_hash {
            return Err(Problem::at(
                i,
                format!("entry {i} was altered: its content does not match its leaf hash"),
            ));
        }
        match serde_json::from_str::<AuditRecord>(&row.entry) {
            Ok(r) if r.index == i && r.agency_id == row.agency_id => {}
            Ok(r) if r.index != i => {
                return Err(Problem::at(
                    i,
                    format!(
                        "entry {i} holds the entry written at position {} (moved)",
                        r.index
                    ),
                ));
            }
            _ => {
                return Err(Problem::at(
                    i,
                    format!("entry {i} was altered: its fields do not match"),
                ));
            }
        }
        let next = chain_hash(&self.chain, &leaf);
        if hex::encode(next) != row.chain_hash {
            return Err(Problem::at(
                i,
                format!("entry {i} does not chain from entry {}", i.wrapping_sub(1)),
            ));
        }
        self.chain = next;
        self.frontier.push(leaf);
        let size = self.frontier.size();
        match heads
            .iter()
            .find(|h| h.tree_size == size && h.root_hash != self.frontier.root())
        {
            Some(h) => Err(Problem::at(
                size - 1,
                format!(
                    "the log's first {} entries do not match the head signed for that size \
                     (rewritten)",
                    h.tree_size
                ),
            )),
            None => Ok(()),
        }
    }
}
