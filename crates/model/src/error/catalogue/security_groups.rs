//! Catalogue: security groups and their rules. The rule validation errors are
//! neutron-lib's `InvalidInput` subclasses: 400, "Invalid input for operation: ...".

use crate::error::ApiError;

/// An `InvalidInput` subclass: its own class name, the generic prefix.
fn invalid(kind: &'static str, message: impl std::fmt::Display) -> ApiError {
    ApiError::new(400, kind, format!("Invalid input for operation: {message}."))
}

impl ApiError {
    /// `SecurityGroupDefaultAlreadyExists` (409).
    pub fn security_group_default_already_exists() -> Self {
        Self::conflict("SecurityGroupDefaultAlreadyExists", "Default security group already exists.")
    }

    /// `SecurityGroupCannotUpdateDefault` (409).
    pub fn security_group_cannot_update_default() -> Self {
        Self::conflict("SecurityGroupCannotUpdateDefault", "Updating default security group not allowed.")
    }

    /// `SecurityGroupCannotRemoveDefault` (409).
    pub fn security_group_cannot_remove_default() -> Self {
        Self::conflict("SecurityGroupCannotRemoveDefault", "Insufficient rights for removing default security group.")
    }

    /// `SecurityGroupInUse` (409).
    pub fn security_group_in_use(id: &str) -> Self {
        Self::conflict("SecurityGroupInUse", format!("Security Group {id} in use."))
    }

    /// `DuplicateSecurityGroupRuleInPost` (409).
    pub fn duplicate_security_group_rule_in_post() -> Self {
        Self::conflict("DuplicateSecurityGroupRuleInPost", "Duplicate Security Group Rule in POST.")
    }

    /// `SecurityGroupRuleExists` (409), naming the rule that is the same.
    pub fn security_group_rule_exists(existing_id: &str) -> Self {
        Self::conflict(
            "SecurityGroupRuleExists",
            format!("Security group rule already exists. Rule id is {existing_id}."),
        )
    }

    /// `PortSecurityAndIPRequiredForSecurityGroups` (400).
    pub fn port_security_and_ip_required_for_security_groups() -> Self {
        Self::new(
            400,
            "PortSecurityAndIPRequiredForSecurityGroups",
            "Port security must be enabled and port must have an IP address in order to use security groups.",
        )
    }

    /// `SecurityGroupRuleInvalidProtocol`: `known` lists the protocol names.
    pub fn security_group_rule_invalid_protocol(protocol: &str, known: &[&str]) -> Self {
        let shown: Vec<String> = known.iter().map(|n| format!("'{n}'")).collect();
        invalid(
            "SecurityGroupRuleInvalidProtocol",
            format!(
                "Security group rule protocol {protocol} not supported. Only protocol values [{}] and integer representations [0 to 255] are supported",
                shown.join(", ")
            ),
        )
    }

    /// `SecurityGroupProtocolRequiredWithPorts`.
    pub fn security_group_protocol_required_with_ports() -> Self {
        invalid("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given")
    }

    /// `SecurityGroupMultipleRemoteEntites` (sic, Neutron's spelling).
    pub fn security_group_multiple_remote_entities() -> Self {
        invalid(
            "SecurityGroupMultipleRemoteEntites",
            "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided",
        )
    }

    /// `SecurityGroupRuleParameterConflict`: the prefix is of the other IP version.
    pub fn security_group_rule_parameter_conflict(ethertype: &str, cidr: &str) -> Self {
        invalid(
            "SecurityGroupRuleParameterConflict",
            format!("Conflicting value ethertype {ethertype} for CIDR {cidr}"),
        )
    }

    /// `SecurityGroupInvalidPortValue`.
    pub fn security_group_invalid_port_value(port: u32) -> Self {
        invalid("SecurityGroupInvalidPortValue", format!("Invalid value for port {port}"))
    }

    /// `SecurityGroupInvalidPortRange`.
    pub fn security_group_invalid_port_range() -> Self {
        invalid("SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
    }

    /// `SecurityGroupInvalidIcmpValue`: `field` is `type` or `code`.
    pub fn security_group_invalid_icmp_value(field: &str, attr: &str, value: u32) -> Self {
        invalid(
            "SecurityGroupInvalidIcmpValue",
            format!("Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255"),
        )
    }

    /// `SecurityGroupMissingIcmpType`.
    pub fn security_group_missing_icmp_type(code: u32) -> Self {
        invalid(
            "SecurityGroupMissingIcmpType",
            format!("ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing"),
        )
    }

    /// `SecurityGroupEthertypeConflictWithProtocol`.
    pub fn security_group_ethertype_conflict_with_protocol(ethertype: &str, protocol: &str) -> Self {
        invalid(
            "SecurityGroupEthertypeConflictWithProtocol",
            format!("Invalid ethertype {ethertype} for protocol {protocol}"),
        )
    }

    /// `SecurityGroupInvalidProtocolForPort`.
    pub fn security_group_invalid_protocol_for_port(protocol: &str) -> Self {
        invalid(
            "SecurityGroupInvalidProtocolForPort",
            format!(
                "Ports cannot be specified for protocol {protocol}. Valid protocols are: tcp, udp, dccp, sctp, udplite, icmp, ipv6-icmp"
            ),
        )
    }
}
