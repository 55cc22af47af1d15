//! What every host spanning a network reads of it, read once per change of the network
//! instead of once per host: the network's MTU and segments, and its bindings with each
//! bound port's MAC and addresses and each bound host's tunnel endpoint (the flood list and
//! the l2population entries of [`super::host_state`]).
//!
//! A port created on a network concerns every host spanning it, and each of them rebuilds
//! its state; without this cache each rebuild reads and decodes every port of the network
//! and every bound host's agent again, so a change cost (hosts on the network) × (ports on
//! the network). With it, the first rebuild reads the network and the others copy it.
//!
//! Validity comes from the change index ([`super::change_index`]): a view records the keys
//! it was read from (as a host state does, [`super::host_deps`]), and each time the index
//! resolves new changes it drops the views those changes touch and moves `valid_at` to the
//! sequence it resolved to. A build uses a view only when its read snapshot is at exactly
//! `valid_at` (the snapshot's `change_latest`): then no change the index has not swept lies
//! between the view and the snapshot. Otherwise it reads the network itself, as before.

use super::host_deps::{Key, Touch};
use neutrino_model::ApiError;
use neutrino_store::Segment;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One binding on the network, with what the other hosts need of its port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewBinding {
    pub port_id: String,
    /// The binding's host.
    pub host: String,
    /// The port's own `binding:host_id` (its endpoint's host), its MAC and addresses;
    /// `None` when the port document is gone.
    pub port: Option<ViewPort>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewPort {
    pub binding_host_id: String,
    pub mac_address: String,
    pub ip_addresses: Vec<IpAddr>,
}

/// A network as the hosts spanning it read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetView {
    pub mtu: u32,
    pub segments: Vec<Segment>,
    pub bindings: Vec<ViewBinding>,
    /// Tunnel endpoint of each bound host (none without a VXLAN-capable agent).
    pub endpoints: HashMap<String, Option<IpAddr>>,
}

impl NetView {
    /// The keys a view depends on: the network (its document, segments and the bindings
    /// query), each bound port and each bound host (its agent's endpoint).
    pub fn keys(&self, network_id: &str) -> Vec<Key> {
        let mut keys = vec![Key::network(network_id)];
        keys.extend(self.bindings.iter().map(|b| Key::port(&b.port_id)));
        keys.extend(self.endpoints.keys().map(|h| Key::host(h)));
        keys
    }
}

/// The server's views, bounded by `host_state_cache_entries`.
pub struct NetViews {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Views read from the store since start (the reads the cache did not save).
    reads: AtomicU64,
}

struct Inner {
    /// The change sequence through which every view is known valid.
    valid_at: u64,
    views: HashMap<String, (Arc<NetView>, Vec<Key>)>,
    /// Networks whose view depends on each key.
    by_key: HashMap<Key, HashSet<String>>,
}

impl Inner {
    fn clear(&mut self) {
        self.views.clear();
        self.by_key.clear();
    }

    fn remove(&mut self, network_id: &str) {
        let Some((_, keys)) = self.views.remove(network_id) else { return };
        for key in keys {
            if let Some(nets) = self.by_key.get_mut(&key) {
                nets.remove(network_id);
                if nets.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }
}

impl NetViews {
    /// An empty cache, valid at the feed's current sequence `latest`.
    pub fn new(latest: u64, capacity: usize) -> Self {
        let inner = Inner { valid_at: latest, views: HashMap::new(), by_key: HashMap::new() };
        Self { inner: Mutex::new(inner), capacity, reads: AtomicU64::new(0) }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves the maps consistent; a panic elsewhere cannot.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drops the views `touches` reach and declares the rest valid through `upto`; a gap
    /// in what was resolved (or a change of unknown reach) drops them all.
    pub fn sweep<'a>(&self, touches: impl IntoIterator<Item = &'a Touch>, upto: u64, gap: bool) {
        let mut inner = self.lock();
        for touch in touches {
            let keys = match touch {
                Touch::All => {
                    inner.clear();
                    continue;
                }
                Touch::Keys(keys) => keys,
            };
            for key in keys {
                let Some(nets) = inner.by_key.get(key) else { continue };
                for net in nets.clone() {
                    inner.remove(&net);
                }
            }
        }
        if gap {
            inner.clear();
        }
        inner.valid_at = inner.valid_at.max(upto);
    }

    /// The view of `network_id` for a read snapshot at change sequence `snapshot`: the
    /// cached one when valid there, else `read` on that snapshot (and kept when the cache
    /// is at that sequence).
    pub fn view(
        &self,
        network_id: &str,
        snapshot: u64,
        read: impl FnOnce() -> Result<NetView, ApiError>,
    ) -> Result<Arc<NetView>, ApiError> {
        {
            let inner = self.lock();
            if inner.valid_at == snapshot {
                if let Some((view, _)) = inner.views.get(network_id) {
                    return Ok(view.clone());
                }
            }
        }
        self.reads.fetch_add(1, Ordering::Relaxed);
        let view = Arc::new(read()?);
        let mut inner = self.lock();
        if inner.valid_at == snapshot && self.capacity > 0 {
            if inner.views.len() >= self.capacity {
                // Full: make room with an arbitrary victim (it is read again when needed).
                if let Some(victim) = inner.views.keys().next().cloned() {
                    inner.remove(&victim);
                }
            }
            // The view this one replaces first, so its keys' entries do not take the new ones.
            inner.remove(network_id);
            let keys = view.keys(network_id);
            for key in &keys {
                inner.by_key.entry(key.clone()).or_default().insert(network_id.to_string());
            }
            inner.views.insert(network_id.to_string(), (view.clone(), keys));
        }
        Ok(view)
    }

    /// Drops every view (the next build of each network reads it afresh).
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Views read from the store since start.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Views held.
    pub fn len(&self) -> usize {
        self.lock().views.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(port: &str, host: &str) -> NetView {
        NetView {
            mtu: 1450,
            segments: vec![],
            bindings: vec![ViewBinding { port_id: port.into(), host: host.into(), port: None }],
            endpoints: HashMap::from([(host.to_string(), None)]),
        }
    }

    fn get(views: &NetViews, net: &str, at: u64, make: NetView, reads: &mut usize) -> Arc<NetView> {
        views
            .view(net, at, || {
                *reads += 1;
                Ok(make)
            })
            .unwrap()
    }

    #[test]
    fn a_view_is_read_once_until_a_change_touches_it() {
        let views = NetViews::new(5, 10);
        let mut reads = 0;
        get(&views, "n1", 5, view("p1", "h1"), &mut reads);
        get(&views, "n2", 5, view("p2", "h2"), &mut reads);
        get(&views, "n1", 5, view("p1", "h1"), &mut reads);
        assert_eq!(reads, 2);
        // A change of port p1 (and of nothing of n2) moves the cache to 6.
        views.sweep(&[Touch::Keys(vec![Key::port("p1")])], 6, false);
        get(&views, "n1", 6, view("p1", "h1"), &mut reads);
        get(&views, "n2", 6, view("p2", "h2"), &mut reads);
        assert_eq!(reads, 3, "n1 read again, n2 still valid");
        // A host's agent, then the network itself.
        views.sweep(&[Touch::Keys(vec![Key::host("h2")])], 7, false);
        get(&views, "n2", 7, view("p2", "h2"), &mut reads);
        views.sweep(&[Touch::Keys(vec![Key::network("n1")])], 8, false);
        get(&views, "n1", 8, view("p1", "h1"), &mut reads);
        assert_eq!(reads, 5);
    }

    #[test]
    fn a_snapshot_the_cache_is_not_at_reads_and_keeps_nothing() {
        let views = NetViews::new(5, 10);
        let mut reads = 0;
        get(&views, "n1", 5, view("p1", "h1"), &mut reads);
        // A snapshot past what the index swept: the cached view may be stale there.
        get(&views, "n1", 6, view("p1", "h1"), &mut reads);
        get(&views, "n2", 6, view("p2", "h2"), &mut reads);
        assert_eq!((reads, views.len()), (3, 1));
        views.sweep(&[], 6, false);
        get(&views, "n1", 6, view("p1", "h1"), &mut reads);
        assert_eq!(reads, 3, "nothing touched n1 up to 6");
    }

    #[test]
    fn a_view_replacing_a_cached_one_is_still_swept() {
        let views = NetViews::new(5, 10);
        let mut reads = 0;
        get(&views, "n1", 5, view("p1", "h1"), &mut reads);
        // A build at 6 reads n1 before the index reaches 6, and keeps it once it has: the
        // view of 5 is replaced.
        views
            .view("n1", 6, || {
                views.sweep(&[], 6, false);
                Ok(view("p1", "h1"))
            })
            .unwrap();
        views.sweep(&[Touch::Keys(vec![Key::network("n1")])], 7, false);
        get(&views, "n1", 7, view("p1", "h1"), &mut reads);
        assert_eq!(reads, 2, "the change of n1 dropped the replacing view");
    }

    #[test]
    fn unknown_reach_or_a_gap_drops_every_view_and_the_cache_is_bounded() {
        let views = NetViews::new(0, 2);
        let mut reads = 0;
        for net in ["n1", "n2", "n3"] {
            get(&views, net, 0, view(net, "h"), &mut reads);
        }
        assert_eq!(views.len(), 2);
        views.sweep(&[Touch::All], 1, false);
        assert!(views.is_empty());
        get(&views, "n1", 1, view("n1", "h"), &mut reads);
        views.sweep(&[], 2, true);
        assert!(views.is_empty());
    }
}
