//! Open vSwitch hosts: an ovsdb-server and an ovs-vswitchd per simulated host, inside the
//! host's namespaces, on the userspace datapath.
//!
//! The machine has no `openvswitch` kernel module, so every bridge is `datapath_type=netdev`:
//! ovs-vswitchd itself moves the packets, reading and writing the host's devices through
//! `AF_PACKET` sockets (internal ports are tap devices). That shapes a host:
//!
//! ```text
//!   nt<tag>-h1: ovsdb-server, ovs-vswitchd (OVS_RUNDIR = <log dir>/ovs-h1)
//!     br-phy (netdev, internal port carries 198.18.1.1/16) ── eth0 ═ ul-1-1 in the fabric
//!     br-eth1 (netdev) ── eth1 ═ the external network   (a network node)
//!     br-eth2 (netdev) ── eth2 ═ physnet `physnet1`      (Testbed::connect_physnet)
//!     br-int, br-tun, patch ports, flows: the agent's (`--mechanism openvswitch`)
//! ```
//!
//! * The underlay address lives on `br-phy`'s internal port, not on `eth0`: a userspace VXLAN
//!   port sends its packets by routing the remote endpoint through OVS's own tables, which only
//!   know addresses on netdev bridges (OVS's "userspace tunnelling" how-to).
//! * Checksums: a veth hands over TCP/UDP packets whose checksum the sender left for the NIC
//!   to compute; the userspace datapath reads them raw and never completes them. So the peer
//!   of every physical-like device of an OVS host (in the fabric, the external namespace, a
//!   physnet) and every VM's `eth0` on an OVS host transmit with `tx` checksum offload off
//!   (`ethtool -K … tx off`): the kernel then computes checksums before the packet crosses.
//!   Without it, pings work but TCP (the agent to the server, a guest's HTTP) does not.
//! * Nothing runs in the machine's own namespace: the daemons are started (not `--detach`ed)
//!   through [`crate::Testbed::spawn_in`], so they carry the testbed's tag and die with it,
//!   even when the test process was killed. Their files (`conf.db`, logs, sockets) sit in the
//!   host's directory under the testbed's log directory, kept with the logs of a failed test.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cmd::{self, find_program};
use crate::error::{Result, TestbedError};
use crate::host::{Host, UNDERLAY_DEV, UNDERLAY_PREFIX_LEN};
use crate::testbed::Testbed;
use crate::vm::Vm;
use crate::wait::wait_until;

/// The netdev bridge holding the underlay NIC and address of an OVS host.
pub const UNDERLAY_OVS_BRIDGE: &str = "br-phy";

/// The OVS database schema Debian's openvswitch-common installs.
const SCHEMA: &str = "/usr/share/openvswitch/vswitch.ovsschema";

/// (program, Debian package) pairs an OVS host needs.
const REQUIRED: [(&str, &str); 6] = [
    ("ovsdb-tool", "openvswitch-common"),
    ("ovsdb-server", "openvswitch-switch"),
    ("ovs-vswitchd", "openvswitch-switch"),
    ("ovs-vsctl", "openvswitch-switch"),
    ("ovs-ofctl", "openvswitch-common"),
    ("ethtool", "ethtool"),
];

/// Checks that this machine can run OVS hosts (on top of [`crate::preflight`]): the Open vSwitch
/// programs and schema, and `ethtool`.
pub fn ovs_preflight() -> Result<()> {
    crate::preflight()?;
    for (program, package) in REQUIRED {
        find_program(program).ok_or(TestbedError::MissingTool { program, package })?;
    }
    if !Path::new(SCHEMA).is_file() {
        return Err(TestbedError::MissingTool { program: SCHEMA, package: "openvswitch-common" });
    }
    Ok(())
}

/// The absolute path of `program`, one of the programs an OVS host needs: cargo may run tests
/// with a PATH without /usr/sbin, where ovsdb-server, ovs-vswitchd and ethtool live.
pub(crate) fn tool(program: &str) -> Result<PathBuf> {
    let (program, package) = REQUIRED
        .iter()
        .copied()
        .find(|(p, _)| *p == program)
        .ok_or_else(|| TestbedError::invalid(program, "not a program of an OVS host"))?;
    find_program(program).ok_or(TestbedError::MissingTool { program, package })
}

/// Turns off transmit checksum offload on a VM's `eth0`, as a VM on an OVS host needs (see the
/// module documentation).
pub fn vm_checksum_off(vm: &Vm) -> Result<()> {
    let ethtool = tool("ethtool")?;
    vm.exec_ok([ethtool.as_os_str(), "-K".as_ref(), "eth0".as_ref(), "tx".as_ref(), "off".as_ref()]).map(drop)
}

/// The environment every OVS program of the host runs with: its run, database, log and config
/// directories all in `dir`, so the tools find the host's own daemons by default.
pub(crate) fn env(dir: &Path) -> Vec<(OsString, OsString)> {
    ["OVS_RUNDIR", "OVS_DBDIR", "OVS_LOGDIR", "OVS_SYSCONFDIR"]
        .into_iter()
        .map(|k| (OsString::from(k), dir.as_os_str().to_os_string()))
        .collect()
}

impl Testbed {
    /// Adds a host (as [`Testbed::add_host`]) that runs Open vSwitch: ovsdb-server and
    /// ovs-vswitchd in its namespaces, and [`UNDERLAY_OVS_BRIDGE`] holding `eth0` and the
    /// underlay address. See the [module documentation](crate::ovs).
    pub fn add_ovs_host(&self, name: &str) -> Result<Host> {
        ovs_preflight()?;
        let mut host = self.add_host(name)?;
        let dir = self.log_dir().join(format!("ovs-{name}"));
        std::fs::create_dir_all(&dir).map_err(|e| TestbedError::io(format!("creating {}", dir.display()), e))?;
        self.start_ovs(&host, &dir)?;
        host.ovs_dir = Some(dir);
        self.move_underlay_to_ovs(&host)?;
        Ok(host)
    }

    /// ovsdb-server, then `ovs-vsctl init`, then ovs-vswitchd, each waited for.
    fn start_ovs(&self, host: &Host, dir: &Path) -> Result<()> {
        let db = dir.join("conf.db");
        let mut create = std::process::Command::new(tool("ovsdb-tool")?);
        create.arg("create").arg(&db).arg(SCHEMA);
        cmd::run(&mut create)?;
        let env_os = env(dir);
        let env: Vec<(String, String)> =
            env_os.iter().map(|(k, v)| (k.to_string_lossy().into(), v.to_string_lossy().into())).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let file = |f: &str| dir.join(f).display().to_string();
        let sock = file("db.sock");
        #[rustfmt::skip]
        let server = [
            db.display().to_string(), format!("--remote=punix:{sock}"),
            format!("--unixctl={}", file("ovsdb-server.ctl")), format!("--pidfile={}", file("ovsdb-server.pid")),
            format!("--log-file={}", file("ovsdb-server.log")),
        ];
        let ovsdb = self.spawn_in(host.netns(), tool("ovsdb-server")?, server, &env, None)?;
        // The socket file appears at bind(), a moment before ovsdb-server listens: retry.
        let vsctl = tool("ovs-vsctl")?;
        let init = [vsctl.as_os_str(), "--no-wait".as_ref(), "init".as_ref()];
        let inited = || Path::new(&sock).exists() && self.shared.exec_ok_env(host.netns(), init, &env_os).is_ok();
        wait_until(Duration::from_secs(10), Duration::from_millis(20), inited)
            .map_err(|_| ovs_down("ovsdb-server", &ovsdb.read_log()))?;
        #[rustfmt::skip]
        let vswitchd = [
            format!("unix:{sock}"), format!("--unixctl={}", file("ovs-vswitchd.ctl")),
            format!("--pidfile={}", file("ovs-vswitchd.pid")), format!("--log-file={}", file("ovs-vswitchd.log")),
        ];
        let vswitchd = self.spawn_in(host.netns(), tool("ovs-vswitchd")?, vswitchd, &env, None)?;
        let ctl = dir.join("ovs-vswitchd.ctl");
        wait_until(Duration::from_secs(10), Duration::from_millis(20), || ctl.exists())
            .map_err(|_| ovs_down("ovs-vswitchd", &vswitchd.read_log()))
    }

    /// `br-phy` (netdev) takes `eth0` and the underlay address; the fabric's end of the link
    /// stops offloading checksums.
    fn move_underlay_to_ovs(&self, host: &Host) -> Result<()> {
        let br = UNDERLAY_OVS_BRIDGE;
        #[rustfmt::skip]
        host.ovs(["ovs-vsctl", "--timeout=10", "--may-exist", "add-br", br, "--", "set", "bridge", br,
                  "datapath_type=netdev", "--", "--may-exist", "add-port", br, UNDERLAY_DEV])?;
        let [_, _, c, d] = host.underlay_ip().octets();
        self.checksum_off(self.fabric_netns(), &format!("ul-{c}-{d}"))?;
        let addr = format!("{}/{UNDERLAY_PREFIX_LEN}", host.underlay_ip());
        host.exec_ok(["ip", "addr", "del", &addr, "dev", UNDERLAY_DEV])?;
        host.exec_ok(["ip", "addr", "add", &addr, "dev", br])?;
        host.exec_ok(["ip", "link", "set", br, "up"])?;
        Ok(())
    }

    /// `ethtool -K <dev> tx off` in `netns` (see the module documentation).
    pub(crate) fn checksum_off(&self, netns: &str, dev: &str) -> Result<()> {
        let ethtool = tool("ethtool")?;
        self.shared
            .exec_ok(netns, [ethtool.as_os_str(), "-K".as_ref(), dev.as_ref(), "tx".as_ref(), "off".as_ref()])
            .map(drop)
    }

    /// On an OVS host, what an operator does for a NIC `nic` that carries a physical network:
    /// a netdev bridge `br-<nic>` holding it (what `--bridge-mappings physnet:br-<nic>` names),
    /// and no checksum offload at the other end of the wire (`peer` in `peer_netns`). Nothing
    /// on a Linux-bridge host (its agent takes the NIC itself).
    pub(crate) fn attach_nic(&self, host: &Host, nic: &str, peer_netns: &str, peer: &str) -> Result<()> {
        if host.ovs_dir().is_none() {
            return Ok(());
        }
        self.checksum_off(peer_netns, peer)?;
        let br = nic_bridge(nic);
        #[rustfmt::skip]
        host.ovs(["ovs-vsctl", "--timeout=10", "--may-exist", "add-br", &br, "--", "set", "bridge", &br,
                  "datapath_type=netdev", "--", "--may-exist", "add-port", &br, nic])?;
        host.exec_ok(["ip", "link", "set", &br, "up"]).map(drop)
    }

    /// Cables `host` to the physical network `physnet`: a namespace `nt<tag>-pn-<physnet>` with a
    /// plain Linux bridge `br-fabric` (made on first use; tagged frames cross it untouched, so
    /// `tcpdump -e` there shows the 802.1Q tags of a VLAN network), and a NIC `nic` (e.g. `eth2`)
    /// in the host, up, without an address. On an OVS host also `br-<nic>` ([`nic_bridge`]).
    /// Returns the physnet's namespace.
    pub fn connect_physnet(&self, host: &Host, physnet: &str, nic: &str) -> Result<String> {
        crate::ns::check_ifname(nic)?;
        let name = format!("pn-{physnet}");
        let netns = self.netns_name(&name);
        if !crate::ns::list_netns()?.contains(&netns) {
            self.shared.reserve(&name)?;
            self.shared.add_netns(&netns)?;
            let n = netns.as_str();
            cmd::ip(&["-n", n, "link", "set", "lo", "up"])?;
            cmd::ip(&["-n", n, "link", "add", "br-fabric", "type", "bridge"])?;
            cmd::ip(&["-n", n, "link", "set", "br-fabric", "up"])?;
        }
        let [_, _, c, d] = host.underlay_ip().octets();
        let port = format!("p{c}-{d}");
        let (p, h) = (netns.as_str(), host.netns());
        cmd::ip(&["-n", p, "link", "add", &port, "type", "veth", "peer", "name", nic, "netns", h])?;
        cmd::ip(&["-n", p, "link", "set", &port, "master", "br-fabric", "up"])?;
        cmd::ip(&["-n", h, "link", "set", nic, "up"])?;
        self.attach_nic(host, nic, p, &port)?;
        Ok(netns)
    }
}

/// The OVS bridge an OVS host has for its NIC `nic`: `br-<nic>` (`br-eth1`), the seed's naming.
pub fn nic_bridge(nic: &str) -> String {
    format!("br-{nic}")
}

fn ovs_down(daemon: &str, log: &str) -> TestbedError {
    TestbedError::io(format!("{daemon} did not come up: {log}"), std::io::ErrorKind::TimedOut.into())
}
