//! Live migration as Nova drives it with `binding-extended`: bind the port on the target
//! host (an INACTIVE binding its agent wires ahead), move the instance, activate the target
//! binding, delete the source's. Only the `service` role may change bindings (Neutron's
//! defaults), so these calls go as a `nova` service user, which needs the embedded identity
//! ([`Auth::AdminPassword`]).

use super::{api_error, Auth, Cloud};
use crate::error::{Result, TestbedError};
use reqwest::Method;
use serde_json::{json, Value};

/// The service user's name and password, as a deployment's `nova` user.
const NOVA_USER: &str = "nova";
const NOVA_PASSWORD: &str = "nova-service-secret";

impl Cloud {
    /// `POST /v2.0/ports/{id}/bindings` for `host` (Nova's pre-live-migration); returns the
    /// binding (INACTIVE).
    pub fn bind_port_to(&self, port_id: &str, host: &str) -> Result<Value> {
        let path = format!("/v2.0/ports/{port_id}/bindings");
        let b = self.as_nova(Method::POST, &path, Some(json!({"binding": {"host": host}})))?;
        Ok(b.get("binding").cloned().unwrap_or(Value::Null))
    }

    /// `PUT /v2.0/ports/{id}/bindings/{host}/activate` (Nova's post-live-migration).
    pub fn activate_binding(&self, port_id: &str, host: &str) -> Result<Value> {
        self.as_nova(Method::PUT, &format!("/v2.0/ports/{port_id}/bindings/{host}/activate"), None)
    }

    /// `DELETE /v2.0/ports/{id}/bindings/{host}` (Nova's clean-up of the source host).
    pub fn delete_binding(&self, port_id: &str, host: &str) -> Result<()> {
        self.as_nova(Method::DELETE, &format!("/v2.0/ports/{port_id}/bindings/{host}"), None).map(drop)
    }

    /// `GET /v2.0/ports/{id}/bindings`.
    pub fn port_bindings(&self, port_id: &str) -> Result<Vec<Value>> {
        let b = self.as_nova(Method::GET, &format!("/v2.0/ports/{port_id}/bindings"), None)?;
        Ok(b.get("bindings").and_then(Value::as_array).cloned().unwrap_or_default())
    }

    /// One call as the `nova` service user; a non-2xx answer is an error with its body.
    fn as_nova(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let token = self.service_token()?;
        let url = format!("{}{path}", self.url());
        let what = format!("{method} {path}");
        let (status, text) = self.http(method, url, Some(token), body)?;
        if !(200..300).contains(&status) {
            return Err(api_error(&what, format!("{status} {text}")));
        }
        Ok(if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) })
    }

    /// One HTTP request from the controller: (status, body).
    fn http(&self, method: Method, url: String, token: Option<String>, body: Option<Value>) -> Result<(u16, String)> {
        let what = format!("{method} {url}");
        self.tb
            .block_on_in(self.tb.controller().netns(), move || async move {
                let mut req = reqwest::Client::new().request(method, &url);
                if let Some(t) = token {
                    req = req.header("x-auth-token", t);
                }
                if let Some(b) = body {
                    req = req.json(&b);
                }
                let res = req.send().await?;
                let status = res.status().as_u16();
                Ok::<_, reqwest::Error>((status, res.text().await?))
            })?
            .map_err(|e| api_error(&what, e))
    }

    /// The `nova` user's token, scoped to the `service` project with the `service` role
    /// (made on first use with the admin's token, as a deployment registers Nova).
    fn service_token(&self) -> Result<String> {
        if !matches!(self.auth, Auth::AdminPassword(_)) {
            return Err(TestbedError::invalid(
                "noauth",
                "bindings need the service role: start with Auth::AdminPassword",
            ));
        }
        let mut cached = self.service_token.lock().map_err(|_| api_error("service token", "poisoned"))?;
        if let Some(t) = cached.as_ref() {
            return Ok(t.clone());
        }
        let admin = self.token()?;
        let keystone = |method: Method, path: &str, body: Option<Value>| -> Result<Value> {
            let (status, text) = self.http(method, format!("{}/v3{path}", self.url()), admin.clone(), body)?;
            if !(200..300).contains(&status) {
                return Err(api_error(&format!("identity {path}"), format!("{status} {text}")));
            }
            Ok(serde_json::from_str(&text).unwrap_or(Value::Null))
        };
        let id = |v: &Value, key: &str| v[key]["id"].as_str().unwrap_or_default().to_string();
        let project =
            keystone(Method::POST, "/projects", Some(json!({"project": {"name": "service", "domain_id": "default"}})))?;
        let user = keystone(
            Method::POST,
            "/users",
            Some(json!({"user": {"name": NOVA_USER, "password": NOVA_PASSWORD, "domain_id": "default"}})),
        )?;
        let roles = keystone(Method::GET, "/roles?name=service", None)?;
        let role = roles["roles"][0]["id"].as_str().unwrap_or_default().to_string();
        let grant = format!("/projects/{}/users/{}/roles/{role}", id(&project, "project"), id(&user, "user"));
        let (status, text) = self.http(Method::PUT, format!("{}/v3{grant}", self.url()), admin, None)?;
        if status != 204 {
            return Err(api_error("granting the service role", format!("{status} {text}")));
        }
        let url = self.url();
        let login = self
            .tb
            .block_on_in(self.tb.controller().netns(), move || async move {
                neutrino_client::PasswordAuth {
                    auth_url: &url,
                    username: NOVA_USER,
                    password: NOVA_PASSWORD,
                    project_name: "service",
                    user_domain: "Default",
                    project_domain: "Default",
                }
                .login()
                .await
            })?
            .map_err(|e| api_error("nova login", e))?;
        *cached = Some(login.token.clone());
        Ok(login.token)
    }
}
