//! Nova's external events, as Neutron's `neutron/notifiers/nova.py` sends them.
//!
//! Nova boots a server by binding its port and then waits (300 s by default, fatally) for
//! `network-vif-plugged`; it refreshes its network cache on `network-changed` and forgets a
//! port on `network-vif-deleted`. The app layer decides which events a committed change
//! means (`app::nova_events`) and hands them to [`Notifier::queue`], which never blocks and
//! never fails a request: events wait in a bounded in-memory queue.
//!
//! One task ([`sender::run`]) drains the queue as Neutron's `BatchNotifier` does: the first
//! event after a quiet spell goes out at once, then the task sleeps `send_events_interval`
//! so the next ones travel together in one `POST /v2.1/os-server-external-events`. Unlike
//! Neutron, which gives up on a batch after one second of connection errors, a batch Nova
//! did not take (unreachable, 5xx, a refused token) goes back to the head of the queue and is
//! retried with exponential back-off; only the queue's bound (`nova.max_queued_events`) ever
//! drops events, the oldest first, counted and logged. Nova's own per-event answers are
//! final: 404 (the server is unknown, e.g. already deleted) is not an error, any other
//! refusal is logged and counted as failed.
//!
//! Nova is reached through [`sender::NovaApi`] and time through [`sender::Timer`], so the
//! batching and back-off are tested with a fake Nova and a recording timer;
//! [`client::HttpNova`] is the real one (Keystone password or token file, the compute
//! endpoint from the catalog, the token cached and renewed).

pub mod client;
pub mod queue;
pub mod sender;

use serde::{Deserialize, Serialize};

pub use queue::{Counters, Notifier};

/// The events Neutron sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventName {
    #[serde(rename = "network-vif-plugged")]
    VifPlugged,
    #[serde(rename = "network-vif-unplugged")]
    VifUnplugged,
    #[serde(rename = "network-vif-deleted")]
    VifDeleted,
    #[serde(rename = "network-changed")]
    NetworkChanged,
}

/// An event's outcome, as Neutron maps port statuses (`ACTIVE`/`DOWN` → completed,
/// `ERROR` → failed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventStatus {
    Completed,
    Failed,
}

/// One event, in the body Nova takes: the server (`device_id`) and the port (`tag`).
/// `network-changed` and `network-vif-deleted` carry no status, as Neutron's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NovaEvent {
    pub name: EventName,
    pub server_uuid: String,
    pub tag: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EventStatus>,
}

/// Neutron's `_is_compute_port`: a `compute:*` owner and a UUID-like device id.
pub fn is_compute_port(device_owner: &str, device_id: &str) -> bool {
    device_owner.starts_with("compute:") && !device_id.is_empty() && uuid::Uuid::parse_str(device_id).is_ok()
}

/// Starts the sender task when `[nova]` is configured (a no-op otherwise).
pub fn spawn(app: &std::sync::Arc<crate::app::App>) {
    let config = &app.config;
    if !config.nova.enabled() {
        return;
    }
    let api = client::HttpNova::new(config.nova.clone(), app.clock.clone());
    let interval = std::time::Duration::from_secs(config.send_events_interval);
    tracing::info!(interval_s = config.send_events_interval, "nova notifier started");
    tokio::spawn(sender::run(app.nova.clone(), api, sender::TokioTimer, interval));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_serialise_as_neutron_sends_them() {
        let e = NovaEvent {
            name: EventName::VifPlugged,
            server_uuid: "s".into(),
            tag: "p".into(),
            status: Some(EventStatus::Completed),
        };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"name": "network-vif-plugged", "server_uuid": "s", "tag": "p", "status": "completed"})
        );
        let e = NovaEvent { name: EventName::NetworkChanged, status: None, ..e };
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            serde_json::json!({"name": "network-changed", "server_uuid": "s", "tag": "p"})
        );
    }

    #[test]
    fn only_compute_ports_with_a_server_count() {
        let server = "0b6f3ae4-7c52-4c9f-8a51-3f5c4bd0c4e1";
        assert!(is_compute_port("compute:nova", server));
        assert!(is_compute_port("compute:az-2", server));
        assert!(!is_compute_port("network:dhcp", server));
        assert!(!is_compute_port("compute:nova", ""));
        assert!(!is_compute_port("compute:nova", "not-a-server"));
        assert!(!is_compute_port("", server));
    }
}
