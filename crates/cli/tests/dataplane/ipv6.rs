//! IPv6 guests behind a router: radvd in the `qrouter-` namespace announces the subnets
//! (SLAAC, the M and O flags), dnsmasq answers DHCPv6, and real clients configure the VMs:
//! the kernel's SLAAC from the router advertisement, ISC `dhclient -6`.

use crate::cloud_with;
use crate::l3::{id, obj};
use neutrino_client::Collection;
use neutrino_testbed::cloud::{BootedVm, Cloud};
use serde_json::{json, Value};
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

const EXT_GATEWAY: &str = "203.0.113.1/24";
const WAIT: Duration = Duration::from_secs(20);
/// Short advertisement intervals, so unsolicited advertisements come within seconds.
const RA_FLAGS: [&str; 4] = ["--min-rtr-adv-interval", "3", "--max-rtr-adv-interval", "10"];

/// A network with one IPv6 subnet in `mode` (both `ipv6_ra_mode` and `ipv6_address_mode`).
fn v6_network(cloud: &Cloud, name: &str, cidr: &str, mode: &str, dns: &[&str]) -> (String, Value) {
    let (name, cidr, mode) = (name.to_string(), cidr.to_string(), mode.to_string());
    let dns: Vec<String> = dns.iter().map(|d| d.to_string()).collect();
    let (net, sub) = cloud
        .api("tenant-a", move |c| async move {
            let net = c.create(Collection::Networks, obj(json!({"name": name}))).await?;
            let sub = c
                .create(
                    Collection::Subnets,
                    obj(json!({"network_id": net["id"], "cidr": cidr, "ip_version": 6, "ipv6_ra_mode": mode,
                               "ipv6_address_mode": mode, "dns_nameservers": dns})),
                )
                .await?;
            Ok((net, sub))
        })
        .expect("IPv6 network");
    (id(&net), Value::Object(sub))
}

/// A router without gateway with an interface on each subnet; waits until its ports are ACTIVE.
fn router(cloud: &Cloud, subnets: &[&Value]) -> String {
    let ids: Vec<String> = subnets.iter().map(|s| s["id"].as_str().unwrap().to_string()).collect();
    let r = cloud
        .api("tenant-a", move |c| async move {
            let r = c.create(Collection::Routers, obj(json!({"name": "r6"}))).await?;
            let rid = r.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            for s in ids {
                c.action(Collection::Routers, &rid, "add_router_interface", json!({"subnet_id": s})).await?;
            }
            Ok(r)
        })
        .expect("router");
    let rid = id(&r);
    router_ports_active(cloud, &rid);
    rid
}

fn router_ports(cloud: &Cloud, rid: &str) -> Vec<serde_json::Map<String, Value>> {
    let r = rid.to_string();
    cloud.api("admin", move |c| async move { c.list(Collection::Ports, &[("device_id", r.as_str())]).await }).unwrap()
}

fn router_ports_active(cloud: &Cloud, rid: &str) {
    let deadline = Instant::now() + WAIT;
    loop {
        let ports = router_ports(cloud, rid);
        if ports.iter().all(|p| p.get("status").and_then(Value::as_str) == Some("ACTIVE")) {
            return;
        }
        assert!(Instant::now() < deadline, "router ports not ACTIVE: {ports:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn interface(cloud: &Cloud, rid: &str, subnet: &Value, add: bool) {
    let (r, s) = (rid.to_string(), subnet["id"].as_str().unwrap().to_string());
    let action = if add { "add_router_interface" } else { "remove_router_interface" };
    cloud
        .api(
            "tenant-a",
            move |c| async move { c.action(Collection::Routers, &r, action, json!({"subnet_id": s})).await },
        )
        .expect(action);
}

fn v6(text: &str) -> Ipv6Addr {
    text.parse().unwrap()
}

/// The port's address on `subnet`, if it has one.
fn ip_on(port: &serde_json::Map<String, Value>, subnet: &Value) -> Option<Ipv6Addr> {
    let ips = port["fixed_ips"].as_array()?;
    ips.iter().find(|f| f["subnet_id"] == subnet["id"]).map(|ip| v6(ip["ip_address"].as_str().unwrap()))
}

/// The port's address on `subnet`.
fn fixed_ip(port: &serde_json::Map<String, Value>, subnet: &Value) -> Ipv6Addr {
    ip_on(port, subnet).unwrap_or_else(|| panic!("no address on {subnet}: {port:?}"))
}

/// The modified EUI-64 address of `mac` in a /64.
fn eui64(prefix: &str, mac: &str) -> Ipv6Addr {
    let m: Vec<u8> = mac.split(':').map(|b| u8::from_str_radix(b, 16).unwrap()).collect();
    let net = v6(prefix.split('/').next().unwrap()).segments();
    let iid = [
        (u16::from(m[0] ^ 2) << 8) | u16::from(m[1]),
        (u16::from(m[2]) << 8) | 0xff,
        0xfe00 | u16::from(m[3]),
        (u16::from(m[4]) << 8) | u16::from(m[5]),
    ];
    Ipv6Addr::new(net[0], net[1], net[2], net[3], iid[0], iid[1], iid[2], iid[3])
}

fn boot(cloud: &Cloud, host: &str, net: &str, name: &str) -> BootedVm {
    let vm = cloud.plug_vm("tenant-a", host, net, name, json!({})).expect("vm");
    vm.vm.accept_ra().expect("accept_ra");
    vm
}

/// radvd's pid on the network node, from its pid file; `None` without one or when it is dead.
fn radvd_pid(cloud: &Cloud, host: &str, rid: &str) -> Option<String> {
    let pid_file = cloud.ra_state_dir(host).join(rid).join("radvd.pid");
    let h = cloud.host(host).unwrap();
    let pid = h.exec_ok(["cat", &pid_file.display().to_string()]).ok()?.trim().to_string();
    let cmdline = h.exec_ok(["cat", &format!("/proc/{pid}/cmdline")]).unwrap_or_default();
    cmdline.contains("radvd").then_some(pid)
}

fn radvd_conf(cloud: &Cloud, host: &str, rid: &str) -> Option<String> {
    let conf = cloud.ra_state_dir(host).join(rid).join("radvd.conf");
    cloud.host(host).unwrap().exec_ok(["cat", &conf.display().to_string()]).ok()
}

fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "{what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn ipv6_slaac_guests_get_their_eui64_address_and_route_from_radvd() {
    let Some(mut cloud) = cloud_with("v6slaac", &["h1", "h2"], &RA_FLAGS) else { return };
    cloud.add_l3_host("net1", EXT_GATEWAY).unwrap();
    let (net_a, sub_a) = v6_network(&cloud, "a", "2001:db8:a::/64", "slaac", &["2001:db8::53"]);
    let (net_b, sub_b) = v6_network(&cloud, "b", "2001:db8:b::/64", "slaac", &[]);
    let rid = router(&cloud, &[&sub_a, &sub_b]);

    // The router's interfaces take the subnets' gateway addresses, as Neutron's do.
    let ports = router_ports(&cloud, &rid);
    for sub in [&sub_a, &sub_b] {
        let gw = v6(sub["gateway_ip"].as_str().unwrap());
        assert!(ports.iter().any(|p| ip_on(p, sub) == Some(gw)), "router interface on {gw}: {ports:?}");
    }

    let a = boot(&cloud, "h1", &net_a, "va");
    let b = boot(&cloud, "h2", &net_b, "vb");
    // The server gives a SLAAC port its EUI-64 address.
    for (vm, sub) in [(&a, &sub_a), (&b, &sub_b)] {
        let want = eui64(sub["cidr"].as_str().unwrap(), vm.vm.mac());
        assert_eq!(fixed_ip(&vm.port, sub), want, "EUI-64 fixed IP of {}", vm.vm.name());
    }

    // The advertisement as the guest receives it.
    let ra = a.vm.router_advert(WAIT).unwrap().expect("a router advertisement");
    assert!(!ra.managed && !ra.other, "{ra:?}");
    assert_eq!(ra.prefixes.len(), 1, "{ra:?}");
    assert_eq!(ra.prefixes[0].prefix, "2001:db8:a::/64");
    assert!(ra.prefixes[0].autonomous && ra.prefixes[0].on_link);
    assert_eq!(ra.mtu, Some(1450));
    assert_eq!(ra.dns, vec![v6("2001:db8::53")]);
    assert!(ra.routes.contains(&"fe80::a9fe:a9fe/128".to_string()), "{ra:?}");
    assert!(ra.lifetime > 0, "a default router: {ra:?}");

    // The guest's kernel configures itself from it: its port's address and default route.
    for (vm, sub) in [(&a, &sub_a), (&b, &sub_b)] {
        let addrs = vm.vm.slaac(WAIT).unwrap();
        assert!(addrs.contains(&fixed_ip(&vm.port, sub)), "{}: SLAAC {addrs:?}", vm.vm.name());
    }
    let route = wait_for("a default route from the advertisement", || a.vm.default_route6().unwrap());
    assert_eq!(route, ra.source.to_string());
    let gw_a = sub_a["gateway_ip"].as_str().unwrap();
    assert!(a.vm.ping(gw_a, 3, Duration::from_secs(5)).unwrap().received >= 2, "VM -> router");
    let ip_b = fixed_ip(&b.port, &sub_b).to_string();
    wait_for("VM -> VM on the other subnet", || {
        (a.vm.ping(&ip_b, 3, Duration::from_secs(3)).unwrap().received >= 2).then_some(())
    });

    // A pass where the advertisement does not change leaves radvd alone: an IPv4 interface
    // added makes the agent work on the router, not on radvd.
    let pid = radvd_pid(&cloud, "net1", &rid).expect("radvd runs");
    let conf = radvd_conf(&cloud, "net1", &rid).unwrap();
    let (_, sub4) = {
        let sub = cloud
            .api("tenant-a", |c| async move {
                let net = c.create(Collection::Networks, obj(json!({"name": "v4"}))).await?;
                c.create(
                    Collection::Subnets,
                    obj(
                        json!({"network_id": net["id"], "cidr": "10.66.0.0/24", "ip_version": 4, "enable_dhcp": false}),
                    ),
                )
                .await
            })
            .unwrap();
        ((), Value::Object(sub))
    };
    interface(&cloud, &rid, &sub4, true);
    router_ports_active(&cloud, &rid);
    assert_eq!(radvd_pid(&cloud, "net1", &rid), Some(pid.clone()), "radvd restarted by an unrelated change");
    assert_eq!(radvd_conf(&cloud, "net1", &rid).as_deref(), Some(conf.as_str()));

    // Removing the second IPv6 interface rewrites the configuration; radvd keeps running.
    interface(&cloud, &rid, &sub_b, false);
    wait_for("radvd.conf without subnet b", || {
        radvd_conf(&cloud, "net1", &rid).filter(|c| !c.contains("2001:db8:b::/64") && c.contains("2001:db8:a::/64"))
    });
    assert_eq!(radvd_pid(&cloud, "net1", &rid), Some(pid.clone()), "reloaded, not restarted");

    // Removing the last one stops radvd and removes its files.
    interface(&cloud, &rid, &sub_a, false);
    wait_for("radvd stopped", || radvd_pid(&cloud, "net1", &rid).is_none().then_some(()));
    wait_for("radvd files removed", || radvd_conf(&cloud, "net1", &rid).is_none().then_some(()));
    let h = cloud.host("net1").unwrap();
    assert!(h.exec_ok(["cat", &format!("/proc/{pid}/cmdline")]).unwrap_or_default().is_empty(), "pid {pid} gone");
}

#[test]
fn ipv6_dhcpv6_stateful_and_stateless_guests() {
    let Some(mut cloud) = cloud_with("v6dhcp", &["h1"], &RA_FLAGS) else { return };
    cloud.add_network_node("net1", EXT_GATEWAY).unwrap();
    let (net_s, sub_s) = v6_network(&cloud, "stateful", "2001:db8:c::/64", "dhcpv6-stateful", &["2001:db8::53"]);
    let (net_l, sub_l) = v6_network(&cloud, "stateless", "2001:db8:d::/64", "dhcpv6-stateless", &["2001:db8::54"]);
    router(&cloud, &[&sub_s, &sub_l]);
    for net in [&net_s, &net_l] {
        dhcp_port_active(&cloud, net);
    }

    // Stateful: the M flag, a prefix not to autoconfigure in, and the address from dnsmasq.
    let s = boot(&cloud, "h1", &net_s, "vs");
    let ra = s.vm.router_advert(WAIT).unwrap().expect("a router advertisement");
    assert!(ra.managed && !ra.other, "{ra:?}");
    assert_eq!(ra.prefixes.len(), 1, "{ra:?}");
    assert!(!ra.prefixes[0].autonomous, "{ra:?}");
    assert!(ra.dns.is_empty(), "RDNSS only for SLAAC subnets: {ra:?}");
    let want = fixed_ip(&s.port, &sub_s);
    let lease = wait_for("a DHCPv6 lease", || s.vm.dhcp6(Duration::from_secs(10)).unwrap());
    assert_eq!(lease.addresses, vec![want], "{lease:?}");
    assert!(lease.dns.contains(&v6("2001:db8::53")), "{lease:?}");
    wait_for("the leased address on eth0", || s.vm.global_addrs6().unwrap().contains(&want).then_some(()));
    let gw_s = sub_s["gateway_ip"].as_str().unwrap();
    wait_for("stateful VM -> router", || {
        (s.vm.ping(gw_s, 3, Duration::from_secs(3)).unwrap().received >= 2).then_some(())
    });

    // Stateless: the O flag, SLAAC for the address, DHCPv6 for DNS.
    let l = boot(&cloud, "h1", &net_l, "vl");
    let ra = l.vm.router_advert(WAIT).unwrap().expect("a router advertisement");
    assert!(!ra.managed && ra.other, "{ra:?}");
    assert!(ra.prefixes.iter().all(|p| p.autonomous), "{ra:?}");
    let addrs = l.vm.slaac(WAIT).unwrap();
    assert!(addrs.contains(&fixed_ip(&l.port, &sub_l)), "SLAAC {addrs:?}");
    let info = wait_for("a DHCPv6 information reply", || l.vm.dhcp6_info(Duration::from_secs(10)).unwrap());
    assert!(info.addresses.is_empty(), "{info:?}");
    assert_eq!(info.dns, vec![v6("2001:db8::54")], "{info:?}");
}

/// Waits until the network's DHCP port is ACTIVE (dnsmasq serves it).
fn dhcp_port_active(cloud: &Cloud, net: &str) {
    wait_for("an ACTIVE DHCP port", || {
        let n = net.to_string();
        let ports = cloud
            .api("admin", move |c| async move {
                c.list(Collection::Ports, &[("network_id", n.as_str()), ("device_owner", "network:dhcp")]).await
            })
            .unwrap();
        ports.iter().any(|p| p.get("status").and_then(Value::as_str) == Some("ACTIVE")).then_some(())
    })
}
