//! Latency statistics, computed exactly as load.py does so the two tools agree.

/// Linear-interpolated percentile of ascending values (load.py's `pct`); NaN for none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else { return f64::NAN };
    let k = last as f64 * p / 100.0;
    let lo = (k as usize).min(last);
    let hi = (lo + 1).min(last);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (k - lo as f64)
}

/// Arithmetic mean; NaN for none.
pub fn mean(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    values.iter().sum::<f64>() / values.len() as f64
}

/// Rounds to `decimals` places, as Python's `round(v, decimals)` does for the values we print.
pub fn round_to(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// The latency columns of one phase, in milliseconds rounded to 0.01 like load.py's rows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencySummary {
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

impl LatencySummary {
    /// Summarises latencies given in seconds (any order); all NaN when there are none.
    pub fn of_seconds(latencies: &[f64]) -> Self {
        let mut sorted = latencies.to_vec();
        sorted.sort_by(f64::total_cmp);
        let ms = |seconds: f64| round_to(seconds * 1000.0, 2);
        Self {
            p50_ms: ms(percentile(&sorted, 50.0)),
            p90_ms: ms(percentile(&sorted, 90.0)),
            p99_ms: ms(percentile(&sorted, 99.0)),
            max_ms: ms(sorted.last().copied().unwrap_or(f64::NAN)),
            mean_ms: ms(mean(&sorted)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9
    }

    #[test]
    fn percentile_interpolates_like_load_py() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 50.0), 2.5);
        assert!(close(percentile(&v, 90.0), 3.7));
        assert_eq!(percentile(&v, 100.0), 4.0);
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!(close(percentile(&hundred, 99.0), 99.01));
        assert!(close(percentile(&hundred, 90.0), 90.1));
    }

    #[test]
    fn percentile_of_one_and_of_none() {
        assert_eq!(percentile(&[7.0], 99.0), 7.0);
        assert!(percentile(&[], 50.0).is_nan());
    }

    #[test]
    fn mean_and_rounding() {
        assert_eq!(mean(&[1.0, 2.0, 3.0, 4.0]), 2.5);
        assert!(mean(&[]).is_nan());
        assert_eq!(round_to(1.23456, 2), 1.23);
        assert_eq!(round_to(0.0125 * 1000.0, 1), 12.5);
    }

    #[test]
    fn summary_sorts_and_converts_to_milliseconds() {
        let s = LatencySummary::of_seconds(&[0.004, 0.001, 0.003, 0.002]);
        assert_eq!(s.p50_ms, 2.5);
        assert_eq!(s.p90_ms, 3.7);
        assert_eq!(s.p99_ms, 3.97);
        assert_eq!(s.max_ms, 4.0);
        assert_eq!(s.mean_ms, 2.5);
        let none = LatencySummary::of_seconds(&[]);
        assert!(none.p50_ms.is_nan() && none.max_ms.is_nan() && none.mean_ms.is_nan());
    }
}
