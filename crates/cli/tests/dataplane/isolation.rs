//! The dataplane fails closed against a hostile VM and a broken host: a port whose filter
//! could not be applied is never bridged, a VM cannot advertise a neighbour's IPv6 address,
//! and two tenants with the same addresses on one host never share a conntrack entry.

use crate::{cloud, cloud_with};
use neutrino_client::Collection;
use neutrino_testbed::cloud::{BootedVm, Cloud};
use serde_json::{json, Value};
use std::net::{Ipv6Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

const PING_WAIT: Duration = Duration::from_secs(5);

fn id(v: &serde_json::Map<String, Value>) -> String {
    v.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn port_status(cloud: &Cloud, port_id: &str) -> String {
    let id = port_id.to_string();
    let port = cloud.api("admin", move |c| async move { c.show(Collection::Ports, &id).await }).expect("port");
    port.get("status").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The bridge a tap is enslaved to on its host, if any.
fn master_of(cloud: &Cloud, vm: &BootedVm) -> Option<String> {
    let link = cloud.host(&vm.host).unwrap().exec_ok(["ip", "-o", "link", "show", vm.vm.tap()]).unwrap();
    let mut words = link.split_whitespace();
    words.by_ref().find(|w| *w == "master")?;
    words.next().map(str::to_string)
}

#[test]
fn a_failed_firewall_apply_leaves_a_new_vm_unwired_and_down_until_nft_works() {
    // Resync every second, so a working nft is retried quickly.
    let Some(cloud) = cloud_with("fwfail", &["h1"], &["--resync-interval", "1"]) else { return };
    let net = id(&cloud.network("tenant-a", "net", "10.3.0.0/24").unwrap());
    let vm0 = cloud.boot_vm("tenant-a", "h1", &net, "vm0").unwrap();
    let vm1 = cloud.boot_vm("tenant-a", "h1", &net, "vm1").unwrap();
    assert!(vm0.vm.ping(vm1.ip(), 2, PING_WAIT).unwrap().received >= 1);

    // nft breaks on h1 only: a failing program bind-mounted over /usr/sbin/nft in h1's own
    // mount namespace. The agent runs its usual binary path; every transaction (and listing)
    // now fails as nft does when the kernel refuses a ruleset.
    let broken = cloud.tb.log_dir().join("nft-broken");
    std::fs::write(
        &broken,
        "#!/bin/sh\necho 'Error: Could not process rule: No buffer space available (test: nft broken)' >&2\nexit 1\n",
    )
    .unwrap();
    std::fs::set_permissions(&broken, std::fs::Permissions::from_mode(0o755)).unwrap();
    let h1 = cloud.host("h1").unwrap();
    h1.exec_ok(["mount", "--bind", &broken.display().to_string(), "/usr/sbin/nft"]).unwrap();
    assert!(!h1.exec(["nft", "list", "tables"]).unwrap().status.success(), "nft must fail on h1 now");
    let log_before = cloud.agent("h1").unwrap().read_log().len();

    let vm2 = cloud.boot_vm_unwaited("tenant-a", "h1", &net, "vm2", json!({})).unwrap();
    // Several passes (a new state, then a resync a second): never ACTIVE, never bridged.
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert_eq!(port_status(&cloud, vm2.port_id()), "DOWN", "a port without its filter must stay DOWN");
        assert_eq!(master_of(&cloud, &vm2), None, "the tap must stay out of the bridge");
        std::thread::sleep(Duration::from_millis(250));
    }
    assert_eq!(vm2.vm.ping(vm1.ip(), 2, Duration::from_secs(2)).unwrap().received, 0, "vm2 reaches vm1");
    assert_eq!(vm1.vm.ping(vm2.ip(), 2, Duration::from_secs(2)).unwrap().received, 0, "vm1 reaches vm2");
    // Ports already wired keep the filter the kernel has for them, and keep talking.
    assert!(vm0.vm.ping(vm1.ip(), 3, PING_WAIT).unwrap().received >= 2, "wired ports keep working");
    let log = cloud.agent("h1").unwrap().read_log();
    let after = &log[log_before.min(log.len())..];
    let held = after
        .lines()
        .find(|l| l.contains(vm2.port_id()) && l.contains("not wired into"))
        .unwrap_or_else(|| panic!("no held-port issue for {} in the agent log:\n{after}", vm2.port_id()));
    assert!(held.contains("No buffer space available"), "the reason is nft's error: {held}");

    // nft works again: the filter goes in, then the port is wired and ACTIVE.
    h1.exec_ok(["umount", "/usr/sbin/nft"]).unwrap();
    cloud.wait_port_status(vm2.port_id(), "ACTIVE", Duration::from_secs(15)).unwrap();
    assert!(master_of(&cloud, &vm2).is_some_and(|m| m.starts_with("brq")), "wired once filtered");
    assert!(vm2.vm.ping(vm1.ip(), 3, PING_WAIT).unwrap().received >= 2, "vm2 -> vm1 once wired");
    // Its anti-spoofing: its device and MAC in the shared chain's named set.
    let macs = h1.exec_ok(["nft", "list", "set", "bridge", "neutrino", "spoof-macs"]).unwrap();
    let element = format!("\"{}\" . {}", vm2.vm.tap(), vm2.mac());
    assert!(macs.contains(&element), "vm2's anti-spoofing is in place ({element}): {macs}");
}

/// A port's address on the IPv6 subnet.
fn v6_of(vm: &BootedVm) -> Ipv6Addr {
    vm.port
        .get("fixed_ips")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|f| f.get("ip_address")?.as_str()?.parse::<Ipv6Addr>().ok())
        .next()
        .unwrap_or_else(|| panic!("no IPv6 address on {:?}", vm.port))
}

fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':').map(|b| u8::from_str_radix(b, 16).expect("mac")).collect()
}

/// An unsolicited neighbour advertisement (RFC 4861 4.4) with the override flag: `target`
/// is at `lladdr`.
fn neighbour_advert(target: Ipv6Addr, lladdr: &str) -> Vec<u8> {
    let mut m = vec![136, 0, 0, 0, 0x20, 0, 0, 0];
    m.extend_from_slice(&target.octets());
    m.extend_from_slice(&[2, 1]);
    m.extend(mac_bytes(lladdr));
    m
}

/// A router advertisement (RFC 4861 4.2) offering a default route for 1800 s.
fn router_advert(lladdr: &str) -> Vec<u8> {
    let mut m = vec![134, 0, 0, 0, 64, 0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
    m.extend_from_slice(&[1, 1]);
    m.extend(mac_bytes(lladdr));
    m
}

/// The MAC `vm` has for `addr` in its neighbour table, if any.
fn neighbour(vm: &BootedVm, addr: Ipv6Addr) -> Option<String> {
    let out = vm.vm.exec_ok(["ip", "-6", "neigh", "show", &addr.to_string(), "dev", "eth0"]).unwrap();
    let mut words = out.split_whitespace();
    words.by_ref().find(|w| *w == "lladdr")?;
    words.next().map(str::to_string)
}

fn eui64_link_local(mac: &str) -> Ipv6Addr {
    let m = mac_bytes(mac);
    Ipv6Addr::new(
        0xfe80,
        0,
        0,
        0,
        u16::from_be_bytes([m[0] ^ 2, m[1]]),
        u16::from_be_bytes([m[2], 0xff]),
        u16::from_be_bytes([0xfe, m[3]]),
        u16::from_be_bytes([m[4], m[5]]),
    )
}

#[test]
fn a_forged_neighbour_advertisement_is_dropped_and_a_vms_own_work() {
    let Some(cloud) = cloud("ndspoof", &["h1", "h2"]) else { return };
    let net = id(&cloud.network("tenant-a", "net", "10.4.0.0/24").unwrap());
    let subnet = obj(json!({"network_id": net, "cidr": "fd00:4::/64", "ip_version": 6, "name": "v6"}));
    cloud.api("tenant-a", move |c| async move { c.create(Collection::Subnets, subnet).await }).unwrap();
    // The attacker and the observer on h1, the victim on h2.
    let attacker = cloud.boot_vm("tenant-a", "h1", &net, "attacker").unwrap();
    let observer = cloud.boot_vm("tenant-a", "h1", &net, "observer").unwrap();
    let victim = cloud.boot_vm("tenant-a", "h2", &net, "victim").unwrap();
    for vm in [&attacker, &observer, &victim] {
        vm.vm.exec_ok(["ip", "-6", "addr", "add", &format!("{}/64", v6_of(vm)), "dev", "eth0", "nodad"]).unwrap();
    }
    let (a6, o6, v6) = (v6_of(&attacker), v6_of(&observer), v6_of(&victim));

    // Their own advertisements work: IPv6 between the VMs resolves and answers.
    assert!(observer.vm.ping(&v6.to_string(), 3, PING_WAIT).unwrap().received >= 2, "observer -> victim (v6)");
    assert!(observer.vm.ping(&a6.to_string(), 3, PING_WAIT).unwrap().received >= 2, "observer -> attacker (v6)");
    assert!(attacker.vm.ping(&v6.to_string(), 3, PING_WAIT).unwrap().received >= 2, "attacker -> victim (v6)");
    assert_eq!(neighbour(&observer, v6).as_deref(), Some(victim.mac()));

    // The attacker claims the victim's address (override flag) towards the observer: dropped
    // at its tap, the observer's entry keeps the victim's MAC.
    for _ in 0..3 {
        attacker.vm.send_icmpv6(a6, o6, &neighbour_advert(v6, attacker.mac())).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(neighbour(&observer, v6).as_deref(), Some(victim.mac()), "forged NA poisoned the observer");
    assert!(observer.vm.ping(&v6.to_string(), 2, PING_WAIT).unwrap().received >= 1, "observer still reaches victim");

    // Router advertisements from a VM are dropped: the observer (which accepts RAs) gets no
    // default route from the attacker.
    let accept_ra = observer.vm.exec_ok(["sysctl", "-n", "net.ipv6.conf.eth0.accept_ra"]).unwrap();
    assert_ne!(accept_ra.trim(), "0", "the observer must accept RAs for this check to mean anything");
    let all_nodes: Ipv6Addr = "ff02::1".parse().unwrap();
    for _ in 0..3 {
        attacker.vm.send_icmpv6(eui64_link_local(attacker.mac()), all_nodes, &router_advert(attacker.mac())).unwrap();
    }
    std::thread::sleep(Duration::from_millis(500));
    let routes = observer.vm.exec_ok(["ip", "-6", "route", "show", "default"]).unwrap();
    assert!(routes.trim().is_empty(), "a VM's router advertisement was accepted: {routes}");

    // Control: once the victim's address is an allowed address pair of the attacker's port
    // (a VRRP-style failover address), the very same advertisement is let through and
    // takes effect: the drop above was the nd_target check, not a malformed packet.
    let port = attacker.port_id().to_string();
    let update = obj(json!({"allowed_address_pairs": [{"ip_address": v6.to_string()}]}));
    cloud.api("tenant-a", move |c| async move { c.update(Collection::Ports, &port, update).await }).unwrap();
    neutrino_testbed::wait::wait_until(Duration::from_secs(15), Duration::from_millis(300), || {
        let _ = attacker.vm.send_icmpv6(a6, o6, &neighbour_advert(v6, attacker.mac()));
        std::thread::sleep(Duration::from_millis(100));
        neighbour(&observer, v6).as_deref() == Some(attacker.mac())
    })
    .unwrap_or_else(|_| panic!("the allowed pair's advertisement never arrived: {:?}", neighbour(&observer, v6)));
}

/// Receives datagrams on `socket` until `wait` passes without one.
fn received(socket: &std::net::UdpSocket, wait: Duration) -> Vec<String> {
    socket.set_read_timeout(Some(wait)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok((n, _)) = socket.recv_from(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got
}

#[test]
fn same_cidr_tenants_on_one_host_never_share_a_connection() {
    let Some(cloud) = cloud("ctzone", &["h1"]) else { return };
    let net_a = id(&cloud.network("tenant-a", "net", "10.5.0.0/24").unwrap());
    let net_b = id(&cloud.network("tenant-b", "net", "10.5.0.0/24").unwrap());
    // Tenant B's VMs admit UDP to port 5000 only (and, being stateful, replies to their
    // own connections).
    let sg = cloud
        .api("tenant-b", |c| async move {
            let sg = c.create(Collection::SecurityGroups, obj(json!({"name": "udp-5000"}))).await?;
            let rule = json!({"security_group_id": sg["id"], "direction": "ingress", "ethertype": "IPv4",
                "protocol": "udp", "port_range_min": 5000, "port_range_max": 5000});
            c.create(Collection::SecurityGroupRules, obj(rule)).await?;
            Ok(sg)
        })
        .unwrap();
    let sg_id = id(&sg);
    let at = |ip: &str| json!({"fixed_ips": [{"ip_address": ip}]});
    let in_b = |ip: &str| json!({"fixed_ips": [{"ip_address": ip}], "security_groups": [sg_id]});
    let a1 = cloud.boot_vm_with("tenant-a", "h1", &net_a, "a1", at("10.5.0.11")).unwrap();
    let a2 = cloud.boot_vm_with("tenant-a", "h1", &net_a, "a2", at("10.5.0.12")).unwrap();
    let b1 = cloud.boot_vm_with("tenant-b", "h1", &net_b, "b1", in_b("10.5.0.11")).unwrap();
    let b2 = cloud.boot_vm_with("tenant-b", "h1", &net_b, "b2", in_b("10.5.0.12")).unwrap();
    let addr = |s: &str| s.parse::<SocketAddr>().unwrap();

    // Tenant A: a1:40000 -> a2:5000 (a2's default group admits its group's members).
    let a1_sock = a1.vm.udp_socket(addr("10.5.0.11:40000")).unwrap();
    let a2_sock = a2.vm.udp_socket(addr("10.5.0.12:5000")).unwrap();
    a1_sock.send_to(b"a-request", addr("10.5.0.12:5000")).unwrap();
    assert_eq!(received(&a2_sock, Duration::from_secs(2)), vec!["a-request"], "tenant A's connection");

    // Tenant B's b2, from the same address and port as a2, sends what would be the reply of
    // A's connection to b1, which has A's a1's address and port. b1 admits only port 5000, so
    // only a conntrack entry could let it in, and it must not be A's.
    let b1_sock = b1.vm.udp_socket(addr("10.5.0.11:40000")).unwrap();
    let b2_sock = b2.vm.udp_socket(addr("10.5.0.12:5000")).unwrap();
    for _ in 0..3 {
        b2_sock.send_to(b"forged-reply", addr("10.5.0.11:40000")).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(received(&b1_sock, Duration::from_secs(2)), Vec::<String>::new(), "A's connection admitted B's packet");
    // A's own reply still passes.
    a2_sock.send_to(b"a-reply", addr("10.5.0.11:40000")).unwrap();
    assert_eq!(received(&a1_sock, Duration::from_secs(2)), vec!["a-reply"]);

    // Control: once B has that connection itself (b1:40000 -> b2:5000), the very same
    // datagram from b2 reaches b1.
    b1_sock.send_to(b"b-request", addr("10.5.0.12:5000")).unwrap();
    assert_eq!(received(&b2_sock, Duration::from_secs(2)), vec!["b-request"], "tenant B's connection");
    b2_sock.send_to(b"b-reply", addr("10.5.0.11:40000")).unwrap();
    assert_eq!(received(&b1_sock, Duration::from_secs(2)), vec!["b-reply"], "B's reply within B's connection");

    // Each network has its own zone on h1.
    let h1 = cloud.host("h1").unwrap();
    let zones = h1.exec_ok(["nft", "list", "table", "inet", "neutrino-zones"]).unwrap();
    for net in [&net_a, &net_b] {
        assert!(zones.contains(&format!("\"brq{}\"", &net[..11])), "{zones}");
    }
}
