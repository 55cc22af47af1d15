//! Failed-login throttling: per user and per client address, a fixed window counts failed
//! password checks; at the limit further attempts are refused (429) without hashing until
//! the window ends. The tables are bounded: expired windows are swept when a table is full,
//! and if it is still full the oldest window is evicted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// One bounded table of failure windows.
#[derive(Debug)]
pub struct FailureTable {
    limit: u32,
    window: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<String, Window>>,
}

impl FailureTable {
    /// `limit` failures per `window`; at most `max_entries` keys tracked. A limit of 0
    /// turns the table off.
    pub fn new(limit: u32, window: Duration, max_entries: usize) -> Self {
        Self { limit, window, max_entries: max_entries.max(1), entries: Mutex::new(HashMap::new()) }
    }

    /// `Some(seconds until the window ends)` when `key` is at its limit at `now`.
    pub fn blocked(&self, key: &str, now: Instant) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let w = entries.get(key)?;
        let elapsed = now.saturating_duration_since(w.started);
        if w.failures >= self.limit && elapsed < self.window {
            // Round up: a client retrying after Retry-After must find the window over.
            let left = self.window - elapsed;
            Some(left.as_secs() + u64::from(left.subsec_nanos() > 0))
        } else {
            None
        }
    }

    /// Counts one failure for `key` at `now`.
    pub fn record_failure(&self, key: &str, now: Instant) {
        if self.limit == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(w) = entries.get_mut(key) {
            if now.saturating_duration_since(w.started) >= self.window {
                *w = Window { started: now, failures: 1 };
            } else {
                w.failures = w.failures.saturating_add(1);
            }
            return;
        }
        if entries.len() >= self.max_entries {
            let window = self.window;
            entries.retain(|_, w| now.saturating_duration_since(w.started) < window);
            if entries.len() >= self.max_entries {
                if let Some(oldest) = entries.iter().min_by_key(|(_, w)| w.started).map(|(k, _)| k.clone()) {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key.to_string(), Window { started: now, failures: 1 });
    }

    /// Forgets `key` (a successful login clears the user's failures, as Keystone does).
    pub fn clear(&self, key: &str) {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).remove(key);
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether no key is tracked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The throttling key of a client address: the address itself for IPv4, its /64 for IPv6
/// (one host commonly holds a whole /64, so single IPv6 addresses cost an attacker nothing).
pub fn address_key(addr: IpAddr) -> String {
    match addr {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_blocks_until_the_window_ends() {
        let t = FailureTable::new(3, Duration::from_secs(60), 10);
        let start = Instant::now();
        for _ in 0..2 {
            t.record_failure("alice", start);
        }
        assert_eq!(t.blocked("alice", start), None, "below the limit");
        t.record_failure("alice", start);
        assert_eq!(t.blocked("alice", start + Duration::from_millis(500)), Some(60), "rounded up");
        assert_eq!(t.blocked("alice", start + Duration::from_secs(59)), Some(1));
        assert_eq!(t.blocked("alice", start + Duration::from_secs(60)), None, "window over");
        t.record_failure("alice", start + Duration::from_secs(61));
        assert_eq!(t.blocked("alice", start + Duration::from_secs(61)), None, "a new window starts at 1");
        assert_eq!(t.blocked("bob", start), None);
        t.clear("alice");
        assert!(t.is_empty());
    }

    #[test]
    fn tables_stay_bounded() {
        let t = FailureTable::new(1, Duration::from_secs(60), 3);
        let start = Instant::now();
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            t.record_failure(name, start + Duration::from_secs(i as u64));
        }
        t.record_failure("d", start + Duration::from_secs(3));
        assert_eq!(t.len(), 3, "full: the oldest window is evicted");
        assert_eq!(t.blocked("a", start + Duration::from_secs(3)), None, "a was evicted");
        assert!(t.blocked("d", start + Duration::from_secs(3)).is_some());
        // Past the window every entry is swept before inserting.
        t.record_failure("e", start + Duration::from_secs(120));
        assert_eq!(t.len(), 1);
        assert_eq!(FailureTable::new(0, Duration::from_secs(1), 1).blocked("x", start), None, "0 = off");
    }

    #[test]
    fn ipv6_addresses_share_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_eq!(address_key(a), "2001:db8:1:2::/64");
        assert_eq!(address_key("::ffff:10.0.0.1".parse().unwrap()), "10.0.0.1");
        assert_eq!(address_key("10.0.0.1".parse().unwrap()), "10.0.0.1");
    }
}
