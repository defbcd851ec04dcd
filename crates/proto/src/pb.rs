//! Generated `vawg.v1` contracts. Generated types stop at the service boundary: services
//! convert them into domain types once, at the edge.

#![allow(clippy::all, missing_docs)]

include!(concat!(env!("OUT_DIR"), "/vawg.v1.rs"));

/// Encoded file descriptor set of every vawg.v1 file, for gRPC server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/vawg_descriptor.bin"));
