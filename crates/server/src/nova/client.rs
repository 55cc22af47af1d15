//! The real Nova: a Keystone session (password or token file, the compute endpoint from
//! the token's catalog, renewed before it expires or when Nova refuses it) and the
//! `os-server-external-events` call, as novaclient makes it for Neutron.

use super::sender::{EventResult, NovaApi, SendError};
use super::NovaEvent;
use crate::app::Clock;
use crate::config::NovaConfig;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// A token is renewed this long before it expires.
const RENEW_BEFORE_SECONDS: i64 = 60;
/// A token read from a file (its expiry unknown) is re-read this often.
const TOKEN_FILE_REREAD_SECONDS: i64 = 300;

/// A token and where to send events with it.
#[derive(Debug, Clone)]
struct Session {
    token: String,
    /// Unix time after which the token is renewed.
    renew_at: i64,
    /// The compute API base, e.g. `http://nova:8774/v2.1`.
    endpoint: String,
}

/// Nova over HTTP.
pub struct HttpNova {
    config: NovaConfig,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    session: tokio::sync::Mutex<Option<Session>>,
}

fn unreachable(what: &str, e: impl std::fmt::Display) -> SendError {
    SendError::Unreachable(format!("{what}: {e}"))
}

impl HttpNova {
    pub fn new(config: NovaConfig, clock: Arc<dyn Clock>) -> Self {
        let http =
            reqwest::Client::builder().timeout(Duration::from_secs(config.timeout.max(1))).build().unwrap_or_default();
        Self { config, http, clock, session: tokio::sync::Mutex::new(None) }
    }

    /// `<auth_url>/v3/auth/tokens`, whether or not `auth_url` names `/v3`.
    fn tokens_url(&self) -> String {
        let base = self.config.auth_url.trim_end_matches('/').trim_end_matches("/v3");
        format!("{base}/v3/auth/tokens")
    }

    /// The cached session, or a new one when there is none, it is due for renewal, or
    /// `renew` (Nova refused its token).
    async fn session(&self, renew: bool) -> Result<Session, SendError> {
        let mut slot = self.session.lock().await;
        let now = self.clock.unix();
        if let Some(s) = slot.as_ref() {
            if !renew && now < s.renew_at {
                return Ok(s.clone());
            }
        }
        let s = self.authenticate(now).await?;
        tracing::info!(endpoint = %s.endpoint, "nova notifier authenticated");
        *slot = Some(s.clone());
        Ok(s)
    }

    async fn authenticate(&self, now: i64) -> Result<Session, SendError> {
        let c = &self.config;
        let (token, body) = if c.token_file.is_empty() {
            self.password_token().await?
        } else {
            let token = tokio::fs::read_to_string(&c.token_file)
                .await
                .map_err(|e| unreachable(&format!("cannot read {}", c.token_file), e))?
                .trim()
                .to_string();
            // With Keystone at hand, its view of the token gives the catalog and expiry.
            let body = if c.auth_url.is_empty() { Value::Null } else { self.inspect_token(&token).await? };
            (token, body)
        };
        let expires = body["token"]["expires_at"]
            .as_str()
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .map(|t| t.timestamp());
        let renew_at = match expires {
            Some(t) => t - RENEW_BEFORE_SECONDS,
            None => now + TOKEN_FILE_REREAD_SECONDS,
        };
        let endpoint = if c.endpoint_override.is_empty() {
            compute_endpoint(&body["token"]["catalog"], &c.endpoint_type, &c.region_name)
                .ok_or_else(|| unreachable("keystone catalog", "no compute endpoint"))?
        } else {
            c.endpoint_override.clone()
        };
        Ok(Session { token, renew_at, endpoint: versioned(&endpoint) })
    }

    /// Password authentication scoped to the project: the token and its body.
    async fn password_token(&self) -> Result<(String, Value), SendError> {
        let c = &self.config;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username, "password": c.password, "domain": {"name": c.user_domain_name}}}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}}}});
        let res = self.http.post(self.tokens_url()).json(&body).send().await.map_err(|e| unreachable("keystone", e))?;
        if !res.status().is_success() {
            return Err(unreachable("keystone", format!("login as {} answered {}", c.username, res.status())));
        }
        let token = res
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| unreachable("keystone", "no X-Subject-Token"))?;
        let body = res.json().await.map_err(|e| unreachable("keystone", e))?;
        Ok((token, body))
    }

    /// `GET /v3/auth/tokens` about our own token.
    async fn inspect_token(&self, token: &str) -> Result<Value, SendError> {
        let res = self
            .http
            .get(self.tokens_url())
            .header("X-Auth-Token", token)
            .header("X-Subject-Token", token)
            .send()
            .await
            .map_err(|e| unreachable("keystone", e))?;
        if !res.status().is_success() {
            return Err(unreachable("keystone", format!("token from file answered {}", res.status())));
        }
        res.json().await.map_err(|e| unreachable("keystone", e))
    }

    async fn post(&self, s: &Session, events: &[NovaEvent]) -> Result<reqwest::Response, SendError> {
        self.http
            .post(format!("{}/os-server-external-events", s.endpoint))
            .header("X-Auth-Token", &s.token)
            .header("X-OpenStack-Nova-API-Version", "2.1")
            .header("OpenStack-API-Version", "compute 2.1")
            .header("X-OpenStack-Request-ID", format!("req-{}", uuid::Uuid::new_v4()))
            .json(&json!({ "events": events }))
            .send()
            .await
            .map_err(|e| unreachable("nova", e))
    }
}

impl NovaApi for HttpNova {
    async fn send(&self, events: &[NovaEvent]) -> Result<Vec<EventResult>, SendError> {
        let mut session = self.session(false).await?;
        let mut res = self.post(&session, events).await?;
        if res.status() == reqwest::StatusCode::UNAUTHORIZED {
            // Revoked or expired early: a new token, once.
            session = self.session(true).await?;
            res = self.post(&session, events).await?;
        }
        let status = res.status().as_u16();
        let text = res.text().await.map_err(|e| unreachable("nova", e))?;
        match status {
            200 | 207 => Ok(results(events, &text)),
            404 => Err(SendError::NotFound),
            401 | 500.. => Err(unreachable("nova", format!("answered {status}: {text}"))),
            _ => Err(SendError::Refused { status, body: text }),
        }
    }
}

/// Nova's per-event codes, matched to our events by position (Nova answers them in order);
/// an answer without a code counts as refused.
fn results(events: &[NovaEvent], text: &str) -> Vec<EventResult> {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let answers = body["events"].as_array().cloned().unwrap_or_default();
    events
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let code = answers.get(i).and_then(|a| a["code"].as_u64()).and_then(|c| u16::try_from(c).ok());
            EventResult { event: e.clone(), code: code.unwrap_or(0) }
        })
        .collect()
}

/// The catalog's compute endpoint for the interface (and region, unless any will do).
pub fn compute_endpoint(catalog: &Value, interface: &str, region: &str) -> Option<String> {
    let services = catalog.as_array()?;
    let compute = services.iter().find(|s| s["type"] == "compute")?;
    compute["endpoints"].as_array()?.iter().find_map(|e| {
        let in_region = region.is_empty() || e["region"] == region || e["region_id"] == region;
        (e["interface"] == interface && in_region).then(|| e["url"].as_str().map(str::to_string)).flatten()
    })
}

/// A compute URL without a version path gets `/v2.1` (what novaclient discovers).
fn versioned(url: &str) -> String {
    let url = url.trim_end_matches('/');
    let has_path = url.split("://").nth(1).is_some_and(|rest| rest.contains('/'));
    if has_path {
        url.to_string()
    } else {
        format!("{url}/v2.1")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_compute_endpoint_is_found_by_interface_and_region() {
        let catalog = json!([
            {"type": "network", "endpoints": [{"interface": "public", "region": "R1", "url": "http://n"}]},
            {"type": "compute", "endpoints": [
                {"interface": "public", "region": "R1", "region_id": "R1", "url": "http://pub1/v2.1"},
                {"interface": "internal", "region": "R1", "region_id": "R1", "url": "http://int1/v2.1"},
                {"interface": "public", "region": "R2", "region_id": "R2", "url": "http://pub2/v2.1"}]}
        ]);
        assert_eq!(compute_endpoint(&catalog, "public", "").as_deref(), Some("http://pub1/v2.1"));
        assert_eq!(compute_endpoint(&catalog, "public", "R2").as_deref(), Some("http://pub2/v2.1"));
        assert_eq!(compute_endpoint(&catalog, "internal", "R1").as_deref(), Some("http://int1/v2.1"));
        assert_eq!(compute_endpoint(&catalog, "admin", ""), None);
        assert_eq!(compute_endpoint(&json!([]), "public", ""), None);
    }

    #[test]
    fn a_bare_compute_url_gets_the_api_version() {
        assert_eq!(versioned("http://nova:8774"), "http://nova:8774/v2.1");
        assert_eq!(versioned("http://nova:8774/"), "http://nova:8774/v2.1");
        assert_eq!(versioned("http://nova:8774/v2.1/"), "http://nova:8774/v2.1");
        assert_eq!(versioned("https://api.example/compute/v2.1"), "https://api.example/compute/v2.1");
    }

    #[test]
    fn per_event_codes_are_read_in_order() {
        let e = |tag: &str| NovaEvent {
            name: crate::nova::EventName::NetworkChanged,
            server_uuid: "s".into(),
            tag: tag.into(),
            status: None,
        };
        let text = r#"{"events": [{"code": 200, "tag": "a"}, {"code": 404, "tag": "b"}, {"tag": "c"}]}"#;
        let codes: Vec<u16> = results(&[e("a"), e("b"), e("c")], text).iter().map(|r| r.code).collect();
        assert_eq!(codes, [200, 404, 0]);
    }
}
