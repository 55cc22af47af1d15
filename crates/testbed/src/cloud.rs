//! A small neutrino cloud on a [`Testbed`]: a `neutrino server` on the controller, a
//! `neutrino agent` on every host, and VMs booted the way Nova boots them.
//!
//! Nova's sequence for a VM on a host: create (or update) the port with
//! `binding:host_id` = the host, `device_id` = the instance and `device_owner` =
//! `compute:<zone>`; plug the VIF (here: a veth whose host end is `tap<port-id[:11]>`);
//! wait for the port to turn ACTIVE (Nova's `network-vif-plugged`). [`Cloud::boot_vm`] does
//! exactly that through the public API, so the tests and the demo exercise the same path
//! a real compute node does.

use crate::error::{Result, TestbedError};
use crate::host::Host;
pub use crate::metadata::FakeNova;
use crate::process::Process;
use crate::testbed::Testbed;
use crate::vm::Vm;
use neutrino_client::{Client, Collection, Object};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod migration;
mod ovs;

use crate::vif::{self, PortInfo, Vif};
pub use ovs::Mechanism;

/// The API port of the server on the controller.
pub const API_PORT: u16 = 9696;

/// How the server authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    /// `--noauth`: every caller is admin of the project it names.
    NoAuth,
    /// The embedded identity, bootstrapped with this admin password; agents and API calls
    /// log in as admin.
    AdminPassword(String),
}

/// A server and its agents on a testbed.
pub struct Cloud {
    pub tb: Testbed,
    neutrino: PathBuf,
    pub server: Process,
    auth: Auth,
    token: std::sync::Mutex<Option<String>>,
    /// The token of the `nova` service user (see [`Cloud::service_token`]).
    service_token: std::sync::Mutex<Option<String>>,
    data_dir: PathBuf,
    hosts: BTreeMap<String, Host>,
    agents: BTreeMap<String, Process>,
    /// Extra flags for every agent started from now on.
    pub agent_flags: Vec<String>,
    /// Hosts whose agent also serves DHCP.
    dhcp_hosts: std::collections::BTreeSet<String>,
    /// Hosts whose agent also runs routers (with `eth1` on the external network).
    l3_hosts: std::collections::BTreeSet<String>,
    /// `(url, secret)` of the Nova metadata API the DHCP hosts' proxies forward to.
    metadata: Option<(String, String)>,
    /// The mechanism of hosts added from now on (Linux bridge unless changed; a cloud may mix).
    pub mechanism: Mechanism,
    /// Physical networks cabled to every host added from now on: the i-th to the NIC
    /// `eth<i+2>` (`eth1` is the external network's), see [`crate::Testbed::connect_physnet`].
    pub physnets: Vec<String>,
    /// Each host's mechanism and `(physnet, NIC)` mappings, for its agent's flags.
    wiring: BTreeMap<String, ovs::Wiring>,
}

/// A VM booted on a host: its namespace and its port.
pub struct BootedVm {
    pub vm: Vm,
    pub port: Object,
    pub host: String,
    /// How it was plugged, from the port's binding (as Nova reads it).
    pub vif: Vif,
}

impl BootedVm {
    /// The port's id.
    pub fn port_id(&self) -> &str {
        self.port.get("id").and_then(Value::as_str).unwrap_or_default()
    }

    /// The port's first fixed IP.
    pub fn ip(&self) -> &str {
        self.port
            .get("fixed_ips")
            .and_then(|f| f.get(0))
            .and_then(|f| f.get("ip_address"))
            .and_then(Value::as_str)
            .unwrap_or_default()
    }

    /// The port's MAC.
    pub fn mac(&self) -> &str {
        self.port.get("mac_address").and_then(Value::as_str).unwrap_or_default()
    }
}

fn api_error(context: &str, e: impl std::fmt::Display) -> TestbedError {
    TestbedError::io(format!("{context}: {e}"), std::io::Error::other(e.to_string()))
}

impl Cloud {
    /// Starts a server (no-auth, on the controller's underlay address) with the store in
    /// the testbed's log directory, and waits until it answers.
    pub fn start(tb: Testbed, neutrino: &Path) -> Result<Cloud> {
        Self::start_with(tb, neutrino, Auth::NoAuth)
    }

    /// [`Cloud::start`] with a choice of authentication.
    pub fn start_with(tb: Testbed, neutrino: &Path, auth: Auth) -> Result<Cloud> {
        Self::start_with_config(tb, neutrino, auth, "")
    }

    /// [`Cloud::start_with`] and a server config file (TOML, docs/CONFIG.md; e.g. a `[nova]`
    /// section naming a stand-in Nova), written to `server.toml` in the log directory.
    /// Empty: no config file.
    pub fn start_with_config(tb: Testbed, neutrino: &Path, auth: Auth, config: &str) -> Result<Cloud> {
        let data_dir = tb.log_dir().join("server-data");
        std::fs::create_dir_all(&data_dir).map_err(|e| TestbedError::io("creating the server's data dir", e))?;
        let config_file = tb.log_dir().join("server.toml");
        if !config.is_empty() {
            std::fs::write(&config_file, config).map_err(|e| TestbedError::io("writing server.toml", e))?;
        }
        let config_file = (!config.is_empty()).then_some(config_file.as_path());
        let server = spawn_server(&tb, neutrino, &data_dir, &auth, config_file)?;
        let cloud = Cloud {
            tb,
            neutrino: neutrino.to_path_buf(),
            server,
            auth,
            token: std::sync::Mutex::new(None),
            service_token: std::sync::Mutex::new(None),
            data_dir,
            hosts: BTreeMap::new(),
            agents: BTreeMap::new(),
            agent_flags: vec!["--report-interval".into(), "2".into(), "--max-backoff".into(), "2".into()],
            dhcp_hosts: Default::default(),
            l3_hosts: Default::default(),
            metadata: None,
            mechanism: Mechanism::LinuxBridge,
            physnets: Vec::new(),
            wiring: BTreeMap::new(),
        };
        cloud.wait_api(Duration::from_secs(20))?;
        Ok(cloud)
    }

    /// The API's URL, reachable from the controller and the hosts.
    pub fn url(&self) -> String {
        format!("http://{}:{API_PORT}", self.tb.controller_ip())
    }

    fn wait_api(&self, timeout: Duration) -> Result<()> {
        let url = self.url();
        let deadline = Instant::now() + timeout;
        loop {
            let url = url.clone();
            let up = self.tb.block_on_in(self.tb.controller().netns(), || async move {
                reqwest::Client::new().get(&url).timeout(Duration::from_secs(1)).send().await.is_ok()
            })?;
            if up {
                return Ok(());
            }
            if !self.server.is_running() || Instant::now() > deadline {
                return Err(api_error("the server did not come up", self.server.read_log()));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Kills the server (SIGKILL: a crash, not a shutdown).
    pub fn kill_server(&self) -> Result<()> {
        self.server.kill().map(|_| ())
    }

    /// Starts the server again on the same store.
    pub fn restart_server(&mut self) -> Result<()> {
        self.server = self.tb.restart(&self.server, Duration::from_secs(3))?;
        self.wait_api(Duration::from_secs(20))
    }

    /// Adds a host with a running agent (VXLAN endpoint = its underlay address).
    pub fn add_host(&mut self, name: &str) -> Result<&Host> {
        let host = self.new_host(name, false)?;
        let agent = self.spawn_agent(&host)?;
        self.agents.insert(name.to_string(), agent);
        self.hosts.insert(name.to_string(), host);
        self.wait_agent_alive(name, Duration::from_secs(20))?;
        self.host(name)
    }

    /// Adds a host whose agent also serves DHCP (and metadata, once
    /// [`Cloud::set_metadata`] named a Nova), and waits for both of its agents.
    pub fn add_dhcp_host(&mut self, name: &str) -> Result<&Host> {
        self.dhcp_hosts.insert(name.to_string());
        self.add_host(name)?;
        self.wait_agent_type_alive(name, "DHCP agent", Duration::from_secs(20))?;
        self.host(name)
    }

    /// Adds a network node: its agent also runs routers (`--l3`), and its `eth1` is on the
    /// external network (`ext` namespace, `br-ext` carrying `ext_gateway`, e.g.
    /// `203.0.113.1/24`), mapped as physnet `external`.
    pub fn add_l3_host(&mut self, name: &str, ext_gateway: &str) -> Result<&Host> {
        self.tb.external(ext_gateway)?;
        self.l3_hosts.insert(name.to_string());
        let host = self.new_host(name, true)?;
        let agent = self.spawn_agent(&host)?;
        self.agents.insert(name.to_string(), agent);
        self.hosts.insert(name.to_string(), host);
        self.wait_agent_alive(name, Duration::from_secs(20))?;
        self.wait_agent_type_alive(name, "L3 agent", Duration::from_secs(20))?;
        self.host(name)
    }

    /// Adds a network node: DHCP, metadata and routers ([`Cloud::add_l3_host`] plus
    /// [`Cloud::add_dhcp_host`] on one host).
    pub fn add_network_node(&mut self, name: &str, ext_gateway: &str) -> Result<&Host> {
        self.dhcp_hosts.insert(name.to_string());
        self.add_l3_host(name, ext_gateway)?;
        self.wait_agent_type_alive(name, "DHCP agent", Duration::from_secs(20))?;
        self.host(name)
    }

    /// Where DHCP and L3 hosts' metadata proxies forward (applies to agents started
    /// afterwards).
    pub fn set_metadata(&mut self, nova_url: &str, secret: &str) {
        self.metadata = Some((nova_url.to_string(), secret.to_string()));
    }

    /// Waits until the host's agent of `agent_type` is alive.
    pub fn wait_agent_type_alive(&self, host: &str, agent_type: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let (h, t) = (host.to_string(), agent_type.to_string());
            let agents = self.api("admin", move |c| async move {
                c.list(Collection::Agents, &[("host", h.as_str()), ("agent_type", t.as_str())]).await
            })?;
            if agents.iter().any(|a| a.get("alive") == Some(&Value::Bool(true))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self.agents.get(host).map(Process::read_log).unwrap_or_default();
                return Err(api_error(&format!("{agent_type} on {host} not alive"), log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// A host added before.
    pub fn host(&self, name: &str) -> Result<&Host> {
        self.hosts.get(name).ok_or_else(|| TestbedError::invalid(name, "no such host"))
    }

    /// The agent process of a host.
    pub fn agent(&self, name: &str) -> Result<&Process> {
        self.agents.get(name).ok_or_else(|| TestbedError::invalid(name, "no agent on that host"))
    }

    fn spawn_agent(&self, host: &Host) -> Result<Process> {
        let mut args: Vec<String> = vec![
            "agent".into(),
            "--host".into(),
            host.name().into(),
            "--server".into(),
            self.url(),
            "--local-ip".into(),
            host.underlay_ip().to_string(),
        ];
        match &self.auth {
            Auth::NoAuth => args.extend(["--noauth-project".into(), "admin".into()]),
            Auth::AdminPassword(pw) => args.extend([
                "--username".into(),
                "admin".into(),
                "--password".into(),
                pw.clone(),
                "--project-name".into(),
                "admin".into(),
            ]),
        }
        if self.dhcp_hosts.contains(host.name()) {
            let state = self.tb.log_dir().join(format!("dhcp-{}", host.name()));
            args.extend(["--dhcp".into(), "--dhcp-state-dir".into(), state.display().to_string()]);
            args.extend(["--dhcp-lease-duration".into(), "120".into()]);
        }
        args.extend(self.mechanism_args(host));
        if self.l3_hosts.contains(host.name()) {
            args.push("--l3".into());
            args.extend(["--ra-state-dir".into(), self.ra_state_dir(host.name()).display().to_string()]);
        }
        // DHCP and L3 hosts proxy metadata (from their qdhcp- and qrouter- namespaces).
        let proxies = self.dhcp_hosts.contains(host.name()) || self.l3_hosts.contains(host.name());
        if let (true, Some((url, secret))) = (proxies, &self.metadata) {
            args.extend([
                "--nova-metadata-url".into(),
                url.clone(),
                "--metadata-proxy-shared-secret".into(),
                secret.clone(),
            ]);
        }
        args.extend(self.agent_flags.iter().cloned());
        self.tb.spawn_in(host.netns(), &self.neutrino, args, &[("RUST_LOG", "info")], None)
    }

    /// Where the L3 agent of `host` keeps radvd's files (`<dir>/<router-id>/radvd.{conf,pid}`).
    pub fn ra_state_dir(&self, host: &str) -> std::path::PathBuf {
        self.tb.log_dir().join(format!("ra-{host}"))
    }

    /// Restarts a host's agent (SIGTERM, then the same command line).
    pub fn restart_agent(&mut self, name: &str) -> Result<()> {
        let old = self.agent(name)?;
        let new = self.tb.restart(old, Duration::from_secs(5))?;
        self.agents.insert(name.to_string(), new);
        Ok(())
    }

    /// Waits until `GET /v2.0/agents?host=` shows the host's agent alive.
    pub fn wait_agent_alive(&self, host: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let agents = self.api("admin", |c| {
                let host = host.to_string();
                async move { c.list(Collection::Agents, &[("host", host.as_str())]).await }
            })?;
            if agents.iter().any(|a| a.get("alive") == Some(&Value::Bool(true))) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let log = self.agents.get(host).map(Process::read_log).unwrap_or_default();
                return Err(api_error(&format!("agent on {host} not alive"), log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs API calls as `project` (admin in no-auth mode) from the controller.
    pub fn api<T, F, Fut>(&self, project: &str, f: F) -> Result<T>
    where
        T: Send,
        F: FnOnce(Client) -> Fut + Send,
        Fut: std::future::Future<Output = std::result::Result<T, neutrino_client::ClientError>>,
    {
        let url = self.url();
        let project = project.to_string();
        let token = self.token()?;
        self.tb
            .block_on_in(self.tb.controller().netns(), move || async move {
                let client = match token {
                    Some(t) => Client::new(&url)?.with_token(Some(t)),
                    None => Client::new(&url)?.with_project(Some(project)),
                };
                f(client).await
            })?
            .map_err(|e| api_error("API call", e))
    }

    /// The admin token (logged in once), or `None` without authentication.
    fn token(&self) -> Result<Option<String>> {
        let Auth::AdminPassword(password) = &self.auth else { return Ok(None) };
        let mut cached = self.token.lock().map_err(|_| api_error("token cache", "poisoned"))?;
        if cached.is_none() {
            let url = self.url();
            let password = password.clone();
            let login = self
                .tb
                .block_on_in(self.tb.controller().netns(), move || async move {
                    neutrino_client::PasswordAuth {
                        auth_url: &url,
                        username: "admin",
                        password: &password,
                        project_name: "admin",
                        user_domain: "Default",
                        project_domain: "Default",
                    }
                    .login()
                    .await
                })?
                .map_err(|e| api_error("admin login", e))?;
            *cached = Some(login.token);
        }
        Ok(cached.clone())
    }

    /// Creates a network with one IPv4 subnet; returns the network.
    pub fn network(&self, project: &str, name: &str, cidr: &str) -> Result<Object> {
        let (name, cidr) = (name.to_string(), cidr.to_string());
        self.api(project, move |c| async move {
            let net = c.create(Collection::Networks, obj(json!({"name": name}))).await?;
            let id = net.get("id").cloned().unwrap_or(Value::Null);
            c.create(
                Collection::Subnets,
                obj(json!({"network_id": id, "cidr": cidr, "ip_version": 4, "name": format!("{name}-subnet")})),
            )
            .await?;
            Ok(net)
        })
    }

    /// Boots a VM as Nova does: a port bound to the host, the tap plugged, then waits for
    /// the port to turn ACTIVE. The VM gets the port's address (static, /prefix of its
    /// subnet).
    pub fn boot_vm(&self, project: &str, host: &str, network_id: &str, name: &str) -> Result<BootedVm> {
        self.boot_vm_with(project, host, network_id, name, json!({}))
    }

    /// [`Cloud::boot_vm`] with extra port attributes (e.g. `fixed_ips`).
    pub fn boot_vm_with(
        &self,
        project: &str,
        host: &str,
        network_id: &str,
        name: &str,
        extra: Value,
    ) -> Result<BootedVm> {
        let booted = self.plug_vm(project, host, network_id, name, extra)?;
        let ip = booted.ip().to_string();
        let prefix = self.subnet_prefix(project, &booted)?;
        booted.vm.set_addr(&format!("{ip}/{prefix}"))?;
        Ok(booted)
    }

    /// Boots a VM as Nova does but leaves its `eth0` without an address, for a guest that
    /// asks DHCP ([`crate::Vm::dhcp`]).
    pub fn plug_vm(&self, project: &str, host: &str, network_id: &str, name: &str, extra: Value) -> Result<BootedVm> {
        let booted = self.plug_vm_unwaited(project, host, network_id, name, extra)?;
        self.wait_port_status(booted.port_id(), "ACTIVE", Duration::from_secs(20))?;
        Ok(booted)
    }

    /// [`Cloud::plug_vm`] without waiting for the port to turn ACTIVE, and with the port's
    /// first address on `eth0` (for a test of a port the agent must not wire).
    pub fn boot_vm_unwaited(
        &self,
        project: &str,
        host: &str,
        network_id: &str,
        name: &str,
        extra: Value,
    ) -> Result<BootedVm> {
        let booted = self.plug_vm_unwaited(project, host, network_id, name, extra)?;
        let prefix = self.subnet_prefix(project, &booted)?;
        booted.vm.set_addr(&format!("{}/{prefix}", booted.ip()))?;
        Ok(booted)
    }

    fn plug_vm_unwaited(
        &self,
        project: &str,
        host: &str,
        network_id: &str,
        name: &str,
        extra: Value,
    ) -> Result<BootedVm> {
        let h = self.host(host)?;
        let mut attrs = json!({"network_id": network_id, "name": name, "binding:host_id": host,
            "device_owner": "compute:nova", "device_id": uuid_like(name)});
        if let (Some(a), Value::Object(more)) = (attrs.as_object_mut(), extra) {
            a.extend(more);
        }
        let port = self.api(project, move |c| async move { c.create(Collection::Ports, obj(attrs)).await })?;
        let port_id = port.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let mac = port.get("mac_address").and_then(Value::as_str).unwrap_or_default().to_string();
        let net_id = network_id.to_string();
        let net = self.api(project, move |c| async move { c.show(Collection::Networks, &net_id).await })?;
        let mtu = net.get("mtu").and_then(Value::as_u64).unwrap_or(1450) as u32;
        let tap = vif::dev_name("tap", &port_id);
        // A guest's interface starts at the default MTU; DHCP (option 26) brings the network's.
        let vm = self.tb.add_vm(h, name, &tap, &mac, mtu)?;
        let vif = Vif::from_port(&port);
        let device_id = port.get("device_id").and_then(Value::as_str).unwrap_or_default();
        if let Err(e) = vif::plug(h, &vm, &vif, PortInfo { id: &port_id, mac: &mac, device_id }) {
            let _ = vif::unplug(h, &vif, &port_id);
            let _ = self.tb.remove_vm(vm);
            return Err(e);
        }
        Ok(BootedVm { vm, port, host: host.to_string(), vif })
    }

    fn subnet_prefix(&self, project: &str, vm: &BootedVm) -> Result<String> {
        let subnet_id = vm
            .port
            .get("fixed_ips")
            .and_then(|f| f.get(0))
            .and_then(|f| f.get("subnet_id"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let subnet = self.api(project, move |c| async move { c.show(Collection::Subnets, &subnet_id).await })?;
        let cidr = subnet.get("cidr").and_then(Value::as_str).unwrap_or("0.0.0.0/24");
        Ok(cidr.rsplit('/').next().unwrap_or("24").to_string())
    }

    /// Waits until the port shows `status`.
    pub fn wait_port_status(&self, port_id: &str, status: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let id = port_id.to_string();
            let port = self.api("admin", move |c| async move { c.show(Collection::Ports, &id).await })?;
            if port.get("status").and_then(Value::as_str) == Some(status) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let logs: Vec<String> =
                    self.agents.iter().map(|(h, a)| format!("--- agent {h}\n{}", a.read_log())).collect();
                return Err(api_error(
                    &format!("port {port_id} not {status} (is {:?})", port.get("status")),
                    logs.join("\n"),
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Deletes a port through the API.
    pub fn delete_port(&self, project: &str, port_id: &str) -> Result<()> {
        let id = port_id.to_string();
        self.api(project, move |c| async move { c.delete(Collection::Ports, &id).await })
    }

    /// The server's store directory (kept with the logs of a failed test).
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

fn spawn_server(tb: &Testbed, neutrino: &Path, data_dir: &Path, auth: &Auth, config: Option<&Path>) -> Result<Process> {
    let listen = format!("{}:{API_PORT}", tb.controller_ip());
    let data = data_dir.display().to_string();
    let config = config.map(|c| c.display().to_string());
    let mut args = vec!["server", "--listen", listen.as_str(), "--data-dir", data.as_str()];
    if let Some(c) = &config {
        args.extend(["--config", c.as_str()]);
    }
    let mut env = vec![("RUST_LOG", "info")];
    match auth {
        Auth::NoAuth => args.extend(["--noauth", "--force-noauth"]),
        Auth::AdminPassword(pw) => env.push(("NEUTRINO_BOOTSTRAP_PASSWORD", pw.as_str())),
    }
    tb.spawn_in(tb.controller().netns(), neutrino, args, &env, None)
}

fn obj(v: Value) -> Object {
    match v {
        Value::Object(m) => m,
        _ => Object::new(),
    }
}

/// A stable instance id per VM name (Nova's instance UUID stand-in).
fn uuid_like(name: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h = (h ^ b as u64).wrapping_mul(0x100000001b3);
    }
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        h >> 32,
        (h >> 16) & 0xffff,
        h & 0xfff,
        (h >> 20) & 0xfff,
        h & 0xffffffffffff
    )
}
