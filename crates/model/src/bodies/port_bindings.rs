//! Port binding bodies (`binding-extended`): `POST /v2.0/ports/{id}/bindings`. Bindings are
//! a sub-resource of a port with no attribute map of their own in `resources.rs`, so the
//! body is read here, in the order Neutron's `prepare_request_body` checks the
//! sub-resource's map (`host`, `vif_type`, `vif_details`, `vnic_type`, `profile`,
//! `status`, `project_id`), with its messages.

use crate::error::ApiError;
use crate::pystr::py_str;
use crate::resources::VNIC_TYPES;
use crate::validate::{self, invalid_attr};
use serde_json::{Map, Value};

/// The map's attributes in its order, and whether a create may set each.
const ATTRS: &[(&str, bool)] = &[
    ("host", true),
    ("vif_type", false),
    ("vif_details", false),
    ("vnic_type", true),
    ("profile", true),
    ("status", false),
    ("project_id", true),
    ("tenant_id", true),
];

/// A binding to create, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortBindingCreate {
    /// The host to bind to (a number is taken as its text, as Neutron stores it).
    pub host: String,
    /// One of `VNIC_TYPES`; `normal` by default.
    pub vnic_type: String,
    /// `{}` when absent or `null`.
    pub profile: Map<String, Value>,
}

impl PortBindingCreate {
    /// Reads `{"binding": {...}}`.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let Some(Value::Object(b)) = body.get("binding") else {
            return Err(ApiError::bad_request("Unable to find 'binding' in request body"));
        };
        let unknown: Vec<&str> =
            b.keys().map(String::as_str).filter(|k| !ATTRS.iter().any(|(name, _)| name == k)).collect();
        if !unknown.is_empty() {
            return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{}'", unknown.join(", "))));
        }
        for (name, post) in ATTRS {
            if !post && b.contains_key(*name) {
                return Err(ApiError::bad_request(format!("Attribute '{name}' not allowed in POST")));
            }
        }
        let host = match b.get("host") {
            None => {
                return Err(ApiError::bad_request("Failed to parse request. Required attribute 'host' not specified"))
            }
            Some(Value::String(s)) => s.clone(),
            Some(other) => py_str(other),
        };
        let vnic_type = match b.get("vnic_type") {
            None => "normal".to_string(),
            Some(Value::String(s)) if VNIC_TYPES.contains(&s.as_str()) => s.clone(),
            Some(other) => {
                return Err(invalid_attr("vnic_type", &format!("{} is not in valid_values", py_str(other))));
            }
        };
        let profile = match b.get("profile") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(other) => return Err(invalid_attr("profile", &format!("'{}' is not a dictionary", py_str(other)))),
        };
        for key in ["project_id", "tenant_id"] {
            if let Some(v) = b.get(key) {
                validate::string(v, Some(255)).map_err(|r| invalid_attr(key, &r))?;
            }
        }
        Ok(Self { host, vnic_type, profile })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn err(body: Value) -> String {
        PortBindingCreate::parse(&body).unwrap_err().message
    }

    #[test]
    fn reads_a_binding_with_defaults() {
        let b = PortBindingCreate::parse(&json!({"binding": {"host": "compute-2"}})).unwrap();
        assert_eq!(b, PortBindingCreate { host: "compute-2".into(), vnic_type: "normal".into(), profile: Map::new() });
        let b = PortBindingCreate::parse(&json!({"binding": {"host": 5, "profile": null}})).unwrap();
        assert_eq!(b.host, "5");
        let b =
            PortBindingCreate::parse(&json!({"binding": {"host": "h", "vnic_type": "direct", "profile": {"a": 1}}}))
                .unwrap();
        assert_eq!((b.vnic_type.as_str(), b.profile.len()), ("direct", 1));
    }

    #[test]
    fn refuses_as_neutron_does() {
        assert_eq!(err(json!({"bind": {}})), "Unable to find 'binding' in request body");
        assert_eq!(err(json!({"binding": {"host": "h", "foo": 1}})), "Unrecognized attribute(s) 'foo'");
        assert_eq!(
            err(json!({"binding": {"host": "h", "status": "ACTIVE"}})),
            "Attribute 'status' not allowed in POST"
        );
        assert_eq!(err(json!({"binding": {"vif_type": "x"}})), "Attribute 'vif_type' not allowed in POST");
        assert_eq!(err(json!({"binding": {}})), "Failed to parse request. Required attribute 'host' not specified");
        assert_eq!(
            err(json!({"binding": {"host": "h", "vnic_type": "bogus"}})),
            "Invalid input for vnic_type. Reason: bogus is not in valid_values."
        );
        assert_eq!(
            err(json!({"binding": {"host": "h", "profile": "x"}})),
            "Invalid input for profile. Reason: 'x' is not a dictionary."
        );
    }
}
