//! Port binding and the agents' view of it: which host wires a port on which segment, each
//! host's desired state, and the port status agents report back.
//!
//! Binding follows ML2 with the linuxbridge mechanism driver: setting `binding:host_id`
//! binds the port when that host's L2 agent is alive and reaches one of the network's
//! segments (VXLAN when it has a tunnel endpoint, flat/VLAN when its interface mappings name
//! the physical network); the first such segment wins. A bound port gets `binding:vif_type`
//! `bridge` and stays DOWN until the agent reports it wired. Anything else is
//! `binding_failed`, with the reason in the server log, as Neutron does.
//!
//! Successful bindings are rows of `port_bindings`, indexed by host and by network, so a
//! host's state is assembled from its own bindings and those of the networks it spans,
//! never from a scan of every port.

use super::agents::{self, LiveAgent};
use super::{load_required, App, RequestContext};
use neutrino_model::agent_api::{
    BindingFailure, DhcpNetwork, HostState, NetworkState, PortState, PortStatusReport, RemotePort, WiredStatus,
    AGENT_TYPE_LINUXBRIDGE,
};
use neutrino_model::types::{status, vif_type, Network, Port};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{IndexFilter, PortBinding, Tx};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;

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
    match choose_segment(tx, app, port)? {
        Ok(segment_id) => {
            port.binding_vif_type = vif_type::BRIDGE.into();
            port.binding_vif_details = vif_details();
            tracing::info!(port = %port.id, host = %port.binding_host_id, segment = %segment_id, "port bound");
            Ok(Outcome::Bound(PortBinding {
                port_id: port.id.clone(),
                host: port.binding_host_id.clone(),
                network_id: port.network_id.clone(),
                segment_id,
                failure: String::new(),
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
                segment_id: String::new(),
                failure: reason,
            }))
        }
    }
}

/// Writes the binding decision; the port row must exist.
pub(crate) fn record(tx: &mut dyn Tx, port_id: &str, outcome: Outcome) -> Result<(), ApiError> {
    match outcome {
        Outcome::Unchanged => Ok(()),
        Outcome::Bound(b) | Outcome::Failed(b) => Ok(tx.port_binding_set(&b)?),
        Outcome::Unbound => Ok(tx.port_binding_clear(port_id)?),
    }
}

/// The linuxbridge driver's `binding:vif_details`.
fn vif_details() -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("connectivity".into(), Value::String("l2".into()));
    m.insert("port_filter".into(), Value::Bool(true));
    m
}

/// The first segment of the port's network the host's live agent reaches, or why none.
fn choose_segment(tx: &mut dyn Tx, app: &App, port: &Port) -> Result<Result<String, String>, ApiError> {
    let host = &port.binding_host_id;
    let agent = match agents::find_live(tx, app, AGENT_TYPE_LINUXBRIDGE, host)? {
        LiveAgent::Missing => return Ok(Err(format!("no {AGENT_TYPE_LINUXBRIDGE} registered on host {host}"))),
        LiveAgent::Dead { silent_for } => {
            return Ok(Err(format!(
                "refusing to bind to the dead {AGENT_TYPE_LINUXBRIDGE} on host {host} (silent for {silent_for} s)"
            )))
        }
        LiveAgent::Alive(config) => config,
    };
    let segments = tx.segment_list_by_network(&port.network_id)?;
    let physnet = |p: &str| (!p.is_empty()).then(|| p.to_string());
    for seg in &segments {
        if agent.reaches(&seg.network_type, physnet(&seg.physical_network).as_deref()) {
            return Ok(Ok(seg.id.clone()));
        }
    }
    let kinds: Vec<String> = segments
        .iter()
        .map(|s| match physnet(&s.physical_network) {
            Some(p) => format!("{}:{p}", s.network_type),
            None => s.network_type.clone(),
        })
        .collect();
    Ok(Err(format!(
        "host {host} reaches none of network {}'s segments [{}] (tunnel_types {:?}, interface_mappings {:?})",
        port.network_id,
        kinds.join(", "),
        agent.tunnel_types,
        agent.interface_mappings
    )))
}

/// The desired state of one host, on a read snapshot.
pub async fn host_state(app: &Arc<App>, host: String) -> Result<HostState, ApiError> {
    app.store.read(move |tx| build_host_state(tx, &host)).await
}

fn build_host_state(tx: &mut dyn Tx, host: &str) -> Result<HostState, ApiError> {
    let revision = tx.change_latest()?;
    let (bindings, failed): (Vec<PortBinding>, Vec<PortBinding>) =
        tx.port_binding_list_by_host(host)?.into_iter().partition(|b| b.failure.is_empty());
    let binding_failures: Vec<BindingFailure> =
        failed.into_iter().map(|b| BindingFailure { port_id: b.port_id, reason: b.failure }).collect();
    let ports: Vec<Port> = load_ports(tx, bindings.iter().map(|b| b.port_id.clone()).collect())?;
    let own_ip = agents::tunneling_ip(tx, host)?;
    let mut segment_of: BTreeMap<&str, &str> = BTreeMap::new();
    for b in &bindings {
        segment_of.entry(b.network_id.as_str()).or_insert(b.segment_id.as_str());
    }
    let mut networks = Vec::with_capacity(segment_of.len());
    for (network_id, segment_id) in segment_of {
        let net: Network = load_required(tx, Resource::Network, network_id)?;
        let Some(seg) = tx.segment_list_by_network(network_id)?.into_iter().find(|s| s.id == segment_id) else {
            continue;
        };
        let (remote_endpoints, remote_ports) =
            if seg.network_type == "vxlan" { remote_view(tx, host, network_id, own_ip)? } else { (vec![], vec![]) };
        networks.push(NetworkState {
            id: network_id.to_string(),
            network_type: seg.network_type.clone(),
            segmentation_id: (seg.network_type != "flat").then_some(seg.segmentation_id),
            physical_network: (!seg.physical_network.is_empty()).then(|| seg.physical_network.clone()),
            mtu: net.mtu,
            remote_endpoints,
            remote_ports,
        });
    }
    let super::firewall::HostSecurity { ports: port_security, groups: security_groups, members: group_members } =
        super::firewall::host_security(tx, host, &ports)?;
    let ports: Vec<PortState> = ports
        .into_iter()
        .map(|p| PortState {
            ip_addresses: ips_of(&p),
            id: p.id,
            network_id: p.network_id,
            mac_address: p.mac_address,
            admin_state_up: p.admin_state_up,
            device_owner: p.device_owner,
            status: p.status,
        })
        .collect();
    let dhcp = super::dhcp::host_networks(tx, host)?;
    let routers = super::l3::host_routers(tx, host)?;
    let fingerprint = fingerprint(
        &networks,
        &ports,
        &binding_failures,
        &dhcp,
        &(&routers, &port_security, &security_groups, &group_members),
    )?;
    Ok(HostState {
        host: host.to_string(),
        revision,
        fingerprint,
        networks,
        ports,
        binding_failures,
        dhcp,
        routers,
        port_security,
        security_groups,
        group_members,
    })
}

/// The other hosts a VXLAN network spans (flood list) and its ports there (l2population).
fn remote_view(
    tx: &mut dyn Tx,
    host: &str,
    network_id: &str,
    own_ip: Option<IpAddr>,
) -> Result<(Vec<IpAddr>, Vec<RemotePort>), ApiError> {
    let others: Vec<PortBinding> =
        tx.port_binding_list_by_network(network_id)?.into_iter().filter(|b| b.host != host).collect();
    let mut endpoint_of: BTreeMap<String, Option<IpAddr>> = BTreeMap::new();
    for b in &others {
        if !endpoint_of.contains_key(&b.host) {
            let ip = agents::tunneling_ip(tx, &b.host)?;
            endpoint_of.insert(b.host.clone(), ip);
        }
    }
    let endpoints: BTreeSet<IpAddr> =
        endpoint_of.values().flatten().copied().filter(|ip| Some(*ip) != own_ip).collect();
    let remote_ports = load_ports(tx, others.iter().map(|b| b.port_id.clone()).collect())?;
    let mut remote: Vec<RemotePort> = remote_ports
        .into_iter()
        .filter_map(|p| {
            let endpoint = endpoint_of.get(&p.binding_host_id).copied().flatten()?;
            (Some(endpoint) != own_ip).then(|| RemotePort {
                ip_addresses: ips_of(&p),
                mac_address: p.mac_address,
                endpoint,
            })
        })
        .collect();
    remote.sort_by(|a, b| a.mac_address.cmp(&b.mac_address));
    Ok((endpoints.into_iter().collect(), remote))
}

fn load_ports(tx: &mut dyn Tx, ids: Vec<String>) -> Result<Vec<Port>, ApiError> {
    if ids.is_empty() {
        return Ok(vec![]);
    }
    let docs = tx.doc_list(Resource::Port, &IndexFilter { ids: Some(ids), ..Default::default() })?;
    docs.iter().map(|d| super::decode(Resource::Port, "", d)).collect()
}

fn ips_of(p: &Port) -> Vec<IpAddr> {
    p.fixed_ips.iter().filter_map(|f| f.ip_address.parse().ok()).collect()
}

fn fingerprint(
    networks: &[NetworkState],
    ports: &[PortState],
    failures: &[BindingFailure],
    dhcp: &[DhcpNetwork],
    rest: &impl serde::Serialize,
) -> Result<String, ApiError> {
    let bytes = serde_json::to_vec(&(networks, ports, failures, dhcp, rest)).map_err(|_| ApiError::internal())?;
    let digest = Sha256::digest(&bytes);
    Ok(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
}

/// Applies an agent's report of the ports it wired or lost: ports still bound to that host
/// change `status` (a normal port update: revision bump, change feed); reports about ports
/// bound elsewhere or gone are stale and ignored.
pub async fn report_port_status(
    app: &Arc<App>,
    ctx: &RequestContext,
    host: String,
    report: PortStatusReport,
) -> Result<usize, ApiError> {
    agents::authorize_agent(ctx)?;
    if report.host != host {
        return Err(ApiError::invalid_input(format!("report for host {} sent to host {host}", report.host)));
    }
    let app2 = app.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            let mut changed = 0;
            // Floating IPs: only the host running the floating IP's router speaks for it.
            for (id, wired) in &report.floating_ips {
                let Some(body) = tx.doc_get(Resource::FloatingIp, id)? else { continue };
                let mut fip: neutrino_model::types::FloatingIp = super::decode(Resource::FloatingIp, id, &body)?;
                let Some(router) = fip.router_id.clone() else { continue };
                if !super::l3::host_runs_router(tx, &host, &router)? {
                    continue;
                }
                let status = match wired {
                    WiredStatus::Active if fip.port_id.is_some() => status::ACTIVE,
                    WiredStatus::Active => continue,
                    WiredStatus::Down => status::DOWN,
                };
                if fip.status != status {
                    fip.status = status.into();
                    super::save_update(tx, &mut fip, now.clone())?;
                    changed += 1;
                }
            }
            for (id, wired) in &report.ports {
                let Some(body) = tx.doc_get(Resource::Port, id)? else { continue };
                let mut port: Port = super::decode(Resource::Port, id, &body)?;
                let bound_here = port.binding_host_id == host && port.binding_vif_type == vif_type::BRIDGE;
                let status = match wired {
                    WiredStatus::Active if bound_here => status::ACTIVE,
                    WiredStatus::Active => continue,
                    WiredStatus::Down => status::DOWN,
                };
                if port.status != status && (bound_here || port.binding_host_id == host) {
                    port.status = status.into();
                    super::save_update(tx, &mut port, now.clone())?;
                    changed += 1;
                }
            }
            Ok(changed)
        })
        .await
}
