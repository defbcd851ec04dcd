//! The resume state file, and the extract's fingerprint that ties a state to one version of
//! the extract.

use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::PushReport;

/// The resume state, saved after every acknowledged chunk.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct State {
    /// SHA-256 of the extract: a state for another file (or a changed one) is ignored.
    pub(super) input_sha256: String,
    /// Data rows fully dealt with (acknowledged or rejected by the mapping), from the start.
    pub(super) rows_done: u64,
    /// The rejects file's length at that point.
    pub(super) rejects_len: u64,
    /// The counts so far.
    pub(super) report: PushReport,
}

/// SHA-256 of a file, hex.
pub(super) fn sha256_file(path: &Path) -> anyhow::Result<String> {
    let mut f = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// `file` with `suffix` appended to its name.
pub(super) fn with_suffix(file: &Path, suffix: &str) -> PathBuf {
    let mut s = file.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// Saves the state atomically (written beside, then renamed over).
pub(super) fn save_state(path: &Path, state: &State) -> anyhow::Result<()> {
    let tmp = with_suffix(path, ".tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(state)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The saved state to resume from: none when asked to restart, when there is none, when it
/// belongs to another version of the extract, or when the rejects file it continues is gone.
pub(super) fn resume(
    restart: bool,
    state_path: &Path,
    rejects_path: &Path,
    input_sha256: &str,
) -> anyhow::Result<Option<State>> {
    if restart || !state_path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(state_path)
        .with_context(|| format!("reading {}", state_path.display()))?;
    let state: State = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a push state file", state_path.display()))?;
    Ok(if state.input_sha256 != input_sha256 {
        eprintln!(
            "{} belongs to another version of the extract; starting from the first row",
            state_path.display()
        );
        None
    } else if !rejects_path.exists() {
        eprintln!(
            "{} is missing; starting from the first row",
            rejects_path.display()
        );
        None
    } else {
        Some(state)
    })
}
