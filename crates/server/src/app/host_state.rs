//! The desired state of a host, as its agents fetch it, and the port status they report
//! back. It is the top floor of the application layer: it reads every resource module's
//! part of a host (L2 networks and ports from the bindings, DHCP, routers, filtering) and
//! nothing below imports it.
//!
//! Successful bindings are rows of `port_bindings`, indexed by host and by network, so a
//! host's state is assembled from its own bindings and those of the networks it spans,
//! never from a scan of every port.
//!
//! A port moving here (`binding-extended`) has an INACTIVE binding on this host: the host
//! wires it like its own ports (bridge, filtering), marked [`BindingStatus::Inactive`] with
//! this host's wired status, while every host, this one included, still finds the port
//! behind its active host (the remote view reads active bindings only). The binding an
//! activation leaves on the old host is not in that host's state: it stops forwarding.

use super::host_deps::{Deps, Key};
use super::net_views::{NetView, NetViews, ViewBinding, ViewPort};
use super::{agents, dhcp, firewall, l3, load_required, App, RequestContext};
use neutrino_agent_api::{
    BindingFailure, BindingStatus, DhcpNetwork, HostState, NetworkState, PortState, PortStatusReport, RemotePort,
    WiredStatus,
};
use neutrino_model::types::{status, vif_type, Network, Port};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{BindingResult, ChangeOp, InactiveRole, IndexFilter, Tx};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

/// The desired state of one host, on a read snapshot, with what it was built from.
pub async fn host_state(app: &Arc<App>, host: String) -> Result<(HostState, Deps), ApiError> {
    app.host_state_builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // The shared network views serve a snapshot at exactly the sequence the index has
    // swept them to: catch the index up first, so this build's snapshot is mostly there.
    app.change_index.catch_up(app).await?;
    let views = app.clone();
    app.store
        .read(move |tx| {
            let mut deps = Deps::of_host(&host);
            let state = build_host_state(tx, &views.net_views, &host, &mut deps)?;
            Ok((state, deps))
        })
        .await
}

/// The ports this host wires: (port, network, segment) of those bound here, the failed
/// ones with their reason, and the ports wired here ahead of a move (with whether the
/// agent reported them wired).
type LocalBindings = (Vec<(String, String, String)>, Vec<BindingFailure>, BTreeMap<String, bool>);

fn local_bindings(tx: &mut dyn Tx, host: &str, deps: &mut Deps) -> Result<LocalBindings, ApiError> {
    let mut bound: Vec<(String, String, String)> = Vec::new();
    let mut binding_failures: Vec<BindingFailure> = Vec::new();
    for b in tx.port_binding_list_by_host(host)? {
        deps.add(Key::port(&b.port_id));
        deps.add(Key::network(&b.network_id));
        match b.result {
            BindingResult::Bound { segment_id } => bound.push((b.port_id, b.network_id, segment_id)),
            BindingResult::Failed { reason } => binding_failures.push(BindingFailure { port_id: b.port_id, reason }),
        }
    }
    let mut inactive = BTreeMap::new();
    for b in tx.port_inactive_binding_list_by_host(host)? {
        deps.add(Key::port(&b.port_id));
        deps.add(Key::network(&b.network_id));
        if let (InactiveRole::Target, Some(segment_id)) = (b.role, b.segment_id) {
            inactive.insert(b.port_id.clone(), b.wired);
            bound.push((b.port_id, b.network_id, segment_id));
        }
    }
    Ok((bound, binding_failures, inactive))
}

/// Builds the state, recording in `deps` everything it reads ([`super::host_deps`]).
fn build_host_state(tx: &mut dyn Tx, views: &NetViews, host: &str, deps: &mut Deps) -> Result<HostState, ApiError> {
    let revision = tx.change_latest()?;
    let (bound, binding_failures, inactive) = local_bindings(tx, host, deps)?;
    let ports: Vec<Port> = load_ports(tx, bound.iter().map(|(port_id, _, _)| port_id.clone()).collect())?;
    let own_ip = agents::tunneling_ip(tx, host)?;
    let mut segment_of: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, network_id, segment_id) in &bound {
        segment_of.entry(network_id.as_str()).or_insert(segment_id.as_str());
    }
    let mut networks = Vec::with_capacity(segment_of.len());
    for (network_id, segment_id) in segment_of {
        let view = views.view(network_id, revision, || read_view(tx, network_id))?;
        let Some(seg) = view.segments.iter().find(|s| s.id == segment_id) else {
            continue;
        };
        let (remote_endpoints, remote_ports) =
            if seg.network_type == "vxlan" { remote_view(&view, host, own_ip, deps) } else { (vec![], vec![]) };
        networks.push(NetworkState {
            id: network_id.to_string(),
            network_type: seg.network_type.clone(),
            segmentation_id: seg.segmentation_id,
            physical_network: seg.physical_network.clone(),
            mtu: view.mtu,
            remote_endpoints,
            remote_ports,
        });
    }
    let firewall::HostSecurity {
        ports: port_security,
        groups: security_groups,
        members: group_members,
        address_groups,
    } = firewall::host_security(tx, host, &ports, deps)?;
    let ports: Vec<PortState> = ports
        .into_iter()
        .map(|p| {
            let ip_addresses = ips_of(&p);
            let (binding, status) = match inactive.get(&p.id) {
                Some(wired) => {
                    (BindingStatus::Inactive, if *wired { status::ACTIVE } else { status::DOWN }.to_string())
                }
                None => (BindingStatus::Active, p.status),
            };
            PortState {
                ip_addresses,
                id: p.id,
                network_id: p.network_id,
                mac_address: p.mac_address,
                admin_state_up: p.admin_state_up,
                device_owner: p.device_owner,
                status,
                binding,
            }
        })
        .collect();
    let dhcp = dhcp::host_networks(tx, host, deps)?;
    let routers = l3::host_routers(tx, host, deps)?;
    let fingerprint = fingerprint(
        &networks,
        &ports,
        &binding_failures,
        &dhcp,
        &(&routers, &port_security, &security_groups, &group_members, &address_groups),
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
        address_groups,
    })
}

/// What every host spanning `network_id` reads of it ([`NetView`]).
fn read_view(tx: &mut dyn Tx, network_id: &str) -> Result<NetView, ApiError> {
    let net: Network = load_required(tx, Resource::Network, network_id)?;
    let segments = tx.segment_list_by_network(network_id)?;
    let bindings = tx.port_binding_list_by_network(network_id)?;
    let mut endpoints = HashMap::new();
    for b in &bindings {
        if !endpoints.contains_key(&b.host) {
            let ip = agents::tunneling_ip(tx, &b.host)?;
            endpoints.insert(b.host.clone(), ip);
        }
    }
    let mut ports: HashMap<String, Port> = load_ports(tx, bindings.iter().map(|b| b.port_id.clone()).collect())?
        .into_iter()
        .map(|p| (p.id.clone(), p))
        .collect();
    let bindings = bindings
        .into_iter()
        .map(|b| ViewBinding {
            port: ports.remove(&b.port_id).map(|p| ViewPort {
                ip_addresses: ips_of(&p),
                binding_host_id: p.binding_host_id,
                mac_address: p.mac_address,
            }),
            port_id: b.port_id,
            host: b.host,
        })
        .collect();
    Ok(NetView { mtu: net.mtu, segments, bindings, endpoints })
}

/// The other hosts a VXLAN network spans (flood list) and its ports there (l2population).
fn remote_view(view: &NetView, host: &str, own_ip: Option<IpAddr>, deps: &mut Deps) -> (Vec<IpAddr>, Vec<RemotePort>) {
    let others: Vec<&ViewBinding> = view.bindings.iter().filter(|b| b.host != host).collect();
    let mut other_hosts: BTreeSet<&str> = BTreeSet::new();
    for b in &others {
        deps.add(Key::port(&b.port_id));
        deps.add(Key::host(&b.host));
        other_hosts.insert(&b.host);
    }
    let endpoint_of = |h: &str| if other_hosts.contains(h) { view.endpoints.get(h).copied().flatten() } else { None };
    let endpoints: BTreeSet<IpAddr> =
        other_hosts.iter().filter_map(|h| endpoint_of(h)).filter(|ip| Some(*ip) != own_ip).collect();
    let mut remote: Vec<RemotePort> = others
        .iter()
        .filter_map(|b| {
            let p = b.port.as_ref()?;
            let endpoint = endpoint_of(&p.binding_host_id)?;
            (Some(endpoint) != own_ip).then(|| RemotePort {
                ip_addresses: p.ip_addresses.clone(),
                mac_address: p.mac_address.clone(),
                endpoint,
            })
        })
        .collect();
    remote.sort_by(|a, b| a.mac_address.cmp(&b.mac_address));
    (endpoints.into_iter().collect(), remote)
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
/// change `status` (a normal port update: revision bump, change feed); a port wired ahead of
/// a move there records it on its inactive binding ([`report_inactive`]); reports about
/// ports bound elsewhere or gone are stale and ignored.
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
    super::nova_events::write(app, move |tx, events| {
        let now = app2.clock.now();
        let mut changed = 0;
        // Floating IPs: only the host running the floating IP's router speaks for it.
        for (id, wired) in &report.floating_ips {
            let Some(body) = tx.doc_get(Resource::FloatingIp, id)? else { continue };
            let mut fip: neutrino_model::types::FloatingIp = super::decode(Resource::FloatingIp, id, &body)?;
            let Some(router) = fip.router_id.clone() else { continue };
            if !l3::host_runs_router(tx, &host, &router)? {
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
            if port.binding_host_id != host {
                changed += usize::from(report_inactive(tx, &app2, &host, &port, *wired, events)?);
                continue;
            }
            // Bound by a mechanism (`bridge` or `ovs`), not a failed or pending binding.
            let bound_vif =
                !matches!(port.binding_vif_type.as_str(), "" | vif_type::UNBOUND | vif_type::BINDING_FAILED);
            let bound_here = port.binding_host_id == host && bound_vif;
            let status = match wired {
                WiredStatus::Active if bound_here => status::ACTIVE,
                WiredStatus::Active => continue,
                WiredStatus::Down => status::DOWN,
            };
            if port.status != status && (bound_here || port.binding_host_id == host) {
                let before = std::mem::replace(&mut port.status, status.into());
                super::save_update(tx, &mut port, now.clone())?;
                super::nova_events::status_changed(&app2, Some(&before), &port, events);
                changed += 1;
            }
        }
        Ok(changed)
    })
    .await
}

/// A report about a port whose binding on `host` is INACTIVE: the port's `status` belongs
/// to its active host, so only the binding records whether this host has it wired (a change
/// without a revision, so the host's next state shows it). Wired here, Nova hears
/// `network-vif-plugged` at once, as from ML2's `notify_port_active_direct`. Returns whether
/// anything changed.
fn report_inactive(
    tx: &mut dyn Tx,
    app: &App,
    host: &str,
    port: &Port,
    wired: WiredStatus,
    events: &mut super::nova_events::Events,
) -> Result<bool, ApiError> {
    let now_wired = wired == WiredStatus::Active;
    match tx.port_inactive_binding_get(&port.id, host)? {
        Some(b) if b.role == InactiveRole::Target && b.wired != now_wired => {}
        _ => return Ok(false),
    }
    tx.port_inactive_binding_set_wired(&port.id, host, now_wired)?;
    tx.change_record(Resource::Port, &port.id, ChangeOp::Update, &port.project_id)?;
    if now_wired {
        super::nova_events::port_active_direct(app, port, events);
    }
    Ok(true)
}
