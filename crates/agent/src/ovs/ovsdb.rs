//! The agent's view of ovsdb (bridges, their ports and interfaces) and its writes to it,
//! through `ovs-vsctl`.
//!
//! Why `ovs-vsctl` and not an RFC 7047 JSON-RPC client: a correct client (monitors,
//! transactions with `wait`, named UUIDs, the OVSDB JSON notation both ways) is a project
//! of its own, while ovs-vsctl already gives what the agent needs: `--` chained commands
//! are one ovsdb transaction, `--may-exist`/`--if-exists` make them idempotent, and by
//! default it waits until ovs-vswitchd has applied the change (so a port it added has its
//! OpenFlow port number when it returns, and flows may name it). It reads with
//! `--format=json`, which is decoded into the typed rows below.

use std::collections::BTreeMap;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::exec::{run, OvsError};

/// What the agent reads of ovsdb: every bridge, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OvsState {
    pub bridges: BTreeMap<String, BridgeRow>,
}

impl OvsState {
    /// The ports of `bridge` (none when it does not exist).
    pub fn ports(&self, bridge: &str) -> impl Iterator<Item = &PortRow> {
        self.bridges.get(bridge).into_iter().flat_map(|b| b.ports.values())
    }

    /// Whether `bridge` has a port `port`.
    pub fn has_port(&self, bridge: &str, port: &str) -> bool {
        self.bridges.get(bridge).is_some_and(|b| b.ports.contains_key(port))
    }

    /// Whether `bridge` has a port `port` that OpenFlow can name.
    pub fn has_live_port(&self, bridge: &str, port: &str) -> bool {
        self.bridges.get(bridge).and_then(|b| b.ports.get(port)).is_some_and(PortRow::is_live)
    }
}

/// A row of the Bridge table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BridgeRow {
    pub name: String,
    /// `system`, `netdev`, or empty (OVS's default, `system`).
    pub datapath_type: String,
    /// The OpenFlow versions it allows (empty: OVS's default).
    pub protocols: Vec<String>,
    /// Its ports, by name.
    pub ports: BTreeMap<String, PortRow>,
}

/// A row of the Port table with its interfaces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PortRow {
    pub name: String,
    /// The access VLAN (`tag`), if any.
    pub tag: Option<u16>,
    pub other_config: BTreeMap<String, String>,
    pub interfaces: Vec<InterfaceRow>,
}

impl PortRow {
    /// Whether ovs-vswitchd gave every interface of the port an OpenFlow port number (a
    /// port whose device is gone has -1, and OpenFlow cannot name it).
    pub fn is_live(&self) -> bool {
        !self.interfaces.is_empty() && self.interfaces.iter().all(|i| i.ofport.is_some_and(|o| o > 0))
    }
}

/// A row of the Interface table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InterfaceRow {
    pub name: String,
    /// `type`: empty for a system device, `internal`, `patch`, `vxlan`...
    pub kind: String,
    pub options: BTreeMap<String, String>,
    pub external_ids: BTreeMap<String, String>,
    /// The OpenFlow port number; `None` until ovs-vswitchd assigned one, -1 when it could
    /// not open the device.
    pub ofport: Option<i64>,
}

/// One ovs-vsctl command; a list of them is one ovsdb transaction.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum VsctlCommand {
    /// Creates `name` if missing, with the datapath, OpenFlow versions and fail mode the
    /// agent's flows need (`secure`: no flows, no traffic, as Neutron sets its bridges).
    AddBridge {
        name: String,
        datapath_type: String,
    },
    /// Allows the OpenFlow versions the agent speaks on an operator's bridge.
    SetProtocols {
        bridge: String,
    },
    /// One end of a patch pair.
    AddPatch {
        bridge: String,
        name: String,
        peer: String,
    },
    /// A VXLAN port to one peer, the VNI chosen by flows (`key=flow`).
    AddTunnel {
        bridge: String,
        name: String,
        local_ip: IpAddr,
        remote_ip: IpAddr,
    },
    DelPort {
        bridge: String,
        name: String,
    },
    /// The host end of a DHCP or router port's veth pair, plugged as Nova plugs a VM
    /// (`iface-id`, `attached-mac`) and marked as the agent's, so it unplugs it too.
    AddServicePort {
        bridge: String,
        name: String,
        port_id: String,
        mac: String,
    },
    /// A VM or service port's local VLAN and the network it carries (Neutron's keys).
    SetPort {
        name: String,
        tag: u16,
        other_config: BTreeMap<String, String>,
    },
}

/// The Interface `external_ids` key marking a port the agent plugged (and may unplug).
pub const OWNER_KEY: &str = "neutrino-owned";

/// The OpenFlow versions the agent's bridges allow (bundles need 1.4).
pub const PROTOCOLS: &str = "OpenFlow10,OpenFlow13,OpenFlow14";

impl VsctlCommand {
    /// Its ovs-vsctl arguments (after `--`).
    fn args(&self) -> Vec<String> {
        let s = |v: &[&str]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
        match self {
            VsctlCommand::AddBridge { name, datapath_type } => {
                let mut a = s(&["--may-exist", "add-br", name, "--", "set", "Bridge", name]);
                a.extend([format!("datapath_type={datapath_type}"), "fail_mode=secure".into()]);
                a.push(format!("protocols={PROTOCOLS}"));
                a
            }
            VsctlCommand::SetProtocols { bridge } => s(&["set", "Bridge", bridge, &format!("protocols={PROTOCOLS}")]),
            VsctlCommand::AddPatch { bridge, name, peer } => s(&[
                "--may-exist",
                "add-port",
                bridge,
                name,
                "--",
                "set",
                "Interface",
                name,
                "type=patch",
                &format!("options:peer={}", quoted(peer)),
            ]),
            VsctlCommand::AddTunnel { bridge, name, local_ip, remote_ip } => {
                let mut a = s(&["--may-exist", "add-port", bridge, name, "--", "set", "Interface", name, "type=vxlan"]);
                a.extend([
                    format!("options:local_ip={}", quoted(&local_ip.to_string())),
                    format!("options:remote_ip={}", quoted(&remote_ip.to_string())),
                    "options:in_key=flow".into(),
                    "options:out_key=flow".into(),
                    "options:df_default=true".into(),
                ]);
                a
            }
            VsctlCommand::DelPort { bridge, name } => s(&["--if-exists", "del-port", bridge, name]),
            VsctlCommand::AddServicePort { bridge, name, port_id, mac } => {
                let mut a = s(&["--may-exist", "add-port", bridge, name, "--", "set", "Interface", name]);
                a.extend([
                    format!("external_ids:iface-id={}", quoted(port_id)),
                    format!("external_ids:attached-mac={}", quoted(mac)),
                    format!("external_ids:{OWNER_KEY}=true"),
                ]);
                a
            }
            VsctlCommand::SetPort { name, tag, other_config } => {
                let mut a = s(&["set", "Port", name, &format!("tag={tag}")]);
                a.extend(other_config.iter().map(|(k, v)| format!("other_config:{k}={}", quoted(v))));
                a
            }
        }
    }
}

impl std::fmt::Display for VsctlCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ovs-vsctl {}", self.args().join(" "))
    }
}

/// An ovsdb string in ovs-vsctl's syntax (quoted, so ids starting with a digit stay strings).
fn quoted(v: &str) -> String {
    serde_json::Value::String(v.to_string()).to_string()
}

/// Read and write access to the local ovsdb.
pub trait Ovsdb: Send + Sync {
    /// Every bridge with its ports and interfaces.
    fn read(&self) -> impl Future<Output = Result<OvsState, OvsError>> + Send;
    /// Runs `commands` as one transaction (all or nothing).
    fn transact(&self, commands: &[VsctlCommand]) -> impl Future<Output = Result<(), OvsError>> + Send;
}

/// [`Ovsdb`] through `ovs-vsctl --db=unix:<rundir>/db.sock`.
#[derive(Debug, Clone)]
pub struct Vsctl {
    db: String,
    timeout: Duration,
}

impl Vsctl {
    pub fn new(rundir: &std::path::Path, timeout: Duration) -> Self {
        let socket: PathBuf = rundir.join("db.sock");
        Vsctl { db: format!("--db=unix:{}", socket.display()), timeout }
    }

    fn base(&self) -> Vec<String> {
        // ovs-vsctl's own timeout too, so it gives up (and says so) before being killed.
        vec![self.db.clone(), format!("--timeout={}", self.timeout.as_secs().max(1))]
    }
}

impl Ovsdb for Vsctl {
    async fn read(&self) -> Result<OvsState, OvsError> {
        let mut args = self.base();
        args.push("--format=json".into());
        for (columns, table) in [
            ("name,datapath_type,protocols,ports", "Bridge"),
            ("_uuid,name,tag,other_config,interfaces", "Port"),
            ("_uuid,name,type,options,external_ids,ofport", "Interface"),
        ] {
            args.extend(["--".into(), format!("--columns={columns}"), "list".into(), table.into()]);
        }
        let out = run("ovs-vsctl", &args, None, None, self.timeout).await?;
        decode(&out).map_err(|reason| OvsError::Output { program: "ovs-vsctl", reason })
    }

    async fn transact(&self, commands: &[VsctlCommand]) -> Result<(), OvsError> {
        if commands.is_empty() {
            return Ok(());
        }
        let mut args = self.base();
        for c in commands {
            args.push("--".into());
            args.extend(c.args());
        }
        run("ovs-vsctl", &args, None, None, self.timeout).await.map(drop)
    }
}

/// One `list` answer in `--format=json`.
#[derive(Deserialize)]
struct Table {
    headings: Vec<String>,
    data: Vec<Vec<Value>>,
}

impl Table {
    fn rows(&self) -> impl Iterator<Item = BTreeMap<&str, &Value>> {
        self.data.iter().map(|row| self.headings.iter().map(String::as_str).zip(row).collect())
    }
}

/// Decodes the three `list` answers of [`Vsctl::read`] (Bridge, Port, Interface).
pub(crate) fn decode(out: &str) -> Result<OvsState, String> {
    let tables: Vec<Table> =
        serde_json::Deserializer::from_str(out).into_iter().collect::<Result<_, _>>().map_err(|e| e.to_string())?;
    let [bridges, ports, interfaces] =
        <[Table; 3]>::try_from(tables).map_err(|t| format!("{} tables, not 3", t.len()))?;
    let interfaces: BTreeMap<String, InterfaceRow> = interfaces
        .rows()
        .map(|r| {
            let iface = InterfaceRow {
                name: string(r.get("name")),
                kind: string(r.get("type")),
                options: map(r.get("options")),
                external_ids: map(r.get("external_ids")),
                ofport: set(r.get("ofport")).first().and_then(|v| v.as_i64()),
            };
            (uuid(r.get("_uuid").copied()), iface)
        })
        .collect();
    let ports: BTreeMap<String, PortRow> = ports
        .rows()
        .map(|r| {
            let port = PortRow {
                name: string(r.get("name")),
                tag: set(r.get("tag")).first().and_then(|v| v.as_u64()).and_then(|t| u16::try_from(t).ok()),
                other_config: map(r.get("other_config")),
                interfaces: set(r.get("interfaces"))
                    .iter()
                    .filter_map(|u| interfaces.get(&uuid(Some(u))).cloned())
                    .collect(),
            };
            (uuid(r.get("_uuid").copied()), port)
        })
        .collect();
    let bridges = bridges
        .rows()
        .map(|r| {
            let members = set(r.get("ports"));
            let ports = members.iter().filter_map(|u| ports.get(&uuid(Some(u))).cloned());
            let bridge = BridgeRow {
                name: string(r.get("name")),
                datapath_type: string(r.get("datapath_type")),
                protocols: set(r.get("protocols")).iter().map(|v| string(Some(v))).collect(),
                ports: ports.map(|p| (p.name.clone(), p)).collect(),
            };
            (bridge.name.clone(), bridge)
        })
        .collect();
    Ok(OvsState { bridges })
}

/// An atom as text (strings as they are, numbers and booleans printed).
fn string(v: Option<&&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

/// `["uuid", "<id>"]`.
fn uuid(v: Option<&Value>) -> String {
    v.and_then(|v| v.get(1)).and_then(Value::as_str).unwrap_or_default().to_string()
}

/// The members of `["set", [...]]`, or the one atom a single-member set is written as.
fn set<'a>(v: Option<&&'a Value>) -> Vec<&'a Value> {
    match v {
        Some(Value::Array(a)) if a.first().and_then(Value::as_str) == Some("set") => {
            a.get(1).and_then(Value::as_array).map(|m| m.iter().collect()).unwrap_or_default()
        }
        Some(v) => vec![*v],
        None => Vec::new(),
    }
}

/// `["map", [[k, v], ...]]`.
fn map(v: Option<&&Value>) -> BTreeMap<String, String> {
    let pairs = v.and_then(|v| v.get(1)).and_then(Value::as_array).cloned().unwrap_or_default();
    pairs
        .iter()
        .filter_map(|p| Some((p.get(0)?, p.get(1)?)))
        .map(|(k, v)| (string(Some(&k)), string(Some(&v))))
        .collect()
}

#[cfg(test)]
mod tests;
