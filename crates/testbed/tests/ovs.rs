//! Open vSwitch hosts without any agent: each host's own ovsdb-server and ovs-vswitchd in its
//! namespaces (userspace datapath), the underlay on `br-phy`, VMs plugged by os-vif's rules, a
//! VXLAN tunnel and VLAN tags configured by hand as the seed's flows would, and nothing left
//! when the testbed goes.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod common;

use std::time::Duration;

use neutrino_testbed::vif::{self, dev_name, PortInfo, Vif};
use neutrino_testbed::{ovs_preflight, Host, Testbed, Vm};

const PORT_A: &str = "3f1c9a2e-5b7d-4c8e-9f0a-1b2c3d4e5f60";
const PORT_B: &str = "7a0b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";

/// A testbed that can run OVS hosts, or `None` (outside CI) with the reason printed.
/// It also needs `socat` and `tcpdump` (scripts/test.sh installs them).
fn ovs_testbed(hint: &str) -> Option<Testbed> {
    let tb = common::testbed(hint)?;
    let missing = ["socat", "tcpdump"]
        .into_iter()
        .find(|p| std::process::Command::new(p).arg("-h").output().is_err())
        .map(|p| format!("{p} is not installed"));
    if let Some(why) = ovs_preflight().err().map(|e| e.to_string()).or(missing) {
        assert!(std::env::var_os("CI").is_none(), "cannot run under CI: {why}");
        eprintln!("skipped: {why}");
        return None;
    }
    Some(tb)
}

fn vsctl(host: &Host, args: &[&str]) -> String {
    let mut argv = vec!["ovs-vsctl"];
    argv.extend(args);
    host.ovs(argv).unwrap()
}

/// `br-int` (netdev) and a VXLAN port to `remote` with VNI 100, as a hand-made tunnel.
fn br_int_with_tunnel(host: &Host, remote: &Host) {
    #[rustfmt::skip]
    vsctl(host, &["add-br", "br-int", "--", "set", "bridge", "br-int", "datapath_type=netdev",
                  "--", "add-port", "br-int", "vx", "--", "set", "interface", "vx", "type=vxlan",
                  &format!("options:remote_ip={}", remote.underlay_ip()),
                  &format!("options:local_ip={}", host.underlay_ip()), "options:key=100"]);
}

/// Waits for `from` to answer pings to `ip` (the first ARP may take a moment).
fn pings(from: &Vm, ip: &str) -> bool {
    neutrino_testbed::wait_until(Duration::from_secs(10), Duration::from_millis(100), || {
        from.ping(ip, 1, Duration::from_secs(1)).is_ok_and(|r| r.received == 1)
    })
    .is_ok()
}

/// TCP from `from` to `ip:port` where `to` listens (socat), the checksum offload case.
fn tcp_works(tb: &Testbed, to_netns: &str, from_netns: &str, ip: &str) -> bool {
    let listen = format!("TCP-LISTEN:7001,bind={ip},reuseaddr");
    let server = tb.spawn_in(to_netns, "socat", [listen.as_str(), "SYSTEM:echo hello-over-tcp"], &[], None).unwrap();
    let connect = format!("TCP:{ip}:7001,connect-timeout=2");
    let ok = neutrino_testbed::wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        let out = tb.exec_in(from_netns, ["timeout", "3", "socat", "-", connect.as_str()]).unwrap();
        String::from_utf8_lossy(&out.stdout).contains("hello-over-tcp")
    })
    .is_ok();
    let _ = server.kill();
    ok
}

#[test]
fn ovs_hosts_switch_vms_over_vxlan_with_os_vif_plugs() {
    let Some(tb) = ovs_testbed("ovs-hosts") else { return };
    let h1 = tb.add_ovs_host("h1").unwrap();
    let h2 = tb.add_ovs_host("h2").unwrap();
    let tag = tb.tag().to_string();

    // Each host has its own switch; the underlay address moved to br-phy, and TCP to the
    // controller (the agent's path to the server) works through the userspace datapath.
    for h in [&h1, &h2] {
        assert!(h.ovs_dir().unwrap().starts_with(tb.log_dir()));
        let show = vsctl(h, &["show"]);
        assert!(show.contains("Bridge br-phy") && show.contains("Port eth0"), "{show}");
        assert_eq!(vsctl(h, &["get", "bridge", "br-phy", "datapath_type"]).trim(), "netdev");
        let addr = h.exec_ok(["ip", "-4", "-o", "addr", "show", "dev", h.underlay_dev()]).unwrap();
        assert!(h.underlay_dev() == "br-phy" && addr.contains(&h.underlay_ip().to_string()), "{addr}");
        assert!(tcp_works(&tb, tb.controller().netns(), h.netns(), &tb.controller_ip().to_string()));
    }
    let ctl_ip = tb.controller_ip().to_string();
    assert!(tcp_works(&tb, h1.netns(), tb.controller().netns(), &h1.underlay_ip().to_string()), "{ctl_ip} -> h1");

    // VMs plugged as os-vif does: hybrid on h1, the tap itself on h2.
    br_int_with_tunnel(&h1, &h2);
    br_int_with_tunnel(&h2, &h1);
    let (tap_a, tap_b) = (dev_name("tap", PORT_A), dev_name("tap", PORT_B));
    let vm_a = tb.add_vm(&h1, "vm-a", &tap_a, "fa:16:3e:00:00:0a", 1450).unwrap();
    let vm_b = tb.add_vm(&h2, "vm-b", &tap_b, "fa:16:3e:00:00:0b", 1450).unwrap();
    let hybrid = Vif::Ovs { bridge: "br-int".into(), hybrid: true };
    let plain = Vif::Ovs { bridge: "br-int".into(), hybrid: false };
    let info_a = PortInfo { id: PORT_A, mac: "fa:16:3e:00:00:0a", device_id: "vm-a-uuid" };
    vif::plug(&h1, &vm_a, &hybrid, info_a).unwrap();
    vif::plug(&h2, &vm_b, &plain, PortInfo { id: PORT_B, mac: "fa:16:3e:00:00:0b", device_id: "vm-b-uuid" }).unwrap();
    let qvo = dev_name("qvo", PORT_A);
    let ids = vsctl(&h1, &["get", "Interface", &qvo, "external_ids"]);
    for want in [
        format!("iface-id=\"{PORT_A}\""),
        "iface-status=active".to_string(),
        "attached-mac=\"fa:16:3e:00:00:0a\"".to_string(),
        "vm-uuid=vm-a-uuid".to_string(),
    ] {
        assert!(ids.contains(&want), "{want} in {ids}");
    }
    let tap_link = h1.exec_ok(["ip", "-o", "link", "show", &tap_a]).unwrap();
    assert!(tap_link.contains(&format!("master {}", dev_name("qbr", PORT_A))), "{tap_link}");
    let qvb = h1.exec_ok(["ip", "-o", "link", "show", &dev_name("qvb", PORT_A)]).unwrap();
    assert!(qvb.contains(&format!("master {}", dev_name("qbr", PORT_A))), "{qvb}");
    assert!(vsctl(&h2, &["get", "Interface", &tap_b, "external_ids"]).contains(PORT_B));

    // The agent's job, by hand: local VLAN 1 on both ports. The VMs talk across VXLAN, TCP too.
    vsctl(&h1, &["set", "Port", &qvo, "tag=1"]);
    vsctl(&h2, &["set", "Port", &tap_b, "tag=1"]);
    vm_a.set_addr("10.0.0.1/24").unwrap();
    vm_b.set_addr("10.0.0.2/24").unwrap();
    assert!(pings(&vm_a, "10.0.0.2"), "vm-a -> vm-b over VXLAN between OVS hosts");
    assert!(tcp_works(&tb, vm_b.netns(), vm_a.netns(), "10.0.0.2"), "TCP between the VMs");

    // Unplug removes the OVS port, the veth and qbr.
    vif::unplug(&h1, &hybrid, PORT_A).unwrap();
    assert!(!vsctl(&h1, &["list-ports", "br-int"]).contains(&qvo));
    for dev in [qvo.clone(), dev_name("qvb", PORT_A), dev_name("qbr", PORT_A)] {
        assert!(!h1.exec(["ip", "link", "show", "dev", &dev]).unwrap().status.success(), "{dev} left behind");
    }
    vif::unplug(&h1, &hybrid, PORT_A).expect("unplugging twice is a no-op");

    let pids = neutrino_testbed::cmd::pids_with_tag(&tag);
    assert!(pids.len() >= 4, "two ovsdb-servers and two ovs-vswitchds: {pids:?}");
    drop(tb);
    assert!(neutrino_testbed::cmd::pids_with_tag(&tag).is_empty(), "OVS daemons survived the testbed");
    assert!(common::netns_with_tag(&tag).is_empty());
}

#[test]
fn physnets_carry_vlan_tags_between_ovs_hosts() {
    let Some(tb) = ovs_testbed("ovs-physnet") else { return };
    let h1 = tb.add_ovs_host("h1").unwrap();
    let h2 = tb.add_ovs_host("h2").unwrap();
    let physnet = tb.connect_physnet(&h1, "physnet1", "eth2").unwrap();
    assert_eq!(tb.connect_physnet(&h2, "physnet1", "eth2").unwrap(), physnet);
    for h in [&h1, &h2] {
        assert_eq!(vsctl(h, &["list-ports", "br-eth2"]).trim(), "eth2");
        assert_eq!(vsctl(h, &["get", "bridge", "br-eth2", "datapath_type"]).trim(), "netdev");
    }
    // A VM on each host's br-eth2, VLAN 1000 by hand: the frames cross the physnet tagged.
    let vm1 = tb.add_vm(&h1, "vm1", "tapv1", "fa:16:3e:00:01:01", 1500).unwrap();
    let vm2 = tb.add_vm(&h2, "vm2", "tapv2", "fa:16:3e:00:01:02", 1500).unwrap();
    for (h, vm) in [(&h1, &vm1), (&h2, &vm2)] {
        neutrino_testbed::ovs::vm_checksum_off(vm).unwrap();
        vsctl(h, &["add-port", "br-eth2", vm.tap(), "tag=1000"]);
    }
    vm1.set_addr("10.9.0.1/24").unwrap();
    vm2.set_addr("10.9.0.2/24").unwrap();
    let capture = tb
        .spawn_in(&physnet, "tcpdump", ["-l", "-n", "-e", "-i", "br-fabric", "vlan 1000 and icmp"], &[], None)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(pings(&vm1, "10.9.0.2"), "vm1 -> vm2 over the physnet, VLAN 1000");
    neutrino_testbed::wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        capture.read_log().contains("vlan 1000")
    })
    .unwrap_or_else(|_| panic!("no 802.1Q tag 1000 on the physnet: {}", capture.read_log()));
}
