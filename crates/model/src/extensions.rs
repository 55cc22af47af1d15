//! The extension catalog served at `/v2.0/extensions`: exactly the extensions neutrino
//! implements, with neutron-lib's (or Neutron's, for the standard-attribute, quota, RBAC and
//! security-group ones, which neutron-lib does not define) alias, name, description and
//! updated timestamp, because clients match on these strings.
//!
//! `sort-key-validation` is deliberately absent: neutron-lib defines it, but Neutron never
//! loads it (it validates sort keys unconditionally), so a real server does not list it.

use serde::ser::{Serialize, SerializeStruct, Serializer};
use serde_json::{json, Value};

/// One advertised API extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Extension {
    pub alias: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub updated: &'static str,
}

impl Extension {
    /// The wire form, keys in Neutron's order (`ExtensionController._translate`):
    /// `{"name","alias","description","updated","links":[]}`.
    pub fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "alias": self.alias,
            "description": self.description,
            "updated": self.updated,
            "links": [],
        })
    }
}

/// Written by hand rather than derived so the serde form carries Neutron's always-empty
/// `links` too and matches [`Extension::to_json`].
impl Serialize for Extension {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        const NO_LINKS: [&str; 0] = [];
        let mut s = serializer.serialize_struct("Extension", 5)?;
        s.serialize_field("name", self.name)?;
        s.serialize_field("alias", self.alias)?;
        s.serialize_field("description", self.description)?;
        s.serialize_field("updated", self.updated)?;
        s.serialize_field("links", &NO_LINKS[..])?;
        s.end()
    }
}

/// Every extension neutrino implements.
pub const EXTENSIONS: &[Extension] = &[
    Extension {
        alias: "provider",
        name: "Provider Network",
        description: "Expose mapping of virtual networks to physical networks",
        updated: "2012-09-07T10:00:00-00:00",
    },
    Extension {
        alias: "binding",
        name: "Port Binding",
        description: "Expose port bindings of a virtual port to external application",
        updated: "2014-02-03T10:00:00-00:00",
    },
    Extension {
        alias: "binding-extended",
        name: "Port Bindings Extended",
        description: "Expose port bindings of a virtual port to external application",
        updated: "2017-07-17T10:00:00-00:00",
    },
    Extension {
        alias: "allowed-address-pairs",
        name: "Allowed Address Pairs",
        description: "Provides allowed address pairs",
        updated: "2013-07-23T10:00:00-00:00",
    },
    Extension {
        alias: "extra_dhcp_opt",
        name: "Neutron Extra DHCP options",
        description: "Extra options configuration for DHCP. For example PXE boot options to DHCP clients can be specified (e.g. tftp-server, server-ip-address, bootfile-name)",
        updated: "2013-03-17T12:00:00-00:00",
    },
    Extension {
        alias: "port-security",
        name: "Port Security",
        description: "Provides port security",
        updated: "2012-07-23T10:00:00-00:00",
    },
    Extension {
        alias: "dns-integration",
        name: "DNS Integration",
        description: "Provides integration with DNS.",
        updated: "2015-08-15T18:00:00-00:00",
    },
    Extension {
        alias: "dns-domain-ports",
        name: "dns_domain for ports",
        description: "Allows the DNS domain to be specified for a network port.",
        updated: "2017-04-24T10:00:00-00:00",
    },
    Extension {
        alias: "net-mtu",
        name: "Network MTU",
        description: "Provides MTU attribute for a network resource.",
        updated: "2015-03-25T10:00:00-00:00",
    },
    Extension {
        alias: "net-mtu-writable",
        name: "Network MTU (writable)",
        description: "Provides a writable MTU attribute for a network resource.",
        updated: "2017-07-12T00:00:00-00:00",
    },
    Extension {
        alias: "external-net",
        name: "Neutron external network",
        description: "Adds external network attribute to network resource.",
        updated: "2013-01-14T10:00:00-00:00",
    },
    Extension {
        alias: "subnet-service-types",
        name: "Subnet service types",
        description: "Provides ability to set the subnet service_types field",
        updated: "2016-03-15T18:00:00-00:00",
    },
    Extension {
        alias: "subnet-external-network",
        name: "Subnet belongs to an external network",
        description: "Informs if the subnet belongs to an external network",
        updated: "2024-02-05T18:00:00-00:00",
    },
    Extension {
        alias: "project-id",
        name: "project_id field enabled",
        description: "Extension that indicates that project_id field is enabled.",
        updated: "2016-09-09T09:09:09-09:09",
    },
    Extension {
        alias: "standard-attr-description",
        name: "standard-attr-description",
        description: "Extension to add descriptions to standard attributes",
        updated: "2016-02-10T10:00:00-00:00",
    },
    Extension {
        alias: "standard-attr-revisions",
        name: "Resource revision numbers",
        description: "This extension will display the revision number of neutron resources.",
        updated: "2016-04-11T10:00:00-00:00",
    },
    Extension {
        alias: "standard-attr-timestamp",
        name: "Resource timestamps",
        description: "Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.",
        updated: "2016-09-12T10:00:00-00:00",
    },
    Extension {
        alias: "standard-attr-tag",
        name: "Tag support for resources with standard attribute: network, subnet, port, router, floatingip, security_group",
        description: "Enables to set tag on resources with standard attribute.",
        updated: "2017-01-01T00:00:00-00:00",
    },
    Extension {
        alias: "revision-if-match",
        name: "If-Match constraints based on revision_number",
        description: "Extension indicating that If-Match based on revision_number is supported.",
        updated: "2016-12-11T00:00:00-00:00",
    },
    Extension {
        alias: "pagination",
        name: "Pagination support",
        description: "Extension that indicates that pagination is enabled.",
        updated: "2016-06-12T00:00:00-00:00",
    },
    Extension {
        alias: "sorting",
        name: "Sorting support",
        description: "Extension that indicates that sorting is enabled.",
        updated: "2016-06-12T00:00:00-00:00",
    },
    Extension {
        alias: "filter-validation",
        name: "Filter parameters validation",
        description: "Provides validation on filter parameters.",
        updated: "2018-07-04T10:00:00-00:00",
    },
    Extension {
        alias: "empty-string-filtering",
        name: "Empty String Filtering Extension",
        description: "Allow filtering by attributes with empty string value",
        updated: "2018-05-01T10:00:00-00:00",
    },
    Extension {
        alias: "ip-substring-filtering",
        name: "IP address substring filtering",
        description: "Provides IP address substring filtering when listing ports",
        updated: "2017-11-28T09:00:00-00:00",
    },
    Extension {
        alias: "tag-ports-during-bulk-creation",
        name: "Tag Ports During Bulk Creation",
        description: "Allow to tag ports during bulk creation",
        updated: "2019-12-29T19:00:00-00:00",
    },
    Extension {
        alias: "tag-creation",
        name: "Tag creation extension",
        description: "Allow to create multiple tags for a resource",
        // Sic: neutron-lib's value (month 23), which clients see as is.
        updated: "2024-23-07T10:00:00-00:00",
    },
    Extension {
        alias: "ip_allocation",
        name: "IP Allocation",
        description: "IP allocation extension.",
        updated: "2016-06-10T23:00:00-00:00",
    },
    Extension {
        alias: "quotas",
        name: "Quota management support",
        description: "Expose functions for quotas management per project",
        updated: "2012-07-29T10:00:00-00:00",
    },
    Extension {
        alias: "quota_details",
        name: "Quota details management support",
        description: "Expose functions for quotas usage statistics per project",
        updated: "2017-02-10T10:00:00-00:00",
    },
    Extension {
        alias: "quota-check-limit",
        name: "Quota engine limit check",
        description: "Support for checking the resource usage before applying a new quota limit",
        updated: "2021-09-08T16:00:00-00:00",
    },
    Extension {
        alias: "quota-check-limit-default",
        name: "Quota engine limit check by default",
        description: "By default, the Neutron quota engine checks the resource usage before applying a new quota limit",
        updated: "2024-08-21T16:00:00-00:00",
    },
    Extension {
        alias: "rbac-policies",
        name: "RBAC Policies",
        description: "Allows creation and modification of policies that control project access to resources.",
        updated: "2015-06-17T12:15:12-00:00",
    },
    Extension {
        alias: "rbac-address-scope",
        name: "Add address_scope type to RBAC",
        description: "Add address_scope type to RBAC",
        updated: "2020-02-12T00:00:00-00:00",
    },
    Extension {
        alias: "rbac-subnetpool",
        name: "Add subnetpool type to RBAC",
        description: "Add subnetpool type to RBAC",
        updated: "2020-02-05T00:00:00-00:00",
    },
    Extension {
        alias: "security-group",
        name: "security-group",
        description: "The security groups extension.",
        updated: "2012-10-05T10:00:00-00:00",
    },
    Extension {
        alias: "address-group",
        name: "Address group",
        description: "Support address group",
        updated: "2020-07-15T10:00:00-00:00",
    },
    Extension {
        alias: "rbac-address-group",
        name: "Add address_group type to RBAC",
        description: "Add address_group type to network RBAC",
        updated: "2021-01-20T00:00:00-00:00",
    },
    Extension {
        alias: "security-groups-remote-address-group",
        name: "Remote address group id field for security group rules",
        description: "Add new field of remote address group id in SG rules",
        updated: "2020-08-25T10:00:00-00:00",
    },
    Extension {
        alias: "stateful-security-group",
        name: "Stateful security group",
        description: "Indicates if the security group is stateful or not",
        updated: "2019-11-26T09:00:00-00:00",
    },
    Extension {
        alias: "router",
        name: "Neutron L3 Router",
        description: "Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.",
        updated: "2012-07-20T10:00:00-00:00",
    },
    Extension {
        alias: "ext-gw-mode",
        name: "Neutron L3 Configurable external gateway mode",
        description: "Extension of the router abstraction for specifying whether SNAT should occur on the external gateway",
        updated: "2013-03-28T10:00:00-00:00",
    },
    Extension {
        alias: "extraroute",
        name: "Neutron Extra Route",
        description: "Extra routes configuration for L3 router",
        updated: "2013-02-01T10:00:00-00:00",
    },
    Extension {
        alias: "extraroute-atomic",
        name: "Atomically add/remove extra routes",
        description: "Edit extra routes of a router on server side by atomically adding/removing extra routes",
        updated: "2019-07-10T00:00:00+00:00",
    },
    Extension {
        alias: "agent",
        name: "agent",
        description: "The agent management extension.",
        updated: "2013-02-03T10:00:00-00:00",
    },
    Extension {
        alias: "dhcp_agent_scheduler",
        name: "DHCP Agent Scheduler",
        description: "Schedule networks among dhcp agents",
        updated: "2013-02-07T10:00:00-00:00",
    },
    Extension {
        alias: "l3_agent_scheduler",
        name: "L3 Agent Scheduler",
        description: "Schedule routers among l3 agents",
        updated: "2013-02-07T10:00:00-00:00",
    },
    Extension {
        alias: "availability_zone",
        name: "Availability Zone",
        description: "The availability zone extension.",
        updated: "2015-01-01T10:00:00-00:00",
    },
    Extension {
        alias: "availability_zone_filter",
        name: "Availability Zone Filter Extension",
        description: "Add filter parameters to AvailabilityZone resource",
        updated: "2018-06-22T10:00:00-00:00",
    },
    Extension {
        alias: "network_availability_zone",
        name: "Network Availability Zone",
        description: "Availability zone support for network.",
        updated: "2015-01-01T10:00:00-00:00",
    },
    Extension {
        alias: "router_availability_zone",
        name: "Router Availability Zone",
        description: "Availability zone support for router.",
        updated: "2015-01-01T10:00:00-00:00",
    },
    Extension {
        alias: "auto-allocated-topology",
        name: "Auto Allocated Topology Services",
        description: "Auto Allocated Topology Services.",
        updated: "2016-01-01T00:00:00-00:00",
    },
    Extension {
        alias: "floating-ip-port-forwarding",
        name: "Floating IP Port Forwarding",
        description: "Allow port forwarding from floating IP port to an internal port",
        updated: "2018-01-19T10:00:00-00:00",
    },
    Extension {
        alias: "expose-port-forwarding-in-fip",
        name: "Expose Floating IP port forwardings",
        description: "Expose port forwarding fields in floating IP response",
        updated: "2018-06-28T16:00:00-00:00",
    },
    Extension {
        alias: "floating-ip-port-forwarding-description",
        name: "Floating IP Port Forwarding new attribute description",
        description: "Add a description field to Port Forwarding rules",
        updated: "2019-11-01T10:00:00-00:00",
    },
    Extension {
        alias: "floating-ip-port-forwarding-detail",
        name: "Floating IP port forwarding detail",
        // neutron-lib's two literals are joined without a space.
        description: "Allow list floating ip return more port forwarding data, include'id' and 'internal_port_id'",
        updated: "2022-05-06T10:00:00-00:00",
    },
    Extension {
        alias: "fip-port-details",
        name: "Floating IP Port Details Extension",
        description: "Add port_details attribute to Floating IP resource",
        updated: "2018-04-09T10:00:00-00:00",
    },
    Extension {
        alias: "port-mac-address-regenerate",
        name: "Neutron Port MAC address regenerate",
        description: "Network port MAC address regenerate",
        updated: "2018-05-03T10:00:00-00:00",
    },
    Extension {
        alias: "security-groups-normalized-cidr",
        name: "Normalized CIDR field for security group rules",
        description: "Add new field with normalized remote_ip_prefix cidr in SG rule",
        updated: "2020-07-28T10:00:00-00:00",
    },
    Extension {
        alias: "security-groups-default-rules",
        name: "Default rules for security groups",
        description: "Configure set of security group rules used as default rules for every new security group",
        updated: "2022-12-19T10:00:00-00:00",
    },
    Extension {
        alias: "security-groups-rules-belongs-to-default-sg",
        name: "Security group rule belongs to the project's default security group",
        description: "Flag to determine if the security group rule belongs to the project's default security group",
        updated: "2023-05-23T10:00:00-00:00",
    },
    Extension {
        alias: "security-groups-shared-filtering",
        name: "Security group filtering on the shared field",
        description: "Support filtering security groups on the shared field",
        updated: "2021-10-05T09:00:00-00:00",
    },
    Extension {
        alias: "rbac-security-groups",
        name: "Add security_group type to network RBAC",
        description: "Add security_group type to network RBAC",
        updated: "2019-02-14T00:00:00-00:00",
    },
    Extension {
        alias: "port-security-groups-filtering",
        name: "Port filtering on security groups",
        description: "Provides security groups filtering when listing ports",
        updated: "2018-01-09T09:00:00-00:00",
    },
    Extension {
        alias: "floatingip-pools",
        name: "Floating IP Pools Extension",
        description: "Provides a floating IP pools API.",
        updated: "2018-03-21T10:00:00-00:00",
    },
    Extension {
        alias: "subnet_allocation",
        name: "Subnet Allocation",
        description: "Enables allocation of subnets from a subnet pool",
        updated: "2015-03-30T10:00:00-00:00",
    },
    Extension {
        alias: "default-subnetpools",
        name: "Default Subnetpools",
        description: "Provides ability to mark and use a subnetpool as the default.",
        updated: "2016-02-18T18:00:00-00:00",
    },
    Extension {
        alias: "subnetpool-prefix-ops",
        name: "Subnet Pool Prefix Operations",
        description: "Provides support for adjusting the prefix list of subnet pools",
        updated: "2019-02-08T10:00:00-00:00",
    },
    Extension {
        alias: "address-scope",
        name: "Address scope",
        description: "Address scopes extension.",
        updated: "2015-07-26T10:00:00-00:00",
    },
    Extension {
        alias: "network-ip-availability",
        name: "Network IP Availability",
        description: "Provides IP availability data for each network and subnet.",
        updated: "2015-09-24T00:00:00-00:00",
    },
    Extension {
        alias: "flavors",
        name: "Neutron Service Flavors",
        description: "Flavor specification for Neutron advanced services.",
        updated: "2015-09-17T10:00:00-00:00",
    },
    Extension {
        alias: "l3-flavors",
        name: "Router Flavor Extension",
        description: "Flavor support for routers.",
        updated: "2016-05-17T00:00:00-00:00",
    },
    Extension {
        alias: "service-type",
        name: "Neutron Service Type Management",
        description: "API for retrieving service providers for Neutron advanced services",
        updated: "2013-01-20T00:00:00-00:00",
    },
];

/// The extension with this alias.
pub fn find(alias: &str) -> Option<&'static Extension> {
    EXTENSIONS.iter().find(|e| e.alias == alias)
}

#[cfg(test)]
mod tests;
