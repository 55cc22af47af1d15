//! `--mechanism` and the Open vSwitch keys of `neutrino agent`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::{invalid, StartError};
use crate::ovs::{OvsConfig, MAX_MAPPED_BRIDGE, MAX_NAME};

/// The Open vSwitch flags (each also a key of the config file).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OvsArgs {
    /// `linuxbridge` (default) or `openvswitch`: which L2 mechanism wires this host.
    #[arg(long)]
    pub mechanism: Option<String>,
    /// Open vSwitch: ovs-vswitchd's run directory, with `db.sock` and the bridges'
    /// `<bridge>.mgmt` sockets (default /var/run/openvswitch).
    #[arg(long)]
    pub ovs_rundir: Option<PathBuf>,
    /// Open vSwitch: `physnet:bridge` for flat and VLAN networks, each bridge made by the
    /// operator with the physical NIC in it; repeat or comma-separate.
    #[arg(long = "bridge-mappings", value_delimiter = ',')]
    pub bridge_mappings: Vec<String>,
    /// Open vSwitch: `system` (default, the kernel datapath) or `netdev` (userspace), for
    /// the bridges the agent creates.
    #[arg(long)]
    pub ovs_datapath_type: Option<String>,
    /// Open vSwitch: VM taps sit in a Linux bridge (`qbr…`) that nftables filters (default
    /// true; false needs --no-security-groups).
    #[arg(long)]
    pub ovs_hybrid_plug: Option<bool>,
    /// Open vSwitch: the bridge every port joins (default br-int).
    #[arg(long)]
    pub integration_bridge: Option<String>,
    /// Open vSwitch: the bridge of the VXLAN tunnels (default br-tun).
    #[arg(long)]
    pub tunnel_bridge: Option<String>,
}

impl OvsArgs {
    /// Flags over the file's keys (`file` holds the same keys, read from TOML).
    pub(super) fn or(self, file: OvsArgs) -> OvsArgs {
        OvsArgs {
            mechanism: self.mechanism.or(file.mechanism),
            ovs_rundir: self.ovs_rundir.or(file.ovs_rundir),
            bridge_mappings: if self.bridge_mappings.is_empty() { file.bridge_mappings } else { self.bridge_mappings },
            ovs_datapath_type: self.ovs_datapath_type.or(file.ovs_datapath_type),
            ovs_hybrid_plug: self.ovs_hybrid_plug.or(file.ovs_hybrid_plug),
            integration_bridge: self.integration_bridge.or(file.integration_bridge),
            tunnel_bridge: self.tunnel_bridge.or(file.tunnel_bridge),
        }
    }

    /// The Open vSwitch configuration, `None` for linuxbridge. `filtered`: security groups
    /// are on.
    pub(super) fn resolve(self, filtered: bool, interface_mappings: bool) -> Result<Option<OvsConfig>, StartError> {
        match self.mechanism.as_deref().unwrap_or("linuxbridge") {
            "linuxbridge" => {
                let ovs_only = !self.bridge_mappings.is_empty() || self.ovs_datapath_type.is_some();
                if ovs_only {
                    return Err(invalid(
                        "mechanism",
                        "bridge_mappings and ovs_* keys need --mechanism openvswitch".into(),
                    ));
                }
                return Ok(None);
            }
            "openvswitch" => {}
            other => return Err(invalid("mechanism", format!("'{other}' is not linuxbridge or openvswitch"))),
        }
        if interface_mappings {
            return Err(invalid(
                "physical_interface_mappings",
                "Open vSwitch reaches physical networks through bridge_mappings".into(),
            ));
        }
        let mut cfg = OvsConfig { bridge_mappings: bridge_mappings(&self.bridge_mappings)?, ..OvsConfig::default() };
        if let Some(dir) = self.ovs_rundir {
            cfg.rundir = dir;
        }
        match self.ovs_datapath_type.as_deref() {
            None => {}
            Some(t @ ("system" | "netdev")) => cfg.datapath_type = t.into(),
            Some(other) => return Err(invalid("ovs_datapath_type", format!("'{other}' is not system or netdev"))),
        }
        cfg.hybrid_plug = self.ovs_hybrid_plug.unwrap_or(true);
        if !cfg.hybrid_plug && filtered {
            return Err(invalid(
                "ovs_hybrid_plug",
                "without the hybrid plug no Linux bridge carries the tap, so nftables cannot filter it: \
                 add --no-security-groups"
                    .into(),
            ));
        }
        for (key, value, slot) in [
            ("integration_bridge", self.integration_bridge, &mut cfg.integration_bridge),
            ("tunnel_bridge", self.tunnel_bridge, &mut cfg.tunnel_bridge),
        ] {
            if let Some(name) = value {
                if name.is_empty() || name.len() > MAX_NAME {
                    return Err(invalid(key, format!("'{name}' is not a bridge name of 1 to {MAX_NAME} characters")));
                }
                *slot = name;
            }
        }
        if cfg.integration_bridge == cfg.tunnel_bridge
            || cfg.bridge_mappings.values().any(|b| *b == cfg.integration_bridge || *b == cfg.tunnel_bridge)
        {
            return Err(invalid("bridge_mappings", "the integration, tunnel and physical bridges must differ".into()));
        }
        Ok(Some(cfg))
    }
}

/// `physnet:bridge` entries, each physnet and bridge once; a bridge name leaves room for
/// Neutron's `int-`/`phy-` patch port names (15 characters).
fn bridge_mappings(mappings: &[String]) -> Result<BTreeMap<String, String>, StartError> {
    let mut out = BTreeMap::new();
    for m in mappings.iter().flat_map(|m| m.split(',')).map(str::trim).filter(|m| !m.is_empty()) {
        let (physnet, bridge) = m
            .split_once(':')
            .filter(|(p, b)| !p.is_empty() && !b.is_empty())
            .ok_or_else(|| invalid("bridge_mappings", format!("'{m}' is not physnet:bridge")))?;
        if bridge.len() > MAX_MAPPED_BRIDGE {
            return Err(invalid(
                "bridge_mappings",
                format!("bridge {bridge}: at most {MAX_MAPPED_BRIDGE} characters, so int-{bridge} fits a device name"),
            ));
        }
        if out.values().any(|b| b == bridge) || out.insert(physnet.to_string(), bridge.to_string()).is_some() {
            return Err(invalid("bridge_mappings", format!("'{m}': each physnet and bridge once")));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ovs() -> OvsArgs {
        OvsArgs { mechanism: Some("openvswitch".into()), ..OvsArgs::default() }
    }

    #[test]
    fn linuxbridge_is_the_default_and_refuses_ovs_keys() {
        assert_eq!(OvsArgs::default().resolve(true, true).unwrap(), None);
        let stray = OvsArgs { bridge_mappings: vec!["p:br-eth1".into()], ..OvsArgs::default() };
        assert!(stray.resolve(true, false).unwrap_err().to_string().contains("openvswitch"));
        let bad = OvsArgs { mechanism: Some("ovn".into()), ..OvsArgs::default() };
        assert!(bad.resolve(true, false).is_err());
    }

    #[test]
    fn openvswitch_keys_resolve_with_neutrons_defaults() {
        let cfg = ovs().resolve(true, false).unwrap().unwrap();
        assert_eq!(cfg, OvsConfig::default());
        assert_eq!(
            (cfg.integration_bridge.as_str(), cfg.datapath_type.as_str(), cfg.hybrid_plug),
            ("br-int", "system", true)
        );
        let a = OvsArgs {
            bridge_mappings: vec!["physnet1:br-eth1,physnet2:br-eth2".into()],
            ovs_rundir: Some("/tmp/h1/ovs".into()),
            ovs_datapath_type: Some("netdev".into()),
            ..ovs()
        };
        let cfg = a.resolve(true, false).unwrap().unwrap();
        assert_eq!(cfg.bridge_mappings["physnet2"], "br-eth2");
        assert_eq!((cfg.rundir, cfg.datapath_type), (PathBuf::from("/tmp/h1/ovs"), "netdev".to_string()));
    }

    #[test]
    fn openvswitch_refuses_what_it_cannot_do() {
        let no_plug = OvsArgs { ovs_hybrid_plug: Some(false), ..ovs() };
        assert!(no_plug.clone().resolve(true, false).unwrap_err().to_string().contains("no-security-groups"));
        assert!(!no_plug.resolve(false, false).unwrap().unwrap().hybrid_plug);
        assert!(ovs().resolve(true, true).unwrap_err().to_string().contains("bridge_mappings"));
        for bad in ["physnet1", "p:br-very-long-1", "p:br-a,p:br-b", "p:br-a,q:br-a", "p:br-int"] {
            let a = OvsArgs { bridge_mappings: vec![bad.into()], ..ovs() };
            assert!(a.resolve(true, false).is_err(), "{bad}");
        }
        let dp = OvsArgs { ovs_datapath_type: Some("dpdk".into()), ..ovs() };
        assert!(dp.resolve(true, false).is_err());
    }
}
