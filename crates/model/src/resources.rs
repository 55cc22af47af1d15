//! The attribute maps of the resources neutrino serves: core attributes plus those of every
//! extension we advertise (provider, net-mtu-writable, external-net, port-security,
//! binding, allowed-address-pairs, extra_dhcp_opt, ip_allocation, standard attributes,
//! subnet_allocation, default-subnetpools, address-scope, flavors, l3-flavors, address-group,
//! security-groups-remote-address-group, dns-integration, dns-domain-ports).

use crate::attrs::{AttrSpec, Default as D, Kind as K};
use crate::error::Resource;

/// One API resource: its names and attribute map.
#[derive(Debug)]
pub struct ResourceDef {
    /// Which resource.
    pub resource: Resource,
    /// JSON key of one object, e.g. `network`.
    pub singular: &'static str,
    /// JSON key and URL segment of the collection, e.g. `networks`.
    pub plural: &'static str,
    /// Attributes in display order.
    pub attrs: &'static [AttrSpec],
}

impl ResourceDef {
    /// The attribute named `name`, if the resource has it.
    pub fn attr(&self, name: &str) -> Option<&'static AttrSpec> {
        self.attrs.iter().find(|a| a.name == name)
    }
}

const fn attr(name: &'static str, post: bool, put: bool, default: D, kind: K, filter: bool, sort: bool) -> AttrSpec {
    AttrSpec { name, post, put, default, kind, filter, sort }
}

/// neutron-lib's NAME_FIELD_SIZE / DESCRIPTION_FIELD_SIZE / PROJECT_ID_FIELD_SIZE.
pub const NAME_MAX: usize = 255;
const PROJECT_MAX: usize = 255;

/// Network segment types the type drivers handle.
pub const NETWORK_TYPES: &[&str] = &["flat", "vlan", "vxlan", "local", "geneve", "gre"];

/// `binding:vnic_type` values (portbindings.VNIC_TYPES).
pub const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "remote-managed",
    "accelerator-direct",
    "accelerator-direct-physical",
];

/// `ipv6_ra_mode` / `ipv6_address_mode` values.
pub const IPV6_MODES: &[&str] = &["dhcpv6-stateful", "dhcpv6-stateless", "slaac"];

macro_rules! standard_attrs {
    () => {
        [
            attr("tenant_id", true, false, D::NotSpecified, K::Str(PROJECT_MAX), true, true),
            attr("project_id", true, false, D::NotSpecified, K::Str(PROJECT_MAX), true, true),
            attr("description", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
            attr("tags", true, false, D::EmptyList, K::StringList(NAME_MAX), false, false),
            AttrSpec::read_only("created_at", true, true),
            AttrSpec::read_only("updated_at", true, true),
            AttrSpec::read_only("revision_number", true, true),
        ]
    };
}

const NETWORK_ATTRS: [AttrSpec; 25] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
        AttrSpec::read_only("subnets", false, false),
        attr("admin_state_up", true, true, D::Bool(true), K::Bool, true, true),
        AttrSpec::read_only("status", true, true),
        attr("shared", true, true, D::Bool(false), K::Bool, true, false),
        attr("mtu", true, true, D::NotSpecified, K::NonNegative, true, true),
        attr("router:external", true, true, D::Bool(false), K::Bool, true, false),
        attr("port_security_enabled", true, true, D::Bool(true), K::Bool, false, false),
        attr("provider:network_type", true, true, D::NotSpecified, K::Str(32), true, false),
        attr("provider:physical_network", true, true, D::NotSpecified, K::Str(64), true, false),
        attr("provider:segmentation_id", true, true, D::NotSpecified, K::IntRangeOrNone(0, 16_777_215), true, false),
        AttrSpec::read_only("ipv4_address_scope", false, false),
        AttrSpec::read_only("ipv6_address_scope", false, false),
        // auto-allocated-topology (admin-only by policy).
        attr("is_default", true, true, D::Bool(false), K::Bool, true, false),
        // network_availability_zone
        attr("availability_zone_hints", true, false, D::EmptyList, K::AzHints, false, true),
        AttrSpec::read_only("availability_zones", false, false),
        // dns-integration (neither a filter nor a sort key in neutron-lib's map).
        attr("dns_domain", true, true, D::Str(""), K::DnsDomain, false, false),
        std[0],
        std[1],
        std[2],
        std[3],
        std[4],
        std[5],
        std[6],
    ]
};

const SUBNET_ATTRS: [AttrSpec; 25] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
        attr("ip_version", true, false, D::Required, K::IntOneOf(&[4, 6]), true, true),
        attr("network_id", true, false, D::Required, K::Uuid, true, true),
        attr("subnetpool_id", true, false, D::NotSpecified, K::UuidOrNone, true, true),
        // Not shown: how big a subnet to take from the pool.
        attr("prefixlen", true, false, D::NotSpecified, K::NonNegative, false, false),
        attr("cidr", true, false, D::NotSpecified, K::Cidr, true, true),
        attr("gateway_ip", true, true, D::NotSpecified, K::IpOrNone, true, true),
        attr("allocation_pools", true, true, D::NotSpecified, K::IpPools, false, false),
        attr("dns_nameservers", true, true, D::NotSpecified, K::Nameservers, false, false),
        attr("host_routes", true, true, D::NotSpecified, K::HostRoutes, false, false),
        attr("enable_dhcp", true, true, D::Bool(true), K::Bool, true, true),
        attr("ipv6_ra_mode", true, false, D::NotSpecified, K::OneOf(IPV6_MODES, true), true, true),
        attr("ipv6_address_mode", true, false, D::NotSpecified, K::OneOf(IPV6_MODES, true), true, true),
        AttrSpec::read_only("shared", true, false),
        // `subnet-external-network`: read-only, filterable, a boolean like the network's.
        attr("router:external", false, false, D::NotSpecified, K::Bool, true, false),
        // subnet-service-types: not a filter in neutron-lib's map (no `is_filter`).
        attr("service_types", true, true, D::NotSpecified, K::SubnetServiceTypes, false, false),
        std[0],
        std[1],
        std[2],
        std[3],
        std[4],
        std[5],
        std[6],
        // default-subnetpools; not shown.
        attr("use_default_subnetpool", true, false, D::Bool(false), K::Bool, false, false),
    ]
};

const PORT_ATTRS: [AttrSpec; 29] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
        attr("network_id", true, false, D::Required, K::Uuid, true, true),
        attr("admin_state_up", true, true, D::Bool(true), K::Bool, true, true),
        attr("mac_address", true, true, D::NotSpecified, K::Mac, true, true),
        attr("fixed_ips", true, true, D::NotSpecified, K::FixedIps, true, false),
        attr("device_id", true, true, D::Str(""), K::Str(255), true, true),
        attr("device_owner", true, true, D::Str(""), K::Str(255), true, true),
        AttrSpec::read_only("status", true, true),
        attr("port_security_enabled", true, true, D::NotSpecified, K::Bool, false, false),
        attr("allowed_address_pairs", true, true, D::NotSpecified, K::AddressPairs, false, false),
        attr("extra_dhcp_opts", true, true, D::NotSpecified, K::ExtraDhcpOpts, false, false),
        attr("binding:host_id", true, true, D::NotSpecified, K::Str(255), true, false),
        attr("binding:vnic_type", true, true, D::Str("normal"), K::OneOf(VNIC_TYPES, false), true, false),
        attr("binding:profile", true, true, D::NotSpecified, K::DictOrNone, false, false),
        AttrSpec::read_only("binding:vif_type", false, false),
        AttrSpec::read_only("binding:vif_details", false, false),
        AttrSpec::read_only("ip_allocation", true, true),
        attr("security_groups", true, true, D::NotSpecified, K::UuidList, true, false),
        // dns-integration and dns-domain-ports.
        attr("dns_name", true, true, D::Str(""), K::DnsName, false, false),
        AttrSpec::read_only("dns_assignment", false, false),
        attr("dns_domain", true, true, D::Str(""), K::DnsDomain, false, false),
        std[0],
        std[1],
        std[2],
        std[3],
        std[4],
        std[5],
        std[6],
    ]
};

/// IP protocols a rule may name (neutron-lib's `IP_PROTOCOL_MAP` keys).
pub const IP_PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ip", 0),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

const SECURITY_GROUP_ATTRS: [AttrSpec; 12] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
        attr("stateful", true, true, D::Bool(true), K::Bool, true, true),
        AttrSpec::read_only("shared", true, false),
        AttrSpec::read_only("security_group_rules", false, false),
        std[0],
        std[1],
        std[2],
        std[3],
        std[4],
        std[5],
        std[6],
    ]
};

const SECURITY_GROUP_RULE_ATTRS: [AttrSpec; 18] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("security_group_id", true, false, D::Required, K::Uuid, true, true),
        attr("remote_group_id", true, false, D::NotSpecified, K::Unvalidated, true, true),
        attr("direction", true, false, D::Required, K::OneOf(&["ingress", "egress"], false), true, true),
        attr("protocol", true, false, D::NotSpecified, K::Protocol, true, true),
        attr("port_range_min", true, false, D::NotSpecified, K::Port, true, true),
        attr("port_range_max", true, false, D::NotSpecified, K::Port, true, true),
        attr("ethertype", true, false, D::Str("IPv4"), K::Ethertype, true, true),
        attr("remote_ip_prefix", true, false, D::NotSpecified, K::CidrOrNone, true, true),
        // security-groups-remote-address-group: no converter or validator, as neutron-lib's.
        attr("remote_address_group_id", true, false, D::NotSpecified, K::Unvalidated, true, true),
        AttrSpec::read_only("normalized_cidr", true, true),
        std[0],
        std[1],
        std[2],
        AttrSpec::read_only("created_at", true, true),
        AttrSpec::read_only("updated_at", true, true),
        AttrSpec::read_only("revision_number", true, true),
        AttrSpec::read_only("belongs_to_default_sg", true, false),
    ]
};

/// `security-groups-default-rules` (neutron's `extensions/security_groups_default_rules.py`):
/// `tenant_id` is accepted and never shown; `used_in_*` have no default (required).
const DEFAULT_SECURITY_GROUP_RULE_ATTRS: [AttrSpec; 14] = [
    AttrSpec::read_only("id", true, true),
    attr("tenant_id", true, false, D::NotSpecified, K::Str(PROJECT_MAX), false, false),
    attr("project_id", true, false, D::NotSpecified, K::Str(PROJECT_MAX), false, false),
    attr("description", true, false, D::Str(""), K::Str(LONG_DESCRIPTION_MAX), true, false),
    attr("remote_group_id", true, false, D::NotSpecified, K::Unvalidated, true, true),
    attr("remote_address_group_id", true, false, D::NotSpecified, K::UuidOrNone, true, true),
    attr("direction", true, false, D::Required, K::OneOf(&["ingress", "egress"], false), true, true),
    attr("protocol", true, false, D::NotSpecified, K::Protocol, true, true),
    attr("port_range_min", true, false, D::NotSpecified, K::Port, true, true),
    attr("port_range_max", true, false, D::NotSpecified, K::Port, true, true),
    attr("ethertype", true, false, D::Str("IPv4"), K::Ethertype, true, true),
    attr("remote_ip_prefix", true, false, D::NotSpecified, K::CidrOrNone, true, true),
    attr("used_in_default_sg", true, false, D::Required, K::Bool, true, false),
    attr("used_in_non_default_sg", true, false, D::Required, K::Bool, true, false),
];

const ROUTER_ATTRS: [AttrSpec; 16] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
        attr("admin_state_up", true, true, D::Bool(true), K::Bool, true, true),
        AttrSpec::read_only("status", true, true),
        attr("external_gateway_info", true, true, D::NotSpecified, K::GatewayInfo, false, false),
        attr("routes", false, true, D::NotSpecified, K::HostRoutes, false, false),
        // l3-flavors: no validator (whatever is given is looked up), set only on create.
        attr("flavor_id", true, false, D::NotSpecified, K::Unvalidated, false, true),
        // router_availability_zone
        attr("availability_zone_hints", true, false, D::EmptyList, K::AzHints, false, false),
        AttrSpec::read_only("availability_zones", false, false),
        std[0],
        std[1],
        std[2],
        std[3],
        std[4],
        std[5],
        std[6],
    ]
};

const FLOATINGIP_ATTRS: [AttrSpec; 18] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("floating_ip_address", true, false, D::NotSpecified, K::IpOrNone, true, true),
        attr("floating_network_id", true, false, D::Required, K::Uuid, true, true),
        attr("subnet_id", true, false, D::NotSpecified, K::UuidOrNone, false, false),
        AttrSpec::read_only("router_id", true, true),
        attr("port_id", true, true, D::NotSpecified, K::UuidOrNone, true, true),
        attr("fixed_ip_address", true, true, D::NotSpecified, K::IpOrNone, true, true),
        AttrSpec::read_only("status", true, true),
        AttrSpec::read_only("port_forwardings", false, false),
        // dns-integration: given on create only.
        attr("dns_name", true, false, D::Str(""), K::FipDnsName, false, false),
        attr("dns_domain", true, false, D::Str(""), K::DnsDomain, false, false),
        std[0],
        std[1],
        std[2],
        std[3],
        std[4],
        std[5],
        std[6],
    ]
};

const SUBNETPOOL_ATTRS: [AttrSpec; 18] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Required, K::NotEmptyStr, true, true),
        std[0],
        std[1],
        attr("prefixes", true, true, D::Required, K::SubnetList, false, false),
        attr("default_quota", true, true, D::NotSpecified, K::NonNegative, true, true),
        AttrSpec::read_only("ip_version", true, true),
        attr("default_prefixlen", true, true, D::NotSpecified, K::NonNegative, true, true),
        attr("min_prefixlen", true, true, D::NotSpecified, K::NonNegative, true, true),
        attr("max_prefixlen", true, true, D::NotSpecified, K::NonNegative, true, true),
        attr("is_default", true, true, D::Bool(false), K::Bool, true, true),
        attr("shared", true, false, D::Bool(false), K::Bool, true, true),
        // address-scope
        attr("address_scope_id", true, true, D::NotSpecified, K::UuidOrNone, true, true),
        std[2],
        std[3],
        std[4],
        std[5],
        std[6],
    ]
};

const ADDRESS_SCOPE_ATTRS: [AttrSpec; 6] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
        std[0],
        std[1],
        attr("shared", true, true, D::Bool(false), K::Bool, true, true),
        attr("ip_version", true, false, D::Required, K::IntOneOf(&[4, 6]), true, true),
    ]
};

/// neutron-lib's LONG_DESCRIPTION_FIELD_SIZE (descriptions of flavors, service profiles and
/// default rule templates and address groups; profiles' drivers).
const LONG_DESCRIPTION_MAX: usize = 1024;
/// The `metainfo` column's length in Neutron's schema.
pub const METAINFO_MAX: usize = 4096;

/// `flavors`: no project and no standard attributes.
const FLAVOR_ATTRS: [AttrSpec; 6] = [
    AttrSpec::read_only("id", true, true),
    attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
    attr("description", true, true, D::Str(""), K::StrOrNone(LONG_DESCRIPTION_MAX), true, true),
    attr("service_type", true, false, D::Required, K::ServicePluginType, true, true),
    // Accepted on create and update but never read (Neutron ignores it too): profiles are
    // associated through `/flavors/{id}/service_profiles`.
    attr("service_profiles", true, true, D::EmptyList, K::UuidList, false, false),
    attr("enabled", true, true, D::Bool(true), K::BoolOrNone, true, true),
];

/// `service_profiles`.
const SERVICE_PROFILE_ATTRS: [AttrSpec; 5] = [
    AttrSpec::read_only("id", true, true),
    attr("description", true, true, D::Str(""), K::StrOrNone(LONG_DESCRIPTION_MAX), true, true),
    attr("driver", true, true, D::Str(""), K::Str(LONG_DESCRIPTION_MAX), true, true),
    attr("metainfo", true, true, D::Str(""), K::Metainfo(METAINFO_MAX), false, true),
    attr("enabled", true, true, D::Bool(true), K::BoolOrNone, true, true),
];

/// `POST /v2.0/flavors/{id}/service_profiles`: the profile to associate.
const FLAVOR_SERVICE_PROFILE_ATTRS: [AttrSpec; 1] = [attr("id", true, false, D::Required, K::Uuid, false, false)];

/// The flavor resource.
pub static FLAVOR: ResourceDef =
    ResourceDef { resource: Resource::Flavor, singular: "flavor", plural: "flavors", attrs: &FLAVOR_ATTRS };

/// The service profile resource.
pub static SERVICE_PROFILE: ResourceDef = ResourceDef {
    resource: Resource::ServiceProfile,
    singular: "service_profile",
    plural: "service_profiles",
    attrs: &SERVICE_PROFILE_ATTRS,
};

/// A flavor's association with a service profile (the `service_profiles` sub-resource).
pub static FLAVOR_SERVICE_PROFILE: ResourceDef = ResourceDef {
    resource: Resource::ServiceProfile,
    singular: "service_profile",
    plural: "service_profiles",
    attrs: &FLAVOR_SERVICE_PROFILE_ATTRS,
};

/// `address-group`: no tags (not a taggable resource upstream); `shared` is Neutron's
/// hidden RBAC field, refused in a body.
const ADDRESS_GROUP_ATTRS: [AttrSpec; 10] = {
    let std = standard_attrs!();
    [
        AttrSpec::read_only("id", true, true),
        attr("name", true, true, D::Str(""), K::Str(NAME_MAX), true, true),
        attr("description", true, true, D::Str(""), K::Str(LONG_DESCRIPTION_MAX), true, true),
        std[0],
        std[1],
        attr("addresses", true, false, D::NotSpecified, K::SubnetListOrNone, false, false),
        AttrSpec::read_only("shared", false, false),
        std[4],
        std[5],
        std[6],
    ]
};

/// The address group resource.
pub static ADDRESS_GROUP: ResourceDef = ResourceDef {
    resource: Resource::AddressGroup,
    singular: "address_group",
    plural: "address_groups",
    attrs: &ADDRESS_GROUP_ATTRS,
};

/// The subnet pool resource.
pub static SUBNETPOOL: ResourceDef = ResourceDef {
    resource: Resource::SubnetPool,
    singular: "subnetpool",
    plural: "subnetpools",
    attrs: &SUBNETPOOL_ATTRS,
};

/// The address scope resource.
pub static ADDRESS_SCOPE: ResourceDef = ResourceDef {
    resource: Resource::AddressScope,
    singular: "address_scope",
    plural: "address_scopes",
    attrs: &ADDRESS_SCOPE_ATTRS,
};

/// The floating IP resource.
pub static FLOATINGIP: ResourceDef = ResourceDef {
    resource: Resource::FloatingIp,
    singular: "floatingip",
    plural: "floatingips",
    attrs: &FLOATINGIP_ATTRS,
};

/// The router resource.
pub static ROUTER: ResourceDef =
    ResourceDef { resource: Resource::Router, singular: "router", plural: "routers", attrs: &ROUTER_ATTRS };

/// The network resource.
pub static NETWORK: ResourceDef =
    ResourceDef { resource: Resource::Network, singular: "network", plural: "networks", attrs: &NETWORK_ATTRS };
/// The subnet resource.
pub static SUBNET: ResourceDef =
    ResourceDef { resource: Resource::Subnet, singular: "subnet", plural: "subnets", attrs: &SUBNET_ATTRS };
/// The port resource.
pub static PORT: ResourceDef =
    ResourceDef { resource: Resource::Port, singular: "port", plural: "ports", attrs: &PORT_ATTRS };

/// The security group resource.
pub static SECURITY_GROUP: ResourceDef = ResourceDef {
    resource: Resource::SecurityGroup,
    singular: "security_group",
    plural: "security_groups",
    attrs: &SECURITY_GROUP_ATTRS,
};
/// The security group rule resource.
pub static SECURITY_GROUP_RULE: ResourceDef = ResourceDef {
    resource: Resource::SecurityGroupRule,
    singular: "security_group_rule",
    plural: "security_group_rules",
    attrs: &SECURITY_GROUP_RULE_ATTRS,
};

/// The default security group rule templates.
pub static DEFAULT_SECURITY_GROUP_RULE: ResourceDef = ResourceDef {
    resource: Resource::DefaultSecurityGroupRule,
    singular: "default_security_group_rule",
    plural: "default_security_group_rules",
    attrs: &DEFAULT_SECURITY_GROUP_RULE_ATTRS,
};

/// The definition of a resource.
pub fn def(resource: Resource) -> &'static ResourceDef {
    match resource {
        Resource::Network => &NETWORK,
        Resource::Subnet => &SUBNET,
        Resource::Port => &PORT,
        Resource::SecurityGroup => &SECURITY_GROUP,
        Resource::SecurityGroupRule => &SECURITY_GROUP_RULE,
        Resource::Router => &ROUTER,
        Resource::FloatingIp => &FLOATINGIP,
        Resource::SubnetPool => &SUBNETPOOL,
        Resource::AddressScope => &ADDRESS_SCOPE,
        Resource::Flavor => &FLAVOR,
        Resource::ServiceProfile => &SERVICE_PROFILE,
        Resource::DefaultSecurityGroupRule => &DEFAULT_SECURITY_GROUP_RULE,
        Resource::AddressGroup => &ADDRESS_GROUP,
    }
}

/// The collections served under `/v2.0/{collection}`: the URL segment and its resource. The
/// server's router resolves `{collection}` through this table and the OpenAPI document
/// describes exactly its entries, so the two cannot drift.
pub const COLLECTIONS: &[(&str, Resource)] = &[
    ("networks", Resource::Network),
    ("subnets", Resource::Subnet),
    ("ports", Resource::Port),
    ("security-groups", Resource::SecurityGroup),
    ("security-group-rules", Resource::SecurityGroupRule),
    ("routers", Resource::Router),
    ("floatingips", Resource::FloatingIp),
    ("subnetpools", Resource::SubnetPool),
    ("address-scopes", Resource::AddressScope),
    ("flavors", Resource::Flavor),
    ("service_profiles", Resource::ServiceProfile),
    ("default-security-group-rules", Resource::DefaultSecurityGroupRule),
    ("address-groups", Resource::AddressGroup),
];

/// The resource served at `/v2.0/{collection}`.
pub fn by_collection(collection: &str) -> Option<Resource> {
    COLLECTIONS.iter().find(|(seg, _)| *seg == collection).map(|(_, r)| *r)
}

/// Whether an attribute appears in responses (neutron-lib's `is_visible`): a few are
/// accepted on create and never shown.
pub fn is_visible(resource: Resource, attr: &str) -> bool {
    !matches!(
        (resource, attr),
        (Resource::Subnet, "prefixlen" | "use_default_subnetpool") | (Resource::DefaultSecurityGroupRule, "tenant_id")
    )
}
