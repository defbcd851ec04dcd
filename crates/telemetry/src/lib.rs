//! Domain metrics every service records: ingest rejections by reason, firewall denials by
//! purpose, and ingest lag. This library uses only the OpenTelemetry *API*; the `vawg-hub`
//! binary installs the exporting SDK and then calls [`bind`], so until then (and in tests that
//! export nothing) recording costs next to nothing and goes nowhere.
//!
//! Labels are `&'static str` on purpose: reason codes and enum names (`as_str_name()`), never a
//! value built at run time from a request, which is where personal data lives.

use std::{
    sync::{Arc, LazyLock, RwLock},
    time::Duration,
};

use opentelemetry::{
    KeyValue, global,
    metrics::{Counter, Histogram, Meter},
};

/// The instrumentation scope of the hub's instruments.
pub const SCOPE: &str = "vawg-hub";

/// The domain instruments, bound to one meter.
struct Instruments {
    rejections: Counter<u64>,
    denials: Counter<u64>,
    ingest_lag: Histogram<f64>,
    aggregated: Counter<u64>,
    aggregate_batch: Histogram<f64>,
}

impl Instruments {
    fn new(meter: &Meter) -> Self {
        Instruments {
            rejections: meter
                .u64_counter("vawg.ingest.rejections")
                .with_description("Records the ingest service refused, by reason")
                .with_unit("{record}")
                .build(),
            denials: meter
                .u64_counter("vawg.firewall.denials")
                .with_description("Firewall decisions that denied a flow, by purpose")
                .with_unit("{decision}")
                .build(),
            ingest_lag: meter
                .f64_histogram("vawg.ingest.lag")
                .with_description("Time from a record's recording at its agency to its ingest")
                .with_unit("s")
                .with_boundaries(vec![
                    1.0,
                    10.0,
                    60.0,
                    300.0,
                    900.0,
                    3600.0,
                    4.0 * 3600.0,
                    86_400.0,
                    7.0 * 86_400.0,
                    30.0 * 86_400.0,
                ])
                .build(),
            aggregated: meter
                .u64_counter("vawg.aggregate.records")
                .with_description(
                    "Queued record changes the aggregator has applied to the aggregate tables",
                )
                .with_unit("{record}")
                .build(),
            aggregate_batch: meter
                .f64_histogram("vawg.aggregate.batch.duration")
                .with_description("Time to apply one batch of queued changes to the aggregates")
                .with_unit("s")
                .with_boundaries(vec![0.01, 0.05, 0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0])
                .build(),
        }
    }
}

/// Instruments from the global meter as it was first asked for (no-op until an SDK is
/// installed), replaced by [`bind`].
static INSTRUMENTS: LazyLock<RwLock<Arc<Instruments>>> =
    LazyLock::new(|| RwLock::new(Arc::new(Instruments::new(&global::meter(SCOPE)))));

fn instruments() -> Arc<Instruments> {
    INSTRUMENTS
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

/// Records to `meter` from now on (the binary calls this once its meter provider exports).
pub fn bind(meter: &Meter) {
    *INSTRUMENTS.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Instruments::new(meter));
}

/// Counts one record the ingest service rejected. `reason` is a fixed reason code (e.g. an
/// enum's `as_str_name()`), never text derived from the record.
pub fn record_rejection(reason: &'static str) {
    instruments()
        .rejections
        .add(1, &[KeyValue::new("reason", reason)]);
}

/// Counts one flow the firewall denied. `purpose` is the purpose enum's name (e.g.
/// `PURPOSE_SAFEGUARDING`), never free text from the request.
pub fn record_denial(purpose: &'static str) {
    instruments()
        .denials
        .add(1, &[KeyValue::new("purpose", purpose)]);
}

/// Records how long after its recording at the agency a record reached the hub. `agency_kind`
/// is the agency-kind enum's name (e.g. `AGENCY_KIND_POLICE`).
pub fn record_ingest_lag(agency_kind: &'static str, lag: Duration) {
    instruments().ingest_lag.record(
        lag.as_secs_f64(),
        &[KeyValue::new("agency_kind", agency_kind)],
    );
}

/// Records one aggregator batch: how many queued record changes it applied and how long it
/// took. Compared with the ingest rate, it tells whether aggregation keeps up (reads wait for
/// whatever it has not applied yet).
pub fn record_aggregate_batch(records: u64, took: Duration) {
    let i = instruments();
    i.aggregated.add(records, &[]);
    i.aggregate_batch.record(took.as_secs_f64(), &[]);
}
