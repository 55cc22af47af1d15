//! `neutrino bench` without the rest of the CLI: `cargo run --release -p neutrino-bench
//! --example bench -- URL [options]`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: neutrino_bench::BenchArgs,
}

#[tokio::main]
async fn main() -> Result<(), neutrino_bench::BenchError> {
    neutrino_bench::run(Cli::parse().args).await
}
