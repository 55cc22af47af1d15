//! What a host's state was built from, and whether a change concerns it.
//!
//! Building a host's state ([`super::host_state`]) records a [`Key`] for everything it
//! read: each resource whose content it shows (its ports, the remote ports of its
//! networks, its groups and their rules, the routers its L3 agent runs, their ports and
//! floating IPs, ...) and each query it ran, under the key that every change which can
//! newly match the query touches: the ports of network N, `Network(N)`; the bindings,
//! agents and assignments of host H, `Host(H)`; a router's ports and floating IPs,
//! `Router(R)`; the member ports of group G, `Members(G)`. [`super::change_index`] turns
//! each change into the keys it touches: its own key (so every host that showed the
//! resource, as it was, hears of it) and the query keys of the resource *as it is now* (so
//! every host it newly belongs to hears of it). A host whose set meets none of a change's
//! keys would rebuild exactly the state it has; a change of unknown reach
//! ([`Touch::All`]) concerns every host.

use neutrino_store::ChangeKind;
use std::collections::HashSet;

/// One thing a host's state depends on, or a change touches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// A resource (or agent) by kind and id: the change feed's own vocabulary.
    Resource(ChangeKind, String),
    /// Everything a host's own name selects: its bindings, agents and their assignments.
    Host(String),
    /// The member ports of a security group (a rule's `remote_group_id`), apart from the
    /// group itself, so a port joining a group wakes only the hosts whose rules name it.
    Members(String),
}

impl Key {
    pub fn network(id: &str) -> Self {
        Key::Resource(ChangeKind::Network, id.to_string())
    }
    pub fn port(id: &str) -> Self {
        Key::Resource(ChangeKind::Port, id.to_string())
    }
    pub fn router(id: &str) -> Self {
        Key::Resource(ChangeKind::Router, id.to_string())
    }
    pub fn security_group(id: &str) -> Self {
        Key::Resource(ChangeKind::SecurityGroup, id.to_string())
    }
    pub fn members(group: &str) -> Self {
        Key::Members(group.to_string())
    }
    pub fn host(name: &str) -> Self {
        Key::Host(name.to_string())
    }
}

/// What one change touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Touch {
    /// Reach unknown (a resource gone before it was seen, a feed gap): every host.
    All,
    Keys(Vec<Key>),
}

/// The dependency set of one built host state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deps {
    keys: HashSet<Key>,
}

impl Deps {
    /// The set of a host, starting with the host's own name.
    pub fn of_host(host: &str) -> Self {
        let mut deps = Self::default();
        deps.add(Key::host(host));
        deps
    }

    pub fn add(&mut self, key: Key) {
        self.keys.insert(key);
    }

    pub fn resource(&mut self, kind: ChangeKind, id: &str) {
        self.add(Key::Resource(kind, id.to_string()));
    }

    pub fn contains(&self, key: &Key) -> bool {
        self.keys.contains(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a change touching `touch` can change this host's state.
    pub fn concerned_by(&self, touch: &Touch) -> bool {
        match touch {
            Touch::All => true,
            Touch::Keys(keys) => keys.iter().any(|k| self.keys.contains(k)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_a() -> Deps {
        let mut d = Deps::of_host("compute-a");
        d.add(Key::network("net-a"));
        d.add(Key::port("port-a"));
        d.add(Key::security_group("sg-a"));
        d.add(Key::host("compute-b"));
        d
    }

    #[test]
    fn a_change_of_unknown_reach_concerns_every_host() {
        assert!(Deps::default().concerned_by(&Touch::All));
        assert!(host_a().concerned_by(&Touch::All));
    }

    #[test]
    fn a_change_concerns_a_host_when_one_key_meets_its_set() {
        let d = host_a();
        // A port created on a network the host spans, bound elsewhere.
        let on_net_a = Touch::Keys(vec![Key::port("new"), Key::network("net-a"), Key::host("compute-c")]);
        assert!(d.concerned_by(&on_net_a));
        // A port created on another network, bound to another host, in another group.
        let elsewhere = Touch::Keys(vec![
            Key::port("new"),
            Key::network("net-b"),
            Key::host("compute-c"),
            Key::security_group("sg-b"),
        ]);
        assert!(!d.concerned_by(&elsewhere));
        // The same port bound to this host.
        let bound_here = Touch::Keys(vec![Key::port("new"), Key::network("net-b"), Key::host("compute-a")]);
        assert!(d.concerned_by(&bound_here));
        // An agent of a host this one tunnels to.
        assert!(
            d.concerned_by(&Touch::Keys(vec![Key::Resource(ChangeKind::Agent, "x".into()), Key::host("compute-b")]))
        );
        assert!(!d.concerned_by(&Touch::Keys(vec![])));
    }
}
