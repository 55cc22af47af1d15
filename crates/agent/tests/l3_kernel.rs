//! The L3 dataplane against the real kernel, nft and conntrack: a router between two
//! internal subnets and an external network, with SNAT, a floating IP and a port
//! forwarding, exercised by "VMs" and an "external host" in namespaces of their own.
//!
//! Everything happens on one thread that first takes a private mount namespace (with a
//! tmpfs for named namespaces) and a fresh network namespace standing for the host: nothing
//! touches the machine's own namespaces, and when the thread ends (after the helper
//! processes are killed, also on panic) the kernel frees all of it. The test plays the L2
//! reconciler (it enslaves the router's taps to its bridges) and the hypervisor of the VMs.
//! Needs root, nft, conntrack, socat and ping; skips with a reason otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests may unwrap and enter namespaces

use std::net::IpAddr;
use std::process::{Output, Stdio};
use std::time::Duration;

mod common;

use common::{command_in, in_sandbox, Children};
use neutrino_agent::dhcp::LinuxDhcp;
use neutrino_agent::l2::dataplane::{BridgeSpec, Dataplane};
use neutrino_agent::l2::netlink::NetlinkDataplane;
use neutrino_agent::l3::system::{L3System, Route};
use neutrino_agent::l3::{namespace_name, L3Config, L3Reconciler, LinuxL3};
use neutrino_agent::netns::cidr::{Cidr, IfAddr};
use neutrino_agent::netns::{NamespacedPorts, NetnsDir, VethSpec};
use neutrino_agent::report::{Report, SubsystemKind};
use neutrino_agent_api::{tap_name, FloatingIpState, PortForwardingState, RouterGateway, RouterPort, RouterState};

const ROUTER: &str = "7e57a11c-0000-4000-8000-00000000a003";
const GW_PORT: &str = "a0000000-0000-4000-8000-000000000001";
const IF1_PORT: &str = "b0000000-0000-4000-8000-000000000002";
const IF2_PORT: &str = "c0000000-0000-4000-8000-000000000003";
const NFT: &str = "/usr/sbin/nft";
const CONNTRACK: &str = "/usr/sbin/conntrack";

fn run_in(netns: &NetnsDir, ns: &str, argv: &[&str]) -> Output {
    command_in(netns, ns, argv).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn ping(netns: &NetnsDir, ns: &str, to: &str) -> bool {
    (0..5).any(|_| run_in(netns, ns, &["/usr/bin/ping", "-c1", "-W1", to]).status.success())
}

/// A TCP server in `ns` answering each connection with the address it came from.
fn peer_echo(netns: &NetnsDir, ns: &str, port: u16, children: &mut Children) {
    let listen = format!("TCP-LISTEN:{port},reuseaddr,fork");
    let child = command_in(netns, ns, &["/usr/bin/socat", &listen, "SYSTEM:echo $SOCAT_PEERADDR"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    children.0.push(child);
}

/// Connects from `ns` and returns what the server said (the source address it saw).
fn seen_as(netns: &NetnsDir, ns: &str, to: &str, port: u16) -> String {
    let target = format!("TCP:{to}:{port},connect-timeout=2");
    for _ in 0..10 {
        let out = run_in(netns, ns, &["/usr/bin/socat", "-T2", "-", &target]);
        if out.status.success() && !stdout(&out).is_empty() {
            return stdout(&out);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no answer from {to}:{port} in {ns}");
}

fn rport(id: &str, mac: &str, addr: &str, cidr: &str) -> RouterPort {
    RouterPort {
        subnets: vec![],
        port_id: id.into(),
        network_id: "n".into(),
        mac_address: mac.into(),
        mtu: 1500,
        addresses: vec![addr.into()],
        cidrs: vec![cidr.into()],
    }
}

fn router(fip: bool) -> RouterState {
    let fip_addr: IpAddr = "203.0.113.20".parse().unwrap();
    RouterState {
        metadata_hosts: vec![],
        id: ROUTER.into(),
        project_id: "p".into(),
        admin_state_up: true,
        gateway: Some(RouterGateway {
            port: rport(GW_PORT, "fa:16:3e:00:0a:01", "203.0.113.10/24", "203.0.113.0/24"),
            gateway_ips: vec!["203.0.113.1".parse().unwrap()],
            enable_snat: true,
        }),
        interfaces: vec![
            rport(IF1_PORT, "fa:16:3e:00:0b:02", "10.0.0.1/24", "10.0.0.0/24"),
            rport(IF2_PORT, "fa:16:3e:00:0c:03", "10.1.0.1/24", "10.1.0.0/24"),
        ],
        routes: vec![],
        floating_ips: if fip {
            vec![FloatingIpState {
                id: "fip".into(),
                floating_ip_address: fip_addr,
                fixed_ip_address: "10.0.0.5".parse().unwrap(),
                port_id: "vm1".into(),
                status: String::new(),
            }]
        } else {
            vec![]
        },
        port_forwardings: vec![PortForwardingState {
            id: "pf".into(),
            floating_ip_address: fip_addr,
            protocol: "tcp".into(),
            external_port: 2222,
            internal_ip_address: "10.0.0.5".parse().unwrap(),
            internal_port: 22,
        }],
    }
}

/// A "VM" (or the external host): a namespace plugged into `bridge`, an address, a default route.
async fn machine(netns: &NetnsDir, l2: &NetlinkDataplane, name: &str, bridge: &str, addr: &str, gw: &str) {
    assert!(netns.create(name).unwrap());
    let hypervisor = LinuxDhcp::new(netns.dir());
    let mac = format!("fa:16:3e:99:00:{:02x}", name.bytes().map(u32::from).sum::<u32>() % 256).parse().unwrap();
    let veth = VethSpec { tap: format!("tap-{name}"), dev: "eth0".into(), mac, mtu: 1500, up: true };
    hypervisor.ensure_namespace(name).await.unwrap();
    hypervisor.create_veth(name, &veth).await.unwrap();
    let (ip, len) = addr.split_once('/').unwrap();
    let ifaddr = IfAddr { addr: ip.parse().unwrap(), prefix_len: len.parse().unwrap() };
    hypervisor.add_addr(name, "eth0", ifaddr).await.unwrap();
    let cfg = L3Config { netns_dir: netns.dir().to_owned(), ..L3Config::default() };
    let default = Route { destination: Cidr::parse("0.0.0.0/0").unwrap(), gateway: gw.parse().unwrap() };
    LinuxL3::new(&cfg).add_route(name, &default).await.unwrap();
    l2.set_master(&veth.tap, bridge).await.unwrap();
}

/// The L2 agent's part: the router's taps into their networks' bridges.
async fn plug_router(l2: &NetlinkDataplane) {
    for (port, bridge) in [(GW_PORT, "brqext"), (IF1_PORT, "brqint"), (IF2_PORT, "brqint2")] {
        l2.set_master(&tap_name(port), bridge).await.unwrap();
    }
}

fn conntrack_entries(netns: &NetnsDir, ns: &str, port: &str) -> String {
    stdout(&run_in(netns, ns, &[CONNTRACK, "-L", "-p", "tcp", "--dport", port]))
}

#[test]
fn router_routes_snats_and_translates_floating_ips() {
    if !common::runnable(&[NFT, CONNTRACK, "/usr/bin/socat", "/usr/bin/ping"], "nftables conntrack socat iputils-ping")
    {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    in_sandbox(&dir, move |netns_dir| async move {
        let mut children = Children::default();
        let netns = NetnsDir::new(&netns_dir);
        let l2 = NetlinkDataplane::new().unwrap();
        for bridge in ["brqint", "brqint2", "brqext"] {
            l2.create_bridge(&BridgeSpec { name: bridge.into(), mtu: 1500 }).await.unwrap();
        }
        machine(&netns, &l2, "vm1", "brqint", "10.0.0.5/24", "10.0.0.1").await;
        machine(&netns, &l2, "vm2", "brqint2", "10.1.0.5/24", "10.1.0.1").await;
        machine(&netns, &l2, "ext", "brqext", "203.0.113.1/24", "203.0.113.254").await;
        peer_echo(&netns, "ext", 8080, &mut children);
        peer_echo(&netns, "vm1", 8080, &mut children);
        peer_echo(&netns, "vm1", 22, &mut children);

        let mut cfg = L3Config { netns_dir: netns_dir.clone(), ..L3Config::default() };
        // radvd's files of this sandbox only: never sweep the machine's.
        cfg.ra.state_dir = netns_dir.with_file_name("ra");
        let mut l3 = L3Reconciler::new(cfg.clone());
        let qrouter = namespace_name(ROUTER);

        // SNAT only: the VM reaches the outside as the router's gateway address.
        let report = l3.reconcile(&[router(false)]).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        plug_router(&l2).await;
        assert!(ping(&netns, "vm1", "203.0.113.1"));
        assert_eq!(seen_as(&netns, "vm1", "203.0.113.1", 8080), "203.0.113.10");
        // Between the router's subnets: routed, not NATed.
        assert!(ping(&netns, "vm2", "10.0.0.5"));
        assert_eq!(seen_as(&netns, "vm2", "10.0.0.5", 8080), "10.1.0.5");

        // The floating IP: reachable from outside with the outside's address, and the VM
        // leaves with it.
        let report = l3.reconcile(&[router(true)]).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        assert!(ping(&netns, "ext", "203.0.113.20"));
        assert_eq!(seen_as(&netns, "ext", "203.0.113.20", 8080), "203.0.113.1");
        assert_eq!(seen_as(&netns, "vm1", "203.0.113.1", 8080), "203.0.113.20");
        assert_eq!(seen_as(&netns, "vm2", "10.0.0.5", 8080), "10.1.0.5");
        // The port forwarding 203.0.113.20:2222 -> 10.0.0.5:22.
        assert_eq!(seen_as(&netns, "ext", "203.0.113.20", 2222), "203.0.113.1");
        let table = run_in(&netns, &qrouter, &[NFT, "list", "table", "ip", "neutrino-l3"]);
        eprintln!("{}", stdout(&table));

        // Nothing to do, also for a restarted agent.
        assert_eq!(l3.reconcile(&[router(true)]).await, Report::new(SubsystemKind::L3));
        assert_eq!(L3Reconciler::new(cfg.clone()).reconcile(&[router(true)]).await, Report::new(SubsystemKind::L3));

        // An open session through the floating IP dies with its association.
        let session = command_in(&netns, "vm1", &["/usr/bin/socat", "TCP-LISTEN:8081,reuseaddr", "EXEC:sleep 60"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        children.0.push(session);
        std::thread::sleep(Duration::from_millis(300));
        let client = command_in(&netns, "ext", &["/usr/bin/socat", "-u", "TCP:203.0.113.20:8081", "STDOUT"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        children.0.push(client);
        let mut open = String::new();
        for _ in 0..20 {
            open = conntrack_entries(&netns, &qrouter, "8081");
            if open.contains("ESTABLISHED") {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(open.contains("ESTABLISHED") && open.contains("dst=203.0.113.20"), "{open}");
        let report = l3.reconcile(&[router(false)]).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        assert!(
            report.applied.iter().any(|l| l.starts_with("delete conntrack entries of floating IP 203.0.113.20")),
            "{report:#?}"
        );
        let after = conntrack_entries(&netns, &qrouter, "8081");
        assert!(!after.contains("dst=203.0.113.20"), "conntrack entries left: {after}");
        assert_eq!(seen_as(&netns, "vm1", "203.0.113.1", 8080), "203.0.113.10");
        // The port forwarding still holds the address.
        assert_eq!(seen_as(&netns, "ext", "203.0.113.20", 2222), "203.0.113.1");

        // A router namespace deleted by hand is rebuilt.
        netns.delete(&qrouter).unwrap();
        let report = l3.reconcile(&[router(true)]).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        assert!(report.applied.contains(&format!("create namespace {qrouter}")), "{report:#?}");
        plug_router(&l2).await;
        assert!(ping(&netns, "ext", "203.0.113.20"));
        assert_eq!(seen_as(&netns, "vm1", "203.0.113.1", 8080), "203.0.113.20");

        // Gone from the state: the namespace (and the router's taps) go.
        let report = l3.reconcile(&[]).await;
        assert_eq!(report.applied, vec![format!("delete namespace {qrouter}")], "{report:#?}");
        assert!(netns.list("qrouter-").unwrap().is_empty());
        drop(children);
    });
}
