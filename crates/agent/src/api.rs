//! The agent's side of the agent API: report, watch, port status, over one or more servers.
//!
//! Any server replica can answer (they share the store), so a request that cannot reach
//! one moves on to the next. Credentials are a Keystone password login (a service user of
//! the embedded identity, re-done when the token is refused), a token file (re-read on
//! every 401, so an operator can rotate it in place) or, for development servers running
//! `--noauth`, just a project id.

use neutrino_agent_api::diagnose::{HostAnswer, HostQuestions};
use neutrino_agent_api::{AgentReport, AgentReportReply, HostState, PortStatusReport};
use neutrino_client::PasswordAuth;
use reqwest::{Method, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Mutex;
use url::Url;

/// How the agent authenticates.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// Keystone v3 password login.
    Password {
        auth_url: String,
        username: String,
        password: String,
        project_name: String,
        user_domain: String,
        project_domain: String,
    },
    /// A file holding a token (trimmed).
    TokenFile(PathBuf),
    /// A `--noauth` server: send this project id.
    NoAuth { project_id: String },
}

/// Why a call to the servers failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("no server reachable ({tried} tried); last error: {last}")]
    Unreachable { tried: usize, last: String },
    #[error("{method} {url} answered {status}: {body}")]
    Status { method: String, url: String, status: u16, body: String },
    #[error("cannot authenticate")]
    Auth(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot read token file {path}")]
    TokenFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid answer from {url}")]
    Decode {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("cannot build the HTTP client")]
    Setup(#[source] reqwest::Error),
}

impl ApiError {
    /// The server does not serve the path (404): a server older than the call.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::Status { status: 404, .. })
    }
}

/// A client of the servers' agent API.
pub struct ServerApi {
    servers: Vec<Url>,
    http: reqwest::Client,
    credentials: Credentials,
    token: Mutex<Option<String>>,
    /// Index of the server that answered last; tried first.
    preferred: std::sync::atomic::AtomicUsize,
}

impl ServerApi {
    /// A client of `servers` (at least one).
    pub fn new(mut servers: Vec<Url>, credentials: Credentials) -> Result<Self, ApiError> {
        // Paths are joined relative to each server's root: make that root a directory.
        for url in &mut servers {
            if !url.path().ends_with('/') {
                let path = format!("{}/", url.path());
                url.set_path(&path);
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(3))
            .user_agent(concat!("neutrino-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ApiError::Setup)?;
        Ok(Self { servers, http, credentials, token: Mutex::new(None), preferred: 0.into() })
    }

    /// Registers or refreshes this agent (its heartbeat).
    pub async fn report(&self, report: &AgentReport) -> Result<AgentReportReply, ApiError> {
        let reply = self.call(Method::POST, "agent/v1/agents/report", Some(report), Duration::from_secs(10)).await?;
        reply.ok_or_else(|| ApiError::Unreachable { tried: 0, last: "empty answer to a report".into() })
    }

    /// The host's desired state once it differs from `known`, or `None` when `wait` seconds
    /// passed without a change.
    pub async fn watch(&self, host: &str, known: &str, wait: Duration) -> Result<Option<HostState>, ApiError> {
        let path = format!("agent/v1/hosts/{}/state?known={}&wait={}", encode(host), encode(known), wait.as_secs());
        self.call::<(), HostState>(Method::GET, &path, None, wait + Duration::from_secs(10)).await
    }

    /// Tells the server which ports are wired (ACTIVE) or not (DOWN).
    pub async fn port_status(&self, report: &PortStatusReport) -> Result<(), ApiError> {
        let path = format!("agent/v1/hosts/{}/port-status", encode(&report.host));
        self.call::<_, serde_json::Value>(Method::POST, &path, Some(report), Duration::from_secs(10)).await?;
        Ok(())
    }

    /// The diagnosis questions pending for the host, as soon as there is one, or none
    /// after `wait` seconds (`neutrino diagnose`; see [`crate::diagnose`]).
    pub async fn questions(&self, host: &str, wait: Duration) -> Result<HostQuestions, ApiError> {
        let path = format!("agent/v1/hosts/{}/questions?wait={}", encode(host), wait.as_secs());
        let answer = self.call::<(), HostQuestions>(Method::GET, &path, None, wait + Duration::from_secs(10)).await?;
        Ok(answer.unwrap_or_default())
    }

    /// Sends what the host saw for one question.
    pub async fn answer(&self, answer: &HostAnswer) -> Result<(), ApiError> {
        let path = format!("agent/v1/hosts/{}/answers", encode(&answer.host));
        match self.call::<_, serde_json::Value>(Method::POST, &path, Some(answer), Duration::from_secs(10)).await {
            // A 200 whose body is not JSON still says the answer was taken.
            Ok(_) | Err(ApiError::Decode { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// An authenticated GET of `path` (relative to the server's root) and the answer's
    /// `Date` header (for `--check`: the credentials and the clock).
    pub async fn get_dated(&self, path: &str) -> Result<(serde_json::Value, Option<String>), ApiError> {
        let (value, date) = self.call_dated::<(), _>(Method::GET, path, None, Duration::from_secs(10)).await?;
        Ok((value.unwrap_or_default(), date))
    }

    /// One call, trying each server from the preferred one; a 401 refreshes the token once.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<Option<T>, ApiError> {
        Ok(self.call_dated(method, path, body, timeout).await?.0)
    }

    /// [`ServerApi::call`], and the answer's `Date` header.
    async fn call_dated<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
        timeout: Duration,
    ) -> Result<(Option<T>, Option<String>), ApiError> {
        let start = self.preferred.load(std::sync::atomic::Ordering::Relaxed);
        let mut last = String::new();
        for i in 0..self.servers.len() {
            let idx = (start + i) % self.servers.len();
            let Ok(url) = self.servers[idx].join(path) else { continue };
            for attempt in 0..2 {
                let mut req = self.http.request(method.clone(), url.clone()).timeout(timeout);
                req = self.authenticate(req, attempt > 0).await?;
                if let Some(b) = body {
                    req = req.json(b);
                }
                let res = match req.send().await {
                    Ok(res) => res,
                    Err(e) => {
                        last = format!("{url}: {e}");
                        break;
                    }
                };
                self.preferred.store(idx, std::sync::atomic::Ordering::Relaxed);
                let status = res.status();
                let date = res.headers().get(reqwest::header::DATE).and_then(|d| d.to_str().ok()).map(str::to_string);
                if status == StatusCode::UNAUTHORIZED && attempt == 0 {
                    continue;
                }
                if status == StatusCode::NOT_MODIFIED || status == StatusCode::NO_CONTENT {
                    return Ok((None, date));
                }
                if !status.is_success() {
                    let body = res.text().await.unwrap_or_default();
                    if status.is_server_error() {
                        last = format!("{url}: {status}: {body}");
                        break;
                    }
                    return Err(ApiError::Status {
                        method: method.to_string(),
                        url: url.to_string(),
                        status: status.as_u16(),
                        body,
                    });
                }
                let value =
                    res.json::<T>().await.map_err(|source| ApiError::Decode { url: url.to_string(), source })?;
                return Ok((Some(value), date));
            }
        }
        Err(ApiError::Unreachable { tried: self.servers.len(), last })
    }

    async fn authenticate(
        &self,
        req: reqwest::RequestBuilder,
        refresh: bool,
    ) -> Result<reqwest::RequestBuilder, ApiError> {
        match &self.credentials {
            Credentials::NoAuth { project_id } => Ok(req.header("X-Project-Id", project_id)),
            Credentials::TokenFile(path) => {
                let token = std::fs::read_to_string(path)
                    .map_err(|source| ApiError::TokenFile { path: path.clone(), source })?;
                Ok(req.header("X-Auth-Token", token.trim()))
            }
            Credentials::Password { auth_url, username, password, project_name, user_domain, project_domain } => {
                let mut token = self.token.lock().await;
                if refresh || token.is_none() {
                    let login =
                        PasswordAuth { auth_url, username, password, project_name, user_domain, project_domain }
                            .login()
                            .await
                            .map_err(|e| ApiError::Auth(Box::new(e)))?;
                    *token = Some(login.token);
                }
                Ok(req.header("X-Auth-Token", token.as_deref().unwrap_or_default()))
            }
        }
    }
}

fn encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
