//! End-to-end tests: a real hub on loopback, real databases, real gRPC. One module per
//! behaviour.

mod audit;
mod auth;
mod definitions;
mod demo;
mod exchange_fixtures;
mod exchange_notify;
mod exchange_request;
mod deploy;
mod firewall;
mod health;
mod ingest_batch;
mod ingest_common;
mod ingest_idempotency;
mod ingest_limits;
mod ingest_no_raw_identifiers;
mod ingest_synth;
mod metrics;
mod telemetry;
mod ingest_durability;
mod ingest_firewall;
mod metrics_firewall;
mod serve_shutdown;
