//! The API's collections: where they live in the URL and how their JSON envelopes are keyed.

/// An API collection. The URL segment uses dashes where the JSON keys use underscores
/// (`/v2.0/rbac-policies` answers `{"rbac_policies": [...]}`), so each is spelled out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    Networks,
    Subnets,
    Ports,
    RbacPolicies,
    Routers,
    FloatingIps,
    SecurityGroups,
    SecurityGroupRules,
    Agents,
}

impl Collection {
    /// URL segment after `/v2.0/`.
    pub fn path(self) -> &'static str {
        match self {
            Collection::Networks => "networks",
            Collection::Subnets => "subnets",
            Collection::Ports => "ports",
            Collection::RbacPolicies => "rbac-policies",
            Collection::Routers => "routers",
            Collection::FloatingIps => "floatingips",
            Collection::SecurityGroups => "security-groups",
            Collection::SecurityGroupRules => "security-group-rules",
            Collection::Agents => "agents",
        }
    }

    /// JSON key of a list (and of its `<plural>_links` pagination key).
    pub fn plural(self) -> &'static str {
        match self {
            Collection::Networks => "networks",
            Collection::Subnets => "subnets",
            Collection::Ports => "ports",
            Collection::RbacPolicies => "rbac_policies",
            Collection::Routers => "routers",
            Collection::FloatingIps => "floatingips",
            Collection::SecurityGroups => "security_groups",
            Collection::SecurityGroupRules => "security_group_rules",
            Collection::Agents => "agents",
        }
    }

    /// JSON key of one object in requests and answers.
    pub fn singular(self) -> &'static str {
        match self {
            Collection::Networks => "network",
            Collection::Subnets => "subnet",
            Collection::Ports => "port",
            Collection::RbacPolicies => "rbac_policy",
            Collection::Routers => "router",
            Collection::FloatingIps => "floatingip",
            Collection::SecurityGroups => "security_group",
            Collection::SecurityGroupRules => "security_group_rule",
            Collection::Agents => "agent",
        }
    }

    /// The resource's name in openstacksdk's messages ("No Network found for x").
    pub fn display(self) -> &'static str {
        match self {
            Collection::Networks => "Network",
            Collection::Subnets => "Subnet",
            Collection::Ports => "Port",
            Collection::RbacPolicies => "RBACPolicy",
            Collection::Routers => "Router",
            Collection::FloatingIps => "FloatingIP",
            Collection::SecurityGroups => "SecurityGroup",
            Collection::SecurityGroupRules => "SecurityGroupRule",
            Collection::Agents => "Agent",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashed_paths_have_underscored_keys() {
        assert_eq!(Collection::RbacPolicies.path(), "rbac-policies");
        assert_eq!(Collection::RbacPolicies.plural(), "rbac_policies");
        assert_eq!(Collection::RbacPolicies.singular(), "rbac_policy");
        assert_eq!(Collection::Subnets.singular(), "subnet");
        assert_eq!(Collection::Ports.display(), "Port");
    }
}
