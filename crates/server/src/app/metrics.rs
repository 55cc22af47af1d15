//! What the server counts for `/metrics` (rendered by `api::metrics`).
//!
//! Every label is chosen from a bounded set, so no client can grow the exposition: the
//! route is the router's template (`/v2.0/{collection}/{id}`, never the raw path; requests
//! no route matched share `unmatched`), the method one of the standard ones or `OTHER`,
//! the status a code the server itself answered. Nothing is labelled by project, user,
//! host or resource id.
//!
//! Watches (the agents' long polls) register here the change sequence they have examined,
//! so the change-feed lag is measurable: the newest committed sequence minus the lowest
//! one an open watch has looked at (0 with no watch open). A watch examines every commit
//! within milliseconds, so a lag that stays above 0 means watches fall behind the feed.

use neutrino_metrics::{Histogram, HistogramSnapshot, LATENCY_BUCKETS};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// One request's labels: route template, method, status.
pub type RequestKey = (String, &'static str, u16);

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<RequestKey, u64>>,
    /// Latency per (route, method).
    latency: Mutex<BTreeMap<(String, &'static str), Arc<Histogram>>>,
    watches: Mutex<BTreeMap<u64, u64>>,
    next_watch: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A method as a label: the standard ones by name, any other as `OTHER` (a client may send
/// any token as a method).
pub fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        _ => "OTHER",
    }
}

impl Metrics {
    /// Counts one answered request and its latency.
    pub fn request(&self, route: &str, method: &'static str, status: u16, elapsed: std::time::Duration) {
        *lock(&self.requests).entry((route.to_string(), method, status)).or_insert(0) += 1;
        let histogram = lock(&self.latency)
            .entry((route.to_string(), method))
            .or_insert_with(|| Arc::new(Histogram::new(LATENCY_BUCKETS)))
            .clone();
        histogram.observe_duration(elapsed);
    }

    /// Requests answered so far, by labels.
    pub fn requests(&self) -> Vec<(RequestKey, u64)> {
        lock(&self.requests).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// Latency histograms by (route, method).
    pub fn latencies(&self) -> Vec<((String, &'static str), HistogramSnapshot)> {
        lock(&self.latency).iter().map(|(k, h)| (k.clone(), h.snapshot())).collect()
    }

    /// Registers an open watch; it is unregistered when the handle drops.
    pub fn watch_opened(self: &Arc<Self>, seen: u64) -> WatchHandle {
        let id = self.next_watch.fetch_add(1, Ordering::Relaxed);
        lock(&self.watches).insert(id, seen);
        WatchHandle { metrics: self.clone(), id }
    }

    /// Open watches, and the lowest change sequence one of them has examined.
    pub fn watches(&self) -> (usize, Option<u64>) {
        let w = lock(&self.watches);
        (w.len(), w.values().min().copied())
    }
}

/// An open watch, counted while it lives.
pub struct WatchHandle {
    metrics: Arc<Metrics>,
    id: u64,
}

impl WatchHandle {
    /// The watch has examined every change up to `seq`.
    pub fn seen(&self, seq: u64) {
        lock(&self.metrics.watches).insert(self.id, seq);
    }
}

impl Drop for WatchHandle {
    fn drop(&mut self) {
        lock(&self.metrics.watches).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&axum::http::Method::POST), "POST");
        let odd = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&odd), "OTHER");
    }

    #[test]
    fn watches_count_while_open_and_report_the_lowest_seen() {
        let m = Arc::new(Metrics::default());
        let a = m.watch_opened(5);
        let b = m.watch_opened(9);
        assert_eq!(m.watches(), (2, Some(5)));
        a.seen(12);
        assert_eq!(m.watches(), (2, Some(9)));
        drop(b);
        drop(a);
        assert_eq!(m.watches(), (0, None));
    }
}
