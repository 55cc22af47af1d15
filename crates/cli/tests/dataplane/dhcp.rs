//! DHCP and metadata: guests with a real DHCP client, dnsmasq in `qdhcp-` namespaces on a
//! DHCP host, the metadata proxy in front of a stand-in Nova.

use crate::cloud;
use neutrino_client::Collection;
use neutrino_testbed::cloud::{Cloud, FakeNova};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const LEASE_WAIT: Duration = Duration::from_secs(8);
const SECRET: &str = "metadata-shared-secret";

fn id(v: &serde_json::Map<String, Value>) -> String {
    v.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

/// A network with one DHCP subnet, and its DHCP port ACTIVE (served).
fn served_network(cloud: &Cloud, project: &str, cidr: &str, dns: &str) -> (String, String) {
    let (p, c, d) = (project.to_string(), cidr.to_string(), dns.to_string());
    let net = cloud
        .api(project, move |c2| async move {
            let net = c2.create(Collection::Networks, obj(json!({"name": format!("{p}-net")}))).await?;
            let gw_route = c.replace("0/24", "254");
            c2.create(
                Collection::Subnets,
                obj(json!({"network_id": net["id"], "cidr": c, "ip_version": 4, "dns_nameservers": [d],
                           "host_routes": [{"destination": "10.99.0.0/16", "nexthop": gw_route}]})),
            )
            .await?;
            Ok(net)
        })
        .expect("network");
    let net_id = id(&net);
    let ip = served_dhcp_port(cloud, &net_id);
    (net_id, ip)
}

/// Waits until the network's DHCP port is ACTIVE (served); its first address.
pub(crate) fn served_dhcp_port(cloud: &Cloud, net_id: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = net_id.to_string();
        let ports = cloud
            .api("admin", move |c| async move {
                c.list(Collection::Ports, &[("network_id", n.as_str()), ("device_owner", "network:dhcp")]).await
            })
            .expect("ports");
        if let Some(p) = ports.iter().find(|p| p.get("status").and_then(Value::as_str) == Some("ACTIVE")) {
            return p["fixed_ips"][0]["ip_address"].as_str().unwrap_or_default().to_string();
        }
        assert!(Instant::now() < deadline, "no ACTIVE DHCP port on {net_id}: {ports:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn obj(v: Value) -> serde_json::Map<String, Value> {
    v.as_object().cloned().unwrap_or_default()
}

fn dnsmasq_pid(cloud: &Cloud, host: &str, net: &str) -> String {
    let pids = cloud.host(host).unwrap().exec_ok(["ip", "netns", "pids", &format!("qdhcp-{net}")]).unwrap_or_default();
    pids.split_whitespace().next().unwrap_or_default().to_string()
}

#[test]
fn guests_get_their_port_config_and_updates_without_restart() {
    let Some(mut cloud) = cloud("dhcp", &[]) else { return };
    cloud.add_dhcp_host("h1").unwrap();
    cloud.add_host("h2").unwrap();
    let (net, dhcp_ip) = served_network(&cloud, "tenant-a", "10.20.0.0/24", "10.20.0.53");

    let vm1 = cloud.plug_vm("tenant-a", "h1", &net, "vm1", json!({})).unwrap();
    let vm2 = cloud.plug_vm("tenant-a", "h2", &net, "vm2", json!({})).unwrap();
    for vm in [&vm1, &vm2] {
        let lease = vm.vm.dhcp(LEASE_WAIT).unwrap().unwrap_or_else(|| panic!("no lease for {}", vm.vm.name()));
        assert_eq!(lease.ip, vm.ip(), "the port's address");
        assert_eq!(lease.mask.as_deref(), Some("24"));
        assert_eq!(lease.router.as_deref(), Some("10.20.0.1"));
        assert_eq!(lease.dns, vec!["10.20.0.53".to_string()]);
        assert_eq!(lease.mtu, Some(1450), "option 26: the VXLAN network's MTU");
        assert_eq!(lease.server_id.as_deref(), Some(dhcp_ip.as_str()));
        let routes = lease.static_routes.clone().unwrap_or_default();
        assert!(routes.contains("10.99.0.0/16 10.20.0.254"), "host route as option 121: {routes}");
        assert!(routes.contains(&format!("169.254.169.254/32 {dhcp_ip}")), "metadata route: {routes}");
        assert!(routes.contains("0.0.0.0/0 10.20.0.1"), "default route kept with 121: {routes}");
    }
    assert!(vm1.vm.ping(vm2.ip(), 3, Duration::from_secs(5)).unwrap().received >= 2, "across hosts after DHCP");

    // A new fixed IP and an extra DHCP option reach the guest on its next request, with the
    // same dnsmasq process (files rewritten, SIGHUP).
    let pid = dnsmasq_pid(&cloud, "h1", &net);
    assert!(!pid.is_empty());
    let port = vm2.port_id().to_string();
    let subnet = vm2.port["fixed_ips"][0]["subnet_id"].as_str().unwrap().to_string();
    cloud
        .api("tenant-a", move |c| async move {
            c.update(
                Collection::Ports,
                &port,
                obj(json!({"fixed_ips": [{"subnet_id": subnet, "ip_address": "10.20.0.77"}],
                           "extra_dhcp_opts": [{"opt_name": "dns-server", "opt_value": "10.20.0.99"}]})),
            )
            .await
        })
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let lease = loop {
        let lease = vm2.vm.dhcp(LEASE_WAIT).unwrap();
        if lease.as_ref().is_some_and(|l| l.ip == "10.20.0.77") {
            break lease.unwrap();
        }
        assert!(Instant::now() < deadline, "the update was not served: {lease:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(lease.dns, vec!["10.20.0.99".to_string()], "the port's extra option wins");
    assert_eq!(dnsmasq_pid(&cloud, "h1", &net), pid, "dnsmasq was not restarted");
    assert!(vm1.vm.ping("10.20.0.77", 3, Duration::from_secs(5)).unwrap().received >= 2);

    // A guest whose MAC is no port's gets nothing (static host entries only).
    let h2 = cloud.host("h2").unwrap();
    let stranger = cloud.tb.add_vm(h2, "stranger", "tapstranger", "fa:16:3e:de:ad:01", 1450).unwrap();
    let bridge = format!("brq{}", &net[..11]);
    h2.exec_ok(["ip", "link", "set", "tapstranger", "master", &bridge]).unwrap();
    assert_eq!(stranger.dhcp(Duration::from_secs(3)).unwrap(), None, "an unknown MAC got a lease");
}

#[test]
fn overlapping_tenants_and_metadata_per_network() {
    let Some(mut cloud) = cloud("dhcpmd", &[]) else { return };
    let nova = FakeNova::start(&cloud, SECRET).unwrap();
    cloud.set_metadata(&nova.url, SECRET);
    cloud.add_dhcp_host("h1").unwrap();
    cloud.add_host("h2").unwrap();
    let (net_a, _) = served_network(&cloud, "tenant-a", "10.30.0.0/24", "10.30.0.53");
    let (net_b, _) = served_network(&cloud, "tenant-b", "10.30.0.0/24", "10.30.0.54");
    let a = cloud.plug_vm("tenant-a", "h2", &net_a, "a1", json!({})).unwrap();
    let b = cloud.plug_vm("tenant-b", "h2", &net_b, "b1", json!({})).unwrap();
    assert_eq!(a.ip(), b.ip(), "the same address in both tenants");
    let la = a.vm.dhcp(LEASE_WAIT).unwrap().expect("lease a");
    let lb = b.vm.dhcp(LEASE_WAIT).unwrap().expect("lease b");
    assert_eq!(la.dns, vec!["10.30.0.53".to_string()]);
    assert_eq!(lb.dns, vec!["10.30.0.54".to_string()], "each tenant's own subnet answers");

    for vm in [&a, &b] {
        let got =
            vm.vm.exec_ok(["curl", "-s", "-m", "5", "http://169.254.169.254/latest/meta-data/instance-id"]).unwrap();
        let device = vm.port["device_id"].as_str().unwrap();
        assert_eq!(got.trim(), device, "{} got another instance's metadata", vm.vm.name());
    }
    let requests = nova.requests.lock().unwrap().clone();
    assert_eq!(requests.len(), 2, "{requests:?}");
    for (r, project) in requests.iter().zip(["tenant-a", "tenant-b"]) {
        assert_eq!(r.get("x-forwarded-for").map(String::as_str), Some(a.ip()));
        assert_eq!(r.get("x-tenant-id").map(String::as_str), Some(project));
    }
}

#[test]
fn dhcp_agent_down_for_a_minute() {
    let Some(mut cloud) = cloud("dhcpdown", &[]) else { return };
    cloud.add_dhcp_host("h1").unwrap();
    cloud.add_host("h2").unwrap();
    let (net, _) = served_network(&cloud, "tenant-a", "10.40.0.0/24", "10.40.0.53");
    let vm1 = cloud.plug_vm("tenant-a", "h2", &net, "vm1", json!({})).unwrap();
    vm1.vm.dhcp(LEASE_WAIT).unwrap().expect("lease");

    let agent = cloud.agent("h1").unwrap().clone();
    agent.kill().unwrap();
    let pings = vm1.vm.ping_stream("10.40.0.1", 500).ok();
    // A VM booted while the DHCP host's agent is down.
    let vm2 = cloud.plug_vm("tenant-a", "h2", &net, "vm2", json!({})).unwrap();
    std::thread::sleep(Duration::from_secs(20));
    // dnsmasq outlives its agent: the running VM renews its lease meanwhile.
    let renewed = vm1.vm.dhcp_request(LEASE_WAIT, Some(vm1.ip())).unwrap().expect("renewal while the agent is down");
    assert_eq!(renewed.ip, vm1.ip());
    std::thread::sleep(Duration::from_secs(40));
    drop(pings);
    cloud.restart_agent("h1").unwrap();
    let lease = vm2.vm.dhcp(Duration::from_secs(15)).unwrap().expect("the port created meanwhile is served");
    assert_eq!(lease.ip, vm2.ip());
    assert!(vm1.vm.ping(vm2.ip(), 3, Duration::from_secs(5)).unwrap().received >= 2);
}
