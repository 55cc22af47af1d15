//! `neutrino demo`: a whole cloud on this machine, in network namespaces.
//!
//! The server runs on its embedded defaults (SQLite store, embedded identity with a
//! generated admin password) in a controller namespace; each simulated compute host runs
//! `neutrino agent`; two VMs are booted through the same API calls Nova makes and ping each
//! other across VXLAN. Nothing is added to the machine's own network namespace, and
//! everything is removed on exit (Ctrl-C, or at once when stdin is not a terminal).

use anyhow::{bail, Context};
use neutrino_client::Collection;
use neutrino_testbed::cloud::{Auth, BootedVm, Cloud};
use neutrino_testbed::{preflight, Testbed};
use serde_json::Value;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Flags of `neutrino demo`.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Simulated compute hosts (at least 2).
    #[arg(long, default_value_t = 2)]
    hosts: usize,
    /// Keep the cloud running until Ctrl-C even when stdin is not a terminal.
    #[arg(long)]
    wait: bool,
}

fn step(n: usize, text: impl AsRef<str>) {
    println!("\n[{n}] {}", text.as_ref());
}

fn str_of<'a>(v: &'a serde_json::Map<String, Value>, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Runs the demo.
pub async fn run(args: DemoArgs) -> anyhow::Result<()> {
    preflight().context("the demo builds hosts in network namespaces")?;
    if args.hosts < 2 {
        bail!("--hosts must be at least 2");
    }
    let neutrino = std::env::current_exe().context("locating the neutrino binary")?;
    // The testbed blocks on its own threads; keep it off the async runtime's workers.
    tokio::task::spawn_blocking(move || demo(&neutrino, args)).await.context("demo thread")?
}

fn demo(neutrino: &std::path::Path, args: DemoArgs) -> anyhow::Result<()> {
    let password: String = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..20).map(|_| char::from(b"abcdefghijkmnpqrstuvwxyz23456789"[rng.random_range(0..32)])).collect()
    };
    let tb = Testbed::new("demo")?;
    let tag = tb.tag().to_string();
    println!("neutrino demo: a cloud in network namespaces on this machine (namespaces nt{tag}-*)");
    let ctl_ns = tb.controller().netns().to_string();

    step(1, "controller: `neutrino server` on its embedded defaults (SQLite store, embedded Keystone)");
    let mut cloud = Cloud::start_with(tb, neutrino, Auth::AdminPassword(password.clone()))?;
    println!("    API and identity at {} in namespace {ctl_ns}; admin password {password}", cloud.url());

    step(
        2,
        format!("{} compute hosts, each running `neutrino agent` (VXLAN endpoint = its underlay address)", args.hosts),
    );
    for i in 1..=args.hosts {
        let name = format!("compute-{i}");
        let host = cloud.add_host(&name)?;
        println!("    {name}: namespace {}, underlay {}", host.netns(), host.underlay_ip());
    }
    let agents = cloud.api("admin", |c| async move { c.list(Collection::Agents, &[]).await })?;
    for a in &agents {
        println!(
            "    GET /v2.0/agents: {} on {} alive={} heartbeat {}",
            str_of(a, "agent_type"),
            str_of(a, "host"),
            a.get("alive").and_then(Value::as_bool).unwrap_or(false),
            str_of(a, "heartbeat_timestamp")
        );
    }

    step(3, "a tenant network: POST /v2.0/networks, POST /v2.0/subnets");
    let net = cloud.network("admin", "demo-net", "10.10.0.0/24")?;
    let net_id = str_of(&net, "id").to_string();
    println!(
        "    demo-net {net_id}: {} segment {} (MTU {}), subnet 10.10.0.0/24",
        str_of(&net, "provider:network_type"),
        net.get("provider:segmentation_id").and_then(Value::as_u64).unwrap_or(0),
        net.get("mtu").and_then(Value::as_u64).unwrap_or(0)
    );

    let mut vms: Vec<BootedVm> = Vec::new();
    for (i, host) in ["compute-1", "compute-2"].iter().enumerate() {
        let name = format!("vm-{}", i + 1);
        step(
            4 + i,
            format!("boot {name} on {host} as Nova does: port with binding:host_id, plug the tap, wait for ACTIVE"),
        );
        let started = Instant::now();
        let vm = cloud.boot_vm("admin", host, &net_id, &name)?;
        println!(
            "    port {} {} mac {} -> tap {} in {}; ACTIVE after {} ms",
            vm.port_id(),
            vm.ip(),
            vm.mac(),
            vm.vm.tap(),
            vm.vm.host_netns(),
            started.elapsed().as_millis()
        );
        vms.push(vm);
    }

    step(6, "traffic between the hosts, across VXLAN");
    for (a, b) in [(0, 1), (1, 0)] {
        let res = vms[a].vm.ping(vms[b].ip(), 3, Duration::from_secs(5))?;
        println!("    {} -> {}: {}/{} echo replies", vms[a].vm.name(), vms[b].ip(), res.received, res.sent);
        if res.received == 0 {
            bail!("no replies from {}; logs in {}", vms[b].ip(), cloud.tb.log_dir().display());
        }
    }

    let vni = net.get("provider:segmentation_id").and_then(Value::as_u64).unwrap_or(0);
    let h1 = cloud.host("compute-1")?.netns().to_string();
    let brq = format!("brq{}", &net_id[..11.min(net_id.len())]);
    println!("\nPoke at it (as root, in another terminal):");
    println!("    ip netns exec {} ping {}", vms[0].vm.netns(), vms[1].ip());
    println!("    ip netns exec {h1} bridge fdb show dev vxlan-{vni}");
    println!("    ip netns exec {h1} ip -d link show master {brq}");
    println!(
        "    ip netns exec {ctl_ns} {} network list --os-auth-url {}/v3 --os-username admin --os-password {password} --os-project-name admin",
        neutrino.display(),
        cloud.url()
    );
    println!("    logs: {}", cloud.tb.log_dir().display());

    if args.wait || std::io::stdin().is_terminal() {
        println!("\nCtrl-C stops the cloud and removes every namespace it made.");
        wait_for_interrupt()?;
    }
    cloud.tb.keep_logs();
    println!("cleaning up: stopping the server and agents, deleting nt{tag}-* namespaces");
    let _ = cloud.kill_server();
    drop(cloud);
    Ok(())
}

/// Blocks until SIGINT or SIGTERM.
fn wait_for_interrupt() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r,
            _ = term.recv() => Ok(()),
        }
    })?;
    Ok(())
}
