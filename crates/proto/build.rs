//! Compiles the vawg.v1 contracts with protox (no system protoc) and tonic-prost-build, and
//! writes a file descriptor set for gRPC server reflection.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "../../proto";
    println!("cargo:rerun-if-changed={proto}");
    let files = [
        "vawg/v1/common.proto",
        "vawg/v1/record.proto",
        "vawg/v1/definition.proto",
        "vawg/v1/ingest.proto",
        "vawg/v1/metrics.proto",
        "vawg/v1/exchange.proto",
        "vawg/v1/firewall.proto",
    ];
    let fds = protox::compile(files, [proto])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    std::fs::write(
        out.join("vawg_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    // The `grpc` feature adds the tonic services and clients; the messages are the same
    // either way.
    #[cfg(feature = "grpc")]
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    #[cfg(not(feature = "grpc"))]
    prost_build::Config::new().compile_fds(fds)?;
    Ok(())
}
