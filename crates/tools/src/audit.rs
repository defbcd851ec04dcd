//! `vawg-hub audit verify` as a library: the whole audit log checked against the signing key
//! and a signed head an agency holds (for the command line and for tests).

use std::path::Path;

use anyhow::Context;
use vawg_audit::{HeadSigner, verify_store};
use vawg_proto::pb;
use vawg_store::Store;

/// A signed head as JSON (for `audit verify --head`).
#[derive(Debug, serde::Deserialize, serde::Serialize)]
pub struct HeadFile {
    /// Entries covered.
    pub tree_size: u64,
    /// Merkle root, hex.
    pub root_hash: String,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
    /// Signature, hex.
    pub signature: String,
    /// Key id.
    pub key_id: String,
    /// Algorithm.
    pub algorithm: String,
}

impl HeadFile {
    /// From the contract message.
    pub fn from_pb(h: &pb::SignedTreeHead) -> HeadFile {
        let ts = h.timestamp.unwrap_or_default();
        HeadFile {
            tree_size: h.tree_size,
            root_hash: hex::encode(&h.root_hash),
            timestamp_ms: ts.seconds * 1000 + i64::from(ts.nanos) / 1_000_000,
            signature: hex::encode(&h.signature),
            key_id: h.key_id.clone(),
            algorithm: h.algorithm.clone(),
        }
    }

    fn to_pb(&self) -> anyhow::Result<pb::SignedTreeHead> {
        Ok(pb::SignedTreeHead {
            tree_size: self.tree_size,
            root_hash: hex::decode(&self.root_hash)?,
            timestamp: Some(prost_types_timestamp(self.timestamp_ms)),
            signature: hex::decode(&self.signature)?,
            key_id: self.key_id.clone(),
            algorithm: self.algorithm.clone(),
        })
    }
}

fn prost_types_timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

/// The outcome of `audit verify`, for the CLI and for tests.
pub async fn audit_verify(
    database: &str,
    key: Option<&Path>,
    head: Option<&Path>,
) -> anyhow::Result<vawg_audit::VerifyReport> {
    let store = Store::connect(database)
        .await
        .context("connecting to the database")?;
    let signer = key
        .map(|k| {
            let pem =
                std::fs::read_to_string(k).with_context(|| format!("reading {}", k.display()))?;
            Ok::<_, anyhow::Error>(HeadSigner::from_pem(&pem)?)
        })
        .transpose()?;
    let head = head
        .map(|h| {
            let text =
                std::fs::read_to_string(h).with_context(|| format!("reading {}", h.display()))?;
            serde_json::from_str::<HeadFile>(&text)?.to_pb()
        })
        .transpose()?;
    let report = verify_store(&store, signer.as_ref(), head.as_ref()).await?;
    store.close().await;
    Ok(report)
}
