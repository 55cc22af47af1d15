//! The netlink dataplane and the reconciler against the real kernel, inside throwaway
//! network namespaces (never the machine's own). Needs root; skips with a reason otherwise.
//!
//! The test harness may run `ip`/`bridge` to set the stage and cross-check; the agent code
//! under test only speaks rtnetlink.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use std::collections::BTreeSet;
use std::fs::File;
use std::future::Future;
use std::net::IpAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use neutrino_agent::config::L2Config;
use neutrino_agent::l2::dataplane::{
    BridgeSpec, Dataplane, DataplaneError, FdbEntry, LinkKind, MacAddr, VlanSpec, VxlanInfo,
};
use neutrino_agent::l2::netlink::NetlinkDataplane;
use neutrino_agent::l2::reconcile::Reconciler;
use neutrino_agent_api::{HostState, NetworkState, PortState, RemotePort, WiredStatus};

const NET: &str = "0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
const BRQ: &str = "brq0c1b2a39-8e";
const PORT: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";
const TAP: &str = "tapa1b2c3d4-e5";
const LOCAL: &str = "198.18.0.1";
const REMOTE_1: &str = "198.18.0.2";
const REMOTE_2: &str = "198.18.0.3";
const REMOTE_MAC: &str = "fa:16:3e:00:00:02";

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace (`ip netns add`), deleted on drop, also when a test panics.
struct Netns {
    name: String,
}

impl Netns {
    /// `None` (after printing why) when this machine cannot run kernel tests.
    fn create() -> Option<Netns> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            assert!(std::env::var_os("CI").is_none(), "cannot run under CI: kernel dataplane tests need root");
            eprintln!("skipped: kernel dataplane tests need root (network namespaces)");
            return None;
        }
        let name = format!("nt-dp-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::SeqCst));
        match Command::new("ip").args(["netns", "add", &name]).status() {
            Ok(s) if s.success() => Some(Netns { name }),
            other => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "cannot run under CI: cannot create network namespace {name} ({other:?})"
                );
                eprintln!("skipped: cannot create network namespace {name} ({other:?}); is iproute2 installed?");
                None
            }
        }
    }

    /// `ip -n <ns> <args>`, for setting the stage (the hypervisor's veth).
    fn ip(&self, args: &[&str]) {
        let status = Command::new("ip").arg("-n").arg(&self.name).args(args).status().expect("run ip");
        assert!(status.success(), "ip -n {} {args:?} failed", self.name);
    }

    /// `bridge -n <ns> fdb show dev <dev>`.
    fn bridge_fdb(&self, dev: &str) -> String {
        let out =
            Command::new("bridge").args(["-n", &self.name, "fdb", "show", "dev", dev]).output().expect("run bridge");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs `test` on a thread that has entered the namespace, on a current-thread
    /// runtime there, so every netlink socket it opens lives in the namespace.
    fn run<F, Fut>(&self, test: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()>,
    {
        let path = format!("/run/netns/{}", self.name);
        let thread = std::thread::spawn(move || {
            let ns = File::open(&path).expect("open namespace");
            neutrino_agent::netns::setns(&ns).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(test());
        });
        if let Err(panic) = thread.join() {
            std::panic::resume_unwind(panic);
        }
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn config() -> L2Config {
    L2Config { local_ip: Some(ip(LOCAL)), ..L2Config::default() }
}

fn vxlan_state() -> HostState {
    HostState {
        host: "compute-1".into(),
        revision: 1,
        fingerprint: "f".into(),
        binding_failures: vec![],
        dhcp: vec![],
        routers: vec![],
        port_security: vec![],
        security_groups: vec![],
        group_members: Default::default(),
        address_groups: Default::default(),
        networks: vec![NetworkState {
            id: NET.into(),
            network_type: "vxlan".into(),
            segmentation_id: Some(100),
            physical_network: None,
            mtu: 1450,
            remote_endpoints: vec![ip(REMOTE_1), ip(REMOTE_2)],
            remote_ports: vec![RemotePort {
                mac_address: REMOTE_MAC.into(),
                ip_addresses: vec![ip("10.0.0.5")],
                endpoint: ip(REMOTE_1),
            }],
        }],
        ports: vec![PortState {
            id: PORT.into(),
            network_id: NET.into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            ip_addresses: vec![ip("10.0.0.4")],
            admin_state_up: true,
            device_owner: "compute:nova".into(),
            status: "DOWN".into(),
            binding: neutrino_agent_api::BindingStatus::Active,
        }],
    }
}

fn empty_state() -> HostState {
    HostState { networks: vec![], ports: vec![], ..vxlan_state() }
}

#[test]
fn vxlan_network_wired_idempotent_and_removed() {
    let Some(ns) = Netns::create() else { return };
    // The hypervisor's part: a tap (here one end of a veth pair), down, MTU 1500.
    ns.ip(&["link", "add", TAP, "type", "veth", "peer", "name", "vm0"]);

    ns.run(|| async {
        let dp = NetlinkDataplane::new().expect("netlink");
        let mut reconciler = Reconciler::new(dp.clone(), config());
        let report = reconciler.reconcile(&vxlan_state()).await.expect("reconcile");
        assert!(report.report.issues.is_empty(), "{:?}", report.report.issues);
        assert_eq!(report.port_status.get(PORT), Some(&WiredStatus::Active), "{report:?}");
        assert_eq!(report.report.applied.first().map(String::as_str), Some("create bridge brq0c1b2a39-8e mtu 1450"));

        let links = dp.links().await.expect("links");
        let find = |name: &str| links.iter().find(|l| l.name == name).cloned().expect(name);
        let bridge = find(BRQ);
        assert_eq!((bridge.kind, bridge.mtu, bridge.up), (LinkKind::Bridge, 1450, true));
        let vx = find("vxlan-100");
        assert_eq!(vx.kind, LinkKind::Vxlan);
        assert_eq!(
            vx.vxlan,
            Some(VxlanInfo { vni: 100, local: Some(ip(LOCAL)), dstport: 4789, learning: false, group: None })
        );
        assert_eq!((vx.master.as_deref(), vx.mtu, vx.up), (Some(BRQ), 1450, true));
        let tap = find(TAP);
        assert_eq!((tap.kind, tap.master.as_deref(), tap.mtu, tap.up), (LinkKind::Veth, Some(BRQ), 1450, true));

        let fdb: BTreeSet<FdbEntry> = dp.fdb("vxlan-100").await.expect("fdb").into_iter().collect();
        let mac: MacAddr = REMOTE_MAC.parse().expect("mac");
        let want: BTreeSet<FdbEntry> = [
            FdbEntry { mac: MacAddr::ZERO, dst: ip(REMOTE_1) },
            FdbEntry { mac: MacAddr::ZERO, dst: ip(REMOTE_2) },
            FdbEntry { mac, dst: ip(REMOTE_1) },
        ]
        .into();
        assert_eq!(fdb, want);

        let again = reconciler.reconcile(&vxlan_state()).await.expect("reconcile");
        assert!(again.report.applied.is_empty(), "second run changed {:?}", again.report.applied);
        let mut restarted = Reconciler::new(NetlinkDataplane::new().expect("netlink"), config());
        let after_restart = restarted.reconcile(&vxlan_state()).await.expect("reconcile");
        assert!(after_restart.report.applied.is_empty(), "restart changed {:?}", after_restart.report.applied);
        assert_eq!(after_restart.port_status.get(PORT), Some(&WiredStatus::Active));

        // EEXIST is "already there"; the same name with another kind is an error.
        dp.create_bridge(&BridgeSpec { name: BRQ.into(), mtu: 1450 }).await.expect("existing bridge");
        let wrong = dp.create_bridge(&BridgeSpec { name: "vxlan-100".into(), mtu: 1450 }).await;
        assert!(matches!(wrong, Err(DataplaneError::WrongKind { found: LinkKind::Vxlan, .. })), "{wrong:?}");
    });

    let shown = ns.bridge_fdb("vxlan-100");
    for line in
        ["00:00:00:00:00:00 dst 198.18.0.2", "00:00:00:00:00:00 dst 198.18.0.3", "fa:16:3e:00:00:02 dst 198.18.0.2"]
    {
        assert!(shown.contains(line), "no {line:?} in bridge fdb show:\n{shown}");
    }

    ns.run(|| async {
        let dp = NetlinkDataplane::new().expect("netlink");
        let mut reconciler = Reconciler::new(dp.clone(), config());
        // A hand-deleted VXLAN device and a stale FDB entry heal.
        dp.fdb_append("vxlan-100", &FdbEntry { mac: MacAddr::ZERO, dst: ip("198.18.0.9") }).await.expect("append");
        let healed = reconciler.reconcile(&vxlan_state()).await.expect("reconcile");
        assert_eq!(healed.report.applied, vec!["fdb del 00:00:00:00:00:00 dev vxlan-100 dst 198.18.0.9"]);
        dp.delete_link("vxlan-100").await.expect("delete by hand");
        let healed = reconciler.reconcile(&vxlan_state()).await.expect("reconcile");
        assert!(healed.report.applied[0].starts_with("create vxlan vxlan-100 id 100"), "{:?}", healed.report.applied);
        assert_eq!(dp.fdb("vxlan-100").await.expect("fdb").len(), 3);

        // The remote port moves to the other host (a live migration): the kernel keeps one
        // destination per unicast MAC, so its entry must be re-pointed, never lost.
        let mut moved = vxlan_state();
        moved.networks[0].remote_ports[0].endpoint = ip(REMOTE_2);
        let repointed = reconciler.reconcile(&moved).await.expect("reconcile");
        assert!(repointed.report.issues.is_empty(), "{:?}", repointed.report.issues);
        let mac: MacAddr = REMOTE_MAC.parse().expect("mac");
        let unicast: Vec<FdbEntry> =
            dp.fdb("vxlan-100").await.expect("fdb").into_iter().filter(|e| e.mac == mac).collect();
        assert_eq!(unicast, vec![FdbEntry { mac, dst: ip(REMOTE_2) }], "{:?}", repointed.report.applied);
        reconciler.reconcile(&vxlan_state()).await.expect("reconcile");

        // The port and its network leave the host: tap released, bridge and vxlan gone.
        let gone = reconciler.reconcile(&empty_state()).await.expect("reconcile");
        assert_eq!(
            gone.report.applied,
            vec![
                "set tapa1b2c3d4-e5 nomaster (was in brq0c1b2a39-8e)",
                "delete vxlan vxlan-100",
                "delete bridge brq0c1b2a39-8e"
            ]
        );
        let links = dp.links().await.expect("links");
        let tap = links.iter().find(|l| l.name == TAP).expect("the tap is never deleted");
        assert_eq!(tap.master, None);
        assert!(!links.iter().any(|l| l.name == BRQ || l.name == "vxlan-100"));
    });
}

#[test]
fn vlan_subinterface_or_skip() {
    let Some(ns) = Netns::create() else { return };
    ns.ip(&["link", "add", "eth1", "type", "veth", "peer", "name", "eth1p"]);
    ns.run(|| async {
        let dp = NetlinkDataplane::new().expect("netlink");
        let spec = VlanSpec { name: "eth1.42".into(), parent: "eth1".into(), vid: 42, mtu: 1500 };
        match dp.create_vlan(&spec).await {
            Err(DataplaneError::Unsupported { .. }) => {
                eprintln!("skipped: kernel has no 802.1Q (see KERNEL.md)");
                return;
            }
            other => other.expect("create vlan"),
        }
        dp.create_vlan(&spec).await.expect("already there");
        let links = dp.links().await.expect("links");
        let vlan = links.iter().find(|l| l.name == "eth1.42").expect("vlan device");
        assert_eq!(vlan.kind, LinkKind::Vlan);
        assert_eq!(vlan.vlan.as_ref().map(|v| (v.parent.as_str(), v.vid)), Some(("eth1", 42)));
        dp.delete_link("eth1.42").await.expect("delete");
    });
}
