//! VMs wired by hand (a Linux bridge, a VXLAN) ping each other: the testbed's plumbing works and
//! stays out of the root namespace.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod common;

use std::time::Duration;

use neutrino_testbed::{wait_until, Host};

const T: Duration = Duration::from_secs(5);

fn sh(host: &Host, args: &[&str]) {
    host.exec_ok(args).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn two_vms_on_one_host_bridge_ping_and_root_untouched() {
    let before = common::root_links();
    let Some(tb) = common::testbed("bridge") else { return };
    let h1 = tb.add_host("h1").expect("h1");
    let h2 = tb.add_host("h2").expect("h2");
    assert_eq!(h1.underlay_ip().to_string(), "198.18.1.1");
    assert_eq!(h2.underlay_ip().to_string(), "198.18.1.2");
    assert_eq!(tb.controller_ip().to_string(), "198.18.0.1");

    // The underlay works: hosts reach the controller and each other.
    let out = h1.exec(["ping", "-c", "1", "-W", "2", &tb.controller_ip().to_string()]).expect("ping ctl");
    assert!(out.status.success(), "h1 -> controller: {}", String::from_utf8_lossy(&out.stdout));
    let out = h1.exec(["ping", "-c", "1", "-W", "2", &h2.underlay_ip().to_string()]).expect("ping h2");
    assert!(out.status.success(), "h1 -> h2: {}", String::from_utf8_lossy(&out.stdout));

    let a = tb.add_vm(&h1, "vm-a", "tapa", "fa:16:3e:00:00:0a", 1500).expect("vm a");
    let b = tb.add_vm(&h1, "vm-b", "tapb", "FA:16:3E:00:00:0B", 1500).expect("vm b");
    assert_eq!(b.mac(), "fa:16:3e:00:00:0b");
    let link = b.exec_ok(["ip", "-o", "link", "show", "eth0"]).expect("vm link");
    assert!(link.contains("fa:16:3e:00:00:0b") && link.contains("mtu 1500"), "{link}");
    assert!(h1.exec_ok(["ip", "-o", "link", "show", "tapa"]).expect("tap").contains("state UP"));
    // Duplicate names are refused.
    assert!(tb.add_vm(&h1, "vm-a", "tapc", "fa:16:3e:00:00:0c", 1500).is_err());

    sh(&h1, &["ip", "link", "add", "br0", "type", "bridge"]);
    sh(&h1, &["ip", "link", "set", "br0", "up"]);
    for tap in ["tapa", "tapb"] {
        sh(&h1, &["ip", "link", "set", tap, "master", "br0"]);
    }
    a.set_addr("10.0.0.1/24").expect("addr a");
    b.set_addr("10.0.0.2/24").expect("addr b");
    let r = a.ping("10.0.0.2", 3, T).expect("ping a->b");
    assert!(r.received >= 3, "{r:?}");
    let r = b.ping("10.0.0.1", 3, T).expect("ping b->a");
    assert!(r.received >= 3, "{r:?}");
    // Isolation is observable too: nobody at .3.
    let r = a.ping("10.0.0.3", 1, Duration::from_secs(1)).expect("ping nobody");
    assert_eq!(r.received, 0, "{r:?}");

    let stream = a.ping_stream("10.0.0.2", 50).expect("ping stream");
    std::thread::sleep(Duration::from_millis(700));
    let stats = stream.stop().expect("stop stream");
    assert!(stats.sent >= 5 && stats.received >= 5 && stats.lost <= 1, "{stats:?}");

    // Unplugging: the tap vanishes from the host.
    tb.remove_vm(b).expect("remove vm b");
    assert!(h1.exec(["ip", "link", "show", "tapb"]).expect("ip").status.code() != Some(0));
    wait_until(T, Duration::from_millis(50), || {
        a.ping("10.0.0.2", 1, Duration::from_secs(1)).is_ok_and(|r| r.received == 0)
    })
    .expect("b unreachable after removal");
    drop(tb);
    assert_eq!(before, common::root_links(), "the root namespace gained or lost devices");
}

#[test]
fn vxlan_between_two_hosts() {
    let Some(tb) = common::testbed("vxlan") else { return };
    let hosts = [tb.add_host("h1").expect("h1"), tb.add_host("h2").expect("h2")];
    let mut vms = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let other = hosts[1 - i].underlay_ip().to_string();
        let local = host.underlay_ip().to_string();
        #[rustfmt::skip]
        sh(host, &["ip", "link", "add", "vxlan-100", "type", "vxlan", "id", "100", "local", &local,
                   "dev", "eth0", "dstport", "4789", "nolearning"]);
        sh(host, &["bridge", "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan-100", "dst", &other]);
        sh(host, &["ip", "link", "add", "brq100", "type", "bridge"]);
        sh(host, &["ip", "link", "set", "vxlan-100", "master", "brq100", "up"]);
        sh(host, &["ip", "link", "set", "brq100", "up"]);
        let n = i + 1;
        let vm = tb.add_vm(host, &format!("vm{n}"), &format!("tap{n}"), &format!("fa:16:3e:00:01:0{n}"), 1450);
        let vm = vm.expect("vm");
        sh(host, &["ip", "link", "set", vm.tap(), "master", "brq100"]);
        vm.set_addr(&format!("10.1.0.{n}/24")).expect("addr");
        vms.push(vm);
    }
    let fdb = hosts[0].exec_ok(["bridge", "fdb", "show", "dev", "vxlan-100"]).expect("fdb");
    assert!(fdb.contains("dst 198.18.1.2"), "{fdb}");
    let r = vms[0].ping("10.1.0.2", 3, T).expect("ping across");
    assert!(r.received >= 3, "{r:?}");
    // Full-size overlay frames (1450 - 28 bytes of ICMP payload headers) cross without fragmentation.
    let out = vms[1].exec(["ping", "-c", "1", "-W", "2", "-M", "do", "-s", "1422", "10.1.0.1"]).expect("big ping");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
}
