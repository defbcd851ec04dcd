//! The command line: every `vawg-hub` subcommand and what runs it.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vawg_loader::push;
use vawg_server::{
    app::Application,
    config::{ServiceSet, Settings},
    telemetry,
};
use vawg_tools::{bench, demo, synth};

use crate::{admin, metrics_cli};

/// vawg-hub: a gRPC data-sharing hub for violence-against-women-and-girls data.
#[derive(Parser)]
#[command(name = "vawg-hub", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Serve the hub.
    Serve {
        /// Configuration file (TOML); environment variables `VAWG_*` override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Serve only these services (comma-separated: ingest, metrics, exchange, firewall,
        /// definitions); overrides `services` in the file and `VAWG_SERVICES`. Default: all.
        #[arg(long)]
        services: Option<ServiceSet>,
    },
    /// Run the end-to-end demo on the embedded SQLite default.
    Demo(demo::DemoArgs),
    /// Development PKI: CA, server and agency certificates, token and audit keys.
    #[command(subcommand)]
    Pki(admin::PkiCommand),
    /// Mint a development token.
    Token(admin::TokenArgs),
    /// The agency registry.
    #[command(subcommand)]
    Agency(admin::AgencyCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(admin::AuditCommand),
    /// Apply database migrations and exit.
    Migrate {
        /// Database URL (`sqlite://…` or `postgres://…`).
        #[arg(long)]
        database: String,
    },
    /// Generate synthetic victim journeys (length-delimited protobuf VawgRecords).
    Synth(synth::SynthArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Query metrics as the central team (or an agency) over mTLS + JWT.
    #[command(subcommand)]
    Metrics(metrics_cli::MetricsCommand),
    /// Load an agency's CSV or NDJSON extract through a mapping file (resumable; rejected rows
    /// go to a rejects file with the reasons).
    Push(push::PushArgs),
}

impl Command {
    /// Runs the command.
    pub(crate) async fn run(self) -> anyhow::Result<()> {
        match self {
            Command::Serve { config, services } => serve(config, services).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Migrate { database } => migrate(&database).await,
            Command::Synth(args) => synth::run(args),
            Command::Bench(cmd) => bench::run(cmd).await,
            Command::Metrics(cmd) => metrics_cli::run(cmd).await,
            Command::Push(args) => {
                let report = push::run(args).await?;
                push::print_report(&report);
                Ok(())
            }
            Command::Pki(cmd) => admin::pki(cmd),
            Command::Token(args) => admin::token(args),
            Command::Agency(cmd) => admin::agency(cmd).await,
            Command::Audit(cmd) => {
                if admin::audit(cmd).await? {
                    Ok(())
                } else {
                    std::process::exit(2)
                }
            }
        }
    }
}

/// `vawg-hub serve`: configuration, telemetry, the hub until a shutdown signal, then the last
/// telemetry flushed.
async fn serve(config: Option<PathBuf>, services: Option<ServiceSet>) -> anyhow::Result<()> {
    let mut settings = Settings::load(config.as_deref()).context("loading configuration")?;
    if let Some(services) = services {
        settings.services = services;
    }
    let telemetry = telemetry::init(&settings.telemetry)?;
    let app = Application::build(settings).await?;
    let served = app.run_until_stopped(telemetry::shutdown_signal()).await;
    // Flush the last spans and metrics whether or not serving ended cleanly.
    if let Err(e) = telemetry.shutdown().await {
        eprintln!("telemetry shutdown: {e:#}");
    }
    served
}

/// `vawg-hub migrate`: applies the migrations and exits.
async fn migrate(database: &str) -> anyhow::Result<()> {
    let store = vawg_store::Store::connect(database)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("migrating")?;
    store.close().await;
    println!("database migrated");
    Ok(())
}
