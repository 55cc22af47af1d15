//! Dataplane benchmarks on a real kernel, in a testbed (root only; `cargo bench -p neutrino
//! --bench agent_dataplane`):
//!
//! * **bind → ACTIVE**: for each of 200 ports on one host, as Nova does it: create the port
//!   with `binding:host_id`, plug its tap, poll until `status` is ACTIVE. Reported: p50, p90,
//!   p99 and max of the time from the create's answer to ACTIVE seen.
//! * **resync after restart**: 1000 ports wired on one host; the agent is restarted and the
//!   time until its first full reconcile is done is measured (from the process start, read
//!   from its log, and from the restart as seen outside), with the number of kernel changes
//!   it made (must be 0).
//!
//! `BENCH_BIND_PORTS` and `BENCH_RESYNC_PORTS` change the sizes. `BENCH_MECHANISM=openvswitch`
//! makes h1 an Open vSwitch host (its own ovsdb-server and ovs-vswitchd, userspace
//! datapath) whose ports are plugged as os-vif's hybrid plug does (`qbr`/`qvb`/`qvo`, `qvo` on
//! br-int with the port's `iface-id`).
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_client::Collection;
use neutrino_testbed::cloud::{Cloud, Mechanism};
use neutrino_testbed::{preflight, Testbed};
use serde_json::{json, Value};
use std::path::Path;
use std::time::{Duration, Instant};

fn size(var: &str, default: usize) -> usize {
    std::env::var(var).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[idx]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    if let Err(why) = preflight() {
        eprintln!("skipped: {why}");
        return;
    }
    let tb = Testbed::new("bench").expect("testbed");
    let mut cloud = Cloud::start(tb, Path::new(env!("CARGO_BIN_EXE_neutrino"))).expect("server");
    cloud.agent_flags.extend(["--resync-interval".to_string(), "30".to_string()]);
    if open_vswitch() {
        // Asked for by name: a machine that cannot run OVS hosts is an error, not a skip.
        if let Err(why) = neutrino_testbed::ovs_preflight() {
            panic!("BENCH_MECHANISM=openvswitch, but this machine cannot run Open vSwitch hosts: {why}");
        }
        cloud.mechanism = Mechanism::OpenVswitch { hybrid_plug: true };
    }
    cloud.add_host("h1").expect("host");
    // The DHCP host of the later scenario wires Linux bridges whatever h1 is.
    cloud.mechanism = Mechanism::LinuxBridge;
    // The guests' ends of the taps live in one namespace private to the host (as VMs'
    // interfaces live in the guests); the taps themselves appear in the host with IPv6 on,
    // as a hypervisor creates them.
    let h = cloud.host("h1").expect("h1");
    h.exec_ok(["ip", "netns", "add", "guests"]).expect("guests namespace");
    h.exec_ok(["ip", "netns", "exec", "guests", "sysctl", "-w", "net.ipv6.conf.default.disable_ipv6=1"])
        .expect("sysctl");
    // Neutron's default quota (500 ports) is below what the resync scenario wires.
    let quotas = format!("{}/v2.0/quotas/admin", cloud.url());
    cloud
        .tb
        .block_on_in(cloud.tb.controller().netns(), move || async move {
            let res = reqwest::Client::new()
                .put(quotas)
                .header("X-Project-Id", "admin")
                .json(&json!({"quota": {"port": -1}}))
                .send()
                .await
                .expect("quota update");
            assert!(res.status().is_success(), "quota update: {}", res.status());
        })
        .expect("controller");
    let net = cloud.network("admin", "bench", "10.128.0.0/16").expect("network");
    let net_id = net.get("id").and_then(Value::as_str).unwrap_or_default().to_string();

    bind_to_active(&cloud, &net_id, size("BENCH_BIND_PORTS", 200));
    // A Linux bridge holds at most 1024 ports (BR_MAX_PORTS), so the resync scenario spreads
    // its ports over ten more networks, 100 each: ten bridges and VXLAN devices to check too.
    let nets: Vec<String> = (0..10)
        .map(|i| {
            let net = cloud.network("admin", &format!("resync-{i}"), &format!("10.{i}.0.0/16")).expect("network");
            net.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
        })
        .collect();
    resync(&mut cloud, &nets, size("BENCH_RESYNC_PORTS", 1000));
    dhcp_resync(&mut cloud, size("BENCH_DHCP_NETWORKS", 50), size("BENCH_DHCP_PORTS", 1000));
    rule_to_dataplane(&cloud, size("BENCH_RULE_CHANGES", 20));
    if std::env::var_os("BENCH_KEEP_LOGS").is_some() {
        cloud.tb.keep_logs();
    }
}

/// Creates a bound port; returns (id, answer time).
fn create_bound_port(cloud: &Cloud, net_id: &str) -> (String, Instant) {
    let net_id = net_id.to_string();
    let port = cloud
        .api("admin", move |c| async move {
            let attrs = json!({"network_id": net_id, "binding:host_id": "h1", "device_owner": "compute:nova"});
            c.create(Collection::Ports, attrs.as_object().cloned().unwrap_or_default()).await
        })
        .expect("port create");
    (port.get("id").and_then(Value::as_str).unwrap_or_default().to_string(), Instant::now())
}

fn open_vswitch() -> bool {
    std::env::var("BENCH_MECHANISM").is_ok_and(|m| m == "openvswitch")
}

fn plug(cloud: &Cloud, port_ids: &[String]) {
    let host = cloud.host("h1").expect("h1");
    let (mut taps, mut guests) = (String::new(), String::new());
    let mut vsctl: Vec<String> = vec!["ovs-vsctl".into(), "--timeout=120".into()];
    for id in port_ids {
        let tap = format!("tap{}", &id[..11]);
        let peer = format!("vif{}", &id[..11]);
        taps.push_str(&format!("link add {tap} type veth peer name {peer} netns guests\nlink set {tap} up\n"));
        guests.push_str(&format!("link set {peer} up\n"));
        if open_vswitch() {
            // os-vif's hybrid plug: the tap in qbr, qvb/qvo from qbr to br-int.
            let (qbr, qvb, qvo) =
                (format!("qbr{}", &id[..11]), format!("qvb{}", &id[..11]), format!("qvo{}", &id[..11]));
            taps.push_str(&format!(
                "link add {qbr} type bridge forward_delay 0 stp_state 0\nlink set {qbr} addrgenmode none up\n\
                 link add {qvb} type veth peer name {qvo}\nlink set {qvb} master {qbr} up\nlink set {qvo} up\n\
                 link set {tap} master {qbr}\n"
            ));
            vsctl.extend(
                ["--", "--may-exist", "add-port", "br-int", &qvo, "--", "set", "Interface", &qvo].map(String::from),
            );
            vsctl.extend([format!("external_ids:iface-id={id}"), "external_ids:iface-status=active".into()]);
        }
    }
    for (netns, batch) in [(None, taps), (Some("guests"), guests)] {
        let file = cloud.tb.log_dir().join("plug.batch");
        std::fs::write(&file, batch).expect("batch file");
        let mut argv = vec!["ip".to_string()];
        if let Some(ns) = netns {
            argv.extend(["-n".to_string(), ns.to_string()]);
        }
        argv.extend(["-batch".to_string(), file.display().to_string()]);
        let out = host.exec(argv).expect("ip -batch");
        assert!(out.status.success(), "plugging: {}", String::from_utf8_lossy(&out.stderr));
    }
    if open_vswitch() {
        host.ovs(&vsctl).expect("ovs-vsctl add-port");
    }
}

fn bind_to_active(cloud: &Cloud, net_id: &str, n: usize) {
    let mut samples = Vec::with_capacity(n);
    let total = Instant::now();
    for _ in 0..n {
        let (id, answered) = create_bound_port(cloud, net_id);
        plug(cloud, std::slice::from_ref(&id));
        let port_id = id.clone();
        let seen = cloud
            .api("admin", move |c| async move {
                loop {
                    let p = c.show(Collection::Ports, &port_id).await?;
                    if p.get("status").and_then(Value::as_str) == Some("ACTIVE") {
                        return Ok(Instant::now());
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            })
            .expect("poll");
        samples.push(seen - answered);
    }
    samples.sort();
    println!(
        "bind -> ACTIVE, {n} ports on one host, one at a time: p50 {} p90 {} p99 {} max {} (total {:.1} s)",
        ms(percentile(&samples, 0.50)),
        ms(percentile(&samples, 0.90)),
        ms(percentile(&samples, 0.99)),
        ms(*samples.last().unwrap_or(&Duration::ZERO)),
        total.elapsed().as_secs_f64()
    );
}

fn resync(cloud: &mut Cloud, nets: &[String], n: usize) {
    let have = active_count(cloud);
    let want = have + n;
    let mut ids = Vec::with_capacity(n);
    for chunk in 0..n.div_ceil(100) {
        let count = 100.min(n - chunk * 100);
        let net_id = nets[chunk % nets.len()].clone();
        let created = cloud
            .api("admin", move |c| async move {
                let mut ids = Vec::new();
                let mut pending = Vec::new();
                for _ in 0..count {
                    let attrs = json!({"network_id": net_id, "binding:host_id": "h1", "device_owner": "compute:nova"});
                    pending.push(c.create(Collection::Ports, attrs.as_object().cloned().unwrap_or_default()));
                }
                for p in futures::future::join_all(pending).await {
                    ids.push(p?.get("id").and_then(Value::as_str).unwrap_or_default().to_string());
                }
                Ok(ids)
            })
            .expect("ports");
        ids.extend(created);
    }
    let plugged = Instant::now();
    plug(cloud, &ids);
    wait_active(cloud, want, Duration::from_secs(120));
    println!(
        "wired {n} more ports in {} networks on one host ({want} in all): {:.2} s from plugging to all ACTIVE",
        nets.len(),
        plugged.elapsed().as_secs_f64()
    );

    let log_before = cloud.agent("h1").expect("agent").read_log().len();
    let restarted = Instant::now();
    cloud.restart_agent("h1").expect("restart");
    let line = loop {
        let log = cloud.agent("h1").expect("agent").read_log();
        if let Some(line) = log[log_before.min(log.len())..].lines().find(|l| l.contains("initial sync done")) {
            break line.to_string();
        }
        assert!(restarted.elapsed() < Duration::from_secs(60), "no initial sync after the restart");
        std::thread::sleep(Duration::from_millis(5));
    };
    let seen_outside = restarted.elapsed();
    let field = |name: &str| -> String {
        line.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or("?").to_string()
    };
    println!(
        "agent restart with {want} ports on the host: initial sync {} ms after start (reconcile pass {} ms), \
         {} kernel changes, {} ports ACTIVE; {} from the restart as seen outside",
        field("since_start_ms"),
        field("reconcile_ms"),
        field("changes"),
        field("active"),
        ms(seen_outside)
    );
}

/// The DHCP agent serving `networks` networks with `ports` ports in all is killed (dnsmasq
/// stays), a port is created meanwhile, and the agent restarted: time until its first full
/// pass (namespaces, veths, addresses, files, dnsmasq checked for every network) is done,
/// and whether the new port is in its network's hosts file.
fn dhcp_resync(cloud: &mut Cloud, networks: usize, ports: usize) {
    let started = Instant::now();
    cloud.add_dhcp_host("d1").expect("DHCP host");
    let mut nets = Vec::with_capacity(networks);
    for i in 0..networks {
        let (a, b) = (i / 250, i % 250);
        let net = cloud.network("admin", &format!("dhcp-{i}"), &format!("10.{}.{b}.0/24", 200 + a)).expect("network");
        nets.push(net.get("id").and_then(Value::as_str).unwrap_or_default().to_string());
    }
    let per = ports.div_ceil(networks.max(1));
    for (i, net) in nets.iter().enumerate() {
        let count = per.min(ports.saturating_sub(i * per));
        let net = net.clone();
        cloud
            .api("admin", move |c| async move {
                let pending: Vec<_> = (0..count)
                    .map(|_| {
                        c.create(Collection::Ports, json!({"network_id": net}).as_object().cloned().unwrap_or_default())
                    })
                    .collect();
                for p in futures::future::join_all(pending).await {
                    p?;
                }
                Ok(())
            })
            .expect("ports");
    }
    // Served: every network's DHCP port ACTIVE.
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let active = cloud
            .api("admin", |c| async move {
                c.list(Collection::Ports, &[("device_owner", "network:dhcp"), ("status", "ACTIVE"), ("fields", "id")])
                    .await
            })
            .map(|l| l.len())
            .unwrap_or(0);
        if active >= networks {
            break;
        }
        assert!(Instant::now() < deadline, "only {active} of {networks} DHCP ports ACTIVE");
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "DHCP for {networks} networks with {ports} ports brought up from nothing in {:.2} s",
        started.elapsed().as_secs_f64()
    );

    let agent = cloud.agent("d1").expect("agent").clone();
    agent.kill().expect("kill");
    let net = nets[0].clone();
    let port = cloud
        .api("admin", move |c| async move {
            c.create(Collection::Ports, json!({"network_id": net}).as_object().cloned().unwrap_or_default()).await
        })
        .expect("port");
    let mac = port.get("mac_address").and_then(Value::as_str).unwrap_or_default().to_string();
    let log_before = agent.read_log().len();
    let restarted = Instant::now();
    cloud.restart_agent("d1").expect("restart");
    let line = loop {
        let log = cloud.agent("d1").expect("agent").read_log();
        if let Some(line) = log[log_before.min(log.len())..].lines().find(|l| l.contains("initial sync done")) {
            break line.to_string();
        }
        assert!(restarted.elapsed() < Duration::from_secs(60), "no initial sync after the restart");
        std::thread::sleep(Duration::from_millis(5));
    };
    let seen_outside = restarted.elapsed();
    let hosts = cloud.tb.log_dir().join("dhcp-d1").join(&nets[0]).join("host");
    let served = std::fs::read_to_string(&hosts).unwrap_or_default().contains(&mac);
    let field = |name: &str| -> String {
        line.split_whitespace().find_map(|kv| kv.strip_prefix(&format!("{name}="))).unwrap_or("?").to_string()
    };
    println!(
        "DHCP agent restart, {networks} networks / {ports} ports: full pass done {} ms after start \
         ({} from the restart as seen outside); port created meanwhile in the hosts file: {served}",
        field("since_start_ms"),
        ms(seen_outside)
    );
}

/// A security group rule created through the API until it lets a TCP connection through,
/// and deleted until it stops it: the end-to-end time of a rule change (API, change feed,
/// watch, compile, one nft transaction), measured by the connection itself.
fn rule_to_dataplane(cloud: &Cloud, changes: usize) {
    let net = cloud.network("bench-sg", "sg", "10.250.0.0/24").expect("network");
    let net_id = net.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let server = cloud.boot_vm("bench-sg", "h1", &net_id, "sgserver").expect("vm");
    // A client in another project: not in the server's default group.
    let client = cloud.boot_vm("admin", "h1", &net_id, "sgclient").expect("vm");
    let script = format!(
        "import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{}',5001));s.listen(64)\nwhile True:\n c,_=s.accept();c.sendall(b'hello');c.close()\n",
        server.ip()
    );
    cloud.tb.spawn_in(server.vm.netns(), "python3", ["-c", script.as_str()], &[], None).expect("listener");
    std::thread::sleep(Duration::from_millis(300));
    // The probe connects from a thread entered into the client VM's namespace: a spawned
    // `bash` per attempt cost 30-40 ms, more than half the change measured.
    let target = std::net::SocketAddr::new(server.ip().parse().expect("server address"), 5001);
    // Each probe's own duration, to tell the probe's granularity from the change's time.
    let probes = std::cell::RefCell::new(Vec::new());
    let connects = || {
        let start = Instant::now();
        let ok = cloud
            .tb
            .in_netns(client.vm.netns(), move || {
                let timeout = Duration::from_millis(50);
                let Ok(mut stream) = std::net::TcpStream::connect_timeout(&target, timeout) else { return false };
                let _ = stream.set_read_timeout(Some(timeout));
                let mut hello = [0u8; 5];
                std::io::Read::read_exact(&mut stream, &mut hello).is_ok() && &hello == b"hello"
            })
            .unwrap_or(false);
        probes.borrow_mut().push(start.elapsed());
        ok
    };
    let group = cloud
        .api("bench-sg", |c| async move {
            let groups = c.list(Collection::SecurityGroups, &[("name", "default"), ("project_id", "bench-sg")]).await?;
            Ok(groups.first().and_then(|g| g.get("id")).and_then(Value::as_str).unwrap_or_default().to_string())
        })
        .expect("group");
    let (mut open, mut close, mut api) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..changes {
        let g = group.clone();
        let started = Instant::now();
        let rule = cloud
            .api("bench-sg", move |c| async move {
                let body = json!({"security_group_id": g, "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                                  "port_range_min": 5001, "port_range_max": 5001});
                c.create(Collection::SecurityGroupRules, body.as_object().cloned().unwrap_or_default()).await
            })
            .expect("rule");
        api.push(started.elapsed());
        while !connects() {
            assert!(started.elapsed() < Duration::from_secs(10), "the rule never opened the port");
        }
        open.push(started.elapsed());
        let id = rule.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let started = Instant::now();
        cloud
            .api("bench-sg", move |c| async move { c.delete(Collection::SecurityGroupRules, &id).await })
            .expect("delete");
        while connects() {
            assert!(started.elapsed() < Duration::from_secs(10), "the rule never closed the port");
        }
        close.push(started.elapsed());
    }
    open.sort();
    close.sort();
    api.sort();
    let mut probes = probes.take();
    probes.sort();
    println!(
        "security group rule change, parts: the rule create's API answer p50 {}; one probe (a connect from the client VM's namespace) p50 {} p90 {}",
        ms(percentile(&api, 0.5)),
        ms(percentile(&probes, 0.5)),
        ms(percentile(&probes, 0.9))
    );
    println!(
        "security group rule change -> enforced (end to end, {changes} changes, on the host of the earlier scenarios): \
         open p50 {} p90 {} max {}; close p50 {} p90 {} max {}",
        ms(percentile(&open, 0.5)),
        ms(percentile(&open, 0.9)),
        ms(*open.last().unwrap_or(&Duration::ZERO)),
        ms(percentile(&close, 0.5)),
        ms(percentile(&close, 0.9)),
        ms(*close.last().unwrap_or(&Duration::ZERO))
    );
}

fn active_count(cloud: &Cloud) -> usize {
    cloud
        .api("admin", |c| async move { c.list(Collection::Ports, &[("status", "ACTIVE"), ("fields", "id")]).await })
        .map(|l| l.len())
        .unwrap_or(0)
}

fn wait_active(cloud: &Cloud, want: usize, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    loop {
        let n = active_count(cloud);
        if n >= want {
            return;
        }
        assert!(Instant::now() < deadline, "only {n} of {want} ports ACTIVE");
        std::thread::sleep(Duration::from_millis(50));
    }
}
