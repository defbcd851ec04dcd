//! The vawg-hub server: configuration, start-up and wiring of every service behind one
//! listener. `main.rs` is a thin CLI over this library; end-to-end tests use the same seam
//! ([`app::Application`]).

pub mod app;
pub mod config;
pub mod definitions;
pub mod demo;
pub mod keys;
pub mod telemetry;
