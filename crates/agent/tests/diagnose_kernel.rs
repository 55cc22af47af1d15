//! `neutrino diagnose`'s answers from the real kernel: the Linux observer looks at a host
//! set up by hand (a bridge, a veth as the VM's tap, a VXLAN device with a remote port's FDB
//! entry, the port's nft port-map elements, a `qdhcp-` namespace with a "dnsmasq" and its files, a
//! `qrouter-` namespace with addresses, a default route and NAT rules), finds every check
//! ok, then sees each check flip when the one thing it looks at is removed by hand.
//!
//! Everything happens on one thread with a private mount namespace (a tmpfs for named
//! namespaces) and a fresh network namespace standing for the host; nothing touches the
//! machine's own, and the kernel frees all of it when the thread ends (the helper process
//! is killed first, also on panic). Needs root, ip, bridge and nft; skips with a reason
//! otherwise, fails under `CI`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_methods)] // tests may unwrap and enter namespaces

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

mod common;

use common::{in_sandbox, Children};
use neutrino_agent::diagnose::{answer, LinuxObserver, Scope};
use neutrino_agent::netns::NetnsDir;
use neutrino_agent_api::diagnose::{Ask, Check, Finding, FloatingIpAsk, HostQuestion, RemotePortAsk};

const NET: &str = "0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
const BRQ: &str = "brq0c1b2a39-8e";
const PORT: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";
const TAP: &str = "tapa1b2c3d4-e5";
const ROUTER: &str = "7e57a11c-0000-4000-8000-00000000a003";
const MAC: &str = "fa:16:3e:00:00:01";
const REMOTE_MAC: &str = "fa:16:3e:00:00:02";
const NFT: &str = "/usr/sbin/nft";

/// `argv` in the sandbox's host namespace (the calling thread's), or in `ns` when given.
fn command(netns: &NetnsDir, ns: Option<&str>, argv: &[&str]) -> Command {
    let mut cmd = Command::new(argv[0]);
    cmd.args(&argv[1..]).stdin(Stdio::null());
    if let Some(ns) = ns {
        let file: File = netns.open(ns).unwrap();
        // SAFETY: only setns(2) between fork and exec, on a descriptor opened before (and
        // kept open by the closure until the command is dropped).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    cmd
}

/// Runs `argv` (a shell-like line split on spaces) and insists it succeeds.
fn sh(netns: &NetnsDir, ns: Option<&str>, line: &str) {
    let argv: Vec<&str> = line.split(' ').collect();
    let out = command(netns, ns, &argv).output().unwrap();
    assert!(out.status.success(), "{line} in {ns:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// `nft -f -` with `script`.
fn nft(netns: &NetnsDir, ns: Option<&str>, script: &str) {
    let mut child = command(netns, ns, &[NFT, "-f", "-"]).stdin(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "nft: {}", String::from_utf8_lossy(&out.stderr));
}

/// The host's L2 for one port: bridge, tap (a veth), VXLAN with a remote port's entry, the
/// port's device in the firewall's port maps (to its profile's chains).
fn stage_l2(netns: &NetnsDir) {
    for line in [
        format!("ip link add {BRQ} type bridge"),
        format!("ip link set {BRQ} up"),
        format!("ip link add {TAP} type veth peer name vm-eth0"),
        format!("ip link set {TAP} master {BRQ} up"),
        "ip link set vm-eth0 up".to_string(),
        "ip addr add 198.18.0.1/32 dev lo".to_string(),
        "ip link add vxlan-1001 type vxlan id 1001 local 198.18.0.1 dstport 4789 nolearning".to_string(),
        format!("ip link set vxlan-1001 master {BRQ} up"),
        "bridge fdb append 00:00:00:00:00:00 dev vxlan-1001 dst 198.18.0.3 self permanent".to_string(),
        format!("bridge fdb append {REMOTE_MAC} dev vxlan-1001 dst 198.18.0.3 self permanent"),
        "bridge fdb append fa:16:3e:00:00:09 dev vxlan-1001 dst 198.18.0.4 self permanent".to_string(),
    ] {
        sh(netns, None, &line);
    }
    nft(
        netns,
        None,
        &format!(
            "add table bridge neutrino\nadd chain bridge neutrino to-p0001\nadd chain bridge neutrino from-p0001\n\
             add map bridge neutrino to-ports {{ type ifname : verdict; elements = {{ \"{TAP}\" : jump to-p0001 }}; }}\n\
             add map bridge neutrino from-ports {{ type ifname : verdict; elements = {{ \"{TAP}\" : jump from-p0001 }}; }}\n"
        ),
    );
}

/// A router namespace: an interface, a gateway with a default route, a floating IP's NAT.
fn stage_router(netns: &NetnsDir) -> String {
    let ns = format!("qrouter-{ROUTER}");
    assert!(netns.create(&ns).unwrap());
    for line in [
        "ip link set lo up",
        "ip link add qr-b0000000-00 type veth peer name qr-peer",
        "ip addr add 10.0.0.1/24 dev qr-b0000000-00",
        "ip link set qr-b0000000-00 up",
        "ip link set qr-peer up",
        "ip link add qg-a0000000-00 type veth peer name qg-peer",
        "ip addr add 203.0.113.10/24 dev qg-a0000000-00",
        "ip link set qg-a0000000-00 up",
        "ip link set qg-peer up",
        "ip route add default via 203.0.113.1",
    ] {
        sh(netns, Some(&ns), line);
    }
    nft(
        netns,
        Some(&ns),
        "add table inet neutrino-l3\n\
         add chain inet neutrino-l3 prerouting { type nat hook prerouting priority -100; }\n\
         add rule inet neutrino-l3 prerouting ip daddr 203.0.113.20 dnat ip to 10.0.0.5 comment \"fip 203.0.113.20 -> 10.0.0.5\"\n\
         add chain inet neutrino-l3 postrouting { type nat hook postrouting priority 100; }\n\
         add rule inet neutrino-l3 postrouting oifname \"qg-a0000000-00\" ip saddr 10.0.0.5 snat ip to 203.0.113.20 \
         comment \"fip 203.0.113.20 <- 10.0.0.5 out qg-a0000000-00\"\n",
    );
    ns
}

/// A DHCP namespace with a process named dnsmasq in it, its pid file and hosts file.
fn stage_dhcp(netns: &NetnsDir, state_dir: &Path, bin_dir: &Path) -> Children {
    let ns = format!("qdhcp-{NET}");
    assert!(netns.create(&ns).unwrap());
    let fake = bin_dir.join("dnsmasq");
    std::fs::copy("/bin/sleep", &fake).unwrap();
    let fake = fake.to_str().unwrap().to_owned();
    let child = Children(vec![command(netns, Some(&ns), &[&fake, "600"]).spawn().unwrap()]);
    let dir = state_dir.join(NET);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("pid"), format!("{}\n", child.0[0].id())).unwrap();
    std::fs::write(dir.join("host"), format!("{MAC},host-10-0-0-5.openstacklocal,10.0.0.5\n")).unwrap();
    child
}

fn asks() -> Vec<Ask> {
    vec![
        Ask::Port { port_id: PORT.into(), network_id: NET.into(), mac_address: MAC.into(), filtered: true },
        Ask::Network {
            network_id: NET.into(),
            network_type: "vxlan".into(),
            segmentation_id: Some(1001),
            physical_network: None,
            remote_ports: vec![RemotePortAsk {
                mac_address: REMOTE_MAC.into(),
                endpoint: "198.18.0.3".parse().unwrap(),
            }],
        },
        Ask::Dhcp { network_id: NET.into(), mac_address: MAC.into(), ip_addresses: vec!["10.0.0.5".parse().unwrap()] },
        Ask::Router {
            router_id: ROUTER.into(),
            interfaces: vec!["10.0.0.1/24".into()],
            gateway: Some("203.0.113.10/24".into()),
            floating_ip: Some(FloatingIpAsk {
                floating_ip_address: "203.0.113.20".parse().unwrap(),
                fixed_ip_address: "10.0.0.5".parse().unwrap(),
            }),
        },
    ]
}

/// The findings of `check`, as `(ok, evidence)`.
fn of(findings: &[Finding], check: Check) -> (bool, String) {
    let f = findings.iter().find(|f| f.check == check).unwrap_or_else(|| panic!("no {check:?} in {findings:#?}"));
    (f.ok, f.evidence.clone())
}

#[test]
fn linux_observer_sees_a_healthy_host_then_each_thing_removed() {
    if !common::runnable(&[NFT, "/usr/sbin/ip", "/usr/sbin/bridge", "/bin/sleep"], "iproute2 nftables coreutils") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    in_sandbox(tmp.path(), move |netns_dir| async move {
        let netns = NetnsDir::new(&netns_dir);
        let state_dir = dir.join("dhcp");
        stage_l2(&netns);
        let qrouter = stage_router(&netns);
        let dnsmasq = stage_dhcp(&netns, &state_dir, &dir);
        let observer = LinuxObserver::new(netns_dir.clone(), NFT.into()).unwrap();
        let scope = Scope {
            host: "compute-1".into(),
            physical_interface_mappings: Default::default(),
            dhcp_state_dir: Some(state_dir.clone()),
            firewall: true,
            ask_timeout: std::time::Duration::from_secs(5),
            open_vswitch: false,
        };
        let question = HostQuestion { id: "q".into(), asks: asks() };
        let look = || async { answer(&scope, &question, &observer).await.findings };

        let findings = look().await;
        let wrong: Vec<&Finding> = findings.iter().filter(|f| !f.ok).collect();
        assert!(wrong.is_empty(), "a healthy host: {wrong:#?}");
        assert_eq!(of(&findings, Check::TapBridge).1, format!("{TAP} master {BRQ}, up"));
        assert_eq!(of(&findings, Check::Fdb).1, format!("{REMOTE_MAC} dst 198.18.0.3 in vxlan-1001's FDB"));
        assert!(of(&findings, Check::Dnsmasq).1.contains(&format!("runs in qdhcp-{NET}")));

        sh(&netns, None, &format!("bridge fdb del {REMOTE_MAC} dev vxlan-1001 dst 198.18.0.3 self"));
        let (ok, evidence) = of(&look().await, Check::Fdb);
        assert!(!ok);
        assert_eq!(
            evidence,
            format!("{REMOTE_MAC} dst 198.18.0.3 missing from vxlan-1001's FDB (entries for 1 other MACs)")
        );

        sh(&netns, None, "ip link set vm-eth0 down");
        let (ok, evidence) = of(&look().await, Check::TapUp);
        assert!(!ok && evidence.contains("no carrier"), "{evidence}");

        sh(&netns, None, &format!("nft delete element bridge neutrino to-ports {{ \"{TAP}\" }}"));
        let (ok, evidence) = of(&look().await, Check::PortFirewall);
        assert!(!ok && evidence.contains(&format!("{TAP} missing from map bridge neutrino to-ports")), "{evidence}");

        sh(&netns, None, &format!("ip link del {TAP}"));
        let findings = look().await;
        for check in [Check::Tap, Check::TapUp, Check::TapBridge] {
            assert_eq!(of(&findings, check), (false, format!("{TAP}: no such device")));
        }

        let pid = dnsmasq.0[0].id();
        // SIGSTOP: alive by its pid, answering nobody.
        assert!(std::process::Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
        let (ok, evidence) = of(&look().await, Check::Dnsmasq);
        assert!(!ok && evidence.ends_with("is stopped (state T): it answers nobody"), "{evidence}");
        drop(dnsmasq);
        let (ok, evidence) = of(&look().await, Check::Dnsmasq);
        assert!(
            !ok && evidence.starts_with(&format!("dnsmasq pid {pid} (from ")) && evidence.ends_with("is not running"),
            "{evidence}"
        );

        sh(&netns, Some(&qrouter), "ip route del default");
        let (ok, evidence) = of(&look().await, Check::RouterGateway);
        assert!(!ok && evidence.contains("no default route"), "{evidence}");
        sh(&netns, Some(&qrouter), "nft flush chain inet neutrino-l3 postrouting");
        let (ok, evidence) = of(&look().await, Check::FloatingIpNat);
        assert!(!ok && evidence.contains("snat 10.0.0.5 -> 203.0.113.20 missing"), "{evidence}");

        assert!(netns.delete(&qrouter).unwrap());
        let findings = look().await;
        assert_eq!(of(&findings, Check::RouterNamespace), (false, format!("{qrouter}: no such namespace")));
        assert!(!of(&findings, Check::RouterInterface).0);
    });
}
