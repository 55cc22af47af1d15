//! Rally-like load generator for any Neutron-compatible API (stub: being written).

/// Command-line arguments of `neutrino bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the Networking API, e.g. http://127.0.0.1:9696
    pub url: String,
}

/// Failures of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("not implemented yet")]
    Unimplemented,
}

/// Runs the scenario and prints the report.
pub async fn run(_args: BenchArgs) -> Result<(), BenchError> {
    Err(BenchError::Unimplemented)
}
