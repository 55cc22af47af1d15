//! The DHCP dataplane against the real kernel and a real dnsmasq: a busybox `udhcpc` in a
//! "VM" namespace gets its address, router, DNS, MTU and routes from the dnsmasq the
//! reconciler runs, picks up a changed host entry and a new option without dnsmasq
//! restarting, and everything goes away when the network is no longer served.
//!
//! Everything happens on one thread that first takes a private mount namespace (with a
//! tmpfs for named namespaces, like a testbed host's private `/run/netns`) and a fresh
//! network namespace standing for the host: nothing touches the machine's own namespaces,
//! and when the thread ends (after dnsmasq is killed, also on panic) the kernel frees all of
//! it. The test plays the L2 reconciler: it enslaves the DHCP tap and the VM's tap to a
//! bridge of its own. Needs root, dnsmasq and busybox; skips with a reason otherwise.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use std::fs::File;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

mod common;

use common::in_sandbox;
use neutrino_agent::dhcp::{namespace_name, DhcpConfig, DhcpReconciler, DhcpSystem, LinuxDhcp};
use neutrino_agent::l2::dataplane::{BridgeSpec, Dataplane};
use neutrino_agent::l2::netlink::NetlinkDataplane;
use neutrino_agent::netns::{NamespacedPorts, NetnsDir, VethSpec};
use neutrino_agent::report::{Report, SubsystemKind};
use neutrino_agent_api::{tap_name, DhcpFixedIp, DhcpHost, DhcpNetwork, DhcpPort, DhcpSubnet, ExtraDhcpOpt, HostRoute};

const NET: &str = "5e0f6a4c-1d2b-4c3d-8e9f-0a1b2c3d4e5f";
const SUBNET: &str = "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d";
const DHCP_PORT: &str = "d1c2b3a4-0000-4000-8000-000000000001";
const VM_PORT: &str = "e5f6a7b8-0000-4000-8000-000000000002";
const VM_MAC: &str = "fa:16:3e:00:00:02";
const BRIDGE: &str = "brtest";
const VM_TAP: &str = "tapvm";

/// Kills the dnsmasq processes of the state directory when dropped (also on panic), so the
/// sandbox's namespaces have nothing left keeping them alive.
struct KillDnsmasq(PathBuf);

impl Drop for KillDnsmasq {
    fn drop(&mut self) {
        let Ok(dirs) = std::fs::read_dir(&self.0) else { return };
        for dir in dirs.flatten() {
            let pid_file = dir.path().join("pid");
            let Ok(pid) = std::fs::read_to_string(&pid_file) else { continue };
            let Ok(pid) = pid.trim().parse::<libc::pid_t>() else { continue };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            if String::from_utf8_lossy(&cmdline).contains(&*pid_file.to_string_lossy()) {
                // SAFETY: kill(2) with a positive pid has no memory-safety preconditions.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

fn network(vm_ip: &str, extra: Vec<ExtraDhcpOpt>) -> DhcpNetwork {
    let fixed = |ip: &str| vec![DhcpFixedIp { subnet_id: SUBNET.into(), ip_address: ip.parse().unwrap() }];
    DhcpNetwork {
        network_id: NET.into(),
        project_id: "p1".into(),
        mtu: 1400,
        port: DhcpPort { id: DHCP_PORT.into(), mac_address: "fa:16:3e:00:00:01".into(), fixed_ips: fixed("10.0.0.2") },
        subnets: vec![DhcpSubnet {
            router_attached: false,
            id: SUBNET.into(),
            cidr: "10.0.0.0/24".into(),
            ip_version: 4,
            gateway_ip: Some("10.0.0.1".parse().unwrap()),
            dns_nameservers: vec!["192.0.2.53".into()],
            host_routes: vec![HostRoute { destination: "10.1.0.0/16".into(), nexthop: "10.0.0.254".parse().unwrap() }],
            ipv6_address_mode: None,
            ipv6_ra_mode: None,
        }],
        hosts: vec![DhcpHost {
            dns_assignment: vec![],
            port_id: VM_PORT.into(),
            mac_address: VM_MAC.into(),
            fixed_ips: fixed(vm_ip),
            hostname: format!("host-{}", vm_ip.replace('.', "-")),
            device_id: "vm-1".into(),
            device_owner: "compute:nova".into(),
            project_id: "p1".into(),
            extra_dhcp_opts: extra,
        }],
    }
}

/// `udhcpc` in the VM: the variables its script saw on `bound`.
fn udhcpc(netns: &NetnsDir, vm: &str, dir: &Path) -> String {
    let out = dir.join("lease.env");
    let _ = std::fs::remove_file(&out);
    let script = dir.join("udhcpc.sh");
    std::fs::write(&script, "#!/bin/sh\n[ \"$1\" = bound ] && env > \"$LEASE_OUT\"\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let ns: File = netns.open(vm).unwrap();
    let mut cmd = Command::new("/usr/bin/busybox");
    cmd.args(["udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s"])
        .arg(&script)
        .args(["-O", "staticroutes", "-O", "msstaticroutes", "-O", "mtu", "-O", "ntpsrv"])
        .env("LEASE_OUT", &out)
        .stdin(Stdio::null());
    neutrino_agent::netns::exec_in(&mut cmd, &ns);
    let output = cmd.output().unwrap();
    assert!(output.status.success(), "udhcpc failed: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::read_to_string(&out).unwrap_or_else(|e| panic!("no lease written ({e}): {output:?}"))
}

/// Runs busybox `args` inside the namespace `vm`; its stdout.
fn busybox_in(netns: &NetnsDir, vm: &str, args: &[&str]) -> String {
    let ns: File = netns.open(vm).unwrap();
    let mut cmd = Command::new("/usr/bin/busybox");
    cmd.args(args).stdin(Stdio::null());
    neutrino_agent::netns::exec_in(&mut cmd, &ns);
    String::from_utf8_lossy(&cmd.output().unwrap().stdout).into_owned()
}

fn var<'a>(env: &'a str, name: &str) -> Option<&'a str> {
    env.lines().find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
}

fn dnsmasq_pid(state: &Path) -> String {
    std::fs::read_to_string(state.join(NET).join("pid")).unwrap().trim().to_owned()
}

#[test]
fn dnsmasq_serves_a_vm_and_reloads_without_restart() {
    if !common::runnable(&["/usr/sbin/dnsmasq", "/usr/bin/busybox"], "dnsmasq-base busybox") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    // dnsmasq re-reads its files after dropping root.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = tmp.path().to_owned();
    in_sandbox(&dir.clone(), move |netns_dir| async move {
        let state = dir.join("state");
        let _kill = KillDnsmasq(state.clone());
        let cfg = DhcpConfig { state_dir: state.clone(), netns_dir: netns_dir.clone(), ..DhcpConfig::default() };
        let netns = NetnsDir::new(&netns_dir);

        // The VM, plugged by its "hypervisor" into a bridge of the "L2 agent".
        let l2 = NetlinkDataplane::new().unwrap();
        l2.create_bridge(&BridgeSpec { name: BRIDGE.into(), mtu: 1400 }).await.unwrap();
        assert!(netns.create("vm").unwrap());
        let vm_mac = VM_MAC.parse().unwrap();
        let hypervisor = LinuxDhcp::new(&netns_dir);
        let vm_veth = VethSpec { tap: VM_TAP.into(), dev: "eth0".into(), mac: vm_mac, mtu: 1400, up: true };
        hypervisor.create_veth("vm", &vm_veth).await.unwrap();
        l2.set_master(VM_TAP, BRIDGE).await.unwrap();

        // First pass: namespace, veth, addresses, files, dnsmasq.
        let mut reconciler = DhcpReconciler::new(cfg.clone());
        let report = reconciler.reconcile(&[network("10.0.0.5", vec![])]).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        assert!(report.applied.iter().any(|l| l.starts_with("start dnsmasq")), "{report:#?}");
        assert_eq!(netns.list("qdhcp-").unwrap(), vec![namespace_name(NET)]);
        l2.set_master(&tap_name(DHCP_PORT), BRIDGE).await.unwrap();

        let lease = udhcpc(&netns, "vm", &dir);
        assert_eq!(var(&lease, "ip"), Some("10.0.0.5"), "{lease}");
        assert_eq!(var(&lease, "subnet"), Some("255.255.255.0"), "{lease}");
        assert_eq!(var(&lease, "router"), Some("10.0.0.1"), "{lease}");
        assert_eq!(var(&lease, "dns"), Some("192.0.2.53"), "{lease}");
        assert_eq!(var(&lease, "mtu"), Some("1400"), "{lease}");
        assert_eq!(var(&lease, "domain"), Some("openstacklocal"), "{lease}");
        let routes = "10.1.0.0/16 10.0.0.254 169.254.169.254/32 10.0.0.2 0.0.0.0/0 10.0.0.1";
        assert_eq!(var(&lease, "staticroutes"), Some(routes), "{lease}");
        assert_eq!(var(&lease, "msstaticroutes"), Some(routes), "{lease}");
        let pid = dnsmasq_pid(&state);

        // A restarted agent finding everything right (the DNS guard's fingerprint and the
        // default route read back too) changes and signals nothing.
        let report = DhcpReconciler::new(cfg.clone()).reconcile(&[network("10.0.0.5", vec![])]).await;
        assert_eq!(report, Report::new(SubsystemKind::Dhcp));

        // DNS on the DHCP port: the VM's own name; the namespace routes via the gateway.
        busybox_in(&netns, "vm", &["ip", "addr", "add", "10.0.0.5/24", "dev", "eth0"]);
        let answer = busybox_in(&netns, "vm", &["nslookup", "-type=a", "host-10-0-0-5.openstacklocal", "10.0.0.2"]);
        assert!(answer.contains("Address: 10.0.0.5"), "{answer}");
        let gateways = LinuxDhcp::new(&netns_dir).default_gateways(&namespace_name(NET)).await.unwrap();
        assert_eq!(gateways, ["10.0.0.1".parse::<std::net::IpAddr>().unwrap()]);
        busybox_in(&netns, "vm", &["ip", "addr", "flush", "dev", "eth0"]);

        // New address for the MAC and a new option: files and SIGHUP, same dnsmasq.
        let ntp = ExtraDhcpOpt { opt_name: "ntp-server".into(), opt_value: "10.0.0.123".into(), ip_version: 4 };
        let changed = network("10.0.0.6", vec![ntp]);
        let report = reconciler.reconcile(std::slice::from_ref(&changed)).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        assert!(report.applied.iter().any(|l| l.starts_with("reload dnsmasq")), "{report:#?}");
        assert!(!report.applied.iter().any(|l| l.contains("start") || l.contains("stop")), "{report:#?}");
        assert_eq!(dnsmasq_pid(&state), pid);
        let lease = udhcpc(&netns, "vm", &dir);
        assert_eq!(var(&lease, "ip"), Some("10.0.0.6"), "{lease}");
        assert_eq!(var(&lease, "ntpsrv"), Some("10.0.0.123"), "{lease}");

        // Healing: an address removed and the namespace deleted by hand (dnsmasq keeps
        // the old one alive, tap included).
        let qdhcp = namespace_name(NET);
        let dhcp = LinuxDhcp::new(&netns_dir);
        let dev = neutrino_agent::dhcp::ns_device_name(DHCP_PORT);
        dhcp.del_addr(
            &qdhcp,
            &dev,
            neutrino_agent::netns::cidr::IfAddr { addr: "10.0.0.2".parse().unwrap(), prefix_len: 24 },
        )
        .await
        .unwrap();
        let report = reconciler.reconcile(std::slice::from_ref(&changed)).await;
        assert_eq!(report.applied, vec![format!("add address 10.0.0.2/24 to {dev} in {qdhcp}")], "{report:#?}");
        netns.delete(&qdhcp).unwrap();
        let report = reconciler.reconcile(std::slice::from_ref(&changed)).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        assert!(report.applied.iter().any(|l| l.contains("it runs outside of its namespace")), "{report:#?}");
        assert_ne!(dnsmasq_pid(&state), pid);
        l2.set_master(&tap_name(DHCP_PORT), BRIDGE).await.unwrap();
        let lease = udhcpc(&netns, "vm", &dir);
        assert_eq!(var(&lease, "ip"), Some("10.0.0.6"), "{lease}");

        // No longer served: dnsmasq, namespace and files go.
        let pid = dnsmasq_pid(&state);
        let report = reconciler.reconcile(&[]).await;
        assert!(report.issues.is_empty(), "{report:#?}");
        assert!(netns.list("qdhcp-").unwrap().is_empty());
        assert!(!state.join(NET).exists());
        assert!(
            !Path::new(&format!("/proc/{pid}/cmdline")).exists()
                || std::fs::read(format!("/proc/{pid}/cmdline")).unwrap().is_empty()
        );
        assert_eq!(reconciler.reconcile(&[]).await, Report::new(SubsystemKind::Dhcp));
    });
}
