//! The mechanism-driver seam: a host's L2 agent type decides how its ports bind (ML2's
//! linuxbridge and openvswitch drivers), and a cloud may mix both kinds of host.

use crate::common::{l2_report, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn ovs_report(host: &str, ip: &str) -> Value {
    json!({"host": host, "agent_type": "Open vSwitch agent", "binary": "neutrino-agent", "start_flag": true,
           "configurations": {"tunnel_types": ["vxlan"], "tunneling_ip": ip, "l2_population": true,
                              "bridge_mappings": {"physnet1": "br-eth1"}, "datapath_type": "netdev",
                              "ovs_hybrid_plug": true, "integration_bridge": "br-int", "devices": 0}})
}

async fn report(s: &TestServer, body: Value) {
    let (st, b) = s.post("/agent/v1/agents/report", body).await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

async fn bound_port(s: &TestServer, net: &str, host: &str) -> Value {
    let (st, b) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "binding:host_id": host}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["port"].clone()
}

async fn provider_network(s: &TestServer, kind: &str, physnet: &str, vlan: Option<u32>) -> String {
    let mut net = json!({"name": kind, "provider:network_type": kind, "provider:physical_network": physnet});
    if let Some(v) = vlan {
        net["provider:segmentation_id"] = json!(v);
    }
    let (st, b) = s.post("/v2.0/networks", json!({ "network": net })).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["network"]["id"].as_str().unwrap_or_default().to_string()
}

#[tokio::test]
async fn an_open_vswitch_host_binds_ports_as_neutrons_ovs_driver_does() {
    let s = TestServer::start().await;
    report(&s, ovs_report("compute-ovs", "198.18.2.1")).await;
    let (_, b) = s.get("/v2.0/agents?host=compute-ovs").await;
    assert_eq!(b["agents"][0]["agent_type"], "Open vSwitch agent", "{b}");
    assert_eq!(b["agents"][0]["configurations"]["datapath_type"], "netdev");

    let net = s.network("n").await;
    s.subnet(&net, "10.8.0.0/24", json!({"enable_dhcp": false})).await;
    let p = bound_port(&s, &net, "compute-ovs").await;
    assert_eq!(p["binding:vif_type"], "ovs", "{p}");
    assert_eq!(
        p["binding:vif_details"],
        json!({"connectivity": "l2", "port_filter": true, "ovs_hybrid_plug": true, "datapath_type": "netdev",
               "bridge_name": "br-int"})
    );
    let (_, st) = s.get("/agent/v1/hosts/compute-ovs/state").await;
    assert_eq!(st["ports"][0]["id"], p["id"], "{st}");
    // The OVS agent's report turns it ACTIVE, as the Linux-bridge agent's does.
    let id = p["id"].as_str().unwrap_or_default();
    let (st, b) = s
        .post("/agent/v1/hosts/compute-ovs/port-status", json!({"host": "compute-ovs", "ports": {id: "ACTIVE"}}))
        .await;
    assert!(st.is_success(), "{b}");
    let (_, shown) = s.get(&format!("/v2.0/ports/{id}")).await;
    assert_eq!(shown["port"]["status"], "ACTIVE", "{shown}");

    // VLAN and flat segments reach an OVS host through its bridge mappings only.
    let vlan = provider_network(&s, "vlan", "physnet1", Some(1000)).await;
    assert_eq!(bound_port(&s, &vlan, "compute-ovs").await["binding:vif_type"], "ovs");
    let flat = provider_network(&s, "flat", "physnet2", None).await;
    let failed = bound_port(&s, &flat, "compute-ovs").await;
    assert_eq!(failed["binding:vif_type"], "binding_failed");
    let (_, st) = s.get("/agent/v1/hosts/compute-ovs/state").await;
    let reason = st["binding_failures"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("bridge_mappings {\"physnet1\": \"br-eth1\"}"), "{reason}");
}

#[tokio::test]
async fn a_mixed_cloud_floods_and_forwards_between_linuxbridge_and_open_vswitch_hosts() {
    let s = TestServer::start().await;
    report(&s, l2_report("compute-lb", "198.18.3.1")).await;
    report(&s, ovs_report("compute-ovs", "198.18.3.2")).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.9.0.0/24", json!({"enable_dhcp": false})).await;
    let lb = bound_port(&s, &net, "compute-lb").await;
    let ovs = bound_port(&s, &net, "compute-ovs").await;
    assert_eq!((lb["binding:vif_type"].as_str(), ovs["binding:vif_type"].as_str()), (Some("bridge"), Some("ovs")));
    for (host, peer_ip, peer) in [("compute-lb", "198.18.3.2", &ovs), ("compute-ovs", "198.18.3.1", &lb)] {
        let (_, st) = s.get(&format!("/agent/v1/hosts/{host}/state")).await;
        let network = &st["networks"][0];
        assert_eq!(network["remote_endpoints"], json!([peer_ip]), "{host}: {st}");
        assert_eq!(network["remote_ports"][0]["mac_address"], peer["mac_address"], "{host}: {st}");
        assert_eq!(network["remote_ports"][0]["endpoint"], peer_ip, "{host}: {st}");
    }
}

#[tokio::test]
async fn dhcp_is_scheduled_to_an_open_vswitch_host_and_a_dead_ovs_agent_binds_nothing() {
    let s = TestServer::start_with(|c| c.agent_down_time = 1).await;
    report(&s, ovs_report("net-ovs", "198.18.4.1")).await;
    let dhcp = json!({"host": "net-ovs", "agent_type": "DHCP agent", "binary": "neutrino-agent", "start_flag": true,
                      "configurations": {"dhcp_driver": "dnsmasq", "dhcp_lease_duration": 86400, "networks": 0,
                                         "subnets": 0, "ports": 0, "notifies_port_ready": true}});
    report(&s, dhcp).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.10.0.0/24", json!({})).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let dhcp_port = loop {
        let (_, b) = s.get(&format!("/v2.0/ports?network_id={net}&device_owner=network:dhcp")).await;
        if let Some(p) = b["ports"].as_array().and_then(|p| p.first()) {
            break p.clone();
        }
        assert!(Instant::now() < deadline, "no DHCP port scheduled to the OVS host");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(dhcp_port["binding:host_id"], "net-ovs");
    assert_eq!(dhcp_port["binding:vif_type"], "ovs", "{dhcp_port}");

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let p = bound_port(&s, &net, "net-ovs").await;
    assert_eq!(p["binding:vif_type"], "binding_failed");
    let (_, st) = s.get("/agent/v1/hosts/net-ovs/state").await;
    let reason = st["binding_failures"][0]["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("refusing to bind to the dead Open vSwitch agent on host net-ovs"), "{reason}");
}
