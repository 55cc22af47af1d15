//! DHCP and router ports on an Open vSwitch host: the netns module plugs each as a veth
//! pair (`tap…` here, the other end in its `qdhcp-`/`qrouter-` namespace), exactly as on
//! a linuxbridge host, and this pass plugs the `tap…` into br-int (Neutron's
//! `ovs_use_veth`), where it is tagged like a VM port.
//!
//! Why not an OVS internal port moved into the namespace, as Neutron does by default: on
//! the userspace datapath an internal port is a tap device ovs-vswitchd holds open; moved
//! into another namespace it still carries frames, but ovs-vswitchd's ioctls by name fail
//! there (it loses the device's MAC, MTU and link state, checked on OVS 3.1) and a restart
//! of ovs-vswitchd destroys it. A veth survives both.

use std::collections::BTreeSet;

use neutrino_agent_api::{tap_name, HostState};

use super::ovsdb::{PortRow, VsctlCommand, OWNER_KEY};

/// Whether a port is one of the agent's own (DHCP, router interface or gateway).
pub fn is_service(device_owner: &str) -> bool {
    device_owner.starts_with("network:")
}

/// Which device names exist in the host's namespace.
pub trait HostDevices: Send + Sync {
    fn exists(&self, name: &str) -> bool;
}

/// The host's namespace, by `if_nametoindex(3)` (which asks the current network namespace,
/// unlike `/sys`, which shows the one it was mounted from).
#[derive(Debug, Clone, Copy, Default)]
pub struct KernelDevices;

impl HostDevices for KernelDevices {
    fn exists(&self, name: &str) -> bool {
        let Ok(c) = std::ffi::CString::new(name) else { return false };
        // SAFETY: `c` is a valid NUL-terminated string for the duration of the call.
        unsafe { libc::if_nametoindex(c.as_ptr()) != 0 }
    }
}

/// Plugs the taps of the service ports of `state` that exist and are not on br-int yet,
/// and unplugs the ones the agent plugged that are no longer wanted or whose device is
/// gone (its namespace deleted). Returns (plug, unplug).
pub fn plan(
    state: &HostState,
    int: &str,
    br_int: &[&PortRow],
    devices: &dyn HostDevices,
) -> (Vec<VsctlCommand>, Vec<VsctlCommand>) {
    let on_int: BTreeSet<&str> = br_int
        .iter()
        .flat_map(|p| &p.interfaces)
        .filter_map(|i| i.external_ids.get("iface-id"))
        .map(String::as_str)
        .collect();
    let mut plug = Vec::new();
    let mut wanted = BTreeSet::new();
    for p in state.ports.iter().filter(|p| is_service(&p.device_owner)) {
        let name = tap_name(&p.id);
        wanted.insert(name.clone());
        if !on_int.contains(p.id.as_str()) && devices.exists(&name) {
            let (bridge, mac) = (int.to_string(), p.mac_address.clone());
            plug.push(VsctlCommand::AddServicePort { bridge, name, port_id: p.id.clone(), mac });
        }
    }
    let unplug = br_int
        .iter()
        .filter(|p| p.interfaces.iter().any(|i| i.external_ids.contains_key(OWNER_KEY)))
        .filter(|p| !wanted.contains(&p.name) || !devices.exists(&p.name))
        .map(|p| VsctlCommand::DelPort { bridge: int.to_string(), name: p.name.clone() })
        .collect();
    (plug, unplug)
}
