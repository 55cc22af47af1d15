//! `neutrino bench`: a Rally-like load generator for any Neutron-compatible API.
//!
//! It runs the same scenario as `../shared/neutron-peer/load.py` (create networks, subnets
//! and ports, list them four ways, delete everything), phase by phase, with one keep-alive
//! connection per worker, and prints the same table, so neutrino and upstream Neutron are
//! measured by one tool in one run. Latency is measured from sending a request to having
//! read its whole body; encoding and decoding happen outside the measurement. Given several
//! servers (replicas on one database) it spreads the requests over them round-robin.
//!
//! Modules: `stats` (percentiles as load.py computes them), `procfs` (server CPU and memory
//! from /proc), `http` (headers, connections, timing), `runner` (a phase: workers pulling
//! jobs from a shared queue), `scenario` (what each round requests), `report` (table and
//! JSON), `run` (the whole run).

mod http;
mod procfs;
mod report;
mod run;
mod runner;
mod scenario;
mod stats;

use std::path::PathBuf;

/// Command-line arguments of `neutrino bench` (load.py's options, plus a few).
#[derive(Debug, Clone, clap::Args)]
pub struct BenchArgs {
    /// Base URL of the Networking API, e.g. http://127.0.0.1:9696; several (repeated or
    /// comma separated: servers on one database) get the requests round-robin, one request
    /// each in turn, and `--scenario hosts`' simulated agents spread over them likewise.
    #[arg(value_name = "URL", required = true, num_args = 1.., value_delimiter = ',')]
    pub urls: Vec<String>,
    /// Networks (each gets one /24 subnet, 10.(i/256).(i%256).0/24).
    #[arg(short = 'n', long, default_value_t = 50)]
    pub networks: usize,
    /// Ports, round-robin over the networks (rules with --scenario security-groups; unused
    /// by --scenario hosts, which takes --changes).
    #[arg(short = 'm', long, default_value_t = 1000)]
    pub ports: usize,
    /// Concurrency levels, comma separated (one full round each).
    #[arg(short = 'c', long, default_value = "1,8")]
    pub concurrency: String,
    /// GETs of the full port list; the filtered lists do five times this.
    #[arg(long, default_value_t = 20)]
    pub list_reps: usize,
    /// Project that owns what the run creates (sent in bodies and as X-Project-Id); a random
    /// one by default.
    #[arg(long)]
    pub project_id: Option<String>,
    /// Name prefix of created resources.
    #[arg(long, default_value = "lg")]
    pub prefix: String,
    /// Extra header 'Name: value' (repeatable); replaces a default header of the same name,
    /// and an empty value removes it ('X-Project-Id:' sends none).
    #[arg(long = "header", value_name = "HEADER")]
    pub headers: Vec<String>,
    /// Keystone token, sent as X-Auth-Token.
    #[arg(long, env = "OS_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Per-request timeout in seconds.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,
    /// Write every result row and the run's settings to this JSON file.
    #[arg(long, value_name = "FILE")]
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
    /// What to run: `ports` is load.py's scenario; `security-groups` creates M rules in one
    /// group, lists and deletes them; `routers` gives N routers an interface each; `hosts`
    /// runs --hosts simulated agents and measures how --changes port creates reach them.
    #[arg(long, value_enum, default_value_t = Scenario::Ports)]
    pub scenario: Scenario,
    /// `--scenario hosts`: simulated host agents (each a watcher with its own host name).
    #[arg(long, default_value_t = 100)]
    pub hosts: usize,
    /// `--scenario hosts`: port creates per round, each on one network and bound to a host.
    #[arg(long, default_value_t = 100)]
    pub changes: usize,
    /// `--scenario hosts`: networks each host has a port on (so it spans them).
    #[arg(long, default_value_t = 3)]
    pub span: usize,
    /// Root pid of the server: CPU per request and RSS of its process tree are reported.
    /// Repeated or comma separated for several servers: their trees are summed.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub server_pid: Vec<u32>,
    /// Root pid of the database server, for its CPU per request (upstream's MariaDB).
    #[arg(long, value_name = "PID")]
    pub db_pid: Option<u32>,
    /// Do not print failed requests and diagnostics.
    #[arg(short, long)]
    pub quiet: bool,
}

/// The request mix of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// load.py's: networks, subnets, ports, four port lists, deletes.
    Ports,
    /// One security group with M rules.
    SecurityGroups,
    /// N routers with one interface each.
    Routers,
    /// Simulated host agents watching their state while ports are bound to them.
    Hosts,
}

impl Scenario {
    /// The name on the command line and in the JSON report.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Ports => "ports",
            Scenario::SecurityGroups => "security-groups",
            Scenario::Routers => "routers",
            Scenario::Hosts => "hosts",
        }
    }
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
    #[error("{0} rounds were aborted because nothing could be created")]
    Aborted(usize),
    #[error("{0} port creates failed or never reached every host they concern")]
    Undelivered(usize),
    #[error("a load worker stopped: {0}")]
    Worker(String),
    #[error("cannot encode the JSON report")]
    Encode(#[source] serde_json::Error),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Runs the scenario and prints the report; fails if any request failed (after printing
/// everything and writing the JSON).
pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    run::run(args).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::ValueEnum;

    #[test]
    fn scenario_names_are_the_command_line_values() {
        for scenario in Scenario::value_variants() {
            let on_the_command_line = scenario.to_possible_value().map(|v| v.get_name().to_string());
            assert_eq!(on_the_command_line.as_deref(), Some(scenario.name()));
        }
    }

    #[test]
    fn defaults_are_load_py_s() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: BenchArgs,
        }
        let cli = match <Cli as clap::Parser>::try_parse_from(["bench", "http://127.0.0.1:9696"]) {
            Ok(cli) => cli,
            Err(e) => panic!("{e}"),
        };
        let a = cli.args;
        assert_eq!((a.networks, a.ports, a.list_reps), (50, 1000, 20));
        assert_eq!((a.concurrency.as_str(), a.prefix.as_str(), a.timeout), ("1,8", "lg", 120.0));
        assert_eq!(a.scenario, Scenario::Ports);
        assert!(a.project_id.is_none() && !a.no_cleanup && !a.quiet);
        assert_eq!(a.urls, ["http://127.0.0.1:9696"]);
        assert!(a.server_pid.is_empty());
    }

    #[test]
    fn several_servers_repeated_or_comma_separated() {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: BenchArgs,
        }
        let argv = ["bench", "http://a:1,http://b:2", "http://c:3", "--server-pid", "10,11", "--server-pid", "12"];
        let a = match <Cli as clap::Parser>::try_parse_from(argv) {
            Ok(cli) => cli.args,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(a.urls, ["http://a:1", "http://b:2", "http://c:3"]);
        assert_eq!(a.server_pid, [10, 11, 12]);
        assert!(<Cli as clap::Parser>::try_parse_from(["bench"]).is_err(), "a URL is required");
    }
}
