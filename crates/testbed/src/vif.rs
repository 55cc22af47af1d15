//! Plugging a VM's interface the way Nova does once Neutron bound its port: Nova reads the
//! port's `binding:vif_type` and `binding:vif_details` and hands them to libvirt and os-vif.
//!
//! * `bridge` (Linux bridge): the tap is left alone, up; the agent enslaves it to its `brq…`.
//! * `ovs` with `ovs_hybrid_plug` (os-vif's `ovs` plugin, hybrid): a Linux bridge `qbr<id>`
//!   holding the VM's `tap<id>` and `qvb<id>`, a veth `qvb<id>`/`qvo<id>`, and `qvo<id>` on the
//!   integration bridge with the port's identity in `external_ids`. The firewall filters the
//!   tap on `qbr`, where the kernel's bridge hooks still see it.
//! * `ovs` without it: the tap itself on the integration bridge, with the same `external_ids`.
//!
//! Names are os-vif's: a three-letter prefix and the port id cut to 14 characters in all.
//! The OVS port is added in one `ovs-vsctl` transaction (`--may-exist add-port … -- set
//! Interface …`), so the agent never sees it without its `iface-id`.

use neutrino_client::Object;
use serde_json::Value;

use crate::error::Result;
use crate::host::Host;
use crate::vm::Vm;

/// os-vif's `NIC_NAME_LEN`: device names are at most 14 characters.
pub const NIC_NAME_LEN: usize = 14;

/// How a port's VIF is plugged, from its binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vif {
    /// `binding:vif_type` `bridge`.
    Bridge,
    /// `binding:vif_type` `ovs`: onto `bridge` (`vif_details.bridge_name`), through `qbr` if
    /// `hybrid` (`vif_details.ovs_hybrid_plug`).
    Ovs { bridge: String, hybrid: bool },
}

impl Vif {
    /// Reads `binding:vif_type` and `binding:vif_details` of a port, as Nova does. Anything but
    /// `ovs` (`bridge`, and the `unbound` or `binding_failed` of ports that tests want left
    /// unwired, which Nova would refuse to boot) leaves the tap as a Linux-bridge host wants it.
    pub fn from_port(port: &Object) -> Vif {
        let vif_type = port.get("binding:vif_type").and_then(Value::as_str).unwrap_or_default();
        let details = port.get("binding:vif_details");
        if vif_type != "ovs" {
            return Vif::Bridge;
        }
        Vif::Ovs {
            bridge: details.and_then(|d| d.get("bridge_name")).and_then(Value::as_str).unwrap_or("br-int").to_string(),
            hybrid: details.and_then(|d| d.get("ovs_hybrid_plug")).and_then(Value::as_bool).unwrap_or(false),
        }
    }
}

/// A device name for a port: `prefix` and the start of the port id, [`NIC_NAME_LEN`] in all.
pub fn dev_name(prefix: &str, port_id: &str) -> String {
    let keep = NIC_NAME_LEN.saturating_sub(prefix.len()).min(port_id.len());
    format!("{prefix}{}", &port_id[..keep])
}

/// What Nova knows of the port when it plugs it.
#[derive(Debug, Clone, Copy)]
pub struct PortInfo<'a> {
    pub id: &'a str,
    pub mac: &'a str,
    /// The instance (`device_id`), os-vif's `vm-uuid`.
    pub device_id: &'a str,
}

/// Plugs `vm` (whose tap is already up on `host`) as `vif` says.
pub fn plug(host: &Host, vm: &Vm, vif: &Vif, port: PortInfo<'_>) -> Result<()> {
    let Vif::Ovs { bridge, hybrid } = vif else { return Ok(()) };
    // The userspace datapath never completes a checksum a veth left to the NIC (crate::ovs).
    crate::ovs::vm_checksum_off(vm)?;
    let mtu = vm.mtu().to_string();
    let ovs_port = if *hybrid {
        let (qbr, qvb, qvo) = (dev_name("qbr", port.id), dev_name("qvb", port.id), dev_name("qvo", port.id));
        host.exec_ok(["ip", "link", "add", &qbr, "type", "bridge", "forward_delay", "0", "stp_state", "0"])?;
        host.exec_ok(["ip", "link", "set", &qbr, "addrgenmode", "none", "up"])?;
        host.exec_ok(["ip", "link", "add", &qvb, "mtu", &mtu, "type", "veth", "peer", "name", &qvo, "mtu", &mtu])?;
        for dev in [&qvb, &qvo] {
            host.exec_ok(["ip", "link", "set", dev, "addrgenmode", "none", "promisc", "on", "up"])?;
        }
        host.exec_ok(["ip", "link", "set", &qvb, "master", &qbr])?;
        host.exec_ok(["ip", "link", "set", vm.tap(), "master", &qbr])?;
        qvo
    } else {
        vm.tap().to_string()
    };
    #[rustfmt::skip]
    host.ovs(["ovs-vsctl", "--timeout=10", "--", "--may-exist", "add-port", bridge, &ovs_port,
              "--", "set", "Interface", &ovs_port,
              &format!("external_ids:iface-id={}", port.id), "external_ids:iface-status=active",
              &format!("external_ids:attached-mac={}", port.mac),
              &format!("external_ids:vm-uuid={}", port.device_id)])?;
    Ok(())
}

/// Undoes [`plug`] as os-vif's unplug does (the tap itself goes with the VM).
pub fn unplug(host: &Host, vif: &Vif, port_id: &str) -> Result<()> {
    let Vif::Ovs { bridge, hybrid } = vif else { return Ok(()) };
    let ovs_port = if *hybrid { dev_name("qvo", port_id) } else { dev_name("tap", port_id) };
    host.ovs(["ovs-vsctl", "--timeout=10", "--if-exists", "del-port", bridge, &ovs_port])?;
    if *hybrid {
        // Deleting one end of the veth deletes both.
        for dev in [dev_name("qvo", port_id), dev_name("qbr", port_id)] {
            let shown = host.exec(["ip", "link", "show", "dev", &dev])?;
            if shown.status.success() {
                host.exec_ok(["ip", "link", "del", "dev", &dev])?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_are_os_vifs() {
        let id = "3f1c9a2e-5b7d-4c8e-9f0a-1b2c3d4e5f60";
        assert_eq!(dev_name("tap", id), "tap3f1c9a2e-5b");
        assert_eq!(dev_name("qvo", id), "qvo3f1c9a2e-5b");
        assert_eq!(dev_name("qbr", id).len(), NIC_NAME_LEN);
        assert_eq!(dev_name("tap", "abc"), "tapabc");
    }

    #[test]
    fn the_binding_decides_the_plug() {
        let port = |v: Value| v.as_object().cloned().unwrap();
        assert_eq!(Vif::from_port(&port(json!({"binding:vif_type": "bridge"}))), Vif::Bridge);
        let ovs = json!({"binding:vif_type": "ovs", "binding:vif_details":
            {"port_filter": true, "ovs_hybrid_plug": true, "datapath_type": "netdev", "bridge_name": "br-int"}});
        assert_eq!(Vif::from_port(&port(ovs)), Vif::Ovs { bridge: "br-int".into(), hybrid: true });
        let plain = json!({"binding:vif_type": "ovs", "binding:vif_details": {"ovs_hybrid_plug": false}});
        assert_eq!(Vif::from_port(&port(plain)), Vif::Ovs { bridge: "br-int".into(), hybrid: false });
        assert_eq!(Vif::from_port(&port(json!({"binding:vif_type": "binding_failed"}))), Vif::Bridge);
    }
}
