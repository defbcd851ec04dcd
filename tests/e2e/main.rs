//! End-to-end tests: a real hub on loopback, real databases, real gRPC. One module per
//! behaviour.

mod definitions;
mod health;
mod telemetry;
