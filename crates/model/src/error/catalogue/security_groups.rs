//! Catalogue: security groups and their rules. The rule validation errors are
//! neutron-lib's `InvalidInput` subclasses: 400, each with its own message template (a
//! subclass replaces `InvalidInput`'s "Invalid input for operation: ..." entirely).

use crate::error::ApiError;
use crate::resources::IP_PROTOCOLS;

/// An `InvalidInput` subclass: its own class name and message.
fn input(kind: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(400, kind, message)
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

    /// `DefaultSecurityGroupRuleExists` (409), naming the template that is the same.
    pub fn default_security_group_rule_exists(existing_id: &str) -> Self {
        Self::conflict(
            "DefaultSecurityGroupRuleExists",
            format!("Default Security group rule already exists. Rule id is {existing_id}."),
        )
    }

    /// 400 as an attribute validator's: a template's `remote_group_id` is neither `PARENT`
    /// nor a group id.
    /// (Neutron stores any string there, and then fails to create every group the template
    /// applies to.)
    pub fn invalid_template_remote_group(value: &str) -> Self {
        Self::bad_request(format!(
            "Invalid input for remote_group_id. Reason: '{value}' is neither 'PARENT' nor a valid UUID."
        ))
    }

    /// `PortSecurityAndIPRequiredForSecurityGroups` (400).
    pub fn port_security_and_ip_required_for_security_groups() -> Self {
        Self::new(
            400,
            "PortSecurityAndIPRequiredForSecurityGroups",
            "Port security must be enabled and port must have an IP address in order to use security groups.",
        )
    }

    /// `SecurityGroupRuleInvalidProtocol`: the values listed are Neutron's
    /// `sg_supported_protocols` tuple as Python prints it.
    pub fn security_group_rule_invalid_protocol(protocol: impl std::fmt::Display) -> Self {
        let names: Vec<String> = IP_PROTOCOLS.iter().map(|(n, _)| format!("'{n}'")).collect();
        input(
            "SecurityGroupRuleInvalidProtocol",
            format!(
                "Security group rule protocol {protocol} not supported. Only protocol values (None, 'any', {}) and integer representations [0 to 255] are supported.",
                names.join(", ")
            ),
        )
    }

    /// `SecurityGroupRuleInvalidEtherType`.
    pub fn security_group_rule_invalid_ethertype(ethertype: impl std::fmt::Display) -> Self {
        input(
            "SecurityGroupRuleInvalidEtherType",
            format!(
                "Security group rule for ethertype '{ethertype}' not supported. Allowed values are ['IPv4', 'IPv6']."
            ),
        )
    }

    /// `SecurityGroupProtocolRequiredWithPorts`.
    pub fn security_group_protocol_required_with_ports() -> Self {
        input("SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol if port range is given.")
    }

    /// `SecurityGroupMultipleRemoteEntites` (sic, Neutron's spelling).
    pub fn security_group_multiple_remote_entities() -> Self {
        input(
            "SecurityGroupMultipleRemoteEntites",
            "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.",
        )
    }

    /// `SecurityGroupRuleParameterConflict`: the prefix is of the other IP version.
    pub fn security_group_rule_parameter_conflict(ethertype: &str, cidr: &str) -> Self {
        input("SecurityGroupRuleParameterConflict", format!("Conflicting value ethertype {ethertype} for CIDR {cidr}"))
    }

    /// `SecurityGroupInvalidPortValue`: `port` as given.
    pub fn security_group_invalid_port_value(port: impl std::fmt::Display) -> Self {
        input("SecurityGroupInvalidPortValue", format!("Invalid value for port {port}"))
    }

    /// `SecurityGroupInvalidPortRange`.
    pub fn security_group_invalid_port_range() -> Self {
        input("SecurityGroupInvalidPortRange", "For TCP/UDP protocols, port_range_min must be <= port_range_max")
    }

    /// `SecurityGroupInvalidIcmpValue`: `field` is `type` or `code`.
    pub fn security_group_invalid_icmp_value(field: &str, attr: &str, value: u32) -> Self {
        input(
            "SecurityGroupInvalidIcmpValue",
            format!("Invalid value for ICMP {field} ({attr}) {value}. It must be 0 to 255."),
        )
    }

    /// `SecurityGroupMissingIcmpType`.
    pub fn security_group_missing_icmp_type(code: u32) -> Self {
        input(
            "SecurityGroupMissingIcmpType",
            format!("ICMP code (port-range-max) {code} is provided but ICMP type (port-range-min) is missing."),
        )
    }

    /// `SecurityGroupEthertypeConflictWithProtocol`: an IPv6-only protocol in an IPv4 rule.
    pub fn security_group_ethertype_conflict_with_protocol(ethertype: &str, protocol: &str) -> Self {
        input(
            "SecurityGroupEthertypeConflictWithProtocol",
            format!("Invalid ethertype {ethertype} for protocol {protocol}."),
        )
    }

    /// `SecurityGroupInvalidProtocolForPort`: `protocol` is the IP protocol number (`None`
    /// for `any`).
    pub fn security_group_invalid_protocol_for_port(protocol: Option<u8>) -> Self {
        let shown = protocol.map_or_else(|| "None".to_string(), |n| n.to_string());
        input(
            "SecurityGroupInvalidProtocolForPort",
            format!(
                "Ports cannot be specified for protocol {shown}. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."
            ),
        )
    }

    /// `SecurityGroupConflict` (409), e.g. stateful and stateless groups on one port.
    pub fn security_group_conflict(reason: &str) -> Self {
        Self::conflict("SecurityGroupConflict", format!("Error {reason} while attempting the operation."))
    }
}
