//! One typed configuration, layered: built-in defaults, then a TOML file, then environment
//! variables (`VAWG_…`, with `__` separating nested keys, e.g. `VAWG_LIMITS__MAX_BATCH_RECORDS`).
//! Nothing outside this module reads the environment for configuration.

use std::{net::SocketAddr, path::PathBuf};

use figment::{
    Figment,
    providers::{Env, Format, Serialized, Toml},
};
use serde::{Deserialize, Serialize};

/// Everything the hub needs to start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Database URL: `sqlite://path/to/file.db` (embedded default) or `postgres://…`.
    pub database_url: String,
    /// Folder of extra definition versions (`*.toml`); the embedded v1 is always present.
    pub definitions_dir: Option<PathBuf>,
    /// Request and batch limits.
    pub limits: Limits,
}

/// Limits that protect the hub from oversized or endless requests.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Most records in one `SubmitBatch` or one stream chunk.
    pub max_batch_records: usize,
    /// Largest decoded gRPC message, in bytes.
    pub max_message_bytes: usize,
    /// Most records in one `StreamRecords` stream.
    pub max_stream_records: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_batch_records: 1000,
            max_message_bytes: 4 * 1024 * 1024,
            max_stream_records: 10_000_000,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: "sqlite://vawg-hub.db".to_string(),
            definitions_dir: None,
            limits: Limits::default(),
        }
    }
}

impl Settings {
    /// Defaults, then the file (if given), then `VAWG_*` environment variables.
    pub fn load(file: Option<&std::path::Path>) -> Result<Settings, Box<figment::Error>> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            fig = fig.merge(Toml::file_exact(file));
        }
        fig.merge(Env::prefixed("VAWG_").split("__"))
            .extract()
            .map_err(Box::new)
    }
}
