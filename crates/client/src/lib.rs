//! A typed HTTP client for the OpenStack Networking API v2.0, shared by the CLI, the tests,
//! the load generator and (later) the host agent.
//!
//! Resources stay JSON objects: the client knows collections, envelopes and errors, not
//! every attribute, so it works unchanged as the API grows.

use reqwest::{Method, StatusCode};
use serde_json::{json, Map, Value};

/// A JSON object as the API returns it.
pub type Object = Map<String, Value>;

/// Failures talking to the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The request never got an answer.
    #[error("cannot reach {url}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The API answered with an error (Neutron's `NeutronError` body when it has one).
    #[error("{message} (HTTP {status}{})", kind.as_deref().map(|k| format!(", {k}")).unwrap_or_default())]
    Api { status: u16, kind: Option<String>, message: String },
    /// An answer that is not the expected JSON.
    #[error("unexpected response from {url}: {reason}")]
    Unexpected { url: String, reason: String },
    /// `find` matched nothing.
    #[error("No {resource} found for {name_or_id}")]
    NotFound { resource: String, name_or_id: String },
    /// `find` matched several.
    #[error("More than one {resource} exists with the name '{name}'.")]
    Ambiguous { resource: String, name: String },
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// An API collection: its URL segment and JSON keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    Networks,
    Subnets,
    Ports,
}

impl Collection {
    /// URL segment (dashes).
    pub fn path(self) -> &'static str {
        match self {
            Collection::Networks => "networks",
            Collection::Subnets => "subnets",
            Collection::Ports => "ports",
        }
    }

    /// JSON key of the list.
    pub fn plural(self) -> &'static str {
        self.path()
    }

    /// JSON key of one object.
    pub fn singular(self) -> &'static str {
        match self {
            Collection::Networks => "network",
            Collection::Subnets => "subnet",
            Collection::Ports => "port",
        }
    }

    /// Display name, as openstacksdk names the resource in messages.
    pub fn display(self) -> &'static str {
        match self {
            Collection::Networks => "Network",
            Collection::Subnets => "Subnet",
            Collection::Ports => "Port",
        }
    }
}

/// Parses an error response: Neutron's body when present, the raw text otherwise.
pub fn parse_error(status: u16, body: &str) -> ClientError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    if let Some(Value::Object(top)) = parsed {
        if let Some(Value::Object(err)) = top.get("NeutronError") {
            return ClientError::Api {
                status,
                kind: err.get("type").and_then(Value::as_str).map(str::to_string),
                message: err.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
            };
        }
        if let Some(Value::Object(err)) = top.get("error") {
            return ClientError::Api {
                status,
                kind: err.get("title").and_then(Value::as_str).map(str::to_string),
                message: err.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
            };
        }
    }
    ClientError::Api { status, kind: None, message: body.trim().chars().take(500).collect() }
}

/// A Keystone password login: the token and the catalog's public `network` endpoint.
pub struct Login {
    pub token: String,
    pub network_url: Option<String>,
}

/// Logs in with a password (Keystone v3, project scope) as openstacksdk does.
pub async fn password_login(
    auth_url: &str,
    username: &str,
    password: &str,
    project: &str,
    user_domain: &str,
    project_domain: &str,
) -> Result<Login, ClientError> {
    let base = auth_url.trim_end_matches('/').trim_end_matches("/v3");
    let url = format!("{base}/v3/auth/tokens");
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": username, "password": password,
        "domain": {"name": user_domain}}}}, "scope": {"project": {"name": project, "domain": {"name": project_domain}}}}});
    let res = reqwest::Client::new()
        .post(&url)
        .json(&body)
        .send()
        .await
        .map_err(|source| ClientError::Transport { url: url.clone(), source })?;
    let status = res.status();
    let token = res.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = res.text().await.map_err(|source| ClientError::Transport { url: url.clone(), source })?;
    if !status.is_success() {
        return Err(parse_error(status.as_u16(), &text));
    }
    let token =
        token.ok_or_else(|| ClientError::Unexpected { url: url.clone(), reason: "no X-Subject-Token".into() })?;
    let body: Value =
        serde_json::from_str(&text).map_err(|e| ClientError::Unexpected { url: url.clone(), reason: e.to_string() })?;
    let network_url = body["token"]["catalog"]
        .as_array()
        .and_then(|c| c.iter().find(|e| e["type"] == "network"))
        .and_then(|e| e["endpoints"].as_array())
        .and_then(|eps| eps.iter().find(|ep| ep["interface"] == "public"))
        .and_then(|ep| ep["url"].as_str())
        .map(str::to_string);
    Ok(Login { token, network_url })
}

/// Client for one Networking endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    project_id: Option<String>,
}

impl Client {
    /// `base` is the unversioned endpoint, e.g. `http://127.0.0.1:9696`.
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: base.trim_end_matches('/').to_string(),
            token: None,
            project_id: None,
        }
    }

    /// Sends `X-Auth-Token` on every request.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Sends `X-Project-Id` on every request (no-auth deployments).
    pub fn with_project(mut self, project_id: Option<String>) -> Self {
        self.project_id = project_id;
        self
    }

    /// The URL of an API path (`/v2.0/...`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// One request; returns the status and the parsed body (`Null` when empty).
    pub async fn request(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ClientError> {
        let url = self.url(path);
        let mut req = self.http.request(method, &url).header("Accept", "application/json");
        if let Some(t) = &self.token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(p) = &self.project_id {
            req = req.header("X-Project-Id", p);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.map_err(|source| ClientError::Transport { url: url.clone(), source })?;
        let status = res.status();
        let text = res.text().await.map_err(|source| ClientError::Transport { url: url.clone(), source })?;
        if !status.is_success() {
            return Err(parse_error(status.as_u16(), &text));
        }
        if text.is_empty() || status == StatusCode::NO_CONTENT {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| ClientError::Unexpected { url, reason: e.to_string() })
    }

    fn take(url: &str, mut body: Value, key: &str) -> Result<Value, ClientError> {
        body.get_mut(key).map(Value::take).ok_or_else(|| ClientError::Unexpected {
            url: url.to_string(),
            reason: format!("no '{key}' in the response"),
        })
    }

    fn object(url: &str, v: Value) -> Result<Object, ClientError> {
        match v {
            Value::Object(m) => Ok(m),
            _ => Err(ClientError::Unexpected { url: url.to_string(), reason: "expected an object".into() }),
        }
    }

    /// `GET /v2.0/<collection>?query`.
    pub async fn list(&self, c: Collection, query: &[(&str, &str)]) -> Result<Vec<Object>, ClientError> {
        let mut path = format!("/v2.0/{}", c.path());
        if !query.is_empty() {
            let q: String = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(query).finish();
            path.push('?');
            path.push_str(&q);
        }
        let body = self.request(Method::GET, &path, None).await?;
        match Self::take(&path, body, c.plural())? {
            Value::Array(items) => items.into_iter().map(|i| Self::object(&path, i)).collect(),
            _ => Err(ClientError::Unexpected { url: path, reason: "expected a list".into() }),
        }
    }

    /// `GET /v2.0/<collection>/<id>`.
    pub async fn show(&self, c: Collection, id: &str) -> Result<Object, ClientError> {
        let path = format!("/v2.0/{}/{}", c.path(), id);
        let body = self.request(Method::GET, &path, None).await?;
        Self::object(&path, Self::take(&path, body, c.singular())?)
    }

    /// `POST /v2.0/<collection>` with one object.
    pub async fn create(&self, c: Collection, attrs: Object) -> Result<Object, ClientError> {
        let path = format!("/v2.0/{}", c.path());
        let body = self.request(Method::POST, &path, Some(&json!({ c.singular(): attrs }))).await?;
        Self::object(&path, Self::take(&path, body, c.singular())?)
    }

    /// `PUT /v2.0/<collection>/<id>`.
    pub async fn update(&self, c: Collection, id: &str, attrs: Object) -> Result<Object, ClientError> {
        let path = format!("/v2.0/{}/{}", c.path(), id);
        let body = self.request(Method::PUT, &path, Some(&json!({ c.singular(): attrs }))).await?;
        Self::object(&path, Self::take(&path, body, c.singular())?)
    }

    /// `DELETE /v2.0/<collection>/<id>`.
    pub async fn delete(&self, c: Collection, id: &str) -> Result<(), ClientError> {
        self.request(Method::DELETE, &format!("/v2.0/{}/{}", c.path(), id), None).await.map(|_| ())
    }

    /// `PUT /v2.0/<collection>/<id>/tags`: replaces every tag.
    pub async fn tags_replace(&self, c: Collection, id: &str, tags: &[String]) -> Result<Vec<String>, ClientError> {
        let path = format!("/v2.0/{}/{}/tags", c.path(), id);
        let body = self.request(Method::PUT, &path, Some(&json!({ "tags": tags }))).await?;
        match Self::take(&path, body, "tags")? {
            Value::Array(t) => Ok(t.into_iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
            _ => Err(ClientError::Unexpected { url: path, reason: "expected a list of tags".into() }),
        }
    }

    /// openstacksdk's find: by id first (404/400/403 tolerated), then by exact name.
    pub async fn find(&self, c: Collection, name_or_id: &str) -> Result<Object, ClientError> {
        match self.show(c, name_or_id).await {
            Ok(o) => return Ok(o),
            Err(ClientError::Api { status: 400 | 403 | 404, .. }) => {}
            Err(e) => return Err(e),
        }
        let mut hits = self.list(c, &[("name", name_or_id)]).await?;
        match hits.len() {
            0 => Err(ClientError::NotFound { resource: c.display().into(), name_or_id: name_or_id.into() }),
            1 => Ok(hits.remove(0)),
            _ => Err(ClientError::Ambiguous { resource: c.display().into(), name: name_or_id.into() }),
        }
    }

    /// The id of the resource named (or identified by) `name_or_id`.
    pub async fn find_id(&self, c: Collection, name_or_id: &str) -> Result<String, ClientError> {
        let o = self.find(c, name_or_id).await?;
        o.get("id").and_then(Value::as_str).map(str::to_string).ok_or_else(|| ClientError::Unexpected {
            url: self.url(&format!("/v2.0/{}", c.path())),
            reason: "object without id".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutron_error_bodies_are_parsed() {
        let e = parse_error(409, r#"{"NeutronError": {"type": "NetworkInUse", "message": "in use", "detail": ""}}"#);
        assert_eq!(e.to_string(), "in use (HTTP 409, NetworkInUse)");
        assert_eq!(e.status(), Some(409));
        let e = parse_error(502, "Bad Gateway");
        assert_eq!(e.to_string(), "Bad Gateway (HTTP 502)");
        let e = parse_error(401, r#"{"error": {"code": 401, "title": "Unauthorized", "message": "no token"}}"#);
        assert_eq!(e.to_string(), "no token (HTTP 401, Unauthorized)");
    }

    #[test]
    fn urls_and_names() {
        let c = Client::new("http://h:9696/");
        assert_eq!(c.url("/v2.0/ports"), "http://h:9696/v2.0/ports");
        assert_eq!(Collection::Ports.singular(), "port");
    }
}
