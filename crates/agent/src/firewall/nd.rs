//! `table bridge neutrino-nd`: a filtered port's neighbour advertisements may only name as
//! their target one of the sending MAC's own IPv6 addresses (fixed IPs, allowed pairs,
//! EUI-64 link-local), as Neutron's OVS firewall matches `nd_target`: an NA for a
//! neighbour's address would take over its traffic in every cache that heard it.
//!
//! Why a table of its own: the target sits 64 bits into the ICMPv6 header, and nft 1.0.6 has
//! no name for it (`@th,64,128`, an integer). A named set keyed `iifname . ether saddr .
//! @th,64,128` can only be created with `typeof`, which nft's JSON input does not take; so
//! the set is created once by a text script ([`BOOTSTRAP`], idempotent), and the agent's
//! JSON documents never delete it: they flush it and fill it (a whole apply) or add and
//! delete its elements (a delta). Its chain runs after `table bridge neutrino`'s
//! (priority -199): an accept there does not skip it, its drop still applies. It only
//! looks at frames from filtered ports (the bridge table set their egress index in `meta
//! mark`, never 0). Empty (a fresh set): every filtered port's advertisements are dropped,
//! closed rather than open.

use std::borrow::Cow;
use std::sync::Arc;

use nftables::expr::MetaKey;
use nftables::schema::{Chain, NfListObject};
use nftables::types::{NfChainPolicy, NfChainType, NfFamily, NfHook};
use serde_json::json;

use super::compile::EGRESS_MASK;
use super::doc::{Command, Kind};
use super::nft::{self, and, concat, drop, eq, meta, n, ne, payload, s, set_ref, transport_bits};
use super::rules::PROTO_ICMPV6;

/// The table.
pub const ND_TABLE: &str = "neutrino-nd";
/// Its base chain.
pub(crate) const ND_CHAIN: &str = "nd";
/// The set of (device, MAC, target) a port may advertise.
pub(crate) const ND_TARGETS: &str = "nd-targets";
/// After `table bridge neutrino`'s forward chain (-200), before br_netfilter (0).
const ND_PRIORITY: i32 = -199;
/// ICMPv6 neighbour advertisement (RFC 4861).
const ICMPV6_NEIGHBOUR_ADVERT: u32 = 136;

/// Creates the table and the set when missing (`nft -f`, text: `typeof`); changes nothing
/// when they exist.
pub(crate) const BOOTSTRAP: &str = "add table bridge neutrino-nd\n\
add set bridge neutrino-nd nd-targets { typeof iifname . ether saddr . @th,64,128; flags interval; }\n";

/// The table's commands in the document: its chain and rule (replaced), the set's elements
/// (flushed and refilled; the set itself comes from [`BOOTSTRAP`]).
pub(crate) fn commands(elems: Vec<String>) -> Vec<Arc<Command>> {
    let family = NfFamily::Bridge;
    let chain = NfListObject::Chain(Chain {
        family,
        table: Cow::Borrowed(ND_TABLE),
        name: Cow::Borrowed(ND_CHAIN),
        _type: Some(NfChainType::Filter),
        hook: Some(NfHook::Forward),
        prio: Some(ND_PRIORITY),
        policy: Some(NfChainPolicy::Accept),
        ..Chain::default()
    });
    let rule = vec![
        eq(meta(MetaKey::Iifname), s("tap*")),
        ne(and(meta(MetaKey::Mark), n(EGRESS_MASK)), n(0)),
        eq(payload("ether", "type"), s("ip6")),
        eq(meta(MetaKey::L4proto), n(PROTO_ICMPV6)),
        eq(payload("icmpv6", "type"), n(ICMPV6_NEIGHBOUR_ADVERT)),
        ne(
            concat(vec![meta(MetaKey::Iifname), payload("ether", "saddr"), transport_bits(64, 128)]),
            set_ref(ND_TARGETS),
        ),
        drop(),
    ];
    let objects = vec![nft::add(nft::table(family, ND_TABLE)), nft::add(chain)];
    let mut out: Vec<Arc<Command>> = objects.into_iter().map(Command::typed).collect();
    let flush = json!({"flush": {"chain": {"family": "bridge", "table": ND_TABLE, "name": ND_CHAIN}}});
    out.push(Command::of(flush));
    out.push(Command::typed(nft::add(nft::rule(family, ND_TABLE, ND_CHAIN, rule))));
    out.push(targets(elems));
    out
}

/// The set as a command of the document: `flush set` then `add element` (the delta adds and
/// deletes single elements instead, as for any set).
fn targets(elems: Vec<String>) -> Arc<Command> {
    let head = json!({"family": "bridge", "table": ND_TABLE, "name": ND_TARGETS});
    let mut text = json!({"flush": {"set": head}}).to_string();
    if !elems.is_empty() {
        let head = head.to_string();
        text.push_str(&format!(
            ",{{\"add\":{{\"element\":{},\"elem\":[{}]}}}}}}",
            &head[..head.len() - 1],
            elems.join(",")
        ));
    }
    Arc::new(Command {
        kind: Kind::Set("set"),
        family: "bridge".to_owned(),
        table: ND_TABLE.to_owned(),
        name: ND_TARGETS.to_owned(),
        text,
        definition: "typeof iifname . ether saddr . @th,64,128; flags interval".to_owned(),
        elems,
    })
}
