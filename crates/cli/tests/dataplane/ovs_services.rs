//! Services on Open vSwitch hosts: DHCP and metadata through a DHCP port on br-int, a
//! router with SNAT and a floating IP, security groups enforced on the tap that the hybrid
//! plug keeps in a Linux bridge.

use crate::dhcp::served_dhcp_port;
use crate::l2::id;
use crate::l3::{boot, external_network, floating_ip, obj, router, tenant_network};
use crate::ovs::{ovs_cloud, vsctl};
use neutrino_client::Collection;
use neutrino_testbed::cloud::{Cloud, FakeNova, Mechanism};
use neutrino_testbed::vif::dev_name;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const HYBRID: Mechanism = Mechanism::OpenVswitch { hybrid_plug: true };
const EXT_GATEWAY: &str = "203.0.113.1";
const SECRET: &str = "ovs-metadata-secret";

fn icmp_in(cloud: &Cloud, project: &str) {
    let p = project.to_string();
    cloud
        .api(project, move |c| async move {
            let groups = c.list(Collection::SecurityGroups, &[("name", "default"), ("project_id", p.as_str())]).await?;
            let gid = groups.first().and_then(|g| g.get("id")).cloned().unwrap_or(Value::Null);
            let rule = json!({"security_group_id": gid, "direction": "ingress", "ethertype": "IPv4",
                              "protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"});
            c.create(Collection::SecurityGroupRules, obj(rule)).await
        })
        .unwrap();
}

#[test]
fn ovs_router_snat_and_floating_ip() {
    let Some(mut cloud) = ovs_cloud("ovsl3", &[("h1", HYBRID)], &[]) else { return };
    cloud.mechanism = HYBRID;
    cloud.add_l3_host("net1", &format!("{EXT_GATEWAY}/24")).unwrap();
    let ext_ns = cloud.tb.netns_name("ext");
    let ext = external_network(&cloud);
    let (net, sub) = tenant_network(&cloud, "tenant-a", "a", "10.60.0.0/24");
    router(&cloud, "tenant-a", &ext, &[&sub]);
    icmp_in(&cloud, "tenant-a");
    let a = boot(&cloud, "tenant-a", "h1", &net, "va", "10.60.0.1");
    assert!(a.vm.ping(EXT_GATEWAY, 3, Duration::from_secs(5)).unwrap().received >= 2, "VM -> outside via SNAT");

    let fip = floating_ip(&cloud, "tenant-a", &ext, a.port_id());
    let fip_ip = fip["floating_ip_address"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let o = cloud.tb.exec_in(&ext_ns, ["ping", "-c", "1", "-W", "1", fip_ip.as_str()]).unwrap();
        if o.status.success() {
            break;
        }
        assert!(Instant::now() < deadline, "outside -> floating IP {fip_ip}");
    }
}

#[test]
fn ovs_security_groups_filter_through_the_hybrid_plug() {
    let Some(cloud) = ovs_cloud("ovssg", &[("h1", HYBRID), ("h2", HYBRID)], &[]) else { return };
    let (net, _) = tenant_network(&cloud, "tenant-a", "a", "10.70.0.0/24");
    let a = boot(&cloud, "tenant-a", "h1", &net, "va", "10.70.0.1");
    let b = boot(&cloud, "tenant-a", "h2", &net, "vb", "10.70.0.1");
    let o = boot(&cloud, "admin", "h2", &net, "vo", "10.70.0.1");
    // The tap sits in qbr (os-vif's hybrid plug), where the host's nftables firewall sees it.
    let h1 = cloud.host("h1").unwrap();
    let tap = h1.exec_ok(["ip", "-o", "link", "show", a.vm.tap()]).unwrap();
    assert!(tap.contains(&format!("master {}", dev_name("qbr", a.port_id()))), "{tap}");
    let ruleset = h1.exec_ok(["nft", "list", "ruleset"]).unwrap();
    assert!(ruleset.contains(a.vm.tap()), "no rule names {}:\n{ruleset}", a.vm.tap());
    assert!(a.vm.ping(b.ip(), 3, Duration::from_secs(5)).unwrap().received >= 2, "same default group");
    assert_eq!(o.vm.ping(a.ip(), 2, Duration::from_secs(2)).unwrap().received, 0, "an outsider reaches a member");
    icmp_in(&cloud, "tenant-a");
    let deadline = Instant::now() + Duration::from_secs(5);
    while o.vm.ping(a.ip(), 1, Duration::from_secs(1)).unwrap().received == 0 {
        assert!(Instant::now() < deadline, "the ICMP rule did not open the member");
    }
}

#[test]
fn ovs_dhcp_and_metadata_through_br_int() {
    let Some(mut cloud) = ovs_cloud("ovsdhcp", &[], &[]) else { return };
    let nova = FakeNova::start(&cloud, SECRET).unwrap();
    cloud.set_metadata(&nova.url, SECRET);
    cloud.mechanism = HYBRID;
    cloud.add_dhcp_host("h1").unwrap();
    cloud.add_host("h2").unwrap();
    let net = id(&cloud.network("tenant-a", "net", "10.40.0.0/24").unwrap());
    let dhcp_ip = served_dhcp_port(&cloud, &net);
    let n = net.clone();
    let dhcp_ports = cloud
        .api("admin", move |c| async move {
            c.list(Collection::Ports, &[("network_id", n.as_str()), ("device_owner", "network:dhcp")]).await
        })
        .unwrap();
    // The DHCP port's device is on br-int of h1, tagged with the network's local VLAN.
    let tap = dev_name("tap", &id(&dhcp_ports[0]));
    let h1 = cloud.host("h1").unwrap();
    assert!(vsctl(h1, &["list-ports", "br-int"]).lines().any(|p| p == tap), "{tap} on br-int");
    let tag = vsctl(h1, &["get", "Port", &tap, "tag"]);
    assert!(tag.trim().parse::<u32>().is_ok_and(|t| (1..4095).contains(&t)), "local VLAN tag {tag}");

    let vm = cloud.plug_vm("tenant-a", "h2", &net, "vm1", json!({})).unwrap();
    let lease = vm.vm.dhcp(Duration::from_secs(10)).unwrap().expect("a DHCP lease across VXLAN");
    assert_eq!(lease.ip, vm.ip());
    assert_eq!(lease.server_id.as_deref(), Some(dhcp_ip.as_str()));
    let device_id = vm.port["device_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = vm.vm.exec(["curl", "-s", "-m", "5", "http://169.254.169.254/latest/meta-data/instance-id"]).unwrap();
        if String::from_utf8_lossy(&out.stdout).trim() == device_id {
            break;
        }
        assert!(Instant::now() < deadline, "metadata: {:?}", String::from_utf8_lossy(&out.stdout));
        std::thread::sleep(Duration::from_millis(300));
    }
}
