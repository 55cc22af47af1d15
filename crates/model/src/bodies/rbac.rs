//! RBAC policy bodies (`/v2.0/rbac-policies`).
//!
//! RBAC policies have no attribute map of their own here (only network policies exist), so
//! their bodies are read by these parsers, with the messages Neutron's attribute handling
//! gives: unknown attribute, required attribute, unsupported type or action.

use crate::error::ApiError;
use serde_json::{Map, Value};

/// `access_as_shared`: the target project may use the network.
pub const ACCESS_AS_SHARED: &str = "access_as_shared";
/// `access_as_external`: the network is external to the target project.
pub const ACCESS_AS_EXTERNAL: &str = "access_as_external";

/// Object types Neutron knows.
const KNOWN_TYPES: &[&str] =
    &["network", "qos_policy", "security_group", "address_scope", "subnetpool", "address_group"];
/// Object types shared here: networks (shared or external), and subnet pools, address
/// scopes, security groups and address groups (`rbac-subnetpool`, `rbac-address-scope`,
/// `rbac-security-groups`, `rbac-address-group`: shared only).
pub const SUPPORTED_TYPES: &[&str] = &["network", "subnetpool", "address_scope", "security_group", "address_group"];

const CREATE_KEYS: &[&str] =
    &["object_type", "object_id", "action", "target_tenant", "target_project", "project_id", "tenant_id"];

/// `POST /v2.0/rbac-policies`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacPolicyCreate {
    /// `network`, `subnetpool`, `address_scope` or `security_group`.
    pub object_type: String,
    pub object_id: String,
    /// [`ACCESS_AS_SHARED`], or [`ACCESS_AS_EXTERNAL`] for a network.
    pub action: String,
    /// A project id or `*` (not yet checked: that is policy's).
    pub target_project: String,
    /// The owner asked for (`project_id`, else `tenant_id`), if any.
    pub project_id: Option<String>,
}

/// `PUT /v2.0/rbac-policies/{id}`: only the target may change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RbacPolicyUpdate {
    pub target_project: String,
}

fn envelope(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    match body.get("rbac_policy") {
        Some(Value::Object(b)) => Ok(b),
        _ => Err(ApiError::bad_request("Unable to find 'rbac_policy' in request body")),
    }
}

/// A string attribute; any other JSON type counts as not given, as before.
fn text(b: &Map<String, Value>, key: &str) -> Option<String> {
    b.get(key).and_then(Value::as_str).map(str::to_string)
}

fn required(b: &Map<String, Value>, key: &str) -> Result<String, ApiError> {
    text(b, key).ok_or_else(|| {
        ApiError::bad_request(format!("Failed to parse request. Required attribute '{key}' not specified"))
    })
}

impl RbacPolicyCreate {
    /// Reads a create body, checking in Neutron's order.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let b = envelope(body)?;
        if let Some(key) = b.keys().find(|k| !CREATE_KEYS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{key}'")));
        }
        let object_type = required(b, "object_type")?.trim().to_lowercase();
        if !KNOWN_TYPES.contains(&object_type.as_str()) || !SUPPORTED_TYPES.contains(&object_type.as_str()) {
            return Err(ApiError::invalid_input(format!("'{object_type}' is not a valid RBAC object type")));
        }
        let object_id = required(b, "object_id")?;
        let action = required(b, "action")?;
        let external_ok = object_type == "network";
        if object_type == "address_group" && action != ACCESS_AS_SHARED {
            return Err(ApiError::invalid_action_for_type(&action, &object_type, &[ACCESS_AS_SHARED]));
        }
        if action != ACCESS_AS_SHARED && !(external_ok && action == ACCESS_AS_EXTERNAL) {
            return Err(ApiError::invalid_input(format!(
                "Action '{action}' for object type '{object_type}' is not supported"
            )));
        }
        let target_project = text(b, "target_tenant").or_else(|| text(b, "target_project")).ok_or_else(|| {
            ApiError::bad_request("Failed to parse request. Required attribute 'target_tenant' not specified")
        })?;
        let project_id = text(b, "project_id").or_else(|| text(b, "tenant_id"));
        Ok(Self { object_type, object_id, action, target_project, project_id })
    }
}

impl RbacPolicyUpdate {
    /// Reads an update body: anything but the target is read-only.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let b = envelope(body)?;
        if let Some(key) = b.keys().find(|k| *k != "target_tenant" && *k != "target_project") {
            return Err(ApiError::bad_request(format!("Cannot update read-only attribute {key}")));
        }
        let target = b.get("target_tenant").or_else(|| b.get("target_project")).and_then(Value::as_str);
        let target_project = target.ok_or_else(|| ApiError::bad_request("Resource body required"))?.to_string();
        Ok(Self { target_project })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_create_is_read_in_neutrons_order() {
        let p = RbacPolicyCreate::parse(&json!({"rbac_policy": {"object_type": " Network", "object_id": "n",
            "action": ACCESS_AS_SHARED, "target_project": "*", "tenant_id": "p1"}}))
        .unwrap();
        assert_eq!((p.object_type.as_str(), p.target_project.as_str()), ("network", "*"));
        assert_eq!(p.project_id.as_deref(), Some("p1"));
        let msg = |v| RbacPolicyCreate::parse(&v).unwrap_err().message;
        assert_eq!(msg(json!({"rbac": {}})), "Unable to find 'rbac_policy' in request body");
        assert_eq!(msg(json!({"rbac_policy": {"bogus": 1}})), "Unrecognized attribute(s) 'bogus'");
        assert_eq!(
            msg(json!({"rbac_policy": {"object_type": 5}})),
            "Failed to parse request. Required attribute 'object_type' not specified"
        );
        assert_eq!(
            msg(json!({"rbac_policy": {"object_type": "qos_policy"}})),
            "Invalid input for operation: 'qos_policy' is not a valid RBAC object type."
        );
        assert_eq!(
            msg(json!({"rbac_policy": {"object_type": "network", "object_id": "n", "action": "x"}})),
            "Invalid input for operation: Action 'x' for object type 'network' is not supported."
        );
        assert_eq!(
            msg(json!({"rbac_policy": {"object_type": "subnetpool", "object_id": "s", "action": ACCESS_AS_EXTERNAL}})),
            "Invalid input for operation: Action 'access_as_external' for object type 'subnetpool' is not supported."
        );
        let e = RbacPolicyCreate::parse(&json!({"rbac_policy": {"object_type": "address_group", "object_id": "g",
            "action": ACCESS_AS_EXTERNAL, "target_tenant": "*"}}))
        .unwrap_err();
        assert_eq!((e.status, e.kind.as_ref()), (400, "InvalidActionForType"));
        assert_eq!(
            msg(json!({"rbac_policy": {"object_type": "network", "object_id": "n", "action": ACCESS_AS_EXTERNAL}})),
            "Failed to parse request. Required attribute 'target_tenant' not specified"
        );
    }

    #[test]
    fn an_update_changes_only_the_target() {
        let up = RbacPolicyUpdate::parse(&json!({"rbac_policy": {"target_tenant": "p2"}})).unwrap();
        assert_eq!(up.target_project, "p2");
        let err = RbacPolicyUpdate::parse(&json!({"rbac_policy": {"action": "x"}})).unwrap_err();
        assert_eq!(err.message, "Cannot update read-only attribute action");
        let err = RbacPolicyUpdate::parse(&json!({"rbac_policy": {}})).unwrap_err();
        assert_eq!(err.message, "Resource body required");
    }
}
