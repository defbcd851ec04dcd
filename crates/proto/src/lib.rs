//! vawg-proto: the `vawg.v1` contracts as generated Rust, their file descriptor set (for gRPC
//! reflection), the generated API reference, and the hub's **one error model**.
//!
//! - [`pb`]: the generated messages; with the `grpc` feature (on by default) also the tonic
//!   services and clients. Without it this crate is plain prost messages, which is what the
//!   domain crate uses, so the domain never sees tonic.
//! - [`error`]: the error kinds every service error is classified into and, with `grpc`, the
//!   one table from those kinds to `tonic::Status`.
//! - `apidoc`: `docs/api.md`, generated from the comments in `proto/`.

pub mod apidoc;
pub mod error;
pub mod pb;

pub use error::{ErrorKind, FieldViolation};
