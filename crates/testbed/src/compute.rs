//! A stand-in for Nova's compute API where the server's Nova notifier meets it:
//! `POST /v2.1/os-server-external-events`.
//!
//! It runs on the controller (`<controller>:8774`) and does what nova-api does with such a
//! request before acting on it: the caller's `X-Auth-Token` must be valid in Keystone and
//! carry the `admin` or `service` role (Nova's policy for external events), else 401. Every
//! event it takes is recorded with the instant its request arrived, so a test can measure how
//! long after a tap was wired Nova heard of it. It can go down (connections refused, as a
//! stopped nova-api) and come back on the same address.

use crate::error::{Result, TestbedError};
use crate::testbed::Testbed;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The compute API's port on the controller (nova-api's).
pub const COMPUTE_PORT: u16 = 8774;

/// One event Nova took, and when its request arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct Arrived {
    pub at: Instant,
    /// As sent: `name`, `server_uuid`, `tag` (the port), `status` when there is one.
    pub event: Value,
}

impl Arrived {
    /// `(name, status)`, `-` for an event without a status.
    pub fn name_status(&self) -> (String, String) {
        let s = |k: &str| self.event.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        (s("name"), s("status"))
    }
}

#[derive(Debug, Default)]
struct Seen {
    events: Vec<Arrived>,
    /// Requests refused for their token.
    refused: usize,
}

#[derive(Clone)]
struct Api {
    keystone: String,
    seen: Arc<Mutex<Seen>>,
    http: reqwest::Client,
}

/// The running server: a thread inside the controller namespace.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    thread: JoinHandle<()>,
}

/// See the module documentation.
pub struct StandInNova {
    addr: SocketAddr,
    netns: String,
    api: Api,
    running: Option<Running>,
}

fn lock(seen: &Mutex<Seen>) -> MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|p| p.into_inner())
}

impl StandInNova {
    /// Starts it on `<controller>:8774`, checking tokens with the Keystone at `keystone`
    /// (e.g. the server's URL, known before the server starts).
    pub fn start(tb: &Testbed, keystone: &str) -> Result<StandInNova> {
        let api = Api { keystone: keystone.to_string(), seen: Arc::default(), http: keystone_client() };
        let addr = SocketAddr::from((tb.controller_ip(), COMPUTE_PORT));
        let mut nova = StandInNova { addr, netns: tb.controller().netns().to_string(), api, running: None };
        nova.up()?;
        Ok(nova)
    }

    /// The compute endpoint, as a catalog lists it.
    pub fn url(&self) -> String {
        format!("http://{}/v2.1", self.addr)
    }

    /// Starts listening again (after [`StandInNova::down`]); a no-op while up.
    pub fn up(&mut self) -> Result<()> {
        if self.running.is_some() {
            return Ok(());
        }
        let addr = self.addr;
        let listener = crate::ns::in_netns(&self.netns, move || std::net::TcpListener::bind(addr))?
            .and_then(|l| l.set_nonblocking(true).map(|_| l))
            .map_err(|e| TestbedError::io(format!("binding the stand-in Nova to {addr}"), e))?;
        let app = axum::Router::new()
            .route("/v2.1/os-server-external-events", axum::routing::post(external_events))
            .with_state(self.api.clone());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        // The thread lives in the controller namespace, so the token checks reach Keystone.
        let thread = crate::ns::thread_in(&self.netns, "stand-in-nova", move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else { return };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async move {
                        let _ = stopped.await;
                    })
                    .await;
            });
        })?;
        self.running = Some(Running { stop, thread });
        Ok(())
    }

    /// Stops listening: connections are refused until [`StandInNova::up`].
    pub fn down(&mut self) {
        if let Some(r) = self.running.take() {
            let _ = r.stop.send(());
            let _ = r.thread.join();
        }
    }

    /// Every event taken so far, in order of arrival.
    pub fn events(&self) -> Vec<Arrived> {
        lock(&self.api.seen).events.clone()
    }

    /// The events about one port (their `tag`).
    pub fn events_for(&self, port_id: &str) -> Vec<Arrived> {
        self.events().into_iter().filter(|a| a.event.get("tag").and_then(Value::as_str) == Some(port_id)).collect()
    }

    /// Requests refused for their token.
    pub fn refused(&self) -> usize {
        lock(&self.api.seen).refused
    }

    /// Waits up to `timeout` until `done` holds for the events of `port_id`; returns them.
    pub fn wait_for(
        &self,
        port_id: &str,
        timeout: Duration,
        done: impl Fn(&[Arrived]) -> bool,
    ) -> Result<Vec<Arrived>> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.events_for(port_id);
            if done(&got) {
                return Ok(got);
            }
            if Instant::now() > deadline {
                let seen: Vec<Value> = got.into_iter().map(|a| a.event).collect();
                let what = format!("Nova events for port {port_id} (so far {seen:?})");
                return Err(TestbedError::Timeout { what, after: timeout });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for StandInNova {
    fn drop(&mut self) {
        self.down();
    }
}

/// A client whose token checks cannot hang a stopping stand-in.
fn keystone_client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap_or_default()
}

/// Whether Keystone vouches for the token with a role Nova accepts for external events.
async fn authorised(api: &Api, headers: &HeaderMap) -> bool {
    let Some(token) = headers.get("x-auth-token").and_then(|v| v.to_str().ok()) else { return false };
    let url = format!("{}/v3/auth/tokens", api.keystone.trim_end_matches('/'));
    let Ok(res) = api.http.get(url).header("X-Auth-Token", token).header("X-Subject-Token", token).send().await else {
        return false;
    };
    if res.status() != reqwest::StatusCode::OK {
        return false;
    }
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let roles = body["token"]["roles"].as_array().cloned().unwrap_or_default();
    roles.iter().any(|r| r["name"] == "admin" || r["name"] == "service")
}

/// Nova's answer: each event back with `code` 200 (and `status`, `completed` by default).
async fn external_events(State(api): State<Api>, headers: HeaderMap, body: Bytes) -> Response {
    let at = Instant::now();
    // No keep-alive: a stopped stand-in holds no idle connection open.
    let close = [("connection", "close")];
    if !authorised(&api, &headers).await {
        lock(&api.seen).refused += 1;
        let body = json!({"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}});
        return (StatusCode::UNAUTHORIZED, close, axum::Json(body)).into_response();
    }
    let events = serde_json::from_slice::<Value>(&body).ok().and_then(|b| b["events"].as_array().cloned());
    let Some(events) = events.filter(|e| !e.is_empty()) else {
        let body = json!({"badRequest": {"code": 400, "message": "Invalid input for field/attribute events."}});
        return (StatusCode::BAD_REQUEST, close, axum::Json(body)).into_response();
    };
    let mut seen = lock(&api.seen);
    let mut answers = Vec::new();
    for event in events {
        let mut answer = event.clone();
        answer["code"] = json!(200);
        answer["status"] = event.get("status").cloned().unwrap_or(json!("completed"));
        answers.push(answer);
        seen.events.push(Arrived { at, event });
    }
    (StatusCode::OK, close, axum::Json(json!({ "events": answers }))).into_response()
}
