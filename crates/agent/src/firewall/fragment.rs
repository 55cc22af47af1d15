//! A filtered port's own chains and rules (bridge `to-tap…`/`from-tap…`, inet
//! `egress-tap…`/`ingress-tap…`), compiled once and reused while the port's inputs stay the
//! same: at a thousand ports, recompiling every port on every pass cost more than the change.
//!
//! The reuse is keyed by everything the fragment is made of (the port's addresses, MACs,
//! pairs and groups, its index and device, whether it is stateful, which group chains it
//! jumps to), so a cached fragment is byte-identical to a fresh one: compiling with or
//! without the cache gives the same document.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use nftables::expr::MetaKey;
use nftables::types::NfFamily;

use super::compile::{
    add_rule, baseline_chain, egress_chain, from_chain, group_egress_chain, group_ingress_chain, ingress_chain,
    to_chain, Filtered, EGRESS_MASK, EGRESS_SHIFT, TABLE,
};
use super::doc::Command;
use super::nft::{self, accept, and, ct_state, drop, eq, has, jump, meta, n, ret, s, set_mark};
use super::rules::Direction;
use super::spoof::{allowed, from_port_rules};
use super::CompileIssue;

/// One port's compiled commands.
#[derive(Debug)]
pub(crate) struct PortFragment {
    pub bridge_chains: Vec<Arc<Command>>,
    pub bridge_rules: Vec<Arc<Command>>,
    pub inet_chains: Vec<Arc<Command>>,
    pub inet_rules: Vec<Arc<Command>>,
    pub issues: Vec<CompileIssue>,
}

/// The ports compiled by the last pass, by their inputs (only those still present are kept).
#[derive(Debug, Default)]
pub struct PortCache {
    ports: HashMap<String, Arc<PortFragment>>,
}

impl PortCache {
    /// The fragment of `p`: the last pass's when its inputs are the same, else compiled now.
    /// `next` collects what the next pass may reuse.
    pub(crate) fn fragment(
        &mut self,
        next: &mut HashMap<String, Arc<PortFragment>>,
        p: &Filtered<'_>,
        group_chains: &BTreeSet<String>,
    ) -> Arc<PortFragment> {
        let key = key(p, group_chains);
        let fragment = match self.ports.remove(&key).or_else(|| next.get(&key).cloned()) {
            Some(f) => f,
            None => Arc::new(compile_port(p, group_chains)),
        };
        next.insert(key, Arc::clone(&fragment));
        fragment
    }

    /// Keeps only what this pass used.
    pub(crate) fn keep(&mut self, next: HashMap<String, Arc<PortFragment>>) {
        self.ports = next;
    }
}

/// Everything a port's fragment depends on.
fn key(p: &Filtered<'_>, group_chains: &BTreeSet<String>) -> String {
    let port = serde_json::to_string(p.port).unwrap_or_default();
    let mut key = format!("{port}|{}|{}|{}", p.tap, p.index, p.stateful);
    for g in &p.groups {
        for chain in [group_egress_chain(&g.id), group_ingress_chain(&g.id)] {
            if group_chains.contains(&chain) {
                key.push('|');
                key.push_str(&chain);
            }
        }
    }
    key
}

/// Compiles one filtered port.
fn compile_port(p: &Filtered<'_>, group_chains: &BTreeSet<String>) -> PortFragment {
    let mut issues = Vec::new();
    let typed = |objects: Vec<nftables::schema::NfObject<'static>>| objects.into_iter().map(Command::typed).collect();
    let bridge = NfFamily::Bridge;
    let bridge_chains = vec![
        nft::add(nft::chain(bridge, TABLE, &to_chain(&p.tap))),
        nft::add(nft::chain(bridge, TABLE, &from_chain(&p.tap))),
    ];
    let ingress = u32::from(p.index);
    let mut bridge_rules =
        vec![add_rule(bridge, &to_chain(&p.tap), vec![set_mark(nft::or(meta(MetaKey::Mark), n(ingress)))])];
    let allowed = allowed(p.port, &mut issues);
    for rule in from_port_rules(&allowed, ingress << EGRESS_SHIFT) {
        bridge_rules.push(add_rule(bridge, &from_chain(&p.tap), rule));
    }
    let (mut inet_chains, mut inet_rules) = (Vec::new(), Vec::new());
    for direction in [Direction::Egress, Direction::Ingress] {
        let chain = match direction {
            Direction::Egress => egress_chain(&p.tap),
            Direction::Ingress => ingress_chain(&p.tap),
        };
        inet_chains.push(nft::add(nft::chain(NfFamily::INet, TABLE, &chain)));
        for stmts in port_chain_body(p, direction, group_chains) {
            inet_rules.push(add_rule(NfFamily::INet, &chain, stmts));
        }
    }
    PortFragment {
        bridge_chains: typed(bridge_chains),
        bridge_rules: typed(bridge_rules),
        inet_chains: typed(inet_chains),
        inet_rules: typed(inet_rules),
        issues,
    }
}

/// The rules of a port's chain in one direction: conntrack (stateful groups), a jump to the
/// baseline's chain and to each of its groups' chains, default deny.
fn port_chain_body(p: &Filtered<'_>, direction: Direction, group_chains: &BTreeSet<String>) -> Vec<Vec<nft::Stmt>> {
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
    // Default deny: a port with chains is never unfiltered.
    body.push(vec![drop()]);
    body
}
