//! Profiles and ports. A *profile* is what a port's filtering chains are made of that is not
//! the port's own data: its security groups and whether it is stateful. Every port of a
//! profile shares its four chains (bridge `to-p…`/`from-p…`, inet `egress-p…`/`ingress-p…`,
//! named by the profile's 16-bit index); a port itself is only elements: one in each port
//! map (`to-ports`, `from-ports`: device → the profile's chain) and its addresses in the
//! anti-spoofing sets (`spoof`, `nd`). So nft's cache, which holds every chain and set of
//! the namespace but no element, no longer grows with the ports, and a port coming or going
//! is element adds and deletes.
//!
//! A port's elements are compiled once and reused while its inputs stay the same (the
//! port's addresses, MACs, pairs, device and profile index): at a thousand ports,
//! recompiling every port on every pass cost more than the change.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use nftables::expr::MetaKey;
use nftables::types::NfFamily;
use serde_json::json;

use neutrino_agent_api::{PortSecurity, SecurityGroupState};

use super::compile::{
    add_rule, baseline_chain, group_egress_chain, group_ingress_chain, Filtered, EGRESS_MASK, EGRESS_SHIFT, TABLE,
};
use super::doc::Command;
use super::maps::{FROM_PORTS, TO_PORTS};
use super::nft::{self, accept, and, ct_state, drop, eq, has, jump, meta, n, or, ret, s, set_mark};
use super::rules::Direction;
use super::spoof::{allowed, port_elements, SPOOF};
use super::CompileIssue;

/// A profile's chain names, by its index (what `meta mark` carries).
pub(crate) fn to_chain(index: u16) -> String {
    format!("to-p{index:04x}")
}
pub(crate) fn from_chain(index: u16) -> String {
    format!("from-p{index:04x}")
}
pub(crate) fn egress_chain(index: u16) -> String {
    format!("egress-p{index:04x}")
}
pub(crate) fn ingress_chain(index: u16) -> String {
    format!("ingress-p{index:04x}")
}

/// What makes a profile: ports with the same key share their chains.
pub(crate) fn profile_key(stateful: bool, groups: &[&SecurityGroupState]) -> String {
    let ids: Vec<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    format!("{}|{}", if stateful { "stateful" } else { "stateless" }, ids.join(","))
}

/// One profile's commands.
#[derive(Debug, Default)]
pub(crate) struct ProfileChains {
    pub bridge_chains: Vec<Arc<Command>>,
    pub bridge_rules: Vec<Arc<Command>>,
    pub inet_chains: Vec<Arc<Command>>,
    pub inet_rules: Vec<Arc<Command>>,
}

/// The chains of the profile of `p` (any port of it).
pub(crate) fn compile_profile(p: &Filtered<'_>, group_chains: &BTreeSet<String>) -> ProfileChains {
    let typed = |objects: Vec<nftables::schema::NfObject<'static>>| objects.into_iter().map(Command::typed).collect();
    let bridge = NfFamily::Bridge;
    let (to, from) = (to_chain(p.index), from_chain(p.index));
    let bridge_chains = vec![nft::add(nft::chain(bridge, TABLE, &to)), nft::add(nft::chain(bridge, TABLE, &from))];
    let ingress = u32::from(p.index);
    let bridge_rules = vec![
        add_rule(bridge, &to, vec![set_mark(or(meta(MetaKey::Mark), n(ingress)))]),
        // The mark first: the anti-spoofing verdicts are accept or drop, and inet needs it
        // on what passes.
        add_rule(bridge, &from, vec![set_mark(or(and(meta(MetaKey::Mark), n(0xffff)), n(ingress << EGRESS_SHIFT)))]),
        add_rule(bridge, &from, vec![jump(SPOOF)]),
    ];
    let (mut inet_chains, mut inet_rules) = (Vec::new(), Vec::new());
    for direction in [Direction::Egress, Direction::Ingress] {
        let chain = match direction {
            Direction::Egress => egress_chain(p.index),
            Direction::Ingress => ingress_chain(p.index),
        };
        inet_chains.push(nft::add(nft::chain(NfFamily::INet, TABLE, &chain)));
        for stmts in profile_chain_body(p, direction, group_chains) {
            inet_rules.push(add_rule(NfFamily::INet, &chain, stmts));
        }
    }
    ProfileChains {
        bridge_chains: typed(bridge_chains),
        bridge_rules: typed(bridge_rules),
        inet_chains: typed(inet_chains),
        inet_rules: typed(inet_rules),
    }
}

/// The rules of a profile's chain in one direction: conntrack (stateful groups), a jump to
/// the baseline's chain and to each of its groups' chains, default deny.
fn profile_chain_body(p: &Filtered<'_>, direction: Direction, group_chains: &BTreeSet<String>) -> Vec<Vec<nft::Stmt>> {
    // A permitted egress packet returns to the base chain, where the destination port's
    // ingress chain (if any) still has its say.
    let verdict = match direction {
        Direction::Egress => ret(),
        Direction::Ingress => accept(),
    };
    let mut body: Vec<Vec<nft::Stmt>> = Vec::new();
    if p.stateful {
        body.push(vec![has(ct_state(), nft::Expression::List(vec![s("invalid")])), drop()]);
        // Established egress returns too: a stateless destination must still see
        // it in its ingress chain (a stateful one accepts it there at once).
        body.push(vec![has(ct_state(), nft::Expression::List(vec![s("established"), s("related")])), verdict]);
    }
    // The baseline (DHCP, ND, MLD), shared by every port: its egress rules clear the egress
    // index like a group's, so the check below returns what it permits.
    body.push(vec![jump(baseline_chain(direction))]);
    for g in &p.groups {
        let target = match direction {
            Direction::Egress => group_egress_chain(&g.id),
            Direction::Ingress => group_ingress_chain(&g.id),
        };
        if group_chains.contains(&target) {
            body.push(vec![jump(&target)]);
        }
    }
    if direction == Direction::Egress {
        // The baseline or a group permitted it: its egress index is gone.
        body.push(vec![eq(and(meta(MetaKey::Mark), n(EGRESS_MASK)), n(0)), ret()]);
    }
    // Default deny: a port with a profile is never unfiltered.
    body.push(vec![drop()]);
    body
}

/// One port's elements: (set or map name, element JSON).
#[derive(Debug)]
pub(crate) struct PortElements {
    pub elems: Vec<(&'static str, String)>,
    pub issues: Vec<CompileIssue>,
}

/// The ports compiled by the last pass, by port id, with the inputs they were compiled
/// from (only those still present are kept); and the remote sets, by name.
#[derive(Debug, Default)]
pub struct PortCache {
    ports: HashMap<String, (PortSecurity, u16, Arc<PortElements>)>,
    pub(crate) sets: HashMap<String, (Vec<String>, Arc<Command>)>,
}

impl PortCache {
    /// The elements of `p`: the last pass's when its inputs are the same (the port's
    /// filtering, which gives its device, and its profile index), else compiled now.
    /// `next` collects what the next pass may reuse.
    pub(crate) fn port(
        &mut self,
        next: &mut HashMap<String, (PortSecurity, u16, Arc<PortElements>)>,
        p: &Filtered<'_>,
    ) -> Arc<PortElements> {
        let id = &p.port.port_id;
        let compiled = match self.ports.remove(id) {
            Some((port, index, c)) if port == *p.port && index == p.index => c,
            _ => Arc::new(compile_port(p)),
        };
        next.insert(id.clone(), (p.port.clone(), p.index, Arc::clone(&compiled)));
        compiled
    }

    /// Keeps only what this pass used.
    pub(crate) fn keep(&mut self, next: HashMap<String, (PortSecurity, u16, Arc<PortElements>)>) {
        self.ports = next;
    }
}

/// Compiles one filtered port: its profile's chains in the port maps, its sources in the
/// anti-spoofing sets.
fn compile_port(p: &Filtered<'_>) -> PortElements {
    let mut issues = Vec::new();
    let jump_to = |chain: String| json!([p.tap, {"jump": {"target": chain}}]).to_string();
    let mut elems = vec![(TO_PORTS, jump_to(to_chain(p.index))), (FROM_PORTS, jump_to(from_chain(p.index)))];
    let allowed = allowed(p.port, &mut issues);
    elems.extend(port_elements(&p.tap, &allowed));
    PortElements { elems, issues }
}
