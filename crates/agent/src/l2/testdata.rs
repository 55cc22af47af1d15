//! Host states for the plan and reconciler tests.

use std::collections::BTreeMap;
use std::net::IpAddr;

use neutrino_agent_api::{BindingStatus, HostState, NetworkState, PortState, RemotePort};

use crate::config::L2Config;

pub const NET_A: &str = "0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
pub const NET_B: &str = "5f3e2d1c-0b9a-4877-8665-544332211000";
pub const PORT_1: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";
pub const PORT_2: &str = "b2c3d4e5-f6a7-4890-abcd-ef0123456789";
pub const LOCAL: &str = "198.18.0.1";
pub const REMOTE_1: &str = "198.18.0.2";
pub const REMOTE_2: &str = "198.18.0.3";

pub fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

/// A host with a tunnel endpoint and `physnet1` on `eth1`.
pub fn config() -> L2Config {
    L2Config {
        local_ip: Some(ip(LOCAL)),
        physical_interface_mappings: BTreeMap::from([("physnet1".to_owned(), "eth1".to_owned())]),
        ovs: None,
    }
}

/// A VXLAN network with two remote endpoints and one remote port.
pub fn vxlan_net(id: &str, vni: u32) -> NetworkState {
    NetworkState {
        id: id.to_owned(),
        network_type: "vxlan".to_owned(),
        segmentation_id: Some(vni),
        physical_network: None,
        mtu: 1450,
        remote_endpoints: vec![ip(REMOTE_1), ip(REMOTE_2)],
        remote_ports: vec![RemotePort {
            mac_address: "fa:16:3e:00:00:02".to_owned(),
            ip_addresses: vec![ip("10.0.0.5")],
            endpoint: ip(REMOTE_1),
        }],
    }
}

pub fn flat_net(id: &str) -> NetworkState {
    NetworkState {
        id: id.to_owned(),
        network_type: "flat".to_owned(),
        segmentation_id: None,
        physical_network: Some("physnet1".to_owned()),
        mtu: 1500,
        remote_endpoints: vec![],
        remote_ports: vec![],
    }
}

pub fn vlan_net(id: &str, vid: u32) -> NetworkState {
    NetworkState { network_type: "vlan".to_owned(), segmentation_id: Some(vid), ..flat_net(id) }
}

pub fn port(id: &str, network_id: &str) -> PortState {
    PortState {
        id: id.to_owned(),
        network_id: network_id.to_owned(),
        mac_address: "fa:16:3e:00:00:01".to_owned(),
        ip_addresses: vec![ip("10.0.0.4")],
        admin_state_up: true,
        device_owner: "compute:nova".to_owned(),
        status: "DOWN".to_owned(),
        binding: BindingStatus::Active,
    }
}

pub fn host(networks: Vec<NetworkState>, ports: Vec<PortState>) -> HostState {
    HostState {
        host: "compute-1".to_owned(),
        revision: 1,
        fingerprint: "f".to_owned(),
        networks,
        ports,
        binding_failures: vec![],
        dhcp: vec![],
        routers: vec![],
        port_security: vec![],
        security_groups: vec![],
        group_members: Default::default(),
        address_groups: Default::default(),
    }
}

/// One VXLAN network (VNI 100) with one port.
pub fn one_vxlan_port() -> HostState {
    host(vec![vxlan_net(NET_A, 100)], vec![port(PORT_1, NET_A)])
}
