//! Which committed changes Nova hears about (`crate::nova` sends them).
//!
//! As Neutron's notifier, only ports of a server count (`compute:*` owner, a UUID-like
//! `device_id`), and the port as it is after the change decides:
//! * a status change (Neutron's `record_port_status_changed`): none/DOWN/BUILD → ACTIVE is
//!   `network-vif-plugged` `completed` (→ ERROR would be `failed`), ACTIVE → DOWN
//!   `network-vif-unplugged`; a binding attempt that fails is `network-vif-plugged` `failed`
//!   (our failed binding leaves the port DOWN, where ML2 would not tell Nova at all, and Nova
//!   would wait for the event until `vif_plugging_timeout`);
//! * `network-changed` when a port's fixed IPs change or a floating IP is associated with
//!   it or dissociated from it (Neutron sends it for every API update of a compute port and
//!   of a floating IP; we send it only when what Nova's network cache holds changed);
//! * `network-vif-deleted` when the port is deleted.
//!
//! Writes that may cause events run through [`write`]: the closure collects events while
//! it changes the store, and they are queued only once the transaction has committed, on a
//! task of their own, so a client that hangs up mid-request cannot lose them.

use super::App;
use crate::nova::{is_compute_port, EventName, EventStatus, NovaEvent};
use neutrino_model::types::{status, FixedIp, Port};
use neutrino_model::{ApiError, Resource};
use neutrino_store::Tx;
use std::sync::Arc;

/// Events a write collects.
pub type Events = Vec<NovaEvent>;

/// Runs `f` in one write transaction and queues the events it collected once the
/// transaction has committed. A failed write queues nothing.
pub(crate) async fn write<T: Send + 'static>(
    app: &Arc<App>,
    f: impl FnOnce(&mut dyn Tx, &mut Events) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let run = |app: Arc<App>| async move {
        let (value, events) = app
            .store
            .write(move |tx| {
                let mut events = Events::new();
                let value = f(tx, &mut events)?;
                Ok::<_, ApiError>((value, events))
            })
            .await?;
        app.nova.queue(events);
        Ok(value)
    };
    if !app.nova.enabled() {
        return run(app.clone()).await;
    }
    // Its own task: the request's future may be dropped (client gone, timeout) after the
    // commit; the events must still be queued.
    tokio::spawn(run(app.clone())).await.map_err(|e| {
        tracing::error!(error = %e, "write task failed");
        ApiError::internal()
    })?
}

fn event(port: &Port, name: EventName, status: Option<EventStatus>) -> NovaEvent {
    NovaEvent { name, server_uuid: port.device_id.clone(), tag: port.id.clone(), status }
}

fn is_compute(port: &Port) -> bool {
    is_compute_port(&port.device_owner, &port.device_id)
}

/// The port's status went from `before` (`None`: a new port) to its current one.
pub(crate) fn status_changed(app: &App, before: Option<&str>, port: &Port, events: &mut Events) {
    if !app.config.notify_nova_on_port_status_changes || !is_compute(port) || before == Some(port.status.as_str()) {
        return;
    }
    let from_inactive = matches!(before, None | Some(status::DOWN) | Some(status::BUILD));
    let e = match (before, port.status.as_str()) {
        (Some(status::ACTIVE), status::DOWN) => event(port, EventName::VifUnplugged, Some(EventStatus::Completed)),
        (_, status::ACTIVE) if from_inactive => event(port, EventName::VifPlugged, Some(EventStatus::Completed)),
        (_, "ERROR") if from_inactive => event(port, EventName::VifPlugged, Some(EventStatus::Failed)),
        _ => return,
    };
    events.push(e);
}

/// The port was wired on a host where its binding is still INACTIVE (a live migration's
/// target): its status belongs to its active host and does not change, but Nova, which
/// waits for the VIF on the target before it moves the instance, hears
/// `network-vif-plugged` now (ML2's `notify_port_active_direct`).
pub(crate) fn port_active_direct(app: &App, port: &Port, events: &mut Events) {
    if app.config.notify_nova_on_port_status_changes && is_compute(port) {
        events.push(event(port, EventName::VifPlugged, Some(EventStatus::Completed)));
    }
}

/// A binding attempt for the port failed: its VIF will never be plugged.
pub(crate) fn binding_failed(app: &App, port: &Port, events: &mut Events) {
    if app.config.notify_nova_on_port_status_changes && is_compute(port) {
        events.push(event(port, EventName::VifPlugged, Some(EventStatus::Failed)));
    }
}

/// The port's addresses changed, or a floating IP came or went.
pub(crate) fn network_changed(app: &App, port: &Port, events: &mut Events) {
    if app.config.notify_nova_on_port_data_changes && is_compute(port) {
        events.push(event(port, EventName::NetworkChanged, None));
    }
}

/// Whether two lists of fixed IPs hold different addresses (order aside).
pub(crate) fn addresses_differ(before: &[FixedIp], after: &[FixedIp]) -> bool {
    let key = |list: &[FixedIp]| {
        let mut v: Vec<(String, String)> = list.iter().map(|f| (f.subnet_id.clone(), f.ip_address.clone())).collect();
        v.sort();
        v
    };
    key(before) != key(after)
}

/// The port is gone.
pub(crate) fn port_deleted(app: &App, port: &Port, events: &mut Events) {
    if app.config.notify_nova_on_port_data_changes && is_compute(port) {
        events.push(event(port, EventName::VifDeleted, None));
    }
}

/// A floating IP's association moved from `before` to `after` (port ids): each port that
/// gained or lost it gets `network-changed` (Neutron's reassociation sends both).
pub(crate) fn floating_ip_moved(
    tx: &mut dyn Tx,
    app: &App,
    before: Option<&str>,
    after: Option<&str>,
    events: &mut Events,
) -> Result<(), ApiError> {
    if before == after || !app.nova.enabled() {
        return Ok(());
    }
    for id in [before, after].into_iter().flatten() {
        if let Some(port) = super::load::<Port>(tx, Resource::Port, id)? {
            network_changed(app, &port, events);
        }
    }
    Ok(())
}
