//! End-to-end tests: a real hub on loopback, real databases, real gRPC. One module per
//! behaviour.

mod definitions;
mod health;
mod telemetry;
mod deploy;
mod auth;
mod firewall;
mod audit;
mod ingest_batch;
mod ingest_common;
mod ingest_idempotency;
mod ingest_limits;
mod ingest_no_raw_identifiers;
mod ingest_synth;
