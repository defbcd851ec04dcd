//! No raw identifier at rest or in the logs: after ingesting records that carry known
//! identifier strings (valid and invalid records alike), no text column of any table and no
//! log line contains any of them, and neither do the responses.

use std::sync::{Arc, Mutex};

use sqlx::Row;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb;
use vawg_store::Pool;

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, crime},
};

const NEEDLES: [&str; 7] = [
    "Zebediah",
    "Quillfeather",
    "Xanthippe",
    "SYNPNC7731Q",
    "CRSENTINEL4242",
    "URNSENTINEL9911",
    "COURTSENTINEL5522",
];

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sentinel_record(id: &str) -> pb::VawgRecord {
    let mut r = crime(id, 1);
    let v = r.victim.as_mut().unwrap().identifiers.as_mut().unwrap();
    v.given_name = "Zebediah".into();
    v.family_name = "Quillfeather".into();
    let s = r.suspect.as_mut().unwrap().identifiers.as_mut().unwrap();
    s.given_name = "Xanthippe".into();
    s.pnc_id = "SYNPNC7731Q".into();
    let refs = r.case_references.as_mut().unwrap();
    refs.police_crime_reference = "CRSENTINEL4242".into();
    refs.cps_urn = "URNSENTINEL9911".into();
    refs.court_case_number = "COURTSENTINEL5522".into();
    r
}

async fn identifiers_never_reach_tables_logs_or_responses(backend: Backend) {
    let captured = Captured::default();
    let writer = captured.clone();
    let _ = tracing::subscriber::set_global_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .json()
            .with_writer(move || writer.clone())
            .finish(),
    );

    let app = TestApp::spawn(backend).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let mut invalid = sentinel_record("bad");
    invalid.area = None;
    let response = police
        .ingest()
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![sentinel_record("good"), invalid],
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.summary.unwrap().accepted, 1);
    let mut streamed = police
        .ingest()
        .stream_records(tokio_stream::iter([pb::StreamRecordsRequest {
            records: vec![sentinel_record("streamed")],
        }]))
        .await
        .unwrap()
        .into_inner();
    let ack = streamed.message().await.unwrap().unwrap();
    let text = format!("{response:?}{ack:?}").to_lowercase();
    for n in NEEDLES {
        assert!(!text.contains(&n.to_lowercase()), "{n} in a response");
    }

    // Every text column of every table.
    let mut columns_scanned = 0;
    let mut found = Vec::new();
    match app.store().pool() {
        Pool::Sqlite(p) => {
            let tables: Vec<String> = sqlx::query_scalar(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
            )
            .fetch_all(p)
            .await
            .unwrap();
            for t in tables {
                let cols = sqlx::query(&format!("SELECT name FROM pragma_table_info('{t}')"))
                    .fetch_all(p)
                    .await
                    .unwrap();
                for c in cols {
                    let c: String = c.get(0);
                    columns_scanned += 1;
                    for n in NEEDLES {
                        let hits: i64 = sqlx::query_scalar(&format!(
                            "SELECT COUNT(*) FROM \"{t}\" WHERE lower(CAST(\"{c}\" AS TEXT)) LIKE ?"
                        ))
                        .bind(format!("%{}%", n.to_lowercase()))
                        .fetch_one(p)
                        .await
                        .unwrap();
                        if hits > 0 {
                            found.push(format!("{t}.{c}: {n}"));
                        }
                    }
                }
            }
        }
        Pool::Postgres(p) => {
            let cols = sqlx::query(
                "SELECT table_name::text, column_name::text FROM information_schema.columns \
                 WHERE table_schema = 'public'",
            )
            .fetch_all(p)
            .await
            .unwrap();
            for row in cols {
                let (t, c): (String, String) = (row.get(0), row.get(1));
                columns_scanned += 1;
                for n in NEEDLES {
                    let hits: i64 = sqlx::query_scalar(&format!(
                        "SELECT COUNT(*) FROM \"{t}\" WHERE lower(\"{c}\"::text) LIKE $1"
                    ))
                    .bind(format!("%{}%", n.to_lowercase()))
                    .fetch_one(p)
                    .await
                    .unwrap();
                    if hits > 0 {
                        found.push(format!("{t}.{c}: {n}"));
                    }
                }
            }
        }
    }
    assert!(
        columns_scanned > 40,
        "only {columns_scanned} columns scanned"
    );
    assert!(found.is_empty(), "raw identifiers at rest: {found:?}");
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 2);
    app.stop().await;

    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_lowercase();
    assert!(
        logs.contains("records ingested"),
        "the log capture saw the hub"
    );
    for n in NEEDLES {
        assert!(!logs.contains(&n.to_lowercase()), "{n} in the logs");
    }
}
both_backends!(
    no_raw_identifiers,
    identifiers_never_reach_tables_logs_or_responses
);
