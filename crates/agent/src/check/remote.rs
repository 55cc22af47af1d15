//! The checks that ask the server and the peers: credentials, clock, the tenant MTU the
//! underlay must carry, and VXLAN reachability of every other tunnel endpoint.

use super::local::link_with;
use super::system::System;
use super::{CheckInput, Finding};
use futures::future::BoxFuture;
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, SystemTime};

/// An answer of the server and its `Date` header.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub body: Value,
    pub date: Option<String>,
}

/// Why a GET failed, as far as the checks care.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// No server answered (the agent retries those at start).
    Unreachable(String),
    /// The credentials were refused (401/403, or the Keystone login failed).
    Refused(String),
    /// Any other answer.
    Other(String),
}

/// Authenticated GETs through the agent's API client.
pub trait ServerView: Send + Sync {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Answer, GetError>>;
}

/// What a peer answered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeResult {
    /// Its agent answered on the probe port.
    pub echo: bool,
    /// Its agent answered a frame sent through UDP 4789 (VXLAN), decapsulated by its kernel.
    pub vxlan: bool,
}

/// Probes peers' agents from `local`.
pub trait Prober: Send + Sync {
    fn probe<'a>(
        &'a self,
        local: IpAddr,
        peers: &'a [IpAddr],
        port: u16,
    ) -> BoxFuture<'a, BTreeMap<IpAddr, ProbeResult>>;
}

/// VXLAN's encapsulation: outer IPv4 (20) or IPv6 (40), UDP (8), VXLAN (8), inner Ethernet (14).
pub fn vxlan_overhead(local: &IpAddr) -> u32 {
    if local.is_ipv4() {
        50
    } else {
        70
    }
}

/// Every network's MTU and type, and nothing else (admin sees every project's).
pub const NETWORKS_PATH: &str = "v2.0/networks?fields=id&fields=mtu&fields=provider:network_type";

/// What a default server gives VXLAN networks: global_physnet_mtu 1500 less 50.
const ASSUMED_TENANT_MTU: u32 = 1450;

pub async fn run(input: &CheckInput, sys: &dyn System, server: &dyn ServerView, prober: &dyn Prober) -> Vec<Finding> {
    let mut out = Vec::new();
    let agents = server.get("v2.0/agents").await;
    match &agents {
        Ok(_) => out.push(Finding::ok("server", "reachable, credentials accepted (GET /v2.0/agents)")),
        Err(GetError::Unreachable(e)) => out.push(Finding::fail_not_fatal(
            "server",
            format!("no server reachable ({e}); the agent keeps retrying"),
            "check the --server URLs and that the controller's port is open from this host",
        )),
        Err(GetError::Refused(e)) => out.push(Finding::fail(
            "server",
            format!("the credentials were refused: {e}"),
            "check --username/--password/--project-name (a service user with the admin role) or --token-file",
        )),
        Err(GetError::Other(e)) => out.push(Finding::fail_not_fatal(
            "server",
            format!("GET /v2.0/agents failed: {e}"),
            "check the server's log",
        )),
    }
    let Ok(agents) = agents else {
        return out;
    };
    out.push(clock(input, sys, agents.date.as_deref()));
    let networks = server.get(NETWORKS_PATH).await.ok();
    out.extend(underlay_mtu(input, sys, networks.as_ref().map(|a| &a.body)));
    out.extend(peers(input, sys, &agents.body, prober).await);
    out
}

fn clock(input: &CheckInput, sys: &dyn System, date: Option<&str>) -> Finding {
    let tolerance = input.checks.clock_tolerance;
    let Some(server) = date.and_then(|d| chrono::DateTime::parse_from_rfc2822(d).ok()) else {
        return Finding::warn("clock", "the server sent no Date header: clock not compared", "none needed");
    };
    let server = SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(server.timestamp()).unwrap_or_default());
    let now = sys.now();
    let skew = now.duration_since(server).unwrap_or_else(|e| e.duration());
    // The Date header counts whole seconds: a second of difference is its resolution.
    if skew <= tolerance + Duration::from_secs(1) {
        return Finding::ok(
            "clock",
            format!("within {}s of the server (tolerance {}s)", skew.as_secs(), tolerance.as_secs()),
        );
    }
    let ahead = if now > server { "ahead of" } else { "behind" };
    // Not fatal: the embedded identity checks tokens on the server's own clock. But an
    // external Keystone refuses tokens as expired or not yet valid at such skews, and logs,
    // leases and heartbeats of the hosts no longer line up.
    Finding::fail_not_fatal(
        "clock",
        format!("{}s {ahead} the server's clock, beyond the tolerance of {}s", skew.as_secs(), tolerance.as_secs()),
        "run chrony or systemd-timesyncd against the controller's NTP servers",
    )
}

/// The largest tenant MTU: the server's VXLAN networks, else the configured `tenant_mtu`,
/// else assumed. Only a known MTU that does not fit is fatal: full-size frames of that
/// network are fragmented on an IPv4 underlay (or dropped wherever fragments or DF-marked
/// packets are), the TCP stalls of an MTU black hole.
fn underlay_mtu(input: &CheckInput, sys: &dyn System, networks: Option<&Value>) -> Option<Finding> {
    let local = input.settings.l2.local_ip?;
    let links = sys.links().ok()?;
    let underlay = link_with(&links, &local)?;
    let largest = networks.and_then(|n| n["networks"].as_array()).and_then(|nets| {
        nets.iter()
            .filter(|n| n["provider:network_type"] == "vxlan")
            .filter_map(|n| Some((n["mtu"].as_u64()?, n["id"].as_str().unwrap_or_default().to_string())))
            .max()
    });
    let (tenant, source, known) = match (largest, input.checks.tenant_mtu) {
        (Some((mtu, id)), _) => {
            (u32::try_from(mtu).unwrap_or(u32::MAX), format!("VXLAN network {id} has MTU {mtu}"), true)
        }
        (None, Some(mtu)) => (mtu, format!("tenant_mtu is {mtu}"), true),
        (None, None) => (
            ASSUMED_TENANT_MTU,
            format!("no VXLAN network yet; assuming {ASSUMED_TENANT_MTU} (a default server's)"),
            false,
        ),
    };
    let overhead = vxlan_overhead(&local);
    let need = tenant.saturating_add(overhead);
    if underlay.mtu >= need {
        return Some(Finding::ok(
            "underlay_mtu",
            format!("{} carries {} ≥ {tenant} + {overhead} ({source})", underlay.name, underlay.mtu),
        ));
    }
    let detail = format!(
        "{source}: its full frames need {need} bytes on the underlay ({tenant} + {overhead} of VXLAN), {} carries {}: they are fragmented or dropped, and guests see TCP stalls",
        underlay.name, underlay.mtu
    );
    let fix = format!(
        "raise {}'s MTU (and the switches') to {need}, or set the server's global_physnet_mtu/path_mtu to {} so networks get MTU {}",
        underlay.name,
        underlay.mtu,
        underlay.mtu.saturating_sub(overhead)
    );
    Some(if known { Finding::fail("underlay_mtu", detail, fix) } else { Finding::warn("underlay_mtu", detail, fix) })
}

/// Every other alive agent's tunnel endpoint, with its host.
fn endpoints(agents: &Value, me: &str) -> BTreeMap<IpAddr, String> {
    let list = agents["agents"].as_array().cloned().unwrap_or_default();
    list.iter()
        .filter(|a| a["host"] != me && a["alive"] != false)
        .filter_map(|a| {
            let ip = a["configurations"]["tunneling_ip"].as_str()?.parse().ok()?;
            Some((ip, a["host"].as_str().unwrap_or_default().to_string()))
        })
        .collect()
}

async fn peers(input: &CheckInput, sys: &dyn System, agents: &Value, prober: &dyn Prober) -> Vec<Finding> {
    let Some(local) = input.settings.l2.local_ip else { return vec![] };
    if !sys.links().is_ok_and(|links| link_with(&links, &local).is_some()) {
        // Probes from an address the host does not have cannot leave: not the peers' fault.
        return vec![Finding::warn("vxlan_peers", "not probed: local_ip is on no interface", "fix local_ip first")];
    }
    let port = input.checks.probe_port;
    if port == 0 {
        return vec![Finding::warn(
            "vxlan_peers",
            "probe_port is 0: peers not probed",
            "set probe_port (default 4790)",
        )];
    }
    let peers = endpoints(agents, &input.settings.host);
    if peers.is_empty() {
        return vec![Finding::ok("vxlan_peers", "no other tunnel endpoint yet")];
    }
    let ips: Vec<IpAddr> = peers.keys().copied().collect();
    let results = prober.probe(local, &ips, port).await;
    peers
        .iter()
        .map(|(ip, host)| {
            let r = results.get(ip).copied().unwrap_or_default();
            let who = format!("{host} ({ip})");
            match (r.echo, r.vxlan) {
                (_, true) => Finding::ok("vxlan_peer", format!("{who} answers through UDP 4789")),
                (true, false) => Finding::fail_not_fatal(
                    "vxlan_peer",
                    format!("{who}: its agent answers on UDP {port} but nothing sent to UDP 4789 reaches it: VXLAN to it is blocked"),
                    format!("open UDP 4789 from {local} on {host} and on the path between (nft list ruleset there)"),
                ),
                (false, false) => Finding::fail_not_fatal(
                    "vxlan_peer",
                    format!("{who}: no answer on UDP {port} nor through UDP 4789"),
                    format!("check routing from {local} to {ip}, that UDP 4789 and {port} are open both ways, and that its agent runs"),
                ),
            }
        })
        .collect()
}

impl ServerView for crate::api::ServerApi {
    fn get<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Answer, GetError>> {
        use crate::api::ApiError;
        Box::pin(async move {
            match self.get_dated(path).await {
                Ok((body, date)) => Ok(Answer { body, date }),
                Err(e @ ApiError::Unreachable { .. }) => Err(GetError::Unreachable(e.to_string())),
                Err(ApiError::Status { status: status @ (401 | 403), body, .. }) => {
                    Err(GetError::Refused(format!("{status}: {body}")))
                }
                // A login that never got an answer is the server being away, not a refusal.
                Err(ApiError::Auth(source))
                    if matches!(source.downcast_ref(), Some(neutrino_client::ClientError::Transport { .. })) =>
                {
                    Err(GetError::Unreachable(crate::error_chain(source.as_ref())))
                }
                Err(e @ (ApiError::Auth(_) | ApiError::TokenFile { .. })) => {
                    Err(GetError::Refused(crate::error_chain(&e)))
                }
                Err(e) => Err(GetError::Other(crate::error_chain(&e))),
            }
        })
    }
}
