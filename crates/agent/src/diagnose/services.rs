//! The checks of what the agent runs for a port: its firewall chains, the network's DHCP
//! (namespace, dnsmasq, the port's host entry) and its router (namespace, addresses,
//! gateway, floating IP NAT).

use std::net::IpAddr;

use neutrino_agent_api::diagnose::{Check, FloatingIpAsk};

use super::answer::{cannot, Findings, Scope};
use super::observer::{parse_if_addr, NsLink, Observer};
use crate::dhcp::dnsmasq::NetworkPaths;
use crate::netns::cidr::IfAddr;

/// The port's dispatch: its device in `table bridge neutrino`'s port maps (`from-ports`,
/// `to-ports`), which jump to its profile's chains (security groups and anti-spoofing,
/// shared by the ports with the same groups; see `firewall`).
pub(super) async fn port_firewall(tap: &str, obs: &dyn Observer, out: &mut Findings) {
    let table = crate::firewall::TABLE;
    // The name goes to nft's command line: a port id is letters, digits and dashes.
    if !crate::dhcp::valid_id(tap) {
        return out.push(Check::PortFirewall, false, format!("{tap:?} is not a port's device name"));
    }
    let wanted = [("bridge", "from-ports"), ("bridge", "to-ports")];
    let mut missing = Vec::new();
    for (family, map) in wanted {
        match obs.nft_element(family, table, map, tap).await {
            Ok(true) => {}
            Ok(false) => missing.push(format!("{tap} missing from map {family} {table} {map}")),
            Err(e) => missing.push(cannot(&format!("map {family} {table} {map}"), &e)),
        }
    }
    if missing.is_empty() {
        let names: Vec<String> = wanted.iter().map(|(f, m)| format!("{f} {m}")).collect();
        out.push(Check::PortFirewall, true, format!("{tap} in maps {} of table {table}", names.join(", ")));
    } else {
        out.push(Check::PortFirewall, false, missing.join("; "));
    }
}

/// `qdhcp-<net>`, its dnsmasq (by its pid file), and the port's line in the hosts file.
pub(super) async fn dhcp(
    scope: &Scope,
    network_id: &str,
    mac: &str,
    ips: &[IpAddr],
    obs: &dyn Observer,
    out: &mut Findings,
) {
    let Some(state_dir) = scope.dhcp_state_dir.as_deref() else {
        let checks = [Check::DhcpNamespace, Check::Dnsmasq, Check::DhcpHost];
        return out.fail_all(&checks, "this agent serves no DHCP (started without --dhcp)");
    };
    let ns = crate::dhcp::namespace_name(network_id);
    let (ok, evidence) = namespace(&ns, obs).await;
    out.push(Check::DhcpNamespace, ok, evidence);
    if !crate::dhcp::valid_id(network_id) {
        let why = format!("{network_id:?} is not a network id");
        return out.fail_all(&[Check::Dnsmasq, Check::DhcpHost], &why);
    }
    let paths = NetworkPaths::new(state_dir, network_id);
    let (ok, evidence) = dnsmasq(&paths, &ns, obs).await;
    out.push(Check::Dnsmasq, ok, evidence);
    let (ok, evidence) = host_entry(&paths, mac, ips, obs).await;
    out.push(Check::DhcpHost, ok, evidence);
}

async fn namespace(ns: &str, obs: &dyn Observer) -> (bool, String) {
    match obs.namespace(ns).await {
        Ok(true) => (true, format!("namespace {ns} exists")),
        Ok(false) => (false, format!("{ns}: no such namespace")),
        Err(e) => (false, cannot(&format!("namespace {ns}"), &e)),
    }
}

async fn dnsmasq(paths: &NetworkPaths, ns: &str, obs: &dyn Observer) -> (bool, String) {
    let pid_file = paths.pid.display();
    let text = match obs.read_file(&paths.pid).await {
        Ok(Some(text)) => text,
        Ok(None) => return (false, format!("{pid_file}: no such file (dnsmasq never started or was cleaned up)")),
        Err(e) => return (false, cannot("dnsmasq's pid file", &e)),
    };
    let Ok(pid) = text.trim().parse::<u32>() else {
        return (false, format!("{pid_file} holds no pid ({:?})", text.trim()));
    };
    match obs.process(pid, ns).await {
        Ok(None) => (false, format!("dnsmasq pid {pid} (from {pid_file}) is not running")),
        Ok(Some(p)) if p.comm != "dnsmasq" => {
            (false, format!("pid {pid} (from {pid_file}) is {}, not dnsmasq", p.comm))
        }
        Ok(Some(p)) if !p.in_namespace => (false, format!("dnsmasq pid {pid} (from {pid_file}) runs outside {ns}")),
        Ok(Some(p)) if p.stopped => {
            (false, format!("dnsmasq pid {pid} (from {pid_file}) is stopped (state T): it answers nobody"))
        }
        Ok(Some(_)) => (true, format!("dnsmasq pid {pid} (from {pid_file}) runs in {ns}")),
        Err(e) => (false, cannot(&format!("pid {pid}"), &e)),
    }
}

/// `[2001:db8::5]` for IPv6, as dnsmasq's hosts file writes it ([`crate::dhcp::dnsmasq`]).
fn literal(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(a) => a.to_string(),
        IpAddr::V6(a) => format!("[{a}]"),
    }
}

async fn host_entry(paths: &NetworkPaths, mac: &str, ips: &[IpAddr], obs: &dyn Observer) -> (bool, String) {
    let file = paths.hosts.display();
    let text = match obs.read_file(&paths.hosts).await {
        Ok(Some(text)) => text,
        Ok(None) => return (false, format!("{file}: no such file")),
        Err(e) => return (false, cannot("dnsmasq's hosts file", &e)),
    };
    let mac = mac.to_ascii_lowercase();
    let lines: Vec<Vec<&str>> = text
        .lines()
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|fields| fields.first().is_some_and(|m| m.eq_ignore_ascii_case(&mac)))
        .collect();
    if lines.is_empty() {
        return (false, format!("no line for {mac} in {file} ({} lines)", text.lines().count()));
    }
    let missing: Vec<String> =
        ips.iter().map(|ip| literal(*ip)).filter(|ip| !lines.iter().any(|f| f.contains(&ip.as_str()))).collect();
    if missing.is_empty() {
        let all: Vec<String> = ips.iter().map(|ip| literal(*ip)).collect();
        (true, format!("{mac},{} in {file}", all.join(",")))
    } else {
        (false, format!("{mac} in {file} without {}", missing.join(", ")))
    }
}

/// `qrouter-<id>`, its interface addresses, its gateway and default route, and a floating
/// IP's DNAT and SNAT rules.
pub(super) async fn router(
    router_id: &str,
    interfaces: &[String],
    gateway: Option<&str>,
    floating_ip: Option<&FloatingIpAsk>,
    obs: &dyn Observer,
    out: &mut Findings,
) {
    let ns = crate::l3::namespace_name(router_id);
    let (exists, evidence) = namespace(&ns, obs).await;
    out.push(Check::RouterNamespace, exists, evidence);
    if !exists {
        let mut inside = vec![Check::RouterInterface; interfaces.len()];
        inside.extend(gateway.map(|_| Check::RouterGateway));
        inside.extend(floating_ip.map(|_| Check::FloatingIpNat));
        return out.fail_all(&inside, &format!("{ns}: no such namespace"));
    }
    let links = obs.ns_links(&ns).await.map_err(|e| cannot(&format!("the devices of {ns}"), &e));
    for cidr in interfaces {
        let (ok, evidence) = address(&ns, cidr, "", &links);
        out.push(Check::RouterInterface, ok, evidence);
    }
    if let Some(gw) = gateway {
        let (ok, evidence) = router_gateway(&ns, gw, &links, obs).await;
        out.push(Check::RouterGateway, ok, evidence);
    }
    if let Some(fip) = floating_ip {
        let (ok, evidence) = fip_nat(&ns, fip, obs).await;
        out.push(Check::FloatingIpNat, ok, evidence);
    }
}

/// Which device of `ns` (whose name starts with `prefix`) has `cidr`, and whether it is up.
fn address(ns: &str, cidr: &str, prefix: &str, links: &Result<Vec<NsLink>, String>) -> (bool, String) {
    let Some(want) = parse_if_addr(cidr) else { return (false, format!("{cidr:?} is not an address/prefix")) };
    let links = match links {
        Ok(links) => links,
        Err(e) => return (false, e.clone()),
    };
    let has = |l: &&NsLink| l.name.starts_with(prefix) && l.addrs.contains(&want);
    match links.iter().find(has) {
        Some(l) if l.up => (true, format!("{want} on {} in {ns}, up", l.name)),
        Some(l) => (false, format!("{want} on {} in {ns}, down", l.name)),
        None => (false, format!("{want} on no {}device of {ns} ({})", kind(prefix), addresses(links, &want))),
    }
}

fn kind(prefix: &str) -> String {
    if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix} ")
    }
}

/// The addresses `ns` has of `want`'s family, for the evidence of a missing one.
fn addresses(links: &[NsLink], want: &IfAddr) -> String {
    let found: Vec<String> = links
        .iter()
        .flat_map(|l| l.addrs.iter().map(move |a| (l, a)))
        .filter(|(_, a)| a.addr.is_ipv4() == want.addr.is_ipv4() && !a.is_link_local() && !a.addr.is_loopback())
        .map(|(l, a)| format!("{} {a}", l.name))
        .collect();
    if found.is_empty() {
        "it has none of that family".into()
    } else {
        format!("it has {}", found.join(", "))
    }
}

async fn router_gateway(ns: &str, gw: &str, links: &Result<Vec<NsLink>, String>, obs: &dyn Observer) -> (bool, String) {
    let (ok, on_qg) = address(ns, gw, "qg-", links);
    let v4 = parse_if_addr(gw).is_none_or(|a| a.addr.is_ipv4());
    let default = match obs.ns_routes(ns).await {
        Ok(routes) => routes
            .iter()
            .find(|r| r.destination.prefix_len == 0 && r.destination.network.is_ipv4() == v4)
            .map(|r| (true, format!("default via {}", r.gateway)))
            .unwrap_or((false, format!("no default route in {ns}"))),
        Err(e) => (false, cannot(&format!("the routes of {ns}"), &e)),
    };
    (ok && default.0, format!("{on_qg}; {}", default.1))
}

async fn fip_nat(ns: &str, fip: &FloatingIpAsk, obs: &dyn Observer) -> (bool, String) {
    let table = format!("table inet {}", crate::l3::nat::TABLE);
    let summary = match obs.ns_nat(ns).await {
        Ok(Some(summary)) => summary,
        Ok(None) => return (false, format!("no {table} in {ns}")),
        Err(e) => return (false, cannot(&format!("{table} in {ns}"), &e)),
    };
    let (floating, fixed) = (fip.floating_ip_address, fip.fixed_ip_address);
    // The rules' comments state what they do (see crate::l3::nat).
    let dnat = format!("fip {floating} -> {fixed}");
    let snat = format!("fip {floating} <- {fixed} ");
    let has_dnat = summary.rules.iter().any(|(c, m)| c == "prerouting" && *m == dnat);
    let has_snat = summary.rules.iter().any(|(c, m)| c == "postrouting" && m.starts_with(&snat));
    let rule = |has: bool, what: String| format!("{what} {}", if has { "present" } else { "missing" });
    let evidence = format!(
        "{}, {} in {ns}'s {table}",
        rule(has_dnat, format!("dnat {floating} -> {fixed}")),
        rule(has_snat, format!("snat {fixed} -> {floating}"))
    );
    (has_dnat && has_snat, evidence)
}
