//! The one public error type of the API and its wire form.
//!
//! Every failure a client can see is an [`ApiError`]: an HTTP status, Neutron's exception
//! class name (`type`) and its message. The server turns it into
//! `{"NeutronError": {"type", "message", "detail": ""}}` in exactly one place.
//!
//! The embedded identity service answers in Keystone's shape instead
//! (`{"error": {"code", "title", "message"}}`); which shape an error takes is its
//! [`Flavour`], set by the constructor, so the renderer matches on a type, not on a name.

use std::borrow::Cow;

/// An error as Neutron reports it: status code, exception class name and message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {kind}: {message}")]
pub struct ApiError {
    /// HTTP status code.
    pub status: u16,
    /// Neutron's exception class name, e.g. `NetworkNotFound` or `HTTPBadRequest`.
    pub kind: Cow<'static, str>,
    /// Human-readable message, Neutron's wording.
    pub message: String,
    /// Which service's error body the error is rendered as.
    pub flavour: Flavour,
}

/// The wire shape of an error: Neutron's or Keystone's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    /// `{"NeutronError": {"type", "message", "detail": ""}}`, `type` being [`ApiError::kind`].
    Neutron,
    /// `{"error": {"code", "title", "message"}}`, `title` being the HTTP reason Keystone
    /// shows for the status (its [`ApiError::kind`] as well).
    Keystone,
}

impl ApiError {
    /// An error with an explicit status and type.
    pub fn new(status: u16, kind: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self { status, kind: kind.into(), message: message.into(), flavour: Flavour::Neutron }
    }

    /// webob's `HTTPBadRequest`, used by Neutron's body and query parsing.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "HTTPBadRequest", message)
    }

    /// neutron-lib's `InvalidInput` (400), raised by converters and plugins.
    pub fn invalid_input(error_message: impl std::fmt::Display) -> Self {
        Self::new(400, "InvalidInput", format!("Invalid input for operation: {error_message}."))
    }

    /// neutron-lib's generic `BadRequest` for a resource.
    pub fn bad_request_for(resource: &str, msg: impl std::fmt::Display) -> Self {
        Self::new(400, "BadRequest", format!("Bad {resource} request: {msg}."))
    }

    /// A `<Resource>NotFound` error, e.g. `NetworkNotFound`.
    pub fn not_found(resource: Resource, id: &str) -> Self {
        let (kind, message) = match resource {
            Resource::Network => ("NetworkNotFound", format!("Network {id} could not be found.")),
            Resource::Subnet => ("SubnetNotFound", format!("Subnet {id} could not be found.")),
            Resource::Port => ("PortNotFound", format!("Port {id} could not be found.")),
            Resource::SecurityGroup => ("SecurityGroupNotFound", format!("Security group {id} does not exist")),
            Resource::SecurityGroupRule => {
                ("SecurityGroupRuleNotFound", format!("Security group rule {id} does not exist"))
            }
            Resource::Router => ("RouterNotFound", format!("Router {id} could not be found")),
            Resource::FloatingIp => ("FloatingIPNotFound", format!("Floating IP {id} could not be found")),
            Resource::SubnetPool => ("SubnetPoolNotFound", format!("Subnet pool {id} could not be found.")),
            Resource::AddressScope => ("AddressScopeNotFound", format!("Address scope {id} could not be found.")),
            Resource::Flavor => ("FlavorNotFound", format!("Flavor {id} could not be found.")),
            Resource::ServiceProfile => ("ServiceProfileNotFound", format!("Service Profile {id} could not be found.")),
            Resource::DefaultSecurityGroupRule => {
                ("DefaultSecurityGroupRuleNotFound", format!("Default Security Group rule {id} does not exist"))
            }
            Resource::AddressGroup => ("AddressGroupNotFound", format!("Address group {id} could not be found.")),
        };
        Self::new(404, kind, message)
    }

    /// webob's `HTTPNotFound` for an unknown URL.
    pub fn http_not_found(message: impl Into<String>) -> Self {
        Self::new(404, "HTTPNotFound", message)
    }

    /// A 409 with the given Neutron exception name.
    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Self {
        Self::new(409, kind, message)
    }

    /// oslo.policy's `PolicyNotAuthorized` (403) naming the rule that refused.
    pub fn policy_not_authorized(rule: impl std::fmt::Display) -> Self {
        Self::new(403, "PolicyNotAuthorized", format!("{rule} is disallowed by policy"))
    }

    /// webob's `HTTPMethodNotAllowed` (405).
    pub fn method_not_allowed(method: impl std::fmt::Display) -> Self {
        Self::new(405, "HTTPMethodNotAllowed", format!("The method {method} is not allowed for this resource."))
    }

    /// webob's `HTTPRequestEntityTooLarge` (413).
    pub fn too_large() -> Self {
        Self::new(413, "HTTPRequestEntityTooLarge", "Request is too large.")
    }

    /// The error body: Neutron's, or Keystone's for an identity error.
    pub fn to_json(&self) -> serde_json::Value {
        match self.flavour {
            Flavour::Neutron => {
                serde_json::json!({"NeutronError": {"type": self.kind, "message": self.message, "detail": ""}})
            }
            Flavour::Keystone => {
                serde_json::json!({"error": {"code": self.status, "title": self.kind, "message": self.message}})
            }
        }
    }

    /// 500 with Neutron's generic message; the cause is logged, never shown.
    pub fn internal() -> Self {
        Self::new(
            500,
            "HTTPInternalServerError",
            "Request Failed: internal server error while processing your request.",
        )
    }
}

/// The core resources, used to name errors and URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    Network,
    Subnet,
    Port,
    SecurityGroup,
    SecurityGroupRule,
    Router,
    FloatingIp,
    SubnetPool,
    AddressScope,
    /// `flavors`: a service flavor (no project; admins manage them).
    Flavor,
    /// `service_profiles`: what a flavor selects (admin-only).
    ServiceProfile,
    /// A template of the rules new security groups get (`security-groups-default-rules`).
    DefaultSecurityGroupRule,
    AddressGroup,
}

impl From<neutrino_ipam::IpamError> for ApiError {
    fn from(e: neutrino_ipam::IpamError) -> Self {
        ApiError::new(e.http_status(), e.neutron_type(), e.to_string())
    }
}

/// An error and its sources on one line (`outer: cause: root cause`), for logs.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// Neutron's exceptions by name, one constructor each, grouped by area.
pub mod catalogue;
