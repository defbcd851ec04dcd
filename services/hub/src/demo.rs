//! `vawg-hub demo`: the whole hub working, with one command, on the embedded default.

use std::path::PathBuf;

use tokio::sync::oneshot;
use tonic::transport::Channel;
use vawg_hub::pb::{self, definition_service_client::DefinitionServiceClient};

use crate::{app::Application, config::Settings, telemetry};

/// Options of the demo.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep data here instead of a temporary folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Leave the hub running afterwards and print how to connect.
    #[arg(long)]
    pub keep_running: bool,
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    telemetry::init_plain_logs();
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&data_dir)?;
    let settings = Settings {
        listen: ([127, 0, 0, 1], if args.keep_running { 50051 } else { 0 }).into(),
        database_url: format!("sqlite://{}", data_dir.join("vawg-hub.db").display()),
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    println!(
        "vawg-hub demo: hub listening on {addr} (data in {})",
        data_dir.display()
    );

    let channel = Channel::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut defs = DefinitionServiceClient::new(channel);
    let list = defs
        .list_definitions(pb::ListDefinitionsRequest {})
        .await?
        .into_inner();
    println!("\nCommon definition versions:");
    for d in &list.definitions {
        println!(
            "  {}{}  {}  ({} categories)",
            d.version,
            if d.current { " (current)" } else { "" },
            d.title,
            d.categories.len()
        );
    }
    let current = defs
        .get_definition(pb::GetDefinitionRequest {
            version: String::new(),
        })
        .await?
        .into_inner();
    if let Some(def) = current.definition {
        println!("\nCategories by harm rank (1 = most harmful):");
        let mut cats = def.categories.clone();
        cats.sort_by_key(|c| c.harm_rank);
        for c in cats {
            println!(
                "  {:>2}. {:<40} {}",
                c.harm_rank,
                c.name,
                if c.course_of_conduct {
                    "course of conduct"
                } else {
                    ""
                }
            );
        }
    }
    println!("\nClassifying local codes as ingest would:");
    for (scheme, code) in [
        ("HO_OFFENCE", "19C"),
        ("HO_OFFENCE", "8Q"),
        ("VAWG_CATEGORY", "fgm"),
        ("HO_OFFENCE", "ZZZ"),
    ] {
        match defs
            .classify(pb::ClassifyRequest {
                version: String::new(),
                scheme: scheme.into(),
                code: code.into(),
            })
            .await
        {
            Ok(r) => {
                let r = r.into_inner();
                let cat = r.category.map(|c| c.name).unwrap_or_default();
                println!("  {scheme}/{code:<5} -> {cat} ({})", r.version);
            }
            Err(status) => println!("  {scheme}/{code:<5} -> refused: {}", status.message()),
        }
    }

    if args.keep_running {
        println!("\nHub left running on {addr}. Try: grpcurl -plaintext {addr} list");
        telemetry::shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    server.await??;
    println!("\nDemo complete.");
    Ok(())
}
