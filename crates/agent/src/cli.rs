//! `neutrino agent`: flags, the config file with the same keys, and start-up.

use crate::api::{Credentials, ServerApi};
use crate::config::L2Config;
use crate::runner::{self, AgentSettings};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use url::Url;

/// Flags of `neutrino agent`. Every flag has a key of the same name (with `_`) in the
/// `--config-file` TOML; flags win.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AgentArgs {
    /// TOML file with the same keys as these flags.
    #[arg(long, env = "NEUTRINO_AGENT_CONFIG")]
    pub config_file: Option<PathBuf>,
    /// This host's name, as Nova puts it in `binding:host_id` (default: the hostname).
    #[arg(long)]
    pub host: Option<String>,
    /// A server URL; repeat for several replicas.
    #[arg(long = "server")]
    pub servers: Vec<String>,
    /// The VXLAN tunnel endpoint on this host.
    #[arg(long)]
    pub local_ip: Option<IpAddr>,
    /// `physnet:interface` for flat and VLAN networks; repeat or comma-separate.
    #[arg(long = "physical-interface-mappings", value_delimiter = ',')]
    pub physical_interface_mappings: Vec<String>,
    /// Keystone URL of the service user (default: the first server, whose embedded
    /// identity answers `/v3`).
    #[arg(long, env = "OS_AUTH_URL")]
    pub auth_url: Option<String>,
    #[arg(long, env = "OS_USERNAME")]
    pub username: Option<String>,
    #[arg(long, env = "OS_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    #[arg(long, env = "OS_PROJECT_NAME")]
    pub project_name: Option<String>,
    #[arg(long, env = "OS_USER_DOMAIN_NAME")]
    pub user_domain_name: Option<String>,
    #[arg(long, env = "OS_PROJECT_DOMAIN_NAME")]
    pub project_domain_name: Option<String>,
    /// A file holding a token, re-read whenever the server refuses it.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// For servers running `--noauth`: the project id to send.
    #[arg(long)]
    pub noauth_project: Option<String>,
    /// Seconds between heartbeats (default 30).
    #[arg(long)]
    pub report_interval: Option<f64>,
    /// Seconds between full reconciles without any event (default 10).
    #[arg(long)]
    pub resync_interval: Option<f64>,
    /// Availability zone of this host's DHCP and L3 services (default `nova`, as Neutron's).
    #[arg(long)]
    pub availability_zone: Option<String>,
    /// Longest pause, in seconds, between attempts to reach unreachable servers (default 30).
    #[arg(long)]
    pub max_backoff: Option<f64>,
    /// Serve `GET /metrics` (Prometheus text format, no token) on this ADDR:PORT (default:
    /// none; use loopback or the management address, never one VMs reach).
    #[arg(long, value_name = "ADDR:PORT")]
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Connections the metrics listener serves at once, at most 2 per address (default 4).
    #[arg(long)]
    pub metrics_max_connections: Option<usize>,
    /// `neutrino diagnose` questions answered at once (default 4).
    #[arg(long)]
    pub diagnose_max_concurrent: Option<usize>,
    /// Seconds one `neutrino diagnose` ask may take before it is reported as given up (default 2).
    #[arg(long)]
    pub diagnose_ask_timeout: Option<f64>,
    /// Also run the DHCP service (dnsmasq per network in `qdhcp-` namespaces), reported as a
    /// DHCP agent.
    #[arg(long)]
    pub dhcp: bool,
    /// DHCP lease time in seconds (default 86400, Neutron's `dhcp_lease_duration`).
    #[arg(long)]
    pub dhcp_lease_duration: Option<u32>,
    /// Where dnsmasq's per-network files live (default /var/lib/neutrino/dhcp).
    #[arg(long)]
    pub dhcp_state_dir: Option<PathBuf>,
    /// Domain of the guests' names in DHCP and DNS (default `openstacklocal`; empty: none).
    #[arg(long)]
    pub dns_domain: Option<String>,
    /// DNS servers dnsmasq forwards other names to (`<ip>[#<port>]`; repeat or
    /// comma-separate; default none: such names are refused).
    #[arg(long = "dnsmasq-dns-servers", value_delimiter = ',')]
    pub dnsmasq_dns_servers: Vec<String>,
    /// Without dnsmasq_dns_servers, forward to the host's resolv.conf servers instead.
    #[arg(long)]
    pub dnsmasq_local_resolv: bool,
    /// DNS queries dnsmasq forwards at once per network (default 150).
    #[arg(long)]
    pub dnsmasq_dns_forward_max: Option<u32>,
    /// Names dnsmasq caches per network (default 150, at most 10000).
    #[arg(long)]
    pub dnsmasq_cache_size: Option<u32>,
    /// DNS queries per second one guest address may send its resolver (default 100; 0: no limit).
    #[arg(long)]
    pub dns_query_rate_per_client: Option<u32>,
    /// DNS queries per second a network may send its resolver (default 1000; 0: no limit).
    #[arg(long)]
    pub dns_query_rate_per_network: Option<u32>,
    /// Serve metadata from the DHCP namespace of networks with a subnet no router is
    /// attached to (default true).
    #[arg(long)]
    pub enable_isolated_metadata: Option<bool>,
    /// Serve metadata from every DHCP namespace (default false).
    #[arg(long)]
    pub force_metadata: bool,
    /// Nova's metadata API (e.g. http://controller:8775); enables the metadata proxy in the
    /// DHCP and router namespaces.
    #[arg(long)]
    pub nova_metadata_url: Option<String>,
    /// Port of the metadata proxy in each router namespace, where the router redirects
    /// 169.254.169.254:80 (default 9697, Neutron's L3 agent `metadata_port`).
    #[arg(long)]
    pub metadata_port: Option<u16>,
    /// The secret shared with Nova that signs `X-Instance-ID`.
    #[arg(long, env = "NEUTRINO_METADATA_SECRET", hide_env_values = true)]
    pub metadata_proxy_shared_secret: Option<String>,
    /// Seconds a VM has to send a whole request head to the metadata proxy (default 30,
    /// haproxy's `timeout http-request` in Neutron).
    #[arg(long)]
    pub metadata_header_read_timeout: Option<f64>,
    /// Seconds an idle keep-alive connection to the metadata proxy stays open (default 30).
    #[arg(long)]
    pub metadata_keepalive_timeout: Option<f64>,
    /// Seconds a metadata request may take, Nova's answer included (default 65).
    #[arg(long)]
    pub metadata_request_timeout: Option<f64>,
    /// Connections the metadata proxy serves at once per network (default 128).
    #[arg(long)]
    pub metadata_max_connections: Option<usize>,
    /// Connections one VM address may hold to the metadata proxy (default 16; 0 = no cap).
    #[arg(long)]
    pub metadata_max_connections_per_address: Option<usize>,
    /// Also run routers (`qrouter-` namespaces, SNAT, floating IPs), reported as an L3 agent.
    #[arg(long)]
    pub l3: bool,
    /// Where radvd's per-router files live (default /var/lib/neutrino/ra, Neutron's
    /// `ra_confs`).
    #[arg(long)]
    pub ra_state_dir: Option<PathBuf>,
    /// radvd's `MinRtrAdvInterval` in seconds (default 30, Neutron's `min_rtr_adv_interval`).
    #[arg(long)]
    pub min_rtr_adv_interval: Option<u32>,
    /// radvd's `MaxRtrAdvInterval` in seconds (default 100, Neutron's `max_rtr_adv_interval`).
    #[arg(long)]
    pub max_rtr_adv_interval: Option<u32>,
    /// Do not enforce security groups and anti-spoofing (Neutron's
    /// `enable_security_group = False`).
    #[arg(long)]
    pub no_security_groups: bool,
    /// Run the preflight checks, print them and exit (non-zero when one fails).
    #[arg(long)]
    pub check: bool,
    /// Output of `--check`.
    #[arg(long, short = 'f', value_enum, default_value_t)]
    pub format: crate::check::start::Format,
    /// The largest tenant MTU the underlay must carry while the server has no VXLAN network
    /// (default: assumed 1450, a default server's).
    #[arg(long)]
    pub tenant_mtu: Option<u32>,
    /// UDP port on local_ip where this agent answers peers' probes (default 4790; 0: off).
    #[arg(long)]
    pub probe_port: Option<u16>,
    /// Seconds the clock may differ from the server's (default 60).
    #[arg(long)]
    pub clock_tolerance: Option<u64>,
    /// Checks whose FAIL only warns at start (repeat or comma-separate).
    #[arg(long = "downgrade-checks", value_delimiter = ',')]
    pub downgrade_checks: Vec<String>,
    #[command(flatten)]
    pub ovs: OvsArgs,
}

/// The config file: the flags' keys.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    host: Option<String>,
    #[serde(default)]
    servers: Vec<String>,
    local_ip: Option<IpAddr>,
    #[serde(default)]
    physical_interface_mappings: Vec<String>,
    auth_url: Option<String>,
    username: Option<String>,
    password: Option<String>,
    project_name: Option<String>,
    user_domain_name: Option<String>,
    project_domain_name: Option<String>,
    token_file: Option<PathBuf>,
    noauth_project: Option<String>,
    report_interval: Option<f64>,
    resync_interval: Option<f64>,
    availability_zone: Option<String>,
    max_backoff: Option<f64>,
    metrics_listen: Option<std::net::SocketAddr>,
    metrics_max_connections: Option<usize>,
    diagnose_max_concurrent: Option<usize>,
    diagnose_ask_timeout: Option<f64>,
    #[serde(default)]
    dhcp: bool,
    dhcp_lease_duration: Option<u32>,
    dhcp_state_dir: Option<PathBuf>,
    dns_domain: Option<String>,
    #[serde(default)]
    dnsmasq_dns_servers: Vec<String>,
    #[serde(default)]
    dnsmasq_local_resolv: bool,
    dnsmasq_dns_forward_max: Option<u32>,
    dnsmasq_cache_size: Option<u32>,
    dns_query_rate_per_client: Option<u32>,
    dns_query_rate_per_network: Option<u32>,
    enable_isolated_metadata: Option<bool>,
    #[serde(default)]
    force_metadata: bool,
    nova_metadata_url: Option<String>,
    metadata_port: Option<u16>,
    metadata_proxy_shared_secret: Option<String>,
    metadata_header_read_timeout: Option<f64>,
    metadata_keepalive_timeout: Option<f64>,
    metadata_request_timeout: Option<f64>,
    metadata_max_connections: Option<usize>,
    metadata_max_connections_per_address: Option<usize>,
    #[serde(default)]
    l3: bool,
    ra_state_dir: Option<PathBuf>,
    min_rtr_adv_interval: Option<u32>,
    max_rtr_adv_interval: Option<u32>,
    #[serde(default)]
    no_security_groups: bool,
    tenant_mtu: Option<u32>,
    probe_port: Option<u16>,
    clock_tolerance: Option<u64>,
    #[serde(default)]
    downgrade_checks: Vec<String>,
    mechanism: Option<String>,
    ovs_rundir: Option<PathBuf>,
    #[serde(default)]
    bridge_mappings: Vec<String>,
    ovs_datapath_type: Option<String>,
    ovs_hybrid_plug: Option<bool>,
    integration_bridge: Option<String>,
    tunnel_bridge: Option<String>,
}

/// Why the agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
    #[error(transparent)]
    Api(#[from] crate::api::ApiError),
    #[error("cannot open the kernel's netlink interface")]
    Netlink(#[source] std::io::Error),
    #[error(transparent)]
    Check(#[from] crate::check::start::CheckError),
    #[error(transparent)]
    Ovs(#[from] crate::ovs::system::StartupError),
    #[error("cannot listen for metrics on {addr}")]
    MetricsListen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Everything the agent needs, resolved from flags and file.
pub struct Resolved {
    pub settings: AgentSettings,
    pub servers: Vec<Url>,
    pub credentials: Credentials,
    pub checks: crate::check::CheckSettings,
}

impl AgentArgs {
    /// Merges the flags over the config file and checks the result.
    pub fn resolve(mut self) -> Result<Resolved, StartError> {
        let mut file = match &self.config_file {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).map_err(|source| StartError::Read { path: path.clone(), source })?;
                toml::from_str::<FileConfig>(&text)
                    .map_err(|source| StartError::Parse { path: path.clone(), source })?
            }
            None => FileConfig::default(),
        };
        let dns_keys = dns_keys(&mut self, &mut file);
        let checks = check_keys(&mut self, &mut file)?;
        let interface_mapped =
            !self.physical_interface_mappings.is_empty() || !file.physical_interface_mappings.is_empty();
        let ovs = ovs_keys(&mut self, &mut file, interface_mapped)?;
        let host = self.host.or(file.host).or_else(hostname).filter(|h| !h.is_empty());
        let host = host.ok_or_else(|| invalid("host", "no --host and no hostname".into()))?;
        let servers = if self.servers.is_empty() { file.servers } else { self.servers };
        if servers.is_empty() {
            return Err(invalid("server", "at least one --server URL is needed".into()));
        }
        let servers: Vec<Url> = servers
            .iter()
            .map(|s| Url::parse(s).map_err(|e| invalid("server", format!("'{s}': {e}"))))
            .collect::<Result<_, _>>()?;
        let mappings = if self.physical_interface_mappings.is_empty() {
            file.physical_interface_mappings
        } else {
            self.physical_interface_mappings
        };
        let physical_interface_mappings = interface_mappings(&mappings)?;
        let l2 = L2Config { local_ip: self.local_ip.or(file.local_ip), physical_interface_mappings, ovs };
        let mut settings = AgentSettings::new(host, l2);
        settings.report_interval = seconds("report_interval", self.report_interval.or(file.report_interval), 30.0)?;
        settings.resync_interval = seconds("resync_interval", self.resync_interval.or(file.resync_interval), 10.0)?;
        settings.max_backoff = seconds("max_backoff", self.max_backoff.or(file.max_backoff), 30.0)?;
        settings.metrics_listen = self.metrics_listen.or(file.metrics_listen);
        match self.metrics_max_connections.or(file.metrics_max_connections) {
            Some(0) => return Err(invalid("metrics_max_connections", "must be at least 1".into())),
            Some(n) => settings.metrics_max_connections = n,
            None => {}
        }
        settings.questions = keys::question_limits(
            self.diagnose_max_concurrent.or(file.diagnose_max_concurrent),
            self.diagnose_ask_timeout.or(file.diagnose_ask_timeout),
        )?;
        settings.availability_zone = self.availability_zone.or(file.availability_zone);
        if self.dhcp || file.dhcp {
            let mut dhcp = crate::dhcp::DhcpConfig::default();
            if let Some(dir) = self.dhcp_state_dir.or(file.dhcp_state_dir) {
                dhcp.state_dir = dir;
            }
            if let Some(lease) = self.dhcp_lease_duration.or(file.dhcp_lease_duration) {
                if lease < 120 {
                    return Err(invalid("dhcp_lease_duration", format!("{lease} is below dnsmasq's minimum of 120 s")));
                }
                dhcp.lease_duration = lease;
            }
            dns_keys.apply(&mut dhcp).map_err(|e| invalid(e.key, e.reason))?;
            settings.dhcp = Some(dhcp);
        }
        if self.no_security_groups || file.no_security_groups {
            settings.firewall = None;
        }
        if self.l3 || file.l3 {
            let mut l3 = crate::l3::L3Config::default();
            if let Some(dir) = self.ra_state_dir.or(file.ra_state_dir) {
                l3.ra.state_dir = dir;
            }
            let min = self.min_rtr_adv_interval.or(file.min_rtr_adv_interval).unwrap_or(l3.ra.min_rtr_adv_interval);
            let max = self.max_rtr_adv_interval.or(file.max_rtr_adv_interval).unwrap_or(l3.ra.max_rtr_adv_interval);
            // radvd's own bounds (RFC 4861 6.2.1); it refuses to start outside them.
            if !(4..=1800).contains(&max) {
                return Err(invalid("max_rtr_adv_interval", format!("{max} is not within radvd's 4 to 1800 s")));
            }
            if min < 3 || f64::from(min) > 0.75 * f64::from(max) {
                return Err(invalid(
                    "min_rtr_adv_interval",
                    format!("{min} is not within radvd's 3 s to 0.75 × max_rtr_adv_interval ({max} s)"),
                ));
            }
            (l3.ra.min_rtr_adv_interval, l3.ra.max_rtr_adv_interval) = (min, max);
            settings.l3 = Some(l3);
        }
        if let Some(url) = self.nova_metadata_url.or(file.nova_metadata_url) {
            if settings.dhcp.is_none() && settings.l3.is_none() {
                return Err(invalid(
                    "nova_metadata_url",
                    "the metadata proxy runs in the DHCP and router namespaces: add --dhcp or --l3".into(),
                ));
            }
            let url = Url::parse(&url).map_err(|e| invalid("nova_metadata_url", format!("'{url}': {e}")))?;
            let secret = self
                .metadata_proxy_shared_secret
                .or(file.metadata_proxy_shared_secret)
                .ok_or_else(|| invalid("metadata_proxy_shared_secret", "needed with nova_metadata_url".into()))?;
            let mut metadata = crate::metadata::MetadataConfig::new(url, secret);
            metadata.limits = metadata_limits(MetadataLimitKeys {
                header_read_timeout: self.metadata_header_read_timeout.or(file.metadata_header_read_timeout),
                keepalive_timeout: self.metadata_keepalive_timeout.or(file.metadata_keepalive_timeout),
                request_timeout: self.metadata_request_timeout.or(file.metadata_request_timeout),
                max_connections: self.metadata_max_connections.or(file.metadata_max_connections),
                max_connections_per_address: self
                    .metadata_max_connections_per_address
                    .or(file.metadata_max_connections_per_address),
            })?;
            match self.metadata_port.or(file.metadata_port) {
                Some(0 | crate::metadata::DEFAULT_LISTEN_PORT) => {
                    return Err(invalid("metadata_port", "must not be 0 or 80 (VMs ask port 80)".into()))
                }
                Some(port) => metadata.router_port = port,
                None => {}
            }
            if let Some(l3) = settings.l3.as_mut() {
                l3.metadata_port = Some(metadata.router_port);
            }
            settings.metadata = Some(metadata);
        }
        let credentials = credentials(
            CredentialKeys {
                token_file: self.token_file.or(file.token_file),
                noauth_project: self.noauth_project.or(file.noauth_project),
                username: self.username.or(file.username),
                password: self.password.or(file.password),
                auth_url: self.auth_url.or(file.auth_url),
                project_name: self.project_name.or(file.project_name),
                user_domain_name: self.user_domain_name.or(file.user_domain_name),
                project_domain_name: self.project_domain_name.or(file.project_domain_name),
            },
            &servers,
        )?;
        Ok(Resolved { settings, servers, credentials, checks })
    }
}

/// The DHCP side's DNS and metadata keys, flags over the file.
fn dns_keys(args: &mut AgentArgs, file: &mut FileConfig) -> crate::dhcp::settings::DnsKeys {
    let servers = std::mem::take(&mut args.dnsmasq_dns_servers);
    let file_servers = std::mem::take(&mut file.dnsmasq_dns_servers);
    crate::dhcp::settings::DnsKeys {
        dns_domain: args.dns_domain.take().or(file.dns_domain.take()),
        dnsmasq_dns_servers: if servers.is_empty() { file_servers } else { servers },
        dnsmasq_local_resolv: args.dnsmasq_local_resolv || file.dnsmasq_local_resolv,
        dnsmasq_dns_forward_max: args.dnsmasq_dns_forward_max.or(file.dnsmasq_dns_forward_max),
        dnsmasq_cache_size: args.dnsmasq_cache_size.or(file.dnsmasq_cache_size),
        dns_query_rate_per_client: args.dns_query_rate_per_client.or(file.dns_query_rate_per_client),
        dns_query_rate_per_network: args.dns_query_rate_per_network.or(file.dns_query_rate_per_network),
        enable_isolated_metadata: args.enable_isolated_metadata.or(file.enable_isolated_metadata),
        force_metadata: args.force_metadata || file.force_metadata,
    }
}

/// The Open vSwitch keys, flags over the file.
fn ovs_keys(
    args: &mut AgentArgs,
    file: &mut FileConfig,
    interface_mappings: bool,
) -> Result<Option<crate::ovs::OvsConfig>, StartError> {
    let ovs = std::mem::take(&mut args.ovs).or(OvsArgs {
        mechanism: file.mechanism.take(),
        ovs_rundir: file.ovs_rundir.take(),
        bridge_mappings: std::mem::take(&mut file.bridge_mappings),
        ovs_datapath_type: file.ovs_datapath_type.take(),
        ovs_hybrid_plug: file.ovs_hybrid_plug,
        integration_bridge: file.integration_bridge.take(),
        tunnel_bridge: file.tunnel_bridge.take(),
    });
    ovs.resolve(!(args.no_security_groups || file.no_security_groups), interface_mappings)
}

/// The checks' keys, flags over the file.
fn check_keys(args: &mut AgentArgs, file: &mut FileConfig) -> Result<crate::check::CheckSettings, StartError> {
    let mut c = crate::check::CheckSettings { tenant_mtu: args.tenant_mtu.or(file.tenant_mtu), ..Default::default() };
    if let Some(port) = args.probe_port.or(file.probe_port) {
        c.probe_port = port;
    }
    if let Some(secs) = args.clock_tolerance.or(file.clock_tolerance) {
        c.clock_tolerance = Duration::from_secs(secs);
    }
    let names = std::mem::take(if args.downgrade_checks.is_empty() {
        &mut file.downgrade_checks
    } else {
        &mut args.downgrade_checks
    });
    for name in names.iter().flat_map(|n| n.split(',')).map(str::trim).filter(|n| !n.is_empty()) {
        if !crate::check::CHECK_NAMES.contains(&name) {
            let known = crate::check::CHECK_NAMES.join(", ");
            return Err(invalid("downgrade_checks", format!("no check '{name}' (checks: {known})")));
        }
        c.downgrade.insert(name.to_string());
    }
    Ok(c)
}

fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname").ok().map(|h| h.trim().to_string())
}

/// Runs the agent with the real kernel dataplane until SIGINT or SIGTERM.
pub async fn main(args: AgentArgs) -> Result<(), StartError> {
    let (check_only, format) = (args.check, args.format);
    let Resolved { mut settings, servers, credentials, checks } = args.resolve()?;
    tracing::info!(host = %settings.host, servers = ?servers.iter().map(Url::as_str).collect::<Vec<_>>(),
        local_ip = ?settings.l2.local_ip, mappings = ?settings.l2.physical_interface_mappings, "neutrino agent starting");
    let api = Arc::new(ServerApi::new(servers, credentials)?);
    let input = crate::check::CheckInput { settings: settings.clone(), checks };
    if check_only {
        return Ok(crate::check::start::check_only(&input, &api, format).await?);
    }
    settings.start_conditions = crate::check::start::at_start(&input, &api).await?;
    if let Some(ovs) = &settings.l2.ovs {
        crate::ovs::system::check(&crate::ovs::system::OvsSwitch::new(ovs), ovs).await?;
    }
    let dataplane = crate::l2::netlink::NetlinkDataplane::new().map_err(StartError::Netlink)?;
    let events = crate::events::watch_links().map_err(StartError::Netlink)?;
    if let Some(ovs) = &settings.l2.ovs {
        // Dropping the handle leaves the watcher running for the agent's lifetime.
        drop(crate::ovs::events::watch_interfaces(ovs.rundir.clone(), events.clone()));
    }
    let clock = Arc::new(crate::clock::TokioClock);
    if let Some(addr) = settings.metrics_listen {
        let listener =
            tokio::net::TcpListener::bind(addr).await.map_err(|source| StartError::MetricsListen { addr, source })?;
        tracing::info!(%addr, "metrics listening");
        tokio::spawn(crate::metrics::serve(
            settings.metrics.clone(),
            listener,
            crate::metrics::limits(settings.metrics_max_connections),
            std::future::pending(),
        ));
    }
    runner::run(settings, api, dataplane, events, clock, shutdown_signal()).await;
    Ok(())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

fn invalid(key: &'static str, reason: String) -> StartError {
    StartError::Invalid { key, reason }
}

/// A duration in seconds from a flag or the file, within 0.05..=3600 s.
fn seconds(key: &'static str, v: Option<f64>, default: f64) -> Result<Duration, StartError> {
    let v = v.unwrap_or(default);
    if !(0.05..=3600.0).contains(&v) {
        return Err(invalid(key, format!("{v} is not between 0.05 and 3600 seconds")));
    }
    Ok(Duration::from_secs_f64(v))
}

/// `physnet:iface` mappings (comma-separated within an entry too), each physnet once.
fn interface_mappings(mappings: &[String]) -> Result<BTreeMap<String, String>, StartError> {
    let mut out = BTreeMap::new();
    for m in mappings.iter().flat_map(|m| m.split(',')).filter(|m| !m.trim().is_empty()) {
        let (physnet, iface) = m
            .trim()
            .split_once(':')
            .filter(|(p, i)| !p.is_empty() && !i.is_empty() && i.len() <= 15)
            .ok_or_else(|| invalid("physical_interface_mappings", format!("'{m}' is not physnet:interface")))?;
        if out.insert(physnet.to_string(), iface.to_string()).is_some() {
            return Err(invalid("physical_interface_mappings", format!("physnet {physnet} mapped twice")));
        }
    }
    Ok(out)
}

mod keys;
mod ovs;
use keys::{credentials, metadata_limits, CredentialKeys, MetadataLimitKeys};
pub use ovs::OvsArgs;

#[cfg(test)]
mod tests;
