//! The agent's main loop: heartbeat, watch, reconcile, report.
//!
//! * The **heartbeat** task reports the agent every `report_interval` (first with
//!   `start_flag`), so the server shows it alive and binds ports to this host.
//! * The **watch** task long-polls the host's desired state with the fingerprint it has;
//!   each new state is handed to the reconciler. A failed poll backs off exponentially
//!   (with jitter, up to `max_backoff`) and tries the next server; the dataplane is left
//!   exactly as it is meanwhile, so VMs keep talking while the servers are away.
//! * The **questions** task ([`questions`]) long-polls `neutrino diagnose`'s questions to
//!   this host and answers them from what the kernel holds, read only, never waiting for a
//!   pass (see [`crate::diagnose`]).
//! * The **reconciler** runs a pass on a new state, on kernel link events (a hypervisor
//!   plugging a tap, someone deleting a device) and every `resync_interval`, always over the
//!   whole last known state: the host's [`Subsystem`]s in their safe order (see
//!   [`crate::subsystem`]). After each pass it reports the ports and floating IPs whose
//!   status differs from what the server shows. Until the first state arrives it touches
//!   nothing: a restarted agent never tears down what it cannot yet see is still wanted.
//!
//! Every wait and every timing reads the injected [`Clock`], so tests move time on instead
//! of waiting for it.

use crate::api::ServerApi;
use crate::clock::Clock;
use crate::config::L2Config;
use crate::dhcp::{DhcpConfig, DhcpReconciler};
use crate::error_chain as chain;
use crate::firewall::{Firewall, FirewallConfig};
use crate::l2::dataplane::Dataplane;
use crate::l2::reconcile::Reconciler;
use crate::l3::{L3Config, L3Reconciler};
use crate::metadata::{MetadataConfig, MetadataProxy};
use crate::ovs::reconcile::OvsReconciler;
use crate::subsystem::Subsystem;
use neutrino_agent_api::{
    AgentReport, DhcpConfigurations, HostState, L2Configurations, AGENT_BINARY, AGENT_TYPE_DHCP, AGENT_TYPE_L3,
    AGENT_TYPE_LINUXBRIDGE, AGENT_TYPE_OVS, TUNNEL_TYPE_VXLAN,
};
use reconcile::ReconcileTask;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// Timing and identity of the agent.
#[derive(Debug, Clone)]
pub struct AgentSettings {
    /// The host name ports are bound to (`binding:host_id`).
    pub host: String,
    pub l2: L2Config,
    pub availability_zone: Option<String>,
    /// Seconds between heartbeats (Neutron's `report_interval`, 30).
    pub report_interval: Duration,
    /// A full reconcile at least this often, even without any event.
    pub resync_interval: Duration,
    /// How long one watch waits on the server.
    pub watch_wait: Duration,
    /// Longest pause between attempts to reach the servers.
    pub max_backoff: Duration,
    /// Serve DHCP for the networks the server assigns to this host (`--dhcp`).
    pub dhcp: Option<DhcpConfig>,
    /// Proxy metadata requests from the DHCP namespaces to Nova (needs `dhcp`).
    pub metadata: Option<MetadataConfig>,
    /// Run the routers the server assigns to this host (`--l3`).
    pub l3: Option<L3Config>,
    /// Enforce security groups and anti-spoofing on the host's ports (on unless
    /// `--no-security-groups`).
    pub firewall: Option<FirewallConfig>,
    /// Where to serve `/metrics` (`--metrics-listen`); `None` (the default) serves none.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Connections the metrics listener serves at once (`--metrics-max-connections`).
    pub metrics_max_connections: usize,
    /// What the passes count, for `/metrics`.
    pub metrics: Arc<crate::metrics::AgentMetrics>,
    /// Bounds of the task answering `neutrino diagnose`'s questions.
    pub questions: questions::QuestionLimits,
    /// The start-time checks' warnings and failures: reported with every heartbeat (as
    /// conditions of the L2 agent) until the agent restarts.
    pub start_conditions: Vec<neutrino_agent_api::AgentCondition>,
}

impl AgentSettings {
    /// Defaults for a host.
    pub fn new(host: String, l2: L2Config) -> Self {
        Self {
            host,
            l2,
            availability_zone: None,
            report_interval: Duration::from_secs(30),
            resync_interval: Duration::from_secs(10),
            watch_wait: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30),
            dhcp: None,
            metadata: None,
            l3: None,
            firewall: Some(FirewallConfig::default()),
            metrics_listen: None,
            metrics_max_connections: crate::metrics::DEFAULT_MAX_CONNECTIONS,
            metrics: Arc::default(),
            questions: questions::QuestionLimits::default(),
            start_conditions: Vec::new(),
        }
    }

    /// What the heartbeat reports about this host's reach.
    pub fn configurations(&self, devices: u64) -> L2Configurations {
        if let Some(ovs) = &self.l2.ovs {
            return L2Configurations {
                bridge_mappings: ovs.bridge_mappings.clone(),
                datapath_type: Some(ovs.datapath_type.clone()),
                ovs_hybrid_plug: Some(ovs.hybrid_plug),
                integration_bridge: Some(ovs.integration_bridge.clone()),
                ..self.linuxbridge_configurations(devices)
            };
        }
        self.linuxbridge_configurations(devices)
    }

    /// The linuxbridge agent's keys (tunnels and l2population are the same with OVS).
    fn linuxbridge_configurations(&self, devices: u64) -> L2Configurations {
        L2Configurations {
            interface_mappings: self.l2.physical_interface_mappings.clone(),
            bridge_mappings: BTreeMap::new(),
            tunnel_types: self.l2.local_ip.map(|_| vec![TUNNEL_TYPE_VXLAN.to_string()]).unwrap_or_default(),
            tunneling_ip: self.l2.local_ip,
            l2_population: true,
            devices,
            ..L2Configurations::default()
        }
    }
}

/// Runs the agent until `shutdown` completes. `kernel_events` is notified by whoever
/// watches the kernel's link changes (see [`crate::l2::netlink`]); it may never fire.
/// Every wait and every timing goes through `clock`.
pub async fn run<D: Dataplane + 'static>(
    settings: AgentSettings,
    api: Arc<ServerApi>,
    dataplane: D,
    kernel_events: Arc<Notify>,
    clock: Arc<dyn Clock>,
    shutdown: impl Future<Output = ()>,
) {
    let counts = Arc::new(Counts::default());
    let (state_tx, state_rx) = watch::channel::<Option<Arc<HostState>>>(None);
    let heartbeat = tokio::spawn(heartbeat_loop(settings.clone(), api.clone(), counts.clone(), clock.clone()));
    let watcher = tokio::spawn(watch_loop(settings.clone(), api.clone(), state_tx, clock.clone()));
    let (api_for_questions, clock_for_questions) = (api.clone(), clock.clone());
    let task = ReconcileTask::new(&settings, api, clock, counts, subsystems(&settings, dataplane));
    let reconciler = tokio::spawn(task.run(state_rx, kernel_events));
    let questions = questions::spawn(&settings, api_for_questions, clock_for_questions);
    shutdown.await;
    tracing::info!("agent stopping; the dataplane is left as it is");
    heartbeat.abort();
    watcher.abort();
    reconciler.abort();
    if let Some(q) = questions {
        q.abort();
    }
}

/// The host's subsystems, in the order a pass runs them (see [`crate::subsystem`] for why).
fn subsystems<D: Dataplane + 'static>(settings: &AgentSettings, dataplane: D) -> Vec<Box<dyn Subsystem>> {
    let mut out: Vec<Box<dyn Subsystem>> = Vec::new();
    // DHCP and routers first: they plug their ports' taps, which the L2 pass then wires.
    // Open vSwitch's userspace datapath forwards the namespaces' veth packets raw: their
    // checksums must be complete when they leave (`netns::ethtool`).
    let fill_checksums = settings.l2.ovs.as_ref().is_some_and(|ovs| ovs.datapath_type == "netdev");
    if let Some(cfg) = settings.dhcp.clone() {
        out.push(Box::new(DhcpReconciler::new(DhcpConfig { fill_checksums, ..cfg })));
    }
    if let Some(cfg) = settings.l3.clone() {
        out.push(Box::new(L3Reconciler::new(L3Config { fill_checksums, ..cfg })));
    }
    match settings.metadata.clone().map(MetadataProxy::new).transpose() {
        Ok(proxy) => out.extend(proxy.map(|p| Box::new(p) as Box<dyn Subsystem>)),
        Err(e) => tracing::error!(error = %chain(&e), "metadata proxy disabled"),
    }
    // The filters, then the wiring of only the ports whose filter the kernel confirmed.
    if let Some(cfg) = settings.firewall.clone() {
        // With the hybrid plug each VM's traffic is bridged in its own qbr (zoned by port).
        let hybrid_plug = settings.l2.ovs.as_ref().is_some_and(|ovs| ovs.hybrid_plug);
        out.push(Box::new(Firewall::new(FirewallConfig { hybrid_plug, ..cfg })));
    }
    match &settings.l2.ovs {
        Some(ovs) => {
            let switch = crate::ovs::system::OvsSwitch::new(ovs);
            out.push(Box::new(OvsReconciler::new(switch, ovs.clone(), settings.l2.local_ip)));
        }
        None => out.push(Box::new(Reconciler::new(dataplane, settings.l2.clone()))),
    }
    out
}

/// What the heartbeat reports about the last reconcile.
#[derive(Default)]
struct Counts {
    devices: AtomicU64,
    dhcp_networks: AtomicU64,
    dhcp_subnets: AtomicU64,
    dhcp_ports: AtomicU64,
    routers: AtomicU64,
    floating_ips: AtomicU64,
    /// The last pass's issues, reported as conditions.
    issues: conditions::LastIssues,
}

/// The zone of Neutron's DHCP and L3 agents when none is configured (its
/// `[AGENT] availability_zone` default).
const DEFAULT_AVAILABILITY_ZONE: &str = "nova";

/// This host's heartbeats: its L2 agent's, then its DHCP and L3 services' (each reported as
/// its own agent, as Neutron's are).
fn reports(settings: &AgentSettings, counts: &Counts, start_flag: bool) -> (AgentReport, Vec<AgentReport>) {
    let (dhcp_on, l3_on) = (settings.dhcp.is_some(), settings.l3.is_some());
    let conditions = |agent_type| counts.issues.conditions(agent_type, dhcp_on, l3_on, &settings.start_conditions);
    let l2_type = if settings.l2.ovs.is_some() { AGENT_TYPE_OVS } else { AGENT_TYPE_LINUXBRIDGE };
    let l2 = AgentReport {
        host: settings.host.clone(),
        agent_type: l2_type.into(),
        binary: AGENT_BINARY.into(),
        // Neutron's L2 agents report no zone; its DHCP and L3 agents do (below).
        availability_zone: None,
        configurations: serde_json::to_value(settings.configurations(counts.devices.load(Ordering::Relaxed)))
            .unwrap_or_default(),
        start_flag,
        conditions: conditions(l2_type),
    };
    // Neutron's DHCP and L3 agents are in the `nova` zone unless configured otherwise.
    let zone = Some(settings.availability_zone.clone().unwrap_or_else(|| DEFAULT_AVAILABILITY_ZONE.into()));
    // The DHCP service reports as its own agent, as Neutron's DHCP agent does.
    let dhcp = settings.dhcp.as_ref().map(|cfg| AgentReport {
        availability_zone: zone.clone(),
        agent_type: AGENT_TYPE_DHCP.into(),
        configurations: serde_json::to_value(DhcpConfigurations {
            dhcp_driver: "dnsmasq".into(),
            dhcp_lease_duration: cfg.lease_duration,
            networks: counts.dhcp_networks.load(Ordering::Relaxed),
            subnets: counts.dhcp_subnets.load(Ordering::Relaxed),
            ports: counts.dhcp_ports.load(Ordering::Relaxed),
            notifies_port_ready: true,
        })
        .unwrap_or_default(),
        conditions: conditions(AGENT_TYPE_DHCP),
        ..l2.clone()
    });
    // So does the L3 service, as Neutron's L3 agent (legacy mode).
    let l3 = settings.l3.as_ref().map(|_| AgentReport {
        agent_type: AGENT_TYPE_L3.into(),
        availability_zone: zone.clone(),
        configurations: serde_json::json!({
            "agent_mode": "legacy",
            "routers": counts.routers.load(Ordering::Relaxed),
            "floating_ips": counts.floating_ips.load(Ordering::Relaxed),
            "handle_internal_only_routers": true,
        }),
        conditions: conditions(AGENT_TYPE_L3),
        ..l2.clone()
    });
    (l2, [dhcp, l3].into_iter().flatten().collect())
}

async fn heartbeat_loop(settings: AgentSettings, api: Arc<ServerApi>, counts: Arc<Counts>, clock: Arc<dyn Clock>) {
    let mut start_flag = true;
    let mut backoff = Backoff::new(settings.max_backoff.min(settings.report_interval));
    loop {
        let (l2, extras) = reports(&settings, &counts, start_flag);
        let mut result = api.report(&l2).await;
        for extra in &extras {
            if result.is_ok() {
                if let Err(e) = api.report(extra).await {
                    result = Err(e);
                }
            }
        }
        match result {
            Ok(reply) => {
                if start_flag {
                    tracing::info!(agent_id = %reply.agent_id, host = %settings.host, "registered with the server");
                }
                start_flag = false;
                backoff.reset();
                clock.sleep(settings.report_interval).await;
            }
            Err(e) => {
                tracing::warn!(error = %chain(&e), "heartbeat failed");
                clock.sleep(backoff.next()).await;
            }
        }
    }
}

async fn watch_loop(
    settings: AgentSettings,
    api: Arc<ServerApi>,
    states: watch::Sender<Option<Arc<HostState>>>,
    clock: Arc<dyn Clock>,
) {
    let mut known = String::new();
    let mut backoff = Backoff::new(settings.max_backoff);
    let mut connected = false;
    loop {
        match api.watch(&settings.host, &known, settings.watch_wait).await {
            Ok(answer) => {
                if !connected {
                    tracing::info!("watching the host's desired state");
                    connected = true;
                }
                backoff.reset();
                if let Some(state) = answer {
                    tracing::debug!(revision = state.revision, fingerprint = %state.fingerprint, "new desired state");
                    known = state.fingerprint.clone();
                    states.send_replace(Some(Arc::new(state)));
                }
            }
            Err(e) => {
                let pause = backoff.next();
                if connected || backoff.attempts == 1 {
                    tracing::warn!(error = %chain(&e), retry_in_ms = pause.as_millis() as u64, "watch failed; the dataplane stays as it is");
                }
                connected = false;
                clock.sleep(pause).await;
            }
        }
    }
}

/// Exponential back-off with jitter: 0.5 s, 1 s, 2 s ... up to a cap.
struct Backoff {
    cap: Duration,
    attempts: u32,
}

impl Backoff {
    fn new(cap: Duration) -> Self {
        Self { cap, attempts: 0 }
    }

    fn reset(&mut self) {
        self.attempts = 0;
    }

    fn next(&mut self) -> Duration {
        self.attempts += 1;
        let base = Duration::from_millis(500).saturating_mul(1 << self.attempts.min(10).saturating_sub(1));
        let capped = base.min(self.cap);
        // Up to 20% random jitter so many agents do not return in lockstep after an outage.
        capped + capped.mul_f64(rand::random::<f64>() * 0.2)
    }
}

mod conditions;
pub mod questions;
mod reconcile;

#[cfg(test)]
mod gate_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_to_its_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_secs(4));
        let first = b.next();
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_millis(600), "{first:?}");
        let waits: Vec<Duration> = (0..6).map(|_| b.next()).collect();
        // 1 s, 2 s, then the 4 s cap, each plus at most 20%.
        for (w, base) in waits.iter().zip([1000, 2000, 4000, 4000, 4000, 4000]) {
            let base = Duration::from_millis(base);
            assert!(*w >= base && *w <= base.mul_f64(1.2), "{w:?} for {base:?}");
        }
        b.reset();
        assert!(b.next() <= Duration::from_millis(600));
    }

    #[test]
    fn dhcp_and_l3_report_a_zone_and_l2_none() {
        let mut s = AgentSettings::new("h".into(), L2Config::default());
        s.dhcp = Some(crate::dhcp::DhcpConfig::default());
        s.l3 = Some(crate::l3::L3Config::default());
        let (l2, extras) = reports(&s, &Counts::default(), true);
        assert_eq!(l2.availability_zone, None);
        let kinds: Vec<(&str, Option<&str>)> =
            extras.iter().map(|r| (r.agent_type.as_str(), r.availability_zone.as_deref())).collect();
        assert_eq!(kinds, [(AGENT_TYPE_DHCP, Some("nova")), (AGENT_TYPE_L3, Some("nova"))]);
        s.availability_zone = Some("az2".into());
        let (_, extras) = reports(&s, &Counts::default(), false);
        assert!(extras.iter().all(|r| r.availability_zone.as_deref() == Some("az2") && !r.start_flag));
    }

    #[test]
    fn configurations_report_reach() {
        let mut l2 = L2Config::default();
        let s = AgentSettings::new("h".into(), l2.clone());
        assert!(s.configurations(0).tunnel_types.is_empty());
        l2.local_ip = Some("198.18.1.1".parse().unwrap());
        l2.physical_interface_mappings.insert("physnet1".into(), "eth1".into());
        let c = AgentSettings::new("h".into(), l2).configurations(3);
        assert_eq!(c.tunnel_types, vec!["vxlan".to_string()]);
        assert_eq!(c.devices, 3);
        assert!(c.reaches(neutrino_agent_api::Mechanism::LinuxBridge, "flat", Some("physnet1")));
    }

    #[test]
    fn an_open_vswitch_host_reports_as_neutrons_ovs_agent() {
        let ovs = crate::ovs::OvsConfig {
            bridge_mappings: [("physnet1".to_string(), "br-eth1".to_string())].into(),
            datapath_type: "netdev".into(),
            ..Default::default()
        };
        let l2 = L2Config { local_ip: Some("198.18.1.1".parse().unwrap()), ovs: Some(ovs), ..L2Config::default() };
        let s = AgentSettings::new("h".into(), l2);
        let (report, _) = reports(&s, &Counts::default(), true);
        assert_eq!(report.agent_type, AGENT_TYPE_OVS);
        let c: L2Configurations = serde_json::from_value(report.configurations).unwrap();
        assert_eq!(c.bridge_mappings["physnet1"], "br-eth1");
        assert_eq!((c.datapath_type.as_deref(), c.ovs_hybrid_plug), (Some("netdev"), Some(true)));
        assert_eq!(
            (c.integration_bridge.as_deref(), c.tunnel_types.clone()),
            (Some("br-int"), vec!["vxlan".to_string()])
        );
        assert!(c.l2_population && c.interface_mappings.is_empty());
        let ovs = neutrino_agent_api::Mechanism::OpenVswitch;
        assert!(c.reaches(ovs, "vlan", Some("physnet1")) && c.reaches(ovs, "vxlan", None));
    }
}
