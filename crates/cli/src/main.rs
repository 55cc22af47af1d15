//! `neutrino`: the server, the load generator and an OpenStack-style client in one binary.

mod commands;
mod kv;
mod output;

use clap::{Parser, Subcommand};
use commands::{network, port, subnet, Globals};

#[derive(Parser)]
#[command(name = "neutrino", version, about = "OpenStack Networking, rebuilt in Rust")]
struct Cli {
    #[command(flatten)]
    globals: Globals,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the API server.
    Server(neutrino_server::ServeArgs),
    /// Create the admin user, project and roles (and a clouds.yaml) in the store.
    Bootstrap(neutrino_server::BootstrapArgs),
    /// Manage the token signing keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Run the Rally-like load scenario against a Networking API.
    Bench(neutrino_bench::BenchArgs),
    /// Networks: create, list, show, set, delete.
    #[command(subcommand)]
    Network(network::NetworkCmd),
    /// Subnets: create, list, show, set, delete.
    #[command(subcommand)]
    Subnet(subnet::SubnetCmd),
    /// Ports: create, list, show, set, delete.
    #[command(subcommand)]
    Port(port::PortCmd),
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Add a new signing key; keep the newest `identity.keys_kept`.
    Rotate(neutrino_server::RotateArgs),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result: anyhow::Result<()> = runtime.block_on(async move {
        match cli.command {
            Command::Server(args) => neutrino_server::run(args).await.map_err(anyhow::Error::from),
            Command::Bootstrap(args) => neutrino_server::bootstrap(args).await.map_err(anyhow::Error::from),
            Command::Keys(KeysCmd::Rotate(args)) => neutrino_server::rotate_keys(args).map_err(anyhow::Error::from),
            Command::Bench(args) => neutrino_bench::run(args).await.map_err(anyhow::Error::from),
            Command::Network(cmd) => network::run(&cli.globals, cmd).await,
            Command::Subnet(cmd) => subnet::run(&cli.globals, cmd).await,
            Command::Port(cmd) => port::run(&cli.globals, cmd).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // The whole cause chain on one line, never a backtrace.
            eprintln!("Error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
