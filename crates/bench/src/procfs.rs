//! CPU time and memory of the server's process tree, read from /proc (Linux) as load.py does,
//! so the report says what each request cost the server whatever else the machine is doing.
//! A pid that vanishes between two reads simply counts zero.

use std::collections::HashMap;

/// The two fields of `/proc/PID/stat` the report needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatFields {
    pub ppid: u32,
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
}

/// Parses a `/proc/PID/stat` line. The command name (field 2) is in parentheses and may
/// itself contain spaces and parentheses, so fields are counted after the last `)`.
pub fn parse_stat(line: &str) -> Option<StatFields> {
    let after_comm = line.get(line.rfind(')')? + 1..)?;
    // After the name: state(3) ppid(4) ... utime(14) stime(15).
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(StatFields { ppid, cpu_ticks: utime + stime })
}

/// Resident set size in KiB from a `/proc/PID/status` text (`VmRSS:` line).
pub fn parse_vm_rss_kib(status: &str) -> Option<u64> {
    status.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.split_whitespace().next()?.parse().ok())
}

fn read_stat(pid: u32) -> Option<StatFields> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat)
}

/// The pid and all its descendants, found through the parent pids of every process.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if let Some(stat) = read_stat(pid) {
            children.entry(stat.ppid).or_default().push(pid);
        }
    }
    let mut tree = Vec::new();
    let mut todo = vec![root];
    while let Some(pid) = todo.pop() {
        tree.push(pid);
        todo.extend(children.get(&pid).into_iter().flatten());
    }
    tree
}

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf takes no pointers and has no preconditions; it reads a system constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// CPU seconds (user + system) used so far by the process tree rooted at `root`.
pub fn tree_cpu_seconds(root: u32) -> f64 {
    let ticks: u64 = process_tree(root).into_iter().filter_map(read_stat).map(|s| s.cpu_ticks).sum();
    ticks as f64 / clock_ticks_per_second()
}

/// Resident memory of the process tree rooted at `root`, in KiB (VmRSS summed).
pub fn tree_rss_kib(root: u32) -> u64 {
    process_tree(root)
        .into_iter()
        .filter_map(|pid| std::fs::read_to_string(format!("/proc/{pid}/status")).ok())
        .filter_map(|status| parse_vm_rss_kib(&status))
        .sum()
}

/// CPU seconds of the server and database trees at one instant (None: no pid given).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuSample {
    pub server: Option<f64>,
    pub db: Option<f64>,
}

/// Samples the CPU time of the server(s) and (optionally) database process trees.
#[derive(Debug, Clone, Default)]
pub struct CpuMeter {
    /// Roots of the servers' trees (several replicas are summed); none: not measured.
    pub server_pids: Vec<u32>,
    pub db_pid: Option<u32>,
}

impl CpuMeter {
    pub fn sample(&self) -> CpuSample {
        let server =
            (!self.server_pids.is_empty()).then(|| self.server_pids.iter().copied().map(tree_cpu_seconds).sum());
        CpuSample { server, db: self.db_pid.map(tree_cpu_seconds) }
    }

    /// Resident memory of every server's tree together, in KiB (None: no server pid).
    pub fn server_rss_kib(&self) -> Option<u64> {
        (!self.server_pids.is_empty()).then(|| self.server_pids.iter().copied().map(tree_rss_kib).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_with_spaces_and_parentheses_in_the_name() {
        let line = "1234 (neutron-server: (api) worker) S 77 1234 1234 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 1 0 \
                    12345 0 0\n";
        assert_eq!(parse_stat(line), Some(StatFields { ppid: 77, cpu_ticks: 300 }));
        let tricky = "9 (a) S 1 2 3 4 5 6 7 8 9 10 11 12) R 42 9 9 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 1 0 0";
        assert_eq!(parse_stat(tricky), Some(StatFields { ppid: 42, cpu_ticks: 15 }));
    }

    #[test]
    fn malformed_stat_lines_are_refused_without_panicking() {
        for line in ["", "garbage", "12 (name)", "12 (name", "12 (x) S notanumber 1 1 0 -1 0 0 0 0 0 1 1", ")"] {
            assert_eq!(parse_stat(line), None, "{line:?}");
        }
    }

    #[test]
    fn vm_rss_line() {
        let status = "Name:\tneutrino\nVmPeak:\t  9000 kB\nVmRSS:\t   31744 kB\nThreads:\t3\n";
        assert_eq!(parse_vm_rss_kib(status), Some(31744));
        assert_eq!(parse_vm_rss_kib("Name:\tkthreadd\n"), None);
    }

    #[test]
    fn tree_of_this_process_includes_a_child() {
        let mut child = match std::process::Command::new("sleep").arg("30").spawn() {
            Ok(child) => child,
            Err(e) => panic!("cannot start `sleep`: {e}"),
        };
        let me = std::process::id();
        let tree = process_tree(me);
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(tree.first(), Some(&me));
        assert!(tree.contains(&child.id()), "{tree:?} lacks child {}", child.id());
        assert!(tree_rss_kib(me) > 0);
        // Burn a little CPU so the counter is visibly non-zero at 100 ticks/s.
        burn_cpu_for(std::time::Duration::from_millis(50));
        assert!(tree_cpu_seconds(me) > 0.0);
    }

    #[test]
    fn a_meter_sums_several_servers() {
        let me = std::process::id();
        assert!(CpuMeter::default().sample().server.is_none() && CpuMeter::default().server_rss_kib().is_none());
        let one = CpuMeter { server_pids: vec![me], db_pid: None };
        let twice = CpuMeter { server_pids: vec![me, me], db_pid: Some(me) };
        let (one_rss, twice_rss) = (one.server_rss_kib().unwrap_or(0), twice.server_rss_kib().unwrap_or(0));
        assert!(one_rss > 0 && twice_rss >= 2 * one_rss - one_rss / 2, "{one_rss} {twice_rss}");
        // The test process may not have used a whole clock tick yet when this test runs first.
        burn_cpu_for(std::time::Duration::from_millis(50));
        let (a, b) = (one.sample(), twice.sample());
        let (a, b) = (a.server.unwrap_or(0.0), b.server.unwrap_or(0.0));
        assert!(a > 0.0 && b >= 2.0 * a - 0.05, "{a} {b}");
        assert!(twice.sample().db.is_some());
    }

    fn burn_cpu_for(duration: std::time::Duration) {
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed() < duration {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
        }
    }
}
