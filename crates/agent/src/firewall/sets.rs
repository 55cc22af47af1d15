//! The named sets of remote addresses rules match (`table inet neutrino`): a remote
//! group's members (`rg4-<group>` / `rg6-<group>`) and an address group's CIDRs
//! (`ag4-<group>` / `ag6-<group>`), one set per (remote, family). A rule names the set, so
//! a membership or address change rewrites a set's elements, never the rules.
//!
//! Each set is keyed `nf_proto . ipv4_addr` (or `ipv6_addr`), matched as `meta nfproto . ip
//! saddr`: a plain interval set would do, but before any element change nft 1.0.6 dumps the
//! elements of every plain (non-concatenated) interval set of the namespace (for
//! auto-merge), and these sets hold the members of every group a port of the host uses:
//! they grow with the ports. A concatenated interval set is never dumped.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use ipnet::IpNet;
use serde_json::json;

use neutrino_agent_api::HostState;

use super::doc::Command;
use super::maps::named_set;
use super::rules::Family;
use super::spoof::net_value;

/// What a rule's remote end is, when it is a set of addresses.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Remote {
    /// `remote_group_id`: the members of a security group.
    Group(String),
    /// `remote_address_group_id`: the CIDRs of an address group.
    AddressGroup(String),
}

/// The sets the compiled rules name.
pub(crate) type RemoteSets = BTreeSet<(Family, Remote)>;

/// The name of a remote's set of one family.
pub(crate) fn set_name(family: Family, remote: &Remote) -> String {
    let (kind, id) = match remote {
        Remote::Group(id) => ("rg", id),
        Remote::AddressGroup(id) => ("ag", id),
    };
    let version = match family {
        Family::V4 => 4,
        Family::V6 => 6,
    };
    format!("{kind}{version}-{id}")
}

static NONE: BTreeMap<String, Vec<String>> = BTreeMap::new();

/// Where the sets' addresses come from: the host state's `group_members` and
/// `address_groups` (group id → addresses or CIDRs).
#[derive(Debug, Clone, Copy)]
pub struct Remotes<'a> {
    pub group_members: &'a BTreeMap<String, Vec<String>>,
    pub address_groups: &'a BTreeMap<String, Vec<String>>,
}

impl Default for Remotes<'_> {
    fn default() -> Self {
        Self { group_members: &NONE, address_groups: &NONE }
    }
}

impl<'a> Remotes<'a> {
    /// The remotes of a host's state.
    pub fn of(state: &'a HostState) -> Self {
        Self { group_members: &state.group_members, address_groups: &state.address_groups }
    }

    /// A remote's addresses (none for a group the state does not list: the rule then
    /// matches nothing, which denies what it allowed).
    fn addresses(&self, remote: &Remote) -> &'a [String] {
        let (map, id) = match remote {
            Remote::Group(id) => (self.group_members, id),
            Remote::AddressGroup(id) => (self.address_groups, id),
        };
        map.get(id).map(Vec::as_slice).unwrap_or_default()
    }
}

/// Of nested networks only the widest, in one pass: sorted by (network, prefix length), a
/// network covering another comes first, and the networks kept are disjoint, so only the
/// last one kept can cover the next (a remote group has as many members as ports).
fn widest(nets: &BTreeSet<IpNet>) -> Vec<&IpNet> {
    let mut kept: Vec<&IpNet> = Vec::new();
    for n in nets {
        if !kept.last().is_some_and(|last| last.contains(n)) {
            kept.push(n);
        }
    }
    kept
}

/// The named sets `sets` lists, with their elements: each address or CIDR of the family,
/// host bits cleared, and of overlapping ones only the widest (an interval set refuses
/// overlaps). A set whose addresses are those of the last pass is reused from `cache`
/// (a remote group has as many members as ports).
pub(crate) fn remote_sets(
    sets: &RemoteSets,
    remotes: &Remotes<'_>,
    cache: &mut HashMap<String, (Vec<String>, Arc<Command>)>,
) -> Vec<Arc<Command>> {
    let mut next = HashMap::new();
    let mut out = Vec::new();
    for (family, remote) in sets {
        let name = set_name(*family, remote);
        let addresses = remotes.addresses(remote);
        let command = match cache.remove(&name) {
            Some((was, command)) if was == addresses => command,
            _ => remote_set(*family, &name, addresses),
        };
        next.insert(name, (addresses.to_vec(), Arc::clone(&command)));
        out.push(command);
    }
    *cache = next;
    out
}

fn remote_set(family: Family, name: &str, addresses: &[String]) -> Arc<Command> {
    let nets: BTreeSet<IpNet> = addresses
        .iter()
        .filter_map(|m| {
            m.parse::<IpNet>().map(|n| n.trunc()).ok().or_else(|| m.parse::<std::net::IpAddr>().ok().map(IpNet::from))
        })
        .filter(|n| matches!((family, n), (Family::V4, IpNet::V4(_)) | (Family::V6, IpNet::V6(_))))
        .collect();
    let (proto, address) = match family {
        Family::V4 => ("ipv4", "ipv4_addr"),
        Family::V6 => ("ipv6", "ipv6_addr"),
    };
    let elems = widest(&nets).into_iter().map(|n| json!({"concat": [proto, net_value(n)]}).to_string()).collect();
    named_set("inet", name, &["nf_proto", address], true, elems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_widest_of_nested_networks_stay() {
        let nets: BTreeSet<IpNet> = [
            "10.0.0.0/8",
            "10.1.0.0/16",
            "10.1.2.3/32",
            "11.0.0.1/32",
            "10.255.0.0/16",
            "fd00::/64",
            "fd00::1/128",
            "fd01::1/128",
        ]
        .iter()
        .map(|n| n.parse().unwrap())
        .collect();
        let kept: Vec<String> = widest(&nets).iter().map(|n| n.to_string()).collect();
        assert_eq!(kept, ["10.0.0.0/8", "11.0.0.1/32", "fd00::/64", "fd01::1/128"]);
    }
}
