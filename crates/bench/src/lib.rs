//! `neutrino bench`: a Rally-like load generator for any Neutron-compatible API.
//!
//! It runs the same scenario as `../shared/neutron-peer/load.py` (create networks, subnets
//! and ports, list them four ways, delete everything), phase by phase, with one keep-alive
//! connection per worker, and prints the same table — so neutrino and upstream Neutron are
//! measured by one tool in one run. Latency is measured from sending a request to having
//! read its whole body; decoding happens afterwards, outside the measurement.

mod procfs;
mod scenario;
mod stats;

use std::path::PathBuf;

/// Command-line arguments of `neutrino bench`.
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the Networking API, e.g. http://127.0.0.1:9696
    pub url: String,
    /// Networks (each gets one /24 subnet).
    #[arg(short = 'n', long, default_value_t = 50)]
    pub networks: usize,
    /// Ports, round-robin over the networks.
    #[arg(short = 'm', long, default_value_t = 1000)]
    pub ports: usize,
    /// Concurrency levels, comma separated (one full round each).
    #[arg(short = 'c', long, default_value = "1,8")]
    pub concurrency: String,
    /// GETs of the full port list; the filtered lists do five times this.
    #[arg(long, default_value_t = 20)]
    pub list_reps: usize,
    /// Project that owns what the run creates (sent in bodies and as X-Project-Id).
    #[arg(long)]
    pub project_id: Option<String>,
    /// Name prefix of created resources.
    #[arg(long, default_value = "lg")]
    pub prefix: String,
    /// Extra header 'Name: value' (repeatable).
    #[arg(long = "header")]
    pub headers: Vec<String>,
    /// Keystone token (X-Auth-Token).
    #[arg(long, env = "OS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Write every result row to this JSON file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Free text stored in the JSON.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Skip deleting leftovers named PREFIX* first.
    #[arg(long)]
    pub no_cleanup: bool,
    /// Do not lift the project's quotas before the run (Rally's `quotas` context does it;
    /// Neutron's default of 500 ports per project would otherwise cap the scenario).
    #[arg(long)]
    pub keep_quotas: bool,
    /// What to run: `ports` (load.py's scenario), `security-groups` (M rules in one group,
    /// listed and deleted) or `routers` (N routers with an interface each).
    #[arg(long, default_value = "ports", value_parser = ["ports", "security-groups", "routers"])]
    pub scenario: String,
    /// Root pid of the server: CPU per request and RSS of its process tree are reported.
    #[arg(long)]
    pub server_pid: Option<u32>,
}

/// Failures of a benchmark run.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("invalid argument: {0}")]
    Args(String),
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    #[error("{0} requests failed")]
    Failed(usize),
    #[error("setup failed: {0}")]
    Setup(String),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the scenario and prints the report; fails if any request failed.
pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    scenario::run(args).await
}
