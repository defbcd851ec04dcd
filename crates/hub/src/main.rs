//! The `vawg-hub` command: serve the hub, run the demo, and the operator's tools.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use vawg_server::{admin, app::Application, config::Settings, demo, telemetry};

/// vawg-hub: a gRPC data-sharing hub for violence-against-women-and-girls data.
#[derive(Parser)]
#[command(name = "vawg-hub", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the hub.
    Serve {
        /// Configuration file (TOML); environment variables `VAWG_*` override it.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Serve only these services (comma-separated: ingest, metrics, exchange, firewall,
        /// definitions); overrides `services` in the file and `VAWG_SERVICES`. Default: all.
        #[arg(long)]
        services: Option<vawg_server::config::ServiceSet>,
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
    Synth(vawg_server::synth::SynthArgs),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(vawg_server::bench::BenchCommand),
    /// Query metrics as the central team (or an agency) over mTLS + JWT.
    #[command(subcommand)]
    Metrics(vawg_server::metrics_cli::MetricsCommand),
    /// Load an agency's CSV or NDJSON extract through a mapping file (resumable; rejected rows
    /// go to a rejects file with the reasons).
    Push(vawg_server::push::PushArgs),
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve { config, services } => {
            let mut settings =
                Settings::load(config.as_deref()).context("loading configuration")?;
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
        Command::Demo(args) => demo::run(args).await,
        Command::Migrate { database } => {
            let store = vawg_store::Store::connect(&database)
                .await
                .context("connecting to the database")?;
            store.migrate().await.context("migrating")?;
            store.close().await;
            println!("database migrated");
            Ok(())
        }
        Command::Synth(args) => vawg_server::synth::run(args),
        Command::Bench(cmd) => vawg_server::bench::run(cmd).await,
        Command::Metrics(cmd) => vawg_server::metrics_cli::run(cmd).await,
        Command::Push(args) => {
            let report = vawg_server::push::run(args).await?;
            vawg_server::push::print_report(&report);
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
