//! An in-memory switch with [`Ovsdb`] and [`OpenFlow`]: what the planner and reconciler
//! tests run against. It applies the commands as ovs-vsctl would (`--may-exist`,
//! `--if-exists`, one transaction all or nothing) and, like ovs-ofctl, refuses a flow
//! table naming a port the bridge does not have.

use std::collections::BTreeMap;
use std::sync::Mutex;

use super::exec::OvsError;
use super::openflow::{Flow, OpenFlow};
use super::ovsdb::{BridgeRow, InterfaceRow, OvsState, Ovsdb, PortRow, VsctlCommand, PROTOCOLS};

#[derive(Debug, Default)]
pub struct FakeSwitch {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    db: OvsState,
    flows: BTreeMap<String, Vec<Flow>>,
    next_ofport: i64,
    /// Every transaction and flow replacement, in order, for the tests.
    log: Vec<String>,
    /// Fails the next transaction (an ovsdb-server restart, say).
    fail_next_transact: bool,
}

impl FakeSwitch {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds a bridge as an operator would (`ovs-vsctl add-br`).
    pub fn add_bridge(&self, name: &str) {
        let mut i = self.lock();
        let port = i.port(name, "internal");
        i.db.bridges.insert(
            name.into(),
            BridgeRow { name: name.into(), ports: [(name.into(), port)].into(), ..BridgeRow::default() },
        );
    }

    /// Plugs a device into `bridge` with `external_ids`, as Nova (os-vif) does: creating
    /// the bridge first if it is missing (os-vif's `--may-exist add-br`).
    pub fn plug(&self, bridge: &str, name: &str, external_ids: &[(&str, &str)]) {
        if !self.lock().db.bridges.contains_key(bridge) {
            self.add_bridge(bridge);
        }
        let mut i = self.lock();
        let mut port = i.port(name, "");
        port.interfaces[0].external_ids = external_ids.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(b) = i.db.bridges.get_mut(bridge) {
            b.ports.insert(name.into(), port);
        }
    }

    /// Removes a port, as a hypervisor unplugging a VM does.
    pub fn unplug(&self, bridge: &str, name: &str) {
        if let Some(b) = self.lock().db.bridges.get_mut(bridge) {
            b.ports.remove(name);
        }
    }

    /// The device of a port disappears (ovs-vswitchd reports `ofport` -1).
    pub fn lose_device(&self, bridge: &str, name: &str) {
        let mut i = self.lock();
        if let Some(port) = i.db.bridges.get_mut(bridge).and_then(|b| b.ports.get_mut(name)) {
            port.interfaces.iter_mut().for_each(|i| i.ofport = Some(-1));
        }
    }

    pub fn state(&self) -> OvsState {
        self.lock().db.clone()
    }

    pub fn flows(&self, bridge: &str) -> Vec<Flow> {
        self.lock().flows.get(bridge).cloned().unwrap_or_default()
    }

    /// The transactions and replacements made so far, then forgets them.
    pub fn take_log(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().log)
    }

    pub fn fail_next_transact(&self) {
        self.lock().fail_next_transact = true;
    }
}

impl Inner {
    fn port(&mut self, name: &str, kind: &str) -> PortRow {
        self.next_ofport += 1;
        let ofport = if kind == "internal" { 65534 } else { self.next_ofport };
        let iface =
            InterfaceRow { name: name.into(), kind: kind.into(), ofport: Some(ofport), ..InterfaceRow::default() };
        PortRow { name: name.into(), interfaces: vec![iface], ..PortRow::default() }
    }

    fn apply(&mut self, c: &VsctlCommand) -> Result<(), String> {
        match c {
            VsctlCommand::AddBridge { name, datapath_type } => {
                if !self.db.bridges.contains_key(name) {
                    let port = self.port(name, "internal");
                    let ports = [(name.clone(), port)].into();
                    let protocols = PROTOCOLS.split(',').map(String::from).collect();
                    let row = BridgeRow { name: name.clone(), datapath_type: datapath_type.clone(), protocols, ports };
                    self.db.bridges.insert(name.clone(), row);
                }
            }
            VsctlCommand::SetProtocols { bridge } => {
                let b = self.db.bridges.get_mut(bridge).ok_or(format!("no bridge named {bridge}"))?;
                b.protocols = PROTOCOLS.split(',').map(String::from).collect();
            }
            VsctlCommand::AddPatch { bridge, name, peer } => {
                let mut port = self.port(name, "patch");
                port.interfaces[0].options.insert("peer".into(), peer.clone());
                self.add_port(bridge, port)?;
            }
            VsctlCommand::AddTunnel { bridge, name, local_ip, remote_ip } => {
                let mut port = self.port(name, "vxlan");
                let options = &mut port.interfaces[0].options;
                options.insert("local_ip".into(), local_ip.to_string());
                options.insert("remote_ip".into(), remote_ip.to_string());
                self.add_port(bridge, port)?;
            }
            VsctlCommand::AddServicePort { bridge, name, port_id, mac } => {
                let mut port = self.port(name, "");
                let ids = &mut port.interfaces[0].external_ids;
                ids.insert("iface-id".into(), port_id.clone());
                ids.insert("attached-mac".into(), mac.clone());
                ids.insert(super::ovsdb::OWNER_KEY.into(), "true".into());
                self.add_port(bridge, port)?;
            }
            VsctlCommand::DelPort { bridge, name } => {
                if let Some(b) = self.db.bridges.get_mut(bridge) {
                    b.ports.remove(name);
                }
            }
            VsctlCommand::SetPort { name, tag, other_config } => {
                let port = self.db.bridges.values_mut().find_map(|b| b.ports.get_mut(name));
                let port = port.ok_or(format!("no row \"{name}\" in table Port"))?;
                port.tag = Some(*tag);
                port.other_config.extend(other_config.clone());
            }
        }
        Ok(())
    }

    fn add_port(&mut self, bridge: &str, port: PortRow) -> Result<(), String> {
        let b = self.db.bridges.get_mut(bridge).ok_or(format!("no bridge named {bridge}"))?;
        b.ports.entry(port.name.clone()).or_insert(port);
        Ok(())
    }
}

fn failed(program: &'static str, verb: &str, stderr: String) -> OvsError {
    OvsError::Failed { program, verb: verb.into(), status: "exit status: 1".into(), stderr }
}

impl Ovsdb for FakeSwitch {
    async fn read(&self) -> Result<OvsState, OvsError> {
        Ok(self.state())
    }

    async fn transact(&self, commands: &[VsctlCommand]) -> Result<(), OvsError> {
        let mut i = self.lock();
        if std::mem::take(&mut i.fail_next_transact) {
            return Err(failed("ovs-vsctl", "set", "database connection failed".into()));
        }
        // All or nothing, as one ovsdb transaction.
        let (before, ofport) = (i.db.clone(), i.next_ofport);
        for c in commands {
            if let Err(e) = i.apply(c) {
                (i.db, i.next_ofport) = (before, ofport);
                return Err(failed("ovs-vsctl", "transact", e));
            }
        }
        i.log.extend(commands.iter().map(ToString::to_string));
        Ok(())
    }
}

impl OpenFlow for FakeSwitch {
    async fn replace_flows(&self, bridge: &str, flows: &[Flow]) -> Result<(), OvsError> {
        let mut i = self.lock();
        let b =
            i.db.bridges
                .get(bridge)
                .ok_or_else(|| failed("ovs-ofctl", "replace-flows", format!("{bridge} is not a bridge")))?;
        for f in flows {
            let text = f.to_string();
            for name in text.split('"').skip(1).step_by(2) {
                if !b.ports.get(name).is_some_and(PortRow::is_live) {
                    return Err(failed("ovs-ofctl", "replace-flows", format!("{name}: invalid or unknown port")));
                }
            }
        }
        if i.flows.get(bridge).map(Vec::as_slice) != Some(flows) {
            i.log.push(format!("replace-flows {bridge} ({} flows)", flows.len()));
            i.flows.insert(bridge.into(), flows.to_vec());
        }
        Ok(())
    }

    async fn dump_flows(&self, bridge: &str) -> Result<Vec<String>, OvsError> {
        Ok(self.flows(bridge).iter().map(ToString::to_string).collect())
    }
}
