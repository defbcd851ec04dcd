//! The demo's hub: started on SQLite with a development PKI, the synthetic agencies
//! registered with their certificates, and clients connecting as any of them.

use std::{collections::BTreeMap, net::SocketAddr, path::Path, sync::Arc};

use tokio::sync::oneshot;
use vawg_client::{Credentials, HubClient};
use vawg_domain::identity::AgencyKind;
use vawg_server::{app::Application, config::Settings};
use vawg_store::Store;

use super::DemoArgs;
use crate::{
    pki::{self, Pki, TokenSpec},
    synth::{self, SynthData},
};

/// The school that receives the demo's Operation Encompass notification (a URN in a range no
/// real school uses).
pub(super) const DEMO_SCHOOL_URN: &str = "999901";
/// The central team's agency id.
pub(super) const CENTRAL: &str = "central-analysis";
/// The immigration-enforcement body's agency id.
pub(super) const IMMIGRATION: &str = "immigration-enforcement";

/// An agency to register: id, kind, areas.
type AgencyEntry = (String, AgencyKind, Vec<String>);

/// Where the hub is and the PKI that lets a client in.
pub(super) struct Hub {
    addr: SocketAddr,
    pki: Pki,
}

impl Hub {
    /// A client as `agency`: its certificate and a token with its kind's default scopes.
    pub(super) async fn client(&self, agency: &str, kind: AgencyKind) -> anyhow::Result<HubClient> {
        let token = pki::mint_token(
            &self.pki.jwt_key(),
            &TokenSpec::new(agency, vawg_policy::default_scopes(kind)),
        )?;
        let creds = Credentials::from_files(
            &self.pki.ca_cert(),
            &self.pki.agency_cert(agency),
            &self.pki.agency_key(agency),
            token,
        )?;
        Ok(HubClient::connect(&format!("https://{}", self.addr), "localhost", &creds).await?)
    }
}

/// The running demo hub, the synthetic data and the agencies registered.
pub(super) struct DemoHub {
    /// How to reach the hub.
    pub(super) hub: Arc<Hub>,
    /// The synthetic data the agencies push.
    pub(super) data: SynthData,
    /// Every registered agency: the synthetic ones, then the central team, the school and
    /// immigration enforcement.
    pub(super) agencies: Vec<AgencyEntry>,
    dashboard_addr: Option<SocketAddr>,
    stop: oneshot::Sender<()>,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl DemoHub {
    /// Builds the hub in `data_dir` (reusing a PKI already there), registers the agencies and
    /// starts serving; prints where.
    pub(super) async fn start(args: &DemoArgs, data_dir: &Path) -> anyhow::Result<DemoHub> {
        let pki = dev_pki(&data_dir.join("pki"))?;
        let app = Application::build(settings(args, &pki, data_dir)).await?;
        let store = app.store().clone();
        let addr = app.local_addr();
        let dashboard_addr = app.dashboard_addr();

        let data = synth::generate(args.journeys, args.seed);
        let agencies = agencies(&data);
        register(&store, &pki, &agencies).await?;
        let (stop, stopped) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = stopped.await;
        }));
        println!("  hub listening on https://{addr} — mutual TLS and a bearer token on every call");
        if let Some(dashboard) = dashboard_addr {
            println!(
                "  dashboard on https://{dashboard}/ — bearer token only, read-only aggregates only"
            );
        }
        println!("  data folder: {}", data_dir.display());
        print_registered(&agencies);
        Ok(DemoHub {
            hub: Arc::new(Hub { addr, pki }),
            data,
            agencies,
            dashboard_addr,
            stop,
            server,
        })
    }

    /// Stops the hub and waits for it.
    pub(super) async fn stop(self) -> anyhow::Result<()> {
        let _ = self.stop.send(());
        self.server.await??;
        Ok(())
    }

    /// How to connect to the hub left running: a token, the metrics CLI, grpcurl, the Python
    /// client, and the dashboard with a token to paste.
    pub(super) fn print_how_to_connect(&self) -> anyhow::Result<()> {
        let (addr, pki) = (self.hub.addr, &self.hub.pki);
        println!("\nThe hub is still running on https://{addr}. Connect as the central team:");
        println!(
            "  vawg-hub token --agency {CENTRAL} --scopes metrics:read,audit:read,reference:read --key {} > /tmp/central.jwt",
            pki.jwt_key().display()
        );
        println!(
            "  vawg-hub metrics query --ca {} --cert {} --key {} --token-file /tmp/central.jwt \\\n      --metric recorded_crimes --from 2020-04-01 --to 2021-03-31 --by category",
            pki.ca_cert().display(),
            pki.agency_cert(CENTRAL).display(),
            pki.agency_key(CENTRAL).display()
        );
        println!(
            "  grpcurl -cacert {} -cert {} -key {} -H \"authorization: Bearer $(cat /tmp/central.jwt)\" {addr} list",
            pki.ca_cert().display(),
            pki.agency_cert(CENTRAL).display(),
            pki.agency_key(CENTRAL).display()
        );
        println!("  tests/clients/python/client.py {addr} --ca … --cert … --key … --token …");
        if let Some(dashboard) = self.dashboard_addr {
            print_dashboard_sign_in(pki, dashboard)?;
        }
        Ok(())
    }
}

/// The development PKI in `dir`: the one already there, or a new one.
fn dev_pki(dir: &Path) -> anyhow::Result<Pki> {
    if dir.join("ca.pem").exists() {
        Ok(Pki::at(dir))
    } else {
        pki::init(dir)
    }
}

/// Development settings on SQLite in `data_dir`, on the addresses the options ask for.
fn settings(args: &DemoArgs, pki: &Pki, data_dir: &Path) -> Settings {
    let mut settings = pki::dev_settings(
        pki,
        format!("sqlite://{}", data_dir.join("vawg-hub.db").display()),
        data_dir,
    );
    if args.keep_running {
        settings.listen = ([127, 0, 0, 1], 50051).into();
        settings.dashboard_listen = Some(([127, 0, 0, 1], 8443).into());
    }
    if let Some(listen) = args.listen {
        settings.listen = listen;
    }
    if let Some(dashboard) = args.dashboard_listen {
        settings.dashboard_listen = Some(dashboard);
    }
    settings
}

/// The synthetic agencies, then the central team, the school and immigration enforcement.
fn agencies(data: &SynthData) -> Vec<AgencyEntry> {
    let mut agencies: Vec<AgencyEntry> = data
        .agencies
        .iter()
        .map(|a| (a.id.clone(), a.kind, a.areas.clone()))
        .collect();
    agencies.push((CENTRAL.into(), AgencyKind::CentralAnalyst, vec![]));
    agencies.push((
        format!("school-{DEMO_SCHOOL_URN}"),
        AgencyKind::School,
        vec!["E08000003".into()],
    ));
    agencies.push((
        IMMIGRATION.into(),
        AgencyKind::ImmigrationEnforcement,
        vec![],
    ));
    agencies
}

/// Registers each agency not yet registered and issues each a certificate it lacks.
async fn register(store: &Store, pki: &Pki, agencies: &[AgencyEntry]) -> anyhow::Result<()> {
    for (id, kind, areas) in agencies {
        if store.agency(id).await?.is_none() {
            store
                .add_agency(id, &format!("{id} (synthetic)"), *kind, areas)
                .await?;
        }
        if !pki.agency_cert(id).exists() {
            pki::issue(pki, id, *kind, None)?;
        }
    }
    Ok(())
}

/// `registered N agencies: 5 police, …`
fn print_registered(agencies: &[AgencyEntry]) {
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, kind, _) in agencies {
        *by_kind.entry(kind.as_str()).or_default() += 1;
    }
    let kinds: Vec<String> = by_kind
        .iter()
        .map(|(k, n)| format!("{n} {}", k.to_lowercase().replace('_', " ")))
        .collect();
    println!(
        "  registered {} agencies: {}",
        agencies.len(),
        kinds.join(", ")
    );
}

/// The dashboard's address and a token for it: aggregates and reference data only, 8 hours.
fn print_dashboard_sign_in(pki: &Pki, dashboard: SocketAddr) -> anyhow::Result<()> {
    let mut spec = TokenSpec::new(
        CENTRAL,
        [
            vawg_domain::identity::scope::METRICS_READ,
            vawg_domain::identity::scope::REFERENCE_READ,
        ],
    );
    spec.ttl_seconds = 8 * 3600;
    let token = pki::mint_token(&pki.jwt_key(), &spec)?;
    println!(
        "\nThe dashboard: open https://{dashboard}/ (the development CA is {}; trust it or \
         accept the warning) and sign in as the central team with this token:",
        pki.ca_cert().display()
    );
    println!("dashboard-url: https://{dashboard}/");
    println!("dashboard-token: {token}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_synthetic_record_is_in_an_area_its_agency_is_registered_for() {
        let data = synth::generate(300, 7);
        let registered = agencies(&data);
        for r in &data.records {
            let area = r.area.as_ref().map(|a| a.gss_code.as_str()).unwrap_or("");
            let (_, _, areas) = registered
                .iter()
                .find(|(id, _, _)| *id == r.source_agency_id)
                .unwrap_or_else(|| panic!("{} is not registered", r.source_agency_id));
            assert!(
                areas.iter().any(|a| a == area),
                "{} ({}) is registered for {areas:?}; not {area}",
                r.source_agency_id,
                r.source_record_id
            );
        }
    }
}
