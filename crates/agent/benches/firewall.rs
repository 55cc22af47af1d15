//! Security-group dataplane at scale, in release: `cargo bench -p neutrino-agent --bench firewall`.
//!
//! Layout: N ports (`BENCH_FW_PORTS`, a comma-separated list of sizes, each measured in a
//! namespace of its own; default 100,400,1200), 20 security groups of 10 rules each (8
//! ingress, 2 egress; a third with a remote prefix, a third with a remote group); port `i` is
//! in the 5 groups `(i + k * 4) % 20`, k = 0..5, so every port has 50 rules. Measures (a)
//! compile + first apply, (b) a no-op sync, (c) one rule changed → applied, 20 times, (d) one
//! port added (its map and set elements and its groups' members), 20 times, (e) a
//! restarted agent's first sync over the same kernel (must change nothing), (f) the compile
//! alone with the port cache warm after a rule change (the agent's own share). For (c) and (d):
//! p50/p90/max of the whole sync and the p50 of its nft transaction alone. Runs nft in a
//! throwaway network namespace; skips with a reason when not root or without nft/ip/nsenter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests may unwrap and enter namespaces

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use neutrino_agent::firewall::{
    compile, compile_host_cached, Firewall, FirewallConfig, HostDevices, PortCache, Remotes, SystemNft,
};
use neutrino_agent::report::Report;
use neutrino_agent_api::{HostState, PortSecurity, SecurityGroupState, SecurityRule};

const GROUPS: u32 = 20;
const RULES: u32 = 10;
const GROUPS_PER_PORT: u32 = 5;
const CHANGES: u32 = 20;

fn skip_reason() -> Option<String> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    ["/usr/sbin/nft", "/usr/sbin/ip", "/usr/bin/nsenter"]
        .into_iter()
        .find(|b| !std::path::Path::new(b).exists())
        .map(|b| format!("{b} is missing"))
}

/// The namespace and the nft wrapper script, removed on drop.
struct Netns {
    name: String,
    dir: tempfile::TempDir,
}

impl Netns {
    fn new(ports: u32) -> Netns {
        let name = format!("nt-fwbench-{}-{ports}", std::process::id());
        let ok = Command::new("ip").args(["netns", "add", &name]).status().is_ok_and(|s| s.success());
        assert!(ok, "ip netns add {name}");
        let dir = tempfile::tempdir().unwrap();
        Netns { name, dir }
    }

    fn firewall(&self) -> Firewall {
        let script = self.dir.path().join("nft");
        let text = format!("#!/bin/sh\nexec nsenter --net=/run/netns/{} /usr/sbin/nft \"$@\"\n", self.name);
        std::fs::write(&script, text).unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let cfg = FirewallConfig {
            nft_path: script.clone(),
            // The namespace's own /proc/sys/net/bridge is read by the syncing thread.
            bridge_sysctl_dir: "/proc/sys/net/bridge".into(),
            verify_interval: Duration::from_secs(3600),
            hybrid_plug: false,
        };
        Firewall::with_runner(cfg, Arc::new(SystemNft { nft_path: script }))
    }

    /// One sync on a thread inside the namespace, timed.
    fn sync(&self, fw: &mut Firewall, state: &HostState) -> (Report, Duration) {
        let ns = std::fs::File::open(format!("/run/netns/{}", self.name)).unwrap();
        std::thread::scope(|s| {
            s.spawn(|| {
                // SAFETY: setns only changes this thread's network namespace.
                assert_eq!(unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) }, 0, "setns");
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                let start = Instant::now();
                let report = rt.block_on(fw.sync(state));
                (report, start.elapsed())
            })
            .join()
            .unwrap()
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn port(i: u32, groups: &[SecurityGroupState], members: &mut BTreeMap<String, Vec<String>>) -> PortSecurity {
    let ip = format!("10.{}.{}.{}", 1 + i / 62500, (i / 250) % 250, i % 250 + 1);
    let ids: Vec<String> = (0..GROUPS_PER_PORT).map(|k| groups[((i + k * 4) % GROUPS) as usize].id.clone()).collect();
    for g in &ids {
        members.entry(g.clone()).or_default().push(ip.clone());
    }
    PortSecurity {
        port_id: format!("{i:08x}-5ca1-4000-8000-000000000000"),
        mac_address: format!("fa:16:3e:00:{:02x}:{:02x}", i >> 8, i & 0xff),
        ip_addresses: vec![ip.parse().unwrap()],
        allowed_address_pairs: vec![],
        port_security_enabled: true,
        security_group_ids: ids,
    }
}

fn state(ports: u32) -> HostState {
    let groups: Vec<SecurityGroupState> = (0..GROUPS)
        .map(|g| {
            let id = format!("5ca1e000-0000-4000-8000-{g:012}");
            let rules = (0..RULES)
                .map(|r| SecurityRule {
                    id: format!("r{r}"),
                    direction: if r < 2 { "egress" } else { "ingress" }.into(),
                    ethertype: "IPv4".into(),
                    protocol: Some(if r % 2 == 0 { "tcp" } else { "udp" }.into()),
                    port_range_min: Some(1000 + r),
                    port_range_max: Some(1000 + r + g),
                    remote_ip_prefix: (r % 3 == 0).then(|| format!("192.0.{r}.0/24")),
                    remote_group_id: (r % 3 == 1).then(|| id.clone()),
                    remote_address_group_id: None,
                })
                .collect();
            SecurityGroupState { id, stateful: true, rules }
        })
        .collect();
    let mut members: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let ports: Vec<PortSecurity> = (0..ports).map(|i| port(i, &groups, &mut members)).collect();
    HostState { port_security: ports, security_groups: groups, group_members: members, ..HostState::default() }
}

fn percentiles(mut times: Vec<Duration>) -> String {
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    format!("p50 {:?}, p90 {:?}, max {:?}", pct(50), pct(90), times.last().unwrap())
}

fn p50(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// `CHANGES` times: `change`, then one sync that must apply it; the sync times and the nft
/// transaction times.
fn changes(ns: &Netns, fw: &mut Firewall, state: &mut HostState, change: impl Fn(&mut HostState, u32)) -> String {
    let (mut times, mut nft) = (Vec::new(), Vec::new());
    for i in 0..CHANGES {
        change(state, i);
        let (report, took) = ns.sync(fw, state);
        assert!(report.applied.iter().any(|a| a.starts_with("nftables ruleset")), "{report:?}");
        assert!(report.issues.iter().all(|i| !i.reason.contains("ruleset")), "{report:?}");
        times.push(took);
        nft.extend(fw.take_apply_time());
    }
    format!("{CHANGES} runs: {}; nft p50 {:?}", percentiles(times), p50(nft))
}

fn main() {
    if let Some(reason) = skip_reason() {
        println!("firewall bench skipped: {reason}");
        return;
    }
    let sizes = std::env::var("BENCH_FW_PORTS").unwrap_or_else(|_| "100,400,1200".into());
    for ports in sizes.split(',').filter_map(|n| n.trim().parse().ok()) {
        run(ports);
    }
}

fn run(ports: u32) {
    let ns = Netns::new(ports);
    let mut state = state(ports);
    let compiled = compile(&state.port_security, &state.security_groups, &state.group_members);
    assert!(compiled.issues.is_empty(), "{:?}", compiled.issues);
    let rules = compiled.to_json().matches(r#""rule""#).count();
    println!(
        "layout: {ports} ports x {} rules ({GROUPS} groups x {RULES} rules, {GROUPS_PER_PORT} groups per port); \
         document {} KiB, {rules} nft rules",
        GROUPS_PER_PORT * RULES,
        compiled.to_json().len() / 1024
    );
    if let Ok(dir) = std::env::var("BENCH_FW_DUMP") {
        std::fs::write(format!("{dir}/ruleset-{ports}.json"), compiled.to_json()).unwrap();
    }

    let mut fw = ns.firewall();
    let start = Instant::now();
    let compiled = compile(&state.port_security, &state.security_groups, &state.group_members);
    let compile_time = start.elapsed();
    drop(compiled);
    let (report, first) = ns.sync(&mut fw, &state);
    assert!(report.applied.iter().any(|a| a.starts_with("nftables ruleset")), "{report:?}");
    println!("  (a) compile {compile_time:?}; compile + first apply (one sync) {first:?}");

    let (report, noop) = ns.sync(&mut fw, &state);
    assert!(report.applied.is_empty(), "{report:?}");
    println!("  (b) no-op sync {noop:?}");

    let rule_change = |state: &mut HostState, i: u32| {
        state.security_groups[(i % GROUPS) as usize].rules[3].port_range_max = Some(2000 + i);
    };
    println!("  (c) one rule changed -> applied, {}", changes(&ns, &mut fw, &mut state, rule_change));
    let port_added = |state: &mut HostState, i: u32| {
        let added = port(ports + i, &state.security_groups, &mut state.group_members);
        state.port_security.push(added);
    };
    println!("  (d) one port added -> applied, {}", changes(&ns, &mut fw, &mut state, port_added));

    // The agent's compile alone (no kernel), with the port cache warm, after a rule change.
    let mut cache = PortCache::default();
    let (devices, mut times) = (HostDevices::of(&state), Vec::new());
    for i in 0..CHANGES {
        state.security_groups[(i % GROUPS) as usize].rules[3].port_range_max = Some(3000 + i);
        let start = Instant::now();
        let c = compile_host_cached(
            &state.port_security,
            &state.security_groups,
            &Remotes::of(&state),
            &devices,
            &mut cache,
        );
        times.push(start.elapsed());
        drop(c);
    }
    println!("  (f) compile with the port cache warm, after a rule change: {}", percentiles(times));
    // The kernel gets the last of those changes, so the restart below finds it in place.
    let (report, _) = ns.sync(&mut fw, &state);
    assert!(report.applied.iter().any(|a| a.starts_with("nftables ruleset")), "{report:?}");

    let mut restarted = ns.firewall();
    let (report, took) = ns.sync(&mut restarted, &state);
    assert!(report.applied.is_empty(), "a restart changed the kernel: {report:?}");
    println!("  (e) restarted agent's first sync over the same kernel: {took:?}, 0 changes");
}
