//! Security group and rule bodies (`SECURITY_GROUP`, `SECURITY_GROUP_RULE` in
//! [`crate::resources`]).

use serde::Deserialize;

/// `POST /v2.0/security-groups`, one item.
#[derive(Debug, Clone, Deserialize)]
pub struct SecurityGroupCreate {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub stateful: bool,
}

/// `PUT /v2.0/security-groups/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SecurityGroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub stateful: Option<bool>,
}

/// `POST /v2.0/security-group-rules`, one item, after Neutron's converters
/// ([`crate::validate::security_groups`]); the checks between attributes (port range
/// against protocol, ethertype against protocol and prefix) are the rule logic's.
#[derive(Debug, Clone, Deserialize)]
pub struct SecurityGroupRuleCreate {
    pub security_group_id: String,
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// A lower-case name or a number 0-255 as given, as text; none for "any".
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    /// `addr/len`, the address as given.
    pub remote_ip_prefix: Option<String>,
    /// Not validated: an unknown id is a 404 when the rule is made.
    pub remote_group_id: Option<String>,
    /// `security-groups-remote-address-group`; not validated either.
    pub remote_address_group_id: Option<String>,
    pub description: String,
}

/// `POST /v2.0/default-security-group-rules` (one item: no bulk), after the same converters
/// as a rule's; its checks between attributes are the rule logic's too.
#[derive(Debug, Clone, Deserialize)]
pub struct DefaultSecurityGroupRuleCreate {
    pub direction: String,
    pub ethertype: String,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    /// A group id, or `PARENT` for the group the template makes rules for.
    pub remote_group_id: Option<String>,
    /// Stored as given (an address group id, validated as a UUID).
    pub remote_address_group_id: Option<String>,
    pub description: String,
    pub used_in_default_sg: bool,
    pub used_in_non_default_sg: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, Caller};
    use crate::limits::ListLimits;
    use crate::resources::SECURITY_GROUP_RULE;
    use serde_json::json;

    #[test]
    fn a_rule_types_with_its_defaults() {
        let caller = Caller { project_id: "p1", can_set_project_id: false };
        let body = json!({"security_group_rule": {"security_group_id": "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f",
            "direction": "ingress", "protocol": "tcp", "port_range_min": "22", "remote_ip_prefix": "10.0.0.5/8"}});
        let (items, _) = prepare_create(&SECURITY_GROUP_RULE, &body, &caller, &ListLimits::default()).unwrap();
        let r = Body::<SecurityGroupRuleCreate>::from_validated_all(items).unwrap().remove(0).fields;
        assert_eq!((r.ethertype.as_str(), r.port_range_min, r.port_range_max), ("IPv4", Some(22), None));
        assert_eq!(r.remote_ip_prefix.as_deref(), Some("10.0.0.5/8"));
        assert_eq!(r.description, "");
    }
}
