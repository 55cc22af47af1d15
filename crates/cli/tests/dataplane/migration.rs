//! Live migration (`binding-extended`), as Nova drives it: an INACTIVE binding on the target
//! host, which that host's agent wires as soon as the instance's tap appears there; the
//! instance moves (its interface re-plugged into the target's tap, same MAC and address);
//! the target binding is activated and the source's deleted. Traffic to the instance from
//! another host resumes with only a few pings lost.

use crate::cloud_auth;
use crate::l2::{fdb, id, vni};
use neutrino_testbed::cloud::Auth;
use neutrino_testbed::wait::wait_until;
use serde_json::Value;
use std::time::Duration;

const PING_WAIT: Duration = Duration::from_secs(5);

#[test]
fn a_live_migrated_vm_is_wired_ahead_and_keeps_answering() {
    let auth = Auth::AdminPassword("migration-admin-secret".into());
    let Some(cloud) = cloud_auth("migrate", &["h1", "h2", "h3"], &[], auth) else { return };
    let net = id(&cloud.network("admin", "net", "10.3.0.0/24").unwrap());
    let vm = cloud.boot_vm("admin", "h1", &net, "mover").unwrap();
    let peer = cloud.boot_vm("admin", "h3", &net, "peer").unwrap();
    assert!(peer.vm.ping(vm.ip(), 3, PING_WAIT).unwrap().received >= 2, "peer -> vm on h1");
    let (port, mac, tap) = (vm.port_id().to_string(), vm.mac().to_string(), vm.vm.tap().to_string());
    let vni = vni(&cloud, &net);
    let ip_of = |h: &str| cloud.host(h).unwrap().underlay_ip().to_string();
    let (h1_ip, h2_ip) = (ip_of("h1"), ip_of("h2"));
    let bridge = format!("brq{}", &net[..11]);

    // Pre-live-migration: Nova binds the port on h2; the instance's tap appears there and
    // h2's agent wires it (bridge and filter) while the port still lives on h1.
    let b = cloud.bind_port_to(&port, "h2").unwrap();
    assert_eq!((b["host"].as_str(), b["status"].as_str()), (Some("h2"), Some("INACTIVE")), "{b}");
    let h2 = cloud.host("h2").unwrap();
    cloud.tb.prepare_move(&vm.vm, h2).unwrap();
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        h2.exec_ok(["ip", "-o", "link", "show", &tap]).unwrap_or_default().contains(&format!("master {bridge}"))
    })
    .unwrap_or_else(|_| panic!("h2 did not wire {tap}: {:?}", h2.exec_ok(["ip", "-o", "link", "show", &tap])));
    let rules = h2.exec_ok(["nft", "list", "table", "bridge", "neutrino"]).unwrap();
    assert!(rules.contains(&tap), "h2 filters the tap before activation:\n{rules}");
    let show = |id: &str| {
        let id = id.to_string();
        cloud.api("admin", move |c| async move { c.show(neutrino_client::Collection::Ports, &id).await }).unwrap()
    };
    let p = show(&port);
    assert_eq!(p.get("binding:host_id").and_then(Value::as_str), Some("h1"));
    assert_eq!(p.get("status").and_then(Value::as_str), Some("ACTIVE"));
    assert!(fdb(&cloud, "h3", vni).contains(&format!("{mac} dst {h1_ip}")), "h3 still sends to h1");

    // The switch-over while the peer pings every 100 ms, then Nova activates the binding.
    let stream = peer.vm.ping_stream(vm.ip(), 100).unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let moved = cloud.tb.complete_move(&vm.vm, h2).unwrap();
    let b = cloud.activate_binding(&port, "h2").unwrap();
    assert_eq!((b["host"].as_str(), b["status"].as_str()), (Some("h2"), Some("ACTIVE")), "{b}");
    cloud.wait_port_status(&port, "ACTIVE", Duration::from_secs(10)).unwrap();
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        fdb(&cloud, "h3", vni).contains(&format!("{mac} dst {h2_ip}"))
    })
    .unwrap_or_else(|_| panic!("h3 still sends {mac} elsewhere: {}", fdb(&cloud, "h3", vni)));
    std::thread::sleep(Duration::from_secs(2));
    let stats = stream.stop().unwrap();
    eprintln!("pings during the migration: {stats:?}");
    assert!(stats.sent >= 25, "{stats:?}");
    assert!(stats.lost <= 5, "the migration cost {} pings: {stats:?}", stats.lost);

    // The source host no longer carries the port; Nova deletes its binding.
    let hosts: Vec<(String, String)> = cloud
        .port_bindings(&port)
        .unwrap()
        .iter()
        .map(|b| (b["host"].as_str().unwrap_or("").to_string(), b["status"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(hosts, [("h1".to_string(), "INACTIVE".to_string()), ("h2".to_string(), "ACTIVE".to_string())]);
    cloud.delete_binding(&port, "h1").unwrap();
    assert_eq!(cloud.port_bindings(&port).unwrap().len(), 1);
    let h1 = cloud.host("h1").unwrap();
    wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
        h1.exec(["ip", "link", "show", &bridge]).map(|o| !o.status.success()).unwrap_or(false)
    })
    .expect("h1 left the network (its bridge is gone)");
    assert!(moved.ping(peer.ip(), 3, PING_WAIT).unwrap().received >= 2, "vm on h2 -> peer");
    assert!(peer.vm.ping(vm.ip(), 3, PING_WAIT).unwrap().received >= 2, "peer -> vm on h2");
}
