//! What the simulated hosts saw during one measured round: for each port create, which of
//! its concerned hosts still have to receive a state containing it, and when the last one
//! did; and every state sent (a watch answered 200, which the server does only when the
//! host's state changed), split into those that brought a host a port it is concerned by
//! and all the others.

use crate::stats::LatencySummary;
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// One measured port create.
#[derive(Debug)]
struct Change {
    concerned: usize,
    /// Concerned hosts that have not yet received a state with the port.
    pending: BTreeSet<usize>,
    /// When the API answered the create (None: not yet, or it failed).
    answered: Option<Instant>,
    failed: bool,
    /// When the last concerned host received it.
    last_seen: Option<Instant>,
}

/// The round's bookkeeping, shared by the creating workers and every host's watcher.
#[derive(Debug, Default)]
pub struct Tracker {
    by_mac: HashMap<String, usize>,
    changes: Vec<Change>,
    sends_concerned: usize,
    sends_other: usize,
}

/// The round's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundSummary {
    /// Creates the API accepted.
    pub changes: usize,
    pub failed_creates: usize,
    /// Accepted creates some concerned host never received (within the round's timeout).
    pub undelivered: usize,
    /// Mean number of concerned hosts per change.
    pub concerned_per_change: f64,
    /// From the create's answer to the last concerned host having the port (0 when a host
    /// had it before the answer reached the bench), over delivered changes.
    pub latency: LatencySummary,
    /// States sent that brought a host a port it is concerned by.
    pub sends_concerned: usize,
    /// States sent that brought no such port (another host's change, a status, ...).
    pub sends_other: usize,
}

impl Tracker {
    /// Registers a create about to be sent: the port's MAC and the hosts it concerns.
    /// Returns its index for [`Tracker::answered`].
    pub fn expect(&mut self, mac: &str, concerned: BTreeSet<usize>) -> usize {
        let idx = self.changes.len();
        self.by_mac.insert(mac.to_ascii_lowercase(), idx);
        let change =
            Change { concerned: concerned.len(), pending: concerned, answered: None, failed: false, last_seen: None };
        self.changes.push(change);
        idx
    }

    /// The API answered the create at `at` (success) or refused it.
    pub fn answered(&mut self, idx: usize, at: Instant, ok: bool) {
        if let Some(change) = self.changes.get_mut(idx) {
            change.answered = ok.then_some(at);
            change.failed = !ok;
        }
    }

    /// Host `host` received a state at `at` whose ports (its own and the remote ones) have
    /// these MACs.
    pub fn received<'a>(&mut self, host: usize, macs: impl IntoIterator<Item = &'a str>, at: Instant) {
        let mut brought = false;
        for mac in macs {
            let Some(&idx) = self.by_mac.get(&mac.to_ascii_lowercase()) else { continue };
            let change = &mut self.changes[idx];
            if change.pending.remove(&host) {
                brought = true;
                change.last_seen = Some(change.last_seen.map_or(at, |t| t.max(at)));
            }
        }
        if brought {
            self.sends_concerned += 1;
        } else {
            self.sends_other += 1;
        }
    }

    /// Whether change `idx` is settled: refused, or accepted and received by every
    /// concerned host.
    pub fn settled(&self, idx: usize) -> bool {
        self.changes.get(idx).is_none_or(|c| c.failed || (c.answered.is_some() && c.pending.is_empty()))
    }

    /// Creates not yet answered, or accepted and not yet received by every concerned host.
    pub fn outstanding(&self) -> usize {
        self.changes.iter().filter(|c| !c.failed && (c.answered.is_none() || !c.pending.is_empty())).count()
    }

    pub fn summary(&self) -> RoundSummary {
        let accepted: Vec<&Change> = self.changes.iter().filter(|c| c.answered.is_some()).collect();
        let latencies: Vec<f64> = accepted
            .iter()
            .filter(|c| c.pending.is_empty())
            .filter_map(|c| Some(c.last_seen?.saturating_duration_since(c.answered?).as_secs_f64()))
            .collect();
        let concerned: usize = accepted.iter().map(|c| c.concerned).sum();
        RoundSummary {
            changes: accepted.len(),
            failed_creates: self.changes.iter().filter(|c| c.failed).count(),
            undelivered: accepted.iter().filter(|c| !c.pending.is_empty()).count(),
            concerned_per_change: if accepted.is_empty() { f64::NAN } else { concerned as f64 / accepted.len() as f64 },
            latency: LatencySummary::of_seconds(&latencies),
            sends_concerned: self.sends_concerned,
            sends_other: self.sends_other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_change_is_delivered_when_every_concerned_host_has_it() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        let a = t.expect("FA:16:3E:00:00:01", BTreeSet::from([1, 2]));
        t.answered(a, t0, true);
        assert_eq!(t.outstanding(), 1);
        t.received(1, ["fa:16:3e:00:00:01"], t0 + Duration::from_millis(5));
        t.received(3, ["fa:16:3e:00:00:01"], t0 + Duration::from_millis(6)); // not concerned
        assert_eq!(t.outstanding(), 1);
        assert!(!t.settled(a));
        t.received(2, ["aa:aa:aa:aa:aa:aa", "fa:16:3e:00:00:01"], t0 + Duration::from_millis(20));
        assert!(t.settled(a));
        t.received(2, ["fa:16:3e:00:00:01"], t0 + Duration::from_millis(30)); // already had it
        assert_eq!(t.outstanding(), 0);
        assert!(t.settled(a));
        let s = t.summary();
        assert_eq!((s.changes, s.undelivered, s.failed_creates), (1, 0, 0));
        assert_eq!(s.latency.max_ms, 20.0);
        assert_eq!((s.sends_concerned, s.sends_other), (2, 2));
        assert_eq!(s.concerned_per_change, 2.0);
    }

    #[test]
    fn seen_before_the_answer_counts_zero_and_failures_are_apart() {
        let t0 = Instant::now();
        let mut t = Tracker::default();
        let a = t.expect("m1", BTreeSet::from([0]));
        let b = t.expect("m2", BTreeSet::from([0, 1]));
        let c = t.expect("m3", BTreeSet::from([4]));
        t.received(0, ["m1"], t0);
        t.answered(a, t0 + Duration::from_millis(3), true);
        t.answered(b, t0, true);
        assert!(!t.settled(c));
        t.answered(c, t0, false);
        assert!(t.settled(c) && t.settled(a) && !t.settled(b));
        t.received(0, ["m2"], t0 + Duration::from_millis(1));
        assert_eq!(t.outstanding(), 1);
        let s = t.summary();
        assert_eq!((s.changes, s.undelivered, s.failed_creates), (2, 1, 1));
        assert_eq!(s.latency.max_ms, 0.0);
        assert_eq!(s.concerned_per_change, 1.5);
    }
}
