//! `vawg-hub demo`: the whole hub working, with one command, on the embedded default.
//!
//! Starts the hub on SQLite in a temporary (or `--data-dir`) folder with a development PKI,
//! registers synthetic agencies (police forces, CPS areas, courts, NHS bodies, local
//! authorities, support services, a school, the central team and an immigration-enforcement
//! body), and then, over real gRPC with mutual TLS and bearer tokens: every agency streams its
//! synthetic records; the central team reads cross-government metrics under each definition;
//! a school receives an Operation Encompass notification it alone can open; immigration
//! enforcement asks for records and is refused; and the audit log is verified end to end.

use std::{collections::BTreeMap, path::PathBuf, sync::Arc, time::Instant};

use anyhow::Context;
use futures::StreamExt;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::oneshot;
use vawg_client::{Credentials, HubClient, Tally};
use vawg_domain::identity::AgencyKind;
use vawg_proto::pb;

use crate::{
    app::Application,
    metrics_cli::render_comparison,
    pki::{self, Pki, TokenSpec},
    report::{self, Format},
    synth, telemetry,
};

/// Options of the demo.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Keep data here instead of a temporary folder.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Leave the hub running afterwards (on 127.0.0.1:50051 unless `--listen` says otherwise,
    /// with the dashboard on 127.0.0.1:8443 unless `--dashboard-listen` says otherwise) and print
    /// how to connect.
    #[arg(long)]
    pub keep_running: bool,
    /// Address for the gRPC listener (mutual TLS); port 0 picks a free port. Default: a free
    /// port, or 127.0.0.1:50051 with `--keep-running`.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Address for the browser dashboard (token only, aggregates only); port 0 picks a free
    /// port. Default: none, or 127.0.0.1:8443 with `--keep-running`.
    #[arg(long)]
    pub dashboard_listen: Option<std::net::SocketAddr>,
    /// Synthetic victim journeys to generate.
    #[arg(long, default_value_t = 2000)]
    pub journeys: usize,
    /// Seed for the synthetic data.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// The school that receives the demo's Operation Encompass notification (a URN in a range no
/// real school uses).
const DEMO_SCHOOL_URN: &str = "999901";
const CENTRAL: &str = "central-analysis";
const IMMIGRATION: &str = "immigration-enforcement";

struct Hub {
    addr: std::net::SocketAddr,
    pki: Pki,
}

impl Hub {
    async fn client(&self, agency: &str, kind: AgencyKind) -> anyhow::Result<HubClient> {
        let token = pki::mint_token(
            &self.pki.jwt_key(),
            &TokenSpec::new(agency, vawg_firewall::default_scopes(kind)),
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

fn heading(step: usize, text: &str) {
    println!("\n== {step}/6  {text}");
}

fn date(y: i32, m: i32, d: i32) -> pb::Date {
    pb::Date {
        year: y,
        month: m,
        day: d,
    }
}

fn query(metric: &str, from: pb::Date, to: pb::Date) -> pb::MetricQuery {
    pb::MetricQuery {
        metric_id: metric.into(),
        victim_scope: pb::VictimScope::AllVictims as i32,
        counting_rule: pb::CountingRule::AllOffences as i32,
        period: Some(pb::ReferencePeriod {
            start: Some(from),
            end: Some(to),
        }),
        grain: pb::TimeGrain::WholePeriod as i32,
        area_level: pb::AreaLevel::PoliceForceArea as i32,
        ..Default::default()
    }
}

async fn table(client: &HubClient, q: pb::MetricQuery) -> anyhow::Result<pb::MetricTable> {
    let response = client
        .metrics()
        .query_metric(pb::QueryMetricRequest { query: Some(q) })
        .await?;
    response
        .into_inner()
        .table
        .context("the hub returned no table")
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    telemetry::init_plain_logs();
    let started = Instant::now();
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&data_dir)?;

    heading(1, "A hub on the embedded default, with a development PKI");
    let pki_dir = data_dir.join("pki");
    let pki = if pki_dir.join("ca.pem").exists() {
        Pki::at(&pki_dir)
    } else {
        pki::init(&pki_dir)?
    };
    let mut settings = pki::dev_settings(
        &pki,
        format!("sqlite://{}", data_dir.join("vawg-hub.db").display()),
        &data_dir,
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
    let app = Application::build(settings).await?;
    let store = app.store().clone();
    let addr = app.local_addr();
    let dashboard_addr = app.dashboard_addr();

    let data = synth::generate(args.journeys, args.seed);
    let mut agencies: Vec<(String, AgencyKind, Vec<String>)> = data
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
    for (id, kind, areas) in &agencies {
        if store.agency(id).await?.is_none() {
            store
                .add_agency(id, &format!("{id} (synthetic)"), *kind, areas)
                .await?;
        }
        if !pki.agency_cert(id).exists() {
            pki::issue(&pki, id, *kind, None)?;
        }
    }
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(app.run_until_stopped(async {
        let _ = stop_rx.await;
    }));
    let hub = Arc::new(Hub {
        addr,
        pki: pki.clone(),
    });
    println!("  hub listening on https://{addr} — mutual TLS and a bearer token on every call");
    if let Some(dashboard) = dashboard_addr {
        println!(
            "  dashboard on https://{dashboard}/ — bearer token only, read-only aggregates only"
        );
    }
    println!("  data folder: {}", data_dir.display());
    let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, kind, _) in &agencies {
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

    heading(
        2,
        "Agencies stream their synthetic records (StreamRecords, acknowledged on commit)",
    );
    let tally = push_all(&hub, &data).await?;
    println!(
        "  {} records: {} accepted, {} duplicate (already held from an earlier run), {} rejected",
        data.records.len(),
        tally.accepted + tally.superseded,
        tally.duplicate,
        tally.rejected
    );

    heading(
        3,
        "The central team reads cross-government metrics (disclosure control on every cell)",
    );
    central_metrics(&hub.client(CENTRAL, AgencyKind::CentralAnalyst).await?).await?;

    heading(
        4,
        "Operation Encompass: a school learns of an incident before the next school day",
    );
    encompass(&hub).await?;

    heading(
        5,
        "Immigration enforcement asks for records — and is refused, whatever it asks",
    );
    let immigration = hub
        .client(IMMIGRATION, AgencyKind::ImmigrationEnforcement)
        .await?;
    let refused = immigration
        .exchange()
        .request_records(pb::RequestRecordsRequest {
            subject: Some(pb::PersonIdentifiers {
                given_name: "Synthetic".into(),
                family_name: "Person".into(),
                date_of_birth: Some(date(1990, 1, 1)),
                ..Default::default()
            }),
            purpose: pb::Purpose::ImmigrationEnforcement as i32,
            lawful_basis: pb::LawfulBasis::LawEnforcementPart3 as i32,
            justification: "status check".into(),
            event_kinds: vec![],
        })
        .await;
    match refused {
        Ok(_) => anyhow::bail!("the firewall let immigration enforcement read records"),
        Err(status) => println!(
            "  RequestRecords -> {:?}: {}",
            status.code(),
            status.message()
        ),
    }
    let metrics_refused = immigration
        .metrics()
        .list_metrics(pb::ListMetricsRequest {})
        .await;
    if let Err(status) = &metrics_refused {
        println!(
            "  ListMetrics     -> {:?}: {}",
            status.code(),
            status.message()
        );
    }
    let central = hub.client(CENTRAL, AgencyKind::CentralAnalyst).await?;
    let entries = central
        .firewall()
        .read_audit(pb::ReadAuditRequest {
            from_index: 0,
            limit: 1000,
            agency_id: IMMIGRATION.into(),
        })
        .await?
        .into_inner()
        .entries;
    let refusal = entries
        .iter()
        .rev()
        .find(|e| !e.allowed && e.rpc.ends_with("/RequestRecords"))
        .context("the refusal was not audited")?;
    println!(
        "  audit entry #{}: caller={} rpc={} allowed={} hard_rule={}\n    reason: {}",
        refusal.index,
        refusal.caller_agency_id,
        refusal.rpc,
        refusal.allowed,
        refusal.hard_rule,
        refusal.reason
    );

    heading(6, "The audit log verifies end to end");
    let verify = central
        .firewall()
        .verify_audit(pb::VerifyAuditRequest {})
        .await?
        .into_inner();
    let head = verify.head.unwrap_or_default();
    println!(
        "  VerifyAudit: ok={} entries={} root={} (signed, key {})",
        verify.ok,
        verify.entries_checked,
        hex_prefix(&head.root_hash),
        head.key_id
    );
    anyhow::ensure!(
        verify.ok,
        "the audit log did not verify: {}",
        verify.problem
    );

    println!(
        "\nSummary: {} agencies pushed {} records over mutual TLS; metrics computed from aggregates \
         maintained incrementally, under three victim scopes and three counting rules; one sealed \
         Encompass notification delivered; immigration enforcement refused and audited; {} audit \
         entries verified. {:.1}s.",
        agencies.len() - 3,
        data.records.len(),
        verify.entries_checked,
        started.elapsed().as_secs_f64()
    );

    if args.keep_running {
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
        if let Some(dashboard) = dashboard_addr {
            // A token for the dashboard: aggregates and reference data only, 8 hours.
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
        }
        println!("Stop with Ctrl-C.");
        telemetry::shutdown_signal().await;
    }
    let _ = stop_tx.send(());
    server.await??;
    Ok(())
}

fn hex_prefix(bytes: &[u8]) -> String {
    bytes
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect::<String>()
        + "…"
}

/// Every agency streams its records: police first (the crimes every later stage refers to),
/// then the other agencies four at a time, one progress bar per kind of agency.
async fn push_all(hub: &Arc<Hub>, data: &synth::SynthData) -> anyhow::Result<Tally> {
    let multi = MultiProgress::new();
    if !std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        multi.set_draw_target(ProgressDrawTarget::hidden());
    }
    let style = ProgressStyle::with_template("  {prefix:<18} [{bar:30}] {pos:>6}/{len:<6} {msg}")?
        .progress_chars("=> ");
    let mut groups: BTreeMap<AgencyKind, Vec<&synth::SynthAgency>> = BTreeMap::new();
    for a in &data.agencies {
        groups.entry(a.kind).or_default().push(a);
    }
    let mut bars: BTreeMap<AgencyKind, ProgressBar> = BTreeMap::new();
    for (kind, members) in &groups {
        let n: usize = members.iter().map(|a| data.records_of(&a.id).count()).sum();
        let bar = multi.add(ProgressBar::new(n as u64));
        bar.set_style(style.clone());
        bar.set_prefix(format!(
            "{} ({})",
            kind.as_str().to_lowercase().replace('_', " "),
            members.len()
        ));
        bars.insert(*kind, bar);
    }
    let push = |agency: &synth::SynthAgency| {
        let hub = hub.clone();
        let records: Vec<pb::VawgRecord> = data.records_of(&agency.id).cloned().collect();
        let bar = bars[&agency.kind].clone();
        let (id, kind) = (agency.id.clone(), agency.kind);
        async move {
            let client = hub.client(&id, kind).await?;
            let tally = client
                .stream(records, 250, 4, |_, results| bar.inc(results.len() as u64))
                .await?;
            anyhow::Ok(tally)
        }
    };
    let mut total = Tally::default();
    let mut add = |t: Tally| {
        total.accepted += t.accepted;
        total.superseded += t.superseded;
        total.duplicate += t.duplicate;
        total.stale += t.stale;
        total.rejected += t.rejected;
    };
    let police: Vec<_> = data
        .agencies
        .iter()
        .filter(|a| a.kind == AgencyKind::Police)
        .collect();
    let others: Vec<_> = data
        .agencies
        .iter()
        .filter(|a| a.kind != AgencyKind::Police)
        .collect();
    for results in [
        futures::stream::iter(police.into_iter().map(push))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await,
        futures::stream::iter(others.into_iter().map(push))
            .buffer_unordered(4)
            .collect::<Vec<_>>()
            .await,
    ] {
        for r in results {
            add(r?);
        }
    }
    for bar in bars.values() {
        bar.finish_with_message("done");
    }
    Ok(total)
}

async fn central_metrics(central: &HubClient) -> anyhow::Result<()> {
    let (fy_start, fy_end) = (date(2020, 4, 1), date(2021, 3, 31));
    let (all_start, all_end) = (date(2020, 4, 1), date(2024, 3, 31));

    println!(
        "\n  Attrition funnel — crimes recorded in 2020-21, linked across police, CPS and courts:"
    );
    let mut q = query("attrition_funnel", fy_start, fy_end);
    q.breakdowns = vec![pb::Breakdown::Subtype as i32];
    let t = table(central, q).await?;
    let recorded = t
        .rows
        .first()
        .and_then(|r| r.cell)
        .map(|c| c.value)
        .unwrap_or(0.0);
    let mut rows = vec![vec![
        "stage".to_string(),
        "cases".to_string(),
        "of recorded".to_string(),
    ]];
    for r in &t.rows {
        let cell = r.cell.unwrap_or_default();
        let share = if recorded > 0.0 && cell.status == pb::DisclosureStatus::Released as i32 {
            format!("{:.1}%", cell.value / recorded * 100.0)
        } else {
            String::new()
        };
        rows.push(vec![
            r.dimensions[1].label.clone(),
            report::cell_text(&cell, pb::MetricUnit::Count),
            share,
        ]);
    }
    print!("{}", report::align(&rows));

    println!("\n  Days from police referral to CPS charge, by category (charges 2020-2024):");
    let mut by_stat: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut counts: BTreeMap<String, String> = BTreeMap::new();
    for stat in ["mean", "median", "p90"] {
        let mut q = query("referral_to_charge_days", all_start, all_end);
        q.breakdowns = vec![pb::Breakdown::Category as i32];
        q.statistic = stat.into();
        let t = table(central, q).await?;
        for r in t.rows.iter().chain(&t.totals) {
            let category = r
                .dimensions
                .get(1)
                .map(|d| d.label.clone())
                .unwrap_or_else(|| "All VAWG".into());
            let cell = r.cell.unwrap_or_default();
            by_stat
                .entry(category.clone())
                .or_default()
                .push(report::cell_text(&cell, pb::MetricUnit::Days));
            counts.insert(
                category,
                if cell.base > 0 {
                    cell.base.to_string()
                } else {
                    report::cell_text(&cell, pb::MetricUnit::Count)
                },
            );
        }
    }
    let mut rows = vec![vec![
        "category".into(),
        "charges".into(),
        "mean".into(),
        "median".into(),
        "p90".into(),
    ]];
    for (category, stats) in by_stat {
        let mut row = vec![
            category.clone(),
            counts.get(&category).cloned().unwrap_or_default(),
        ];
        row.extend(stats);
        rows.push(row);
    }
    print!("{}", report::align(&rows));
    println!("  (The NAO found 158 days for rape against 46 for all crime.)");

    println!(
        "\n  Victim withdrawal by stage — cases reaching each stage, share where the victim withdrew:"
    );
    let mut q = query("withdrawal_rate", all_start, all_end);
    q.breakdowns = vec![pb::Breakdown::Subtype as i32];
    print!(
        "{}",
        report::render(
            &table(central, q).await?,
            pb::MetricUnit::Proportion,
            Format::Table
        )
    );

    println!(
        "\n  Recorded VAWG crimes 2020-21 under each definition, side by side (CompareDefinitions):"
    );
    let compared = central
        .metrics()
        .compare_definitions(pb::CompareDefinitionsRequest {
            query: Some(query("recorded_crimes", fy_start, fy_end)),
            variants: vec![],
        })
        .await?
        .into_inner();
    print!("{}", render_comparison(&compared, pb::MetricUnit::Count));

    println!(
        "\n  Unmet need — referred victims a service could not support, by reason and force area:"
    );
    let mut q = query("unable_to_support", all_start, all_end);
    q.breakdowns = vec![pb::Breakdown::Subtype as i32, pb::Breakdown::Area as i32];
    print!(
        "{}",
        report::render(
            &table(central, q).await?,
            pb::MetricUnit::Count,
            Format::Table
        )
    );
    Ok(())
}

/// The school registers its sealing key; the police seal the pupil's details to it and submit
/// the notification; the school, subscribed, receives it and alone can open it.
async fn encompass(hub: &Arc<Hub>) -> anyhow::Result<()> {
    let school_id = format!("school-{DEMO_SCHOOL_URN}");
    let school = hub.client(&school_id, AgencyKind::School).await?;
    let keys = vawg_exchange::sealing::generate_keypair();
    school
        .exchange()
        .register_sealing_key(pb::RegisterSealingKeyRequest {
            key_id: format!(
                "school-key-{}",
                hex_prefix(keys.public_key()).trim_end_matches('…')
            ),
            public_key: keys.public_key().to_vec(),
        })
        .await?;
    let mut subscription = school
        .exchange()
        .subscribe(pb::SubscribeRequest {
            topic: pb::Topic::Encompass as i32,
            after_sequence: 0,
        })
        .await?
        .into_inner();

    let police = hub.client("police-e23000001", AgencyKind::Police).await?;
    let key = police
        .exchange()
        .get_sealing_key(pb::GetSealingKeyRequest {
            agency_id: school_id.clone(),
        })
        .await?
        .into_inner();
    let pupil = b"Pupil: Synthetic Child (year 4), synthetic date of birth 2016-05-01";
    let sealed = vawg_exchange::sealing::seal(&school_id, &key.key_id, &key.public_key, pupil)?;
    let now = chrono::Utc::now();
    let ts = prost_types_timestamp(now - chrono::Duration::hours(10));
    let today = {
        use chrono::Datelike;
        date(now.year(), now.month() as i32, now.day() as i32)
    };
    let record = pb::VawgRecord {
        // Unique per run: two runs can fall within the same second.
        source_record_id: format!("demo-encompass-{}", uuid::Uuid::new_v4().simple()),
        revision: 1,
        source_agency_id: "police-e23000001".into(),
        event_time: Some(ts),
        recorded_time: Some(ts),
        reference_period: Some(pb::ReferencePeriod {
            start: Some(today),
            end: Some(today),
        }),
        counting_unit: pb::CountingUnit::Incident as i32,
        area: Some(pb::Area {
            gss_code: "E23000001".into(),
            level: pb::AreaLevel::PoliceForceArea as i32,
        }),
        classification: Some(pb::LocalClassification {
            scheme: "HO_OFFENCE".into(),
            code: "105A".into(),
        }),
        victim: Some(pb::PersonReference {
            identifiers: Some(pb::PersonIdentifiers {
                given_name: "Synthetic".into(),
                family_name: "Parent".into(),
                date_of_birth: Some(date(1988, 3, 14)),
                ..Default::default()
            }),
            pseudonym: String::new(),
            demographics: Some(pb::Demographics {
                sex: pb::Sex::Female as i32,
                age_at_event: Some(37),
                ethnic_group: pb::EthnicGroup::NotStated as i32,
                disability: pb::Disability::NotStated as i32,
                sexual_orientation: pb::SexualOrientation::NotStated as i32,
                gender_identity: pb::GenderIdentity::NotStated as i32,
                immigration_status: pb::ImmigrationStatus::NotKnown as i32,
            }),
        }),
        suspect: None,
        case_references: None,
        category: String::new(),
        definition_version: String::new(),
        event: Some(pb::vawg_record::Event::EncompassNotification(
            pb::EncompassNotification {
                school_urn: DEMO_SCHOOL_URN.into(),
                sealed_pupil_details: Some(sealed),
                police_contact: "Safeguarding hub, synthetic desk 0000".into(),
            },
        )),
    };
    let submitted = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![record],
        })
        .await?
        .into_inner();
    let status = submitted
        .results
        .first()
        .map(|r| r.status)
        .unwrap_or_default();
    anyhow::ensure!(
        status == pb::RecordStatus::Accepted as i32,
        "the notification was not accepted: {:?}",
        submitted.results.first().map(|r| &r.violations)
    );
    println!(
        "  police-e23000001 sealed the pupil's details to {school_id}'s key and submitted the notification"
    );
    let message = tokio::time::timeout(std::time::Duration::from_secs(10), subscription.message())
        .await
        .context("no notification within 10 s")??
        .context("the subscription ended")?;
    let n = message.notification.context("empty message")?;
    let Some(pb::notification::Content::Encompass(content)) = n.content else {
        anyhow::bail!("not an Encompass notification");
    };
    let opened = vawg_exchange::sealing::open(
        &keys,
        content
            .sealed_pupil_details
            .as_ref()
            .context("no sealed details")?,
    )?;
    println!(
        "  {school_id} received notification #{} (incident {}, contact \"{}\") and opened it: \"{}\"",
        n.sequence,
        content
            .incident_time
            .map(|t| chrono::DateTime::from_timestamp(t.seconds, 0)
                .unwrap_or_default()
                .to_rfc3339())
            .unwrap_or_default(),
        content.police_contact,
        String::from_utf8_lossy(&opened)
    );
    school
        .exchange()
        .acknowledge(pb::AcknowledgeRequest {
            topic: pb::Topic::Encompass as i32,
            sequence: n.sequence,
        })
        .await?;
    let stranger = vawg_exchange::sealing::generate_keypair();
    let other = vawg_exchange::sealing::open(
        &stranger,
        content.sealed_pupil_details.as_ref().expect("checked"),
    );
    println!(
        "  the hub stored only ciphertext; any other key fails to open it: {}",
        other
            .err()
            .map(|e| e.to_string())
            .unwrap_or_else(|| "opened (unexpected!)".into())
    );
    Ok(())
}

fn prost_types_timestamp(t: chrono::DateTime<chrono::Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: 0,
    }
}
