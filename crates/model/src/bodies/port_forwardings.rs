//! Port forwarding bodies (`floating-ip-port-forwarding`). Port forwardings are a
//! sub-resource of a floating IP with no attribute map of their own, so the body is read
//! and validated here, with the plugin's messages, in the order Neutron checks it.

use crate::error::ApiError;
use crate::validate::{self, invalid_attr};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::net::IpAddr;

/// The protocols a forwarding may name.
pub const PROTOCOLS: &[&str] = &["tcp", "udp", "udplite", "sctp"];
/// Attributes a body may name (`project_id`/`tenant_id` are accepted and ignored).
const FIELDS: &[&str] = &[
    "external_port",
    "internal_port",
    "internal_ip_address",
    "protocol",
    "internal_port_id",
    "description",
    "project_id",
    "tenant_id",
];

/// A port forwarding update, validated: `None` is "not given". A create is the same body
/// with every attribute but `description` required ([`PortForwardingCreate`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PortForwardingUpdate {
    pub external_port: Option<u16>,
    pub internal_port: Option<u16>,
    /// Lower-case, one of tcp, udp, udplite, sctp.
    pub protocol: Option<String>,
    pub internal_ip_address: Option<IpAddr>,
    pub internal_port_id: Option<String>,
    pub description: Option<String>,
}

/// A port forwarding create, validated; also what a stored forwarding holds besides its id
/// (the field order is the wire order).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForwardingCreate {
    pub external_port: u16,
    pub internal_port: u16,
    pub protocol: String,
    pub internal_ip_address: IpAddr,
    pub internal_port_id: String,
    pub description: String,
}

fn port_number(v: &Value, name: &str) -> Result<u16, ApiError> {
    let n = validate::to_int(v)?;
    u16::try_from(n)
        .ok()
        .filter(|p| *p >= 1)
        .ok_or_else(|| invalid_attr(name, &format!("'{n}' is not in range 1 through 65535")))
}

impl PortForwardingUpdate {
    /// Reads `{"port_forwarding": {...}}`.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let Some(Value::Object(b)) = body.get("port_forwarding") else {
            return Err(ApiError::bad_request("Unable to find 'port_forwarding' in request body"));
        };
        if let Some(k) = b.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{k}'")));
        }
        Ok(Self {
            external_port: b.get("external_port").map(|v| port_number(v, "external_port")).transpose()?,
            internal_port: b.get("internal_port").map(|v| port_number(v, "internal_port")).transpose()?,
            protocol: b.get("protocol").map(protocol).transpose()?,
            internal_ip_address: b
                .get("internal_ip_address")
                .map(|v| validate::ip_address(v).map_err(|r| invalid_attr("internal_ip_address", &r)))
                .transpose()?,
            internal_port_id: b.get("internal_port_id").map(internal_port_id).transpose()?,
            description: b.get("description").map(description).transpose()?,
        })
    }
}

fn protocol(v: &Value) -> Result<String, ApiError> {
    // A value that is not a string is named as empty in the message.
    let p = match v {
        Value::String(s) => s.to_lowercase(),
        _ => String::new(),
    };
    if !PROTOCOLS.contains(&p.as_str()) {
        return Err(invalid_attr("protocol", &format!("{p} is not in ['tcp', 'udp', 'udplite', 'sctp']")));
    }
    Ok(p)
}

/// A string attribute that `check` accepts (every such check refuses a non-string).
fn checked_string(v: &Value, name: &str, check: impl Fn(&Value) -> Result<(), String>) -> Result<String, ApiError> {
    check(v).map_err(|r| invalid_attr(name, &r))?;
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(invalid_attr(name, &format!("'{}' is not a valid string", crate::pystr::py_str(other)))),
    }
}

fn internal_port_id(v: &Value) -> Result<String, ApiError> {
    checked_string(v, "internal_port_id", validate::uuid)
}

fn description(v: &Value) -> Result<String, ApiError> {
    checked_string(v, "description", |v| validate::string(v, Some(255)))
}

fn required<T>(value: Option<T>, key: &str) -> Result<T, ApiError> {
    value.ok_or_else(|| {
        ApiError::bad_request(format!("Failed to parse request. Required attribute '{key}' not specified"))
    })
}

impl PortForwardingCreate {
    /// Reads a create body: an update body with the required attributes present.
    pub fn parse(body: &Value) -> Result<Self, ApiError> {
        let u = PortForwardingUpdate::parse(body)?;
        let (external_port, internal_port) =
            (required(u.external_port, "external_port")?, required(u.internal_port, "internal_port")?);
        let internal_ip_address = required(u.internal_ip_address, "internal_ip_address")?;
        Ok(Self {
            external_port,
            internal_port,
            protocol: required(u.protocol, "protocol")?,
            internal_ip_address,
            internal_port_id: required(u.internal_port_id, "internal_port_id")?,
            description: u.description.unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const PORT: &str = "6f6a4e8c-5b52-4d8e-9b3e-6f0b2d2f1a11";

    #[test]
    fn a_create_reads_every_attribute() {
        let body = json!({"port_forwarding": {
            "external_port": "80", "internal_port": 8080, "protocol": "TCP",
            "internal_ip_address": "10.0.0.5", "internal_port_id": PORT,
        }});
        let c = PortForwardingCreate::parse(&body).unwrap();
        assert_eq!((c.external_port, c.internal_port, c.protocol.as_str()), (80, 8080, "tcp"));
        assert_eq!(c.description, "");
    }

    #[test]
    fn a_create_names_the_first_missing_attribute() {
        let body = json!({"port_forwarding": {"external_port": 80, "internal_port": 81, "protocol": "udp"}});
        let e = PortForwardingCreate::parse(&body).unwrap_err();
        assert_eq!(e.message, "Failed to parse request. Required attribute 'internal_ip_address' not specified");
    }

    #[test]
    fn ports_are_in_range() {
        let e = PortForwardingUpdate::parse(&json!({"port_forwarding": {"internal_port": 0}})).unwrap_err();
        assert_eq!(e.message, "Invalid input for internal_port. Reason: '0' is not in range 1 through 65535.");
        let e = PortForwardingUpdate::parse(&json!({"port_forwarding": {"bogus": 1}})).unwrap_err();
        assert_eq!(e.message, "Unrecognized attribute(s) 'bogus'");
    }
}
