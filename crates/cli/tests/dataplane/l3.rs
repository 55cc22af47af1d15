//! Routers and security groups with real packets: SNAT to the outside, floating IPs from
//! the outside, routing between a router's subnets, stateful per-port firewalls and
//! anti-spoofing at the tap.

use crate::cloud;
use neutrino_client::Collection;
use neutrino_testbed::cloud::{BootedVm, Cloud};
use neutrino_testbed::Process;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const EXT_GATEWAY: &str = "203.0.113.1";
const WAIT: Duration = Duration::from_secs(5);

pub(crate) fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

pub(crate) fn id(v: &serde_json::Map<String, Value>) -> String {
    v.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The external network (flat on physnet `external`, 203.0.113.0/24, no DHCP).
pub(crate) fn external_network(cloud: &Cloud) -> String {
    let net = cloud
        .api("admin", |c| async move {
            let net = c
                .create(
                    Collection::Networks,
                    obj(json!({"name": "public", "router:external": true, "provider:network_type": "flat",
                               "provider:physical_network": "external"})),
                )
                .await?;
            c.create(
                Collection::Subnets,
                obj(json!({"network_id": net["id"], "cidr": "203.0.113.0/24", "ip_version": 4, "enable_dhcp": false,
                           "gateway_ip": EXT_GATEWAY,
                           "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.200"}]})),
            )
            .await?;
            Ok(net)
        })
        .expect("external network");
    id(&net)
}

/// A tenant network with one subnet without DHCP (VMs are addressed statically).
pub(crate) fn tenant_network(cloud: &Cloud, project: &str, name: &str, cidr: &str) -> (String, String) {
    let (name, cidr) = (name.to_string(), cidr.to_string());
    let (net, sub) = cloud
        .api(project, move |c| async move {
            let net = c.create(Collection::Networks, obj(json!({"name": name}))).await?;
            let sub = c
                .create(
                    Collection::Subnets,
                    obj(json!({"network_id": net["id"], "cidr": cidr, "ip_version": 4, "enable_dhcp": false})),
                )
                .await?;
            Ok((net, sub))
        })
        .expect("tenant network");
    (id(&net), id(&sub))
}

pub(crate) fn router(cloud: &Cloud, project: &str, ext: &str, subnets: &[&str]) -> String {
    let ext = ext.to_string();
    let subnets: Vec<String> = subnets.iter().map(|s| s.to_string()).collect();
    let r = cloud
        .api(project, move |c| async move {
            let r = c
                .create(Collection::Routers, obj(json!({"name": "r1", "external_gateway_info": {"network_id": ext}})))
                .await?;
            let rid = r.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            for s in subnets {
                c.action(Collection::Routers, &rid, "add_router_interface", json!({"subnet_id": s})).await?;
            }
            Ok(r)
        })
        .expect("router");
    let rid = id(&r);
    // Served when every router port is ACTIVE on the network node.
    ports_active(cloud, &rid, Duration::from_secs(20));
    rid
}

/// Waits until every port of router `rid` is ACTIVE, at most `within`; how long it took.
fn ports_active(cloud: &Cloud, rid: &str, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let r2 = rid.to_string();
        let ports = cloud
            .api("admin", move |c| async move { c.list(Collection::Ports, &[("device_id", r2.as_str())]).await })
            .expect("ports");
        if !ports.is_empty() && ports.iter().all(|p| p.get("status").and_then(Value::as_str) == Some("ACTIVE")) {
            return started.elapsed();
        }
        assert!(started.elapsed() < within, "router ports not ACTIVE within {within:?}: {ports:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A floating IP on `ext` for `port_id`.
pub(crate) fn floating_ip(cloud: &Cloud, project: &str, ext: &str, port_id: &str) -> serde_json::Map<String, Value> {
    let (e, port) = (ext.to_string(), port_id.to_string());
    cloud
        .api(project, move |c| async move {
            c.create(Collection::FloatingIps, obj(json!({"floating_network_id": e, "port_id": port}))).await
        })
        .expect("floating IP")
}

pub(crate) fn boot(cloud: &Cloud, project: &str, host: &str, net: &str, name: &str, gateway: &str) -> BootedVm {
    let vm = cloud.boot_vm(project, host, net, name).expect("vm");
    vm.vm.set_gateway(gateway).expect("default route");
    vm
}

/// Opens rules so the test's probes are what decides reachability: ICMP and TCP in.
fn allow_in(cloud: &Cloud, project: &str, protocol: &str, port: Option<u32>) -> String {
    let project_id = project.to_string();
    let protocol = protocol.to_string();
    let rule = cloud
        .api(project, move |c| async move {
            let groups =
                c.list(Collection::SecurityGroups, &[("name", "default"), ("project_id", project_id.as_str())]).await?;
            let gid = groups.first().and_then(|g| g.get("id")).cloned().unwrap_or(Value::Null);
            let mut body = json!({"security_group_id": gid, "direction": "ingress", "ethertype": "IPv4",
                                  "protocol": protocol, "remote_ip_prefix": "0.0.0.0/0"});
            if let Some(p) = port {
                body["port_range_min"] = json!(p);
                body["port_range_max"] = json!(p);
            }
            c.create(Collection::SecurityGroupRules, obj(body)).await
        })
        .expect("rule");
    id(&rule)
}

/// A TCP listener in a namespace answering every connection with `hello` (python3).
fn listen(cloud: &Cloud, netns: &str, ip: &str, port: u16) -> Process {
    let script = format!(
        "import socket,sys\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{ip}',{port}));s.listen(16)\nwhile True:\n c,a=s.accept();print('peer',a[0],flush=True);\
         c.sendall(b'hello\\n');c.close()\n"
    );
    let p = cloud.tb.spawn_in(netns, "python3", ["-c", script.as_str()], &[], None).expect("listener");
    std::thread::sleep(Duration::from_millis(300));
    p
}

/// Connects from a VM (or any namespace) with bash's /dev/tcp; true when `hello` came back.
fn connects(cloud: &Cloud, netns: &str, ip: &str, port: u16) -> bool {
    let cmd = format!("timeout 3 bash -c 'exec 3<>/dev/tcp/{ip}/{port}; head -c5 <&3'");
    cloud
        .tb
        .exec_in(netns, ["bash", "-c", cmd.as_str()])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("hello"))
        .unwrap_or(false)
}

#[test]
fn snat_floating_ips_and_routing_between_subnets() {
    let Some(mut cloud) = cloud("l3", &["h1"]) else { return };
    cloud.add_l3_host("net1", &format!("{EXT_GATEWAY}/24")).unwrap();
    let ext_ns = cloud.tb.netns_name("ext");
    let ext = external_network(&cloud);
    let (net_a, sub_a) = tenant_network(&cloud, "tenant-a", "a", "10.60.0.0/24");
    let (net_b, sub_b) = tenant_network(&cloud, "tenant-a", "b", "10.61.0.0/24");
    let (net_c, _) = tenant_network(&cloud, "tenant-a", "c", "10.62.0.0/24");
    let rid = router(&cloud, "tenant-a", &ext, &[&sub_a, &sub_b]);
    allow_in(&cloud, "tenant-a", "icmp", None);
    allow_in(&cloud, "tenant-a", "tcp", Some(8080));
    let a = boot(&cloud, "tenant-a", "h1", &net_a, "va", "10.60.0.1");
    let b = boot(&cloud, "tenant-a", "h1", &net_b, "vb", "10.61.0.1");
    let c = boot(&cloud, "tenant-a", "h1", &net_c, "vc", "10.62.0.1");

    // SNAT: the outside sees the router's gateway address.
    let r2 = rid.clone();
    let gw_port = cloud
        .api("admin", move |c| async move {
            c.list(Collection::Ports, &[("device_id", r2.as_str()), ("device_owner", "network:router_gateway")]).await
        })
        .unwrap();
    let gw_ip = gw_port[0]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
    let server = listen(&cloud, &ext_ns, EXT_GATEWAY, 8000);
    assert!(a.vm.ping(EXT_GATEWAY, 3, WAIT).unwrap().received >= 2, "VM -> outside through SNAT");
    assert!(connects(&cloud, a.vm.netns(), EXT_GATEWAY, 8000), "TCP to the outside");
    assert!(server.read_log().contains(&format!("peer {gw_ip}")), "seen as the gateway: {}", server.read_log());

    // Two subnets on one router reach each other with their own addresses; a subnet not on
    // the router does not.
    assert!(a.vm.ping(b.ip(), 3, WAIT).unwrap().received >= 2, "routed between subnets");
    let vm_listener = listen(&cloud, b.vm.netns(), b.ip(), 8080);
    assert!(connects(&cloud, a.vm.netns(), b.ip(), 8080));
    assert!(vm_listener.read_log().contains(&format!("peer {}", a.ip())), "no NAT between subnets");
    assert_eq!(a.vm.ping(c.ip(), 2, Duration::from_secs(2)).unwrap().received, 0, "subnet off the router");

    // A floating IP: the outside reaches the VM, and the VM's traffic leaves as the FIP.
    let fip = floating_ip(&cloud, "tenant-a", &ext, a.port_id());
    let fip_ip = fip["floating_ip_address"].as_str().unwrap().to_string();
    // The floating IP turns ACTIVE when the network node has its NAT in place.
    let fid = id(&fip);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = fid.clone();
        let now = cloud.api("tenant-a", move |c| async move { c.show(Collection::FloatingIps, &f).await }).unwrap();
        if now["status"] == "ACTIVE" {
            break;
        }
        assert!(Instant::now() < deadline, "floating IP not ACTIVE: {now:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let a_listener = listen(&cloud, a.vm.netns(), a.ip(), 8080);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !connects(&cloud, &ext_ns, &fip_ip, 8080) {
        assert!(Instant::now() < deadline, "outside -> FIP {fip_ip}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(a_listener.read_log().contains(&format!("peer {EXT_GATEWAY}")));
    assert!(connects(&cloud, a.vm.netns(), EXT_GATEWAY, 8000));
    assert!(server.read_log().contains(&format!("peer {fip_ip}")), "VM leaves as its FIP: {}", server.read_log());

    // Disassociated: the outside no longer reaches it.
    let fid = id(&fip);
    cloud
        .api("tenant-a", move |c| async move {
            c.update(Collection::FloatingIps, &fid, obj(json!({"port_id": null}))).await
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while connects(&cloud, &ext_ns, &fip_ip, 8080) {
        assert!(Instant::now() < deadline, "FIP still answers after disassociation");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn security_groups_and_anti_spoofing() {
    let Some(cloud) = cloud("sg", &["h1", "h2"]) else { return };
    let (net, _) = tenant_network(&cloud, "tenant-a", "a", "10.70.0.0/24");
    let a = boot(&cloud, "tenant-a", "h1", &net, "va", "10.70.0.1");
    let b = boot(&cloud, "tenant-a", "h2", &net, "vb", "10.70.0.1");
    // An admin's port on the same network, in the admin project's default group: an outsider.
    let o = boot(&cloud, "admin", "h2", &net, "vo", "10.70.0.1");

    // Default group: members talk, others cannot reach them.
    assert!(a.vm.ping(b.ip(), 3, WAIT).unwrap().received >= 2, "same default group");
    assert_eq!(o.vm.ping(a.ip(), 2, Duration::from_secs(2)).unwrap().received, 0, "outsider reaches a member");

    // A tcp/22 rule opens exactly that port, within a second.
    let _l22 = listen(&cloud, a.vm.netns(), a.ip(), 22);
    let _l23 = listen(&cloud, a.vm.netns(), a.ip(), 23);
    assert!(!connects(&cloud, o.vm.netns(), a.ip(), 22));
    let rule = allow_in(&cloud, "tenant-a", "tcp", Some(22));
    let opened = Instant::now();
    while !connects(&cloud, o.vm.netns(), a.ip(), 22) {
        assert!(opened.elapsed() < Duration::from_secs(3), "tcp/22 not open");
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = opened.elapsed();
    assert!(took < Duration::from_secs(1) + Duration::from_millis(500), "rule applied in {took:?}");
    assert!(!connects(&cloud, o.vm.netns(), a.ip(), 23), "only port 22 opened");
    // Removed: new connections are refused again.
    let r = rule.clone();
    cloud.api("tenant-a", move |c| async move { c.delete(Collection::SecurityGroupRules, &r).await }).unwrap();
    let closed = Instant::now();
    while connects(&cloud, o.vm.netns(), a.ip(), 22) {
        assert!(closed.elapsed() < Duration::from_secs(3), "tcp/22 still open");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Spoofing: another source address, or another MAC, is dropped at the tap.
    a.vm.exec_ok(["ip", "addr", "add", "10.70.0.99/24", "dev", "eth0"]).unwrap();
    let spoofed = a.vm.exec(["ping", "-c", "2", "-W", "1", "-I", "10.70.0.99", b.ip()]).unwrap();
    assert!(!spoofed.status.success(), "spoofed source IP got through");
    // Allowed address pairs let exactly the listed address through.
    let port = a.port_id().to_string();
    cloud
        .api("tenant-a", move |c| async move {
            c.update(Collection::Ports, &port, obj(json!({"allowed_address_pairs": [{"ip_address": "10.70.0.99"}]})))
                .await
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let ok = a.vm.exec(["ping", "-c", "1", "-W", "1", "-I", "10.70.0.99", b.ip()]).unwrap();
        if ok.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "the allowed pair is still dropped");
    }
    a.vm.exec_ok(["ip", "addr", "add", "10.70.0.98/24", "dev", "eth0"]).unwrap();
    let other = a.vm.exec(["ping", "-c", "2", "-W", "1", "-I", "10.70.0.98", b.ip()]).unwrap();
    assert!(!other.status.success(), "an address not in the pairs got through");
    a.vm.exec_ok(["ip", "link", "set", "eth0", "address", "fa:16:3e:66:66:66"]).unwrap();
    let mac = a.vm.exec(["ping", "-c", "2", "-W", "1", b.ip()]).unwrap();
    assert!(!mac.status.success(), "spoofed MAC got through");
}

#[test]
fn agent_restart_keeps_sessions_and_filters() {
    let Some(mut cloud) = cloud("sgrestart", &["h1", "h2"]) else { return };
    let (net, _) = tenant_network(&cloud, "tenant-a", "a", "10.71.0.0/24");
    let a = boot(&cloud, "tenant-a", "h1", &net, "va", "10.71.0.1");
    let b = boot(&cloud, "tenant-a", "h2", &net, "vb", "10.71.0.1");
    let o = boot(&cloud, "admin", "h2", &net, "vo", "10.71.0.1");
    allow_in(&cloud, "tenant-a", "tcp", Some(22));

    // An echo server in A; B keeps one TCP session busy, a line every 100 ms for 8 s.
    let echo = format!(
        "import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n\
         s.bind(('{}',22));s.listen(4)\nwhile True:\n c,_=s.accept()\n while True:\n  d=c.recv(64)\n  \
         if not d: break\n  c.sendall(d)\n",
        a.ip()
    );
    let _server = cloud.tb.spawn_in(a.vm.netns(), "python3", ["-c", echo.as_str()], &[], None).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let client = format!(
        "import socket,time\nc=socket.create_connection(('{}',22),timeout=2)\nn=0\n\
         try:\n for i in range(80):\n  c.sendall(b'x'*8);d=c.recv(8)\n  n+=len(d)==8\n  time.sleep(0.1)\n  \
         print('ok',n,flush=True)\nexcept Exception as e:\n print('broken',e,flush=True)\n",
        a.ip()
    );
    let session = cloud.tb.spawn_in(b.vm.netns(), "python3", ["-c", client.as_str()], &[], None).unwrap();
    // The outsider pings A all along: ICMP from outside the group is not allowed.
    let probe = o.vm.ping_stream(a.ip(), 100).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    cloud.restart_agent("h1").unwrap();
    cloud.wait_agent_alive("h1", Duration::from_secs(10)).unwrap();
    session.wait_timeout(Duration::from_secs(15)).unwrap();
    let stats = probe.stop().unwrap();
    let log = session.read_log();
    assert!(log.contains("ok 80"), "the established session did not survive the restart: {log}");
    assert!(stats.sent >= 50, "{stats:?}");
    assert_eq!(stats.received, 0, "a disallowed probe got through during the restart: {stats:?}");
}

/// Tempest creates its routers with `admin_state_up=false` and waits for an interface to be
/// ACTIVE before it removes it. A disabled router's ports are plugged and ACTIVE within a
/// second on an idle agent, but the router answers nothing until it is enabled. (Its
/// namespace used to be deleted, so its interfaces stayed DOWN for as long as it existed.)
#[test]
fn a_disabled_routers_interfaces_are_active_and_inert() {
    let Some(mut cloud) = cloud("l3-off", &["h1"]) else { return };
    cloud.add_l3_host("net1", &format!("{EXT_GATEWAY}/24")).unwrap();
    let (net, sub) = tenant_network(&cloud, "tenant-a", "a", "10.70.0.0/24");
    allow_in(&cloud, "tenant-a", "icmp", None);
    let vm = boot(&cloud, "tenant-a", "h1", &net, "va", "10.70.0.1");
    let r = cloud
        .api("tenant-a", move |c| async move {
            let r = c.create(Collection::Routers, obj(json!({"name": "off", "admin_state_up": false}))).await?;
            let rid = r.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            c.action(Collection::Routers, &rid, "add_router_interface", json!({"subnet_id": sub})).await?;
            Ok(r)
        })
        .expect("disabled router");
    let rid = id(&r);
    let took = ports_active(&cloud, &rid, Duration::from_secs(1));
    eprintln!("disabled router's interface ACTIVE after {took:?}");
    assert_eq!(vm.vm.ping("10.70.0.1", 2, Duration::from_secs(2)).unwrap().received, 0, "a disabled router answers");

    let r2 = rid.clone();
    cloud
        .api("tenant-a", move |c| async move {
            c.update(Collection::Routers, &r2, obj(json!({"admin_state_up": true}))).await
        })
        .expect("enable the router");
    assert!(vm.vm.ping("10.70.0.1", 3, WAIT).unwrap().received >= 2, "an enabled router answers");
}
