//! `neutrino`: the server, the load generator and an OpenStack-style client in one binary.

mod commands;
mod demo;
mod kv;
mod output;

use clap::{Parser, Subcommand};
use commands::{diagnose, floating_ip, network, port, router, security_group, subnet, ResourceArgs};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "neutrino", version, about = "OpenStack Networking, rebuilt in Rust")]
struct Cli {
    /// Log lines as text (the default) or as one JSON object per line (for log collectors).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

/// How log lines are written to standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

/// Logs to standard error under `RUST_LOG` (default `info`).
fn init_logs(format: LogFormat) {
    let filter = || {
        tracing_subscriber::EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
    };
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            // Colour only on a terminal: agents and servers usually log to files.
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .init(),
        // One object per line: timestamp, level, target, fields (message included), spans.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_env_filter(filter())
            .with_writer(std::io::stderr)
            .with_current_span(false)
            .init(),
    }
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
    /// A whole cloud on this machine in network namespaces: server, compute hosts with
    /// agents, two VMs pinging across VXLAN (root; cleans up on exit).
    Demo(demo::DemoArgs),
    /// Run the host agent: registers the host, watches its desired state and wires it.
    Agent(Box<neutrino_agent::cli::AgentArgs>),
    /// Run the Rally-like load scenario against a Networking API.
    Bench(neutrino_bench::BenchArgs),
    /// Networks: create, list, show, set, delete.
    Network(ResourceArgs<network::NetworkCmd>),
    /// Subnets: create, list, show, set, delete.
    Subnet(ResourceArgs<subnet::SubnetCmd>),
    /// Ports: create, list, show, set, delete.
    Port(ResourceArgs<port::PortCmd>),
    /// Routers: create, list, show, set, unset, delete, add/remove subnet or port.
    Router(ResourceArgs<router::RouterCmd>),
    /// Floating IPs.
    #[command(subcommand)]
    Floating(FloatingCmd),
    /// Security groups and their rules.
    #[command(subcommand)]
    Security(SecurityCmd),
    /// Where a port's packets stop: its path hop by hop, from the server's and the agents'
    /// view (admin).
    Diagnose(ResourceArgs<diagnose::DiagnoseCmd>),
}

#[derive(Subcommand)]
enum FloatingCmd {
    /// Floating IPs: create, list, show, set, unset, delete.
    Ip(ResourceArgs<floating_ip::FloatingIpCmd>),
}

#[derive(Subcommand)]
enum SecurityCmd {
    /// Security groups: create, list, show, set, delete, rule ...
    Group(ResourceArgs<security_group::SecurityGroupCmd>),
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Add a new signing key; keep the newest `identity.keys_kept`.
    Rotate(neutrino_server::RotateArgs),
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Server(args) => Ok(neutrino_server::run(args).await?),
        Command::Bootstrap(args) => Ok(neutrino_server::bootstrap(args).await?),
        Command::Keys(KeysCmd::Rotate(args)) => Ok(neutrino_server::rotate_keys(args).await?),
        Command::Demo(args) => demo::run(args).await,
        Command::Agent(args) => Ok(neutrino_agent::cli::main(*args).await?),
        Command::Bench(args) => Ok(neutrino_bench::run(args).await?),
        Command::Network(args) => {
            let (ctx, cmd) = args.connect().await?;
            network::run(&ctx, cmd).await
        }
        Command::Subnet(args) => {
            let (ctx, cmd) = args.connect().await?;
            subnet::run(&ctx, cmd).await
        }
        Command::Port(args) => {
            let (ctx, cmd) = args.connect().await?;
            port::run(&ctx, cmd).await
        }
        Command::Router(args) => {
            let (ctx, cmd) = args.connect().await?;
            router::run(&ctx, cmd).await
        }
        Command::Floating(FloatingCmd::Ip(args)) => {
            let (ctx, cmd) = args.connect().await?;
            floating_ip::run(&ctx, cmd).await
        }
        Command::Security(SecurityCmd::Group(args)) => {
            let (ctx, cmd) = args.connect().await?;
            security_group::run(&ctx, cmd).await
        }
        Command::Diagnose(args) => {
            let (ctx, cmd) = args.connect().await?;
            diagnose::run(&ctx, cmd).await
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logs(cli.log_format);
    match run(cli.command).await {
        Ok(()) => ExitCode::SUCCESS,
        // A log collector reading JSON gets the fatal error as one more object.
        Err(e) if cli.log_format == LogFormat::Json => {
            tracing::error!(error = %format!("{e:#}"), "exiting");
            ExitCode::FAILURE
        }
        Err(e) => {
            // The whole cause chain on one line, never a backtrace.
            eprintln!("Error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("neutrino").chain(args.iter().copied()))
    }

    #[test]
    fn client_options_go_anywhere_after_the_resource() {
        let cli = parse(&["network", "--os-url", "http://h:1", "list", "-f", "json", "-c", "ID"]);
        let Ok(Cli { command: Command::Network(args), .. }) = cli else { panic!("not parsed as network") };
        assert_eq!(args.client.os_url.as_deref(), Some("http://h:1"));
        assert_eq!(args.output.format, output::Format::Json);
        assert_eq!(args.output.columns, ["ID"]);
    }

    #[test]
    fn malformed_key_value_options_fail_at_parse_time() {
        let err = parse(&["port", "create", "p", "--network", "n", "--fixed-ip", "subnet"]).err();
        let text = err.map(|e| e.to_string()).unwrap_or_default();
        assert!(text.contains("expected comma separated 'key=value' pairs"), "{text}");
        let err =
            parse(&["subnet", "create", "s", "--network", "n", "--subnet-range", "10.0.0.0/24", "--ip-version", "5"]);
        assert!(err.is_err(), "IP version 5 accepted");
        assert!(parse(&["network", "create", "n", "--enable", "--disable"]).is_err());
        assert!(parse(&["network", "delete"]).is_err(), "delete needs at least one name");
    }

    #[test]
    fn log_format_is_text_unless_json_is_asked_for_on_either_side_of_the_command() {
        assert_eq!(parse(&["server"]).map(|c| c.log_format).ok(), Some(LogFormat::Text));
        assert_eq!(parse(&["server", "--log-format", "json"]).map(|c| c.log_format).ok(), Some(LogFormat::Json));
        assert_eq!(parse(&["--log-format", "json", "agent"]).map(|c| c.log_format).ok(), Some(LogFormat::Json));
        assert!(parse(&["server", "--log-format", "xml"]).is_err());
    }

    #[test]
    fn server_options_stay_apart_from_client_options() {
        assert!(parse(&["server", "--os-url", "http://h:1"]).is_err());
    }
}
