//! The operator's commands: `pki`, `token`, `agency` and `audit`.

use std::path::PathBuf;

use anyhow::Context;
use vawg_domain::identity::AgencyKind;
use vawg_store::{Store, agencies::AgencyStatus};
use vawg_tools::{
    audit::audit_verify,
    pki::{self, Pki, TokenSpec},
};

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
