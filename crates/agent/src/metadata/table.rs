//! Who is asking: the address → instance table of one served namespace.
//!
//! A VM is identified by the TCP source address of its connection, never by anything it
//! sends. An address on exactly one port of the namespace's network(s) names that port's
//! instance. An IPv6 link-local source (a VM asking `fe80::a9fe:a9fe`, which it reaches
//! from its own `fe80::` address) is no fixed IP of any port: as Neutron's metadata agent
//! does (`_get_instance_and_project_id`, `get_mac_addr_by_ipv6`), the MAC encoded in its
//! EUI-64 interface identifier names the port instead. Anti-spoofing lets a port send only
//! from its own MAC's link-local address, as it lets it send only from its fixed IPs.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use neutrino_agent_api::{DhcpNetwork, RouterState};

use crate::l2::dataplane::MacAddr;

/// The instance behind an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The port's `device_id`: Nova's instance id (empty when the port has no device).
    pub instance_id: String,
    /// The port's project, sent as `X-Tenant-ID`.
    pub project_id: String,
    pub port_id: String,
}

/// One namespace's addresses and MACs and the instances behind them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceTable {
    /// `None`: the address is on several ports, so nobody is trusted with it (Neutron
    /// answers 404 unless exactly one port matches).
    by_ip: BTreeMap<IpAddr, Option<Instance>>,
    /// The same by MAC, for link-local sources (a MAC may repeat across a router's networks).
    by_mac: BTreeMap<MacAddr, Option<Instance>>,
}

/// What the table is built from: one port.
struct PortEntry<'a, I> {
    instance: Instance,
    mac: &'a str,
    ips: I,
}

impl InstanceTable {
    /// Every fixed IP of the network's lease holders, and the addresses found on more than
    /// one port.
    pub fn from_network(network: &DhcpNetwork) -> (Self, Vec<IpAddr>) {
        Self::build(network.hosts.iter().map(|host| PortEntry {
            instance: Instance {
                instance_id: host.device_id.clone(),
                project_id: host.project_id.clone(),
                port_id: host.port_id.clone(),
            },
            mac: &host.mac_address,
            ips: host.fixed_ips.iter().map(|f| f.ip_address),
        }))
    }

    /// Every address of the ports on the router's internal subnets
    /// ([`RouterState::metadata_hosts`]), and the addresses found on more than one port.
    pub fn from_router(router: &RouterState) -> (Self, Vec<IpAddr>) {
        Self::build(router.metadata_hosts.iter().map(|host| PortEntry {
            instance: Instance {
                instance_id: host.device_id.clone(),
                project_id: host.project_id.clone(),
                port_id: host.port_id.clone(),
            },
            mac: &host.mac_address,
            ips: host.ip_addresses.iter().copied(),
        }))
    }

    fn build<'a, I: Iterator<Item = IpAddr>>(ports: impl Iterator<Item = PortEntry<'a, I>>) -> (Self, Vec<IpAddr>) {
        let mut table = Self::default();
        let mut duplicates = Vec::new();
        for port in ports {
            for ip in port.ips {
                let ip = ip.to_canonical();
                if insert(&mut table.by_ip, ip, &port.instance) {
                    duplicates.push(ip);
                }
            }
            if let Ok(mac) = port.mac.parse::<MacAddr>() {
                insert(&mut table.by_mac, mac, &port.instance);
            }
        }
        (table, duplicates)
    }

    /// The single instance behind `ip`, if any (by MAC for an IPv6 link-local `ip`).
    pub fn lookup(&self, ip: IpAddr) -> Option<&Instance> {
        match ip.to_canonical() {
            IpAddr::V6(v6) if is_link_local(v6) => self.by_mac.get(&mac_of_link_local(v6)).and_then(Option::as_ref),
            ip => self.by_ip.get(&ip).and_then(Option::as_ref),
        }
    }

    /// Number of addresses known (ambiguous ones included).
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
}

/// Adds `key` → `instance`; true when another port had it already, so that from now on
/// nobody keeps it.
fn insert<K: Ord>(map: &mut BTreeMap<K, Option<Instance>>, key: K, instance: &Instance) -> bool {
    match map.get_mut(&key) {
        None => {
            map.insert(key, Some(instance.clone()));
            false
        }
        Some(entry) => {
            let other = entry.as_ref().is_some_and(|e| e.port_id != instance.port_id);
            if other {
                *entry = None;
            }
            other
        }
    }
}

/// `fe80::/10`.
fn is_link_local(ip: Ipv6Addr) -> bool {
    ip.segments()[0] & 0xffc0 == 0xfe80
}

/// The MAC of an EUI-64 interface identifier (RFC 4291 appendix A): the middle `ff:fe`
/// dropped, the universal/local bit flipped back; oslo's `get_mac_addr_by_ipv6`.
pub fn mac_of_link_local(ip: Ipv6Addr) -> MacAddr {
    let o = ip.octets();
    MacAddr([o[8] ^ 0x02, o[9], o[10], o[13], o[14], o[15]])
}
