//! Limits: oversize batches, chunks and streams are refused with a clear status, never a panic
//! or a hang; and stream chunks are acknowledged in order.

use tonic_types::StatusExt;
use vawg_domain::identity::AgencyKind;
use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb::{self, RecordStatus};

use crate::{
    both_backends,
    ingest_common::{MET, MET_ID, crime, statuses},
};

async fn oversize_requests_are_refused(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.limits.max_batch_records = 5;
        s.limits.max_stream_records = 8;
        s.limits.max_message_bytes = 64 * 1024;
    })
    .await;
    let police = app.agency(MET_ID, AgencyKind::Police, &[MET]).await;
    let mut ingest = police.ingest();

    // A batch over the limit: INVALID_ARGUMENT with google.rpc.BadRequest details.
    let records: Vec<_> = (0..6).map(|i| crime(&format!("o-{i}"), 1)).collect();
    let status = ingest
        .submit_batch(pb::SubmitBatchRequest { records })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument);
    let bad = status
        .get_details_bad_request()
        .expect("BadRequest details");
    assert_eq!(bad.field_violations[0].field, "records");

    // A message over the size limit is refused by the transport.
    let mut huge = crime("huge", 1);
    huge.case_references.as_mut().unwrap().court_case_number = "X".repeat(100 * 1024);
    let status = ingest
        .submit_batch(pb::SubmitBatchRequest {
            records: vec![huge],
        })
        .await
        .unwrap_err();
    assert!(
        matches!(
            status.code(),
            tonic::Code::OutOfRange | tonic::Code::ResourceExhausted
        ),
        "{status:?}"
    );

    // A stream: chunks acknowledged in order, until the stream's record limit.
    let chunks: Vec<_> = (0..3)
        .map(|c| pb::StreamRecordsRequest {
            records: (0..4).map(|i| crime(&format!("s-{c}-{i}"), 1)).collect(),
        })
        .collect();
    let mut acks = ingest
        .stream_records(tokio_stream::iter(chunks))
        .await
        .unwrap()
        .into_inner();
    let first = acks.message().await.unwrap().unwrap();
    assert_eq!(first.chunk, 0);
    assert_eq!(statuses(&first.results), vec![RecordStatus::Accepted; 4]);
    let second = acks.message().await.unwrap().unwrap();
    assert_eq!(second.chunk, 1);
    let refused = acks.message().await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(refused.message().contains("limit of 8"));
    assert_eq!(app.store().count_records(Some(MET_ID)).await.unwrap(), 8);

    // An oversize chunk ends the stream with INVALID_ARGUMENT.
    let chunk = pb::StreamRecordsRequest {
        records: (0..6).map(|i| crime(&format!("big-{i}"), 1)).collect(),
    };
    let mut acks = ingest
        .stream_records(tokio_stream::iter([chunk]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        acks.message().await.unwrap_err().code(),
        tonic::Code::InvalidArgument
    );
    app.stop().await;
}
both_backends!(limits, oversize_requests_are_refused);
