//! What dnsmasq is told for one network, rendered exactly as Neutron's `Dnsmasq` driver
//! (`neutron/agent/linux/dhcp.py`) renders it, so operators, tools and habits carry over.
//!
//! Pure functions of a [`DhcpNetwork`] and the [`DhcpConfig`]: the command line, the
//! `--dhcp-hostsfile` (`host`), the `--addn-hosts` file (`addn_hosts`), the
//! `--dhcp-optsfile` (`opts`) and the bootstrap lease file (`leases`). Where we differ from
//! Neutron it is said at the spot (`--interface` named, DNS bounds on the command line).
//!
//! The command line decides restarts (dnsmasq reads it once), the three files only need a
//! SIGHUP (dnsmasq re-reads `--dhcp-hostsfile`, `--dhcp-optsfile` and `--addn-hosts` on it):
//! so everything that can change often (ports, their addresses and options, DNS servers,
//! routes) lives in the files, and the command line only holds the subnets' ranges, the
//! interface, the lease time and the MTU, and the agent's own DNS settings (forwarders,
//! domain, bounds), which change only with its configuration.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use neutrino_agent_api::{DhcpFixedIp, DhcpHost, DhcpNetwork, DhcpSubnet};

use super::metadata::{metadata_route, MetadataRoute};
use super::{ns_device_name, DhcpConfig, DhcpError};
use crate::netns::cidr::Cidr;

/// The tag dnsmasq sets on a subnet's requests (`set:subnet-<id>` in its `--dhcp-range`).
pub fn subnet_tag(subnet_id: &str) -> String {
    format!("subnet-{subnet_id}")
}

/// The tag of a port with extra DHCP options (`set:port-<id>` on its host line).
pub fn port_tag(port_id: &str) -> String {
    format!("port-{port_id}")
}

/// Where the metadata proxy listens in the namespace, and the route VMs get to it.
pub const METADATA_CIDR: &str = "169.254.169.254/32";
/// Microsoft's classless static route option, sent with the RFC 3442 one (Neutron's
/// `WIN2k3_STATIC_DNS`).
const MS_CLASSLESS_STATIC_ROUTE: &str = "249";
/// Extra option names that set the host's client identifier instead of an option.
const CLIENT_ID_NAMES: [&str; 2] = ["client-id", "61"];
/// Neutron's `HOST_DHCPV6_TAG`: restricts a host line to DHCPv6 requests.
const HOST_DHCPV6_TAG: &str = "tag:dhcpv6,";

/// The `device_owner` of DHCP ports.
const DEVICE_OWNER_DHCP: &str = "network:dhcp";

/// Neutron's IPv6 address modes.
const DHCPV6_STATEFUL: &str = "dhcpv6-stateful";
const DHCPV6_STATELESS: &str = "dhcpv6-stateless";
const IPV6_SLAAC: &str = "slaac";

/// The files of one network's dnsmasq, in `<state_dir>/<network-id>/` with Neutron's names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkPaths {
    pub dir: PathBuf,
    pub pid: PathBuf,
    pub hosts: PathBuf,
    pub addn_hosts: PathBuf,
    pub opts: PathBuf,
    pub leases: PathBuf,
}

impl NetworkPaths {
    pub fn new(state_dir: &Path, network_id: &str) -> Self {
        let dir = state_dir.join(network_id);
        NetworkPaths {
            pid: dir.join("pid"),
            hosts: dir.join("host"),
            addn_hosts: dir.join("addn_hosts"),
            opts: dir.join("opts"),
            leases: dir.join("leases"),
            dir,
        }
    }
}

/// Everything dnsmasq is given for one network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsmasqConfig {
    /// The program and its arguments, exactly as started (and as `/proc/<pid>/cmdline`
    /// shows them, which is how a running dnsmasq is compared).
    pub argv: Vec<String>,
    /// `--dhcp-hostsfile`: `<mac>,<fqdn>,<ip>[,set:port-<id>]` per address.
    pub hosts: String,
    /// `--addn-hosts`: `<ip>\t<fqdn> <hostname>` per address.
    pub addn_hosts: String,
    /// `--dhcp-optsfile`: `tag:<tag>,option:<name>,<value>` lines.
    pub opts: String,
    /// Things left out, and why (an option for an IP version the port has no address of).
    pub notes: Vec<String>,
}

/// One address of a host as dnsmasq sees it (Neutron's `_iter_hosts` tuple).
struct Alloc<'a> {
    host: &'a DhcpHost,
    ip: IpAddr,
    subnet_id: &'a str,
    hostname: String,
    fqdn: String,
    /// No address to hand out (SLAAC, stateless DHCPv6): at most options.
    no_dhcp: bool,
    /// Nothing at all (SLAAC).
    no_opts: bool,
    /// `tag:dhcpv6,` for IPv6 addresses.
    tag: &'static str,
}

/// Renders the command line and files of `net`.
pub fn render(cfg: &DhcpConfig, net: &DhcpNetwork) -> Result<DnsmasqConfig, DhcpError> {
    let cidrs = subnet_cidrs(net)?;
    let paths = NetworkPaths::new(&cfg.state_dir, &net.network_id);
    let allocs = allocations(cfg, net);
    let mut notes = Vec::new();
    Ok(DnsmasqConfig {
        argv: command_line(cfg, net, &paths, &cidrs),
        hosts: hosts_file(&allocs),
        addn_hosts: addn_hosts_file(&allocs),
        opts: opts_file(cfg, net, &cidrs, &mut notes),
        notes,
    })
}

fn subnet_cidrs(net: &DhcpNetwork) -> Result<BTreeMap<&str, Cidr>, DhcpError> {
    net.subnets
        .iter()
        .map(|s| {
            let cidr = Cidr::parse(&s.cidr).map_err(|source| DhcpError::Cidr {
                network: net.network_id.clone(),
                subnet: s.id.clone(),
                source,
            })?;
            Ok((s.id.as_str(), cidr))
        })
        .collect()
}

/// Neutron's `_build_cmdline_callback`, with a fixed order so that equal inputs give an
/// equal command line (a difference means restart).
fn command_line(
    cfg: &DhcpConfig,
    net: &DhcpNetwork,
    paths: &NetworkPaths,
    cidrs: &BTreeMap<&str, Cidr>,
) -> Vec<String> {
    let path = |p: &Path| p.display().to_string();
    let mut argv = vec![cfg.dnsmasq_path.display().to_string(), "--no-hosts".to_owned()];
    // Neutron: the host's resolv.conf only with `dnsmasq_local_resolv` and no forwarders.
    // Without it and without forwarders, a name the network does not own is refused,
    // never looked up on the host's resolvers.
    if !cfg.dns_servers.is_empty() || !cfg.local_resolv {
        argv.push("--no-resolv".to_owned());
    }
    argv.extend([
        format!("--pid-file={}", path(&paths.pid)),
        format!("--dhcp-hostsfile={}", path(&paths.hosts)),
        format!("--addn-hosts={}", path(&paths.addn_hosts)),
        format!("--dhcp-optsfile={}", path(&paths.opts)),
        format!("--dhcp-leasefile={}", path(&paths.leases)),
        "--dhcp-match=set:ipxe,175".to_owned(),
        "--dhcp-userclass=set:ipxe6,iPXE".to_owned(),
        // Neutron's; it does nothing once --interface is given, so the namespace's
        // `neutrino-dns` table drops DNS queries from outside the network instead.
        "--local-service".to_owned(),
        // --bind-dynamic (not --bind-interfaces) follows addresses added to the interface
        // after the start, so fixing the port's address needs no restart.
        "--bind-dynamic".to_owned(),
        // Neutron relies on the namespace holding one interface; naming it keeps dnsmasq
        // off anything else that shows up there.
        format!("--interface={}", ns_device_name(&net.port.id)),
        "--except-interface=lo".to_owned(),
        // Bounds Neutron leaves at dnsmasq's defaults: forwarded queries in flight, cache.
        format!("--dns-forward-max={}", cfg.dns_limits.forward_max),
        format!("--cache-size={}", cfg.dns_limits.cache_size),
    ]);
    let lease = format!("{}s", cfg.lease_duration);
    let mut possible_leases: u128 = 0;
    for subnet in &net.subnets {
        let Some(cidr) = cidrs.get(subnet.id.as_str()) else { continue };
        let Some(mode) = range_mode(subnet) else { continue };
        let tag = subnet_tag(&subnet.id);
        if subnet.ip_version == 4 {
            argv.push(format!("--dhcp-range=set:{tag},{},{mode},{},{lease}", cidr.network, cidr.netmask()));
        } else {
            if cidr.prefix_len < 64 {
                tracing::debug!(subnet = subnet.id, %cidr, "no DHCPv6 range for a prefix shorter than /64");
                continue;
            }
            argv.push(format!("--dhcp-range=set:{tag},{},{mode},{},{lease}", cidr.network, cidr.prefix_len));
        }
        possible_leases = possible_leases.saturating_add(cidr.size());
    }
    // Neutron: "Do not advertise unknown mtu". Forced: sent even to clients that did not
    // ask for option 26.
    if net.mtu > 0 {
        argv.push(format!("--dhcp-option-force=option:mtu,{}", net.mtu));
    }
    argv.push(format!("--dhcp-lease-max={}", possible_leases.min(u128::from(cfg.lease_max))));
    argv.push("--conf-file=/dev/null".to_owned());
    argv.extend(cfg.dns_servers.iter().map(|server| format!("--server={server}")));
    if !cfg.dns_domain.is_empty() {
        argv.push(format!("--domain={}", cfg.dns_domain));
    }
    argv
}

/// `static` for IPv4, stateful and stateless DHCPv6 and IPv6 without modes (Neutron keeps
/// that old behaviour); none for SLAAC (and other RA-only modes), which get no range.
fn range_mode(subnet: &DhcpSubnet) -> Option<&'static str> {
    if subnet.ip_version == 4 {
        return Some("static");
    }
    let addr_mode = subnet.ipv6_address_mode.as_deref();
    let dhcp = matches!(addr_mode, Some(DHCPV6_STATEFUL) | Some(DHCPV6_STATELESS));
    (dhcp || (addr_mode.is_none() && subnet.ipv6_ra_mode.is_none())).then_some("static")
}

/// Neutron's `_iter_hosts`: one entry per fixed IP on a DHCP subnet, stateless IPv6
/// addresses first (dnsmasq reads a host file from its end and would otherwise answer a
/// DHCPv4 request with the address-less IPv6 line).
fn allocations<'a>(cfg: &DhcpConfig, net: &'a DhcpNetwork) -> Vec<Alloc<'a>> {
    let subnets: BTreeMap<&str, &DhcpSubnet> = net.subnets.iter().map(|s| (s.id.as_str(), s)).collect();
    let v6_mode = |ip: &DhcpFixedIp| {
        subnets.get(ip.subnet_id.as_str()).filter(|s| s.ip_version == 6).map(|s| s.ipv6_address_mode.as_deref())
    };
    let mut out = Vec::new();
    for host in &net.hosts {
        let mut fixed: Vec<&DhcpFixedIp> =
            host.fixed_ips.iter().filter(|ip| subnets.contains_key(ip.subnet_id.as_str())).collect();
        fixed.sort_by_key(|ip| std::cmp::Reverse(v6_mode(ip) == Some(Some(DHCPV6_STATELESS))));
        for ip in fixed {
            let (no_dhcp, no_opts, tag) = match v6_mode(ip) {
                Some(mode) => (
                    matches!(mode, Some(IPV6_SLAAC) | Some(DHCPV6_STATELESS)),
                    mode == Some(IPV6_SLAAC),
                    HOST_DHCPV6_TAG,
                ),
                None => (false, false, ""),
            };
            let (hostname, fqdn) = names_for(cfg, host, ip.ip_address);
            out.push(Alloc {
                host,
                ip: ip.ip_address,
                subnet_id: &ip.subnet_id,
                hostname,
                fqdn,
                no_dhcp,
                no_opts,
                tag,
            });
        }
    }
    out
}

/// Neutron's `_get_dns_assignment`: the server's hostname and FQDN for this address when
/// it sent them (the FQDN's trailing dot dropped: the same name, as dnsmasq's files spell
/// it); else a name of [`hostname_for`] in the agent's `dns_domain`.
fn names_for(cfg: &DhcpConfig, host: &DhcpHost, ip: IpAddr) -> (String, String) {
    if let Some(name) = host.dns_assignment.iter().find(|d| d.ip_address == ip) {
        let hostname = first_line(&name.hostname).to_owned();
        let fqdn = first_line(&name.fqdn).trim_end_matches('.');
        return (hostname.clone(), if fqdn.is_empty() { hostname } else { fqdn.to_owned() });
    }
    let hostname = hostname_for(host, ip);
    let fqdn = if cfg.dns_domain.is_empty() { hostname.clone() } else { format!("{hostname}.{}", cfg.dns_domain) };
    (hostname, fqdn)
}

/// The server's name for the port when it has a DNS name; otherwise Neutron's generated
/// `host-<ip with dashes>` for *this* address (a dual-stack port gets one name per address,
/// as Neutron does without DNS integration). A `dns_name` that merely starts with `host-`
/// is the port's name like any other.
fn hostname_for(host: &DhcpHost, ip: IpAddr) -> String {
    let generated = |ip: IpAddr| format!("host-{}", ip.to_string().replace(['.', ':'], "-"));
    let is_generated = host.fixed_ips.iter().any(|f| generated(f.ip_address) == host.hostname);
    if host.hostname.is_empty() || is_generated {
        generated(ip)
    } else {
        first_line(&host.hostname).to_owned()
    }
}

fn client_id(host: &DhcpHost) -> Option<&str> {
    host.extra_dhcp_opts
        .iter()
        .find(|o| is_client_id_name(&o.opt_name))
        .map(|o| first_line(&o.opt_value))
        .filter(|v| is_safe_client_id(v))
}

/// `client-id` or `61`, in any case (the API matches names case-insensitively too).
fn is_client_id_name(name: &str) -> bool {
    CLIENT_ID_NAMES.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// Whether a client identifier can stand in a hosts line as one field. The API refuses
/// anything else; this keeps a value stored before that check from adding fields (a `,`
/// starts the next one) or breaking the line.
fn is_safe_client_id(value: &str) -> bool {
    !value.is_empty() && value.bytes().all(|b| b.is_ascii_graphic() && !matches!(b, b',' | b'"' | b'\\' | b'\''))
}

/// `[2001:db8::5]` for IPv6, so dnsmasq tells the address from a MAC.
fn literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

/// Neutron's `_output_hosts_file`.
fn hosts_file(allocs: &[Alloc<'_>]) -> String {
    let mut out = String::new();
    for a in allocs {
        let (mac, opts) = (&a.host.mac_address, &a.host.extra_dhcp_opts);
        let set_port = format!("set:{}", port_tag(&a.host.port_id));
        if a.no_dhcp {
            if !a.no_opts && !opts.is_empty() {
                out.push_str(&format!("{mac},{}{set_port}\n", a.tag));
            }
            continue;
        }
        let ip = literal(a.ip);
        let line = match (opts.is_empty(), client_id(a.host)) {
            (true, _) => format!("{mac},{}{},{ip}", a.tag, a.fqdn),
            (false, Some(id)) if opts.len() > 1 => format!("{mac},{}id:{id},{},{ip},{set_port}", a.tag, a.fqdn),
            (false, Some(id)) => format!("{mac},{}id:{id},{},{ip}", a.tag, a.fqdn),
            (false, None) => format!("{mac},{}{},{ip},{set_port}", a.tag, a.fqdn),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Neutron's `_output_addn_hosts_file`: the FQDN first, so reverse lookups answer it.
fn addn_hosts_file(allocs: &[Alloc<'_>]) -> String {
    allocs.iter().map(|a| format!("{}\t{} {}\n", a.ip, a.fqdn, a.hostname)).collect()
}

/// Neutron's `_output_opts_file`: per subnet, then per port; lines joined by newlines.
fn opts_file(cfg: &DhcpConfig, net: &DhcpNetwork, cidrs: &BTreeMap<&str, Cidr>, notes: &mut Vec<String>) -> String {
    let mut lines = subnet_options(cfg, net, cidrs);
    lines.extend(port_options(net, notes));
    lines.extend(dhcp_port_resolvers(net));
    lines.join("\n")
}

/// Neutron's `_generate_opts_per_subnet`. A subnet without `dns_nameservers` gets no DNS
/// option: dnsmasq then offers its own address on the subnet (option 6; over DHCPv6, its
/// global address on the link), so the DHCP port is the guests' resolver.
fn subnet_options(cfg: &DhcpConfig, net: &DhcpNetwork, cidrs: &BTreeMap<&str, Cidr>) -> Vec<String> {
    let mut lines = Vec::new();
    for subnet in &net.subnets {
        if subnet.ip_version == 6 && subnet.ipv6_address_mode.as_deref() == Some(IPV6_SLAAC) {
            continue; // a client that does not use DHCP gets no options
        }
        let tag = subnet_tag(&subnet.id);
        let v = subnet.ip_version;
        if !subnet.dns_nameservers.is_empty() {
            if dns_servers_are_any(&subnet.dns_nameservers) {
                // "Do not announce DNS servers"
                lines.push(format_option(v, &tag, "dns-server", &[]));
            } else {
                let servers: Vec<String> =
                    subnet.dns_nameservers.iter().map(|s| if v == 6 { format!("[{s}]") } else { s.clone() }).collect();
                lines.push(format_option(v, &tag, "dns-server", &[servers.join(",")]));
            }
        }
        if v == 6 {
            // Neutron adds its dns_domain as domain search for IPv6 only (IPv4 guests get
            // it as option 15 from --domain).
            if !cfg.dns_domain.is_empty() {
                lines.push(format_option(v, &tag, "domain-search", std::slice::from_ref(&cfg.dns_domain)));
            }
            continue;
        }
        let mut gateway = subnet.gateway_ip;
        let mut routes = Vec::new();
        for hr in &subnet.host_routes {
            if hr.destination == "0.0.0.0/0" {
                gateway = gateway.or(Some(hr.nexthop));
            } else {
                routes.push(format!("{},{}", hr.destination, hr.nexthop));
            }
        }
        let metadata_hop = match metadata_route(cfg.metadata, subnet) {
            MetadataRoute::DhcpPort => net
                .port
                .fixed_ips
                .iter()
                .find(|ip| ip.subnet_id == subnet.id && ip.ip_address.is_ipv4())
                .map(|ip| ip.ip_address),
            MetadataRoute::Gateway => gateway,
            MetadataRoute::None => None,
        };
        if let Some(hop) = metadata_hop {
            routes.push(format!("{METADATA_CIDR},{hop}"));
        }
        // Other IPv4 subnets of the network are on-link (one segment per network here).
        for other in &net.subnets {
            if other.ip_version == 4 && other.cidr != subnet.cidr {
                let dest = cidrs.get(other.id.as_str()).map(|c| c.to_string()).unwrap_or_else(|| other.cidr.clone());
                routes.insert(0, format!("{dest},0.0.0.0"));
            }
        }
        if !routes.is_empty() {
            // A client given classless routes ignores the router option (RFC 3442), so the
            // default route must be among them.
            if let Some(gw) = gateway {
                routes.push(format!("0.0.0.0/0,{gw}"));
            }
            let routes = routes.join(",");
            lines.push(format_option(v, &tag, "classless-static-route", std::slice::from_ref(&routes)));
            lines.push(format_option(v, &tag, MS_CLASSLESS_STATIC_ROUTE, &[routes]));
        }
        match gateway {
            Some(gw) => lines.push(format_option(v, &tag, "router", &[gw.to_string()])),
            // An empty router option: no default route from DHCP.
            None => lines.push(format_option(v, &tag, "router", &[])),
        }
    }
    lines
}

/// The end of Neutron's `_generate_opts_per_port`: a subnet without `dns_nameservers` served
/// by several DHCP ports (`dhcp_agents_per_network` > 1) gets all of their addresses as
/// resolvers, so a guest keeps one when an agent is down; with one port dnsmasq's own
/// default says the same.
fn dhcp_port_resolvers(net: &DhcpNetwork) -> Vec<String> {
    let others = net.hosts.iter().filter(|h| h.device_owner == DEVICE_OWNER_DHCP).flat_map(|h| &h.fixed_ips);
    let ips: Vec<&DhcpFixedIp> = net.port.fixed_ips.iter().chain(others).collect();
    let mut lines = Vec::new();
    for subnet in &net.subnets {
        let slaac = subnet.ip_version == 6 && subnet.ipv6_address_mode.as_deref() == Some(IPV6_SLAAC);
        if !subnet.dns_nameservers.is_empty() || slaac {
            continue;
        }
        for v4 in [true, false] {
            let servers: Vec<String> = ips
                .iter()
                .filter(|ip| ip.subnet_id == subnet.id && ip.ip_address.is_ipv4() == v4)
                .map(|ip| literal(ip.ip_address))
                .collect();
            if servers.len() > 1 {
                let version = if v4 { 4 } else { 6 };
                lines.push(format_option(version, &subnet_tag(&subnet.id), "dns-server", &[servers.join(",")]));
            }
        }
    }
    lines
}

/// Neutron's `_generate_opts_per_port`, the ports' extra options.
fn port_options(net: &DhcpNetwork, notes: &mut Vec<String>) -> Vec<String> {
    let mut lines = Vec::new();
    for host in &net.hosts {
        let versions: BTreeSet<u8> =
            host.fixed_ips.iter().map(|ip| if ip.ip_address.is_ipv4() { 4 } else { 6 }).collect();
        for opt in &host.extra_dhcp_opts {
            if is_client_id_name(&opt.opt_name) {
                continue; // on the host line instead
            }
            if !versions.contains(&opt.ip_version) {
                notes.push(format!(
                    "port {}: DHCP option {} not served: the port has no IPv{} address",
                    host.port_id, opt.opt_name, opt.ip_version
                ));
                continue;
            }
            lines.push(format_option(
                opt.ip_version,
                &port_tag(&host.port_id),
                &opt.opt_name,
                std::slice::from_ref(&opt.opt_value),
            ));
        }
    }
    lines
}

/// Neutron's `_format_option`: `tag:<tag>[,<extra tag>],<option>[,<values>]`, where the
/// option is `option6:<name>` for IPv6, `option:<name>` for a named IPv4 option and the bare
/// number for a numbered one. Only the first line of any text is used.
fn format_option(ip_version: u8, tag: &str, option: &str, values: &[String]) -> String {
    let option = first_line(option);
    // `tag:foo,bootfile-name`: an extra tag the option is restricted to (the regex
    // `(tag:(.*),)?(.*)$` of Neutron: up to the last comma).
    let (extra_tag, name) = match option.strip_prefix("tag:").and(option.rsplit_once(',')) {
        Some((extra, name)) => (Some(extra), name),
        None => (None, option),
    };
    let name = if ip_version == 6 {
        format!("option6:{name}")
    } else if !name.is_empty() && name.bytes().all(|b| b.is_ascii_digit()) {
        name.to_owned()
    } else {
        format!("option:{name}")
    };
    let mut parts = vec![format!("tag:{tag}")];
    parts.extend(extra_tag.map(str::to_owned));
    parts.push(name);
    parts.extend(values.iter().map(|v| first_line(v).to_owned()));
    parts.join(",")
}

/// Neutron's `is_dns_servers_any_address`: `0.0.0.0` (or `::`) alone means "announce none".
fn dns_servers_are_any(servers: &[String]) -> bool {
    servers.len() == 1 && servers[0].parse::<IpAddr>().is_ok_and(|ip| ip.is_unspecified())
}

fn first_line(s: &str) -> &str {
    s.split('\n').next().unwrap_or_default()
}

/// Neutron's `_output_init_lease_file`: written before each start so that a restarted
/// dnsmasq neither NAKs nor ignores the renewal of a lease it gave before. IPv4 addresses
/// get an infinite (`0`) lease, shortened to the configured time on the next renewal;
/// IPv6 leases cannot be made up (their IAID is unknown), so those of `existing` whose
/// address still belongs to a DHCPv6 host are kept, with its server `duid` line.
pub fn init_leases(cfg: &DhcpConfig, net: &DhcpNetwork, existing: &str) -> String {
    let allocs = allocations(cfg, net);
    let v4: BTreeSet<&str> = net.subnets.iter().filter(|s| s.ip_version == 4).map(|s| s.id.as_str()).collect();
    let mut out = String::new();
    let mut existing_v6: BTreeMap<IpAddr, &str> = BTreeMap::new();
    for line in existing.lines() {
        if line.starts_with("duid ") {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        if let [_, _, ip, _, _] = fields.as_slice() {
            if let Ok(ip @ IpAddr::V6(_)) = ip.trim_matches(['[', ']']).parse::<IpAddr>() {
                existing_v6.insert(ip, line);
            }
        }
    }
    for a in allocs.iter().filter(|a| !a.no_dhcp) {
        if v4.contains(a.subnet_id) {
            out.push_str(&format!("0 {} {} * *\n", a.host.mac_address, a.ip));
        } else if let Some(line) = existing_v6.get(&a.ip) {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
