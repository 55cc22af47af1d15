//! Port binding: which host wires a port on which segment. A host's desired state, built
//! from these bindings, is [`super::host_state`]'s.
//!
//! Binding follows ML2 with the linuxbridge and openvswitch mechanism drivers: setting
//! `binding:host_id` binds the port when that host's L2 agent (either kind: the host's agent
//! type is its mechanism) is alive and reaches one of the network's segments (VXLAN when it
//! has a tunnel endpoint, flat/VLAN when its mappings name the physical network); the first
//! such segment wins. A bound port gets the mechanism's `binding:vif_type` (`bridge` or
//! `ovs`) and `binding:vif_details`, and stays DOWN until the agent reports it wired. Anything else is
//! `binding_failed`, with the reason in the server log, as Neutron does.
//!
//! Successful bindings are rows of `port_bindings`, indexed by host and by network.

use super::agents::{self, LiveAgent};
use super::App;
use neutrino_agent_api::{L2Configurations, Mechanism, AGENT_TYPE_LINUXBRIDGE, AGENT_TYPE_OVS};
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
        Ok(Chosen { segment_id, vif_type, vif_details }) => {
            port.binding_vif_type = vif_type.into();
            port.binding_vif_details = vif_details;
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

/// Where a port binds on a host: the segment, and the mechanism's `binding:vif_type` and
/// `binding:vif_details`.
#[derive(Debug)]
pub(crate) struct Chosen {
    pub segment_id: String,
    pub vif_type: &'static str,
    pub vif_details: Map<String, Value>,
}

/// The mechanism driver's `binding:vif_details`, as Neutron's drivers write them for the
/// agent's configurations (security groups always on: the agents filter every port).
pub(crate) fn vif_details(mechanism: Mechanism, config: &L2Configurations) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("connectivity".into(), Value::String("l2".into()));
    m.insert("port_filter".into(), Value::Bool(true));
    if mechanism == Mechanism::OpenVswitch {
        m.insert("ovs_hybrid_plug".into(), config.ovs_hybrid_plug.map_or(Value::Null, Value::Bool));
        let datapath = config.datapath_type.clone().unwrap_or_else(|| "system".into());
        m.insert("datapath_type".into(), Value::String(datapath));
        if let Some(bridge) = &config.integration_bridge {
            m.insert("bridge_name".into(), Value::String(bridge.clone()));
        }
    }
    m
}

/// The first segment of the network the host's live L2 agent reaches (with its mechanism's
/// vif type and details), or why none. The one decision for every binding, active or
/// inactive (`binding-extended`).
pub(crate) fn choose_segment(
    tx: &mut dyn Tx,
    app: &App,
    network_id: &str,
    host: &str,
) -> Result<Result<Chosen, String>, ApiError> {
    let agent = match agents::find_live(tx, app, host)? {
        LiveAgent::Missing => {
            return Ok(Err(format!("no {AGENT_TYPE_LINUXBRIDGE} or {AGENT_TYPE_OVS} registered on host {host}")))
        }
        LiveAgent::Dead { mechanism, silent_for } => {
            return Ok(Err(format!(
                "refusing to bind to the dead {} on host {host} (silent for {silent_for} s)",
                mechanism.agent_type()
            )))
        }
        LiveAgent::Alive(agent) => agent,
    };
    let segments = tx.segment_list_by_network(network_id)?;
    for seg in &segments {
        if agent.reaches(&seg.network_type, seg.physical_network.as_deref()) {
            return Ok(Ok(Chosen {
                segment_id: seg.id.clone(),
                vif_type: agent.mechanism.vif_type(),
                vif_details: vif_details(agent.mechanism, &agent.config),
            }));
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
        "host {host} reaches none of network {network_id}'s segments [{}] (tunnel_types {:?}, interface_mappings {:?}, bridge_mappings {:?})",
        kinds.join(", "),
        agent.config.tunnel_types,
        agent.config.interface_mappings,
        agent.config.bridge_mappings
    )))
}
