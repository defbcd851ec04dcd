//! Abuse limits over real gRPC and mutual TLS: one agency flooding cannot starve another
//! (per-agency rate and in-flight limits, `RESOURCE_EXHAUSTED` for the flooder), request
//! deadlines (`grpc-timeout`) are honoured by the server, slow-loris TLS handshakes are
//! dropped, and oversized or deeply nested messages are refused.

use std::{
    str::FromStr,
    time::{Duration, Instant},
};

use prost::bytes::{Buf, BufMut};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::mpsc,
};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
};
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{AuthChannel, Backend, TestApp};
use vawg_proto::pb;

use crate::{
    ingest_common::{MET, MET_ID, crime},
    security_matrix::every_described_rpc,
};

/// A codec that sends and receives message bytes verbatim, to put hand-crafted encodings on
/// the wire.
#[derive(Clone, Copy, Default)]
struct RawCodec;

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining()).to_vec()))
    }
}

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;
    fn encoder(&mut self) -> RawCodec {
        RawCodec
    }
    fn decoder(&mut self) -> RawCodec {
        RawCodec
    }
}

/// Calls `rpc` with one message of exactly `bytes`; the first response message, if any.
async fn call_bytes(
    channel: AuthChannel,
    rpc: &str,
    bytes: Vec<u8>,
) -> Result<Option<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready()
        .await
        .map_err(|e| Status::unknown(format!("not ready: {e}")))?;
    let path = PathAndQuery::from_str(rpc).expect("path");
    let request = tonic::Request::new(tokio_stream::iter([bytes]));
    let mut responses = grpc.streaming(request, path, RawCodec).await?.into_inner();
    responses.message().await
}

async fn list_definitions(agency: &vawg_e2e::Agency) -> Result<(), Status> {
    agency
        .definitions()
        .list_definitions(pb::ListDefinitionsRequest {})
        .await
        .map(|_| ())
}

#[tokio::test]
async fn abuse_one_flooding_agency_does_not_starve_another() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.agency_requests_per_second = 20;
        s.limits.agency_burst = 20;
        s.limits.agency_max_concurrent = 4;
    })
    .await;
    let flooder = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let victim = app
        .agency("la-e09000001", AgencyKind::LocalAuthority, &["E09000001"])
        .await;

    // The flooder: 16 tasks calling back to back for 3 s (bounded).
    let flood_for = Duration::from_secs(3);
    let mut flood = Vec::new();
    for _ in 0..16 {
        let flooder = flooder.clone();
        flood.push(tokio::spawn(async move {
            let (mut ok, mut exhausted) = (0u32, 0u32);
            let start = Instant::now();
            while start.elapsed() < flood_for {
                match list_definitions(&flooder).await {
                    Ok(()) => ok += 1,
                    Err(s) if s.code() == Code::ResourceExhausted => exhausted += 1,
                    Err(s) => panic!("flooder got {s:?}"),
                }
            }
            (ok, exhausted)
        }));
    }
    // Meanwhile the other agency, well within its own limits, is served promptly.
    let mut worst = Duration::ZERO;
    for _ in 0..15 {
        let t = Instant::now();
        list_definitions(&victim)
            .await
            .expect("the other agency is served");
        worst = worst.max(t.elapsed());
    }
    let (mut ok, mut exhausted) = (0, 0);
    for task in flood {
        let (o, e) = task.await.unwrap();
        ok += o;
        exhausted += e;
    }
    assert!(
        worst < Duration::from_secs(2),
        "the other agency waited {worst:?}"
    );
    assert!(exhausted > 0, "the flooder was never refused ({ok} served)");
    // At most the burst plus the refill over the flood (with slack for the clock).
    assert!(ok <= 20 + 20 * 4 + 10, "the flooder was served {ok} times");
    // Refused calls cost no audit entry: the flood cannot fill the audit log.
    let audited = app
        .audit_entries()
        .await
        .iter()
        .filter(|e| e.agency_id == MET_ID)
        .count();
    assert!(
        audited < (ok + exhausted) as usize && audited <= 2 * ok as usize,
        "{audited} audit entries for {ok} served and {exhausted} refused calls"
    );
    app.stop().await;
}

/// Opens an ingest stream for `agency`, sends one chunk and waits for its acknowledgement;
/// the sender keeps the stream open.
async fn open_stream(
    agency: &vawg_e2e::Agency,
    id: &str,
    timeout: Option<Duration>,
) -> Result<
    (
        mpsc::Sender<pb::StreamRecordsRequest>,
        tonic::Streaming<pb::StreamRecordsResponse>,
    ),
    Status,
> {
    let (tx, rx) = mpsc::channel(4);
    tx.send(pb::StreamRecordsRequest {
        records: vec![crime(id, 1)],
    })
    .await
    .unwrap();
    let mut request = tonic::Request::new(ReceiverStream::new(rx));
    if let Some(t) = timeout {
        request.set_timeout(t);
    }
    let mut acks = agency.ingest().stream_records(request).await?.into_inner();
    acks.message().await?.expect("an acknowledgement");
    Ok((tx, acks))
}

#[tokio::test]
async fn abuse_concurrency_limit_caps_open_streams_per_agency() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.agency_requests_per_second = 0;
        s.limits.agency_max_concurrent = 2;
    })
    .await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let kent = app
        .agency("police-e23000032", AgencyKind::Police, &["E23000032"])
        .await;
    let first = open_stream(&met, "c-1", None).await.unwrap();
    let _second = open_stream(&met, "c-2", None).await.unwrap();
    // A third call of any kind is refused while two are in flight.
    let refused = list_definitions(&met).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("concurrency limit"));
    // Another agency is unaffected.
    list_definitions(&kent).await.unwrap();
    // Closing one stream frees its slot (when its response ends).
    let (tx, mut acks) = first;
    drop(tx);
    while acks.message().await.unwrap().is_some() {}
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match list_definitions(&met).await {
            Ok(()) => break,
            Err(s) if s.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::task::yield_now().await
            }
            Err(s) => panic!("slot not released: {s:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn abuse_request_deadlines_are_honoured_by_the_server() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.agency_max_concurrent = 1;
    })
    .await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    // A stream that stays open past its 500 ms deadline: the server ends it.
    let started = Instant::now();
    let (_tx, mut acks) = open_stream(&met, "d-1", Some(Duration::from_millis(500)))
        .await
        .unwrap();
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(10), acks.message()).await {
            Ok(Ok(Some(_))) => continue,
            Ok(Ok(None)) => panic!("the stream ended without an error"),
            Ok(Err(status)) => break status,
            Err(_) => panic!("the server did not honour the deadline"),
        }
    };
    assert!(ended.code() == Code::DeadlineExceeded, "{ended:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The acknowledged record is kept; the call's in-flight slot is free again.
    assert_eq!(app.store().revisions(MET_ID, "d-1").await.unwrap().len(), 1);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match list_definitions(&met).await {
            Ok(()) => break,
            Err(s) if s.code() == Code::ResourceExhausted && Instant::now() < deadline => {
                tokio::task::yield_now().await
            }
            Err(s) => panic!("slot not released after the deadline: {s:?}"),
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn abuse_slow_loris_tls_handshakes_time_out() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.tls_handshake_timeout_ms = 300;
    })
    .await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    // 20 raw TCP clients: half send nothing, half the first bytes of a ClientHello and stop.
    let mut loris = Vec::new();
    for i in 0..20 {
        let mut tcp = TcpStream::connect(app.addr).await.unwrap();
        if i % 2 == 1 {
            tcp.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
                .await
                .unwrap();
        }
        loris.push(tcp);
    }
    // A real client is served meanwhile.
    let t = Instant::now();
    list_definitions(&met).await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    // Each stalled connection is closed by the hub soon after the handshake timeout.
    let started = Instant::now();
    for mut tcp in loris {
        let mut buf = [0u8; 64];
        let closed = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match tcp.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a slow-loris connection stayed open");
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    app.stop().await;
}

#[tokio::test]
async fn abuse_oversized_messages_are_refused_by_every_service() {
    let app = TestApp::spawn_with(Backend::Sqlite, |s| {
        s.limits.max_message_bytes = 64 * 1024;
    })
    .await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    // Field 1 as a 100 KiB length-delimited value: over the limit whatever the message.
    let mut huge = vec![0x0a];
    let len = 100 * 1024u32;
    let mut v = len;
    while v >= 0x80 {
        huge.push((v as u8) | 0x80);
        v >>= 7;
    }
    huge.push(v as u8);
    huge.extend(std::iter::repeat_n(b'x', len as usize));
    for rpc in every_described_rpc()
        .iter()
        .filter(|r| r.starts_with("/vawg.v1."))
    {
        let status = call_bytes(met.authed(), rpc, huge.clone())
            .await
            .expect_err(rpc);
        assert!(
            matches!(status.code(), Code::OutOfRange | Code::ResourceExhausted),
            "{rpc}: {status:?}"
        );
    }
    app.stop().await;
}

/// `depth` nested groups in unknown field 15 (start-group tag 0x7B, end-group tag 0x7C).
fn nested_groups(depth: usize) -> Vec<u8> {
    let mut bytes = vec![0x7B; depth];
    bytes.extend(std::iter::repeat_n(0x7C, depth));
    bytes
}

#[tokio::test]
async fn abuse_deeply_nested_messages_are_refused() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let met = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let rpc = "/vawg.v1.IngestService/SubmitBatch";
    // Deeper than prost's recursion limit (100): refused while decoding, nothing stored.
    for depth in [101, 500, 10_000] {
        let status = call_bytes(met.authed(), rpc, nested_groups(depth))
            .await
            .expect_err("refused");
        assert!(
            status.message().contains("recursion limit"),
            "depth {depth}: {status:?}"
        );
    }
    // Within the limit the same shape decodes (an empty batch, answered normally).
    let shallow = call_bytes(met.authed(), rpc, nested_groups(20)).await;
    if let Err(status) = &shallow {
        assert!(!status.message().contains("recursion"), "{status:?}");
    }
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 0);
    // And the hub still serves.
    list_definitions(&met).await.unwrap();
    app.stop().await;
}
