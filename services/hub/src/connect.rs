//! Command-line options for commands that call a running hub as an agency (mTLS + token).

use std::path::PathBuf;

use anyhow::Context;
use vawg_client::{Credentials, HubClient};

/// How to reach the hub and who to be.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnectArgs {
    /// The hub's address.
    #[arg(long, default_value = "https://127.0.0.1:50051", env = "VAWG_SERVER")]
    pub server: String,
    /// The name in the hub's certificate.
    #[arg(long, default_value = "localhost")]
    pub server_name: String,
    /// The hub's CA certificate (PEM).
    #[arg(long, env = "VAWG_CA")]
    pub ca: PathBuf,
    /// The agency's client certificate (PEM).
    #[arg(long, env = "VAWG_CERT")]
    pub cert: PathBuf,
    /// The agency's private key (PEM).
    #[arg(long, env = "VAWG_KEY")]
    pub key: PathBuf,
    /// A file holding the agency's bearer token (JWT).
    #[arg(long, env = "VAWG_TOKEN_FILE")]
    pub token_file: PathBuf,
}

impl ConnectArgs {
    /// Connects.
    pub async fn connect(&self) -> anyhow::Result<HubClient> {
        let token = std::fs::read_to_string(&self.token_file)
            .with_context(|| format!("reading the token file {}", self.token_file.display()))?;
        let creds = Credentials::from_files(&self.ca, &self.cert, &self.key, token.trim())?;
        Ok(HubClient::connect(&self.server, &self.server_name, &creds).await?)
    }
}
