//! Each watched host's last built state, with what it was built from and the change
//! sequence through which it is known current, so an agent's next watch (it polls again
//! right after each answer) or a wake-up by changes that do not concern the host costs a
//! check of the change index, not a rebuild. An entry is replaced whenever the host's
//! state is built; it is never trusted past a change that concerns it
//! ([`super::host_watch`] asks the index about every change after `seen`).

use super::host_deps::Deps;
use neutrino_agent_api::HostState;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// A host's last state.
#[derive(Debug, Clone)]
pub struct HostEntry {
    pub state: Arc<HostState>,
    pub deps: Arc<Deps>,
    /// No change up to this sequence concerns `deps`.
    pub seen: u64,
    /// Whether changes passed since the build without one (the watch's safety net rebuilds
    /// such a state once at its deadline).
    pub passed: bool,
}

impl HostEntry {
    /// A state just built, current at its own revision.
    pub fn built(state: HostState, deps: Deps) -> Self {
        let seen = state.revision;
        Self { state: Arc::new(state), deps: Arc::new(deps), seen, passed: false }
    }
}

/// The entries, at most `host_state_cache_entries` hosts.
pub struct HostCache {
    entries: Mutex<HashMap<String, HostEntry>>,
    capacity: usize,
}

impl HostCache {
    pub fn new(capacity: usize) -> Self {
        Self { entries: Mutex::new(HashMap::new()), capacity }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, HostEntry>> {
        // Each critical section is one map operation; a panic elsewhere leaves it whole.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn get(&self, host: &str) -> Option<HostEntry> {
        self.lock().get(host).cloned()
    }

    /// Keeps `entry` as `host`'s unless a newer one (a concurrent watch of the same host
    /// built later) is already there.
    pub fn put(&self, host: &str, entry: HostEntry) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if let Some(held) = entries.get(host) {
            if held.state.revision > entry.state.revision {
                return;
            }
        } else if entries.len() >= self.capacity {
            // Full: make room with an arbitrary victim (its host builds again next time).
            if let Some(victim) = entries.keys().next().cloned() {
                entries.remove(&victim);
            }
        }
        entries.insert(host.to_string(), entry);
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(host: &str, revision: u64) -> HostState {
        HostState { host: host.into(), revision, fingerprint: format!("fp-{revision}"), ..HostState::default() }
    }

    #[test]
    fn an_entry_starts_current_at_its_revision_and_an_older_build_does_not_replace_a_newer() {
        let cache = HostCache::new(10);
        cache.put("h1", HostEntry::built(state("h1", 7), Deps::of_host("h1")));
        let got = cache.get("h1").unwrap();
        assert_eq!((got.seen, got.passed, got.state.fingerprint.as_str()), (7, false, "fp-7"));
        cache.put("h1", HostEntry::built(state("h1", 6), Deps::of_host("h1")));
        assert_eq!(cache.get("h1").unwrap().seen, 7);
        let mut later = cache.get("h1").unwrap();
        (later.seen, later.passed) = (9, true);
        cache.put("h1", later);
        assert_eq!(cache.get("h1").unwrap().seen, 9);
    }

    #[test]
    fn the_cache_is_bounded() {
        let cache = HostCache::new(2);
        for h in ["h1", "h2", "h3"] {
            cache.put(h, HostEntry::built(state(h, 1), Deps::of_host(h)));
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get("h3").is_some(), "the newest entry is kept");
        let none = HostCache::new(0);
        none.put("h1", HostEntry::built(state("h1", 1), Deps::of_host("h1")));
        assert!(none.is_empty());
    }
}
