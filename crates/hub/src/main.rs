//! The `vawg-hub` command: serve the hub, run the demo, and the operator's tools. A thin shell:
//! the command line is parsed here and each command runs from the library that owns it
//! (`vawg-server`, `vawg-tools`, `vawg-loader`), or from the operator's modules beside this
//! file.

mod admin;
mod cli;
mod metrics_cli;

use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    cli::Cli::parse().command.run().await
}
