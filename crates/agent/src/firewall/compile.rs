//! The compiler: the host's whole filtering state → one nftables JSON transaction.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use nftables::expr::MetaKey;
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde_json::Value;
use sha2::{Digest, Sha256};

use neutrino_agent_api::{bridge_name, tap_name, HostState, PortSecurity, SecurityGroupState};

use super::doc::{Command, Document};
use super::fragment::{compile_profile, egress_chain, ingress_chain, profile_key, PortCache};
use super::maps::{named_set, verdict_map, EGRESS_PORTS, FROM_PORTS, INGRESS_PORTS, KNOWN_TAPS, TO_PORTS};
use super::nft::{
    self, accept, and, drop, eq, map, meta, n, ne, payload, ret, s, set, set_ct_zone, set_mark, set_ref, vmap_ref,
};
use super::rules::{rule_matches, Direction, PROTO_ICMPV6, PROTO_UDP};
use super::sets::{remote_sets, RemoteSets, Remotes};
use super::spoof::{dad_rules, deny_servers_rules, spoof_rules, DAD, DENY_SERVERS, SPOOF, SPOOF_SETS};
use super::zones::assign_zones;
use super::CompileIssue;

/// The name of both tables the agent owns (`table bridge neutrino`, `table inet neutrino`).
pub const TABLE: &str = "neutrino";
/// The base chain of both tables.
pub const BASE_CHAIN: &str = "forward";
/// Bridge-family forward hook priority: before br_netfilter (0) hands IP to inet.
pub const BRIDGE_PRIORITY: i32 = -200;
/// Inet-family forward hook priority (`filter`).
pub const INET_PRIORITY: i32 = 0;
/// The chain whose only rule carries the fingerprint, in [`FINGERPRINT_TABLE`].
pub const FINGERPRINT_CHAIN: &str = "fingerprint";
/// A bridge-family table holding only [`FINGERPRINT_CHAIN`].
pub const FINGERPRINT_TABLE: &str = "neutrino-fingerprint";

/// An inet-family table holding only [`ZONE_CHAIN`]: small, so a restarted agent reads the
/// zones in use back cheaply.
pub const ZONES_TABLE: &str = "neutrino-zones";
/// The prerouting chain giving bridged IP its network's conntrack zone.
pub const ZONE_CHAIN: &str = "zone";
/// Prerouting at `raw` priority: before conntrack (-200) looks the packet up.
pub const ZONE_PRIORITY: i32 = -300;

/// Prefix of the comment carrying the fingerprint of the applied document.
pub const FINGERPRINT_PREFIX: &str = "neutrino-ruleset sha256:";

/// Bits of `meta mark` holding the destination's profile index; the source's is above them.
pub(crate) const INGRESS_MASK: u32 = 0xffff;
pub(crate) const EGRESS_MASK: u32 = 0xffff_0000;
pub(crate) const EGRESS_SHIFT: u32 = 16;

/// The compiled ruleset.
#[derive(Debug, Clone, PartialEq)]
pub struct Compiled {
    /// One transaction: the agent's tables deleted and defined again.
    pub ruleset: Document,
    /// SHA-256 (hex) of the ruleset before the fingerprint comment was added.
    pub fingerprint: String,
    /// Profile index → what the profile is (its groups, stateful or not): the mark of a
    /// port is its profile's index (ingress) and index << 16 (egress).
    pub marks: BTreeMap<u16, String>,
    /// How many ports are filtered.
    pub filtered: usize,
    /// What was left out or locked down, naming the port or rule.
    pub issues: Vec<CompileIssue>,
    /// Conntrack zone of each bridge (network) of the host.
    pub zones: BTreeMap<String, u16>,
    /// Ports whose device the ruleset knows (filtered, or port security off): every other
    /// `tap*` device is dropped, so only these may be wired.
    pub known_ports: BTreeSet<String>,
}

/// What the compiler needs of the host besides its ports' filtering.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostDevices {
    /// The bridges of the host's networks: one conntrack zone each.
    pub bridges: BTreeSet<String>,
    /// The service ports the agent plugs itself (DHCP, routers): known to the ruleset
    /// (forwarded) without a filter, unless the server sent a filter for them.
    pub service_ports: BTreeSet<String>,
    /// Zones already in use (the kernel's, or the last compiled): kept for bridges still
    /// here, so a network's connections never move to another zone.
    pub previous_zones: BTreeMap<String, u16>,
    /// With Open vSwitch's hybrid plug, each port's own Linux bridge (`qbr…`) and the
    /// network bridge name whose zone it takes ([`HostDevices::with_hybrid_plug`]); `None`
    /// on a host without it.
    pub hybrid_bridges: Option<BTreeMap<String, String>>,
}

impl HostDevices {
    /// The bridges and service devices of `state` (zones: none known yet).
    pub fn of(state: &HostState) -> Self {
        let bridges = state.networks.iter().map(|n| bridge_name(&n.id)).collect();
        let dhcp = state.dhcp.iter().map(|d| d.port.id.clone());
        let routers = state
            .routers
            .iter()
            .flat_map(|r| r.interfaces.iter().chain(r.gateway.as_ref().map(|g| &g.port)).map(|p| p.port_id.clone()));
        HostDevices {
            bridges,
            service_ports: dhcp.chain(routers).collect(),
            previous_zones: BTreeMap::new(),
            hybrid_bridges: None,
        }
    }

    /// The same on a host whose VMs are plugged through a `qbr…` bridge each (os-vif's
    /// hybrid plug): every port's bridge zoned as its network, so two tenants with the same
    /// addresses on one Open vSwitch host never share a conntrack entry.
    pub fn with_hybrid_plug(self, state: &HostState) -> Self {
        let hybrid_bridges =
            state.ports.iter().map(|p| (hybrid_bridge_name(&p.id), bridge_name(&p.network_id))).collect();
        HostDevices { hybrid_bridges: Some(hybrid_bridges), ..self }
    }
}

/// Prefix of os-vif's per-port Linux bridge of the hybrid plug.
pub const HYBRID_BRIDGE_PREFIX: &str = "qbr";

/// `qbr<port-id[:11]>`: os-vif's name for a port's hybrid-plug bridge.
pub fn hybrid_bridge_name(port_id: &str) -> String {
    format!("{HYBRID_BRIDGE_PREFIX}{}", port_id.get(..11).unwrap_or(port_id))
}

impl HostDevices {}

impl Compiled {
    /// The document as `nft -j -f -` takes it.
    pub fn to_json(&self) -> String {
        self.ruleset.to_json()
    }
}

/// A filtered port.
pub(crate) struct Filtered<'a> {
    pub port: &'a PortSecurity,
    pub tap: String,
    /// Its profile's index (see `fragment`).
    pub index: u16,
    pub groups: Vec<&'a SecurityGroupState>,
    pub stateful: bool,
}

/// A security group's shared chains (names up to 255 bytes: a UUID gives 42).
pub(crate) fn group_egress_chain(group: &str) -> String {
    format!("sg-out-{group}")
}
pub(crate) fn group_ingress_chain(group: &str) -> String {
    format!("sg-in-{group}")
}

/// The shared chain of the baseline every filtered port jumps to, per direction.
pub(crate) fn baseline_chain(direction: Direction) -> &'static str {
    match direction {
        Direction::Egress => "baseline-out",
        Direction::Ingress => "baseline-in",
    }
}

/// Profile indexes: the first 16 bits of SHA-256(profile key), probing upwards on
/// collision, in key order, never 0. Stable across restarts and across other profiles
/// coming and going (unless they collide), so an unrelated change leaves a profile's
/// chains and its ports' elements unchanged.
fn assign_indexes(ids: &[&str]) -> Result<BTreeMap<String, u16>, String> {
    let mut used = HashSet::new();
    let mut out = BTreeMap::new();
    for id in ids {
        let digest = Sha256::digest(id.as_bytes());
        let mut index = u16::from_be_bytes([digest[0], digest[1]]);
        let mut probes = 0u32;
        while index == 0 || used.contains(&index) {
            index = index.wrapping_add(1);
            probes += 1;
            if probes > u32::from(u16::MAX) {
                return Err((*id).to_owned());
            }
        }
        used.insert(index);
        out.insert((*id).to_owned(), index);
    }
    Ok(out)
}

/// Ids of the ports with port security on.
fn by_id_filtered(port_security: &[PortSecurity]) -> BTreeSet<&str> {
    port_security.iter().filter(|p| p.port_security_enabled).map(|p| p.port_id.as_str()).collect()
}

/// [`compile_host`] without bridges, service devices or address groups (the filter tables
/// alone).
pub fn compile(
    port_security: &[PortSecurity],
    security_groups: &[SecurityGroupState],
    group_members: &BTreeMap<String, Vec<String>>,
) -> Compiled {
    let remotes = Remotes { group_members, ..Remotes::default() };
    compile_host(port_security, security_groups, &remotes, &HostDevices::default())
}

/// Compiles the host's filtering into one transaction replacing the agent's tables.
///
/// Pure and deterministic: ports, groups and rules are taken in id order whatever the input
/// order, so the same state gives byte-identical JSON.
pub fn compile_host(
    port_security: &[PortSecurity],
    security_groups: &[SecurityGroupState],
    remotes: &Remotes<'_>,
    devices: &HostDevices,
) -> Compiled {
    compile_host_cached(port_security, security_groups, remotes, devices, &mut PortCache::default())
}

/// [`compile_host`], reusing the ports `cache` holds from the last pass whose inputs are
/// unchanged (the same document, in a fraction of the time at a thousand ports).
pub fn compile_host_cached(
    port_security: &[PortSecurity],
    security_groups: &[SecurityGroupState],
    remotes: &Remotes<'_>,
    devices: &HostDevices,
    cache: &mut PortCache,
) -> Compiled {
    let mut issues = Vec::new();
    let (ports, taps) = filtered_ports(port_security, security_groups, &mut issues);

    // Devices the ruleset forwards: filtered ports, ports with port security off, and the
    // agent's own service ports. Any other tap is dropped.
    let mut known_taps: BTreeSet<String> = ports.iter().map(|p| p.tap.clone()).collect();
    let mut known_ports: BTreeSet<String> = ports.iter().map(|p| p.port.port_id.clone()).collect();
    let unfiltered = port_security.iter().filter(|p| !p.port_security_enabled).map(|p| p.port_id.as_str());
    let filtered: BTreeSet<&str> = by_id_filtered(port_security);
    let services = devices.service_ports.iter().map(String::as_str).filter(|id| !filtered.contains(id));
    for id in unfiltered.chain(services) {
        let tap = tap_name(id);
        // A filtered port of the same device name keeps it (and its filter).
        if !taps.contains_key(&tap) {
            known_taps.insert(tap);
            known_ports.insert(id.to_owned());
        }
    }
    let (zones, zoneless) = assign_zones(&devices.bridges, &devices.previous_zones);
    if let Some(bridge) = zoneless {
        issues.push(CompileIssue::Zones { bridge });
    }

    let mut sets = RemoteSets::new();
    let mut group_issues = Vec::new();
    let (group_chains, group_rules, group_names) = inet_groups(&ports, &mut sets, &mut group_issues);
    let mut next = HashMap::new();
    let elements: Vec<_> = ports.iter().map(|p| cache.port(&mut next, p)).collect();
    cache.keep(next);
    let mut profiles: BTreeMap<u16, &Filtered<'_>> = BTreeMap::new();
    for p in &ports {
        profiles.entry(p.index).or_insert(p);
    }
    let profile_chains: Vec<_> = profiles.values().map(|p| compile_profile(p, &group_names)).collect();
    issues.extend(elements.iter().flat_map(|e| e.issues.iter().cloned()));
    issues.extend(group_issues);
    // Keep the issues unique (a port may name a group twice in other inputs).
    let mut unique = Vec::new();
    for i in issues.drain(..) {
        if !unique.contains(&i) {
            unique.push(i);
        }
    }
    let issues = unique;
    // Every port's elements, by set or map.
    let mut by_set: HashMap<&str, Vec<String>> = HashMap::new();
    for (set, elem) in elements.iter().flat_map(|e| e.elems.iter()) {
        by_set.entry(set).or_default().push(elem.clone());
    }
    let mut take = |set: &str| by_set.remove(set).unwrap_or_default();

    let (mut commands, fingerprint_at) = tables();
    let (bridge_chains, bridge_rules) = bridge_base();
    commands.extend(bridge_chains);
    commands.extend(profile_chains.iter().flat_map(|f| f.bridge_chains.iter().cloned()));
    // The sets and maps after the chains their elements jump to, before the rules naming them.
    for (name, types, interval) in SPOOF_SETS {
        commands.push(named_set("bridge", name, types, interval, take(name)));
    }
    commands.push(verdict_map("bridge", TO_PORTS, "ifname", take(TO_PORTS)));
    commands.push(verdict_map("bridge", FROM_PORTS, "ifname", take(FROM_PORTS)));
    let known = known_taps.iter().map(|t| Value::from(t.as_str()).to_string()).collect();
    commands.push(named_set("bridge", KNOWN_TAPS, &["ifname"], false, known));
    commands.extend(bridge_rules);
    commands.extend(profile_chains.iter().flat_map(|f| f.bridge_rules.iter().cloned()));
    commands.extend(remote_sets(&sets, remotes, &mut cache.sets));
    commands.extend(group_chains.into_iter().map(Command::typed));
    commands.extend(profile_chains.iter().flat_map(|f| f.inet_chains.iter().cloned()));
    let jump = |key: u32, chain: String| serde_json::json!([key, {"jump": {"target": chain}}]).to_string();
    let egress = profiles.keys().map(|i| jump(u32::from(*i) << EGRESS_SHIFT, egress_chain(*i))).collect();
    commands.push(verdict_map("inet", EGRESS_PORTS, "mark", egress));
    let ingress = profiles.keys().map(|i| jump(u32::from(*i), ingress_chain(*i))).collect();
    commands.push(verdict_map("inet", INGRESS_PORTS, "mark", ingress));
    commands.extend(group_rules.into_iter().map(Command::typed));
    commands.extend(profile_chains.iter().flat_map(|f| f.inet_rules.iter().cloned()));
    let hybrid: Option<BTreeMap<String, u16>> = devices.hybrid_bridges.as_ref().map(|bridges| {
        bridges.iter().filter_map(|(qbr, bridge)| zones.get(bridge).map(|zone| (qbr.clone(), *zone))).collect()
    });
    commands.extend(zone_table(&zones, hybrid.as_ref()).into_iter().map(Command::typed));
    commands.extend(super::nd::commands(take(super::nd::ND_TARGETS)));

    let mut ruleset = Document { commands };
    let fingerprint = ruleset.sha256();
    stamp(&mut ruleset, fingerprint_at, &fingerprint);
    let marks = profiles.iter().map(|(i, p)| (*i, profile_key(p.stateful, &p.groups))).collect();
    Compiled { ruleset, fingerprint, marks, filtered: ports.len(), issues, zones, known_ports }
}

/// The tables (emptied) and the fingerprint chain; where the fingerprint's rule is.
fn tables() -> (Vec<Arc<Command>>, usize) {
    let mut objects = Vec::new();
    for family in [NfFamily::Bridge, NfFamily::INet] {
        // add + delete + add: the table exists whatever the kernel had, then is emptied of
        // chains, sets and rules of ports gone, all in the same transaction.
        objects.push(nft::add(nft::table(family, TABLE)));
        objects.push(NfObject::CmdObject(NfCmd::Delete(nft::table(family, TABLE))));
        objects.push(nft::add(nft::table(family, TABLE)));
    }
    // The fingerprint lives in a chain of its own that nothing jumps to, so an incremental
    // change rewrites that one-rule chain, not the bridge base chain and its port maps.
    // In a table of its own too: listing that tiny table is cheap where listing the main
    // tables means nft loading thousands of rules (what a restarted agent checks first).
    objects.push(nft::add(nft::table(NfFamily::Bridge, FINGERPRINT_TABLE)));
    objects.push(NfObject::CmdObject(NfCmd::Delete(nft::table(NfFamily::Bridge, FINGERPRINT_TABLE))));
    objects.push(nft::add(nft::table(NfFamily::Bridge, FINGERPRINT_TABLE)));
    objects.push(nft::add(nft::chain(NfFamily::Bridge, FINGERPRINT_TABLE, FINGERPRINT_CHAIN)));
    let fingerprint_at = objects.len();
    objects.push(nft::add(nft::rule(NfFamily::Bridge, FINGERPRINT_TABLE, FINGERPRINT_CHAIN, vec![nft::ret()])));
    (objects.into_iter().map(Command::typed).collect(), fingerprint_at)
}

/// The filtered ports, in id order, with their profile index, and the device name of each
/// (the first of two ports sharing a device name wins; when the profiles outnumber the
/// 16-bit indexes, no port is filtered, so none is wired: reported).
fn filtered_ports<'a>(
    port_security: &'a [PortSecurity],
    security_groups: &'a [SecurityGroupState],
    issues: &mut Vec<CompileIssue>,
) -> (Vec<Filtered<'a>>, BTreeMap<String, &'a str>) {
    let groups: BTreeMap<&str, &SecurityGroupState> = security_groups.iter().map(|g| (g.id.as_str(), g)).collect();

    // Ports with port security, by id; the first of two ports sharing a device name wins.
    let mut by_id: BTreeMap<&str, &PortSecurity> = BTreeMap::new();
    for p in port_security.iter().filter(|p| p.port_security_enabled) {
        by_id.entry(p.port_id.as_str()).or_insert(p);
    }
    let mut taps: BTreeMap<String, &str> = BTreeMap::new();
    let mut kept = Vec::new();
    for (id, p) in by_id {
        let tap = tap_name(id);
        if let Some(other) = taps.get(&tap) {
            issues.push(CompileIssue::TapClash { port: id.to_owned(), tap, other: (*other).to_owned() });
            continue;
        }
        taps.insert(tap, id);
        kept.push(p);
    }
    let mut ports = Vec::new();
    for p in kept {
        let mut port_groups = Vec::new();
        for gid in p.security_group_ids.iter().collect::<BTreeSet<_>>() {
            match groups.get(gid.as_str()) {
                Some(g) => port_groups.push(*g),
                None => issues.push(CompileIssue::UnknownGroup { port: p.port_id.clone(), group: gid.clone() }),
            }
        }
        // Neutron forbids mixing; if it happens anyway, stateful wins (the port's own
        // stateless rules still apply, conntrack only adds returning traffic).
        let stateful = port_groups.is_empty() || port_groups.iter().any(|g| g.stateful);
        ports.push(Filtered { port: p, tap: tap_name(&p.port_id), index: 0, groups: port_groups, stateful });
    }
    let keys: Vec<String> = ports.iter().map(|p| profile_key(p.stateful, &p.groups)).collect();
    let unique: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
    match assign_indexes(&unique.into_iter().collect::<Vec<_>>()) {
        Ok(indexes) => {
            for (p, key) in ports.iter_mut().zip(&keys) {
                p.index = indexes.get(key).copied().unwrap_or_default();
            }
        }
        Err(key) => {
            let port = keys.iter().position(|k| *k == key).map(|i| ports[i].port.port_id.clone());
            issues.push(CompileIssue::Marks { port: port.unwrap_or_default() });
            ports.clear();
        }
    }
    (ports, taps)
}

/// `table inet neutrino-zones`: bridged IP (which br_netfilter hands to the inet hooks with
/// the bridge as `iifname`) gets its bridge's conntrack zone before conntrack sees it, so
/// two networks with the same addresses never share an entry. IP on a `brq*` bridge without
/// a zone is dropped: fail closed rather than share zone 0. So is IP on a hybrid plug's
/// `qbr*` bridge without one (`hybrid`, on such a host: each port's bridge with its
/// network's zone).
fn zone_table(zones: &BTreeMap<String, u16>, hybrid: Option<&BTreeMap<String, u16>>) -> Vec<NfObject<'static>> {
    let family = NfFamily::INet;
    let mut out = vec![
        nft::add(nft::table(family, ZONES_TABLE)),
        NfObject::CmdObject(NfCmd::Delete(nft::table(family, ZONES_TABLE))),
        nft::add(nft::table(family, ZONES_TABLE)),
        nft::add(hook_chain(family, ZONES_TABLE, ZONE_CHAIN, NfHook::Prerouting, ZONE_PRIORITY)),
    ];
    let all: BTreeMap<&String, &u16> = zones.iter().chain(hybrid.into_iter().flatten()).collect();
    if !all.is_empty() {
        let pairs = all.iter().map(|(bridge, zone)| (s((*bridge).clone()), n(u32::from(**zone)))).collect();
        out.push(nft::add(nft::rule(
            family,
            ZONES_TABLE,
            ZONE_CHAIN,
            vec![set_ct_zone(map(meta(MetaKey::Iifname), pairs))],
        )));
    }
    let prefixes = [(crate::l2::reconcile::BRIDGE_PREFIX, Some(zones)), (HYBRID_BRIDGE_PREFIX, hybrid)];
    for (prefix, zoned) in prefixes.into_iter().filter_map(|(p, z)| z.map(|z| (p, z))) {
        let mut unzoned = vec![eq(meta(MetaKey::Iifname), s(format!("{prefix}*")))];
        if !zoned.is_empty() {
            unzoned.push(ne(meta(MetaKey::Iifname), set(zoned.keys().map(|b| s(b.clone())).collect())));
        }
        unzoned.push(drop());
        out.push(nft::add(nft::rule(family, ZONES_TABLE, ZONE_CHAIN, unzoned)));
    }
    out
}

/// Puts the fingerprint in the comment of the fingerprint chain's rule, so a restarted
/// agent can tell its own ruleset in the kernel.
fn stamp(ruleset: &mut Document, at: usize, fingerprint: &str) {
    let Some(rule) = ruleset.commands.get_mut(at) else { return };
    let mut value: Value = serde_json::from_str(&rule.text).unwrap_or_default();
    if let Some(body) = value.get_mut("add").and_then(|a| a.get_mut("rule")) {
        body["comment"] = Value::String(format!("{FINGERPRINT_PREFIX}{fingerprint}"));
    }
    *rule = Command::of(value);
}

fn base_chain(family: NfFamily, priority: i32) -> NfListObject<'static> {
    hook_chain(family, TABLE, BASE_CHAIN, NfHook::Forward, priority)
}

fn hook_chain(family: NfFamily, table: &str, name: &str, hook: NfHook, priority: i32) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family,
        table: Cow::Owned(table.to_owned()),
        name: Cow::Owned(name.to_owned()),
        _type: Some(NfChainType::Filter),
        hook: Some(hook),
        prio: Some(priority),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    })
}

pub(crate) fn add_rule(family: NfFamily, chain: &str, expr: Vec<nft::Stmt>) -> NfObject<'static> {
    nft::add(nft::rule(family, TABLE, chain, expr))
}

/// `table bridge neutrino`'s base chain and its rules (the profiles' chains: `fragment`; its
/// maps and sets: [`compile_host_cached`]): clear the mark of frames to or from a tap, dispatch to the port
/// chains, and drop frames to or from a tap the ruleset does not know (a device the agent
/// has no port for, or whose filter it could not apply, is never forwarded unfiltered).
fn bridge_base() -> (Vec<Arc<Command>>, Vec<Arc<Command>>) {
    let family = NfFamily::Bridge;
    let mut out = vec![
        add_rule(family, BASE_CHAIN, vec![eq(meta(MetaKey::Iifname), s("tap*")), set_mark(n(0))]),
        add_rule(family, BASE_CHAIN, vec![eq(meta(MetaKey::Oifname), s("tap*")), set_mark(n(0))]),
        // To-port first: the from-port chain (anti-spoofing) ends in accept or drop.
        add_rule(family, BASE_CHAIN, vec![vmap_ref(meta(MetaKey::Oifname), TO_PORTS)]),
        add_rule(family, BASE_CHAIN, vec![vmap_ref(meta(MetaKey::Iifname), FROM_PORTS)]),
    ];
    // Frames from filtered ports got their verdict above; what is left from or to a tap must
    // be a known one (none known: every tap is dropped).
    for key in [MetaKey::Iifname, MetaKey::Oifname] {
        let unknown = vec![eq(meta(key), s("tap*")), ne(meta(key), set_ref(KNOWN_TAPS)), drop()];
        out.push(add_rule(family, BASE_CHAIN, unknown));
    }
    let mut chains = vec![nft::add(base_chain(family, BRIDGE_PRIORITY))];
    for (chain, rules) in [(DENY_SERVERS, deny_servers_rules()), (DAD, dad_rules()), (SPOOF, spoof_rules())] {
        chains.push(nft::add(nft::chain(family, TABLE, chain)));
        out.extend(rules.into_iter().map(|r| add_rule(family, chain, r)));
    }
    (chains.into_iter().map(Command::typed).collect(), out.into_iter().map(Command::typed).collect())
}

/// `table inet neutrino`'s base chain and the groups' shared chains, with their rules (its
/// sets come from `sets`; the profiles' chains: `fragment`).
///
/// Each group used by a filtered port is compiled once per direction into a shared chain
/// (`sg-in-<group>`, `sg-out-<group>`; none when the group has no rule in that direction),
/// and each profile chain jumps to its groups' chains in group-id order. Ingress group rules
/// `accept`. Egress group rules cannot accept (the destination's ingress chain must still
/// decide) nor `return` alone (that would only come back to the profile chain, which ends in
/// `drop`): they clear the egress index from `meta mark` and return; after its jumps the
/// profile chain returns when that index is gone, else drops. The egress index is never 0 and
/// the ingress dispatch only reads the low 16 bits, so the 16/16 mark layout is unchanged.
fn inet_groups(
    ports: &[Filtered<'_>],
    sets: &mut RemoteSets,
    issues: &mut Vec<CompileIssue>,
) -> (Vec<NfObject<'static>>, Vec<NfObject<'static>>, BTreeSet<String>) {
    let family = NfFamily::INet;
    let mut out = InetChains { chains: vec![nft::add(base_chain(family, INET_PRIORITY))], rules: Vec::new() };
    out.rule(BASE_CHAIN, vec![vmap_ref(and(meta(MetaKey::Mark), n(EGRESS_MASK)), EGRESS_PORTS)]);
    out.rule(BASE_CHAIN, vec![vmap_ref(and(meta(MetaKey::Mark), n(INGRESS_MASK)), INGRESS_PORTS)]);
    // The baseline, once per direction; an egress rule permits as a group's does.
    for direction in [Direction::Egress, Direction::Ingress] {
        out.chain(baseline_chain(direction));
        for mut stmts in baseline(direction) {
            match direction {
                Direction::Egress => stmts.extend([set_mark(and(meta(MetaKey::Mark), n(INGRESS_MASK))), ret()]),
                Direction::Ingress => stmts.push(accept()),
            }
            out.rule(baseline_chain(direction), stmts);
        }
    }
    let group_chains = out.groups(ports, sets, issues);
    (out.chains, out.rules, group_chains)
}

/// Baseline traffic every filtered port needs whatever its groups say (as Neutron's
/// drivers allow it): DHCP and DHCPv6 as a client, neighbour discovery and MLD.
fn baseline(direction: Direction) -> Vec<Vec<nft::Stmt>> {
    let udp = |v4: bool, sport: u32, dport: u32| {
        vec![
            eq(meta(MetaKey::Nfproto), s(if v4 { "ipv4" } else { "ipv6" })),
            eq(meta(MetaKey::L4proto), n(PROTO_UDP)),
            eq(payload("udp", "sport"), n(sport)),
            eq(payload("udp", "dport"), n(dport)),
        ]
    };
    // MLD query/report/done, router solicit (out) or advert (in), NS, NA, MLDv2 report.
    let icmpv6_types: &[u32] = match direction {
        Direction::Egress => &[130, 131, 132, 133, 135, 136, 143],
        Direction::Ingress => &[130, 131, 132, 134, 135, 136, 143],
    };
    let icmpv6 = vec![
        eq(meta(MetaKey::Nfproto), s("ipv6")),
        eq(meta(MetaKey::L4proto), n(PROTO_ICMPV6)),
        eq(payload("icmpv6", "type"), set(icmpv6_types.iter().map(|t| n(*t)).collect())),
    ];
    match direction {
        Direction::Egress => vec![udp(true, 68, 67), udp(false, 546, 547), icmpv6],
        Direction::Ingress => vec![udp(true, 67, 68), udp(false, 547, 546), icmpv6],
    }
}

/// The inet table's chains and rules as they are compiled (all chains first in the document).
struct InetChains {
    chains: Vec<NfObject<'static>>,
    rules: Vec<NfObject<'static>>,
}

impl InetChains {
    fn chain(&mut self, name: &str) {
        self.chains.push(nft::add(nft::chain(NfFamily::INet, TABLE, name)));
    }

    fn rule(&mut self, chain: &str, stmts: Vec<nft::Stmt>) {
        self.rules.push(add_rule(NfFamily::INet, chain, stmts));
    }

    /// The shared chains of the groups `ports` use, each compiled once per direction (none
    /// for a direction without rules); their names.
    fn groups(
        &mut self,
        ports: &[Filtered<'_>],
        sets: &mut RemoteSets,
        issues: &mut Vec<CompileIssue>,
    ) -> BTreeSet<String> {
        let used: BTreeMap<&str, &SecurityGroupState> =
            ports.iter().flat_map(|p| p.groups.iter().map(|g| (g.id.as_str(), *g))).collect();
        let mut group_chains = BTreeSet::new();
        for (id, g) in &used {
            for direction in [Direction::Egress, Direction::Ingress] {
                let (chain, wanted) = match direction {
                    Direction::Egress => (group_egress_chain(id), "egress"),
                    Direction::Ingress => (group_ingress_chain(id), "ingress"),
                };
                let mut group_rules: Vec<_> = g.rules.iter().filter(|r| r.direction == wanted).collect();
                group_rules.sort_by(|a, b| a.id.cmp(&b.id));
                let mut seen = Vec::new();
                for r in group_rules {
                    match rule_matches(r, direction, sets) {
                        Ok(m) if !seen.contains(&m) => seen.push(m),
                        Ok(_) => {}
                        Err(reason) => {
                            issues.push(CompileIssue::Rule { group: g.id.clone(), rule: r.id.clone(), reason })
                        }
                    }
                }
                if seen.is_empty() {
                    continue;
                }
                self.chain(&chain);
                for mut stmts in seen {
                    match direction {
                        Direction::Egress => stmts.extend([set_mark(and(meta(MetaKey::Mark), n(INGRESS_MASK))), ret()]),
                        Direction::Ingress => stmts.push(accept()),
                    }
                    self.rule(&chain, stmts);
                }
                group_chains.insert(chain);
            }
        }
        group_chains
    }
}
