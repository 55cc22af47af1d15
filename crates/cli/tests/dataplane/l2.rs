//! L2: VXLAN networks across hosts, tenant isolation, hosts joining, unplugging, and an
//! agent or server going away while traffic flows.

use crate::cloud;
use neutrino_testbed::cloud::{BootedVm, Cloud};
use serde_json::{json, Value};
use std::time::Duration;

const PING_WAIT: Duration = Duration::from_secs(5);

pub(crate) fn id(v: &serde_json::Map<String, Value>) -> String {
    v.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

pub(crate) fn vni(cloud: &Cloud, network_id: &str) -> u64 {
    let id = network_id.to_string();
    let net = cloud
        .api("admin", move |c| async move { c.show(neutrino_client::Collection::Networks, &id).await })
        .expect("network");
    net.get("provider:segmentation_id").and_then(Value::as_u64).expect("vni")
}

/// The VXLAN device's own forwarding entries (`<mac> dst <endpoint>`), without the bridge's
/// learned ones.
pub(crate) fn fdb(cloud: &Cloud, host: &str, vni: u64) -> String {
    let all = cloud
        .host(host)
        .unwrap()
        .exec_ok(["bridge", "fdb", "show", "dev", &format!("vxlan-{vni}")])
        .unwrap_or_default();
    all.lines().filter(|l| l.contains(" dst ")).collect::<Vec<_>>().join("\n")
}

#[test]
fn two_hosts_one_network_ping_and_unplug() {
    let Some(cloud) = cloud("l2ping", &["h1", "h2"]) else { return };
    let net = id(&cloud.network("tenant-a", "net-a", "10.0.0.0/24").unwrap());
    let vm1 = cloud.boot_vm("tenant-a", "h1", &net, "vm1").unwrap();
    let vm2 = cloud.boot_vm("tenant-a", "h2", &net, "vm2").unwrap();

    let there = vm1.vm.ping(vm2.ip(), 3, PING_WAIT).unwrap();
    assert!(there.received >= 2, "vm1 -> vm2 across VXLAN: {there:?}");
    let back = vm2.vm.ping(vm1.ip(), 3, PING_WAIT).unwrap();
    assert!(back.received >= 2, "vm2 -> vm1: {back:?}");

    // The wiring is Neutron's: brq bridge with the tap and vxlan-<vni>; FDB per remote MAC.
    let vni = vni(&cloud, &net);
    let h1 = cloud.host("h1").unwrap();
    let links = h1.exec_ok(["ip", "-d", "-o", "link", "show", vm1.vm.tap()]).unwrap();
    assert!(links.contains(&format!("master brq{}", &net[..11])), "{links}");
    let vx = h1.exec_ok(["ip", "-d", "-o", "link", "show", &format!("vxlan-{vni}")]).unwrap();
    assert!(vx.contains("dstport 4789") && vx.contains("nolearning"), "{vx}");
    // The host keeps no IPv6 address on tenant devices (VMs could reach it by link-local).
    for dev in [vm1.vm.tap().to_string(), format!("brq{}", &net[..11]), format!("vxlan-{vni}")] {
        let v6 = h1.exec_ok(["ip", "-6", "-o", "addr", "show", "dev", &dev]).unwrap();
        assert!(v6.trim().is_empty(), "{dev} has IPv6 on the host: {v6}");
    }
    let h2_ip = cloud.host("h2").unwrap().underlay_ip().to_string();
    let entries = fdb(&cloud, "h1", vni);
    assert!(entries.contains(&format!("00:00:00:00:00:00 dst {h2_ip}")), "flood entry to h2: {entries}");
    assert!(entries.contains(&format!("{} dst {h2_ip}", vm2.mac())), "vm2's MAC behind h2: {entries}");

    // Deleting vm2's port releases its tap from the bridge on h2 and drops the FDB entries
    // that pointed at it on h1.
    cloud.delete_port("tenant-a", vm2.port_id()).unwrap();
    let h2 = cloud.host("h2").unwrap();
    neutrino_testbed::wait::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        let tap = h2.exec_ok(["ip", "-o", "link", "show", vm2.vm.tap()]).unwrap_or_default();
        let entries = fdb(&cloud, "h1", vni);
        !tap.contains("master") && !entries.contains(vm2.mac()) && !entries.contains(&h2_ip)
    })
    .unwrap_or_else(|_| {
        panic!(
            "after delete: tap on h2 {:?}; fdb on h1 {:?}",
            h2.exec_ok(["ip", "-o", "link", "show", vm2.vm.tap()]),
            fdb(&cloud, "h1", vni)
        )
    });
    assert_eq!(vm1.vm.ping(vm2.ip(), 2, Duration::from_secs(2)).unwrap().received, 0);
}

#[test]
fn tenants_with_the_same_cidr_are_isolated() {
    let Some(cloud) = cloud("l2iso", &["h1", "h2"]) else { return };
    isolated_tenants(&cloud);
}

/// Two tenants' networks with the same CIDR across hosts h1 and h2: each tenant's VMs talk,
/// never the other's. Returns `[a1, a2, b1, b2]` (`a1` and `b1` on h1 share an address).
pub(crate) fn isolated_tenants(cloud: &Cloud) -> [BootedVm; 4] {
    let net_a = id(&cloud.network("tenant-a", "net", "10.0.0.0/24").unwrap());
    let net_b = id(&cloud.network("tenant-b", "net", "10.0.0.0/24").unwrap());
    assert_ne!(vni(cloud, &net_a), vni(cloud, &net_b));
    let a1 = cloud.boot_vm("tenant-a", "h1", &net_a, "a1").unwrap();
    let a2 = cloud.boot_vm("tenant-a", "h2", &net_a, "a2").unwrap();
    let b1 = cloud.boot_vm("tenant-b", "h1", &net_b, "b1").unwrap();
    // b2 holds an address no port of tenant A has.
    let b2 = cloud
        .boot_vm_with("tenant-b", "h2", &net_b, "b2", json!({"fixed_ips": [{"ip_address": "10.0.0.50"}]}))
        .unwrap();
    assert_eq!(a1.ip(), b1.ip(), "the same address in both tenants");

    assert!(a1.vm.ping(a2.ip(), 3, PING_WAIT).unwrap().received >= 2);
    assert!(b1.vm.ping(b2.ip(), 3, PING_WAIT).unwrap().received >= 2);
    assert_eq!(a1.vm.ping("10.0.0.50", 3, Duration::from_secs(3)).unwrap().received, 0, "A reaches B's VM");
    assert_eq!(a2.vm.ping("10.0.0.50", 3, Duration::from_secs(3)).unwrap().received, 0, "A reaches B's VM");
    // a1 and b1 share 10.0.0.2 on the same host: each answers only its own tenant.
    let neigh = a2.vm.exec_ok(["ip", "neigh", "show", a1.ip()]).unwrap();
    assert!(neigh.contains(a1.mac()) && !neigh.contains(b1.mac()), "{neigh}");
    let neigh = b2.vm.exec_ok(["ip", "neigh", "show", b1.ip()]).unwrap();
    assert!(neigh.contains(b1.mac()) && !neigh.contains(a1.mac()), "{neigh}");
    [a1, a2, b1, b2]
}

#[test]
fn a_host_added_later_joins() {
    let Some(mut cloud) = cloud("l2join", &["h1", "h2"]) else { return };
    let net = id(&cloud.network("tenant-a", "net", "10.1.0.0/24").unwrap());
    let vm1 = cloud.boot_vm("tenant-a", "h1", &net, "vm1").unwrap();
    let vm2 = cloud.boot_vm("tenant-a", "h2", &net, "vm2").unwrap();
    assert!(vm1.vm.ping(vm2.ip(), 2, PING_WAIT).unwrap().received >= 1);

    cloud.add_host("h3").unwrap();
    let vm3 = cloud.boot_vm("tenant-a", "h3", &net, "vm3").unwrap();
    assert!(vm3.vm.ping(vm1.ip(), 3, PING_WAIT).unwrap().received >= 2, "h3 -> h1");
    assert!(vm2.vm.ping(vm3.ip(), 3, PING_WAIT).unwrap().received >= 2, "h2 -> h3");
    let h3_ip = cloud.host("h3").unwrap().underlay_ip().to_string();
    let vni = vni(&cloud, &net);
    assert!(fdb(&cloud, "h1", vni).contains(&format!("00:00:00:00:00:00 dst {h3_ip}")));

    // A hand-deleted VXLAN device heals at once (the link event wakes the reconciler).
    cloud.host("h1").unwrap().exec_ok(["ip", "link", "del", &format!("vxlan-{vni}")]).unwrap();
    neutrino_testbed::wait::wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        fdb(&cloud, "h1", vni).contains(&format!("00:00:00:00:00:00 dst {h3_ip}"))
    })
    .expect("vxlan device recreated with its FDB");
    assert!(vm1.vm.ping(vm3.ip(), 3, PING_WAIT).unwrap().received >= 2, "h1 -> h3 after the heal");

    // Unplugging a VM (the hypervisor removes its tap) turns its port DOWN.
    let port = vm3.port_id().to_string();
    cloud.tb.remove_vm(vm3.vm).unwrap();
    cloud.wait_port_status(&port, "DOWN", Duration::from_secs(5)).unwrap();
}

#[test]
fn agent_restart_and_server_outage_keep_traffic_flowing() {
    let Some(mut cloud) = cloud("l2restart", &["h1", "h2"]) else { return };
    let net = id(&cloud.network("tenant-a", "net", "10.2.0.0/24").unwrap());
    let vm1 = cloud.boot_vm("tenant-a", "h1", &net, "vm1").unwrap();
    let vm2 = cloud.boot_vm("tenant-a", "h2", &net, "vm2").unwrap();
    assert!(vm1.vm.ping(vm2.ip(), 2, PING_WAIT).unwrap().received >= 1);

    // Restart h1's agent while vm1 pings vm2 every 100 ms.
    let log_before = cloud.agent("h1").unwrap().read_log().len();
    let vm3 = restart_under_pings(&mut cloud, &net, &vm1, &vm2);
    let log = cloud.agent("h1").unwrap().read_log();
    let after = &log[log_before.min(log.len())..];
    assert!(after.contains("watching the host's desired state"), "{after}");
    let churn: Vec<&str> =
        after.lines().filter(|l| l.contains("change=create") || l.contains("change=delete")).collect();
    assert!(churn.is_empty(), "the restarted agent removed or re-created devices:\n{}", churn.join("\n"));
    assert!(vm1.vm.ping(vm3.ip(), 2, PING_WAIT).unwrap().received >= 1, "learned vm3 after the restart");

    // The server dies for 30 s: traffic keeps flowing; the agents reconnect and converge.
    let stream = vm1.vm.ping_stream(vm2.ip(), 100).unwrap();
    cloud.kill_server().unwrap();
    std::thread::sleep(Duration::from_secs(30));
    cloud.restart_server().unwrap();
    let stats = stream.stop().unwrap();
    assert!(stats.sent >= 250, "{stats:?}");
    assert!(stats.lost <= 1, "server outage cost {} packets: {stats:?}", stats.lost);
    let vm4 = cloud.boot_vm("tenant-a", "h1", &net, "vm4").unwrap();
    assert!(vm4.vm.ping(vm2.ip(), 3, PING_WAIT).unwrap().received >= 2, "converged after the outage");
    let log = cloud.agent("h1").unwrap().read_log();
    assert!(log.contains("watch failed"), "the agent noticed the outage");
}

/// Restarts h1's agent while `vm1` pings `vm2` every 100 ms, then boots `vm3` on h2 in
/// `net` (a change the restarted agent must reconcile); at most one ping may be lost.
/// Returns vm3.
pub(crate) fn restart_under_pings(cloud: &mut Cloud, net: &str, vm1: &BootedVm, vm2: &BootedVm) -> BootedVm {
    let stream = vm1.vm.ping_stream(vm2.ip(), 100).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    cloud.restart_agent("h1").unwrap();
    cloud.wait_agent_alive("h1", Duration::from_secs(10)).unwrap();
    // Let it watch and reconcile a few times (a new port elsewhere changes its state).
    let vm3 = cloud.boot_vm("tenant-a", "h2", net, "vm3").unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let stats = stream.stop().unwrap();
    assert!(stats.sent >= 20, "{stats:?}");
    assert!(stats.lost <= 1, "agent restart cost {} packets: {stats:?}", stats.lost);
    vm3
}
