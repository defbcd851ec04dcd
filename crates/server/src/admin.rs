//! The operator's commands: `pki`, `token`, `agency` and `audit`.

use std::path::PathBuf;

use anyhow::Context;
use vawg_domain::identity::AgencyKind;
use vawg_firewall::audit::{HeadSigner, verify_store};
use vawg_proto::pb;
use vawg_store::{Store, agencies::AgencyStatus};

use crate::pki::{self, Pki, TokenSpec};

/// `vawg-hub pki …`
#[derive(Debug, clap::Subcommand)]
pub enum PkiCommand {
    /// Create a development CA, the server certificate (localhost, 127.0.0.1), the token
    /// signing key with its JWKS, and the audit signing key.
    Init {
        /// Folder to create them in.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Issue an agency's client certificate (SAN URI urn:vawg:agency:<id>).
    Issue {
        /// The agency id, as registered.
        #[arg(long)]
        agency: String,
        /// The agency kind (POLICE, SCHOOL, …).
        #[arg(long)]
        kind: AgencyKind,
        /// The PKI folder.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Rotate the token signing key (the JWKS keeps the previous key).
    RotateTokenKey {
        /// The PKI folder.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// `vawg-hub token …`
#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    /// The agency id (the token's subject).
    #[arg(long)]
    pub agency: String,
    /// Comma-separated scopes, e.g. records:write,reference:read.
    #[arg(long, value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// The ES256 signing key (PKCS#8 PEM), e.g. <pki dir>/jwt-signing.key.
    #[arg(long)]
    pub key: PathBuf,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600)]
    pub ttl: i64,
    /// Issuer.
    #[arg(long, default_value = pki::DEV_ISSUER)]
    pub issuer: String,
    /// Audience.
    #[arg(long, default_value = pki::DEV_AUDIENCE)]
    pub audience: String,
}

/// `vawg-hub agency …`
#[derive(Debug, clap::Subcommand)]
pub enum AgencyCommand {
    /// Register an agency.
    Add {
        /// Database URL.
        #[arg(long, env = "VAWG_DATABASE_URL")]
        database: String,
        /// Registry id (what its certificate and tokens name).
        #[arg(long)]
        id: String,
        /// Human-readable name.
        #[arg(long)]
        name: String,
        /// The agency kind.
        #[arg(long)]
        kind: AgencyKind,
        /// Comma-separated ONS GSS codes of the areas served.
        #[arg(long, value_delimiter = ',')]
        areas: Vec<String>,
    },
    /// List registered agencies.
    List {
        /// Database URL.
        #[arg(long, env = "VAWG_DATABASE_URL")]
        database: String,
    },
    /// Suspend an agency: it is refused at once.
    Suspend {
        /// Database URL.
        #[arg(long, env = "VAWG_DATABASE_URL")]
        database: String,
        /// Registry id.
        #[arg(long)]
        id: String,
    },
    /// Reactivate a suspended agency.
    Activate {
        /// Database URL.
        #[arg(long, env = "VAWG_DATABASE_URL")]
        database: String,
        /// Registry id.
        #[arg(long)]
        id: String,
    },
}

/// `vawg-hub audit …`
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Verify the whole audit log: positions, leaf hashes, the hash chain, and the Merkle root
    /// against every signed head. Exits non-zero naming the first bad entry.
    Verify {
        /// Database URL.
        #[arg(long, env = "VAWG_DATABASE_URL")]
        database: String,
        /// The audit signing key, to check head signatures too.
        #[arg(long)]
        key: Option<PathBuf>,
        /// A signed head an agency holds (JSON: tree_size, root_hash hex, timestamp_ms,
        /// signature hex, key_id, algorithm), to detect truncation against it.
        #[arg(long)]
        head: Option<PathBuf>,
    },
}

async fn open(database: &str) -> anyhow::Result<Store> {
    let store = Store::connect(database)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// Runs a `pki` command.
pub fn pki(cmd: PkiCommand) -> anyhow::Result<()> {
    match cmd {
        PkiCommand::Init { dir } => {
            let pki = pki::init(&dir)?;
            println!("development PKI created in {}", pki.dir.display());
            println!("  tls.ca_cert      = {}", pki.ca_cert().display());
            println!("  tls.server_cert  = {}", pki.server_cert().display());
            println!("  tls.server_key   = {}", pki.server_key().display());
            println!("  jwt.jwks_file    = {}", pki.jwks().display());
            println!("  jwt.issuer       = {}", pki::DEV_ISSUER);
            println!("  jwt.audience     = {}", pki::DEV_AUDIENCE);
            println!("  audit.signing_key = {}", pki.audit_key().display());
            println!("  token signing key: {}", pki.jwt_key().display());
        }
        PkiCommand::Issue { agency, kind, dir } => {
            let (cert, key) = pki::issue(&Pki::at(dir), &agency, kind, None)?;
            println!("{}\n{}", cert.display(), key.display());
        }
        PkiCommand::RotateTokenKey { dir } => {
            let kid = pki::rotate_token_key(&Pki::at(dir))?;
            println!("new token signing key: kid {kid}");
        }
    }
    Ok(())
}

/// Runs `token`: prints a development token.
pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    let mut spec = TokenSpec::new(&args.agency, args.scopes);
    spec.ttl_seconds = args.ttl;
    spec.issuer = args.issuer;
    spec.audience = args.audience;
    println!("{}", pki::mint_token(&args.key, &spec)?);
    Ok(())
}

/// Runs an `agency` command.
pub async fn agency(cmd: AgencyCommand) -> anyhow::Result<()> {
    match cmd {
        AgencyCommand::Add {
            database,
            id,
            name,
            kind,
            areas,
        } => {
            let store = open(&database).await?;
            store.add_agency(&id, &name, kind, &areas).await?;
            println!("registered {id} ({kind})");
        }
        AgencyCommand::List { database } => {
            let store = open(&database).await?;
            for a in store.list_agencies().await? {
                println!(
                    "{:<32} {:<24} {:<10} {:<40} {}",
                    a.id,
                    a.kind,
                    a.status.as_str(),
                    a.areas.join(","),
                    a.name
                );
            }
        }
        AgencyCommand::Suspend { database, id } => {
            open(&database)
                .await?
                .set_agency_status(&id, AgencyStatus::Suspended)
                .await?;
            println!("suspended {id}");
        }
        AgencyCommand::Activate { database, id } => {
            open(&database)
                .await?
                .set_agency_status(&id, AgencyStatus::Active)
                .await?;
            println!("activated {id}");
        }
    }
    Ok(())
}

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
    key: Option<&std::path::Path>,
    head: Option<&std::path::Path>,
) -> anyhow::Result<vawg_firewall::audit::VerifyReport> {
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

/// Runs an `audit` command; `Ok(false)` when the log does not verify.
pub async fn audit(cmd: AuditCommand) -> anyhow::Result<bool> {
    match cmd {
        AuditCommand::Verify {
            database,
            key,
            head,
        } => {
            let report = audit_verify(&database, key.as_deref(), head.as_deref()).await?;
            if report.ok {
                println!(
                    "audit log OK: {} entries, root {}",
                    report.entries_checked,
                    hex::encode(report.root_hash)
                );
            } else {
                println!(
                    "audit log FAILED at entry {}: {}",
                    report.first_bad_index.unwrap_or(0),
                    report.problem
                );
            }
            Ok(report.ok)
        }
    }
}
