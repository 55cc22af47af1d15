//! What the run prints and writes: one markdown row per phase with load.py's columns, and a
//! JSON document with load.py's keys (plus a few more) so both tools' files can be compared.

use crate::BenchError;
use serde::Serialize;
use std::path::Path;

/// One phase's result; field names are load.py's JSON keys. NaN (no data) becomes `null`.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub op: String,
    pub concurrency: usize,
    pub requests: usize,
    pub ok: usize,
    pub errors: usize,
    pub wall_s: f64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub srv_cpu_ms_per_req: f64,
    pub db_cpu_ms_per_req: f64,
    pub srv_cpu_util: f64,
}

/// Table header, the same columns as load.py's `HDR`.
pub const TABLE_HEADER: &str = "| op | conc | reqs | ok | err | wall s | req/s | p50 ms | p90 ms | p99 ms | max ms \
                                | srv cpu ms/req | db cpu ms/req | srv cores |";
/// Alignment line under [`TABLE_HEADER`] (load.py's `SEP`).
pub const TABLE_RULE: &str = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

/// Formats a number with `decimals` places, NaN as `nan` like Python's `%f`.
pub(crate) fn num(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "nan".into()
    } else {
        format!("{value:.decimals$}")
    }
}

/// One table line, formatted like load.py's `fmt_row` except that CPU per request keeps two
/// decimals (neutrino's figures are fractions of a millisecond).
pub fn table_row(r: &Row) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        r.op,
        r.concurrency,
        r.requests,
        r.ok,
        r.errors,
        num(r.wall_s, 2),
        num(r.rps, 1),
        num(r.p50_ms, 1),
        num(r.p90_ms, 1),
        num(r.p99_ms, 1),
        num(r.max_ms, 1),
        num(r.srv_cpu_ms_per_req, 2),
        num(r.db_cpu_ms_per_req, 2),
        num(r.srv_cpu_util, 2),
    )
}

/// The `--json` file: load.py's metadata keys and rows, plus the run's settings and the
/// server's memory.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    /// The first server (load.py's key); `base_urls` lists every one.
    pub base_url: &'a str,
    pub base_urls: &'a [String],
    pub label: &'a str,
    pub scenario: &'a str,
    pub networks: usize,
    pub ports: usize,
    pub list_reps: usize,
    pub concurrency: &'a [usize],
    pub project_id: &'a str,
    /// Unix time the first round started, in seconds.
    pub started: f64,
    pub total_s: f64,
    /// The first server's pid (load.py's key); `server_pids` lists every one.
    pub server_pid: Option<u32>,
    pub server_pids: &'a [u32],
    pub db_pid: Option<u32>,
    pub server_rss_kib_before: Option<u64>,
    pub server_rss_kib_after: Option<u64>,
    pub failed_requests: usize,
    pub aborted_rounds: usize,
    pub results: &'a [Row],
    /// `--scenario hosts`: the measured rounds and the agents' failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<&'a crate::scenario::hosts::HostsOutcome>,
}

impl RunReport<'_> {
    /// Writes the report as pretty-printed JSON.
    pub fn write(&self, path: &Path) -> Result<(), BenchError> {
        let mut text = serde_json::to_string_pretty(self).map_err(BenchError::Encode)?;
        text.push('\n');
        std::fs::write(path, text).map_err(|source| BenchError::Write { path: path.to_path_buf(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> Row {
        Row {
            op: "create_port".into(),
            concurrency: 8,
            requests: 1000,
            ok: 998,
            errors: 2,
            wall_s: 0.223,
            rps: 4475.33,
            p50_ms: 1.56,
            p90_ms: 2.04,
            p99_ms: 3.12,
            max_ms: 9.96,
            mean_ms: 1.7,
            srv_cpu_ms_per_req: 0.21,
            db_cpu_ms_per_req: f64::NAN,
            srv_cpu_util: 0.94,
        }
    }

    #[test]
    fn row_has_as_many_cells_as_the_header() {
        let cells = |s: &str| s.matches('|').count();
        assert_eq!(cells(&table_row(&row())), cells(TABLE_HEADER));
        assert_eq!(cells(TABLE_RULE), cells(TABLE_HEADER));
    }

    #[test]
    fn row_formatting_matches_load_py() {
        assert_eq!(
            table_row(&row()),
            "| create_port | 8 | 1000 | 998 | 2 | 0.22 | 4475.3 | 1.6 | 2.0 | 3.1 | 10.0 | 0.21 | nan | 0.94 |"
        );
    }

    #[test]
    fn json_uses_load_py_keys_and_null_for_missing_values() {
        let rows = [row()];
        let report = RunReport {
            base_url: "http://127.0.0.1:9696",
            base_urls: &["http://127.0.0.1:9696".to_string()],
            label: "x",
            scenario: "ports",
            networks: 50,
            ports: 1000,
            list_reps: 20,
            concurrency: &[8],
            project_id: "p",
            started: 1.5,
            total_s: 2.0,
            server_pid: None,
            server_pids: &[],
            db_pid: None,
            server_rss_kib_before: None,
            server_rss_kib_after: None,
            failed_requests: 2,
            aborted_rounds: 0,
            results: &rows,
            hosts: None,
        };
        let value = match serde_json::to_value(&report) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        };
        let first = &value["results"][0];
        assert_eq!(first["op"], "create_port");
        assert_eq!(first["p99_ms"], 3.12);
        assert!(first["db_cpu_ms_per_req"].is_null());
        assert_eq!(value["list_reps"], 20);
        assert!(value.get("hosts").is_none(), "only the hosts scenario has a `hosts` key");
    }
}
