//! [`Testbed`]: the fabric, the controller, hosts and VMs, and the processes running on them.

use std::ffi::{OsStr, OsString};
use std::future::Future;
use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::cmd;
use crate::error::{Result, TestbedError};
use crate::host::{Host, UNDERLAY_DEV, UNDERLAY_PREFIX_LEN};
use crate::ns;
use crate::process::{Process, Spec};
use crate::shared::{cleanup_stale, Shared};
use crate::vm::Vm;
use crate::wait::wait_until;

/// Name of the underlay bridge in the fabric namespace.
pub const UNDERLAY_BRIDGE: &str = "br-underlay";

/// MTU of the underlay links (a VXLAN overlay over it carries 1450-byte frames).
pub const UNDERLAY_MTU: u32 = 1500;

/// Underlay address of the controller.
pub const CONTROLLER_IP: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// The VM-side name of the interface a move plugs in before the switch-over.
const MOVE_IFNAME: &str = "mig0";

/// A small cloud in network namespaces: a `fabric` namespace whose bridge is the underlay, the
/// controller namespace `ctl` on it, hosts, and VMs plugged into hosts.
///
/// Dropping it (also while unwinding from a failed assertion) kills every process it started and
/// deletes every namespace it created; the machine's own (root) namespace is never touched.
/// Methods take `&self`, so a testbed can be shared between threads.
#[derive(Debug)]
pub struct Testbed {
    pub(crate) shared: Arc<Shared>,
    pub(crate) fabric: String,
    controller: Host,
}

impl Testbed {
    /// Creates the fabric and the controller namespace (underlay address [`CONTROLLER_IP`]).
    ///
    /// `name_hint` only names the log directory (`$TMPDIR/neutrino-testbed-<hint>-<tag>`); the
    /// namespaces carry a random 5-character tag, so testbeds of parallel tests do not collide.
    /// Runs [`crate::preflight`] first and sweeps testbeds of dead processes ([`cleanup_stale`]).
    pub fn new(name_hint: &str) -> Result<Testbed> {
        crate::preflight()?;
        if let Err(e) = cleanup_stale() {
            eprintln!("neutrino-testbed: sweeping stale testbeds: {e}");
        }
        let shared = Arc::new(Shared::new(name_hint)?);
        let fabric = shared.netns_name("fabric");
        let controller = Host {
            name: "ctl".into(),
            netns: shared.netns_name("ctl"),
            underlay_ip: CONTROLLER_IP,
            shared: shared.clone(),
            ovs_dir: None,
        };
        // From here on, an error drops `tb`, which deletes what was made so far.
        let tb = Testbed { shared, fabric, controller };
        tb.shared.reserve("fabric")?;
        tb.shared.add_netns(&tb.fabric)?;
        let f = tb.fabric.as_str();
        cmd::ip(&["-n", f, "link", "set", "lo", "up"])?;
        cmd::ip(&["-n", f, "link", "add", UNDERLAY_BRIDGE, "type", "bridge"])?;
        cmd::ip(&["-n", f, "link", "set", UNDERLAY_BRIDGE, "up"])?;
        tb.add_member("ctl", CONTROLLER_IP)?;
        Ok(tb)
    }

    /// Creates namespace `nt<tag>-<name>`, plugs it into the underlay with `ip`, and starts its
    /// mount-namespace holder.
    pub(crate) fn add_member(&self, name: &str, ip: Ipv4Addr) -> Result<Host> {
        let netns = self.shared.reserve(name)?;
        self.shared.add_netns(&netns)?;
        let [_, _, c, d] = ip.octets();
        let port = format!("ul-{c}-{d}");
        let (f, n) = (self.fabric.as_str(), netns.as_str());
        let mtu = UNDERLAY_MTU.to_string();
        cmd::ip(&["-n", f, "link", "add", &port, "type", "veth", "peer", "name", UNDERLAY_DEV, "netns", n])?;
        cmd::ip(&["-n", f, "link", "set", &port, "master", UNDERLAY_BRIDGE, "mtu", &mtu, "up"])?;
        cmd::ip(&["-n", n, "link", "set", "lo", "up"])?;
        cmd::ip(&["-n", n, "link", "set", UNDERLAY_DEV, "mtu", &mtu, "up"])?;
        cmd::ip(&["-n", n, "addr", "add", &format!("{ip}/{UNDERLAY_PREFIX_LEN}"), "dev", UNDERLAY_DEV])?;
        self.shared.add_holder(&netns)?;
        Ok(Host { name: name.to_string(), netns, underlay_ip: ip, shared: self.shared.clone(), ovs_dir: None })
    }

    /// Adds a host `nt<tag>-<name>` on the underlay. The n-th host gets 198.18.1.n (then
    /// 198.18.2.x…). `name`: lowercase letters, digits, `-`; `ctl` and `fabric` are taken.
    pub fn add_host(&self, name: &str) -> Result<Host> {
        let n = self.shared.next_host_index();
        let third = u8::try_from(1 + n / 250).map_err(|_| TestbedError::invalid(name, "too many hosts"))?;
        let ip = Ipv4Addr::new(198, 18, third, 1 + (n % 250) as u8);
        self.add_member(name, ip)
    }

    /// The outside world behind the external network: namespace `nt<tag>-ext` with a bridge
    /// `br-ext` carrying `address` (e.g. `203.0.113.1/24`, the external subnet's gateway),
    /// made on first use. Hosts join it with [`Testbed::connect_external`].
    pub fn external(&self, address: &str) -> Result<String> {
        let netns = self.netns_name("ext");
        if ns::list_netns()?.contains(&netns) {
            return Ok(netns);
        }
        let netns = self.shared.reserve("ext")?;
        self.shared.add_netns(&netns)?;
        let n = netns.as_str();
        cmd::ip(&["-n", n, "link", "set", "lo", "up"])?;
        cmd::ip(&["-n", n, "link", "add", "br-ext", "type", "bridge"])?;
        cmd::ip(&["-n", n, "link", "set", "br-ext", "up"])?;
        cmd::ip(&["-n", n, "addr", "add", address, "dev", "br-ext"])?;
        Ok(netns)
    }

    /// Gives `host` a second interface `eth1` on the external bridge (the physical interface an
    /// operator maps as `external:eth1`); no address on the host side. On an OVS host also the
    /// netdev bridge `br-eth1` holding it (mapped as `external:br-eth1`; see [`crate::ovs`]).
    pub fn connect_external(&self, host: &Host) -> Result<()> {
        let ext = self.netns_name("ext");
        let index = self.shared.next_host_index();
        let port = format!("ex-{index}");
        let (e, h) = (ext.as_str(), host.netns());
        cmd::ip(&["-n", e, "link", "add", &port, "type", "veth", "peer", "name", "eth1", "netns", h])?;
        cmd::ip(&["-n", e, "link", "set", &port, "master", "br-ext", "up"])?;
        cmd::ip(&["-n", h, "link", "set", "eth1", "up"])?;
        self.attach_nic(host, "eth1", e, &port)
    }

    /// Adds a VM namespace `nt<tag>-<vm_name>` plugged into `host` as a hypervisor would: its
    /// `eth0` (with `mac` and `mtu`, up) is a veth whose peer is `tap_name` in the host namespace
    /// (also up, not enslaved to anything: that is the agent's job).
    ///
    /// The veth is created from the host namespace straight into the VM namespace, never in the
    /// root namespace (where a name like `eth0` would collide with the machine's own).
    pub fn add_vm(&self, host: &Host, vm_name: &str, tap_name: &str, mac: &str, mtu: u32) -> Result<Vm> {
        if !Arc::ptr_eq(&host.shared, &self.shared) {
            return Err(TestbedError::invalid(host.name(), "host of another testbed"));
        }
        ns::check_ifname(tap_name)?;
        let mac = ns::check_mac(mac)?;
        if !(68..=65535).contains(&mtu) {
            return Err(TestbedError::invalid(&mtu.to_string(), "MTU must be within 68..=65535"));
        }
        let netns = self.shared.reserve(vm_name)?;
        if let Err(e) = self.shared.add_netns(&netns) {
            self.shared.release(vm_name);
            return Err(e);
        }
        let vm = Vm {
            name: vm_name.to_string(),
            netns,
            host_netns: host.netns().to_string(),
            tap: tap_name.to_string(),
            mac,
            mtu,
            shared: self.shared.clone(),
        };
        if let Err(e) = self.plug(&vm) {
            let _ = self.shared.del_netns(&vm.netns);
            self.shared.release(vm_name);
            return Err(e);
        }
        Ok(vm)
    }

    fn plug(&self, vm: &Vm) -> Result<()> {
        let (h, v, mtu) = (vm.host_netns.as_str(), vm.netns.as_str(), vm.mtu.to_string());
        #[rustfmt::skip]
        cmd::ip(&["-n", h, "link", "add", &vm.tap, "mtu", &mtu, "type", "veth",
                  "peer", "name", "eth0", "mtu", &mtu, "address", &vm.mac, "netns", v])?;
        cmd::ip(&["-n", v, "link", "set", "lo", "up"])?;
        cmd::ip(&["-n", v, "link", "set", "eth0", "up"])?;
        cmd::ip(&["-n", h, "link", "set", &vm.tap, "up"])?;
        Ok(())
    }

    /// Starts moving `vm` to `host` as a hypervisor's live migration does: the VM's tap appears
    /// on `host` (same name, up, for that host's agent to wire), a veth whose other end
    /// (`mig0`, the VM's MAC, down) waits in the VM's namespace while the VM keeps running on
    /// its old tap.
    pub fn prepare_move(&self, vm: &Vm, host: &Host) -> Result<()> {
        if !Arc::ptr_eq(&host.shared, &self.shared) {
            return Err(TestbedError::invalid(host.name(), "host of another testbed"));
        }
        let (h, v, mtu) = (host.netns(), vm.netns.as_str(), vm.mtu.to_string());
        #[rustfmt::skip]
        cmd::ip(&["-n", h, "link", "add", &vm.tap, "mtu", &mtu, "type", "veth",
                  "peer", "name", MOVE_IFNAME, "mtu", &mtu, "address", &vm.mac, "netns", v])?;
        cmd::ip(&["-n", h, "link", "set", &vm.tap, "up"]).map(drop)
    }

    /// Switches a VM [`Testbed::prepare_move`]d to `host` over: its `eth0` goes (and with it
    /// the old host's tap), the waiting interface becomes `eth0`, up, with the old one's IPv4
    /// addresses and routes. Returns the moved VM's handle.
    pub fn complete_move(&self, vm: &Vm, host: &Host) -> Result<Vm> {
        let v = vm.netns.as_str();
        let addrs = cmd::ip(&["-n", v, "-o", "-4", "addr", "show", "dev", "eth0"])?;
        let addrs: Vec<String> = addrs
            .lines()
            .filter_map(|l| l.split_whitespace().skip_while(|w| *w != "inet").nth(1).map(str::to_string))
            .collect();
        let routes = cmd::ip(&["-n", v, "-4", "route", "show"])?;
        let routes: Vec<String> = routes.lines().filter(|l| !l.contains("proto kernel")).map(str::to_string).collect();
        cmd::ip(&["-n", v, "link", "del", "eth0"])?;
        cmd::ip(&["-n", v, "link", "set", MOVE_IFNAME, "name", "eth0"])?;
        cmd::ip(&["-n", v, "link", "set", "eth0", "up"])?;
        for a in &addrs {
            cmd::ip(&["-n", v, "addr", "add", a, "dev", "eth0"])?;
        }
        for r in &routes {
            let mut argv = vec!["-n", v, "route", "replace"];
            argv.extend(r.split_whitespace());
            cmd::ip(&argv)?;
        }
        Ok(Vm { host_netns: host.netns().to_string(), ..vm.clone() })
    }

    /// Deletes the VM: its processes are killed and its namespace deleted, which destroys the veth
    /// pair, so the tap disappears from the host as when a hypervisor unplugs a VM. Returns once
    /// the tap is gone (the kernel tears namespaces down asynchronously).
    pub fn remove_vm(&self, vm: Vm) -> Result<()> {
        self.shared.del_netns(&vm.netns)?;
        self.shared.release(&vm.name);
        let gone = || cmd::ip(&["-n", &vm.host_netns, "link", "show", "dev", &vm.tap]).is_err();
        wait_until(Duration::from_secs(10), Duration::from_millis(20), gone).map_err(|_| TestbedError::Timeout {
            what: format!("tap {} to disappear from {}", vm.tap, vm.host_netns),
            after: Duration::from_secs(10),
        })
    }

    /// Starts `program args` in `netns` (a host, the controller, a VM or the fabric) with extra
    /// environment `env`; stdout and stderr go to `log_path` (appended), or by default to a fresh
    /// file in [`Testbed::log_dir`].
    ///
    /// On the controller and hosts, the process also runs in the host's private mount namespace
    /// (its own `/run/netns`, a `/sys` of the host), so `ip netns add qdhcp-…` done by an agent
    /// stays on that host. The working directory is this process's. The process is killed when the
    /// testbed drops.
    pub fn spawn_in<I, S>(
        &self,
        netns: &str,
        program: impl AsRef<OsStr>,
        args: I,
        env: &[(&str, &str)],
        log_path: Option<&Path>,
    ) -> Result<Process>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let program = program.as_ref().to_os_string();
        let spec = Spec {
            netns: netns.to_string(),
            log_path: log_path.map(Path::to_path_buf).unwrap_or_else(|| self.shared.log_path(netns, &program)),
            program,
            args: args.into_iter().map(|a| a.as_ref().to_os_string()).collect(),
            env: env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect(),
        };
        self.shared.spawn(spec)
    }

    /// Stops `process` (SIGTERM, SIGKILL after `grace`) if it still runs, and starts it again
    /// with the same namespace, program, arguments, environment and log file.
    pub fn restart(&self, process: &Process, grace: Duration) -> Result<Process> {
        if process.is_running() {
            process.stop(grace)?;
        }
        self.shared.unregister(process);
        self.shared.spawn(process.spec().clone())
    }

    /// Runs `argv` in `netns` to completion (hosts: also in their mount namespace, as
    /// [`Host::exec`]); returns the output whatever the exit status.
    pub fn exec_in<I, S>(&self, netns: &str, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.shared.exec(netns, argv)
    }

    /// See [`crate::ns::in_netns`]: runs `f` on a fresh thread inside `netns`.
    pub fn in_netns<R: Send, F: FnOnce() -> R + Send>(&self, netns: &str, f: F) -> Result<R> {
        ns::in_netns(netns, f)
    }

    /// See [`crate::ns::block_on_in`]: runs a future on a current-thread tokio runtime inside `netns`.
    pub fn block_on_in<F, Fut>(&self, netns: &str, make: F) -> Result<Fut::Output>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future,
        Fut::Output: Send,
    {
        ns::block_on_in(netns, make)
    }

    /// See [`crate::ns::thread_in`]: a background thread inside `netns` (e.g. an in-process
    /// server on the controller).
    pub fn thread_in<R, F>(&self, netns: &str, name: &str, f: F) -> Result<JoinHandle<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        ns::thread_in(netns, name, f)
    }

    /// The controller (namespace `nt<tag>-ctl`), where the server runs.
    pub fn controller(&self) -> &Host {
        &self.controller
    }

    /// The controller's underlay address, what agents use to reach the server.
    pub fn controller_ip(&self) -> Ipv4Addr {
        self.controller.underlay_ip
    }

    /// The fabric namespace, holding the underlay bridge [`UNDERLAY_BRIDGE`].
    pub fn fabric_netns(&self) -> &str {
        &self.fabric
    }

    /// The unique tag in every namespace name of this testbed.
    pub fn tag(&self) -> &str {
        &self.shared.tag
    }

    /// `nt<tag>-<name>`: the namespace name a host or VM called `name` gets.
    pub fn netns_name(&self, name: &str) -> String {
        self.shared.netns_name(name)
    }

    /// Directory of the process logs; removed on drop unless the thread panics or
    /// [`Testbed::keep_logs`] was called.
    pub fn log_dir(&self) -> &Path {
        &self.shared.log_dir
    }

    /// Keeps the log directory after drop (its path is printed), e.g. when a test returns an
    /// error rather than panicking.
    pub fn keep_logs(&self) {
        self.shared.keep_logs.store(true, Ordering::SeqCst);
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        self.shared.cleanup();
    }
}
