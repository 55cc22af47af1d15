//! The client for one Networking endpoint: URLs, envelopes, pagination and openstacksdk's
//! find-by-name-or-id.

use crate::collection::Collection;
use crate::error::{ApiError, ClientError};
use reqwest::Method;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::time::Duration;
use url::Url;

/// A resource as the API returns it: a JSON object.
pub type Object = Map<String, Value>;

/// The `id` of a resource object.
pub fn object_id(obj: &Object) -> Option<&str> {
    obj.get("id").and_then(Value::as_str)
}

/// How long to wait for a TCP connection before reporting the endpoint unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Client for one Networking API endpoint.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    /// The unversioned endpoint; always an http(s) URL that can take path segments.
    base: Url,
    token: Option<String>,
    project_id: Option<String>,
}

impl Client {
    /// `endpoint` is the unversioned root (`http://127.0.0.1:9696`), as the catalog lists it;
    /// a path prefix (`http://host/networking`) is kept.
    pub fn new(endpoint: &str) -> Result<Self, ClientError> {
        let invalid = |reason: String| ClientError::InvalidEndpoint { url: endpoint.to_string(), reason };
        let mut base = Url::parse(endpoint).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("expected an http:// or https:// URL".into()));
        }
        base.set_query(None);
        base.set_fragment(None);
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("neutrino-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ClientError::Setup)?;
        Ok(Self { http, base, token: None, project_id: None })
    }

    /// Sends `X-Auth-Token` on every request.
    pub fn with_token(mut self, token: Option<String>) -> Self {
        self.token = token;
        self
    }

    /// Sends `X-Project-Id` on every request (the project of a no-auth server).
    pub fn with_project(mut self, project_id: Option<String>) -> Self {
        self.project_id = project_id;
        self
    }

    /// The endpoint this client talks to.
    pub fn endpoint(&self) -> &Url {
        &self.base
    }

    /// `<endpoint>/v2.0/<segments...>`, each segment percent-encoded (a name may hold `/`).
    fn v2_url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `new` refused URLs that cannot be a base, the only case where this is `Err`.
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().push("v2.0").extend(segments);
        }
        url
    }

    /// `GET` URL of a collection with its query (filters, `fields`, `limit`...).
    pub fn collection_url(&self, c: Collection, query: &[(&str, &str)]) -> Url {
        let mut url = self.v2_url(&[c.path()]);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    /// URL of one resource.
    pub fn resource_url(&self, c: Collection, id: &str) -> Url {
        self.v2_url(&[c.path(), id])
    }

    /// URL of one resource's tag set.
    pub fn tags_url(&self, c: Collection, id: &str) -> Url {
        self.v2_url(&[c.path(), id, "tags"])
    }

    /// One request; the parsed body, `Null` when empty (204).
    async fn send(&self, method: Method, url: Url, body: Option<Value>) -> Result<Value, ClientError> {
        let method_name = method.to_string();
        let transport = |source| ClientError::Transport { method: method_name.clone(), url: url.to_string(), source };
        let mut req = self.http.request(method.clone(), url.clone()).header("Accept", "application/json");
        if let Some(t) = &self.token {
            req = req.header("X-Auth-Token", t);
        }
        if let Some(p) = &self.project_id {
            req = req.header("X-Project-Id", p);
        }
        if let Some(b) = &body {
            req = req.json(b);
        }
        tracing::debug!(%method, %url, "request");
        let res = req.send().await.map_err(transport)?;
        let status = res.status();
        let text = res.text().await.map_err(transport)?;
        tracing::debug!(%method, %url, status = status.as_u16(), "response");
        if !status.is_success() {
            let error = ApiError::from_response(&method_name, url.as_str(), status.as_u16(), &text);
            return Err(ClientError::Api(Box::new(error)));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| unexpected(&url, format!("invalid JSON: {e}")))
    }

    /// `GET /v2.0/<collection>?query`, following `<plural>_links` `next` pages as openstacksdk does.
    pub async fn list(&self, c: Collection, query: &[(&str, &str)]) -> Result<Vec<Object>, ClientError> {
        let mut url = self.collection_url(c, query);
        let mut items = Vec::new();
        let mut visited = HashSet::new();
        loop {
            let mut body = self.send(Method::GET, url.clone(), None).await?;
            let page = match take(&url, &mut body, c.plural())? {
                Value::Array(page) => page,
                _ => return Err(unexpected(&url, format!("'{}' is not a list", c.plural()))),
            };
            let page_len = page.len();
            for item in page {
                items.push(object(&url, item)?);
            }
            visited.insert(url.to_string());
            match next_page(&body, c, &url) {
                Some(next) if page_len > 0 && !visited.contains(next.as_str()) => url = next,
                _ => return Ok(items),
            }
        }
    }

    /// `GET /v2.0/<collection>/<id>`.
    pub async fn show(&self, c: Collection, id: &str) -> Result<Object, ClientError> {
        let url = self.resource_url(c, id);
        let mut body = self.send(Method::GET, url.clone(), None).await?;
        object(&url, take(&url, &mut body, c.singular())?)
    }

    /// `POST /v2.0/<collection>` with one object; the created object.
    pub async fn create(&self, c: Collection, attrs: Object) -> Result<Object, ClientError> {
        let url = self.collection_url(c, &[]);
        let mut body = self.send(Method::POST, url.clone(), Some(json!({ c.singular(): attrs }))).await?;
        object(&url, take(&url, &mut body, c.singular())?)
    }

    /// `PUT /v2.0/<collection>/<id>` with the attributes to change; the updated object.
    pub async fn update(&self, c: Collection, id: &str, attrs: Object) -> Result<Object, ClientError> {
        let url = self.resource_url(c, id);
        let mut body = self.send(Method::PUT, url.clone(), Some(json!({ c.singular(): attrs }))).await?;
        object(&url, take(&url, &mut body, c.singular())?)
    }

    /// `DELETE /v2.0/<collection>/<id>`.
    pub async fn delete(&self, c: Collection, id: &str) -> Result<(), ClientError> {
        self.send(Method::DELETE, self.resource_url(c, id), None).await.map(drop)
    }

    /// `PUT /v2.0/<collection>/<id>/tags`: replaces every tag; the tags now set.
    pub async fn tags_replace(&self, c: Collection, id: &str, tags: &[String]) -> Result<Vec<String>, ClientError> {
        let url = self.tags_url(c, id);
        let mut body = self.send(Method::PUT, url.clone(), Some(json!({ "tags": tags }))).await?;
        match take(&url, &mut body, "tags")? {
            Value::Array(t) => t
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(unexpected(&url, format!("tag {other} is not a string"))),
                })
                .collect(),
            _ => Err(unexpected(&url, "'tags' is not a list".into())),
        }
    }

    /// `PUT /v2.0/<collection>/<id>/<action>` (router interfaces and extra routes).
    pub async fn action(&self, c: Collection, id: &str, action: &str, body: Value) -> Result<Value, ClientError> {
        let url = self.v2_url(&[c.path(), id, action]);
        self.send(Method::PUT, url, Some(body)).await
    }

    /// `GET /v2.0/<segments...>?query`: the answer's `key` (a neutrino extension's route, such
    /// as `diagnose/ports/<id>`, with no collection of its own).
    pub async fn get_v2(&self, segments: &[&str], query: &[(&str, &str)], key: &str) -> Result<Value, ClientError> {
        let mut url = self.v2_url(segments);
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        let mut body = self.send(Method::GET, url.clone(), None).await?;
        take(&url, &mut body, key)
    }

    /// openstacksdk's find: `GET .../<name_or_id>` first (a 404, 400 or 403 falls through), then
    /// `GET ...?name=<name_or_id>`, which must match exactly one.
    pub async fn find(&self, c: Collection, name_or_id: &str) -> Result<Object, ClientError> {
        let not_found = || ClientError::NotFound { resource: c.display(), name_or_id: name_or_id.to_string() };
        if name_or_id.is_empty() {
            return Err(not_found());
        }
        match self.show(c, name_or_id).await {
            Ok(found) => return Ok(found),
            Err(e) if matches!(e.status(), Some(400 | 403 | 404)) => {}
            Err(e) => return Err(e),
        }
        let mut hits: Vec<Object> = self
            .list(c, &[("name", name_or_id)])
            .await?
            .into_iter()
            .filter(|o| o.get("name").and_then(Value::as_str) == Some(name_or_id) || object_id(o) == Some(name_or_id))
            .collect();
        match hits.len() {
            0 => Err(not_found()),
            1 => Ok(hits.remove(0)),
            _ => Err(ClientError::Ambiguous { resource: c.display(), name: name_or_id.to_string() }),
        }
    }

    /// The id of the resource named (or identified by) `name_or_id`.
    pub async fn find_id(&self, c: Collection, name_or_id: &str) -> Result<String, ClientError> {
        let found = self.find(c, name_or_id).await?;
        object_id(&found)
            .map(str::to_string)
            .ok_or_else(|| unexpected(&self.collection_url(c, &[]), format!("{} without an id", c.display())))
    }
}

fn unexpected(url: &Url, reason: String) -> ClientError {
    ClientError::Unexpected { url: url.to_string(), reason }
}

/// Takes the envelope's `key` out of an answer.
fn take(url: &Url, body: &mut Value, key: &str) -> Result<Value, ClientError> {
    body.get_mut(key).map(Value::take).ok_or_else(|| unexpected(url, format!("no '{key}' in the answer")))
}

fn object(url: &Url, v: Value) -> Result<Object, ClientError> {
    match v {
        Value::Object(m) => Ok(m),
        other => Err(unexpected(url, format!("expected an object, got {other}"))),
    }
}

/// The `rel: next` link of a list answer, resolved against the page's URL.
fn next_page(body: &Value, c: Collection, page: &Url) -> Option<Url> {
    let links = body.get(format!("{}_links", c.plural()))?.as_array()?;
    let href = links.iter().find(|l| l["rel"] == "next")?["href"].as_str()?;
    page.join(href).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> Client {
        Client::new(endpoint).unwrap_or_else(|e| panic!("{endpoint}: {e}"))
    }

    #[test]
    fn urls_are_built_under_v2() {
        let c = client("http://h:9696/");
        assert_eq!(c.collection_url(Collection::Ports, &[]).as_str(), "http://h:9696/v2.0/ports");
        assert_eq!(c.resource_url(Collection::Networks, "n1").as_str(), "http://h:9696/v2.0/networks/n1");
        assert_eq!(c.tags_url(Collection::Subnets, "s1").as_str(), "http://h:9696/v2.0/subnets/s1/tags");
        assert_eq!(c.resource_url(Collection::RbacPolicies, "r").as_str(), "http://h:9696/v2.0/rbac-policies/r");
    }

    #[test]
    fn endpoint_path_prefix_is_kept() {
        let c = client("https://cloud.example/networking");
        assert_eq!(c.resource_url(Collection::Ports, "p").as_str(), "https://cloud.example/networking/v2.0/ports/p");
        let c = client("https://cloud.example/networking/?x=1");
        assert_eq!(c.collection_url(Collection::Ports, &[]).as_str(), "https://cloud.example/networking/v2.0/ports");
    }

    #[test]
    fn names_and_queries_are_encoded() {
        let c = client("http://h:9696");
        assert_eq!(c.resource_url(Collection::Networks, "a/b c?").as_str(), "http://h:9696/v2.0/networks/a%2Fb%20c%3F");
        let url = c.collection_url(Collection::Networks, &[("name", "a&b c"), ("router:external", "True")]);
        assert_eq!(url.query(), Some("name=a%26b+c&router%3Aexternal=True"));
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(pairs[0], ("name".to_string(), "a&b c".to_string()));
    }

    #[test]
    fn bad_endpoints_are_refused() {
        assert!(matches!(Client::new("127.0.0.1:9696"), Err(ClientError::InvalidEndpoint { .. })));
        assert!(matches!(Client::new("ftp://h/"), Err(ClientError::InvalidEndpoint { .. })));
        assert!(matches!(Client::new("not a url"), Err(ClientError::InvalidEndpoint { .. })));
    }

    #[test]
    fn next_page_link_is_found_and_resolved() {
        let page = Url::parse("http://h:9696/v2.0/networks?limit=2").unwrap_or_else(|e| panic!("{e}"));
        let body = json!({"networks": [], "networks_links": [
            {"rel": "previous", "href": "http://h:9696/v2.0/networks?limit=2&marker=a&page_reverse=True"},
            {"rel": "next", "href": "http://h:9696/v2.0/networks?limit=2&marker=b"}]});
        assert_eq!(
            next_page(&body, Collection::Networks, &page).map(String::from).as_deref(),
            Some("http://h:9696/v2.0/networks?limit=2&marker=b")
        );
        let relative = json!({"networks_links": [{"rel": "next", "href": "/v2.0/networks?marker=c"}]});
        assert_eq!(
            next_page(&relative, Collection::Networks, &page).map(String::from).as_deref(),
            Some("http://h:9696/v2.0/networks?marker=c")
        );
        assert!(next_page(&json!({"networks": []}), Collection::Networks, &page).is_none());
    }
}
