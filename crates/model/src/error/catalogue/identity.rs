//! Catalogue: the embedded identity service, in Keystone's error shape
//! ([`Flavour::Keystone`]): the title is the HTTP reason of the status, as Keystone shows it.

use crate::error::{ApiError, Flavour};

impl ApiError {
    /// A Keystone-shaped error (`{"error": {"code", "title", "message"}}`).
    pub fn keystone(code: u16, message: impl Into<String>) -> Self {
        let title = match code {
            400 => "Bad Request",
            401 => "Unauthorized",
            403 => "Forbidden",
            404 => "Not Found",
            409 => "Conflict",
            429 => "Too Many Requests",
            503 => "Service Unavailable",
            _ => "Internal Server Error",
        };
        Self { flavour: Flavour::Keystone, ..Self::new(code, title, message) }
    }

    /// Keystone's `Unauthorized` (401): the one answer to every failed authentication, with
    /// no detail (nothing to probe).
    pub fn keystone_unauthorized() -> Self {
        Self::keystone(401, "The request you have made requires authentication.")
    }

    /// Keystone's `ValidationError` (400) with its message.
    pub fn keystone_validation(message: impl Into<String>) -> Self {
        Self::keystone(400, message)
    }

    /// Keystone's `ValidationError` for a missing JSON-schema property.
    pub fn keystone_required_property(name: &str) -> Self {
        Self::keystone(400, format!("'{name}' is a required property"))
    }

    /// Keystone's `ValidationError` for a field of the wrong shape.
    pub fn keystone_invalid_field(field: &str, reason: &str) -> Self {
        Self::keystone(400, format!("Invalid input for field '{field}': {reason}."))
    }

    /// Keystone's `ForbiddenAction` (403): `action` is the policy rule (or `admin required`).
    pub fn keystone_forbidden(action: &str) -> Self {
        Self::keystone(403, format!("You are not authorized to perform the requested action: {action}."))
    }

    /// A request body that is not JSON (400).
    pub fn keystone_malformed_body() -> Self {
        Self::keystone(400, "Expecting to find valid JSON in request body.")
    }

    /// A request body over the identity API's limit (Keystone answers 400, not 413).
    pub fn keystone_too_large() -> Self {
        Self::keystone(400, "Request is too large.")
    }

    /// A new user or project in a domain that does not exist (400: a bad reference in the
    /// body, not a missing URL).
    pub fn keystone_unknown_domain(id: &str) -> Self {
        Self::keystone(400, format!("Could not find domain: {id}."))
    }

    /// Keystone's `<Thing>NotFound` (404): `what` is `user`, `project`, `role`, `domain`.
    pub fn keystone_not_found(what: &str, id: &str) -> Self {
        Self::keystone(404, format!("Could not find {what}: {id}."))
    }

    /// Keystone's `TokenNotFound` (404).
    pub fn keystone_token_not_found() -> Self {
        Self::keystone(404, "Could not find token.")
    }

    /// Keystone's `RoleAssignmentNotFound` (404).
    pub fn keystone_assignment_not_found() -> Self {
        Self::keystone(404, "Could not find role assignment.")
    }

    /// Keystone's `Conflict` (409) on a duplicate name.
    pub fn keystone_duplicate(what: &str) -> Self {
        Self::keystone(409, format!("Conflict occurred attempting to store {what} - Duplicate entry."))
    }

    /// Too many failed logins from one address or for one user (429).
    pub fn keystone_too_many_failures(retry_after: u64) -> Self {
        Self::keystone(429, format!("Too many failed authentication attempts; retry after {retry_after} seconds."))
    }

    /// The external Keystone cannot be reached to validate a token: Neutron's shape, as
    /// keystonemiddleware answers a Networking API call then (503).
    pub fn identity_unavailable() -> Self {
        Self::new(503, "ServiceUnavailable", "The identity service is unavailable.")
    }

    /// Keystone's `ValidationError` (400) naming what is missing where.
    pub fn keystone_expecting(attribute: &str, target: &str) -> Self {
        Self::keystone(
            400,
            format!(
                "Expecting to find {attribute} in {target}. The server could not comply with the request since it is \
                 either malformed or otherwise incorrect. The client is assumed to be in error."
            ),
        )
    }

    /// Keystone's `AuthMethodNotSupported` (401).
    pub fn keystone_unsupported_method() -> Self {
        Self::keystone(401, "Attempted to authenticate with an unsupported method.")
    }

    /// Keystone's `Forbidden` (403), whose detail only `insecure_debug` shows.
    pub fn keystone_forbidden_plain() -> Self {
        Self::keystone(403, "You are not authorized to perform the requested action.")
    }

    /// Keystone's `ApplicationCredentialAuthError` (401).
    pub fn keystone_app_cred_auth(detail: &str) -> Self {
        Self::keystone(401, format!("Error authenticating with application credential: {detail}"))
    }

    /// Keystone's `ApplicationCredentialValidationError` (400).
    pub fn keystone_app_cred_invalid(detail: &str) -> Self {
        Self::keystone(400, format!("Invalid application credential: {detail}"))
    }

    /// Keystone's `ApplicationCredentialLimitExceeded` (403).
    pub fn keystone_app_cred_limit(limit: usize) -> Self {
        Self::keystone(
            403,
            format!(
                "Unable to create additional application credentials, maximum of {limit} already exceeded for user."
            ),
        )
    }

    /// Keystone's `ValidationTimeStampError` (400).
    pub fn keystone_bad_timestamp() -> Self {
        Self::keystone(
            400,
            "Timestamp not in expected format. The server could not comply with the request since it is either \
             malformed or otherwise incorrect. The client is assumed to be in error.",
        )
    }

    /// Keystone's `ValidationExpirationError` (400).
    pub fn keystone_expires_in_past() -> Self {
        Self::keystone(
            400,
            "The 'expires_at' must not be before now. The server could not comply with the request since it is \
             either malformed or otherwise incorrect. The client is assumed to be in error.",
        )
    }

    /// oslo.policy's `InvalidScope` as Neutron answers it (403): every Networking API policy
    /// has `scope_types = ['project']`, so a domain- or system-scoped token may do nothing.
    pub fn invalid_scope(token_scope: &str) -> Self {
        Self::new(
            403,
            "InvalidScope",
            format!("This operation requires a scope of ['project'], request was made with {token_scope} scope."),
        )
    }

    /// Too many logins waiting for a password hash (503).
    pub fn keystone_busy() -> Self {
        Self::keystone(503, "Too many authentication requests are waiting; retry later.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keystone_errors_render_in_keystone_shape() {
        let e = ApiError::keystone_not_found("user", "u1");
        assert_eq!(e.flavour, Flavour::Keystone);
        assert_eq!(
            e.to_json(),
            json!({"error": {"code": 404, "title": "Not Found", "message": "Could not find user: u1."}})
        );
        assert_eq!(ApiError::keystone(418, "x").kind, "Internal Server Error");
        assert_eq!(ApiError::not_found(crate::Resource::Network, "n").flavour, Flavour::Neutron);
    }
}
