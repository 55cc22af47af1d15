//! Port binding: which host wires a port on which segment. A host's desired state, built
//! from these bindings, is [`super::host_state`]'s.
//!
//! Binding follows ML2 with the linuxbridge mechanism driver: setting `binding:host_id`
//! binds the port when that host's L2 agent is alive and reaches one of the network's
//! segments (VXLAN when it has a tunnel endpoint, flat/VLAN when its interface mappings name
//! the physical network); the first such segment wins. A bound port gets `binding:vif_type`
//! `bridge` and stays DOWN until the agent reports it wired. Anything else is
//! `binding_failed`, with the reason in the server log, as Neutron does.
//!
//! Successful bindings are rows of `port_bindings`, indexed by host and by network.

use super::agents::{self, LiveAgent};
use super::App;
use neutrino_agent_api::AGENT_TYPE_LINUXBRIDGE;
use neutrino_model::types::{status, vif_type, Port};
use neutrino_model::ApiError;
use neutrino_store::{BindingResult, PortBinding, Tx};
use serde_json::{Map, Value};

/// What binding decided for a port; recorded with [`record`] once the port row exists.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// Nothing about the binding changed.
    Unchanged,
    /// Bound (a new host or a retry that succeeded).
    Bound(PortBinding),
    /// Not bound: no host.
    Unbound,
    /// Binding to the host failed; the reason is kept for the host's agent.
    Failed(PortBinding),
}

/// Binds, rebinds or unbinds `port` as ML2 does after a create or update: a port with a host
/// is (re)bound when the host changed or the last attempt did not bind it.
pub(crate) fn decide(tx: &mut dyn Tx, app: &App, port: &mut Port, previous_host: &str) -> Result<Outcome, ApiError> {
    if port.binding_host_id.is_empty() {
        let was_bound = !previous_host.is_empty();
        port.binding_vif_type = vif_type::UNBOUND.into();
        port.binding_vif_details = Map::new();
        if was_bound {
            port.status = status::DOWN.into();
        }
        return Ok(if was_bound { Outcome::Unbound } else { Outcome::Unchanged });
    }
    let retry = port.binding_vif_type.is_empty()
        || port.binding_vif_type == vif_type::UNBOUND
        || port.binding_vif_type == vif_type::BINDING_FAILED;
    if port.binding_host_id == previous_host && !retry {
        return Ok(Outcome::Unchanged);
    }
    port.status = status::DOWN.into();
    match choose_segment(tx, app, &port.network_id, &port.binding_host_id)? {
        Ok(segment_id) => {
            port.binding_vif_type = vif_type::BRIDGE.into();
            port.binding_vif_details = vif_details();
            tracing::info!(port = %port.id, host = %port.binding_host_id, segment = %segment_id, "port bound");
            Ok(Outcome::Bound(PortBinding {
                port_id: port.id.clone(),
                host: port.binding_host_id.clone(),
                network_id: port.network_id.clone(),
                result: BindingResult::Bound { segment_id },
            }))
        }
        Err(reason) => {
            port.binding_vif_type = vif_type::BINDING_FAILED.into();
            port.binding_vif_details = Map::new();
            tracing::warn!(port = %port.id, host = %port.binding_host_id, %reason, "binding failed");
            Ok(Outcome::Failed(PortBinding {
                port_id: port.id.clone(),
                host: port.binding_host_id.clone(),
                network_id: port.network_id.clone(),
                result: BindingResult::Failed { reason },
            }))
        }
    }
}

/// Writes the binding decision; the port row must exist. An inactive binding the port had
/// on its new host goes: a port has one binding per host, and there it is now the active one.
pub(crate) fn record(tx: &mut dyn Tx, port_id: &str, outcome: Outcome) -> Result<(), ApiError> {
    match outcome {
        Outcome::Unchanged => Ok(()),
        Outcome::Bound(b) | Outcome::Failed(b) => {
            tx.port_inactive_binding_delete(port_id, &b.host)?;
            Ok(tx.port_binding_set(&b)?)
        }
        Outcome::Unbound => Ok(tx.port_binding_clear(port_id)?),
    }
}

/// The linuxbridge driver's `binding:vif_details`.
pub(crate) fn vif_details() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("connectivity".into(), Value::String("l2".into()));
    m.insert("port_filter".into(), Value::Bool(true));
    m
}

/// The first segment of the network the host's live agent reaches, or why none. The one
/// decision for every binding, active or inactive (`binding-extended`).
pub(crate) fn choose_segment(
    tx: &mut dyn Tx,
    app: &App,
    network_id: &str,
    host: &str,
) -> Result<Result<String, String>, ApiError> {
    let agent = match agents::find_live(tx, app, AGENT_TYPE_LINUXBRIDGE, host)? {
        LiveAgent::Missing => return Ok(Err(format!("no {AGENT_TYPE_LINUXBRIDGE} registered on host {host}"))),
        LiveAgent::Dead { silent_for } => {
            return Ok(Err(format!(
                "refusing to bind to the dead {AGENT_TYPE_LINUXBRIDGE} on host {host} (silent for {silent_for} s)"
            )))
        }
        LiveAgent::Alive(config) => config,
    };
    let segments = tx.segment_list_by_network(network_id)?;
    for seg in &segments {
        if agent.reaches(&seg.network_type, seg.physical_network.as_deref()) {
            return Ok(Ok(seg.id.clone()));
        }
    }
    let kinds: Vec<String> = segments
        .iter()
        .map(|s| match &s.physical_network {
            Some(p) => format!("{}:{p}", s.network_type),
            None => s.network_type.clone(),
        })
        .collect();
    Ok(Err(format!(
        "host {host} reaches none of network {network_id}'s segments [{}] (tunnel_types {:?}, interface_mappings {:?})",
        kinds.join(", "),
        agent.tunnel_types,
        agent.interface_mappings
    )))
}
