//! Typed resource documents. Field names are the wire names, so a document serialises to
//! exactly the JSON Neutron returns and is stored in that form.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub status: String,
    pub shared: bool,
    pub mtu: u32,
    #[serde(rename = "router:external")]
    pub router_external: bool,
    pub port_security_enabled: bool,
    #[serde(rename = "provider:network_type")]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<u32>,
    /// Ids of the network's subnets, kept in the document so listing needs no join.
    pub subnets: Vec<String>,
    /// address-scope: the scope of the pools the network's IPv4 / IPv6 subnets come from,
    /// kept up to date by subnet and pool changes so listing needs no join.
    #[serde(default)]
    pub ipv4_address_scope: Option<String>,
    #[serde(default)]
    pub ipv6_address_scope: Option<String>,
    /// auto-allocated-topology: whether this is the default external network. Only an
    /// external network has one (Neutron keeps it in the network's external row), so an
    /// internal network's document leaves it out, as Neutron's answers do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_default: Option<bool>,
    /// network_availability_zone: the zones asked for on create (DHCP agents there first).
    #[serde(default)]
    pub availability_zone_hints: Vec<String>,
    /// The zones of the DHCP agents serving the network, kept by the DHCP scheduling pass.
    #[serde(default)]
    pub availability_zones: Vec<String>,
    /// dns-integration: where an external DNS service would publish the network's ports.
    #[serde(default)]
    pub dns_domain: String,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// An allocation pool of a subnet.
pub use neutrino_ipam::AllocationPool;

/// A static route handed to instances by DHCP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// One subnet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub project_id: String,
    pub network_id: String,
    pub ip_version: u8,
    pub subnetpool_id: Option<String>,
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<AllocationPool>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub enable_dhcp: bool,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    /// `subnet-external-network`: its network's `router:external`, kept in step by the
    /// server (read-only; documents written before the extension read as `false`).
    #[serde(rename = "router:external", default)]
    pub router_external: bool,
    /// `subnet-service-types`: the device owners whose ports take their automatic
    /// addresses here (empty: any port; documents written before the extension read empty).
    #[serde(default)]
    pub service_types: Vec<String>,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// A fixed IP of a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixedIp {
    pub subnet_id: String,
    pub ip_address: String,
}

/// One entry of a port's `dns_assignment`: the name of one of its fixed IPs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsAssignment {
    pub ip_address: String,
    pub hostname: String,
    pub fqdn: String,
}

/// An extra address (or network) the port may send from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressPair {
    pub ip_address: String,
    pub mac_address: String,
}

/// A DHCP option for one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExtraDhcpOpt {
    pub opt_name: String,
    pub opt_value: Option<String>,
    pub ip_version: u8,
}

/// One port.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Port {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub project_id: String,
    pub network_id: String,
    pub admin_state_up: bool,
    pub mac_address: String,
    pub fixed_ips: Vec<FixedIp>,
    pub device_id: String,
    pub device_owner: String,
    pub status: String,
    pub port_security_enabled: bool,
    pub allowed_address_pairs: Vec<AddressPair>,
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: String,
    #[serde(rename = "binding:vif_type")]
    pub binding_vif_type: String,
    #[serde(rename = "binding:vif_details")]
    pub binding_vif_details: Map<String, Value>,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    #[serde(rename = "binding:profile")]
    pub binding_profile: Map<String, Value>,
    pub ip_allocation: String,
    /// Security group ids (empty when port security is off).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// dns-integration: the name given (kept only under a real server `dns_domain`).
    #[serde(default)]
    pub dns_name: String,
    /// dns-domain-ports: the domain given (kept only under a real server `dns_domain`).
    #[serde(default)]
    pub dns_domain: String,
    /// dns-integration: one name per fixed IP, kept in step with `dns_name` and `fixed_ips`
    /// by every write of the port (`DnsDomain::assignment`).
    #[serde(default)]
    pub dns_assignment: Vec<DnsAssignment>,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// One binding of a port to a host as `binding-extended` shows it
/// (`GET /v2.0/ports/{id}/bindings`): the port's own `binding:*` attributes are its ACTIVE
/// binding; a port moving to another host has an INACTIVE one there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PortBindingDoc {
    pub host: String,
    pub vif_type: String,
    pub vnic_type: String,
    /// `ACTIVE` or `INACTIVE` ([`binding_status`]).
    pub status: String,
    pub profile: Map<String, Value>,
    pub vif_details: Map<String, Value>,
}

/// A port binding's `status` (`binding-extended`).
pub mod binding_status {
    pub const ACTIVE: &str = "ACTIVE";
    pub const INACTIVE: &str = "INACTIVE";
}

/// A security group rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub security_group_id: String,
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub normalized_cidr: Option<String>,
    pub remote_group_id: Option<String>,
    pub remote_address_group_id: Option<String>,
    pub belongs_to_default_sg: bool,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// A template of the rules new security groups are made with (`security-groups-default-rules`):
/// project-less, in Neutron's field order. `remote_group_id` may be `PARENT`, which stands
/// for the new group itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DefaultSecurityGroupRule {
    pub id: String,
    pub ethertype: String,
    pub direction: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_address_group_id: Option<String>,
    pub remote_group_id: Option<String>,
    pub description: String,
    /// Used for each project's `default` group.
    pub used_in_default_sg: bool,
    /// Used for every other new group.
    pub used_in_non_default_sg: bool,
}

/// A security group; its rules are kept in the document so listing needs no join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub project_id: String,
    pub stateful: bool,
    pub shared: bool,
    pub security_group_rules: Vec<SecurityGroupRule>,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// A router's gateway to an external network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatewayInfo {
    pub network_id: String,
    pub enable_snat: bool,
    pub external_fixed_ips: Vec<FixedIp>,
}

/// One router.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Router {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub project_id: String,
    pub admin_state_up: bool,
    pub status: String,
    pub external_gateway_info: Option<GatewayInfo>,
    pub routes: Vec<HostRoute>,
    /// l3-flavors: the flavor the router was created with (absent in documents stored
    /// before it, which migration 0015 completes).
    #[serde(default)]
    pub flavor_id: Option<String>,
    /// router_availability_zone: the zones asked for on create (L3 agents there first).
    #[serde(default)]
    pub availability_zone_hints: Vec<String>,
    /// The zone of the L3 agent hosting the router, kept by the L3 scheduling pass.
    #[serde(default)]
    pub availability_zones: Vec<String>,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// One flavor (`flavors`), in the key order of Neutron's `_make_flavor_dict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub service_type: String,
    pub enabled: bool,
    /// The associated profiles, in the order they were associated.
    pub service_profiles: Vec<String>,
}

/// One service profile (`flavors`), as Neutron shows it (its `flavors` are not in the
/// attribute map, so never shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceProfile {
    pub id: String,
    pub description: Option<String>,
    pub driver: String,
    pub enabled: bool,
    pub metainfo: Option<String>,
}

/// The associated port's fields a floating IP shows (Neutron's `_make_port_details_dict`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortDetails {
    pub name: String,
    pub network_id: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: String,
    pub device_id: String,
    pub device_owner: String,
}

impl Port {
    /// Names the port's addresses as they are now (`dns_assignment`): every write that gives
    /// a port addresses or a `dns_name` calls it before saving.
    pub fn name_addresses(&mut self, domain: &crate::dns::DnsDomain) {
        self.dns_assignment = domain.assignment(&self.dns_name, &self.fixed_ips);
    }

    /// Drops the `dns_assignment` entries of addresses the port no longer holds (a release
    /// needs no domain; a new address is named by `DnsDomain::assignment`).
    pub fn forget_released_names(&mut self) {
        let held = &self.fixed_ips;
        self.dns_assignment.retain(|d| held.iter().any(|f| f.ip_address == d.ip_address));
    }
}

impl From<&Port> for PortDetails {
    fn from(p: &Port) -> Self {
        Self {
            name: p.name.clone(),
            network_id: p.network_id.clone(),
            mac_address: p.mac_address.clone(),
            admin_state_up: p.admin_state_up,
            status: p.status.clone(),
            device_id: p.device_id.clone(),
            device_owner: p.device_owner.clone(),
        }
    }
}

/// A floating IP: an address on an external network, optionally NATed to a port's fixed IP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: String,
    pub tenant_id: String,
    pub project_id: String,
    pub floating_network_id: String,
    pub floating_ip_address: String,
    pub router_id: Option<String>,
    pub port_id: Option<String>,
    pub fixed_ip_address: Option<String>,
    pub status: String,
    pub port_forwardings: Vec<Value>,
    /// `fip-port-details`: the associated port as it is now. Filled on every read (the
    /// port changes without the floating IP); what a stored document holds is not shown.
    #[serde(default)]
    pub port_details: Option<PortDetails>,
    /// dns-integration: always `""`. Neutron keeps a floating IP's `dns_name` and
    /// `dns_domain` only for an external DNS service, which neutrino has not: it validates
    /// them and shows them empty, as Neutron does without `external_dns_driver`.
    #[serde(default)]
    pub dns_name: String,
    #[serde(default)]
    pub dns_domain: String,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// A subnet pool: prefixes subnets are carved from. Neutron shows the prefix lengths as
/// strings (`"24"`), so the document keeps them in that form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubnetPool {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub project_id: String,
    #[serde(with = "prefixlen_text")]
    pub default_prefixlen: u8,
    #[serde(with = "prefixlen_text")]
    pub min_prefixlen: u8,
    #[serde(with = "prefixlen_text")]
    pub max_prefixlen: u8,
    pub is_default: bool,
    pub shared: bool,
    /// Merged (no two overlap), in address order.
    pub prefixes: Vec<String>,
    pub ip_version: u8,
    /// Addresses (IPv4) or /64s (IPv6) each project may take; `None`: no limit.
    pub default_quota: Option<u64>,
    pub address_scope_id: Option<String>,
    pub description: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub revision_number: u64,
}

/// A prefix length written as Neutron's `_make_subnetpool_dict` writes it: a string.
mod prefixlen_text {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(len: &u8, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&len.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An address scope: subnet pools whose prefixes may not overlap, routed without NAT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressScope {
    pub id: String,
    pub name: String,
    pub tenant_id: String,
    pub project_id: String,
    pub shared: bool,
    pub ip_version: u8,
}

/// An address group (`address-group`): CIDRs a security group rule may name as its remote.
/// Its `shared` is Neutron's hidden RBAC field, read from the policies, never stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressGroup {
    pub id: String,
    pub name: String,
    pub project_id: String,
    /// Normalised (`network/len`), without duplicates, in string order (as Neutron's
    /// association table returns them).
    pub addresses: Vec<String>,
    pub revision_number: u64,
    pub description: String,
    pub created_at: String,
    pub updated_at: String,
    pub tenant_id: String,
}

/// Port and network status values.
pub mod status {
    pub const ACTIVE: &str = "ACTIVE";
    pub const DOWN: &str = "DOWN";
    pub const BUILD: &str = "BUILD";
}

/// `binding:vif_type` values.
pub mod vif_type {
    pub const UNBOUND: &str = "unbound";
    pub const BINDING_FAILED: &str = "binding_failed";
    pub const BRIDGE: &str = "bridge";
}

/// Device owners Neutron deletes together with the network.
pub const AUTO_DELETE_PORT_OWNERS: &[&str] =
    &["network:dhcp", "network:distributed", "network:floatingip_agent_gateway"];
