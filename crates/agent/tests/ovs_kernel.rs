//! The Open vSwitch wrapper and reconciler against a real ovsdb-server and ovs-vswitchd
//! (userspace datapath, `netdev`: our kernels have no openvswitch module), started by the
//! test in its own sandbox: a private mount namespace and a fresh network namespace on one
//! thread, OVS's run, database and log directories in a temporary directory, the daemons
//! killed when the test ends (also on panic). Needs root and Debian's openvswitch-switch;
//! skips with a reason otherwise (fails under CI).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests may unwrap and enter namespaces

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

mod common;

use common::{command_in, in_sandbox, Children};
use neutrino_agent::netns::NetnsDir;
use neutrino_agent::ovs::openflow::{Flow, Ofctl, OpenFlow};
use neutrino_agent::ovs::ovsdb::{Ovsdb, Vsctl, VsctlCommand};
use neutrino_agent::ovs::reconcile::OvsReconciler;
use neutrino_agent::ovs::system::OvsSwitch;
use neutrino_agent::ovs::OvsConfig;
use neutrino_agent_api::{BindingStatus, HostState, NetworkState, PortState, WiredStatus};

const BINARIES: [&str; 5] = [
    "/usr/sbin/ovsdb-server",
    "/usr/sbin/ovs-vswitchd",
    "/usr/bin/ovsdb-tool",
    "/usr/bin/ovs-vsctl",
    "/usr/bin/ovs-ofctl",
];
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";
const TIMEOUT: Duration = Duration::from_secs(10);

/// ovsdb-server and ovs-vswitchd in the current (sandbox) network namespace, everything
/// under `dir`.
fn start_ovs(dir: &Path) -> Children {
    start_ovs_in(dir, None)
}

/// [`start_ovs`], the daemons inside the named namespace `ns` (a simulated host) if given.
fn start_ovs_in(dir: &Path, ns: Option<(&NetnsDir, &str)>) -> Children {
    let spawn = |argv: &[&str]| match ns {
        Some((netns, name)) => command_in(netns, name, argv),
        None => {
            let mut c = Command::new(argv[0]);
            c.args(&argv[1..]);
            c
        }
    };
    let env = |cmd: &mut Command| {
        for key in ["OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"] {
            cmd.env(key, dir);
        }
    };
    let db = dir.join("conf.db");
    let created = Command::new("ovsdb-tool").arg("create").arg(&db).arg(SCHEMA).status().unwrap();
    assert!(created.success());
    let mut children = Children::default();
    let socket = dir.join("db.sock");
    let mut server = spawn(&["ovsdb-server"]);
    server.arg(&db).arg(format!("--remote=punix:{}", socket.display())).arg("--unixctl=ovsdb-server.ctl");
    server
        .arg(format!("--log-file={}", dir.join("ovsdb-server.log").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    env(&mut server);
    children.0.push(server.spawn().unwrap());
    wait_for(&socket);
    let init =
        Command::new("ovs-vsctl").arg(format!("--db=unix:{}", socket.display())).args(["--no-wait", "init"]).status();
    assert!(init.unwrap().success());
    let mut switch = spawn(&["ovs-vswitchd"]);
    switch.arg(format!("unix:{}", socket.display())).arg("--unixctl=ovs-vswitchd.ctl");
    switch
        .arg(format!("--log-file={}", dir.join("ovs-vswitchd.log").display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    env(&mut switch);
    children.0.push(switch.spawn().unwrap());
    wait_for(&dir.join("ovs-vswitchd.ctl"));
    children
}

fn wait_for(path: &Path) {
    for _ in 0..100 {
        if path.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{} did not appear", path.display());
}

fn vsctl(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("ovs-vsctl")
        .arg(format!("--db=unix:{}", dir.join("db.sock").display()))
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "ovs-vsctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(out.status.success(), "ip {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_wrapper_creates_bridges_and_replaces_flows_atomically() {
    if !common::runnable(&BINARIES, "openvswitch-switch") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_path_buf();
    in_sandbox(tmp.path(), |_| async move {
        let _ovs = start_ovs(&dir);
        let (db, of) = (Vsctl::new(&dir, TIMEOUT), Ofctl::new(&dir, TIMEOUT));
        let netdev = "netdev".to_string();
        db.transact(&[
            VsctlCommand::AddBridge { name: "br-int".into(), datapath_type: netdev.clone() },
            VsctlCommand::AddBridge { name: "br-tun".into(), datapath_type: netdev },
            VsctlCommand::AddPatch { bridge: "br-int".into(), name: "patch-tun".into(), peer: "patch-int".into() },
            VsctlCommand::AddPatch { bridge: "br-tun".into(), name: "patch-int".into(), peer: "patch-tun".into() },
            VsctlCommand::AddTunnel {
                bridge: "br-tun".into(),
                name: "vxlan-c6120002".into(),
                local_ip: "198.18.0.1".parse().unwrap(),
                remote_ip: "198.18.0.2".parse().unwrap(),
            },
        ])
        .await
        .unwrap();
        let s = db.read().await.unwrap();
        assert_eq!(s.bridges["br-int"].datapath_type, "netdev");
        assert!(s.bridges["br-int"].protocols.iter().any(|p| p == "OpenFlow14"));
        let patch = &s.bridges["br-int"].ports["patch-tun"].interfaces[0];
        assert_eq!((patch.kind.as_str(), patch.options["peer"].as_str()), ("patch", "patch-int"));
        assert!(patch.ofport.is_some_and(|p| p > 0), "ovs-vsctl waited for ovs-vswitchd: {patch:?}");
        let tunnel = &s.bridges["br-tun"].ports["vxlan-c6120002"].interfaces[0];
        assert_eq!((tunnel.kind.as_str(), tunnel.options["remote_ip"].as_str()), ("vxlan", "198.18.0.2"));

        let flows = [
            Flow::new(0, 1, "in_port=\"patch-int\"", "resubmit(,2)"),
            Flow::new(0, 0, "", "drop"),
            Flow::new(4, 1, "tun_id=0x64", "mod_vlan_vid:1,resubmit(,10)"),
            Flow::new(22, 1, "dl_vlan=1", "strip_vlan,set_field:0x64->tun_id,output:\"vxlan-c6120002\""),
        ];
        of.replace_flows("br-tun", &flows).await.unwrap();
        let dumped = of.dump_flows("br-tun").await.unwrap();
        assert_eq!(dumped.len(), 4, "{dumped:#?}");
        assert!(
            dumped.iter().any(|l| l.contains("in_port=\"patch-int\"") && l.contains("resubmit(,2)")),
            "{dumped:#?}"
        );
        assert!(
            dumped.iter().any(|l| l.contains("table=22") && l.contains("output:\"vxlan-c6120002\"")),
            "{dumped:#?}"
        );
        // A table naming a port the bridge lacks is refused whole: nothing changes.
        let bad = [Flow::new(0, 0, "", "NORMAL"), Flow::new(0, 1, "in_port=\"nosuch\"", "drop")];
        assert!(of.replace_flows("br-tun", &bad).await.is_err());
        assert_eq!(of.dump_flows("br-tun").await.unwrap(), dumped);
        // Stale flows go, in the same bundle as the new ones come.
        of.replace_flows("br-tun", &flows[..2]).await.unwrap();
        assert_eq!(of.dump_flows("br-tun").await.unwrap().len(), 2);
        // A port plugged behind the agent's back wakes it.
        let events = std::sync::Arc::new(tokio::sync::Notify::new());
        let watcher = neutrino_agent::ovs::events::watch_interfaces(dir.clone(), events.clone());
        tokio::time::timeout(Duration::from_secs(5), events.notified()).await.expect("the initial rows");
        // Drain the stored permit of the initial rows, so only the new port can wake it.
        while tokio::time::timeout(Duration::from_millis(300), events.notified()).await.is_ok() {}
        let woken = events.notified();
        vsctl(&dir, &["add-port", "br-int", "tapnova1", "--", "set", "Interface", "tapnova1", "type=internal"]);
        tokio::time::timeout(Duration::from_secs(5), woken).await.expect("an Interface change wakes the agent");
        watcher.abort();
        db.transact(&[VsctlCommand::DelPort { bridge: "br-tun".into(), name: "vxlan-c6120002".into() }]).await.unwrap();
        assert!(!db.read().await.unwrap().has_port("br-tun", "vxlan-c6120002"));
    });
}

fn state(network: NetworkState, ports: &[&str]) -> HostState {
    HostState {
        host: "h1".into(),
        revision: 1,
        networks: vec![network],
        ports: ports
            .iter()
            .map(|id| PortState {
                id: id.to_string(),
                network_id: NET.into(),
                mac_address: String::new(),
                ip_addresses: vec![],
                admin_state_up: true,
                device_owner: "compute:nova".into(),
                status: "DOWN".into(),
                binding: BindingStatus::Active,
            })
            .collect(),
        ..HostState::default()
    }
}

const NET: &str = "0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
const VM1: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";
const VM2: &str = "b2c3d4e5-f6a7-4890-abcd-ef0123456789";
const DHCP: &str = "d4c9e000-0000-4000-8000-000000000001";

/// Plugs a "VM" the way os-vif does without the hybrid plug: a veth whose host end joins
/// br-int with the port's id, the other end (with `addr`) in a namespace of its own.
fn plug_vm(dir: &Path, netns: &NetnsDir, port: &str, addr: &str) -> String {
    let (tap, vm) = (format!("tap{}", &port[..11]), format!("vm-{}", &port[..4]));
    assert!(netns.create(&vm).unwrap());
    let vm_path = netns.path(&vm);
    ip(&["link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", vm_path.to_str().unwrap()]);
    ip(&["link", "set", &tap, "up"]);
    let ids = format!("external_ids:iface-id={port}");
    vsctl(dir, &["--may-exist", "add-port", "br-int", &tap, "--", "set", "Interface", &tap, &ids]);
    for argv in [vec!["ip", "addr", "add", addr, "dev", "eth0"], vec!["ip", "link", "set", "eth0", "up"]] {
        assert!(command_in(netns, &vm, &argv).status().unwrap().success());
    }
    vm
}

/// Whether one of three echo requests 0.3 s apart is answered: the first can go while the
/// switch's flows or MAC learning are a moment behind a change just made.
fn pings(netns: &NetnsDir, vm: &str, to: &str) -> bool {
    let argv = ["ping", "-c", "3", "-i", "0.3", "-W", "1", to];
    command_in(netns, vm, &argv).stdout(Stdio::null()).status().unwrap().success()
}

#[test]
fn the_reconciler_wires_vms_on_their_local_vlan_and_translates_provider_vlans() {
    if !common::runnable(&BINARIES, "openvswitch-switch") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ovs");
    std::fs::create_dir_all(&dir).unwrap();
    in_sandbox(tmp.path(), |netns_dir| async move {
        let _ovs = start_ovs(&dir);
        let netns = NetnsDir::new(&netns_dir);
        // The operator's physical bridge, and the integration bridge os-vif would make.
        vsctl(&dir, &["add-br", "br-eth1", "--", "set", "Bridge", "br-eth1", "datapath_type=netdev"]);
        vsctl(&dir, &["add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev"]);
        let cfg = OvsConfig {
            rundir: dir.clone(),
            bridge_mappings: [("physnet1".to_string(), "br-eth1".to_string())].into(),
            datapath_type: "netdev".into(),
            ..OvsConfig::default()
        };
        let vlan = NetworkState {
            id: NET.into(),
            network_type: "vlan".into(),
            segmentation_id: Some(1000),
            physical_network: Some("physnet1".into()),
            mtu: 1500,
            remote_endpoints: vec![],
            remote_ports: vec![],
        };
        let mut host = state(vlan, &[VM1, VM2, DHCP]);
        host.ports[2].device_owner = "network:dhcp".into();
        let mut agent = OvsReconciler::new(OvsSwitch::new(&cfg), cfg.clone(), None);
        let vm1 = plug_vm(&dir, &netns, VM1, "10.0.0.1/24");
        let vm2 = plug_vm(&dir, &netns, VM2, "10.0.0.2/24");
        let r = agent.reconcile_gated(&host, None).await.unwrap();
        assert!(r.report.issues.is_empty(), "{:?}", r.report.issues);
        let status = |id: &str| r.port_status[id];
        assert_eq!(
            [status(VM1), status(VM2), status(DHCP)],
            [WiredStatus::Active, WiredStatus::Active, WiredStatus::Down]
        );
        let lv = agent.local_vlan(NET).unwrap();
        assert!(pings(&netns, &vm1, "10.0.0.2"), "two VMs of one network talk through br-int");
        // The DHCP port's veth, as the netns module makes it: the agent plugs its tap.
        let qdhcp = "qdhcp-0c1b2a39";
        assert!(netns.create(qdhcp).unwrap());
        let tap = neutrino_agent_api::tap_name(DHCP);
        ip(&[
            "link",
            "add",
            &tap,
            "type",
            "veth",
            "peer",
            "name",
            "ns-dhcp",
            "netns",
            netns.path(qdhcp).to_str().unwrap(),
        ]);
        ip(&["link", "set", &tap, "up"]);
        for argv in
            [vec!["ip", "addr", "add", "10.0.0.3/24", "dev", "ns-dhcp"], vec!["ip", "link", "set", "ns-dhcp", "up"]]
        {
            assert!(command_in(&netns, qdhcp, &argv).status().unwrap().success());
        }
        let r = agent.reconcile_gated(&host, None).await.unwrap();
        assert_eq!(r.port_status[DHCP], WiredStatus::Active, "{:?}", r.report);
        assert!(pings(&netns, &vm1, "10.0.0.3"), "the VM reaches the DHCP namespace through br-int");

        let of = Ofctl::new(&dir, TIMEOUT);
        let phys = of.dump_flows("br-eth1").await.unwrap();
        let want = format!("in_port=\"phy-br-eth1\",dl_vlan={lv} actions=mod_vlan_vid:1000,NORMAL");
        let want_of13 = format!("in_port=\"phy-br-eth1\",dl_vlan={lv} actions=set_field:5096->vlan_vid,NORMAL");
        assert!(phys.iter().any(|l| l.contains(&want) || l.contains(&want_of13)), "{phys:#?}");
        let int = of.dump_flows("br-int").await.unwrap();
        assert!(int.iter().any(|l| l.contains("in_port=\"int-br-eth1\",dl_vlan=1000")), "{int:#?}");

        // The admin takes VM2 down: it is cut off (dead VLAN), VM1 stays.
        let mut down = host.clone();
        down.ports[1].admin_state_up = false;
        let r = agent.reconcile_gated(&down, None).await.unwrap();
        assert_eq!(r.port_status[VM2], WiredStatus::Down);
        assert!(!pings(&netns, &vm1, "10.0.0.2"), "a dead port carries nothing");
        // A restarted agent recovers the VLAN from the Port rows and changes nothing.
        let before = of.dump_flows("br-int").await.unwrap();
        let mut restarted = OvsReconciler::new(OvsSwitch::new(&cfg), cfg.clone(), None);
        let r = restarted.reconcile_gated(&down, None).await.unwrap();
        assert!(r.report.applied.is_empty(), "{:?}", r.report.applied);
        assert_eq!(restarted.local_vlan(NET), Some(lv));
        assert_eq!(of.dump_flows("br-int").await.unwrap(), before);
        let r = restarted.reconcile_gated(&host, None).await.unwrap();
        assert_eq!(r.port_status[VM2], WiredStatus::Active);
        assert!(pings(&netns, &vm2, "10.0.0.1"), "back on its VLAN");
    });
}

/// A simulated host: its namespace, its own OVS, the underlay on a netdev `br-phy` (OVS's
/// userspace tunnelling layout) and one VM on a VXLAN network.
struct Host {
    name: String,
    dir: std::path::PathBuf,
    _ovs: Children,
}

fn run_in(netns: &NetnsDir, ns: &str, argv: &[&str]) {
    let out = command_in(netns, ns, argv).output().unwrap();
    assert!(out.status.success(), "{argv:?} in {ns}: {}", String::from_utf8_lossy(&out.stderr));
}

fn host(root: &Path, netns: &NetnsDir, name: &str, underlay: &str) -> Host {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    let ovs = start_ovs_in(&dir, Some((netns, name)));
    vsctl(
        &dir,
        &[
            "add-br",
            "br-phy",
            "--",
            "set",
            "Bridge",
            "br-phy",
            "datapath_type=netdev",
            "--",
            "add-port",
            "br-phy",
            "eth1",
        ],
    );
    for argv in [
        vec!["ip", "link", "set", "eth1", "up"],
        vec!["ip", "addr", "add", underlay, "dev", "br-phy"],
        vec!["ip", "link", "set", "br-phy", "up"],
    ] {
        run_in(netns, name, &argv);
    }
    vsctl(&dir, &["add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev"]);
    Host { name: name.into(), dir, _ovs: ovs }
}

/// A VM on `host`, plugged into br-int without the hybrid plug.
fn vm(netns: &NetnsDir, host: &Host, port: &str, mac: &str, addr: &str) -> String {
    let (tap, vm) = (format!("tap{}", &port[..11]), format!("vm-{}", &port[..4]));
    assert!(netns.create(&vm).unwrap());
    let (h, v) = (netns.path(&host.name), netns.path(&vm));
    ip(&[
        "link",
        "add",
        &tap,
        "netns",
        h.to_str().unwrap(),
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        v.to_str().unwrap(),
    ]);
    run_in(netns, &host.name, &["ip", "link", "set", &tap, "up"]);
    let ids = format!("external_ids:iface-id={port}");
    vsctl(&host.dir, &["add-port", "br-int", &tap, "--", "set", "Interface", &tap, &ids]);
    for argv in [
        vec!["ip", "link", "set", "eth0", "address", mac],
        vec!["ip", "addr", "add", addr, "dev", "eth0"],
        vec!["ip", "link", "set", "eth0", "up"],
    ] {
        run_in(netns, &vm, &argv);
    }
    vm
}

#[test]
fn two_hosts_talk_over_vxlan_through_br_tun() {
    if !common::runnable(&BINARIES, "openvswitch-switch") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("hosts");
    in_sandbox(tmp.path(), |netns_dir| async move {
        let netns = NetnsDir::new(&netns_dir);
        for h in ["h1", "h2"] {
            assert!(netns.create(h).unwrap());
        }
        let (p1, p2) = (netns.path("h1"), netns.path("h2"));
        ip(&[
            "link",
            "add",
            "eth1",
            "netns",
            p1.to_str().unwrap(),
            "type",
            "veth",
            "peer",
            "name",
            "eth1",
            "netns",
            p2.to_str().unwrap(),
        ]);
        let hosts = [host(&root, &netns, "h1", "198.18.0.1/24"), host(&root, &netns, "h2", "198.18.0.2/24")];
        let macs = ["fa:16:3e:00:00:01", "fa:16:3e:00:00:02"];
        let vms =
            [vm(&netns, &hosts[0], VM1, macs[0], "10.0.0.1/24"), vm(&netns, &hosts[1], VM2, macs[1], "10.0.0.2/24")];
        for (i, h) in hosts.iter().enumerate() {
            let (me, peer) = (format!("198.18.0.{}", i + 1), format!("198.18.0.{}", 2 - i));
            let net = NetworkState {
                id: NET.into(),
                network_type: "vxlan".into(),
                segmentation_id: Some(100),
                physical_network: None,
                mtu: 1450,
                remote_endpoints: vec![peer.parse().unwrap()],
                remote_ports: vec![neutrino_agent_api::RemotePort {
                    mac_address: macs[1 - i].into(),
                    ip_addresses: vec![],
                    endpoint: peer.parse().unwrap(),
                }],
            };
            let state = state(net, &[[VM1, VM2][i]]);
            let cfg = OvsConfig { rundir: h.dir.clone(), datapath_type: "netdev".into(), ..OvsConfig::default() };
            let mut agent = OvsReconciler::new(OvsSwitch::new(&cfg), cfg, Some(me.parse().unwrap()));
            let r = agent.reconcile_gated(&state, None).await.unwrap();
            assert!(r.report.issues.is_empty(), "{}: {:?}", h.name, r.report.issues);
            assert!(r.port_status.values().all(|s| *s == WiredStatus::Active), "{}: {:?}", h.name, r.port_status);
        }
        let ok = (0..5).any(|_| pings(&netns, &vms[0], "10.0.0.2"));
        if !ok {
            for h in &hosts {
                let of = Ofctl::new(&h.dir, TIMEOUT);
                eprintln!("{} br-tun: {:#?}", h.name, of.dump_flows("br-tun").await.unwrap());
                eprintln!("{}", std::fs::read_to_string(h.dir.join("ovs-vswitchd.log")).unwrap_or_default());
            }
        }
        assert!(ok, "VM1 on h1 reaches VM2 on h2 through the VXLAN tunnel");
        assert!(pings(&netns, &vms[1], "10.0.0.1"));
    });
}

/// Nova's hybrid plug: the VM's `tap` in a Linux bridge `qbr`, joined to br-int by the
/// `qvb`/`qvo` veth whose `qvo` end carries the port's id.
fn hybrid_vm(dir: &Path, netns: &NetnsDir, port: &str, mac: &str, addr: &str) -> String {
    let id = &port[..11];
    let (qbr, qvb, qvo, tap, vm) =
        (format!("qbr{id}"), format!("qvb{id}"), format!("qvo{id}"), format!("tap{id}"), format!("vm-{}", &port[..4]));
    assert!(netns.create(&vm).unwrap());
    ip(&["link", "add", &qbr, "type", "bridge"]);
    ip(&["link", "add", &qvb, "type", "veth", "peer", "name", &qvo]);
    ip(&["link", "add", &tap, "type", "veth", "peer", "name", "eth0", "netns", netns.path(&vm).to_str().unwrap()]);
    for dev in [&qvb, &tap] {
        ip(&["link", "set", dev, "master", &qbr]);
    }
    for dev in [&qbr, &qvb, &qvo, &tap] {
        ip(&["link", "set", dev, "up"]);
    }
    let ids = format!("external_ids:iface-id={port}");
    vsctl(dir, &["add-port", "br-int", &qvo, "--", "set", "Interface", &qvo, &ids]);
    for argv in [
        vec!["ip", "link", "set", "eth0", "address", mac],
        vec!["ip", "addr", "add", addr, "dev", "eth0"],
        vec!["ip", "link", "set", "eth0", "up"],
    ] {
        assert!(command_in(netns, &vm, &argv).status().unwrap().success());
    }
    vm
}

fn secured(id: &str, mac: &str, addr: &str, group: &str) -> neutrino_agent_api::PortSecurity {
    neutrino_agent_api::PortSecurity {
        port_id: id.into(),
        mac_address: mac.into(),
        ip_addresses: vec![addr.parse().unwrap()],
        allowed_address_pairs: vec![],
        port_security_enabled: true,
        security_group_ids: vec![group.into()],
    }
}

/// Egress anywhere, ingress IPv4 from the group's members only (Neutron's default group).
fn members_only(group: &str) -> neutrino_agent_api::SecurityGroupState {
    let rule = |id: &str, direction: &str, remote: Option<&str>| neutrino_agent_api::SecurityRule {
        id: id.into(),
        direction: direction.into(),
        ethertype: "IPv4".into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: remote.map(Into::into),
        remote_address_group_id: None,
    };
    neutrino_agent_api::SecurityGroupState {
        id: group.into(),
        stateful: true,
        rules: vec![rule("e4", "egress", None), rule("i4", "ingress", Some(group))],
    }
}

#[test]
fn the_nftables_firewall_filters_the_hybrid_plug() {
    if !common::runnable(&BINARIES, "openvswitch-switch") || !Path::new("/usr/sbin/nft").exists() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ovs");
    std::fs::create_dir_all(&dir).unwrap();
    in_sandbox(tmp.path(), |netns_dir| async move {
        let _ovs = start_ovs(&dir);
        let netns = NetnsDir::new(&netns_dir);
        vsctl(&dir, &["add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev"]);
        let (g, other) = ("9e0f0000-0000-4000-8000-00000000000g", "9e0f0000-0000-4000-8000-00000000000h");
        let ports = [
            (VM1, "fa:16:3e:00:00:0a", "10.0.0.5", g),
            (VM2, "fa:16:3e:00:00:0b", "10.0.0.6", g),
            (DHCP, "fa:16:3e:00:00:0c", "10.0.0.7", other),
        ];
        let vms: Vec<String> =
            ports.iter().map(|(id, mac, addr, _)| hybrid_vm(&dir, &netns, id, mac, &format!("{addr}/24"))).collect();
        let net = NetworkState {
            id: NET.into(),
            network_type: "vxlan".into(),
            segmentation_id: Some(100),
            physical_network: None,
            mtu: 1450,
            remote_endpoints: vec![],
            remote_ports: vec![],
        };
        let mut host = state(net, &[VM1, VM2, DHCP]);
        host.port_security = ports.iter().map(|(id, mac, addr, grp)| secured(id, mac, addr, grp)).collect();
        host.security_groups = vec![members_only(g), members_only(other)];
        host.group_members =
            [(g.to_string(), vec!["10.0.0.5".into(), "10.0.0.6".into()]), (other.to_string(), vec!["10.0.0.7".into()])]
                .into();
        let fw_cfg = neutrino_agent::firewall::FirewallConfig { hybrid_plug: true, ..Default::default() };
        let mut fw = neutrino_agent::firewall::Firewall::new(fw_cfg);
        let report = fw.sync(&host).await;
        assert!(report.issues.is_empty(), "{:?}", report.issues);
        let cfg = OvsConfig { rundir: dir.clone(), datapath_type: "netdev".into(), ..OvsConfig::default() };
        let mut agent = OvsReconciler::new(OvsSwitch::new(&cfg), cfg, Some("198.18.0.1".parse().unwrap()));
        let r = agent.reconcile_gated(&host, Some(fw.gate())).await.unwrap();
        assert!(r.port_status.values().all(|s| *s == WiredStatus::Active), "{:?}", r.report);
        assert!(pings(&netns, &vms[0], "10.0.0.6"), "members of one group talk");
        assert!(pings(&netns, &vms[1], "10.0.0.5"));
        assert!(!pings(&netns, &vms[2], "10.0.0.5"), "the other group's VM is filtered at the tap in qbr");
        assert!(!pings(&netns, &vms[0], "10.0.0.7"));
    });
}

/// 1000 ports plugged on br-int as Nova would (internal ports with their `iface-id`), 10
/// VXLAN networks, 5 peers, 1000 remote ports: the first pass wires them all, a converged
/// pass and a restarted agent's first pass change nothing. Prints the passes' times, the
/// figures of docs/BENCHMARKS.md (`-- --nocapture`).
#[test]
fn a_thousand_ports_converge_and_a_restarted_agent_changes_nothing() {
    if !common::runnable(&BINARIES, "openvswitch-switch") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ovs");
    std::fs::create_dir_all(&dir).unwrap();
    in_sandbox(tmp.path(), |_| async move {
        let _ovs = start_ovs(&dir);
        vsctl(&dir, &["add-br", "br-int", "--", "set", "Bridge", "br-int", "datapath_type=netdev"]);
        let id = |i: usize| format!("{i:08x}-0000-4000-8000-000000000000");
        let mut args: Vec<String> = vec!["--timeout=300".into()];
        for i in 0..1000 {
            let name = format!("qvo{}", &id(i)[..11]);
            args.extend(
                ["--", "add-port", "br-int", &name, "--", "set", "Interface", &name, "type=internal"].map(String::from),
            );
            args.push(format!("external_ids:iface-id={}", id(i)));
        }
        vsctl(&dir, &args.iter().map(String::as_str).collect::<Vec<_>>());
        let networks: Vec<NetworkState> = (0..10)
            .map(|n| NetworkState {
                id: format!("{n:08x}-1111-4000-8000-000000000000"),
                network_type: "vxlan".into(),
                segmentation_id: Some(100 + n as u32),
                physical_network: None,
                mtu: 1450,
                remote_endpoints: (2..7).map(|h| format!("198.18.0.{h}").parse().unwrap()).collect(),
                remote_ports: (0..100)
                    .map(|p| neutrino_agent_api::RemotePort {
                        mac_address: format!("fa:16:3e:{n:02x}:{:02x}:{:02x}", p / 256, p % 256),
                        ip_addresses: vec![],
                        endpoint: format!("198.18.0.{}", 2 + p % 5).parse().unwrap(),
                    })
                    .collect(),
            })
            .collect();
        let mut host = state(networks[0].clone(), &[]);
        host.networks = networks.clone();
        host.ports = (0..1000)
            .map(|i| PortState {
                network_id: networks[i % 10].id.clone(),
                ..state(networks[0].clone(), &[&id(i)]).ports[0].clone()
            })
            .collect();
        let cfg = OvsConfig { rundir: dir.clone(), datapath_type: "netdev".into(), ..OvsConfig::default() };
        let local = Some("198.18.0.1".parse().unwrap());
        let mut agent = OvsReconciler::new(OvsSwitch::new(&cfg), cfg.clone(), local);
        let (first, t_first) = timed(&mut agent, &host).await;
        assert!(first.port_status.values().all(|s| *s == WiredStatus::Active), "{:?}", first.report.issues);
        let (again, t_again) = timed(&mut agent, &host).await;
        assert!(again.report.applied.is_empty());
        let mut restarted = OvsReconciler::new(OvsSwitch::new(&cfg), cfg, local);
        let (restart, t_restart) = timed(&mut restarted, &host).await;
        assert!(restart.report.applied.is_empty() && restart.port_status.values().all(|s| *s == WiredStatus::Active));
        let flows: usize = ["br-int", "br-tun"]
            .iter()
            .map(|b| {
                std::process::Command::new("ovs-ofctl")
                    .args(["dump-flows", &format!("unix:{}/{b}.mgmt", dir.display())])
                    .output()
                    .unwrap()
                    .stdout
                    .split(|c| *c == b'\n')
                    .count()
            })
            .sum();
        eprintln!(
            "1000 ports, 10 VXLAN networks, 5 peers, 1000 remote ports: first pass {t_first:?} ({} changes), converged pass {t_again:?}, restarted agent's first pass {t_restart:?} (0 changes); about {flows} flows",
            first.report.applied.len()
        );
    });
}

async fn timed(
    agent: &mut OvsReconciler<OvsSwitch>,
    host: &HostState,
) -> (neutrino_agent::l2::reconcile::ReconcileReport, Duration) {
    let started = std::time::Instant::now();
    let report = agent.reconcile_gated(host, None).await.unwrap();
    (report, started.elapsed())
}
