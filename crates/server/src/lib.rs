//! The vawg-hub server: configuration, start-up and wiring of every service behind one
//! listener. `main.rs` is a thin CLI over this library; end-to-end tests use the same seam
//! ([`app::Application`]).

pub mod admin;
pub mod app;
pub mod bench;
pub mod bench_hub;
pub mod bench_load;
pub mod bench_notify;
pub mod bench_query;
pub mod bench_rpc;
pub mod config;
pub mod connect;
pub mod dashboard;
pub mod definitions;
pub mod demo;
pub mod health;
pub mod keys;
pub mod metrics_cli;
pub mod pki;
pub mod push;
pub mod report;
pub mod synth;
pub mod telemetry;
