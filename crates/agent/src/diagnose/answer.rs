//! Answering one question: each [`Ask`] becomes the [`Finding`]s its kind calls for, in the
//! order a packet meets them, each with one line of evidence an operator can check by hand.
//!
//! An ask always yields all of its findings ([`expected`]): when the thing a check looks
//! inside is missing (the namespace, the VXLAN device) or could not be looked at in time,
//! the check is still reported, not ok, and its evidence says why, so the server judges
//! every hop from the same list.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use neutrino_agent_api::diagnose::{Ask, Check, Finding, HostAnswer, HostQuestion, RemotePortAsk};
use neutrino_agent_api::{bridge_name, tap_name, vxlan_name};

use super::observer::{ObserveError, Observer};
use super::services;
use crate::error_chain as chain;
use crate::firewall::hybrid_bridge_name;
use crate::l2::dataplane::{Link, MacAddr};

/// Asks past this many in one question are not looked at (each is reported, not ok).
pub const MAX_ASKS: usize = 64;

/// What the agent knows about its host that the asks do not say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The host the answers name.
    pub host: String,
    /// physnet -> interface (`--physical-interface-mappings`), for flat and VLAN segments.
    pub physical_interface_mappings: BTreeMap<String, String>,
    /// The DHCP state directory (`--dhcp-state-dir`), when this agent serves DHCP.
    pub dhcp_state_dir: Option<PathBuf>,
    /// This agent filters ports (not `--no-security-groups`).
    pub firewall: bool,
    /// How long one ask may take; past it, its missing findings say so.
    pub ask_timeout: Duration,
    /// This host wires with Open vSwitch, whose br-int the port and network checks (written
    /// for linuxbridge devices) do not read yet: those asks say so instead of reporting a
    /// tap outside a `brq…` bridge that never exists here.
    pub open_vswitch: bool,
}

/// The findings of one ask, in the order they are made.
pub(super) struct Findings {
    ask: usize,
    pub(super) list: Vec<Finding>,
}

impl Findings {
    pub(super) fn push(&mut self, check: Check, ok: bool, evidence: String) {
        self.list.push(Finding { ask: self.ask, check, ok, evidence });
    }

    /// Reports each of `checks` as not ok, for one reason.
    pub(super) fn fail_all(&mut self, checks: &[Check], evidence: &str) {
        for check in checks {
            self.push(*check, false, evidence.to_owned());
        }
    }
}

/// The host's links, listed once per question, at the first ask that needs them.
#[derive(Default)]
pub(super) struct Links(Option<Result<Vec<Link>, String>>);

impl Links {
    async fn get(&mut self, obs: &dyn Observer) -> Result<&[Link], String> {
        if self.0.is_none() {
            self.0 = Some(obs.links().await.map_err(|e| format!("cannot list devices: {}", chain(&e))));
        }
        match &self.0 {
            Some(Ok(links)) => Ok(links),
            Some(Err(e)) => Err(e.clone()),
            None => Err("cannot list devices".into()),
        }
    }
}

/// An observer's error as evidence.
pub(super) fn cannot(what: &str, e: &ObserveError) -> String {
    format!("cannot look at {what}: {}", chain(e))
}

/// What `question` finds on the host. Only looks: never changes the kernel.
pub async fn answer(scope: &Scope, question: &HostQuestion, obs: &dyn Observer) -> HostAnswer {
    let mut findings = Vec::new();
    let mut links = Links::default();
    for (i, ask) in question.asks.iter().enumerate() {
        let mut out = Findings { ask: i, list: Vec::new() };
        if i >= MAX_ASKS {
            out.fail_all(&expected(ask), &format!("not looked at: a question has at most {MAX_ASKS} asks"));
        } else if tokio::time::timeout(scope.ask_timeout, look(scope, ask, obs, &mut links, &mut out)).await.is_err() {
            let reason = format!("not looked at: gave up after {} ms", scope.ask_timeout.as_millis());
            fill_missing(ask, &mut out, &reason);
        }
        findings.extend(out.list);
    }
    HostAnswer { question_id: question.id.clone(), host: scope.host.clone(), findings }
}

async fn look(scope: &Scope, ask: &Ask, obs: &dyn Observer, links: &mut Links, out: &mut Findings) {
    // On an Open vSwitch host a filtered agent plugs VMs with the hybrid plug (the agent
    // refuses to start otherwise): the tap is in its own `qbr…` bridge, which the port checks
    // read as they read a `brq…`; what lies beyond (br-int, br-tun, flows) is not read yet.
    let hybrid = scope.open_vswitch && scope.firewall;
    if scope.open_vswitch && (matches!(ask, Ask::Network { .. }) || (!hybrid && matches!(ask, Ask::Port { .. }))) {
        let why = "not looked at: this host wires with Open vSwitch, whose br-int diagnose does not read yet";
        return out.fail_all(&expected(ask), why);
    }
    match ask {
        Ask::Port { port_id, network_id, filtered, .. } => {
            let bridge = if hybrid { hybrid_bridge_name(port_id) } else { bridge_name(network_id) };
            port(&tap_name(port_id), &bridge, obs, links, out).await;
            match (*filtered, scope.firewall) {
                (true, true) => services::port_firewall(&tap_name(port_id), obs, out).await,
                (true, false) => {
                    let why = "this agent filters no port (started with --no-security-groups)";
                    out.push(Check::PortFirewall, false, why.into());
                }
                (false, _) => {}
            }
        }
        Ask::Network { network_id, network_type, segmentation_id, physical_network, remote_ports } => {
            let segment = segment_device(scope, network_type, *segmentation_id, physical_network.as_deref());
            let vxlan = network_type == "vxlan";
            network(&bridge_name(network_id), segment, vxlan, remote_ports, obs, links, out).await;
        }
        Ask::Dhcp { network_id, mac_address, ip_addresses } => {
            services::dhcp(scope, network_id, mac_address, ip_addresses, obs, out).await;
        }
        Ask::Router { router_id, interfaces, gateway, floating_ip } => {
            services::router(router_id, interfaces, gateway.as_deref(), floating_ip.as_ref(), obs, out).await;
        }
    }
}

/// The checks an ask yields, with their multiplicity.
pub fn expected(ask: &Ask) -> Vec<Check> {
    match ask {
        Ask::Port { filtered, .. } => {
            let mut checks = vec![Check::Tap, Check::TapUp, Check::TapBridge];
            checks.extend(filtered.then_some(Check::PortFirewall));
            checks
        }
        Ask::Network { network_type, remote_ports, .. } => {
            let fdb = if network_type == "vxlan" { remote_ports.len() } else { 0 };
            [Check::Bridge, Check::SegmentDevice].into_iter().chain(std::iter::repeat_n(Check::Fdb, fdb)).collect()
        }
        Ask::Dhcp { .. } => vec![Check::DhcpNamespace, Check::Dnsmasq, Check::DhcpHost],
        Ask::Router { interfaces, gateway, floating_ip, .. } => {
            let mut checks = vec![Check::RouterNamespace];
            checks.extend(std::iter::repeat_n(Check::RouterInterface, interfaces.len()));
            checks.extend(gateway.as_ref().map(|_| Check::RouterGateway));
            checks.extend(floating_ip.as_ref().map(|_| Check::FloatingIpNat));
            checks
        }
    }
}

/// Adds, not ok, the findings an interrupted ask did not make.
fn fill_missing(ask: &Ask, out: &mut Findings, reason: &str) {
    let mut made: BTreeMap<Check, usize> = BTreeMap::new();
    for f in &out.list {
        *made.entry(f.check).or_default() += 1;
    }
    for check in expected(ask) {
        match made.get_mut(&check) {
            Some(n) if *n > 0 => *n -= 1,
            _ => out.push(check, false, reason.to_owned()),
        }
    }
}

/// `tap… exists, is up, is a port of brq…`.
async fn port(tap: &str, bridge: &str, obs: &dyn Observer, links: &mut Links, out: &mut Findings) {
    let checks = [Check::Tap, Check::TapUp, Check::TapBridge];
    let all = match links.get(obs).await {
        Ok(all) => all,
        Err(e) => return out.fail_all(&checks, &e),
    };
    let Some(link) = all.iter().find(|l| l.name == tap) else {
        return out.fail_all(&checks, &format!("{tap}: no such device"));
    };
    out.push(Check::Tap, true, format!("{tap}: {} device, mtu {}", link.kind, link.mtu));
    let evidence = match (link.up, link.carrier) {
        (true, true) => format!("{tap} is up, with carrier"),
        (true, false) => format!("{tap} is up, no carrier (nothing attached at its other end)"),
        (false, _) => format!("{tap} is down"),
    };
    out.push(Check::TapUp, link.up && link.carrier, evidence);
    let (ok, evidence) = enslaved(link, bridge);
    out.push(Check::TapBridge, ok, evidence);
}

fn up_down(up: bool) -> &'static str {
    if up {
        "up"
    } else {
        "down"
    }
}

/// Whether `link` is a port of `bridge`, and what it is a port of.
fn enslaved(link: &Link, bridge: &str) -> (bool, String) {
    let name = &link.name;
    match link.master.as_deref() {
        Some(m) if m == bridge => (true, format!("{name} master {bridge}, {}", up_down(link.up))),
        Some(m) => (false, format!("{name} master {m}, not {bridge}")),
        None => (false, format!("{name} has no master (not a port of {bridge})")),
    }
}

/// The segment's device on this host: `vxlan-<vni>`, the physnet's interface, or its VLAN
/// subinterface (as [`crate::l2::plan`] names them); or why there is none.
fn segment_device(
    scope: &Scope,
    network_type: &str,
    segmentation_id: Option<u32>,
    physical_network: Option<&str>,
) -> Result<String, String> {
    let mapped = || {
        let physnet = physical_network.ok_or_else(|| format!("a {network_type} network without a physical network"))?;
        scope.physical_interface_mappings.get(physnet).cloned().ok_or_else(|| {
            format!("physical network {physnet} is not mapped on this host (--physical-interface-mappings)")
        })
    };
    match (network_type, segmentation_id) {
        ("vxlan", Some(vni)) => Ok(vxlan_name(vni)),
        ("flat", _) => mapped(),
        ("vlan", Some(vid)) => Ok(format!("{}.{vid}", mapped()?)),
        ("vxlan" | "vlan", None) => Err(format!("a {network_type} network without a segmentation id")),
        (other, _) => Err(format!("network type {other} is not wired by this agent")),
    }
}

/// The bridge, the segment's device in it, and (VXLAN) each remote port's FDB entry.
async fn network(
    bridge: &str,
    segment: Result<String, String>,
    vxlan: bool,
    remote_ports: &[RemotePortAsk],
    obs: &dyn Observer,
    links: &mut Links,
    out: &mut Findings,
) {
    let fdb_checks = if vxlan { remote_ports.len() } else { 0 };
    let all = match links.get(obs).await {
        Ok(all) => all,
        Err(e) => {
            out.fail_all(&[Check::Bridge, Check::SegmentDevice], &e);
            return out.fail_all(&vec![Check::Fdb; fdb_checks], &e);
        }
    };
    let (ok, evidence) = match all.iter().find(|l| l.name == bridge) {
        Some(l) => (l.up, format!("{bridge}: {} device, {}", l.kind, up_down(l.up))),
        None => (false, format!("{bridge}: no such device")),
    };
    out.push(Check::Bridge, ok, evidence);
    let dev = match segment {
        Ok(dev) => dev,
        Err(why) => {
            out.push(Check::SegmentDevice, false, why.clone());
            return out.fail_all(&vec![Check::Fdb; fdb_checks], &why);
        }
    };
    let (ok, evidence) = match all.iter().find(|l| l.name == dev) {
        Some(l) => match enslaved(l, bridge) {
            (true, evidence) => (l.up, evidence),
            other => other,
        },
        None => (false, format!("{dev}: no such device")),
    };
    let present = all.iter().any(|l| l.name == dev);
    out.push(Check::SegmentDevice, ok, evidence);
    if vxlan {
        fdb(&dev, present, remote_ports, obs, out).await;
    }
}

/// One finding per remote port: its exact (MAC, `dst`) entry on the VXLAN device.
async fn fdb(dev: &str, present: bool, remote_ports: &[RemotePortAsk], obs: &dyn Observer, out: &mut Findings) {
    let checks = vec![Check::Fdb; remote_ports.len()];
    if !present {
        return out.fail_all(&checks, &format!("{dev}: no such device"));
    }
    let entries = match obs.fdb(dev).await {
        Ok(entries) => entries,
        Err(e) => return out.fail_all(&checks, &cannot(&format!("{dev}'s FDB"), &e)),
    };
    for remote in remote_ports {
        let (mac, dst) = (&remote.mac_address, remote.endpoint);
        let Ok(parsed) = mac.parse::<MacAddr>() else {
            out.push(Check::Fdb, false, format!("{mac:?} is not a MAC address"));
            continue;
        };
        if entries.iter().any(|e| e.mac == parsed && e.dst == dst) {
            out.push(Check::Fdb, true, format!("{parsed} dst {dst} in {dev}'s FDB"));
            continue;
        }
        out.push(Check::Fdb, false, missing_fdb(dev, parsed, dst, &entries));
    }
}

fn missing_fdb(dev: &str, mac: MacAddr, dst: IpAddr, entries: &[crate::l2::dataplane::FdbEntry]) -> String {
    let elsewhere: Vec<String> = entries.iter().filter(|e| e.mac == mac).map(|e| e.dst.to_string()).collect();
    if !elsewhere.is_empty() {
        return format!("{mac} dst {dst} missing from {dev}'s FDB ({mac} has dst {} instead)", elsewhere.join(", "));
    }
    let others: std::collections::BTreeSet<MacAddr> =
        entries.iter().map(|e| e.mac).filter(|m| *m != MacAddr::ZERO).collect();
    format!("{mac} dst {dst} missing from {dev}'s FDB (entries for {} other MACs)", others.len())
}
