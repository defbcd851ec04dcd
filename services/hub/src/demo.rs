//! `vawg-hub demo`: the whole hub working, with one command, on the embedded default.

use std::path::PathBuf;

use tokio::sync::oneshot;
use tonic::{
    metadata::AsciiMetadataValue,
    service::interceptor::InterceptedService,
    transport::{Certificate, ClientTlsConfig, Endpoint, Identity},
};
use vawg_hub::{
    identity::AgencyKind,
    pb::{
        self, definition_service_client::DefinitionServiceClient,
        firewall_service_client::FirewallServiceClient,
    },
};

use crate::{
    app::Application,
    config::{AuditSettings, JwtSettings, Settings, TlsSettings},
    pki::{self, Pki, TokenSpec},
    telemetry,
};

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
    // A development PKI in the data folder: the hub only ever listens with mutual TLS.
    let pki_dir = data_dir.join("pki");
    let pki = if pki_dir.join("ca.pem").exists() {
        Pki::at(&pki_dir)
    } else {
        pki::init(&pki_dir)?
    };
    let settings = Settings {
        listen: ([127, 0, 0, 1], if args.keep_running { 50051 } else { 0 }).into(),
        database_url: format!("sqlite://{}", data_dir.join("vawg-hub.db").display()),
        tls: Some(TlsSettings {
            ca_cert: pki.ca_cert(),
            server_cert: pki.server_cert(),
            server_key: pki.server_key(),
        }),
        jwt: Some(JwtSettings {
            issuer: pki::DEV_ISSUER.into(),
            audience: pki::DEV_AUDIENCE.into(),
            jwks_file: pki.jwks(),
        }),
        audit: AuditSettings {
            signing_key: Some(pki.audit_key()),
        },
        ..Settings::default()
    };
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    // Two demo agencies: a police force, and an immigration-enforcement body to show the
    // firewall refusing it.
    for (id, kind, areas) in [
        (
            "police-e23000001",
            AgencyKind::Police,
            vec!["E23000001".to_string()],
        ),
        (
            "immigration-enforcement",
            AgencyKind::ImmigrationEnforcement,
            vec![],
        ),
    ] {
        if app.store().agency(id).await?.is_none() {
            app.store()
                .add_agency(id, &format!("{id} (demo)"), kind, &areas)
                .await?;
        }
        pki::issue(&pki, id, kind, None)?;
    }
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    println!(
        "vawg-hub demo: hub listening on {addr} (data in {})",
        data_dir.display()
    );

    let connect = |agency: &'static str, kind: AgencyKind| {
        let pki = pki.clone();
        async move {
            let tls = ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(std::fs::read(pki.ca_cert())?))
                .identity(Identity::from_pem(
                    std::fs::read(pki.agency_cert(agency))?,
                    std::fs::read(pki.agency_key(agency))?,
                ))
                .domain_name("localhost");
            let channel = Endpoint::from_shared(format!("https://{addr}"))?
                .tls_config(tls)?
                .connect()
                .await?;
            let token = pki::mint_token(
                &pki.jwt_key(),
                &TokenSpec::new(agency, vawg_firewall::default_scopes(kind)),
            )?;
            let bearer: AsciiMetadataValue = format!("Bearer {token}").parse()?;
            anyhow::Ok(InterceptedService::new(
                channel,
                move |mut req: tonic::Request<()>| {
                    req.metadata_mut().insert("authorization", bearer.clone());
                    Ok(req)
                },
            ))
        }
    };
    let police = connect("police-e23000001", AgencyKind::Police).await?;
    println!("connected as police-e23000001 over mutual TLS with a bearer token");
    let mut defs = DefinitionServiceClient::new(police.clone());
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

    println!("\nThe firewall:");
    let immigration = connect(
        "immigration-enforcement",
        AgencyKind::ImmigrationEnforcement,
    )
    .await?;
    match DefinitionServiceClient::new(immigration)
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
    {
        Ok(_) => anyhow::bail!("the firewall let immigration enforcement in"),
        Err(status) => println!(
            "  immigration-enforcement -> refused ({:?}): {}",
            status.code(),
            status.message()
        ),
    }
    let mut firewall = FirewallServiceClient::new(police);
    let verified = firewall
        .verify_audit(pb::VerifyAuditRequest {})
        .await?
        .into_inner();
    println!(
        "  audit log: {} entries, verified {}",
        verified.entries_checked,
        if verified.ok { "OK" } else { "FAILED" }
    );

    if args.keep_running {
        println!(
            "\nHub left running on {addr}. Certificates and keys are in {}; mint a token with \
             `vawg-hub token --agency police-e23000001 --scopes reference:read --key {}`",
            pki.dir.display(),
            pki.jwt_key().display()
        );
        telemetry::shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    server.await??;
    println!("\nDemo complete.");
    Ok(())
}
