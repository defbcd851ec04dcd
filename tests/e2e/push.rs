//! `vawg-hub push`, the agency loader, against a real hub with the example extracts in
//! deploy/examples/loader: a police CSV and a support service's NDJSON, each with deliberately
//! bad rows. Good rows are stored once however often the file is pushed; bad rows land in the
//! rejects file with the column or field and the reason; a rerun resumes after the last
//! acknowledged row.

use std::path::{Path, PathBuf};

use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_loader::{
    connect::ConnectArgs,
    push::{self, PushArgs, PushReport},
};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/examples/loader")
}

/// Copies an example extract into the test's folder (the rejects and state files go beside
/// it) and returns push arguments for it.
fn args(app: &TestApp, agency: &Agency, extract: &str, mapping: &str) -> PushArgs {
    let file = app.dir.path().join(extract);
    std::fs::copy(examples().join(extract), &file).unwrap();
    let token_file = app.dir.path().join(format!("{}.token", agency.id));
    std::fs::write(&token_file, agency.token()).unwrap();
    PushArgs {
        connect: ConnectArgs {
            server: format!("https://{}", app.addr),
            server_name: "localhost".into(),
            ca: app.pki.ca_cert(),
            cert: agency.cert.clone(),
            key: agency.key.clone(),
            token_file,
        },
        mapping: examples().join(mapping),
        format: None,
        rejects: None,
        state: None,
        restart: false,
        chunk: 3,
        in_flight: 2,
        limit: None,
        quiet: true,
        file,
    }
}

/// The rejects file's rows as (row, source_record_id, stage, reasons), header checked.
fn rejects(report: &PushReport) -> Vec<(u64, String, String, String)> {
    let mut reader = csv::Reader::from_path(&report.rejects_file).unwrap();
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        ["row", "line", "source_record_id", "stage", "reasons"]
    );
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[0].parse().unwrap(),
                r[2].to_string(),
                r[3].to_string(),
                r[4].to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn police_csv_loads_once_with_rejects_and_reasons() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let args = args(
        &app,
        &police,
        "police-crimes.csv",
        "police-crimes.mapping.toml",
    );

    let first = push::run(args.clone()).await.unwrap();
    assert_eq!(
        (
            first.rows,
            first.accepted,
            first.duplicate,
            first.mapping_rejects,
            first.hub_rejects
        ),
        (9, 6, 0, 2, 1),
        "{first:?}"
    );
    let bad = rejects(&first);
    assert_eq!(bad.len(), 3, "{bad:?}");
    // Row 7: a Home Office code the definition does not know, refused by the hub.
    assert_eq!(
        (bad[0].0, bad[0].1.as_str(), bad[0].2.as_str()),
        (7, "NS/25/000107", "hub")
    );
    assert!(bad[0].3.starts_with("classification.code:"), "{}", bad[0].3);
    // Row 8: a sex code the mapping does not list; row 9: a date in the wrong format.
    assert_eq!((bad[1].0, bad[1].2.as_str()), (8, "mapping"));
    assert!(
        bad[1]
            .3
            .contains("column V_GENDER: code 'Q' is not in the mapping's codes"),
        "{}",
        bad[1].3
    );
    assert_eq!((bad[2].0, bad[2].2.as_str()), (9, "mapping"));
    assert!(
        bad[2]
            .3
            .contains("column RECORDED_DATETIME: 'not a date' does not match"),
        "{}",
        bad[2].3
    );
    assert!(
        !args.file.with_extension("csv.push-state.json").exists(),
        "state removed when complete"
    );

    // Pushed again: nothing new is stored, the same rows are rejected.
    let second = push::run(args.clone()).await.unwrap();
    assert_eq!(
        (second.accepted, second.duplicate, second.rejected()),
        (0, 6, 3),
        "{second:?}"
    );
    assert_eq!(rejects(&second).len(), 3);
    assert_eq!(
        app.store().count_records(Some(&police.id)).await.unwrap(),
        6
    );
    app.stop().await;
}

#[tokio::test]
async fn a_rerun_resumes_after_the_last_acknowledged_row() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app
        .agency("police-e23000001", AgencyKind::Police, &["E23000001"])
        .await;
    let args = args(
        &app,
        &police,
        "police-crimes.csv",
        "police-crimes.mapping.toml",
    );
    // The state a run leaves when it fails after its chunk of rows 4-6 was acknowledged.
    let sha = {
        use sha2::Digest;
        hex_string(&sha2::Sha256::digest(std::fs::read(&args.file).unwrap()))
    };
    let rejects_file = app.dir.path().join("police-crimes.csv.rejects.csv");
    std::fs::write(&rejects_file, "row,line,source_record_id,stage,reasons\n").unwrap();
    let state = serde_json::json!({
        "input_sha256": sha,
        "rows_done": 6,
        "rejects_len": 40,
        "report": {"rows": 9, "resumed_from": 0, "mapping_rejects": 0, "hub_rejects": 0,
                   "accepted": 6, "superseded": 0, "duplicate": 0, "rejects_file": rejects_file},
    });
    std::fs::write(
        app.dir.path().join("police-crimes.csv.push-state.json"),
        serde_json::to_vec(&state).unwrap(),
    )
    .unwrap();

    let resumed = push::run(args).await.unwrap();
    assert_eq!(resumed.resumed_from, 6);
    // Only rows 7-9 were read: one refused by the hub, two by the mapping, none stored.
    assert_eq!(
        (resumed.hub_rejects, resumed.mapping_rejects),
        (1, 2),
        "{resumed:?}"
    );
    assert_eq!(
        app.store().count_records(Some(&police.id)).await.unwrap(),
        0
    );
    assert_eq!(
        rejects(&resumed).iter().map(|r| r.0).collect::<Vec<_>>(),
        [7, 8, 9]
    );
    app.stop().await;
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn support_service_ndjson_loads_several_event_kinds() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let service = app
        .agency(
            "support-e09000001",
            AgencyKind::SupportService,
            &["E09000001"],
        )
        .await;
    let args = args(
        &app,
        &service,
        "support-service.ndjson",
        "support-service.mapping.toml",
    );

    let report = push::run(args.clone()).await.unwrap();
    assert_eq!(
        (
            report.rows,
            report.accepted,
            report.mapping_rejects,
            report.hub_rejects
        ),
        (7, 6, 1, 0),
        "{report:?}"
    );
    let bad = rejects(&report);
    assert_eq!(bad.len(), 1);
    assert_eq!((bad[0].0, bad[0].2.as_str()), (7, "mapping"));
    assert!(
        bad[0]
            .3
            .contains("column client.ethnicity: code 'Prefer not to say'"),
        "{}",
        bad[0].3
    );

    let again = push::run(args).await.unwrap();
    assert_eq!((again.accepted, again.duplicate), (0, 6));
    assert_eq!(
        app.store().count_records(Some(&service.id)).await.unwrap(),
        6
    );
    app.stop().await;
}
