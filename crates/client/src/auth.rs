//! Keystone v3 password login, as openstacksdk does it for `OS_AUTH_URL`/`OS_USERNAME`/...:
//! a project-scoped token and the catalog's public `network` endpoint.

use crate::error::{ApiError, ClientError};
use serde_json::{json, Value};

/// Who logs in, and into which project.
#[derive(Debug, Clone)]
pub struct PasswordAuth<'a> {
    /// Keystone URL, with or without the trailing `/v3`.
    pub auth_url: &'a str,
    pub username: &'a str,
    pub password: &'a str,
    pub project_name: &'a str,
    pub user_domain: &'a str,
    pub project_domain: &'a str,
}

/// A successful login.
#[derive(Debug, Clone)]
pub struct Login {
    /// The token to send as `X-Auth-Token`.
    pub token: String,
    /// The catalog's public `network` endpoint, if the catalog lists one.
    pub network_url: Option<String>,
}

impl PasswordAuth<'_> {
    /// `POST <auth_url>/v3/auth/tokens`.
    fn tokens_url(&self) -> String {
        let base = self.auth_url.trim_end_matches('/');
        let base = base.strip_suffix("/v3").unwrap_or(base);
        format!("{base}/v3/auth/tokens")
    }

    fn request_body(&self) -> Value {
        json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.username, "password": self.password, "domain": {"name": self.user_domain}}}},
            "scope": {"project": {"name": self.project_name, "domain": {"name": self.project_domain}}}
        }})
    }

    /// Logs in; the token comes from the `X-Subject-Token` header.
    pub async fn login(&self) -> Result<Login, ClientError> {
        let url = self.tokens_url();
        let transport = |source| ClientError::Transport { method: "POST".into(), url: url.clone(), source };
        let http = reqwest::Client::builder().build().map_err(ClientError::Setup)?;
        let res = http.post(&url).json(&self.request_body()).send().await.map_err(transport)?;
        let status = res.status();
        let token = res.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let text = res.text().await.map_err(transport)?;
        if !status.is_success() {
            return Err(ClientError::Api(Box::new(ApiError::from_response("POST", &url, status.as_u16(), &text))));
        }
        let unexpected = |reason: String| ClientError::Unexpected { url: url.clone(), reason };
        let token = token.ok_or_else(|| unexpected("no X-Subject-Token header".into()))?;
        let body: Value = serde_json::from_str(&text).map_err(|e| unexpected(e.to_string()))?;
        Ok(Login { token, network_url: public_network_endpoint(&body) })
    }
}

/// The public `network` endpoint of a token body's catalog.
fn public_network_endpoint(token_body: &Value) -> Option<String> {
    token_body["token"]["catalog"].as_array()?.iter().find(|service| service["type"] == "network")?["endpoints"]
        .as_array()?
        .iter()
        .find(|endpoint| endpoint["interface"] == "public")?["url"]
        .as_str()
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(url: &str) -> PasswordAuth<'_> {
        PasswordAuth {
            auth_url: url,
            username: "u",
            password: "p",
            project_name: "proj",
            user_domain: "Default",
            project_domain: "Default",
        }
    }

    #[test]
    fn tokens_url_with_or_without_version() {
        assert_eq!(auth("http://k:5000/v3").tokens_url(), "http://k:5000/v3/auth/tokens");
        assert_eq!(auth("http://k:5000/v3/").tokens_url(), "http://k:5000/v3/auth/tokens");
        assert_eq!(auth("http://k:5000").tokens_url(), "http://k:5000/v3/auth/tokens");
        assert_eq!(auth("http://k/identity/v3").tokens_url(), "http://k/identity/v3/auth/tokens");
    }

    #[test]
    fn request_is_project_scoped_password_auth() {
        let body = auth("http://k").request_body();
        assert_eq!(body["auth"]["identity"]["password"]["user"]["name"], "u");
        assert_eq!(body["auth"]["scope"]["project"]["name"], "proj");
        assert_eq!(body["auth"]["scope"]["project"]["domain"]["name"], "Default");
    }

    #[test]
    fn network_endpoint_is_the_public_one() {
        let body = json!({"token": {"catalog": [
            {"type": "identity", "endpoints": [{"interface": "public", "url": "http://k:5000"}]},
            {"type": "network", "endpoints": [
                {"interface": "internal", "url": "http://internal:9696"},
                {"interface": "public", "url": "http://public:9696"}]}
        ]}});
        assert_eq!(public_network_endpoint(&body).as_deref(), Some("http://public:9696"));
        assert_eq!(public_network_endpoint(&json!({"token": {"catalog": []}})), None);
        assert_eq!(public_network_endpoint(&json!({"token": {}})), None);
    }
}
