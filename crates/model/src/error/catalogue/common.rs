//! Catalogue: errors of more than one area — quotas, RBAC, tags, agents and their
//! assignments, and the attribute validators'.

use crate::error::ApiError;

impl ApiError {
    /// `RevisionNumberConstraintFailed` (412): the `If-Match` revision is not the current one.
    pub fn revision_number_constraint_failed(expected: impl std::fmt::Display, current: u64) -> Self {
        Self::new(
            412,
            "RevisionNumberConstraintFailed",
            format!("Constrained to {expected}, but current revision is {current}"),
        )
    }

    /// `OverQuota` (409) for one resource's quota name (`network`, `rbac_policy`, ...).
    pub fn over_quota(name: &str) -> Self {
        Self::conflict("OverQuota", format!("Quota exceeded for resources: ['{name}']."))
    }

    /// `RbacPolicyNotFound` (404); only network policies exist here.
    pub fn rbac_policy_not_found(id: &str) -> Self {
        Self::new(404, "RbacPolicyNotFound", format!("RBAC policy of type network with ID {id} not found"))
    }

    /// `DuplicateRbacPolicy` (409).
    pub fn duplicate_rbac_policy() -> Self {
        Self::conflict("DuplicateRbacPolicy", "An RBAC policy already exists with those values.")
    }

    /// `RbacPolicyInUse` (409): the target project has ports on the shared network.
    pub fn rbac_policy_in_use(object_id: &str, target_project: &str) -> Self {
        Self::conflict(
            "RbacPolicyInUse",
            format!(
                "RBAC policy on object {object_id} cannot be removed because other objects depend on it.\nDetails: Project {target_project} has ports on the network."
            ),
        )
    }

    /// `RbacPolicyInUse` (409): the target project of a subnet pool or address scope policy
    /// has subnets from the pool or pools in the scope (`NeutronRbacObject`'s delete check).
    pub fn rbac_policy_in_use_by_project(object_id: &str, target_project: &str) -> Self {
        Self::conflict(
            "RbacPolicyInUse",
            format!(
                "RBAC policy on object {object_id} cannot be removed because other objects depend on it.\nDetails: project_id={target_project}"
            ),
        )
    }

    /// `InvalidInput` (400): a policy on a subnet pool or address scope the caller does not own.
    pub fn rbac_policy_on_unowned_object() -> Self {
        Self::invalid_input("Only admins can manipulate policies on objects they do not own")
    }

    /// `InvalidInput` (400) from `RbacPolicyInitError`: a subnet pool shared with a project
    /// that may not use the pool's address scope.
    pub fn rbac_policy_init_error(object_id: &str, reason: &str) -> Self {
        Self::invalid_input(format!("Failed to create RBAC policy on object {object_id} because {reason}"))
    }

    /// `RbacPolicyInUse` (409): routers of the projects an `access_as_external` policy lets
    /// in have their gateway on the network.
    pub fn rbac_policy_in_use_by_routers(object_id: &str) -> Self {
        Self::conflict(
            "RbacPolicyInUse",
            format!(
                "RBAC policy on object {object_id} cannot be removed because other objects depend on it.\nDetails: There are routers attached to this network that depend on this policy for access."
            ),
        )
    }

    /// `InvalidSharedSetting` (409): other projects use the network being unshared.
    pub fn invalid_shared_setting(network_id: &str) -> Self {
        Self::conflict(
            "InvalidSharedSetting",
            format!("Unable to reconfigure sharing settings for network {network_id}. Multiple tenants are using it."),
        )
    }

    /// `TagNotFound` (404).
    pub fn tag_not_found(tag: &str, resource_id: &str) -> Self {
        Self::new(404, "TagNotFound", format!("Tag {tag} could not be found for resource {resource_id}."))
    }

    /// `AgentNotFound` (404).
    pub fn agent_not_found(id: &str) -> Self {
        Self::new(404, "AgentNotFound", format!("Agent {id} could not be found."))
    }

    /// `InvalidDHCPAgent` (409).
    pub fn invalid_dhcp_agent(agent_id: &str) -> Self {
        Self::conflict("InvalidDHCPAgent", format!("Agent {agent_id} is not a valid DHCP Agent or has been disabled"))
    }

    /// `InvalidL3Agent` (409).
    pub fn invalid_l3_agent(agent_id: &str) -> Self {
        Self::conflict("InvalidL3Agent", format!("Agent {agent_id} is not a L3 Agent or has been disabled"))
    }

    /// `NetworkHostedByDHCPAgent` (409).
    pub fn network_hosted_by_dhcp_agent(network_id: &str, agent_id: &str) -> Self {
        Self::conflict(
            "NetworkHostedByDHCPAgent",
            format!("The network {network_id} has been already hosted by the DHCP Agent {agent_id}."),
        )
    }

    /// `RouterHostedByL3Agent` (409).
    pub fn router_hosted_by_l3_agent(router_id: &str, agent_id: &str) -> Self {
        Self::conflict(
            "RouterHostedByL3Agent",
            format!("The router {router_id} has been already hosted by the L3 Agent {agent_id}."),
        )
    }

    /// `NetworkNotHostedByDhcpAgent` (409).
    pub fn network_not_hosted_by_dhcp_agent(network_id: &str, agent_id: &str) -> Self {
        Self::conflict(
            "NetworkNotHostedByDhcpAgent",
            format!("The network {network_id} is not hosted by the DHCP agent {agent_id}."),
        )
    }

    /// `RouterNotHostedByL3Agent` (409).
    pub fn router_not_hosted_by_l3_agent(router_id: &str, agent_id: &str) -> Self {
        Self::conflict(
            "RouterNotHostedByL3Agent",
            format!("The router {router_id} is not hosted by L3 agent {agent_id}."),
        )
    }

    /// `RouterReschedulingFailed` (409): an L3 router is hosted by one agent at a time.
    pub fn router_rescheduling_failed(router_id: &str, hosting_agent: &str) -> Self {
        Self::conflict(
            "RouterReschedulingFailed",
            format!(
                "Failed rescheduling router {router_id}: it is hosted by L3 agent {hosting_agent}; remove it first."
            ),
        )
    }

    /// `ServiceUnavailable` (503) while the store shuts down.
    pub fn store_shutting_down() -> Self {
        Self::new(503, "ServiceUnavailable", "The store is shutting down.")
    }

    /// `AllowedAddressPairExhausted` (400): more pairs than `max_allowed_address_pair`.
    pub fn address_pairs_exhausted(max: usize) -> Self {
        Self::new(
            400,
            "AllowedAddressPairExhausted",
            format!("The number of allowed address pair exceeds the maximum {max}."),
        )
    }

    /// `AllowedAddressPairsMissingIP` (400).
    pub fn allowed_address_pairs_missing_ip() -> Self {
        Self::new(400, "AllowedAddressPairsMissingIP", "AllowedAddressPair must contain ip_address")
    }

    /// `DuplicateAddressPairInRequest` (400); `mac` is `None` when not given.
    pub fn duplicate_address_pair_in_request(mac: Option<&str>, ip: &str) -> Self {
        Self::new(
            400,
            "DuplicateAddressPairInRequest",
            format!("Request contains duplicate address pair: mac_address {} ip_address {ip}.", mac.unwrap_or("None")),
        )
    }
}
