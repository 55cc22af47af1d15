//! The real switch: ovsdb through ovs-vsctl, flows through ovs-ofctl, and the start-up
//! check of the operator's bridges.

use super::exec::OvsError;
use super::openflow::{Flow, Ofctl, OpenFlow};
use super::ovsdb::{OvsState, Ovsdb, Vsctl, VsctlCommand};
use super::OvsConfig;

/// ovs-vsctl and ovs-ofctl against one ovs-vswitchd.
#[derive(Debug, Clone)]
pub struct OvsSwitch {
    vsctl: Vsctl,
    ofctl: Ofctl,
}

impl OvsSwitch {
    pub fn new(cfg: &OvsConfig) -> Self {
        OvsSwitch { vsctl: Vsctl::new(&cfg.rundir, cfg.timeout), ofctl: Ofctl::new(&cfg.rundir, cfg.timeout) }
    }
}

impl Ovsdb for OvsSwitch {
    async fn read(&self) -> Result<OvsState, OvsError> {
        self.vsctl.read().await
    }

    async fn transact(&self, commands: &[VsctlCommand]) -> Result<(), OvsError> {
        self.vsctl.transact(commands).await
    }
}

impl OpenFlow for OvsSwitch {
    async fn replace_flows(&self, bridge: &str, flows: &[Flow]) -> Result<(), OvsError> {
        self.ofctl.replace_flows(bridge, flows).await
    }

    async fn dump_flows(&self, bridge: &str) -> Result<Vec<String>, OvsError> {
        self.ofctl.dump_flows(bridge).await
    }
}

/// Why the agent refuses to start with Open vSwitch.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot read Open vSwitch's database")]
    Read(#[source] OvsError),
    /// Neutron's `setup_physical_bridges` exits the same way: the operator makes them.
    #[error(
        "bridge {bridge} of bridge_mappings (physnet {physnet}) does not exist; create it with its physical interface"
    )]
    MissingBridge { physnet: String, bridge: String },
}

/// ovsdb answers and every mapped bridge exists.
pub async fn check(switch: &impl Ovsdb, cfg: &OvsConfig) -> Result<(), StartupError> {
    let state = switch.read().await.map_err(StartupError::Read)?;
    for (physnet, bridge) in &cfg.bridge_mappings {
        if !state.bridges.contains_key(bridge) {
            return Err(StartupError::MissingBridge { physnet: physnet.clone(), bridge: bridge.clone() });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovs::fake::FakeSwitch;

    #[tokio::test]
    async fn refuses_to_start_without_a_mapped_bridge() {
        let cfg = OvsConfig {
            bridge_mappings: [("physnet1".to_string(), "br-eth1".to_string())].into(),
            ..OvsConfig::default()
        };
        let sw = FakeSwitch::default();
        let e = check(&sw, &cfg).await.unwrap_err();
        assert!(e.to_string().contains("br-eth1"), "{e}");
        sw.add_bridge("br-eth1");
        check(&sw, &cfg).await.unwrap();
    }
}
