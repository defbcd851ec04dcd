//! `vawg-hub bench notify`: latency from the ingest commit of an Operation Encompass record to
//! its receipt by the school's subscription, with many schools subscribed at once.
//!
//! Everything runs in this process over loopback, through the real path: a full
//! [`Application`] (mutual TLS, tokens, the firewall gate, audit), a throwaway development PKI,
//! one police force and `--subscribers` schools, each with its own certificate, token and
//! `Subscribe` stream. Each round the police submit one batch with one notification per school
//! (one ingest transaction); the round ends when every school has received its notification,
//! or the run fails at `--timeout-seconds`.
//!
//! Latency is measured per notification from its `created_time` — stamped inside the ingest
//! transaction, just before commit — to the moment the subscriber's client decodes it, on the
//! same clock. It covers the commit, the wake-up (PostgreSQL `NOTIFY` or the in-process signal
//! on SQLite), the outbox read and gRPC delivery.

use std::{
    path::PathBuf,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use anyhow::{Context, bail};
use serde::Serialize;
use tokio::sync::mpsc;
use tonic::{
    Request, Status,
    metadata::MetadataValue,
    transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity},
};
use vawg_domain::identity::AgencyKind;
use vawg_policy::default_scopes;
use vawg_proto::pb::{
    self, exchange_service_client::ExchangeServiceClient,
    ingest_service_client::IngestServiceClient,
};

use vawg_server::app::Application;

use crate::pki::{self, Pki, TokenSpec};

/// Options of `vawg-hub bench notify`.
#[derive(Debug, clap::Args)]
pub struct BenchNotifyArgs {
    /// Database URL (`sqlite://…` or `postgres://…`, migrated if needed); default a temporary
    /// SQLite file.
    #[arg(long)]
    pub database: Option<String>,
    /// Concurrent subscribers (schools).
    #[arg(long, default_value_t = 100)]
    pub subscribers: usize,
    /// Rounds (each: one batch with one notification per school).
    #[arg(long, default_value_t = 20)]
    pub rounds: usize,
    /// Give up if the run takes longer than this.
    #[arg(long, default_value_t = 120)]
    pub timeout_seconds: u64,
    /// Also write the figures as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The figures of one run.
#[derive(Debug, Serialize)]
pub struct NotifyBenchReport {
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// Concurrent subscribers.
    pub subscribers: usize,
    /// Rounds.
    pub rounds: usize,
    /// Notifications received (subscribers × rounds).
    pub notifications: usize,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 99th percentile latency, milliseconds.
    pub p99_ms: f64,
    /// Largest latency, milliseconds.
    pub max_ms: f64,
    /// Mean latency, milliseconds.
    pub mean_ms: f64,
}

/// Runs the benchmark and prints the figures.
pub async fn run(args: &BenchNotifyArgs) -> anyhow::Result<()> {
    let report = tokio::time::timeout(
        Duration::from_secs(args.timeout_seconds.max(1)),
        notify(args),
    )
    .await
    .context("the benchmark did not finish within --timeout-seconds")??;
    println!(
        "notify benchmark ({}): {} subscribers, {} rounds, {} notifications",
        report.backend, report.subscribers, report.rounds, report.notifications
    );
    println!(
        "  ingest commit -> subscriber receipt: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms, mean {:.2} ms",
        report.p50_ms, report.p99_ms, report.max_ms, report.mean_ms
    );
    if let Some(path) = &args.json {
        std::fs::write(path, serde_json::to_vec_pretty(&report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i128)
        .unwrap_or_default()
}

/// A client channel presenting `agency`'s certificate.
async fn connect(
    pki: &Pki,
    addr: std::net::SocketAddr,
    cert: &PathBuf,
    key: &PathBuf,
) -> anyhow::Result<Channel> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(pki.ca_cert())?))
        .domain_name("localhost")
        .identity(Identity::from_pem(
            std::fs::read(cert)?,
            std::fs::read(key)?,
        ));
    Ok(Endpoint::from_shared(format!("https://{addr}"))?
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(10))
        .connect()
        .await?)
}

/// Adds the agency's bearer token to every call.
#[derive(Clone)]
struct Bearer(MetadataValue<tonic::metadata::Ascii>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut r: Request<()>) -> Result<Request<()>, Status> {
        r.metadata_mut().insert("authorization", self.0.clone());
        Ok(r)
    }
}

type Authed = tonic::service::interceptor::InterceptedService<Channel, Bearer>;

fn authed(channel: Channel, token: &str) -> anyhow::Result<Authed> {
    let value = format!("Bearer {token}").parse()?;
    Ok(tonic::service::interceptor::InterceptedService::new(
        channel,
        Bearer(value),
    ))
}

fn encompass(police: &str, id: &str, urn: &str, tag: usize) -> pb::VawgRecord {
    let at = prost_types::Timestamp {
        seconds: 1_738_497_600,
        nanos: 0,
    };
    let day = pb::Date {
        year: 2025,
        month: 2,
        day: 2,
    };
    pb::VawgRecord {
        source_record_id: id.to_string(),
        revision: 1,
        source_agency_id: police.to_string(),
        event_time: Some(at),
        recorded_time: Some(at),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(day),
            end: Some(day),
        }),
        counting_unit: pb::CountingUnit::Incident as i32,
        area: Some(pb::Area {
            gss_code: "E23000001".into(),
            level: pb::AreaLevel::PoliceForceArea as i32,
        }),
        classification: Some(pb::LocalClassification {
            scheme: "HO_OFFENCE".into(),
            code: "8N".into(),
        }),
        victim: Some(pb::PersonReference {
            identifiers: Some(pb::PersonIdentifiers {
                given_name: format!("Benchgiven{tag}"),
                family_name: "Benchfamily".into(),
                date_of_birth: Some(pb::Date {
                    year: 1990,
                    month: 1,
                    day: 1,
                }),
                ..Default::default()
            }),
            pseudonym: String::new(),
            demographics: Some(pb::Demographics {
                sex: pb::Sex::Female as i32,
                ..Default::default()
            }),
        }),
        event: Some(pb::vawg_record::Event::EncompassNotification(
            pb::EncompassNotification {
                school_urn: urn.to_string(),
                sealed_pupil_details: None,
                police_contact: "Safeguarding hub desk".into(),
            },
        )),
        ..Default::default()
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Measures delivery latency.
pub async fn notify(args: &BenchNotifyArgs) -> anyhow::Result<NotifyBenchReport> {
    if args.subscribers == 0 || args.subscribers > 900 || args.rounds == 0 {
        bail!("--subscribers must be 1-900 and --rounds positive");
    }
    let dir = tempfile::tempdir()?;
    let pki = pki::init(&dir.path().join("pki"))?;
    let database_url = args
        .database
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let settings = pki::dev_settings(&pki, database_url, dir.path());
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    let store = app.store().clone();
    let backend = match store.backend() {
        vawg_store::Backend::Sqlite => "sqlite",
        vawg_store::Backend::Postgres => "postgres",
    };

    // Agencies unique to this run, so that reruns on one database do not collide.
    let run = 1000 + (now_nanos() % 9000) as usize;
    let (police_id, urns) = register(&store, run, args.subscribers).await?;

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stopped.await;
    }));

    let (latency_tx, mut latency_rx) = mpsc::unbounded_channel::<f64>();
    let readers = subscribe(&pki, addr, &urns, latency_tx).await?;
    let (cert, key) = pki::issue(&pki, &police_id, AgencyKind::Police, None)?;
    let token = pki::mint_token(
        &pki.jwt_key(),
        &TokenSpec::new(&police_id, default_scopes(AgencyKind::Police)),
    )?;
    let mut ingest =
        IngestServiceClient::new(authed(connect(&pki, addr, &cert, &key).await?, &token)?);
    let round = Round {
        police_id: &police_id,
        run,
        urns: &urns,
    };
    let mut latencies = Vec::with_capacity(args.subscribers * args.rounds);
    for n in 0..args.rounds {
        round
            .run(&mut ingest, n, &mut latency_rx, &mut latencies)
            .await?;
    }

    let _ = stop.send(());
    server.await.context("joining the hub")??;
    for r in readers {
        let _ = r.await;
    }
    latencies.sort_by(f64::total_cmp);
    let mean = latencies.iter().sum::<f64>() / latencies.len() as f64;
    Ok(NotifyBenchReport {
        backend: backend.to_string(),
        subscribers: args.subscribers,
        rounds: args.rounds,
        notifications: latencies.len(),
        p50_ms: percentile(&latencies, 50.0),
        p99_ms: percentile(&latencies, 99.0),
        max_ms: latencies.last().copied().unwrap_or_default(),
        mean_ms: mean,
    })
}

/// Registers the run's police force and `subscribers` schools; returns the force's id and the
/// schools' URNs.
async fn register(
    store: &vawg_store::Store,
    run: usize,
    subscribers: usize,
) -> anyhow::Result<(String, Vec<String>)> {
    let police_id = format!("police-bench-{run}");
    store
        .add_agency(
            &police_id,
            "Bench police",
            AgencyKind::Police,
            &["E23000001".into()],
        )
        .await?;
    let urns: Vec<String> = (0..subscribers).map(|i| format!("{run}{i:03}")).collect();
    for urn in &urns {
        store
            .add_agency(
                &format!("school-{urn}"),
                "Bench school",
                AgencyKind::School,
                &[],
            )
            .await?;
    }
    Ok((police_id, urns))
}

/// Subscribes every school; each decodes its notifications and reports the latency on
/// `latency_tx`.
async fn subscribe(
    pki: &Pki,
    addr: std::net::SocketAddr,
    urns: &[String],
    latency_tx: mpsc::UnboundedSender<f64>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<()>>> {
    let mut readers = Vec::new();
    for urn in urns {
        let id = format!("school-{urn}");
        let (cert, key) = pki::issue(pki, &id, AgencyKind::School, None)?;
        let token = pki::mint_token(
            &pki.jwt_key(),
            &TokenSpec::new(&id, default_scopes(AgencyKind::School)),
        )?;
        let channel = connect(pki, addr, &cert, &key).await?;
        let mut client = ExchangeServiceClient::new(authed(channel, &token)?);
        let mut stream = client
            .subscribe(pb::SubscribeRequest {
                topic: pb::Topic::Encompass as i32,
                after_sequence: 0,
            })
            .await
            .with_context(|| format!("subscribing {id}"))?
            .into_inner();
        let tx = latency_tx.clone();
        readers.push(tokio::spawn(async move {
            while let Ok(Some(msg)) = stream.message().await {
                let received = now_nanos();
                if let Some(created) = msg.notification.and_then(|n| n.created_time) {
                    let created =
                        i128::from(created.seconds) * 1_000_000_000 + i128::from(created.nanos);
                    let _ = tx.send((received - created) as f64 / 1e6);
                }
            }
        }));
    }
    Ok(readers)
}

/// A round: one batch from the police with a notification for every school.
struct Round<'a> {
    police_id: &'a str,
    run: usize,
    urns: &'a [String],
}

impl Round<'_> {
    /// Submits round `round` and waits for every school's latency.
    async fn run(
        &self,
        ingest: &mut IngestServiceClient<Authed>,
        round: usize,
        latency_rx: &mut mpsc::UnboundedReceiver<f64>,
        latencies: &mut Vec<f64>,
    ) -> anyhow::Result<()> {
        let (run, urns) = (self.run, self.urns);
        let records = urns
            .iter()
            .enumerate()
            .map(|(i, urn)| encompass(self.police_id, &format!("bench-{run}-{round}-{i}"), urn, i))
            .collect();
        let response = ingest
            .submit_batch(pb::SubmitBatchRequest { records })
            .await
            .context("submitting a round")?
            .into_inner();
        let accepted = response
            .results
            .iter()
            .filter(|r| r.status == pb::RecordStatus::Accepted as i32)
            .count();
        if accepted != urns.len() {
            let first = response
                .results
                .iter()
                .find(|r| r.status != pb::RecordStatus::Accepted as i32)
                .map(|r| format!("{:?}: {:?}", r.status, r.violations))
                .unwrap_or_default();
            bail!(
                "round {round}: only {accepted} of {} records accepted (first refusal: {first})",
                urns.len()
            );
        }
        while latencies.len() < (round + 1) * urns.len() {
            match latency_rx.recv().await {
                Some(ms) => latencies.push(ms),
                None => bail!("every subscription ended before the run did"),
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
