//! Generated `vawg.v1` contracts. Generated types stop at the service boundary: services
//! convert them into domain types once, at the edge.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("vawg.v1");

/// Encoded file descriptor set of every vawg.v1 file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("vawg_descriptor");
