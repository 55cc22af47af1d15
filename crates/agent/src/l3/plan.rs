//! What a router needs in its namespace, computed from its [`RouterState`] alone: the
//! devices with their addresses, the routes and the NAT table. Pure and deterministic.

use std::collections::BTreeSet;

use neutrino_agent_api::{tap_name, RouterPort, RouterState};

use crate::dhcp::valid_id;
use crate::l2::dataplane::MacAddr;
use crate::netns::cidr::{Cidr, IfAddr};
use crate::netns::VethSpec;

use super::nat::{v4, FipNat, L4Proto, NatInput, NatRuleset, PfNat};
use super::system::{L3Error, Route};
use super::{namespace_name, qg_name, qr_name};

/// Why a router cannot be planned at all: [`L3Error::Invalid`].
fn invalid(what: &'static str, value: &str) -> L3Error {
    L3Error::Invalid { what, value: value.to_owned() }
}

/// One router port: its veth pair and the addresses of its namespace end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortPlan {
    pub veth: VethSpec,
    pub addrs: BTreeSet<IfAddr>,
}

/// Everything a router needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterPlan {
    pub router_id: String,
    pub namespace: String,
    /// The gateway port first, then the interfaces.
    pub ports: Vec<PortPlan>,
    pub routes: BTreeSet<Route>,
    pub nat: NatRuleset,
    /// IPv4 and IPv6 forwarding on (off for a disabled router).
    pub forwarding: bool,
    /// Parts of the state that cannot be applied and were left out (reported as issues).
    pub skipped: Vec<String>,
}

/// Plans one router. Bad parts that concern one item (an extra route, a floating IP) are
/// skipped and named in `skipped`; a bad id, MAC or address fails the whole router, since
/// half a router would be wrong in ways nobody would notice.
/// With `metadata_port`, the router redirects VMs' metadata requests to the proxy there.
pub fn plan_router(router: &RouterState, metadata_port: Option<u16>) -> Result<RouterPlan, L3Error> {
    if !valid_id(&router.id) {
        return Err(invalid("router id", &router.id));
    }
    if router.admin_state_up {
        plan_enabled(router, metadata_port)
    } else {
        plan_disabled(router)
    }
}

/// A router that is up: its ports with their addresses, routes, NAT, forwarding.
fn plan_enabled(router: &RouterState, metadata_port: Option<u16>) -> Result<RouterPlan, L3Error> {
    let mut skipped = Vec::new();
    let mut ports = Vec::new();
    let mut subnets = BTreeSet::new();
    let mut routes = BTreeSet::new();
    let mut nat = NatInput { metadata_port, drop_unredirected_metadata: true, ..NatInput::default() };
    let mut floating = BTreeSet::new();

    for fip in &router.floating_ips {
        match (v4(fip.floating_ip_address), v4(fip.fixed_ip_address)) {
            (Some(floating_ip), Some(fixed)) if router.gateway.is_some() => {
                floating.insert(floating_ip);
                nat.fips.insert(FipNat { floating: floating_ip, fixed });
            }
            _ => skipped.push(format!(
                "floating IP {} ({} -> {}): needs IPv4 addresses and a gateway",
                fip.id, fip.floating_ip_address, fip.fixed_ip_address
            )),
        }
    }
    for pf in &router.port_forwardings {
        let proto = L4Proto::parse(&pf.protocol);
        match (v4(pf.floating_ip_address), v4(pf.internal_ip_address), proto) {
            (Some(floating_ip), Some(internal), Some(protocol)) if router.gateway.is_some() => {
                floating.insert(floating_ip);
                nat.pfs.insert(PfNat {
                    floating: floating_ip,
                    protocol,
                    external_port: pf.external_port,
                    internal,
                    internal_port: pf.internal_port,
                });
            }
            _ => skipped.push(format!(
                "port forwarding {} ({} {}:{}): needs tcp or udp, IPv4 addresses and a gateway",
                pf.id, pf.protocol, pf.floating_ip_address, pf.external_port
            )),
        }
    }

    if let Some(gw) = &router.gateway {
        let mut port = port_plan(&gw.port, qg_name(&gw.port.port_id))?;
        if gw.enable_snat {
            // Neutron SNATs to the gateway port's (first IPv4) address, not masquerade.
            nat.snat_to = gw.port.addresses.iter().filter_map(|a| parse_if_addr(a)).find_map(|a| v4(a.addr));
            if nat.snat_to.is_none() {
                skipped.push("snat: the gateway port has no IPv4 address".to_owned());
            }
        }
        // Legacy routers answer ARP for their floating IPs on the gateway device: each is
        // a /32 there (Neutron does the same).
        port.addrs.extend(floating.iter().map(|ip| IfAddr { addr: (*ip).into(), prefix_len: 32 }));
        nat.gateway_dev = Some(port.veth.dev.clone());
        // The first gateway of each family is the default route of that family.
        for default in ["0.0.0.0/0", "::/0"] {
            let Ok(destination) = Cidr::parse(default) else { continue };
            let family_gw = gw.gateway_ips.iter().find(|ip| ip.is_ipv4() == destination.network.is_ipv4());
            if let Some(gateway) = family_gw {
                routes.insert(Route { destination, gateway: *gateway });
            }
        }
        ports.push(port);
    }
    for iface in &router.interfaces {
        ports.push(port_plan(iface, qr_name(&iface.port_id))?);
        for cidr in &iface.cidrs {
            match Cidr::parse(cidr) {
                Ok(c) if c.network.is_ipv4() => {
                    subnets.insert(c);
                }
                Ok(_) => {} // IPv6 is routed, never NATed.
                Err(_) => return Err(invalid("subnet CIDR", cidr)),
            }
        }
    }
    nat.subnets = subnets;
    for route in &router.routes {
        match Cidr::parse(&route.destination) {
            Ok(destination) if destination.network.is_ipv4() == route.nexthop.is_ipv4() => {
                routes.insert(Route { destination, gateway: route.nexthop });
            }
            _ => skipped.push(format!("route {} via {}: invalid destination", route.destination, route.nexthop)),
        }
    }
    Ok(RouterPlan {
        router_id: router.id.clone(),
        namespace: namespace_name(&router.id),
        ports,
        routes,
        nat: NatRuleset::compile(nat),
        forwarding: true,
        skipped,
    })
}

/// A disabled router (`admin_state_up=false`) keeps its ports plugged, so they are wired and
/// ACTIVE (as Neutron shows a disabled router's ports), but with their namespace end down and
/// without addresses, routes, NAT or forwarding: it answers and forwards nothing. Deleting its
/// namespace instead left its ports DOWN for as long as the router stayed disabled.
fn plan_disabled(router: &RouterState) -> Result<RouterPlan, L3Error> {
    let gateway = router.gateway.iter().map(|gw| port_plan(&gw.port, qg_name(&gw.port.port_id)));
    let interfaces = router.interfaces.iter().map(|port| port_plan(port, qr_name(&port.port_id)));
    let ports = gateway
        .chain(interfaces)
        .map(|plan| plan.map(|p| PortPlan { veth: VethSpec { up: false, ..p.veth }, addrs: BTreeSet::new() }))
        .collect::<Result<_, _>>()?;
    Ok(RouterPlan {
        router_id: router.id.clone(),
        namespace: namespace_name(&router.id),
        ports,
        routes: BTreeSet::new(),
        nat: NatRuleset::compile(NatInput::default()),
        forwarding: false,
        skipped: Vec::new(),
    })
}

fn port_plan(port: &RouterPort, dev: String) -> Result<PortPlan, L3Error> {
    if !valid_id(&port.port_id) {
        return Err(invalid("router port id", &port.port_id));
    }
    let mac: MacAddr = port.mac_address.parse().map_err(|_| invalid("router port MAC", &port.mac_address))?;
    let mut addrs = BTreeSet::new();
    for text in &port.addresses {
        addrs.insert(parse_if_addr(text).ok_or_else(|| invalid("router port address", text))?);
    }
    Ok(PortPlan { veth: VethSpec { tap: tap_name(&port.port_id), dev, mac, mtu: port.mtu, up: true }, addrs })
}

/// `10.0.0.1/24` → the address with its prefix length (host bits kept).
fn parse_if_addr(text: &str) -> Option<IfAddr> {
    let (ip, len) = text.trim().split_once('/')?;
    let addr: std::net::IpAddr = ip.parse().ok()?;
    let prefix_len: u8 = len.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    (prefix_len <= max).then_some(IfAddr { addr, prefix_len })
}
