//! The agent-facing API's wire types: what a host agent reports and what it is told.
//!
//! Agents are level-triggered reconcilers: instead of Neutron's RPC fan-out of events, an
//! agent asks the server for its host's *whole* desired state ([`HostState`]), makes the
//! kernel match it, reports which ports it wired ([`PortStatusReport`]) and asks again with
//! the fingerprint of what it has; the server answers when that state changes (long poll).
//! A lost answer, a restart or a hand-deleted device all heal the same way: the next
//! reconcile of the whole state.

pub mod configurations;
pub mod diagnose;

pub use configurations::{DhcpConfigurations, L2Configurations, Mechanism};

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// `agent_type` of the L3 service, as Neutron's L3 agent reports it.
pub const AGENT_TYPE_L3: &str = "L3 agent";
/// `agent_type` of the DHCP service, as Neutron's DHCP agent reports it.
pub const AGENT_TYPE_DHCP: &str = "DHCP agent";
/// `agent_type` of the L2 agent, as Neutron's linuxbridge agent reports it.
pub const AGENT_TYPE_LINUXBRIDGE: &str = "Linux bridge agent";
/// `agent_type` of the L2 agent on Open vSwitch, as Neutron's OVS agent reports it.
pub const AGENT_TYPE_OVS: &str = "Open vSwitch agent";
/// `binary` of the agent.
pub const AGENT_BINARY: &str = "neutrino-agent";
/// The only tunnel type our kernels can carry (see KERNEL.md).
pub const TUNNEL_TYPE_VXLAN: &str = "vxlan";
/// Linux's IANA VXLAN port, which Neutron's linuxbridge agent uses too.
pub const VXLAN_UDP_PORT: u16 = 4789;

/// What an agent reports on start and every report interval (its heartbeat).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentReport {
    /// The host name, as Nova puts it in `binding:host_id`.
    pub host: String,
    /// e.g. [`AGENT_TYPE_LINUXBRIDGE`].
    pub agent_type: String,
    pub binary: String,
    #[serde(default)]
    pub availability_zone: Option<String>,
    /// What this agent can do, shown verbatim as `configurations` in `GET /v2.0/agents`:
    /// [`L2Configurations`] for the L2 agent, [`DhcpConfigurations`] for the DHCP agent.
    pub configurations: serde_json::Value,
    /// True on the first report after a start (Neutron's `start_flag`).
    #[serde(default)]
    pub start_flag: bool,
    /// What this agent cannot do right now (its last pass's issues, its start-time checks'
    /// warnings and failures). Each report replaces the last one's, so a healed problem
    /// disappears; the server caps their number and length (`agent_max_conditions`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<AgentCondition>,
}

/// One problem an agent reports, shown in its `configurations` as `neutrino_conditions`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentCondition {
    /// The part of the agent: `l2`, `dhcp`, `l3`, `metadata`, `firewall`, or `check`.
    pub subsystem: String,
    /// What it is about.
    pub object: ConditionObject,
    /// The sentence the agent logged.
    pub reason: String,
}

/// What a condition is about: the host, or a resource or device by id or name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConditionObject {
    /// `host`, `network`, `port`, `router`, `floating_ip`, `security_group`, `device`, or
    /// `check` (a start-time check, by name in `id`).
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The server's answer to a report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReportReply {
    /// The agent's id in `GET /v2.0/agents`.
    pub agent_id: String,
    /// Seconds of silence after which the server reports the agent not alive.
    pub agent_down_time: u64,
}

/// Everything one host must have wired, as of one point of the change feed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostState {
    pub host: String,
    /// The change-feed sequence this state reflects.
    pub revision: u64,
    /// A digest of everything but `revision`: equal fingerprints mean nothing to do. The
    /// agent sends it back when it waits, and the server answers only when it differs.
    pub fingerprint: String,
    /// Networks with at least one port bound to this host, by id.
    pub networks: Vec<NetworkState>,
    /// Ports bound to this host, by id.
    pub ports: Vec<PortState>,
    /// Ports whose `binding:host_id` names this host but which could not be bound, with
    /// the reason (so the host's operator sees it in the agent's log too).
    #[serde(default)]
    pub binding_failures: Vec<BindingFailure>,
    /// Networks this host's DHCP agent serves (empty unless it runs one), by id.
    #[serde(default)]
    pub dhcp: Vec<DhcpNetwork>,
    /// Routers this host's L3 agent runs (empty unless it runs one), by id.
    #[serde(default)]
    pub routers: Vec<RouterState>,
    /// The filtering of every port in `ports` (VM ports, and the service ports, which
    /// have port security off), by port id.
    #[serde(default)]
    pub port_security: Vec<PortSecurity>,
    /// Every security group a port of this host uses, with its rules, by id.
    #[serde(default)]
    pub security_groups: Vec<SecurityGroupState>,
    /// Addresses of the members (ports, with their allowed address pairs) of every group a
    /// rule here names as `remote_group_id`: group id -> sorted addresses or CIDRs.
    #[serde(default)]
    pub group_members: BTreeMap<String, Vec<String>>,
    /// The addresses (normalised CIDRs) of every address group a rule here names as
    /// `remote_address_group_id`: group id -> sorted CIDRs.
    #[serde(default)]
    pub address_groups: BTreeMap<String, Vec<String>>,
}

/// How one port of the host is filtered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortSecurity {
    pub port_id: String,
    pub mac_address: String,
    /// The port's fixed IPs.
    pub ip_addresses: Vec<IpAddr>,
    /// Extra sources the port may use: `ip_address` is an address or a CIDR.
    pub allowed_address_pairs: Vec<AllowedPair>,
    /// Off: no filtering at all for this port (and no anti-spoofing).
    pub port_security_enabled: bool,
    /// Its groups (ids into [`HostState::security_groups`]).
    pub security_group_ids: Vec<String>,
}

/// An allowed address pair.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllowedPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// A security group as the dataplane enforces it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityGroupState {
    pub id: String,
    /// Stateless groups match both directions explicitly, without conntrack.
    pub stateful: bool,
    pub rules: Vec<SecurityRule>,
}

/// One rule, normalised by the API (protocol names lower-case, or a number).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecurityRule {
    pub id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// `tcp`, `udp`, `icmp`, `ipv6-icmp`, another name, a number, or none (any).
    pub protocol: Option<String>,
    /// Ports for tcp/udp/sctp; ICMP type for ICMP.
    pub port_range_min: Option<u32>,
    /// Ports for tcp/udp/sctp; ICMP code for ICMP.
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<String>,
    /// `security-groups-remote-address-group`: the remote is the group's addresses (of the
    /// rule's ethertype), listed in [`HostState::address_groups`].
    #[serde(default)]
    pub remote_address_group_id: Option<String>,
}

/// A router as its L3 agent's host must run it in `qrouter-<id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterState {
    pub id: String,
    pub project_id: String,
    pub admin_state_up: bool,
    /// The external side: `qg-<port[:11]>`.
    pub gateway: Option<RouterGateway>,
    /// One per attached subnet port: `qr-<port[:11]>`.
    pub interfaces: Vec<RouterPort>,
    /// Extra routes (`routes` attribute).
    pub routes: Vec<HostRoute>,
    pub floating_ips: Vec<FloatingIpState>,
    pub port_forwardings: Vec<PortForwardingState>,
    /// Every port (but the network's own, `network:*`) with an address on one of the
    /// router's internal subnets: who asks when a VM behind the router asks the metadata
    /// proxy in `qrouter-<id>` (Neutron's metadata agent looks the address up among the
    /// router's networks).
    #[serde(default)]
    pub metadata_hosts: Vec<MetadataHost>,
}

/// A port whose addresses may ask the router's metadata proxy, and the instance behind it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataHost {
    pub port_id: String,
    /// Nova's instance id (the port's `device_id`).
    pub device_id: String,
    pub project_id: String,
    /// The port's addresses on the router's internal subnets.
    pub ip_addresses: Vec<IpAddr>,
    /// The port's MAC: a VM asking from its IPv6 link-local address (`fe80::a9fe:a9fe`)
    /// is known by the MAC in it, as Neutron's metadata agent does.
    #[serde(default)]
    pub mac_address: String,
}

/// A router port: its device gets the MAC and the addresses (`ip/prefix`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterPort {
    pub port_id: String,
    pub network_id: String,
    pub mac_address: String,
    pub mtu: u32,
    /// `10.0.0.1/24` style: the port's fixed IPs with their subnet's prefix length.
    pub addresses: Vec<String>,
    /// The subnets' CIDRs (what SNAT translates).
    pub cidrs: Vec<String>,
    /// The port's subnets, for what the router announces on them (radvd's prefixes,
    /// flags and RDNSS for IPv6 subnets).
    #[serde(default)]
    pub subnets: Vec<RouterSubnet>,
}

/// A subnet a router port has an address on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterSubnet {
    pub id: String,
    pub cidr: String,
    pub ip_version: u8,
    /// IPv6 only: `slaac`, `dhcpv6-stateful`, `dhcpv6-stateless` or none.
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    pub dns_nameservers: Vec<String>,
}

/// The gateway port and what it routes to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouterGateway {
    pub port: RouterPort,
    /// The external subnets' gateways: the router's default routes.
    pub gateway_ips: Vec<IpAddr>,
    /// SNAT internal traffic to the gateway address.
    pub enable_snat: bool,
}

/// A floating IP associated to a port behind this router.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FloatingIpState {
    pub id: String,
    pub floating_ip_address: IpAddr,
    pub fixed_ip_address: IpAddr,
    pub port_id: String,
    /// The floating IP's `status` as the API shows it now.
    #[serde(default)]
    pub status: String,
}

/// A port forwarding of a floating IP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForwardingState {
    pub id: String,
    pub floating_ip_address: IpAddr,
    /// `tcp` or `udp`.
    pub protocol: String,
    pub external_port: u16,
    pub internal_ip_address: IpAddr,
    pub internal_port: u16,
}

/// One network a host serves DHCP (and metadata) for: its `network:dhcp` port (bound to
/// this host, so it is also in [`HostState::ports`] and the L2 side wires its tap), its
/// DHCP-enabled subnets, and every port that gets a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpNetwork {
    pub network_id: String,
    pub project_id: String,
    pub mtu: u32,
    /// The DHCP port: its device is `ns-<id[:11]>` inside `qdhcp-<network-id>`, peered with
    /// `tap<id[:11]>` on the network's bridge.
    pub port: DhcpPort,
    /// Subnets with `enable_dhcp`, by id.
    pub subnets: Vec<DhcpSubnet>,
    /// Every other port of the network with a fixed IP on one of those subnets, by id.
    pub hosts: Vec<DhcpHost>,
}

/// The DHCP port of a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpPort {
    pub id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<DhcpFixedIp>,
}

/// One address of a port, with its subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpFixedIp {
    pub subnet_id: String,
    pub ip_address: IpAddr,
}

/// A subnet as DHCP serves it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpSubnet {
    pub id: String,
    pub cidr: String,
    pub ip_version: u8,
    pub gateway_ip: Option<IpAddr>,
    pub dns_nameservers: Vec<String>,
    /// `{destination, nexthop}` pairs, served as classless static routes (option 121).
    pub host_routes: Vec<HostRoute>,
    /// IPv6 only: `slaac`, `dhcpv6-stateful`, `dhcpv6-stateless` or none.
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
    /// A router interface holds an address on this subnet: Neutron's "not isolated". With
    /// `enable_isolated_metadata` (and not `force_metadata`) the router serves its metadata
    /// and DHCP pushes no metadata route for it.
    #[serde(default)]
    pub router_attached: bool,
}

/// A host route of a subnet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: IpAddr,
}

/// A port that gets a lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DhcpHost {
    pub port_id: String,
    pub mac_address: String,
    pub fixed_ips: Vec<DhcpFixedIp>,
    /// The port's `dns_name` when it has one (dns-integration), else `host-<ip with
    /// dashes>`, as Neutron names hosts without a DNS name.
    pub hostname: String,
    /// The instance behind the port (Nova's `device_id`), for the metadata proxy.
    pub device_id: String,
    pub device_owner: String,
    pub project_id: String,
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
    /// The port's `dns_assignment` (dns-integration): the server's name for each address,
    /// which dnsmasq uses as Neutron's agent does (`_get_dns_assignment`). Empty from a
    /// server without it: then `host-<ip>` in the agent's `dns_domain`.
    #[serde(default)]
    pub dns_assignment: Vec<DnsName>,
}

/// The name the server gives one address of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsName {
    pub ip_address: IpAddr,
    pub hostname: String,
    /// `hostname.domain.`, as the API shows it (a trailing dot when the domain has one).
    pub fqdn: String,
}

/// One of a port's `extra_dhcp_opts` (validated by the API: one line, no injected option).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraDhcpOpt {
    pub opt_name: String,
    pub opt_value: String,
    pub ip_version: u8,
}

/// A port meant for this host that is not bound, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingFailure {
    pub port_id: String,
    pub reason: String,
}

/// One network as this host must carry it: its bound segment and where its other ports are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkState {
    pub id: String,
    /// `vxlan`, `flat` or `vlan`.
    pub network_type: String,
    /// VNI or VLAN id; none for flat.
    pub segmentation_id: Option<u32>,
    pub physical_network: Option<String>,
    pub mtu: u32,
    /// Tunnel endpoints of the other hosts with ports on this network (head-end
    /// replication list for broadcast, unknown unicast and multicast), sorted.
    pub remote_endpoints: Vec<IpAddr>,
    /// Every port of this network on another host, and the endpoint it lives behind
    /// (l2population's per-MAC forwarding entries), sorted by MAC.
    pub remote_ports: Vec<RemotePort>,
}

/// A port on another host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemotePort {
    pub mac_address: String,
    pub ip_addresses: Vec<IpAddr>,
    pub endpoint: IpAddr,
}

/// A port bound to this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortState {
    pub id: String,
    pub network_id: String,
    pub mac_address: String,
    pub ip_addresses: Vec<IpAddr>,
    pub admin_state_up: bool,
    pub device_owner: String,
    /// The port's `status` as the API shows it now; for an [`BindingStatus::Inactive`]
    /// binding, whether this host has it wired (`ACTIVE`) or not (`DOWN`) as last reported.
    pub status: String,
    /// Which of the port's bindings this host has.
    #[serde(default)]
    pub binding: BindingStatus,
}

/// Which binding of a port a host holds (`binding-extended`'s binding `status`).
///
/// A port moving to another host (Nova's live migration) has an INACTIVE binding there
/// before it is activated: that host wires the port exactly as an active one, so the
/// instance's tap is bridged and filtered the moment it appears, while every other host
/// still sends the port's traffic to its active host (l2population entries follow the
/// active binding only). The agent reports its status like any other port's; the server
/// keeps it apart from the port's own `status` until activation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum BindingStatus {
    /// The port's binding: the port lives here.
    #[default]
    Active,
    /// Wired ahead of a move here; activation makes it the port's binding.
    Inactive,
}

impl PortState {
    /// The VM-side device name a hypervisor creates for the port: `tap` + 11 id characters.
    pub fn tap_name(&self) -> String {
        tap_name(&self.id)
    }
}

/// `tap<port-id[:11]>`, Neutron's name for a port's device.
pub fn tap_name(port_id: &str) -> String {
    format!("tap{}", port_id.get(..11).unwrap_or(port_id))
}

/// `brq<network-id[:11]>`, Neutron's linuxbridge name for a network's bridge.
pub fn bridge_name(network_id: &str) -> String {
    format!("brq{}", network_id.get(..11).unwrap_or(network_id))
}

/// `vxlan-<vni>`, Neutron's linuxbridge name for a VXLAN segment's device.
pub fn vxlan_name(vni: u32) -> String {
    format!("vxlan-{vni}")
}

/// A port's status as the agent found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum WiredStatus {
    /// The device exists and is wired into its network.
    Active,
    /// The device is missing (not plugged yet, or unplugged) or administratively down.
    Down,
}

impl WiredStatus {
    /// The API's `status` string.
    pub fn as_str(self) -> &'static str {
        match self {
            WiredStatus::Active => "ACTIVE",
            WiredStatus::Down => "DOWN",
        }
    }
}

/// An agent's report of the ports whose status it saw change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortStatusReport {
    pub host: String,
    pub ports: BTreeMap<String, WiredStatus>,
    /// Floating IPs of this host's routers: ACTIVE once their NAT is in place.
    #[serde(default)]
    pub floating_ips: BTreeMap<String, WiredStatus>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_follow_neutron() {
        let id = "0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
        assert_eq!(tap_name(id), "tap0c1b2a39-8e");
        assert_eq!(bridge_name(id), "brq0c1b2a39-8e");
        assert_eq!(vxlan_name(16777215), "vxlan-16777215");
        assert!(bridge_name(id).len() <= 15 && tap_name(id).len() <= 15 && vxlan_name(16777215).len() <= 15);
    }
}
