//! Metadata from a router's namespace and on fe80::a9fe:a9fe: VMs without DHCP behind a
//! router ask 169.254.169.254 (the router redirects to its proxy), IPv6 VMs ask
//! fe80::a9fe:a9fe in the DHCP namespace and through the router, all in front of a stand-in
//! Nova that checks the signature.

use crate::l3::{boot, external_network, id, obj, router, tenant_network};
use neutrino_client::Collection;
use neutrino_testbed::cloud::{BootedVm, Cloud, FakeNova};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const SECRET: &str = "router-metadata-secret";
const EXT_GATEWAY: &str = "203.0.113.1";
const INSTANCE_ID: &str = "latest/meta-data/instance-id";

/// A cloud named `name`, or `None` (the reason printed) when this machine cannot run the
/// test: no testbed, or no curl for the VMs (under CI that fails instead).
fn metadata_cloud(name: &str) -> Option<Cloud> {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "the metadata tests cannot run under CI: curl is not installed");
        eprintln!("skipped: curl is not installed");
        return None;
    }
    crate::cloud(name, &[])
}

/// `curl` from a VM: (HTTP status, body), or `None` when no answer came.
fn fetch(vm: &BootedVm, url: &str, extra: &[&str]) -> Option<(u16, String)> {
    let mut argv = vec!["curl", "-s", "-g", "-m", "5", "-w", "\n%{http_code}"];
    argv.extend_from_slice(extra);
    argv.push(url);
    let out = vm.vm.exec(argv).ok()?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n')?;
    let code: u16 = code.trim().parse().ok()?;
    (code != 0).then(|| (code, body.to_string()))
}

/// Retries `fetch` for a while: the router's rules and listener come with the next pass.
fn fetch_eventually(vm: &BootedVm, url: &str) -> Option<(u16, String)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = fetch(vm, url, &[]);
        if got.as_ref().is_some_and(|(code, _)| *code == 200) || Instant::now() > deadline {
            return got;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn device_id(vm: &BootedVm) -> String {
    vm.port["device_id"].as_str().unwrap_or_default().to_string()
}

/// The EUI-64 link-local address of `mac`, as the kernel makes it.
fn link_local(mac: &str) -> String {
    let b: Vec<u8> = mac.split(':').map(|x| u8::from_str_radix(x, 16).unwrap()).collect();
    format!(
        "fe80::{:x}:{:x}:{:x}:{:x}",
        u16::from(b[0] ^ 2) << 8 | u16::from(b[1]),
        u16::from(b[2]) << 8 | 0xff,
        0xfe00 | u16::from(b[3]),
        u16::from(b[4]) << 8 | u16::from(b[5])
    )
}

/// The router's port on `network`: (MAC, first fixed IP).
fn router_port(cloud: &Cloud, rid: &str, network: &str) -> (String, String) {
    let (r, n) = (rid.to_string(), network.to_string());
    let ports = cloud
        .api("admin", move |c| async move {
            c.list(Collection::Ports, &[("device_id", r.as_str()), ("network_id", n.as_str())]).await
        })
        .expect("router ports");
    let p = ports.first().expect("router port on the network");
    let mac = p["mac_address"].as_str().unwrap_or_default().to_string();
    (mac, p["fixed_ips"][0]["ip_address"].as_str().unwrap_or_default().to_string())
}

/// A network of `project` with one IPv6 subnet (`extra` subnet attributes); its id and the
/// subnet's.
fn ipv6_network(cloud: &Cloud, project: &str, name: &str, cidr: &str, extra: Value) -> (String, String) {
    let (name, cidr) = (name.to_string(), cidr.to_string());
    let (net, sub) = cloud
        .api(project, move |c| async move {
            let net = c.create(Collection::Networks, obj(json!({"name": name}))).await?;
            let mut body = json!({"network_id": net["id"], "cidr": cidr, "ip_version": 6});
            if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
                b.extend(e.clone());
            }
            let sub = c.create(Collection::Subnets, obj(body)).await?;
            Ok((net, sub))
        })
        .expect("IPv6 network");
    (id(&net), id(&sub))
}

/// Waits until the VM's link-local address is usable (DAD done).
fn link_local_ready(vm: &BootedVm) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = vm.vm.exec_ok(["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"]).unwrap_or_default();
        if out.contains("fe80::") && !out.contains("tentative") {
            return;
        }
        assert!(Instant::now() < deadline, "no usable link-local address on {}: {out}", vm.vm.name());
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn metadata_through_the_router_for_vms_without_dhcp() {
    let Some(mut cloud) = metadata_cloud("rmeta") else { return };
    let nova = FakeNova::start(&cloud, SECRET).unwrap();
    cloud.set_metadata(&nova.url, SECRET);
    cloud.add_l3_host("net1", &format!("{EXT_GATEWAY}/24")).unwrap();
    cloud.add_host("c1").unwrap();
    let ext = external_network(&cloud);
    let (net_a, sub_a) = tenant_network(&cloud, "tenant-a", "a", "10.82.0.0/24");
    let (net_b, sub_b) = tenant_network(&cloud, "tenant-a", "b", "10.83.0.0/24");
    let rid = router(&cloud, "tenant-a", &ext, &[&sub_a, &sub_b]);
    let a1 = boot(&cloud, "tenant-a", "c1", &net_a, "a1", "10.82.0.1");
    let a2 = boot(&cloud, "tenant-a", "c1", &net_a, "a2", "10.82.0.1");
    let b1 = boot(&cloud, "tenant-a", "c1", &net_b, "b1", "10.83.0.1");

    // (a) No DHCP anywhere: the router answers 169.254.169.254, each VM as itself.
    let started = Instant::now();
    let url = format!("http://169.254.169.254/{INSTANCE_ID}");
    assert_eq!(fetch_eventually(&a1, &url), Some((200, device_id(&a1))), "a1 through the router");
    eprintln!("router metadata served after {:?}", started.elapsed());
    assert_eq!(fetch(&b1, &url, &[]), Some((200, device_id(&b1))), "b1, on the router's other subnet");
    assert_eq!(fetch(&a2, &url, &[]), Some((200, device_id(&a2))));
    let requests = nova.requests.lock().unwrap().clone();
    let first = requests.iter().find(|r| r.get("x-forwarded-for").map(String::as_str) == Some(a1.ip())).expect("a1");
    assert_eq!(first.get("x-instance-id"), Some(&device_id(&a1)));
    assert!(first.contains_key("x-instance-id-signature"), "signed (the stand-in Nova checked it)");
    assert_eq!(first.get("x-tenant-id").map(String::as_str), Some("tenant-a"));
    // Neutron's metadata agent sends Nova neither X-Neutron-Router-ID nor -Network-ID.
    assert!(requests.iter().all(|r| !r.contains_key("x-neutron-router-id") && !r.contains_key("x-neutron-network-id")));

    // (b) Another VM's address: anti-spoofing drops it at a1's tap, no answer at all.
    a1.vm.exec_ok(["ip", "addr", "add", &format!("{}/32", a2.ip()), "dev", "eth0"]).unwrap();
    assert_eq!(fetch(&a1, &url, &["--interface", a2.ip()]), None, "a1 posing as a2 got an answer");
    // A VM claiming an address no port of the router's networks has (its port filters
    // nothing) is answered 404 by the router.
    let open = json!({"port_security_enabled": false});
    let stray = cloud.boot_vm_with("tenant-a", "c1", &net_a, "stray", open).unwrap();
    stray.vm.exec_ok(["ip", "addr", "flush", "dev", "eth0"]).unwrap();
    stray.vm.set_addr("10.82.0.250/24").unwrap();
    stray.vm.set_gateway("10.82.0.1").unwrap();
    let (code, body) = fetch(&stray, &url, &[]).expect("an answer for an unknown address");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains(&format!("Instance was not found on router {rid}.")), "{body}");
    // The proxy's own port: not from a VM directly, not from the external network.
    let port_url = |ip: &str| format!("http://{ip}:9697/{INSTANCE_ID}");
    assert_eq!(fetch(&a1, &port_url("10.82.0.1"), &[]), None, "the proxy port asked directly");
    let gw = router_port(&cloud, &rid, &ext).1;
    let ext_ns = cloud.tb.netns_name("ext");
    let from_outside = cloud
        .tb
        .exec_in(&ext_ns, ["curl", "-s", "-m", "3", "-o", "/dev/null", "-w", "%{http_code}", &port_url(&gw)])
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&from_outside.stdout).trim(), "000", "reached from the external network");
    let listening = cloud
        .host("net1")
        .unwrap()
        .exec_ok(["ip", "netns", "exec", &format!("qrouter-{rid}"), "ss", "-Hltn", "sport = :9697"])
        .unwrap();
    assert!(listening.contains("9697"), "the proxy listens in the router's namespace: {listening:?}");
}

#[test]
fn metadata_over_ipv6_link_local_from_dhcp_and_router() {
    let Some(mut cloud) = metadata_cloud("rmeta6") else { return };
    let nova = FakeNova::start(&cloud, SECRET).unwrap();
    cloud.set_metadata(&nova.url, SECRET);
    cloud.add_network_node("net1", &format!("{EXT_GATEWAY}/24")).unwrap();
    cloud.add_host("c1").unwrap();
    let url = format!("http://[fe80::a9fe:a9fe%eth0]/{INSTANCE_ID}");

    // The DHCP namespace: an IPv6-only network with DHCPv6, its DHCP port holds
    // fe80::a9fe:a9fe (nodad) and the proxy listens there on the ns- device.
    let (net6, _) =
        ipv6_network(&cloud, "tenant-a", "v6", "2001:db8:82::/64", json!({"ipv6_address_mode": "dhcpv6-stateful"}));
    let v = cloud.plug_vm("tenant-a", "c1", &net6, "v6vm", json!({})).unwrap();
    link_local_ready(&v);
    let started = Instant::now();
    assert_eq!(fetch_eventually(&v, &url), Some((200, device_id(&v))), "fe80::a9fe:a9fe in the DHCP namespace");
    eprintln!("IPv6 DHCP-namespace metadata served after {:?}", started.elapsed());
    let ll = link_local(v.vm.mac());
    let last = nova.requests.lock().unwrap().last().cloned().expect("nova asked");
    // Known by the MAC in its link-local source, as Neutron does.
    assert_eq!(last.get("x-forwarded-for"), Some(&ll));
    assert_eq!(last.get("x-instance-id"), Some(&device_id(&v)));

    // Through the router: a SLAAC subnet on a router (no DHCP address to give). radvd announces the
    // route to fe80::a9fe:a9fe/128 via the router (a route information option, which Linux
    // takes with accept_ra_rt_info_max_plen = 128).
    let ext = external_network(&cloud);
    let slaac = json!({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"});
    let (net_r, sub_r) = ipv6_network(&cloud, "tenant-a", "r6", "2001:db8:83::/64", slaac);
    let rid = router(&cloud, "tenant-a", &ext, &[&sub_r]);
    let r = cloud.plug_vm("tenant-a", "c1", &net_r, "r6vm", json!({})).unwrap();
    r.vm.accept_ra().unwrap();
    r.vm.exec_ok(["sh", "-c", "echo 128 > /proc/sys/net/ipv6/conf/eth0/accept_ra_rt_info_max_plen"]).unwrap();
    link_local_ready(&r);
    let (router_mac, _) = router_port(&cloud, &rid, &net_r);
    let via = link_local(&router_mac);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        // A solicitation makes radvd answer now rather than at its next periodic advertisement.
        let _ = r.vm.router_advert(Duration::from_secs(2));
        let route = r.vm.exec_ok(["ip", "-6", "route", "show", "fe80::a9fe:a9fe/128"]).unwrap();
        if route.contains(&format!("via {via}")) {
            break;
        }
        assert!(Instant::now() < deadline, "no route to fe80::a9fe:a9fe from the RA: {route:?}");
    }
    assert_eq!(fetch_eventually(&r, &url), Some((200, device_id(&r))), "fe80::a9fe:a9fe through router {rid}");
    let last = nova.requests.lock().unwrap().last().cloned().expect("nova asked");
    assert_eq!(last.get("x-forwarded-for"), Some(&link_local(r.vm.mac())));
    assert_eq!(last.get("x-instance-id"), Some(&device_id(&r)));
}
