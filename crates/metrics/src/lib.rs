//! Metrics in the Prometheus text exposition format (version 0.0.4), written by hand.
//!
//! Why not the `prometheus-client` crate: our metric set is small and fixed, every label
//! value is chosen by our own code from a bounded set (route templates, status codes,
//! subsystem names), and the format is a few lines of text; a registry with derive macros
//! would add dependencies to the server, the store and the agent for no gain. What the
//! format needs is here: [`Histogram`] (atomic, lock-free to observe), [`Counter`], and the
//! [`Exposition`] writer that escapes label values and writes `# HELP`/`# TYPE` once per
//! family, histogram buckets cumulative with `+Inf`, `_sum` and `_count`.
//!
//! Label *names* and metric names are `&'static str`: only code chooses them.

#[cfg(feature = "testing")]
pub mod testing;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// The content type of the text format Prometheus scrapes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket bounds (seconds) for HTTP requests and store commits: 1 ms to 30 s. A long poll
/// lands in the last buckets by design.
pub const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A distribution of observed values over fixed bucket bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per-bucket (not cumulative) counts; the last one is `+Inf`.
    counts: Vec<AtomicU64>,
    /// The sum of observations, as `f64` bits (updated by compare-and-swap).
    sum: AtomicU64,
}

/// A histogram read at one moment: cumulative bucket counts, the sum and the count.
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// `(upper bound, observations <= bound)`, ending with `(+Inf, count)`.
    pub buckets: Vec<(f64, u64)>,
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    /// A histogram over `bounds` (ascending; `+Inf` is implied).
    pub fn new(bounds: &'static [f64]) -> Self {
        Self { bounds, counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(), sum: AtomicU64::new(0) }
    }

    /// Records one observation.
    pub fn observe(&self, value: f64) {
        let i = self.bounds.iter().position(|b| value <= *b).unwrap_or(self.bounds.len());
        if let Some(c) = self.counts.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        let _ = self
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + value).to_bits()));
    }

    /// Records a duration in seconds.
    pub fn observe_duration(&self, d: std::time::Duration) {
        self.observe(d.as_secs_f64());
    }

    /// The cumulative view Prometheus wants. Concurrent observations may land between two
    /// loads; the count is derived from the buckets so `+Inf` always equals `_count`.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, c) in self.counts.iter().enumerate() {
            total += c.load(Ordering::Relaxed);
            buckets.push((self.bounds.get(i).copied().unwrap_or(f64::INFINITY), total));
        }
        HistogramSnapshot { buckets, sum: f64::from_bits(self.sum.load(Ordering::Relaxed)), count: total }
    }
}

/// Label pairs of one sample: names chosen by code, values escaped on output.
pub type Labels<'a> = &'a [(&'static str, &'a str)];

/// Writes metric families in the text format.
#[derive(Debug, Default)]
pub struct Exposition {
    out: String,
}

impl Exposition {
    pub fn new() -> Self {
        Self::default()
    }

    /// A counter family: `name` should end in `_total`.
    pub fn counter<'a>(&mut self, name: &str, help: &str, samples: impl IntoIterator<Item = (Labels<'a>, u64)>) {
        self.header(name, help, "counter");
        for (labels, value) in samples {
            self.sample(name, "", labels, None, &value.to_string());
        }
    }

    /// A gauge family.
    pub fn gauge<'a>(&mut self, name: &str, help: &str, samples: impl IntoIterator<Item = (Labels<'a>, f64)>) {
        self.header(name, help, "gauge");
        for (labels, value) in samples {
            self.sample(name, "", labels, None, &number(value));
        }
    }

    /// A histogram family: `_bucket{le=...}` (cumulative, ending with `+Inf`), `_sum`, `_count`.
    pub fn histogram<'a>(
        &mut self,
        name: &str,
        help: &str,
        samples: impl IntoIterator<Item = (Labels<'a>, HistogramSnapshot)>,
    ) {
        self.header(name, help, "histogram");
        for (labels, h) in samples {
            for (bound, count) in &h.buckets {
                self.sample(name, "_bucket", labels, Some(&number(*bound)), &count.to_string());
            }
            self.sample(name, "_sum", labels, None, &number(h.sum));
            self.sample(name, "_count", labels, None, &h.count.to_string());
        }
    }

    /// The text, ending with a newline.
    pub fn finish(self) -> String {
        self.out
    }

    fn header(&mut self, name: &str, help: &str, kind: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, suffix: &str, labels: Labels<'_>, le: Option<&str>, value: &str) {
        self.out.push_str(name);
        self.out.push_str(suffix);
        let mut pairs: Vec<(&str, &str)> = labels.to_vec();
        if let Some(le) = le {
            pairs.push(("le", le));
        }
        if !pairs.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in pairs.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape(v));
            }
            self.out.push('}');
        }
        self.out.push(' ');
        self.out.push_str(value);
        self.out.push('\n');
    }
}

/// A label value as the format wants it: backslash, double quote and newline escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// A number as the format spells it (`+Inf`, `-Inf`, `NaN`, else Rust's shortest form).
fn number(v: f64) -> String {
    if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else if v.is_nan() {
        "NaN".into()
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_cumulative_and_end_at_count() {
        static B: &[f64] = &[0.1, 1.0];
        let h = Histogram::new(B);
        for v in [0.05, 0.5, 0.5, 7.0] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!(s.buckets, vec![(0.1, 1), (1.0, 3), (f64::INFINITY, 4)]);
        assert_eq!(s.count, 4);
        assert!((s.sum - 8.05).abs() < 1e-9);
    }

    #[test]
    fn exposition_writes_families_and_escapes_values() {
        static B: &[f64] = &[0.5];
        let h = Histogram::new(B);
        h.observe(0.25);
        let mut e = Exposition::new();
        e.counter("x_total", "Things.\nMore", [(&[("route", "/a\"b\\c\nd")][..], 3)]);
        e.gauge("g", "A gauge.", [(&[][..], 1.5)]);
        e.histogram("h_seconds", "Time.", [(&[("r", "/x")][..], h.snapshot())]);
        let text = e.finish();
        assert_eq!(
            text,
            "# HELP x_total Things.\\nMore\n# TYPE x_total counter\nx_total{route=\"/a\\\"b\\\\c\\nd\"} 3\n\
             # HELP g A gauge.\n# TYPE g gauge\ng 1.5\n\
             # HELP h_seconds Time.\n# TYPE h_seconds histogram\n\
             h_seconds_bucket{r=\"/x\",le=\"0.5\"} 1\nh_seconds_bucket{r=\"/x\",le=\"+Inf\"} 1\n\
             h_seconds_sum{r=\"/x\"} 0.25\nh_seconds_count{r=\"/x\"} 1\n"
        );
    }
}
