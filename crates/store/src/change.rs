//! The change feed's vocabulary: what a change is about and what happened to it.
//!
//! Both are stored as the strings below (the `resource` and `op` columns of `changes`);
//! the names are the feed's wire names and never change, so an existing database keeps
//! reading.

use neutrino_model::Resource;

/// What a change is about: an API resource, or something that is not one (an agent, whose
/// assignments and liveness the schedulers follow).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Router,
    FloatingIp,
    SubnetPool,
    AddressScope,
    Flavor,
    ServiceProfile,
    DefaultSecurityGroupRule,
    AddressGroup,
    Agent,
    /// A token or a set of tokens was revoked (a logout, a user disabled, a password
    /// changed): every server re-reads its revocations. Concerns no host.
    Revocation,
    /// The token signing keys were rotated: every server re-reads them. Concerns no host.
    SigningKey,
    /// A diagnosis asked a host's agent a question; the change's id is the host, so the
    /// agent's question poll (and only it) wakes: no host state reads this kind.
    HostQuestion,
    /// A host's agent answered a question; the change's id is the question's, so the
    /// diagnosis waiting for it (on whichever server) wakes.
    HostAnswer,
}

impl ChangeKind {
    /// Every kind, for lookups by name.
    const ALL: [ChangeKind; 18] = [
        ChangeKind::Network,
        ChangeKind::Subnet,
        ChangeKind::Port,
        ChangeKind::SecurityGroup,
        ChangeKind::SecurityGroupRule,
        ChangeKind::Router,
        ChangeKind::FloatingIp,
        ChangeKind::SubnetPool,
        ChangeKind::AddressScope,
        ChangeKind::Flavor,
        ChangeKind::ServiceProfile,
        ChangeKind::DefaultSecurityGroupRule,
        ChangeKind::AddressGroup,
        ChangeKind::Agent,
        ChangeKind::Revocation,
        ChangeKind::SigningKey,
        ChangeKind::HostQuestion,
        ChangeKind::HostAnswer,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::Network => "network",
            ChangeKind::Subnet => "subnet",
            ChangeKind::Port => "port",
            ChangeKind::SecurityGroup => "security_group",
            ChangeKind::SecurityGroupRule => "security_group_rule",
            ChangeKind::Router => "router",
            ChangeKind::FloatingIp => "floatingip",
            ChangeKind::SubnetPool => "subnetpool",
            ChangeKind::AddressScope => "address_scope",
            ChangeKind::Flavor => "flavor",
            ChangeKind::ServiceProfile => "service_profile",
            ChangeKind::DefaultSecurityGroupRule => "default_security_group_rule",
            ChangeKind::AddressGroup => "address_group",
            ChangeKind::Agent => "agent",
            ChangeKind::Revocation => "revocation",
            ChangeKind::SigningKey => "signing_key",
            ChangeKind::HostQuestion => "host_question",
            ChangeKind::HostAnswer => "host_answer",
        }
    }

    /// The kind stored as `name`, if any.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl From<Resource> for ChangeKind {
    fn from(resource: Resource) -> Self {
        match resource {
            Resource::Network => ChangeKind::Network,
            Resource::Subnet => ChangeKind::Subnet,
            Resource::Port => ChangeKind::Port,
            Resource::SecurityGroup => ChangeKind::SecurityGroup,
            Resource::SecurityGroupRule => ChangeKind::SecurityGroupRule,
            Resource::Router => ChangeKind::Router,
            Resource::FloatingIp => ChangeKind::FloatingIp,
            Resource::SubnetPool => ChangeKind::SubnetPool,
            Resource::AddressScope => ChangeKind::AddressScope,
            Resource::Flavor => ChangeKind::Flavor,
            Resource::ServiceProfile => ChangeKind::ServiceProfile,
            Resource::DefaultSecurityGroupRule => ChangeKind::DefaultSecurityGroupRule,
            Resource::AddressGroup => ChangeKind::AddressGroup,
        }
    }
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeOp {
    Create,
    Update,
    Delete,
}

impl ChangeOp {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeOp::Create => "create",
            ChangeOp::Update => "update",
            ChangeOp::Delete => "delete",
        }
    }
}

/// One entry of the feed, as the schedulers read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The global, monotonic sequence number.
    pub seq: u64,
    pub kind: ChangeKind,
    /// The id of the resource (or agent) that changed.
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's schedulers and existing databases know these names.
    #[test]
    fn each_kind_and_op_has_its_stored_name() {
        let names: Vec<&str> = ChangeKind::ALL.into_iter().map(ChangeKind::as_str).collect();
        assert_eq!(
            names,
            [
                "network",
                "subnet",
                "port",
                "security_group",
                "security_group_rule",
                "router",
                "floatingip",
                "subnetpool",
                "address_scope",
                "flavor",
                "service_profile",
                "default_security_group_rule",
                "address_group",
                "agent",
                "revocation",
                "signing_key",
                "host_question",
                "host_answer"
            ]
        );
        for kind in ChangeKind::ALL {
            assert_eq!(ChangeKind::from_name(kind.as_str()), Some(kind));
        }
        assert_eq!(ChangeKind::from_name("trunk"), None);
        let ops: Vec<&str> = [ChangeOp::Create, ChangeOp::Update, ChangeOp::Delete].map(ChangeOp::as_str).to_vec();
        assert_eq!(ops, ["create", "update", "delete"]);
    }

    #[test]
    fn each_resource_is_its_own_kind() {
        let kinds: Vec<&str> = [
            Resource::Network,
            Resource::Subnet,
            Resource::Port,
            Resource::SecurityGroup,
            Resource::SecurityGroupRule,
            Resource::Router,
            Resource::FloatingIp,
            Resource::SubnetPool,
            Resource::AddressScope,
            Resource::DefaultSecurityGroupRule,
            Resource::AddressGroup,
        ]
        .into_iter()
        .map(|r| ChangeKind::from(r).as_str())
        .collect();
        assert_eq!(
            kinds,
            [
                "network",
                "subnet",
                "port",
                "security_group",
                "security_group_rule",
                "router",
                "floatingip",
                "subnetpool",
                "address_scope",
                "default_security_group_rule",
                "address_group"
            ]
        );
    }
}
