//! Command-line options for commands that call a running hub as an agency (mTLS + token).

use std::path::PathBuf;

use anyhow::Context;
use vawg_client::{HubClient, TokenFile};

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
    /// Connects. The token file is read again shortly before the token expires, so a long
    /// run picks up a token that another process rotated into the file.
    pub async fn connect(&self) -> anyhow::Result<HubClient> {
        let client = HubClient::builder(self.server.clone())
            .server_name(self.server_name.clone())
            .ca_file(&self.ca)?
            .identity_files(&self.cert, &self.key)?
            .token_provider(TokenFile(self.token_file.clone()))
            .connect()
            .await
            .with_context(|| format!("connecting to {}", self.server))?;
        Ok(client)
    }
}
