//! An in-process server on a temporary store, and a small JSON client for it.

#![allow(dead_code)]

use neutrino_server::config::Config;
use neutrino_store::postgres::testing::TestCluster;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::oneshot;

/// A running server; stops when dropped. The store directory is removed afterwards unless
/// the test panicked (kept for a post-mortem, path printed).
///
/// With `NEUTRINO_TEST_STORE=postgres` every server keeps its store in PostgreSQL instead
/// of SQLite (the whole suite then runs on PostgreSQL), unless the test names a
/// `database_url` itself: a database of its own, named after its data dir (so a server
/// restarted on the same dir finds its data again), in the process's shared throwaway
/// cluster. The database is dropped with the server when the server made its data dir.
pub struct TestServer {
    pub url: String,
    pub app: Option<std::sync::Arc<neutrino_server::app::App>>,
    pub http: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    /// The PostgreSQL database to drop with the server (`NEUTRINO_TEST_STORE`).
    database: Option<String>,
    dir: Option<tempfile::TempDir>,
}

/// The env var that runs the API suite on PostgreSQL.
pub const STORE_ENV: &str = "NEUTRINO_TEST_STORE";

impl TestServer {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Self {
        Self::start_with_url(|c, _| tweak(c)).await
    }

    /// A server whose config may name its own URL (`tweak` gets it).
    pub async fn start_with_url(tweak: impl FnOnce(&mut Config, &str)) -> Self {
        init_logs();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            noauth: true,
            store_durability: "normal".into(),
            ..Config::default()
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tweak(&mut config, &url);
        let mut database = None;
        if std::env::var(STORE_ENV).as_deref() == Ok("postgres") && config.database_url.is_empty() {
            let name = database_name(&config.data_dir);
            let cluster = TestCluster::shared().expect("a PostgreSQL cluster (NEUTRINO_TEST_STORE)");
            config.database_url = cluster.create_database(&name).expect("a test database");
            database = (config.data_dir == dir.path()).then_some(name);
        }
        config.identity.public_url = url.clone();
        let noauth = config.noauth || !config.identity.external_keystone_url.is_empty();
        let app = neutrino_server::build(config).await.expect("build server");
        if !noauth {
            neutrino_server::ensure_bootstrapped(&app, Some(ADMIN_PASSWORD.into())).await.expect("bootstrap");
        }
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(neutrino_server::serve(app.clone(), listener, async move {
            let _ = stopped.await;
        }));
        Self { url, app: Some(app), http: reqwest::Client::new(), stop: Some(stop), dir: Some(dir), database }
    }

    /// A server with authentication on and the admin bootstrapped with [`ADMIN_PASSWORD`].
    pub async fn start_auth() -> Self {
        Self::start_with(|c| c.noauth = false).await
    }

    /// Password-authenticates and returns (token, token body).
    pub async fn login(&self, user: &str, password: &str, project: &str) -> (StatusCode, Option<String>, Value) {
        let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"name": "Default"}}}},
            "scope": {"project": {"name": project, "domain": {"name": "Default"}}}}});
        let res = self.http.post(format!("{}/v3/auth/tokens", self.url)).json(&body).send().await.expect("request");
        let status = res.status();
        let token = res.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        let json = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, token, json)
    }

    /// Posts a raw `POST /v3/auth/tokens` body; returns (status, X-Subject-Token, body).
    pub async fn auth(&self, body: Value) -> (StatusCode, Option<String>, Value) {
        let res = self.http.post(format!("{}/v3/auth/tokens", self.url)).json(&body).send().await.expect("request");
        let status = res.status();
        let token = res.headers().get("x-subject-token").and_then(|v| v.to_str().ok()).map(str::to_string);
        (status, token, res.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// An unscoped password token of a Default-domain user.
    pub async fn unscoped(&self, user: &str, password: &str) -> String {
        let body = serde_json::json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password, "domain": {"id": "default"}}}}}});
        let (st, token, b) = self.auth(body).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        assert!(b["token"].get("project").is_none() && b["token"].get("catalog").is_none(), "{b}");
        token.expect("token")
    }

    /// The admin's token.
    pub async fn admin_token(&self) -> String {
        let (st, token, body) = self.login("admin", ADMIN_PASSWORD, "admin").await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        token.expect("X-Subject-Token")
    }

    /// Creates a project and a user with `role` on it (as admin); returns the user's token.
    pub async fn member(&self, admin: &str, project: &str, user: &str, role: &str) -> (String, String) {
        let h = [("X-Auth-Token", admin)];
        let (st, p) = self
            .call_with(
                Method::POST,
                "/v3/projects",
                Some(serde_json::json!({"project": {"name": project, "domain_id": "default"}})),
                &h,
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{p}");
        let pid = p["project"]["id"].as_str().expect("project id").to_string();
        let (st, u) = self.call_with(Method::POST, "/v3/users", Some(serde_json::json!({"user": {"name": user, "password": "pw-".to_string() + user, "domain_id": "default"}})), &h).await;
        assert_eq!(st, StatusCode::CREATED, "{u}");
        let uid = u["user"]["id"].as_str().expect("user id").to_string();
        let (_, roles) = self.call_with(Method::GET, &format!("/v3/roles?name={role}"), None, &h).await;
        let rid = roles["roles"][0]["id"].as_str().expect("role id").to_string();
        let (st, _) =
            self.call_with(Method::PUT, &format!("/v3/projects/{pid}/users/{uid}/roles/{rid}"), None, &h).await;
        assert_eq!(st, StatusCode::NO_CONTENT);
        let (st, token, body) = self.login(user, &format!("pw-{user}"), project).await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        (token.expect("token"), pid)
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        self.call_with(method, path, body, &[]).await
    }

    pub async fn call_with(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        if !status.is_success() && status != StatusCode::UNAUTHORIZED {
            let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            assert_eq!(ct, "application/json", "error responses must be JSON");
        }
        let text = res.text().await.expect("body");
        let json =
            if text.is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
        (status, json)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(Method::DELETE, path, None).await
    }

    /// Creates a network and returns its id.
    pub async fn network(&self, name: &str) -> String {
        let (s, b) = self.post("/v2.0/networks", serde_json::json!({"network": {"name": name}})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["network"]["id"].as_str().expect("id").to_string()
    }

    /// Creates a subnet and returns its id.
    pub async fn subnet(&self, network_id: &str, cidr: &str, extra: Value) -> String {
        let mut body = serde_json::json!({"network_id": network_id, "cidr": cidr, "ip_version": if cidr.contains(':') { 6 } else { 4 }});
        if let (Some(obj), Value::Object(more)) = (body.as_object_mut(), extra) {
            obj.extend(more);
        }
        let (s, b) = self.post("/v2.0/subnets", serde_json::json!({"subnet": body})).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
        b["subnet"]["id"].as_str().expect("id").to_string()
    }
}

/// The bootstrap password of test servers with authentication.
pub const ADMIN_PASSWORD: &str = "admin-secret";

/// Asserts a Neutron error: status and type.
pub fn assert_error(got: &(StatusCode, Value), status: u16, kind: &str) {
    assert_eq!(got.0.as_u16(), status, "body: {}", got.1);
    assert_eq!(got.1["NeutronError"]["type"], kind, "body: {}", got.1);
    assert!(got.1["NeutronError"]["message"].as_str().is_some_and(|m| !m.is_empty()));
    assert_eq!(got.1["NeutronError"]["detail"], "");
}

/// Asserts a Neutron error: status, type and message.
pub fn assert_error_message(got: &(StatusCode, Value), status: u16, kind: &str, message: &str) {
    assert_error(got, status, kind);
    assert_eq!(got.1["NeutronError"]["message"], message, "body: {}", got.1);
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                eprintln!("test store kept at {}", dir.keep().display());
            }
            if let Some(name) = &self.database {
                eprintln!("test database {name} kept until the tests end");
            }
        } else if let Some(name) = self.database.take() {
            let dropped = TestCluster::shared()
                .map_err(|e| e.to_string())
                .and_then(|c| c.drop_database(&name).map_err(|e| e.to_string()));
            if let Err(e) = dropped {
                eprintln!("cannot drop test database {name}: {e}");
            }
        }
    }
}

/// The PostgreSQL database of a server whose data dir is `dir`: one name per dir.
fn database_name(dir: &std::path::Path) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut hasher);
    format!("test_{:016x}", hasher.finish())
}

/// Logs to the test's output (shown on failure).
pub fn init_logs() {
    let _ = tracing_subscriber::fmt().with_test_writer().with_env_filter("neutrino=debug,warn").try_init();
}

/// A Linux bridge agent's report: a VXLAN endpoint at `ip`, `physnet1` on `eth1`.
pub fn l2_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Linux bridge agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip, "l2_population": true,
                              "interface_mappings": {"physnet1": "eth1"}, "devices": 0}})
}

/// A DHCP agent's report.
pub fn dhcp_report(host: &str) -> Value {
    json!({"host": host, "agent_type": "DHCP agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"dhcp_driver": "dnsmasq", "dhcp_lease_duration": 86400, "networks": 0,
                              "subnets": 0, "ports": 0, "notifies_port_ready": true}})
}

/// A legacy L3 agent's report.
pub fn l3_report(host: &str) -> Value {
    json!({"host": host, "agent_type": "L3 agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"agent_mode": "legacy", "routers": 0}})
}
