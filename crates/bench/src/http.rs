//! The client side of one request: headers, one keep-alive connection per worker and
//! server, and the timing. Latency runs from sending a request to having read its whole
//! body, like load.py; bodies are encoded before and decoded after the measurement.
//!
//! Several servers (replicas on one database) are spread over per request, round-robin by
//! the request's index ([`server_of`]), as a load balancer doing round-robin per request
//! would: each server gets an equal share of every phase whatever the concurrency, and the
//! share does not depend on which server answers faster.

use crate::BenchError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};
use reqwest::Method;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request of a phase, its body already encoded.
#[derive(Debug, Clone)]
pub struct Job {
    pub method: Method,
    /// Path and query below the base URL, e.g. `/v2.0/ports?name=x`.
    pub path: String,
    pub body: Option<Vec<u8>>,
}

impl Job {
    pub fn get(path: impl Into<String>) -> Self {
        Self { method: Method::GET, path: path.into(), body: None }
    }

    pub fn post(path: impl Into<String>, body: &Value) -> Self {
        Self { method: Method::POST, path: path.into(), body: Some(body.to_string().into_bytes()) }
    }

    pub fn put(path: impl Into<String>, body: &Value) -> Self {
        Self { method: Method::PUT, path: path.into(), body: Some(body.to_string().into_bytes()) }
    }

    pub fn delete(path: impl Into<String>) -> Self {
        Self { method: Method::DELETE, path: path.into(), body: None }
    }
}

/// A response, kept as bytes until the measurement is over.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Seconds from sending the request to the last body byte.
    pub latency: f64,
}

/// The server (index into the base URLs) of the `index`-th request or simulated agent:
/// round-robin.
pub fn server_of(index: usize, servers: usize) -> usize {
    index % servers.max(1)
}

/// Everything needed to open connections to the servers under test.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Base URLs of the servers, at least one.
    bases: Arc<[Arc<str>]>,
    headers: HeaderMap,
    timeout: Duration,
}

impl Endpoint {
    /// `base_urls` must not be empty (the command line requires one).
    pub fn new(base_urls: &[String], headers: HeaderMap, timeout: Duration) -> Self {
        let bases = base_urls.iter().map(|u| Arc::from(u.trim_end_matches('/'))).collect();
        Self { bases, headers, timeout }
    }

    /// A client that keeps (at most) one idle connection per server: one per worker, as
    /// load.py's thread-local `http.client` connections. Like them it talks to the server directly,
    /// ignoring `HTTP_PROXY` and friends, so a proxy never ends up in the measurement.
    pub fn connect(&self) -> Result<Connection, BenchError> {
        self.pool(1)
    }

    /// A client shared by many tasks, keeping up to `max_idle` idle connections per server
    /// (one per simulated agent's long poll, so none reconnects between polls).
    pub fn pool(&self, max_idle: usize) -> Result<Connection, BenchError> {
        let client = reqwest::Client::builder()
            .default_headers(self.headers.clone())
            .timeout(self.timeout)
            .pool_max_idle_per_host(max_idle)
            .no_proxy()
            .build()
            .map_err(BenchError::Client)?;
        Ok(Connection { client, bases: self.bases.clone() })
    }
}

/// One worker's keep-alive connections (one per server).
#[derive(Debug, Clone)]
pub struct Connection {
    client: reqwest::Client,
    bases: Arc<[Arc<str>]>,
}

impl Connection {
    /// Sends the job to the first server (setup and cleanup, which need no spreading).
    pub async fn send(&self, job: &Job) -> Result<Reply, String> {
        self.send_to(0, job).await
    }

    /// Sends the job to the server [`server_of`] `index` and reads the whole reply. A
    /// transport failure other than a timeout is retried once (load.py does so for a stale
    /// keep-alive connection); the latency is that of the last attempt.
    pub async fn send_to(&self, index: usize, job: &Job) -> Result<Reply, String> {
        let Some(base) = self.bases.get(server_of(index, self.bases.len())) else {
            return Err(format!("{} {}: no server URL", job.method, job.path));
        };
        match self.attempt(base, job).await {
            Err(e) if !e.is_timeout() => self.attempt(base, job).await,
            first => first,
        }
        .map_err(|e| format!("{} {base}{}: {}", job.method, job.path, error_chain(&e)))
    }

    async fn attempt(&self, base: &str, job: &Job) -> Result<Reply, reqwest::Error> {
        let mut request = self.client.request(job.method.clone(), format!("{base}{}", job.path));
        if let Some(body) = &job.body {
            request = request.header(CONTENT_TYPE, "application/json").body(body.clone());
        }
        let start = Instant::now();
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body = response.bytes().await?;
        Ok(Reply { status, body: body.to_vec(), latency: start.elapsed().as_secs_f64() })
    }
}

/// The error and its causes on one line (reqwest's own message rarely says what went wrong).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

/// Headers sent with every request: `Accept: application/json`, `X-Project-Id` (noauth
/// servers take the caller's project from it), `X-Auth-Token` when a token is given, then
/// each `--header 'Name: value'`, which replaces a header of the same name; an empty value
/// removes it (`--header 'X-Project-Id:'` sends none).
pub fn request_headers(project_id: &str, token: Option<&str>, extra: &[String]) -> Result<HeaderMap, BenchError> {
    let value = |name: &str, v: &str| {
        HeaderValue::from_str(v).map_err(|_| BenchError::Args(format!("{name}: '{v}' is not a valid header value")))
    };
    let mut headers = HeaderMap::new();
    headers.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
    headers.insert("x-project-id", value("project id", project_id)?);
    if let Some(token) = token {
        let mut token = value("token", token)?;
        token.set_sensitive(true);
        headers.insert("x-auth-token", token);
    }
    for raw in extra {
        let (name, v) =
            raw.split_once(':').ok_or_else(|| BenchError::Args(format!("--header '{raw}' is not 'Name: value'")))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| BenchError::Args(format!("--header '{raw}': bad header name")))?;
        let v = v.trim();
        if v.is_empty() {
            headers.remove(&name);
        } else {
            headers.insert(name, value("--header", v)?);
        }
    }
    Ok(headers)
}

/// Percent-encodes a query value as Python's `urllib.parse.quote` does (load.py quotes port
/// names): letters, digits and `_.-~/` stay, every other UTF-8 byte becomes `%XX`.
pub fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"_.-~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(extra: &[&str]) -> HeaderMap {
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        match request_headers("p1", Some("tok"), &extra) {
            Ok(h) => h,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn project_token_and_accept_are_sent() {
        let h = headers(&[]);
        assert_eq!(h["x-project-id"], "p1");
        assert_eq!(h["x-auth-token"], "tok");
        assert_eq!(h["accept"], "application/json");
    }

    #[test]
    fn extra_headers_override_add_and_remove() {
        let h = headers(&["X-Project-Id: other", "X-Roles:admin,member"]);
        assert_eq!(h["x-project-id"], "other");
        assert_eq!(h["x-roles"], "admin,member");
        assert_eq!(h.get_all("x-project-id").iter().count(), 1);
        let h = headers(&["X-Project-Id:  "]);
        assert!(h.get("x-project-id").is_none());
    }

    #[test]
    fn malformed_headers_are_argument_errors() {
        for bad in ["no colon", "bad name: v", "X-Ok: line\nbreak"] {
            let r = request_headers("p", None, &[bad.to_string()]);
            assert!(matches!(r, Err(BenchError::Args(_))), "{bad}: {r:?}");
        }
        assert!(matches!(request_headers("p\n", None, &[]), Err(BenchError::Args(_))));
    }

    #[test]
    fn quote_matches_python() {
        assert_eq!(quote("lg-c8-port-37"), "lg-c8-port-37");
        assert_eq!(quote("a b&c=d/e~f"), "a%20b%26c%3Dd/e~f");
        assert_eq!(quote("é"), "%C3%A9");
    }

    #[test]
    fn requests_go_round_robin_over_the_servers() {
        let spread = |servers: usize, n: usize| (0..n).map(|i| server_of(i, servers)).collect::<Vec<_>>();
        assert_eq!(spread(1, 4), [0, 0, 0, 0]);
        assert_eq!(spread(2, 5), [0, 1, 0, 1, 0]);
        assert_eq!(spread(4, 9), [0, 1, 2, 3, 0, 1, 2, 3, 0]);
        assert_eq!(server_of(7, 0), 0, "no server counts as one");
        let endpoint =
            Endpoint::new(&["http://a/".into(), "http://b".into()], HeaderMap::new(), Duration::from_secs(1));
        assert_eq!(endpoint.bases.len(), 2);
        assert_eq!(&*endpoint.bases[0], "http://a", "a trailing slash is dropped");
    }

    #[test]
    fn jobs_carry_encoded_bodies() {
        let job = Job::post("/v2.0/networks", &serde_json::json!({"network": {"name": "n"}}));
        assert_eq!(job.body.as_deref(), Some(br#"{"network":{"name":"n"}}"#.as_slice()));
        assert_eq!(Job::delete("/x").method, Method::DELETE);
        assert!(Job::get("/x").body.is_none());
    }
}
