//! The extension catalog served at `/v2.0/extensions`: exactly the extensions neutrino
//! implements, with neutron-lib's (or Neutron's, for the standard-attribute ones) alias,
//! name, description and updated timestamp, because clients match on these strings.

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
    /// The wire form: `{"alias","name","description","updated","links":[]}`.
    pub fn to_json(&self) -> Value {
        json!({"alias": self.alias, "name": self.name, "description": self.description, "updated": self.updated, "links": []})
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
        alias: "rbac-policies",
        name: "RBAC Policies",
        description: "Allows creation and modification of policies that control project access to resources.",
        updated: "2015-06-17T12:15:12-00:00",
    },
    Extension {
        alias: "security-group",
        name: "security-group",
        description: "The security groups extension.",
        updated: "2012-10-05T10:00:00-00:00",
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
        alias: "availability_zone",
        name: "Availability Zone",
        description: "The availability zone extension.",
        updated: "2015-01-01T10:00:00-00:00",
    },
    Extension {
        alias: "floating-ip-port-forwarding",
        name: "Floating IP Port Forwarding",
        description: "Allow port forwarding from floating IP port to an internal port",
        updated: "2018-01-19T10:00:00-00:00",
    },
];

/// The extension with this alias.
pub fn find(alias: &str) -> Option<&'static Extension> {
    EXTENSIONS.iter().find(|e| e.alias == alias)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_unique_and_timestamps_well_formed() {
        let mut aliases: Vec<_> = EXTENSIONS.iter().map(|e| e.alias).collect();
        aliases.sort_unstable();
        aliases.dedup();
        assert_eq!(aliases.len(), EXTENSIONS.len());
        for e in EXTENSIONS {
            assert_eq!(e.updated.len(), 25, "{}", e.alias);
            assert_eq!(&e.updated[10..11], "T", "{}", e.alias);
        }
    }

    #[test]
    fn lookup() {
        assert_eq!(find("provider").map(|e| e.name), Some("Provider Network"));
        assert!(find("floatingip-pools").is_none(), "never advertise what is not implemented");
        assert!(find("security-group").is_some());
    }
}
