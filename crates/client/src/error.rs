//! Failures talking to the API, and the reading of its error bodies.

use serde_json::Value;

/// An error answer of the API, as the server explained it; displayed as openstacksdk shows it
/// (`ConflictException: 409: Client Error for url: <url>, <message>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The request's method.
    pub method: String,
    /// The request's URL.
    pub url: String,
    /// The HTTP status.
    pub status: u16,
    /// Neutron's exception name (`NetworkInUse`), or Keystone's error `title`.
    pub kind: Option<String>,
    /// The human message (the raw body, or the reason phrase, when there is no JSON message).
    pub message: String,
    /// Neutron's `detail`, when not empty.
    pub detail: Option<String>,
}

/// Longest raw (non-JSON) body kept in a message: an HTML error page is not worth more.
const RAW_BODY_LIMIT: usize = 500;

impl ApiError {
    /// Reads an error body: `{"NeutronError": {"type", "message", "detail"}}`, Keystone's
    /// `{"error": {"title", "message"}}`, any `{"<x>": {"message"}}` as openstacksdk accepts,
    /// else the raw text, else the status's reason phrase.
    pub fn from_response(method: &str, url: &str, status: u16, body: &str) -> Self {
        let mut error = ApiError {
            method: method.to_string(),
            url: url.to_string(),
            status,
            kind: None,
            message: String::new(),
            detail: None,
        };
        if let Ok(Value::Object(top)) = serde_json::from_str::<Value>(body) {
            let mut messages = Vec::new();
            for inner in top.values().filter_map(Value::as_object) {
                if let Some(m) = inner.get("message").and_then(Value::as_str) {
                    messages.push(m.to_string());
                }
                if error.kind.is_none() {
                    error.kind = ["type", "title"]
                        .iter()
                        .find_map(|k| inner.get(*k).and_then(Value::as_str))
                        .map(str::to_string);
                }
                if error.detail.is_none() {
                    error.detail =
                        inner.get("detail").and_then(Value::as_str).filter(|d| !d.is_empty()).map(str::to_string);
                }
            }
            if messages.is_empty() {
                if let Some(m) = top.get("message").and_then(Value::as_str) {
                    messages.push(m.to_string());
                }
            }
            error.message = messages.join("\n");
        }
        if error.message.is_empty() {
            error.message = body.trim().chars().take(RAW_BODY_LIMIT).collect();
        }
        if error.message.is_empty() {
            error.message = reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("Unknown error")
                .to_string();
        }
        error
    }

    /// openstacksdk's exception class for this status, which OSC users know from its messages.
    pub fn sdk_exception(&self) -> &'static str {
        match self.status {
            400 => "BadRequestException",
            403 => "ForbiddenException",
            404 => "NotFoundException",
            409 => "ConflictException",
            412 => "PreconditionFailedException",
            _ => "HttpException",
        }
    }

    /// "Client" for 4xx, "Server" otherwise, as in openstacksdk's messages.
    fn side(&self) -> &'static str {
        if (400..500).contains(&self.status) {
            "Client"
        } else {
            "Server"
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (exception, status, side) = (self.sdk_exception(), self.status, self.side());
        write!(f, "{exception}: {status}: {side} Error for url: {}, {}", self.url, self.message)
    }
}

/// Failures talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The endpoint given to the client is not an http(s) URL.
    #[error("invalid endpoint URL '{url}': {reason}")]
    InvalidEndpoint { url: String, reason: String },
    /// The HTTP client could not be built (TLS backend).
    #[error("cannot set up the HTTP client")]
    Setup(#[source] reqwest::Error),
    /// The request never got a (complete) answer.
    #[error("{method} {url} failed")]
    Transport {
        method: String,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error.
    #[error("{0}")]
    Api(Box<ApiError>),
    /// An answer that is not the expected JSON.
    #[error("unexpected response from {url}: {reason}")]
    Unexpected { url: String, reason: String },
    /// `find` matched nothing.
    #[error("No {resource} found for {name_or_id}")]
    NotFound { resource: &'static str, name_or_id: String },
    /// `find` matched several.
    #[error("More than one {resource} exists with the name '{name}'.")]
    Ambiguous { resource: &'static str, name: String },
}

impl ClientError {
    /// The API's error answer, if this is one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ClientError::Api(error) => Some(error),
            _ => None,
        }
    }

    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        self.api().map(|e| e.status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "http://h:9696/v2.0/networks/n1";

    fn from_body(status: u16, body: &str) -> ApiError {
        ApiError::from_response("DELETE", URL, status, body)
    }

    fn api(status: u16, body: &str) -> ClientError {
        ClientError::Api(Box::new(from_body(status, body)))
    }

    #[test]
    fn neutron_error_body_keeps_type_message_and_detail() {
        let e = from_body(
            409,
            r#"{"NeutronError": {"type": "NetworkInUse", "message": "Unable to complete operation on network n1.", "detail": ""}}"#,
        );
        assert_eq!(e.status, 409);
        assert_eq!(e.kind.as_deref(), Some("NetworkInUse"));
        assert_eq!(e.message, "Unable to complete operation on network n1.");
        assert_eq!(e.detail, None, "an empty detail is no detail");
        let e = from_body(400, r#"{"NeutronError": {"type": "X", "message": "m", "detail": "more"}}"#);
        assert_eq!(e.detail.as_deref(), Some("more"));
    }

    #[test]
    fn keystone_and_bare_message_bodies() {
        let e = from_body(401, r#"{"error": {"code": 401, "title": "Unauthorized", "message": "no token"}}"#);
        assert_eq!((e.kind.as_deref(), e.message.as_str()), (Some("Unauthorized"), "no token"));
        let e = from_body(400, r#"{"message": "top-level"}"#);
        assert_eq!((e.kind, e.message.as_str()), (None, "top-level"));
    }

    #[test]
    fn falls_back_to_raw_body_then_reason_phrase() {
        let e = from_body(502, "  Bad Gateway from proxy\n");
        assert_eq!((e.kind, e.message.as_str()), (None, "Bad Gateway from proxy"));
        let e = from_body(404, "");
        assert_eq!(e.message, "Not Found");
        let e = from_body(500, r#"{"unrelated": 1}"#);
        assert_eq!(e.message, r#"{"unrelated": 1}"#, "JSON without a message is shown raw");
        let long = "x".repeat(2 * RAW_BODY_LIMIT);
        assert_eq!(from_body(500, &long).message.len(), RAW_BODY_LIMIT);
    }

    #[test]
    fn api_errors_read_like_openstacksdk() {
        let e = api(409, r#"{"NeutronError": {"type": "NetworkInUse", "message": "in use", "detail": ""}}"#);
        assert_eq!(
            e.to_string(),
            "ConflictException: 409: Client Error for url: http://h:9696/v2.0/networks/n1, in use"
        );
        assert_eq!(e.status(), Some(409));
        assert_eq!(
            api(503, "").to_string(),
            "HttpException: 503: Server Error for url: http://h:9696/v2.0/networks/n1, Service Unavailable"
        );
        let not_found = ClientError::NotFound { resource: "Network", name_or_id: "x".into() };
        assert_eq!(not_found.to_string(), "No Network found for x");
        assert_eq!(not_found.status(), None);
        let ambiguous = ClientError::Ambiguous { resource: "Network", name: "x".into() };
        assert_eq!(ambiguous.to_string(), "More than one Network exists with the name 'x'.");
    }
}
