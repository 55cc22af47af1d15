//! Validating tokens against an external Keystone, as keystonemiddleware does: the service
//! authenticates with its own credentials, asks `GET /v3/auth/tokens` about each new user
//! token, and caches the answer until the token expires or `token_cache_seconds` pass.

use crate::config::IdentityConfig;
use neutrino_identity::{Claims, RoleRef};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Mutex;

/// Most cached validations before the cache is pruned.
const CACHE_MAX: usize = 10_000;

/// Why a token could not be validated.
#[derive(Debug, thiserror::Error)]
pub enum ExternalError {
    #[error("token rejected by Keystone")]
    Rejected,
    #[error("Keystone at {url} unreachable or failing: {reason}")]
    Unavailable { url: String, reason: String },
}

/// The external Keystone client with its caches.
pub struct ExternalKeystone {
    url: String,
    http: reqwest::Client,
    config: IdentityConfig,
    service_token: tokio::sync::Mutex<Option<(String, i64)>>,
    cache: Mutex<HashMap<String, (Claims, i64)>>,
}

fn parse_time(v: &Value) -> Option<i64> {
    v.as_str().and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok()).map(|t| t.timestamp())
}

/// Reads a Keystone token body into claims.
pub fn claims_from_body(body: &Value) -> Option<Claims> {
    let t = &body["token"];
    Some(Claims {
        user_id: t["user"]["id"].as_str()?.into(),
        user_name: t["user"]["name"].as_str().unwrap_or_default().into(),
        user_domain_id: t["user"]["domain"]["id"].as_str().unwrap_or_default().into(),
        user_domain_name: t["user"]["domain"]["name"].as_str().unwrap_or_default().into(),
        project_id: t["project"]["id"].as_str().map(str::to_string),
        project_name: t["project"]["name"].as_str().map(str::to_string),
        project_domain_id: t["project"]["domain"]["id"].as_str().map(str::to_string),
        project_domain_name: t["project"]["domain"]["name"].as_str().map(str::to_string),
        roles: t["roles"]
            .as_array()
            .map(|r| {
                r.iter()
                    .map(|x| RoleRef {
                        id: x["id"].as_str().unwrap_or_default().into(),
                        name: x["name"].as_str().unwrap_or_default().into(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        methods: vec![],
        issued_at: parse_time(&t["issued_at"]).unwrap_or_default(),
        expires_at: parse_time(&t["expires_at"])?,
        audit_id: t["audit_ids"][0].as_str().unwrap_or_default().into(),
        // Kept so a domain- or system-scoped token is refused as such, not as unscoped.
        domain_id: t["domain"]["id"].as_str().map(str::to_string),
        domain_name: t["domain"]["name"].as_str().map(str::to_string),
        system: t["system"]["all"] == Value::Bool(true),
        ..Claims::default()
    })
}

impl ExternalKeystone {
    /// A client for `config.external_keystone_url`.
    pub fn new(config: &IdentityConfig) -> Self {
        Self {
            url: config.external_keystone_url.trim_end_matches('/').trim_end_matches("/v3").to_string(),
            http: reqwest::Client::builder().timeout(std::time::Duration::from_secs(10)).build().unwrap_or_default(),
            config: config.clone(),
            service_token: tokio::sync::Mutex::new(None),
            cache: Mutex::new(HashMap::new()),
        }
    }

    fn unavailable(&self, reason: impl std::fmt::Display) -> ExternalError {
        ExternalError::Unavailable { url: self.url.clone(), reason: reason.to_string() }
    }

    async fn service_token(&self, now: i64, refresh: bool) -> Result<String, ExternalError> {
        let mut slot = self.service_token.lock().await;
        if let Some((token, expires)) = slot.as_ref() {
            if !refresh && *expires > now + 30 {
                return Ok(token.clone());
            }
        }
        let c = &self.config;
        let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": c.service_username, "password": c.service_password, "domain": {"name": c.service_domain}}}},
            "scope": {"project": {"name": c.service_project, "domain": {"name": c.service_domain}}}}});
        let res = self
            .http
            .post(format!("{}/v3/auth/tokens", self.url))
            .json(&body)
            .send()
            .await
            .map_err(|e| self.unavailable(e))?;
        if !res.status().is_success() {
            return Err(self.unavailable(format!("service login answered {}", res.status())));
        }
        let token = res
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| self.unavailable("no X-Subject-Token"))?;
        let body: Value = res.json().await.map_err(|e| self.unavailable(e))?;
        let expires = parse_time(&body["token"]["expires_at"]).unwrap_or(now + 300);
        *slot = Some((token.clone(), expires));
        Ok(token)
    }

    /// Validates a user token (cached).
    pub async fn validate(&self, token: &str, now: i64) -> Result<Claims, ExternalError> {
        if let Ok(cache) = self.cache.lock() {
            if let Some((claims, until)) = cache.get(token) {
                if *until > now {
                    return Ok(claims.clone());
                }
            }
        }
        let mut refresh = false;
        for _ in 0..2 {
            let service = self.service_token(now, refresh).await?;
            let res = self
                .http
                .get(format!("{}/v3/auth/tokens", self.url))
                .header("X-Auth-Token", &service)
                .header("X-Subject-Token", token)
                .send()
                .await
                .map_err(|e| self.unavailable(e))?;
            match res.status().as_u16() {
                200 => {
                    let body: Value = res.json().await.map_err(|e| self.unavailable(e))?;
                    let claims = claims_from_body(&body).ok_or(ExternalError::Rejected)?;
                    if claims.expires_at <= now {
                        return Err(ExternalError::Rejected);
                    }
                    let until = claims.expires_at.min(now + self.config.token_cache_seconds);
                    if let Ok(mut cache) = self.cache.lock() {
                        if cache.len() >= CACHE_MAX {
                            cache.retain(|_, (_, u)| *u > now);
                            if cache.len() >= CACHE_MAX {
                                cache.clear();
                            }
                        }
                        cache.insert(token.to_string(), (claims.clone(), until));
                    }
                    return Ok(claims);
                }
                // Our own service token was refused: get a fresh one and ask once more.
                401 if !refresh => refresh = true,
                404 | 401 => return Err(ExternalError::Rejected),
                other => return Err(self.unavailable(format!("token validation answered {other}"))),
            }
        }
        Err(ExternalError::Rejected)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keystone_token_bodies_parse() {
        let body = json!({"token": {"user": {"id": "u", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "r", "name": "member"}], "expires_at": "2030-01-01T00:00:00.000000Z",
            "issued_at": "2029-12-31T23:00:00.000000Z", "audit_ids": ["a"]}});
        let c = claims_from_body(&body).unwrap();
        assert_eq!(c.project_id.as_deref(), Some("p"));
        assert!(c.has_role("member"));
        assert_eq!(c.expires_at, 1_893_456_000);
        assert!(claims_from_body(&json!({"token": {}})).is_none());
    }
}
