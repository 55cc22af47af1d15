//! `neutrino demo`: a whole cloud on this machine, in network namespaces.
//!
//! The server runs on its embedded defaults (SQLite store, embedded identity with a
//! generated admin password) in a controller namespace, with a DNS domain as OpenStack's CI
//! gives Neutron ([`DEMO_SERVER_CONFIG`]); each simulated compute host runs
//! `neutrino agent`; two VMs are booted through the same API calls Nova makes and ping each
//! other across VXLAN. Nothing is added to the machine's own network namespace, and
//! everything is removed on exit (Ctrl-C, or at once when stdin is not a terminal).

use anyhow::{bail, Context};
use neutrino_client::Collection;
use neutrino_testbed::cloud::{Auth, BootedVm, Cloud, FakeNova, Mechanism};
use neutrino_testbed::vif::{self, Vif};
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
    /// The compute hosts' L2 mechanism: Linux bridges, or Open vSwitch (one per host, userspace
    /// datapath, VMs through the hybrid plug; needs Debian's openvswitch-switch and ethtool).
    #[arg(long, value_enum, default_value_t = DemoMechanism::Linuxbridge)]
    mechanism: DemoMechanism,
}

/// `--mechanism` of `neutrino demo`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DemoMechanism {
    Linuxbridge,
    Openvswitch,
}

/// The demo server's config: `openstackgate.local`, the `dns_domain` OpenStack's CI sets, so
/// ports keep their `dns_name` (dns-integration) and DHCP hands it out as the hostname; the
/// conformance run's suites test that.
const DEMO_SERVER_CONFIG: &str = "dns_domain = \"openstackgate.local\"\n";

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
    if args.mechanism == DemoMechanism::Openvswitch {
        neutrino_testbed::ovs_preflight().context("--mechanism openvswitch runs Open vSwitch on every host")?;
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

    step(
        1,
        "controller: `neutrino server` on its embedded defaults (SQLite store, embedded Keystone), dns_domain \
         openstackgate.local",
    );
    let mut cloud = Cloud::start_with_config(tb, neutrino, Auth::AdminPassword(password.clone()), DEMO_SERVER_CONFIG)?;
    // The DHCP agents name guests in the same domain as the server.
    cloud.agent_flags.extend(["--dns-domain".to_string(), "openstackgate.local".to_string()]);
    println!("    API and identity at {} in namespace {ctl_ns}; admin password {password}", cloud.url());
    let nova = FakeNova::start(&cloud, &password)?;
    cloud.set_metadata(&nova.url, &password);
    println!("    a stand-in for Nova's metadata API at {} (checks the signed X-Instance-ID)", nova.url);

    let ovs = args.mechanism == DemoMechanism::Openvswitch;
    if ovs {
        cloud.mechanism = Mechanism::OpenVswitch { hybrid_plug: true };
    }
    let how = if ovs {
        "`neutrino agent --mechanism openvswitch` beside its own ovsdb-server and ovs-vswitchd (netdev datapath, \
         VXLAN endpoint on br-phy)"
    } else {
        "`neutrino agent` (VXLAN endpoint = its underlay address)"
    };
    step(2, format!("{} compute hosts, each running {how}", args.hosts));
    for i in 1..=args.hosts {
        let name = format!("compute-{i}");
        // compute-1 also serves DHCP and metadata, as a network node would.
        let host = if i == 1 { cloud.add_network_node(&name, "203.0.113.1/24")? } else { cloud.add_host(&name)? };
        let extra = if i == 1 {
            ", --dhcp --l3 (dnsmasq and metadata in qdhcp- namespaces, routers in qrouter-), eth1 on the outside"
        } else {
            ""
        };
        println!("    {name}: namespace {}, underlay {}{extra}", host.netns(), host.underlay_ip());
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

    step(3, "a tenant network: POST /v2.0/networks, POST /v2.0/subnets (DHCP on)");
    let net = cloud.network("admin", "demo-net", "10.10.0.0/24")?;
    let net_id = str_of(&net, "id").to_string();
    let started = Instant::now();
    let dhcp_port = loop {
        let n = net_id.clone();
        let ports = cloud.api("admin", move |c| async move {
            c.list(Collection::Ports, &[("network_id", n.as_str()), ("device_owner", "network:dhcp")]).await
        })?;
        if let Some(p) = ports.into_iter().find(|p| str_of(p, "status") == "ACTIVE") {
            break p;
        }
        if started.elapsed() > Duration::from_secs(20) {
            bail!("the network's DHCP port did not become ACTIVE; logs in {}", cloud.tb.log_dir().display());
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!(
        "    scheduled to compute-1's DHCP agent: port {} {} ACTIVE after {} ms",
        str_of(&dhcp_port, "id"),
        dhcp_port
            .get("fixed_ips")
            .and_then(|f| f.get(0))
            .and_then(|f| f.get("ip_address"))
            .and_then(Value::as_str)
            .unwrap_or(""),
        started.elapsed().as_millis()
    );
    println!(
        "    demo-net {net_id}: {} segment {} (MTU {}), subnet 10.10.0.0/24",
        str_of(&net, "provider:network_type"),
        net.get("provider:segmentation_id").and_then(Value::as_u64).unwrap_or(0),
        net.get("mtu").and_then(Value::as_u64).unwrap_or(0)
    );

    let mut vms: Vec<BootedVm> = Vec::new();
    let mut resolvers: Vec<Option<String>> = Vec::new();
    for (i, host) in ["compute-1", "compute-2"].iter().enumerate() {
        let name = format!("vm-{}", i + 1);
        let what = "as Nova does (port with binding:host_id, plug the VIF its binding names, wait for ACTIVE), then \
                    DHCP in the guest";
        step(4 + i, format!("boot {name} on {host} {what}"));
        let (vm, resolver) = boot_guest(&cloud, host, &net_id, &name)?;
        resolvers.push(resolver);
        vms.push(vm);
    }

    step(6, "traffic between the hosts, across VXLAN, names and metadata from the DHCP namespace");
    for (a, b) in [(0, 1), (1, 0)] {
        let res = vms[a].vm.ping(vms[b].ip(), 3, Duration::from_secs(5))?;
        println!("    {} -> {}: {}/{} echo replies", vms[a].vm.name(), vms[b].ip(), res.received, res.sent);
        if res.received == 0 {
            bail!("no replies from {}; logs in {}", vms[b].ip(), cloud.tb.log_dir().display());
        }
    }
    if let Some(resolver) = resolvers[0].as_deref() {
        show_lookup(&vms[0], &vms[1], resolver)?;
    }
    let md = vms[0].vm.exec(["curl", "-s", "-m", "5", "http://169.254.169.254/latest/meta-data/instance-id"])?;
    println!(
        "    {} curl http://169.254.169.254/latest/meta-data/instance-id -> {} (its port's device_id {})",
        vms[0].vm.name(),
        String::from_utf8_lossy(&md.stdout).trim(),
        vms[0].port.get("device_id").and_then(Value::as_str).unwrap_or("")
    );

    step(7, "a router to the outside: external network, router with a gateway, a floating IP, a rule for ICMP");
    let ext_ns = cloud.tb.netns_name("ext");
    let net_for_router = net_id.clone();
    let vm1_port = vms[0].port_id().to_string();
    let (router_id, fip) = cloud.api("admin", move |c| async move {
        let ext = c
            .create(
                Collection::Networks,
                obj(serde_json::json!({"name": "public", "router:external": true,
                "provider:network_type": "flat", "provider:physical_network": "external"})),
            )
            .await?;
        c.create(
            Collection::Subnets,
            obj(serde_json::json!({"network_id": ext["id"], "cidr": "203.0.113.0/24",
            "ip_version": 4, "enable_dhcp": false, "gateway_ip": "203.0.113.1",
            "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.200"}]})),
        )
        .await?;
        let subnets = c.list(Collection::Subnets, &[("network_id", net_for_router.as_str())]).await?;
        let r = c
            .create(
                Collection::Routers,
                obj(serde_json::json!({"name": "demo-router",
                "external_gateway_info": {"network_id": ext["id"]}})),
            )
            .await?;
        let rid = r.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        if let Some(sub) = subnets.first() {
            c.action(Collection::Routers, &rid, "add_router_interface", serde_json::json!({"subnet_id": sub["id"]}))
                .await?;
        }
        let groups = c.list(Collection::SecurityGroups, &[("name", "default")]).await?;
        for g in &groups {
            c.create(
                Collection::SecurityGroupRules,
                obj(serde_json::json!({"security_group_id": g["id"],
                "direction": "ingress", "ethertype": "IPv4", "protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"})),
            )
            .await?;
        }
        let fip = c
            .create(
                Collection::FloatingIps,
                obj(serde_json::json!({"floating_network_id": ext["id"], "port_id": vm1_port})),
            )
            .await?;
        Ok((rid, fip.get("floating_ip_address").and_then(Value::as_str).unwrap_or_default().to_string()))
    })?;
    println!("    router {router_id} on compute-1's L3 agent; floating IP {fip} -> {}", vms[0].ip());
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let r = vms[1].vm.ping("203.0.113.1", 2, Duration::from_secs(2))?;
        if r.received > 0 || Instant::now() > deadline {
            break r;
        }
    };
    println!(
        "    {} -> 203.0.113.1 (the outside, through SNAT): {}/{} echo replies",
        vms[1].vm.name(),
        out.received,
        out.sent
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    let back = loop {
        let o = cloud.tb.exec_in(&ext_ns, ["ping", "-c", "2", "-W", "1", fip.as_str()])?;
        if o.status.success() || Instant::now() > deadline {
            break o;
        }
    };
    println!(
        "    outside -> {fip} (vm-1's floating IP): {}",
        if back.status.success() { "answers" } else { "no answer" }
    );

    step(
        8,
        format!(
            "neutrino diagnose port {}: {}'s path, hop by hop, as the server and the agents see it",
            vms[0].port_id(),
            vms[0].vm.name()
        ),
    );
    let auth_url = format!("{}/v3", cloud.url());
    let diagnose = [
        "diagnose",
        "port",
        vms[0].port_id(),
        "--os-auth-url",
        &auth_url,
        "--os-username",
        "admin",
        "--os-password",
        &password,
        "--os-project-name",
        "admin",
    ];
    let argv = std::iter::once(neutrino.as_os_str()).chain(diagnose.iter().map(std::ffi::OsStr::new));
    let out = cloud.tb.exec_in(&ctl_ns, argv)?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!("    neutrino diagnose failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }

    let vni = net.get("provider:segmentation_id").and_then(Value::as_u64).unwrap_or(0);
    let h1 = cloud.host("compute-1")?.netns().to_string();
    let brq = format!("brq{}", &net_id[..11.min(net_id.len())]);
    println!("\nPoke at it (as root, in another terminal):");
    println!("    ip netns exec {} ping {}", vms[0].vm.netns(), vms[1].ip());
    if let Some(resolver) = resolvers[0].as_deref() {
        let name = vms[1].vm.name();
        println!("    ip netns exec {} busybox nslookup {name} {resolver}", vms[0].vm.netns());
    }
    match cloud.host("compute-1")?.ovs_dir() {
        Some(dir) => {
            let env = format!("OVS_RUNDIR={}", dir.display());
            println!("    {env} ip netns exec {h1} ovs-vsctl show");
            println!("    {env} ip netns exec {h1} ovs-ofctl dump-flows br-int");
            println!("    {env} ip netns exec {h1} ovs-ofctl dump-flows br-tun");
            let qbr = neutrino_testbed::vif::dev_name("qbr", vms[0].port_id());
            println!("    ip netns exec {h1} ip -d link show master {qbr}");
        }
        None => {
            println!("    ip netns exec {h1} bridge fdb show dev vxlan-{vni}");
            println!("    ip netns exec {h1} ip -d link show master {brq}");
        }
    }
    println!("    ip netns exec {ext_ns} ping {fip}");
    println!("    ip netns exec {h1} nft list ruleset");
    println!("    nsenter --net=/proc/$(pgrep -f 'agent --host compute-1' | head -1)/ns/net --mount=/proc/$(pgrep -f 'agent --host compute-1' | head -1)/ns/mnt ip netns exec qdhcp-{net_id} ip addr");
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

/// Boots `name` on `host` as Nova does and configures the guest by DHCP; returns the VM and
/// its resolver.
fn boot_guest(cloud: &Cloud, host: &str, net_id: &str, name: &str) -> anyhow::Result<(BootedVm, Option<String>)> {
    let started = Instant::now();
    // Nova sets the port's dns_name to the instance's hostname when dns-integration is on.
    let extra = serde_json::json!({"dns_name": name});
    let vm = cloud.plug_vm("admin", host, net_id, name, extra)?;
    println!(
        "    port {} mac {} -> tap {} in {}; ACTIVE after {} ms",
        vm.port_id(),
        vm.mac(),
        vm.vm.tap(),
        vm.vm.host_netns(),
        started.elapsed().as_millis()
    );
    if let Vif::Ovs { bridge, hybrid } = &vm.vif {
        let via = if *hybrid {
            format!("{} in {}", vm.vm.tap(), vif::dev_name("qbr", vm.port_id()))
        } else {
            vm.vm.tap().into()
        };
        let port = if *hybrid { vif::dev_name("qvo", vm.port_id()) } else { vm.vm.tap().into() };
        println!("    binding:vif_type ovs: {via}, {port} on {bridge} with external_ids:iface-id={}", vm.port_id());
    }
    let Some(lease) = vm.vm.dhcp(Duration::from_secs(10))? else {
        bail!("{name} got no DHCP lease; logs in {}", cloud.tb.log_dir().display());
    };
    println!(
        "    udhcpc in {name}: {}/{} router {} mtu {} classless routes [{}]",
        lease.ip,
        lease.mask.as_deref().unwrap_or("?"),
        lease.router.as_deref().unwrap_or("-"),
        lease.mtu.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
        lease.static_routes.as_deref().unwrap_or("")
    );
    println!(
        "    {name}'s resolver (option 6): {} (the subnet names none: the DHCP port's dnsmasq), domain {}",
        lease.dns.join(" "),
        lease.domain.as_deref().unwrap_or("-")
    );
    Ok((vm, lease.dns.first().cloned()))
}

/// `nslookup` of `to`'s name (its port's `dns_name`, the VM's name) from `from`, asking
/// `resolver`.
fn show_lookup(from: &BootedVm, to: &BootedVm, resolver: &str) -> anyhow::Result<()> {
    let name = format!("{}.openstackgate.local", to.vm.name());
    let out = from.vm.exec(["busybox", "nslookup", "-type=a", name.as_str(), resolver])?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let answer = text.lines().skip_while(|l| !l.starts_with("Name:")).find_map(|l| l.strip_prefix("Address:"));
    println!(
        "    {} nslookup {name} {resolver} -> {} ({}'s address)",
        from.vm.name(),
        answer.map(str::trim).unwrap_or("no answer"),
        to.vm.name()
    );
    Ok(())
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
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
