//! A cloud's hosts by mechanism: Linux-bridge hosts and Open vSwitch hosts (a cloud may mix
//! them), their cabling to physical networks, and the agent flags that follow from both.

use std::path::Path;

use super::Cloud;
use crate::error::Result;
use crate::host::Host;
use crate::ovs::nic_bridge;
use crate::vif;

/// The L2 mechanism of a host, chosen when it is added ([`Cloud::mechanism`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mechanism {
    /// `neutrino agent` wiring Linux bridges (`brq…`), VXLAN devices and taps.
    #[default]
    LinuxBridge,
    /// Open vSwitch in the host's namespaces ([`crate::Testbed::add_ovs_host`]) and
    /// `neutrino agent --mechanism openvswitch` on the userspace datapath; VMs plugged through
    /// `qbr`/`qvb`/`qvo` when `hybrid_plug`.
    OpenVswitch { hybrid_plug: bool },
}

/// How a host was built: what its agent needs to know.
#[derive(Debug, Clone)]
pub(super) struct Wiring {
    mechanism: Mechanism,
    /// `(physnet, NIC)`: `external` on `eth1` for a network node, then [`Cloud::physnets`].
    nics: Vec<(String, String)>,
}

impl Cloud {
    /// Makes host `name` of [`Cloud::mechanism`] and cables it: the external network on `eth1`
    /// if `external`, each of [`Cloud::physnets`] on `eth2`, `eth3`…
    pub(super) fn new_host(&mut self, name: &str, external: bool) -> Result<Host> {
        let host = match self.mechanism {
            Mechanism::LinuxBridge => self.tb.add_host(name)?,
            Mechanism::OpenVswitch { .. } => self.tb.add_ovs_host(name)?,
        };
        let mut nics = Vec::new();
        if external {
            self.tb.connect_external(&host)?;
            nics.push(("external".to_string(), "eth1".to_string()));
        }
        for (i, physnet) in self.physnets.iter().enumerate() {
            let nic = format!("eth{}", i + 2);
            self.tb.connect_physnet(&host, physnet, &nic)?;
            nics.push((physnet.clone(), nic));
        }
        self.wiring.insert(name.to_string(), Wiring { mechanism: self.mechanism, nics });
        Ok(host)
    }

    /// The agent flags of the host's mechanism and physical networks ([`agent_args`]).
    pub(super) fn mechanism_args(&self, host: &Host) -> Vec<String> {
        let Some(wiring) = self.wiring.get(host.name()) else { return Vec::new() };
        agent_args(wiring.mechanism, host.ovs_dir(), &wiring.nics)
    }

    /// Unplugs a VM as Nova does when it deletes the instance: os-vif's unplug (`qvo` off
    /// the integration bridge, `qbr` and the veth deleted), then the VM and its tap go. The
    /// port stays (Nova deletes it separately).
    pub fn unplug_vm(&self, booted: super::BootedVm) -> Result<()> {
        let host = self.host(&booted.host)?;
        let port_id = booted.port_id().to_string();
        vif::unplug(host, &booted.vif, &port_id)?;
        self.tb.remove_vm(booted.vm)
    }
}

/// The agent flags for a host of `mechanism` with `nics` (`(physnet, NIC)`): `--physical-
/// interface-mappings physnet:eth2` on a Linux-bridge host; on an OVS host (whose OVS lives in
/// `ovs_dir`) `--mechanism openvswitch`, `--ovs-rundir`, the netdev datapath, the hybrid plug
/// choice and `--bridge-mappings physnet:br-eth2`.
fn agent_args(mechanism: Mechanism, ovs_dir: Option<&Path>, nics: &[(String, String)]) -> Vec<String> {
    let mut args: Vec<String> = Vec::new();
    match (mechanism, ovs_dir) {
        (Mechanism::OpenVswitch { hybrid_plug }, Some(dir)) => {
            args.extend(["--mechanism".into(), "openvswitch".into()]);
            args.extend(["--ovs-rundir".into(), dir.display().to_string()]);
            args.extend(["--ovs-datapath-type".into(), "netdev".into()]);
            args.extend(["--ovs-hybrid-plug".into(), hybrid_plug.to_string()]);
            if !nics.is_empty() {
                let maps: Vec<String> = nics.iter().map(|(p, nic)| format!("{p}:{}", nic_bridge(nic))).collect();
                args.extend(["--bridge-mappings".into(), maps.join(",")]);
            }
        }
        _ if !nics.is_empty() => {
            let maps: Vec<String> = nics.iter().map(|(p, nic)| format!("{p}:{nic}")).collect();
            args.extend(["--physical-interface-mappings".into(), maps.join(",")]);
        }
        _ => {}
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_flags_follow_the_mechanism() {
        let nics = [("external".to_string(), "eth1".to_string()), ("physnet1".to_string(), "eth2".to_string())];
        assert!(agent_args(Mechanism::LinuxBridge, None, &[]).is_empty());
        assert_eq!(
            agent_args(Mechanism::LinuxBridge, None, &nics),
            ["--physical-interface-mappings", "external:eth1,physnet1:eth2"]
        );
        let ovs = Mechanism::OpenVswitch { hybrid_plug: true };
        let args = agent_args(ovs, Some(Path::new("/tmp/tb/ovs-h1")), &nics).join(" ");
        assert_eq!(
            args,
            "--mechanism openvswitch --ovs-rundir /tmp/tb/ovs-h1 --ovs-datapath-type netdev --ovs-hybrid-plug true \
             --bridge-mappings external:br-eth1,physnet1:br-eth2"
        );
        let plain = Mechanism::OpenVswitch { hybrid_plug: false };
        assert!(agent_args(plain, Some(Path::new("/d")), &[]).join(" ").ends_with("--ovs-hybrid-plug false"));
    }
}
