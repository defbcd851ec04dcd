//! `vawg-hub synth` output is deterministic per seed and ingests with zero rejections.

use vawg_e2e::{Backend, TestApp};
use vawg_proto::pb;
use vawg_tools::synth;

use crate::both_backends;

async fn synthetic_journeys_ingest_cleanly(backend: Backend) {
    let data = synth::generate(250, 11);
    assert_eq!(
        data.records,
        synth::generate(250, 11).records,
        "deterministic per seed"
    );
    let app = TestApp::spawn(backend).await;
    let mut accepted = 0;
    for a in &data.agencies {
        let areas: Vec<&str> = a.areas.iter().map(String::as_str).collect();
        let agency = app.agency(&a.id, a.kind, &areas).await;
        let chunks: Vec<pb::StreamRecordsRequest> = data
            .records_of(&a.id)
            .cloned()
            .collect::<Vec<_>>()
            .chunks(100)
            .map(|c| pb::StreamRecordsRequest {
                records: c.to_vec(),
            })
            .collect();
        let mut acks = agency
            .ingest()
            .stream_records(tokio_stream::iter(chunks))
            .await
            .unwrap()
            .into_inner();
        while let Some(ack) = acks.message().await.unwrap() {
            for r in &ack.results {
                assert_eq!(
                    r.status(),
                    pb::RecordStatus::Accepted,
                    "{} {}: {:?}",
                    a.id,
                    r.source_record_id,
                    r.violations
                );
            }
            accepted += ack.summary.unwrap().accepted as usize;
        }
    }
    assert_eq!(accepted, data.records.len());
    assert_eq!(
        app.store().count_records(None).await.unwrap() as usize,
        data.records.len()
    );
    app.stop().await;
}
both_backends!(synth_ingest, synthetic_journeys_ingest_cleanly);
