//! Security groups and anti-spoofing for the host's ports: one nftables ruleset compiled
//! from the whole [`HostState`] and replaced in one atomic transaction.
//!
//! # Why this shape
//!
//! VM traffic is *bridged* (`tap… → brq… → tap…`), and on our kernels the bridge family has
//! no conntrack (see KERNEL.md), while the inet family sees bridged IP (via br_netfilter)
//! only with the *bridge* as `iifname`/`oifname`. So filtering is split in two tables
//! (plus a zone table) the agent owns entirely:
//!
//! A filtered port's chains are its *profile's* (module `fragment`): ports with the same
//! security groups (and statefulness) share four chains named by the profile's 16-bit
//! index; a port itself is only elements of named maps and sets keyed by its device, so
//! what nft caches before any change (every chain and set, no element) does not grow with
//! the ports, and a port coming or going is element updates.
//!
//! * `table bridge neutrino`, chain `forward` (hook forward, priority -200, before
//!   br_netfilter hands the packet to inet): it knows the ports. For frames to or from a
//!   `tap*` it first clears `meta mark`, then sets the destination's profile *index* in the
//!   low 16 bits (`to-p…` chains) and the source's in the high 16 bits (`from-p…`), reached
//!   through the named verdict maps `to-ports`/`from-ports` (device → profile chain).
//!   `from-p…` then jumps to `spoof`, the anti-spoofing chain every port shares, on every
//!   ethertype (module `spoof`): source MAC is the port's or an allowed pair's
//!   (`iifname . ether saddr` in `spoof-macs`); ARP sender MAC is the frame's (`spoof-arp`)
//!   and sender IP one of the MAC's (`spoof-v4`), or 0.0.0.0 from the port's own MAC
//!   (probes, `spoof-own`); IPv4 source is one of the MAC's addresses or networks
//!   (`spoof-v4`, an interval set: pairs may be CIDRs), or 0.0.0.0 for DHCP discovery; IPv6
//!   source likewise (`spoof-v6`, EUI-64 link-local included), or `::` for DAD/MLD;
//!   DHCP/DHCPv6 server replies, router advertisements and redirects from a VM are dropped
//!   (`deny-servers`); any other ethertype (802.1Q too: VLAN-aware VMs are not supported) is
//!   dropped. A neighbour advertisement must name as its target one of the sending MAC's
//!   own IPv6 addresses, networks or EUI-64 link-local, as Neutron's OVS firewall matches
//!   `nd_target` (module `nd`: `table bridge neutrino-nd`, whose set only nft's own syntax
//!   can declare). After the port maps, a frame from or to a `tap*` device the
//!   ruleset does not know (no port of the state, a port left out of the ruleset, or one
//!   whose ruleset never made it into the kernel; the named set `known-taps`) is dropped: known are the filtered
//!   ports, the ports with port security off and the agent's DHCP and router ports.
//! * `table inet neutrino`, chain `forward` (hook forward, priority filter): the marks
//!   dispatch through two named verdict maps (`egress-ports`, `ingress-ports`, one element
//!   per profile) to `egress-p…` (source's profile) then `ingress-p…` (destination's).
//!   Each starts with `ct state invalid drop; ct state
//!   established,related` (return in egress, accept in ingress) for stateful groups (none
//!   for a profile whose groups are all stateless: then the return traffic needs its own
//!   rules, as in Neutron, also when the peer is stateful), a jump to the baseline every
//!   port needs (DHCP client, DHCPv6 client, neighbour discovery, MLD: one shared chain
//!   per direction, `baseline-out`/`baseline-in`), a `jump` to
//!   each of its groups' shared chains in group-id order, and a final `drop`. Each group
//!   used by a filtered port is compiled once per direction into `sg-in-<group id>` /
//!   `sg-out-<group id>` (none for a direction without rules). Ingress group rules
//!   `accept`. Egress group rules may neither accept (the destination's ingress chain must
//!   still decide) nor drop: they clear the egress index from `meta mark` (`meta mark set
//!   meta mark & 0xffff return`); after its jumps the profile chain `return`s to the base chain
//!   when that index is gone (an index is never 0), else drops. `remote_group_id`
//!   matches a named interval set per (group, family) (`rg4-<id>`, `rg6-<id>`).
//!
//! * `table inet neutrino-zones`, chain `zone` (hook prerouting, priority raw -300, before
//!   conntrack at -200): br_netfilter hands bridged IP to the inet hooks with the bridge as
//!   `iifname`, so `ct zone set iifname map { brq… : zone }` gives each network its own
//!   conntrack zone (as Neutron's OVS firewall zones per network): two networks with the
//!   same addresses on one host never share an entry, so a packet of one tenant can never
//!   be "established" by another's connection. IP on a `brq*` bridge without a zone is
//!   dropped. Zones are 16-bit, never 0 (the host's own traffic): the first 16 bits of
//!   SHA-256(bridge name), probing upwards on collision; a bridge keeps the zone it has in
//!   the kernel (read back once after an agent start: the kernel's ruleset lives exactly as
//!   long as the conntrack entries it zoned), so a network's connections never move zone
//!   across restarts or other networks coming and going.
//!
//! Ports with port security off get no chain and no mark: they are not filtered (but they
//! are known, so forwarded).
//!
//! # Wiring only filtered ports
//!
//! [`Firewall::gate`] says which ports the ruleset last confirmed in the kernel (applied, or
//! found in place) knows; the L2 reconciler wires a tap into its bridge only then (see
//! [`crate::runner`]). A failed transaction changes nothing in the kernel (it is atomic): the
//! ports it knew stay wired with their last good filter, new ones stay out of their bridge,
//! DOWN, the reason in the agent's log, until a later pass applies.
//!
//! Profile indexes (marks) come from the profile key's SHA-256, probing on collision in key
//! order: deterministic, stable across restarts and across unrelated profiles coming and
//! going. The agent owns `meta mark` of bridged frames on taps in the host namespace.
//!
//! # Applying
//!
//! [`Firewall::sync`] compiles, and applies when the document's SHA-256 differs from the one
//! it last applied. When it has not applied anything yet (an agent restart) or its last
//! look is older than [`FirewallConfig::verify_interval`], it also compares with what the
//! kernel has: the tables' shape (chains, rules per chain, elements per set) and the
//! fingerprint, which the one rule of the bridge table's `fingerprint` chain carries as its comment. Equal: nothing is
//! applied (a restarted agent leaves the kernel untouched). Different, or unreadable: the
//! whole document is applied with one `nft -j -f -`, which deletes and recreates both
//! tables in one transaction, so there is never a moment without rules, and conntrack
//! entries (hence established connections) survive it. Reading a large ruleset back costs
//! about half of applying it, hence the interval. A hand edit of a rule's match that keeps
//! the shape is not detected until the next real change; re-applying on every pass would
//! catch it too, and is safe, just slower.
//!
//! A changed document, when the kernel is trusted to hold the last one applied, is applied
//! as a delta (module `delta`): one transaction flushing and refilling only the chains
//! that differ (a rule change: its group's chain and the fingerprint chain), adding or
//! deleting single elements of the named sets and maps (a port coming: one element in each
//! port map, `maps`, and its sources in the anti-spoofing sets, plus its profile's chains
//! if it is the profile's first port; a member coming: one element), adding or deleting
//! chains and sets. If nft rejects it (the kernel was edited), the whole document is
//! applied in the same pass.
//!
//! # Cost per change
//!
//! The pass keeps the document as shared command texts (`doc`), reuses each unchanged
//! port's elements from the last pass (`fragment`), and diffs texts, so the agent's own
//! work per change is small; nft's cache load before any command (every chain and set of
//! the namespace, never their elements) is the same at 100 and at 1200 ports: see
//! docs/BENCHMARKS.md.
//!
//! Limitations: a neighbour advertisement's target link-layer address option is not
//! checked (Neutron does not either): a VM can only point its own addresses elsewhere.
//!
//! [`HostState`]: neutrino_agent_api::HostState

mod compile;
mod delta;
mod doc;
pub mod fake;
mod fragment;
mod kernel;
mod maps;
mod nd;
mod nft;
mod rules;
mod runner;
mod sets;
mod spoof;
mod zones;

#[cfg(test)]
mod compile_tests;
#[cfg(test)]
mod sync_tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_agent_api::HostState;

use crate::report::{Object, Report, SubsystemKind};

pub use compile::{
    compile, compile_host, compile_host_cached, hybrid_bridge_name, Compiled, HostDevices, BASE_CHAIN,
    FINGERPRINT_PREFIX, TABLE, ZONES_TABLE,
};
pub use doc::Document;
pub use fragment::PortCache;
pub use nd::ND_TABLE;
pub use runner::{NftError, NftRunner, SystemNft};
pub use sets::Remotes;
pub use spoof::eui64_link_local;

use kernel::{kernel_fingerprint, kernel_shape, kernel_zones, Shape};

/// Something compiled around rather than in: the port or rule is locked down or left out,
/// never left open.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompileIssue {
    #[error("port {port}: invalid MAC address {mac:?}; everything it sends is dropped")]
    PortMac { port: String, mac: String },
    #[error("port {port}: allowed address pair {ip_address:?} / {mac_address:?} is invalid and left out")]
    Pair { port: String, ip_address: String, mac_address: String },
    #[error("port {port}: device name {tap} is already port {other}'s; port left out")]
    TapClash { port: String, tap: String, other: String },
    #[error("port {port}: security group {group} is unknown; its rules are not applied")]
    UnknownGroup { port: String, group: String },
    #[error("security group {group} rule {rule}: {reason}; rule left out")]
    Rule { group: String, rule: String, reason: String },
    #[error("port {port}: no free 16-bit profile index; filtered ports left out")]
    Marks { port: String },
    #[error("bridge {bridge}: no free 16-bit conntrack zone; its IP traffic is dropped")]
    Zones { bridge: String },
}

impl CompileIssue {
    /// What the issue is about.
    pub fn object(&self) -> Object {
        match self {
            CompileIssue::PortMac { port, .. }
            | CompileIssue::Pair { port, .. }
            | CompileIssue::TapClash { port, .. }
            | CompileIssue::UnknownGroup { port, .. }
            | CompileIssue::Marks { port } => Object::Port(port.clone()),
            CompileIssue::Rule { group, .. } => Object::SecurityGroup(group.clone()),
            CompileIssue::Zones { bridge } => Object::Device(bridge.clone()),
        }
    }
}

/// The firewall part of the agent's configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FirewallConfig {
    /// The `nft` binary.
    pub nft_path: PathBuf,
    /// Where the bridge-netfilter sysctls are (`/proc/sys/net/bridge`, present when
    /// br_netfilter is loaded).
    pub bridge_sysctl_dir: PathBuf,
    /// How often an unchanged ruleset is read back from the kernel and compared (a hand
    /// `nft flush ruleset` is repaired within this time).
    pub verify_interval: Duration,
    /// The host's VMs are plugged through a Linux bridge per port (`qbr…`, Open vSwitch's
    /// hybrid plug): their bridged IP reaches the inet hooks with `qbr…` as `iifname`, and
    /// takes the conntrack zone of the port's network from there.
    pub hybrid_plug: bool,
}

impl Default for FirewallConfig {
    fn default() -> Self {
        FirewallConfig {
            nft_path: PathBuf::from("/usr/sbin/nft"),
            bridge_sysctl_dir: PathBuf::from("/proc/sys/net/bridge"),
            verify_interval: Duration::from_secs(300),
            hybrid_plug: false,
        }
    }
}

/// Which ports' filters are in the kernel: the L2 reconciler wires a port into its bridge
/// only when it is here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterGate {
    /// Ports the ruleset last confirmed in the kernel knows (filtered, or port security off).
    pub confirmed: BTreeSet<String>,
    /// Why the newest ruleset is not in the kernel (the last transaction's error), if so.
    pub failure: Option<String>,
}

impl FilterGate {
    /// Why `port_id` may not be wired yet, or `None` when it may.
    pub fn hold_reason(&self, port_id: &str) -> Option<String> {
        if self.confirmed.contains(port_id) {
            return None;
        }
        Some(match &self.failure {
            Some(failure) => format!("the nftables transaction failed: {failure}"),
            None => "the port is not in the applied ruleset (see the firewall's issues)".to_owned(),
        })
    }
}

/// The host's security-group dataplane.
pub struct Firewall {
    cfg: FirewallConfig,
    runner: Arc<dyn NftRunner>,
    /// Fingerprint of the ruleset last applied or found in the kernel.
    applied: Option<String>,
    /// When the kernel was last read back and found equal (or written).
    verified: Option<Instant>,
    /// The document last applied or found in place: a change is applied as a delta from it.
    last: Option<Arc<Document>>,
    /// The ports compiled by the last pass, reused while their inputs stay the same.
    cache: PortCache,
    /// Digest of what the document last applied or found in place was compiled from, and
    /// that compile's issues: a pass with the same inputs (most passes: a link event, another
    /// subsystem's change) skips the compile until the next verification is due.
    compiled_from: Option<([u8; 32], Vec<CompileIssue>)>,
    /// Conntrack zone per bridge in the kernel (read back once after a start, then the last
    /// applied): a network keeps its zone, so its connections survive an agent restart.
    zones: BTreeMap<String, u16>,
    zones_read: bool,
    /// Shared with the pass that hands it to L2.
    gate: Arc<FilterGate>,
    /// How long the last pass's ruleset write took, until the pass takes it (`/metrics`).
    apply_time: Option<Duration>,
}

/// What a pass wrote.
enum Applied {
    Nothing,
    /// The whole ruleset, written in this time.
    Whole(Duration),
    /// An incremental transaction of this many commands, written in this time.
    Delta(usize, Duration),
}

/// One pass's look at the kernel and write, run off the async executor.
struct Write {
    /// The first pass since the start: the fingerprint alone tells whether to write.
    starting: bool,
    /// Compare the kernel's shape with the document first.
    look: bool,
    fingerprint: String,
    /// What the kernel holds when nothing needs a look: the last document applied.
    old: Option<Arc<Document>>,
    new: Arc<Document>,
}

impl Write {
    fn run(self, runner: &dyn NftRunner) -> Result<(Applied, Option<NftError>), NftError> {
        if self.starting && kernel_fingerprint(runner).ok().flatten().as_deref() == Some(self.fingerprint.as_str()) {
            return Ok((Applied::Nothing, None));
        }
        let (current, read_error) = match self.look.then(|| kernel_shape(runner)) {
            Some(Ok(shape)) => (shape == Shape::of_document(&self.new, &self.fingerprint), None),
            Some(Err(e)) => (false, Some(e)),
            None => (false, None),
        };
        if current {
            return Ok((Applied::Nothing, read_error));
        }
        let writing = Instant::now();
        if let Some((d, commands)) = self.old.and_then(|old| delta::delta(&old, &self.new)) {
            match runner.apply(&d) {
                Ok(()) => return Ok((Applied::Delta(commands, writing.elapsed()), read_error)),
                // The kernel is not what we last applied: replace it whole.
                Err(e) => tracing::warn!("incremental nftables update failed, applying all: {}", chain(&e)),
            }
        }
        // The ND table's set, which only nft's own syntax can declare (`nd`): once, before
        // the document that fills it.
        runner.apply_script(nd::BOOTSTRAP)?;
        runner.apply(&self.new.to_json())?;
        Ok((Applied::Whole(writing.elapsed()), read_error))
    }
}

/// The sysctls that make bridged IP traverse the inet family's hooks.
pub(crate) const BRIDGE_SYSCTLS: [&str; 2] = ["bridge-nf-call-iptables", "bridge-nf-call-ip6tables"];

impl Firewall {
    pub fn new(cfg: FirewallConfig) -> Self {
        let runner = Arc::new(SystemNft { nft_path: cfg.nft_path.clone() });
        Self::with_runner(cfg, runner)
    }

    /// With another way to run nft (a fake, or one entering a namespace).
    pub fn with_runner(cfg: FirewallConfig, runner: Arc<dyn NftRunner>) -> Self {
        Firewall {
            cfg,
            runner,
            applied: None,
            verified: None,
            last: None,
            cache: PortCache::default(),
            compiled_from: None,
            zones: BTreeMap::new(),
            zones_read: false,
            gate: Arc::default(),
            apply_time: None,
        }
    }

    /// Which ports' filters the kernel holds, as of the last [`Firewall::sync`].
    pub fn gate(&self) -> &FilterGate {
        &self.gate
    }

    /// [`Firewall::gate`], to hand on.
    pub fn shared_gate(&self) -> Arc<FilterGate> {
        Arc::clone(&self.gate)
    }

    /// The conntrack zone of each bridge, as last applied.
    pub fn zones(&self) -> &BTreeMap<String, u16> {
        &self.zones
    }

    /// Fingerprint of the ruleset this firewall last applied or found in place.
    pub fn fingerprint(&self) -> Option<&str> {
        self.applied.as_deref()
    }

    /// Makes the kernel filter as `state` says: sysctls, then the ruleset if it differs.
    pub async fn sync(&mut self, state: &HostState) -> Report {
        let mut report = Report::new(SubsystemKind::Firewall);
        self.bridge_sysctls(&mut report);
        if !self.zones_read {
            // The kernel is where the zones of a previous run are: conntrack entries live
            // exactly as long as the ruleset that zoned them.
            let runner = Arc::clone(&self.runner);
            // Read again next pass when it fails: assigning afresh could move a zone in use.
            match tokio::task::spawn_blocking(move || kernel_zones(runner.as_ref())).await {
                Ok(Ok(zones)) => {
                    self.zones = zones;
                    self.zones_read = true;
                }
                Ok(Err(e)) => report.issue(Object::Host, format!("reading the conntrack zones: {}", chain(&e))),
                Err(e) => report.issue(Object::Host, format!("reading the conntrack zones: task failed: {e}")),
            }
        }
        let mut devices = HostDevices { previous_zones: self.zones.clone(), ..HostDevices::of(state) };
        if self.cfg.hybrid_plug {
            devices = devices.with_hybrid_plug(state);
        }
        let inputs = inputs_digest(state, &devices);
        let fresh = self.verified.is_some_and(|t| t.elapsed() < self.cfg.verify_interval);
        if let Some((_, issues)) = self.compiled_from.as_ref().filter(|(from, _)| fresh && *from == inputs) {
            for issue in issues {
                report.issue(issue.object(), issue.to_string());
            }
            return report;
        }
        let mut compiled = compile_host_cached(
            &state.port_security,
            &state.security_groups,
            &Remotes::of(state),
            &devices,
            &mut self.cache,
        );
        for issue in &compiled.issues {
            report.issue(issue.object(), issue.to_string());
        }

        let unchanged = self.applied.as_deref() == Some(compiled.fingerprint.as_str());
        if unchanged && fresh {
            self.compiled_from = Some((inputs, compiled.issues));
            return report;
        }
        // A changed document is applied without looking: the kernel cannot have it.
        let look = unchanged || self.applied.is_none();
        // After a start, the fingerprint chain alone tells whether the kernel already holds
        // this document (a restarted agent must be quick and touch nothing); the full shape
        // is compared at the next verification.
        let starting = self.applied.is_none();
        let fingerprint = compiled.fingerprint.clone();
        let runner = Arc::clone(&self.runner);
        let doc = Arc::new(std::mem::take(&mut compiled.ruleset));
        // What the kernel holds when nothing needs a look: the last document applied.
        let old = if look { None } else { self.last.clone() };
        let new = Arc::clone(&doc);
        let write = Write { starting, look, fingerprint, old, new };
        let result = tokio::task::spawn_blocking(move || write.run(runner.as_ref())).await;
        match result {
            Ok(Ok((applied, read_error))) => {
                if let Some(e) = read_error {
                    report.issue(Object::Host, format!("reading the ruleset: {}", chain(&e)));
                }
                let how = match applied {
                    Applied::Nothing => None,
                    Applied::Whole(took) => {
                        self.apply_time = Some(took);
                        Some(String::new())
                    }
                    Applied::Delta(n, took) => {
                        self.apply_time = Some(took);
                        Some(format!(", incremental: {n} commands"))
                    }
                };
                if let Some(how) = how {
                    report.change(format!(
                        "nftables ruleset {} ({} filtered ports{how})",
                        &compiled.fingerprint[..12],
                        compiled.filtered
                    ));
                }
                self.applied = Some(compiled.fingerprint);
                self.compiled_from = Some((inputs, compiled.issues));
                self.last = Some(doc);
                self.verified = Some(Instant::now());
                self.zones = compiled.zones;
                self.gate = Arc::new(FilterGate { confirmed: compiled.known_ports, failure: None });
            }
            // The kernel keeps the previous ruleset (the transaction is atomic): the ports it
            // knows stay confirmed, new ones wait.
            Ok(Err(e)) => self.failed(&mut report, chain(&e)),
            Err(e) => self.failed(&mut report, format!("task failed: {e}")),
        }
        report
    }

    /// How long the last ruleset write took, once (`None` when nothing was written since).
    pub fn take_apply_time(&mut self) -> Option<Duration> {
        self.apply_time.take()
    }

    fn failed(&mut self, report: &mut Report, error: String) {
        self.compiled_from = None;
        report.issue(Object::Host, format!("applying the ruleset: {error}"));
        Arc::make_mut(&mut self.gate).failure = Some(error);
    }

    fn bridge_sysctls(&self, report: &mut Report) {
        let dir = &self.cfg.bridge_sysctl_dir;
        if !dir.is_dir() {
            report.issue(
                Object::Host,
                format!(
                    "{} is missing (br_netfilter not loaded): security groups do not filter bridged IP, \
                 only anti-spoofing applies",
                    dir.display()
                ),
            );
            return;
        }
        for name in BRIDGE_SYSCTLS {
            let path = dir.join(name);
            if std::fs::read_to_string(&path).is_ok_and(|v| v.trim() == "1") {
                continue;
            }
            match std::fs::write(&path, "1\n") {
                Ok(()) => report.change(format!("sysctl net.bridge.{name}=1")),
                Err(e) => report.issue(Object::Host, format!("writing {}: {e}", path.display())),
            }
        }
    }
}

/// SHA-256 of everything [`compile_host`] reads: equal digests compile to the same document.
fn inputs_digest(state: &HostState, devices: &HostDevices) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let inputs = (
        &state.port_security,
        &state.security_groups,
        &state.group_members,
        &state.address_groups,
        &devices.bridges,
        &devices.service_ports,
        &devices.previous_zones,
        &devices.hybrid_bridges,
    );
    Sha256::digest(serde_json::to_vec(&inputs).unwrap_or_default()).into()
}

fn chain(e: &dyn std::error::Error) -> String {
    crate::error_chain(e)
}
