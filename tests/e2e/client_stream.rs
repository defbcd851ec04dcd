//! The Rust client (`vawg-client`) against a real hub: streaming with backpressure and
//! per-record results, idempotent resending, token refresh, and retry across a connection
//! that breaks mid-stream.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
};
use vawg_client::{HubClient, ProviderError, RetryPolicy, Tally, is_held, refusal_reason};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Agency, Backend, TestApp};
use vawg_proto::pb;
use vawg_tools::pki::TokenSpec;

use crate::ingest_common::{MET, MET_ID, crime};

fn builder(
    app: &TestApp,
    agency: &Agency,
    addr: std::net::SocketAddr,
) -> vawg_client::HubClientBuilder {
    HubClient::builder(format!("https://{addr}"))
        .server_name("localhost")
        .ca_file(app.pki.ca_cert())
        .unwrap()
        .identity_files(&agency.cert, &agency.key)
        .unwrap()
}

#[tokio::test]
async fn streams_with_per_record_results_and_resends_idempotently() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let client = builder(&app, &police, app.addr)
        .token(police.token())
        .connect()
        .await
        .unwrap();

    let mut records: Vec<pb::VawgRecord> =
        (0..60).map(|i| crime(&format!("cs-{i:03}"), 1)).collect();
    // One invalid record: the rest of its chunk is still stored.
    records[17].classification.as_mut().unwrap().code = "999Z".into();

    let mut seqs = Vec::new();
    let mut refused = Vec::new();
    let chunks = futures::stream::iter(records.chunks(7).map(<[_]>::to_vec).collect::<Vec<_>>());
    let tally = client
        .stream_chunks(chunks, 2, |ack| {
            seqs.push(ack.seq);
            assert_eq!(ack.records.len(), ack.results.len());
            assert!(
                ack.audit_receipt.is_some(),
                "each chunk carries an audit receipt"
            );
            for (r, res) in ack.records.iter().zip(ack.results) {
                assert_eq!(r.source_record_id, res.source_record_id);
                if !is_held(res) {
                    refused.push((res.source_record_id.clone(), refusal_reason(res)));
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(
        seqs,
        (0..9).collect::<Vec<u64>>(),
        "one ack per chunk, in order"
    );
    assert_eq!(
        tally,
        Tally {
            accepted: 59,
            rejected: 1,
            ..Tally::default()
        }
    );
    assert_eq!(refused.len(), 1);
    assert_eq!(refused[0].0, "cs-017");
    assert!(
        refused[0].1.starts_with("classification.code:"),
        "{}",
        refused[0].1
    );

    // Sending it all again is harmless: every valid record comes back DUPLICATE.
    let again = client
        .stream(records.clone(), 25, 4, |_, _| {})
        .await
        .unwrap();
    assert_eq!(
        again,
        Tally {
            duplicate: 59,
            rejected: 1,
            ..Tally::default()
        }
    );
    // And so is the unary path.
    let unary = client.submit(records, 40, |_, _| {}).await.unwrap();
    assert_eq!(unary.duplicate, 59);
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 59);
    app.stop().await;
}

#[tokio::test]
async fn refreshes_an_expiring_token_from_its_provider() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let scopes = vawg_policy::default_scopes(AgencyKind::Police);
    let mut expired = TokenSpec::new(MET_ID, scopes.clone());
    expired.ttl_seconds = -120;
    let expired = app.token(&expired);

    // Without a provider the expired token is refused by the hub.
    let fixed = builder(&app, &police, app.addr)
        .token(expired.clone())
        .retry(RetryPolicy::none())
        .connect()
        .await
        .unwrap();
    let e = fixed
        .submit(vec![crime("tr-1", 1)], 10, |_, _| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, vawg_client::ClientError::Status(s) if s.code() == tonic::Code::Unauthenticated),
        "{e}"
    );

    // With one, the client mints a fresh token before the call.
    let key = app.pki.jwt_key();
    let minted = Arc::new(AtomicUsize::new(0));
    let m = minted.clone();
    let provider = move || -> Result<String, ProviderError> {
        m.fetch_add(1, Ordering::SeqCst);
        let spec = TokenSpec::new(MET_ID, vawg_policy::default_scopes(AgencyKind::Police));
        Ok(vawg_tools::pki::mint_token(&key, &spec)?)
    };
    let refreshing = builder(&app, &police, app.addr)
        .token(expired)
        .token_provider(provider)
        .connect()
        .await
        .unwrap();
    let tally = refreshing
        .submit(vec![crime("tr-1", 1)], 10, |_, _| {})
        .await
        .unwrap();
    assert_eq!(tally.accepted, 1);
    assert_eq!(
        minted.load(Ordering::SeqCst),
        1,
        "one refresh, then the fresh token is reused"
    );
    refreshing
        .submit(vec![crime("tr-2", 1)], 10, |_, _| {})
        .await
        .unwrap();
    assert_eq!(minted.load(Ordering::SeqCst), 1);
    app.stop().await;
}

/// A TCP proxy in front of the hub that cuts its first connection after `budget` bytes from
/// the client, as a load balancer restarting mid-upload would. Later connections pass whole.
async fn flaky_proxy(
    hub: std::net::SocketAddr,
    budget: usize,
) -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let count = connections.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let n = count.fetch_add(1, Ordering::SeqCst);
            let limit = (n == 0).then_some(budget);
            tokio::spawn(pipe(client, hub, limit));
        }
    });
    (addr, connections)
}

async fn pipe(client: TcpStream, hub: std::net::SocketAddr, limit: Option<usize>) {
    let Ok(server) = TcpStream::connect(hub).await else {
        return;
    };
    let (mut cr, mut cw) = client.into_split();
    let (mut sr, mut sw) = server.into_split();
    let up = async move {
        let mut sent = 0usize;
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match cr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let n = limit.map_or(n, |l| n.min(l.saturating_sub(sent)));
            if n == 0 || sw.write_all(&buf[..n]).await.is_err() {
                break;
            }
            sent += n;
        }
    };
    let down = async move {
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
    };
    // Either direction ending ends both: the connection is cut.
    tokio::select! { _ = up => {}, _ = down => {} }
}

#[tokio::test]
async fn a_stream_broken_mid_upload_resumes_and_stores_each_record_once() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    // Enough for the TLS handshake and a few chunks, not for all of them.
    let (proxy, connections) = flaky_proxy(app.addr, 24 * 1024).await;
    let client = builder(&app, &police, proxy)
        .token(police.token())
        .retry(RetryPolicy {
            max_retries: 8,
            initial_backoff: std::time::Duration::from_millis(20),
            max_backoff: std::time::Duration::from_millis(200),
        })
        .connect()
        .await
        .unwrap();
    let records: Vec<pb::VawgRecord> = (0..300).map(|i| crime(&format!("rs-{i:03}"), 1)).collect();
    let mut seqs = Vec::new();
    let mut held = std::collections::BTreeSet::new();
    let tally = client
        .stream(records, 10, 3, |seq, results| {
            seqs.push(seq);
            for r in results {
                assert!(is_held(r), "{}: {}", r.source_record_id, refusal_reason(r));
                held.insert(r.source_record_id.clone());
            }
        })
        .await
        .unwrap();
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the first connection was cut and a new one opened"
    );
    assert_eq!(
        seqs,
        (0..30).collect::<Vec<u64>>(),
        "every chunk acknowledged once, in order"
    );
    assert_eq!(held.len(), 300);
    // Chunks in flight when the connection broke may have been committed: resent, they come
    // back DUPLICATE. Either way each record is stored exactly once.
    assert_eq!(tally.accepted + tally.duplicate, 300, "{tally:?}");
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 300);
    app.stop().await;
}
