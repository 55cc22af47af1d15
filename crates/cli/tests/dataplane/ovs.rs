//! Open vSwitch hosts: `neutrino agent --mechanism openvswitch` beside each host's own
//! ovsdb-server and ovs-vswitchd (userspace datapath), VMs plugged by os-vif's rules after
//! reading their port's binding. VXLAN across hosts, tenants isolated, a VLAN provider
//! network translated to and from the local VLAN, an agent restart under traffic, and a cloud
//! mixing a Linux-bridge host and an OVS host.

use crate::l2::{id, isolated_tenants, restart_under_pings};
use crate::testbed;
use neutrino_client::Collection;
use neutrino_testbed::cloud::{BootedVm, Cloud, Mechanism};
use neutrino_testbed::vif::{dev_name, Vif};
use neutrino_testbed::Host;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const PING_WAIT: Duration = Duration::from_secs(5);
const HYBRID: Mechanism = Mechanism::OpenVswitch { hybrid_plug: true };

/// A cloud whose hosts are added with `mechanisms` (name, mechanism) and cabled to `physnets`,
/// or `None` when this machine cannot run OVS hosts (outside CI).
pub(crate) fn ovs_cloud(name: &str, hosts: &[(&str, Mechanism)], physnets: &[&str]) -> Option<Cloud> {
    let tb = testbed(name)?;
    if let Err(why) = neutrino_testbed::ovs_preflight() {
        assert!(std::env::var_os("CI").is_none(), "the OVS dataplane tests cannot run under CI: {why}");
        eprintln!("skipped: {why}");
        return None;
    }
    let mut cloud = Cloud::start(tb, Path::new(env!("CARGO_BIN_EXE_neutrino"))).expect("server");
    cloud.physnets = physnets.iter().map(|p| p.to_string()).collect();
    for (h, mechanism) in hosts {
        cloud.mechanism = *mechanism;
        cloud.add_host(h).expect("host with agent");
    }
    Some(cloud)
}

/// Whether `program` runs; outside CI a missing one skips the test (printed), under CI it fails.
pub(crate) fn installed(program: &str) -> bool {
    if std::process::Command::new(program).arg("--version").output().is_ok() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{program} is not installed (scripts/test.sh installs it)");
    eprintln!("skipped: {program} is not installed");
    false
}

pub(crate) fn vsctl(host: &Host, args: &[&str]) -> String {
    let mut argv = vec!["ovs-vsctl"];
    argv.extend(args);
    host.ovs(argv).unwrap()
}

pub(crate) fn flows(host: &Host, bridge: &str) -> String {
    host.ovs(["ovs-ofctl", "dump-flows", bridge]).unwrap()
}

/// The OVS port a booted VM's port is on `br-int` as: `qvo…` (hybrid) or the tap.
pub(crate) fn ovs_port(vm: &BootedVm) -> String {
    match vm.vif {
        Vif::Ovs { hybrid: true, .. } => dev_name("qvo", vm.port_id()),
        _ => vm.vm.tap().to_string(),
    }
}

/// The local VLAN the agent tagged the VM's OVS port with.
pub(crate) fn local_vlan(host: &Host, vm: &BootedVm) -> u32 {
    vsctl(host, &["get", "Port", &ovs_port(vm), "tag"]).trim().parse().expect("a local VLAN tag")
}

#[test]
fn ovs_hosts_ping_across_vxlan_through_the_hybrid_plug() {
    let Some(cloud) = ovs_cloud("ovsping", &[("h1", HYBRID), ("h2", HYBRID)], &[]) else { return };
    let net = id(&cloud.network("tenant-a", "net-a", "10.0.0.0/24").unwrap());
    let vm1 = cloud.boot_vm("tenant-a", "h1", &net, "vm1").unwrap();
    let vm2 = cloud.boot_vm("tenant-a", "h2", &net, "vm2").unwrap();

    // Bound as Neutron's OVS driver binds, and plugged as os-vif plugs that.
    assert_eq!(vm1.port["binding:vif_type"], "ovs", "{:?}", vm1.port);
    let details = &vm1.port["binding:vif_details"];
    assert_eq!(details["bridge_name"], "br-int");
    assert_eq!(details["ovs_hybrid_plug"], true);
    assert_eq!(details["datapath_type"], "netdev");
    assert_eq!(vm1.vif, Vif::Ovs { bridge: "br-int".into(), hybrid: true });

    assert!(vm1.vm.ping(vm2.ip(), 3, PING_WAIT).unwrap().received >= 2, "vm1 -> vm2 across VXLAN");
    assert!(vm2.vm.ping(vm1.ip(), 3, PING_WAIT).unwrap().received >= 2, "vm2 -> vm1");

    let (h1, h2) = (cloud.host("h1").unwrap(), cloud.host("h2").unwrap());
    let qvo = ovs_port(&vm1);
    assert!(vsctl(h1, &["list-ports", "br-int"]).lines().any(|p| p == qvo), "{qvo} on br-int");
    assert!(vsctl(h1, &["get", "Interface", &qvo, "external_ids"]).contains(vm1.port_id()));
    let tag1 = local_vlan(h1, &vm1);
    assert!((1..4095).contains(&tag1), "local VLAN {tag1}");
    // br-tun has a VXLAN port to h2.
    let tunnels = vsctl(h1, &["--columns=options", "find", "Interface", "type=vxlan"]);
    assert!(tunnels.contains(&h2.underlay_ip().to_string()), "a tunnel to h2: {tunnels}");

    // The VM is gone (Nova unplugs, then deletes the port): nothing of it stays on br-int.
    let port2 = vm2.port_id().to_string();
    cloud.unplug_vm(vm2).unwrap();
    cloud.delete_port("tenant-a", &port2).unwrap();
    assert!(!vsctl(h2, &["list-ports", "br-int"]).contains(&dev_name("qvo", &port2)));
}

#[test]
fn ovs_tenants_with_the_same_cidr_are_isolated() {
    let Some(cloud) = ovs_cloud("ovsiso", &[("h1", HYBRID), ("h2", HYBRID)], &[]) else { return };
    let [a1, _, b1, _] = isolated_tenants(&cloud);
    let h1 = cloud.host("h1").unwrap();
    assert_ne!(local_vlan(h1, &a1), local_vlan(h1, &b1), "one local VLAN per network");
}

/// A VLAN network on `physnet1` (bridge `br-eth2` on each host, cabled to one wire).
fn vlan_network(cloud: &Cloud, vlan: u32, cidr: &str) -> String {
    let cidr = cidr.to_string();
    let net = cloud
        .api("admin", move |c| async move {
            let attrs = json!({"name": format!("vlan{vlan}"), "provider:network_type": "vlan",
                               "provider:physical_network": "physnet1", "provider:segmentation_id": vlan});
            let net = c.create(Collection::Networks, attrs.as_object().cloned().unwrap_or_default()).await?;
            let sub = json!({"network_id": net["id"], "cidr": cidr, "ip_version": 4, "enable_dhcp": false});
            c.create(Collection::Subnets, sub.as_object().cloned().unwrap_or_default()).await?;
            Ok(net)
        })
        .unwrap();
    id(&net)
}

#[test]
fn ovs_vlan_provider_network_is_translated_and_tagged_on_the_wire() {
    if !installed("tcpdump") {
        return;
    }
    let Some(cloud) = ovs_cloud("ovsvlan", &[("h1", HYBRID), ("h2", HYBRID)], &["physnet1"]) else { return };
    let net = vlan_network(&cloud, 1000, "10.30.0.0/24");
    let vm1 = cloud.boot_vm("admin", "h1", &net, "vm1").unwrap();
    let vm2 = cloud.boot_vm("admin", "h2", &net, "vm2").unwrap();
    let physnet = cloud.tb.netns_name("pn-physnet1");
    let capture = cloud
        .tb
        .spawn_in(&physnet, "tcpdump", ["-l", "-n", "-e", "-i", "br-fabric", "vlan 1000 and icmp"], &[], None)
        .unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert!(vm1.vm.ping(vm2.ip(), 3, PING_WAIT).unwrap().received >= 2, "vm1 -> vm2 on VLAN 1000");

    // The seed's translation: local VLAN -> 1000 leaving br-eth2, 1000 -> local entering br-int.
    for (host, vm) in [("h1", &vm1), ("h2", &vm2)] {
        let h = cloud.host(host).unwrap();
        let local = local_vlan(h, vm);
        let out = flows(h, "br-eth2");
        assert!(
            out.lines().any(|l| l.contains(&format!("dl_vlan={local}")) && l.contains("mod_vlan_vid:1000")),
            "{host}: local {local} -> 1000 on br-eth2:\n{out}"
        );
        let into = flows(h, "br-int");
        assert!(
            into.lines().any(|l| l.contains("dl_vlan=1000") && l.contains(&format!("mod_vlan_vid:{local}"))),
            "{host}: 1000 -> local {local} on br-int:\n{into}"
        );
    }
    neutrino_testbed::wait_until(Duration::from_secs(5), Duration::from_millis(100), || {
        capture.read_log().contains("vlan 1000")
    })
    .unwrap_or_else(|_| panic!("no 802.1Q tag 1000 on the physnet: {}", capture.read_log()));
}

#[test]
fn ovs_agent_restart_loses_at_most_one_ping() {
    let Some(mut cloud) = ovs_cloud("ovsrestart", &[("h1", HYBRID), ("h2", HYBRID)], &[]) else { return };
    let net = id(&cloud.network("tenant-a", "net", "10.2.0.0/24").unwrap());
    let vm1 = cloud.boot_vm("tenant-a", "h1", &net, "vm1").unwrap();
    let vm2 = cloud.boot_vm("tenant-a", "h2", &net, "vm2").unwrap();
    assert!(vm1.vm.ping(vm2.ip(), 2, PING_WAIT).unwrap().received >= 1);
    let h1 = cloud.host("h1").unwrap().clone();
    let tag = local_vlan(&h1, &vm1);

    let vm3 = restart_under_pings(&mut cloud, &net, &vm1, &vm2);
    assert_eq!(local_vlan(&h1, &vm1), tag, "the local VLAN was recovered from the port's tag");
    assert!(vm1.vm.ping(vm3.ip(), 2, PING_WAIT).unwrap().received >= 1, "reaches vm3 after the restart");
}

#[test]
fn a_mixed_cloud_of_linuxbridge_and_ovs_hosts_talks() {
    let hosts = [("lb", Mechanism::LinuxBridge), ("ovs", HYBRID)];
    let Some(cloud) = ovs_cloud("ovsmixed", &hosts, &[]) else { return };
    assert!(cloud.host("lb").unwrap().ovs_dir().is_none());
    let net = id(&cloud.network("tenant-a", "net", "10.3.0.0/24").unwrap());
    let on_lb = cloud.boot_vm("tenant-a", "lb", &net, "vm-lb").unwrap();
    let on_ovs = cloud.boot_vm("tenant-a", "ovs", &net, "vm-ovs").unwrap();
    assert_eq!(on_lb.port["binding:vif_type"], "bridge");
    assert_eq!(on_ovs.port["binding:vif_type"], "ovs");
    assert!(on_lb.vm.ping(on_ovs.ip(), 3, PING_WAIT).unwrap().received >= 2, "Linux bridge -> OVS");
    assert!(on_ovs.vm.ping(on_lb.ip(), 3, PING_WAIT).unwrap().received >= 2, "OVS -> Linux bridge");
    let agents = cloud.api("admin", |c| async move { c.list(Collection::Agents, &[]).await }).unwrap();
    let types: Vec<&str> = agents.iter().filter_map(|a| a.get("agent_type").and_then(Value::as_str)).collect();
    assert!(types.contains(&"Open vSwitch agent") && types.contains(&"Linux bridge agent"), "{types:?}");
}
