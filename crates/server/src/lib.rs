//! The vawg-hub server, serving only: configuration, start-up and wiring of every service
//! behind one listener, the `DefinitionService`, health, the dashboard, pseudonymisation keys
//! and telemetry. The `vawg-hub` binary is a thin command line over this library (and over
//! `vawg-tools` and `vawg-loader`); end-to-end tests use the same seam
//! ([`app::Application`]).

pub mod app;
pub mod config;
pub mod dashboard;
pub mod definitions;
pub mod health;
pub mod keys;
pub mod reclassify;
pub mod telemetry;
