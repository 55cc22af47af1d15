//! [`DhcpReconciler`]: make the host serve DHCP for exactly the given networks.
//!
//! Per network, in order (a failed step skips the rest of that network only, reported and
//! retried on the next run): the namespace; the DHCP port's veth pair (recreated when an
//! end is missing or is not a veth), its MAC, MTU and up state, the host's IPv6 off on the
//! tap; the port's addresses (new ones before stale ones are removed, IPv6 link-local
//! left to the kernel); the namespace's default routes and its DNS guard table (replaced
//! when its fingerprint differs); dnsmasq's files (rewritten only when they differ,
//! atomically); and dnsmasq itself (SIGHUP when only files changed, restart when its
//! command line differs, it runs in another namespace or its interface was recreated,
//! start when not running).
//! Then everything of networks no longer served goes: dnsmasq, namespace (and with it the
//! veth pair), state directory.

use std::collections::BTreeSet;
use std::io::{self, Write};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use neutrino_agent_api::{tap_name, DhcpNetwork};

use crate::l2::dataplane::MacAddr;
use crate::netns::{converge_port, NetnsError, VethSpec};
use crate::report::{Object, Report, SubsystemKind};

use super::dnsmasq::{self, DnsmasqConfig, NetworkPaths};
use super::linux::LinuxDhcp;
use super::system::DhcpSystem;
use super::DhcpError;
use super::{chain, namespace_name, ns_device_name, valid_id, DhcpConfig, NAMESPACE_PREFIX};
use super::{dns, serves_metadata};
use crate::netns::cidr::{Cidr, IfAddr};

fn file_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> DhcpError {
    let path = path.to_owned();
    move |source| DhcpError::File { op, path, source }
}

/// Networks converged at once by one pass.
const NETWORKS_AT_ONCE: usize = 4;

/// The DHCP reconciler of a host.
#[derive(Debug)]
pub struct DhcpReconciler<S: DhcpSystem = LinuxDhcp> {
    cfg: DhcpConfig,
    sys: S,
}

impl DhcpReconciler<LinuxDhcp> {
    /// The reconciler of the real host: namespaces in `cfg.netns_dir` of the calling
    /// thread's mount namespace, devices in its network namespace.
    pub fn new(cfg: DhcpConfig) -> Self {
        let sys =
            LinuxDhcp::new(cfg.netns_dir.clone()).with_nft(cfg.nft_path.clone()).filling_checksums(cfg.fill_checksums);
        DhcpReconciler { cfg, sys }
    }
}

impl<S: DhcpSystem> DhcpReconciler<S> {
    /// A reconciler over another [`DhcpSystem`] (the fake, in tests).
    pub fn with_system(cfg: DhcpConfig, sys: S) -> Self {
        DhcpReconciler { cfg, sys }
    }

    pub fn config(&self) -> &DhcpConfig {
        &self.cfg
    }

    pub fn system(&self) -> &S {
        &self.sys
    }

    /// Converges the host to serve exactly `networks`; see the module documentation.
    pub async fn reconcile(&mut self, networks: &[DhcpNetwork]) -> Report {
        use futures::stream::{self, StreamExt};
        let mut report = Report::new(SubsystemKind::Dhcp);
        let this = &*self;
        // Networks are independent (own namespace, files, dnsmasq): a few at once, so one's
        // waits (an `nft` or dnsmasq process, netlink in its namespace) overlap another's.
        // Their reports are merged in the networks' order.
        // (The futures are made first: a `map` closure in the stream trips rustc's
        // higher-ranked `Send` check of the spawned pass.)
        let pending: Vec<_> = networks.iter().map(|net| this.converge_reported(net)).collect();
        let mut passes = stream::iter(pending).buffered(NETWORKS_AT_ONCE);
        while let Some(own) = passes.next().await {
            report.applied.extend(own.applied);
            report.issues.extend(own.issues);
        }
        drop(passes);
        let wanted: BTreeSet<&str> = networks.iter().map(|n| n.network_id.as_str()).collect();
        self.remove_unwanted(&wanted, &mut report).await;
        report
    }

    /// One network's pass, its failure an issue of the network.
    async fn converge_reported(&self, net: &DhcpNetwork) -> Report {
        let mut own = Report::new(SubsystemKind::Dhcp);
        if let Err(e) = self.converge(net, &mut own).await {
            own.issue_logged(
                Object::Network(net.network_id.clone()),
                format!("dhcp for network {}: {}", net.network_id, chain(&e)),
            );
        }
        own
    }

    async fn converge(&self, net: &DhcpNetwork, report: &mut Report) -> Result<(), DhcpError> {
        for (what, value) in [("network id", &net.network_id), ("DHCP port id", &net.port.id)] {
            if !valid_id(value) {
                return Err(DhcpError::Invalid { what, value: value.clone() });
            }
        }
        let mac: MacAddr = net
            .port
            .mac_address
            .parse()
            .map_err(|_| DhcpError::Invalid { what: "DHCP port MAC", value: net.port.mac_address.clone() })?;
        let rendered = dnsmasq::render(&self.cfg, net)?;
        for note in &rendered.notes {
            tracing::debug!(network = net.network_id, "{note}");
        }
        let ns = namespace_name(&net.network_id);
        if self.sys.ensure_namespace(&ns).await? {
            report.change_logged(format!("create namespace {ns}"));
        }
        let spec =
            VethSpec { tap: tap_name(&net.port.id), dev: ns_device_name(&net.port.id), mac, mtu: net.mtu, up: true };
        let replugged = converge_port(&self.sys, &ns, &spec, &port_addresses(&self.cfg, net), &mut |line| {
            report.change_logged(line)
        })
        .await
        .map_err(|e| match e {
            NetnsError::Vanished { tap, dev } => DhcpError::Vanished { tap, dev },
            e => e.into(),
        })?;
        self.converge_default_routes(net, &ns, &spec.dev, report).await?;
        self.converge_guard(net, &ns, report).await?;
        let paths = NetworkPaths::new(&self.cfg.state_dir, &net.network_id);
        let files_changed = write_files(&paths, &rendered, report)?;
        self.converge_process(net, &ns, &paths, &rendered, files_changed, replugged, report).await
    }

    /// Neutron's `DeviceManager._set_default_route`: per IP version, a default route via
    /// the first DHCP subnet's gateway (so dnsmasq reaches its forwarders, and answers
    /// guests routed in from elsewhere), none when no subnet has one. Routes the kernel
    /// learns from router advertisements are not ours and are left alone.
    async fn converge_default_routes(
        &self,
        net: &DhcpNetwork,
        ns: &str,
        dev: &str,
        report: &mut Report,
    ) -> Result<(), DhcpError> {
        let current = self.sys.default_gateways(ns).await?;
        for v4 in [true, false] {
            let mine: Vec<IpAddr> = current.iter().copied().filter(|gw| gw.is_ipv4() == v4).collect();
            match default_gateway(net, v4) {
                Some((gw, _)) if mine.contains(&gw) => {}
                Some((gw, cidr)) => {
                    // A gateway outside the subnet is reached on-link, as Neutron adds it.
                    let onlink = !cidr.contains(gw);
                    self.sys.set_default_gateway(ns, dev, gw, onlink).await?;
                    report.change_logged(format!("set default route via {gw} in {ns}"));
                }
                None => {
                    for gw in mine {
                        self.sys.del_default_gateway(ns, gw).await?;
                        report.change_logged(format!("delete default route via {gw} in {ns}"));
                    }
                }
            }
        }
        Ok(())
    }

    /// The namespace's DNS guard table, replaced when its fingerprint differs.
    async fn converge_guard(&self, net: &DhcpNetwork, ns: &str, report: &mut Report) -> Result<(), DhcpError> {
        let cidrs: Vec<Cidr> = net.subnets.iter().filter_map(|s| Cidr::parse(&s.cidr).ok()).collect();
        let guard = dns::guard(&self.cfg.dns_limits, &cidrs);
        if self.sys.dns_guard(ns).await?.as_deref() != Some(guard.fingerprint.as_str()) {
            self.sys.apply_dns_guard(ns, &guard).await?;
            report.change_logged(format!("apply DNS guard {} in {ns}", guard.fingerprint));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn converge_process(
        &self,
        net: &DhcpNetwork,
        ns: &str,
        paths: &NetworkPaths,
        rendered: &DnsmasqConfig,
        files_changed: bool,
        replugged: bool,
        report: &mut Report,
    ) -> Result<(), DhcpError> {
        let id = &net.network_id;
        let running = self.sys.dnsmasq(&paths.pid, ns).await?;
        let why_restart = match &running {
            None => None,
            Some(p) if p.argv != rendered.argv => Some("its command line changed"),
            Some(p) if !p.in_namespace => Some("it runs outside of its namespace"),
            Some(_) if replugged => Some("its interface was recreated"),
            Some(p) => {
                if files_changed {
                    self.sys.reload_dnsmasq(p.pid).await?;
                    report.change_logged(format!("reload dnsmasq of network {id} (SIGHUP pid {})", p.pid));
                }
                return Ok(());
            }
        };
        if let (Some(p), Some(why)) = (&running, why_restart) {
            self.sys.stop_dnsmasq(p.pid).await?;
            report.change_logged(format!("stop dnsmasq of network {id} (pid {}): {why}", p.pid));
        }
        let existing = match std::fs::read_to_string(&paths.leases) {
            Ok(s) => s,
            Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(file_err("read", &paths.leases)(e)),
        };
        write_atomic(&paths.leases, &dnsmasq::init_leases(&self.cfg, net, &existing))?;
        let pid = self.sys.start_dnsmasq(ns, &rendered.argv, &paths.pid).await?;
        let pid = pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".to_owned());
        report.change_logged(format!("start dnsmasq of network {id} in {ns} (pid {pid})"));
        Ok(())
    }

    /// Tears down the namespaces and state directories of networks not in `wanted`.
    async fn remove_unwanted(&self, wanted: &BTreeSet<&str>, report: &mut Report) {
        let mut leftovers = BTreeSet::new();
        match self.sys.namespaces().await {
            Ok(names) => {
                leftovers.extend(names.iter().filter_map(|n| n.strip_prefix(NAMESPACE_PREFIX)).map(str::to_owned))
            }
            Err(e) => report.issue_logged(Object::Host, format!("dhcp: {}", chain(&e))),
        }
        match list_dirs(&self.cfg.state_dir) {
            Ok(dirs) => leftovers.extend(dirs),
            Err(e) => {
                report.issue_logged(Object::Host, format!("dhcp: cannot list {}: {e}", self.cfg.state_dir.display()))
            }
        }
        for id in leftovers.iter().filter(|id| valid_id(id) && !wanted.contains(id.as_str())) {
            if let Err(e) = self.teardown(id, report).await {
                report
                    .issue_logged(Object::Network(id.clone()), format!("dhcp teardown of network {id}: {}", chain(&e)));
            }
        }
    }

    async fn teardown(&self, id: &str, report: &mut Report) -> Result<(), DhcpError> {
        let ns = namespace_name(id);
        let paths = NetworkPaths::new(&self.cfg.state_dir, id);
        if let Some(p) = self.sys.dnsmasq(&paths.pid, &ns).await? {
            self.sys.stop_dnsmasq(p.pid).await?;
            report.change_logged(format!("stop dnsmasq of network {id} (pid {}): network no longer served", p.pid));
        }
        if self.sys.namespaces().await?.contains(&ns) {
            self.sys.delete_namespace(&ns).await?;
            report.change_logged(format!("delete namespace {ns}"));
        }
        match std::fs::remove_dir_all(&paths.dir) {
            Ok(()) => report.change_logged(format!("remove {}", paths.dir.display())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(file_err("remove", &paths.dir)(e)),
        }
        Ok(())
    }
}

/// Neutron's `_set_default_route_ip_version`: the first DHCP subnet of that version with a
/// gateway (IPv6: not a /0 or longer than /126, and a /64 when SLAAC or stateless).
fn default_gateway(net: &DhcpNetwork, v4: bool) -> Option<(IpAddr, Cidr)> {
    net.subnets.iter().filter(|s| (s.ip_version == 4) == v4).find_map(|s| {
        let gw = s.gateway_ip?;
        let cidr = Cidr::parse(&s.cidr).ok()?;
        if !v4 {
            let auto = |m: &Option<String>| matches!(m.as_deref(), Some("slaac") | Some("dhcpv6-stateless"));
            let auto = auto(&s.ipv6_address_mode) || auto(&s.ipv6_ra_mode);
            if cidr.prefix_len == 0 || cidr.prefix_len > 126 || (cidr.prefix_len != 64 && auto) {
                return None;
            }
        }
        Some((gw, cidr))
    })
}

/// The DHCP port's addresses on its device: each fixed IP with its subnet's prefix
/// length, and the metadata address the proxy binds when this namespace serves metadata.
fn port_addresses(cfg: &DhcpConfig, net: &DhcpNetwork) -> BTreeSet<IfAddr> {
    let mut addrs = BTreeSet::new();
    for ip in &net.port.fixed_ips {
        let cidr = net.subnets.iter().find(|s| s.id == ip.subnet_id).and_then(|s| Cidr::parse(&s.cidr).ok());
        match cidr {
            Some(c) if c.contains(ip.ip_address) => {
                addrs.insert(IfAddr { addr: ip.ip_address, prefix_len: c.prefix_len });
            }
            // A subnet without DHCP (not sent to us) or an address outside its subnet.
            _ => tracing::debug!(network = net.network_id, ip = %ip.ip_address, "DHCP port address not configured"),
        }
    }
    if serves_metadata(cfg.metadata, net) {
        let metadata =
            Cidr::parse(dnsmasq::METADATA_CIDR).map(|c| IfAddr { addr: c.network, prefix_len: c.prefix_len });
        addrs.extend(metadata.ok());
        addrs.extend(metadata_v6_address(net));
    }
    addrs
}

/// `fe80::a9fe:a9fe/128` when the network has an IPv6 subnet, where the metadata proxy
/// listens for IPv6 VMs (Neutron's DHCP agent adds `METADATA_V6_CIDR` then).
fn metadata_v6_address(net: &DhcpNetwork) -> Option<IfAddr> {
    let v6 = net.subnets.iter().any(|s| s.ip_version == 6);
    v6.then_some(IfAddr { addr: crate::metadata::METADATA_V6_ADDRESS.into(), prefix_len: 128 })
}

/// Writes the files whose content differs; true when any did.
fn write_files(paths: &NetworkPaths, rendered: &DnsmasqConfig, report: &mut Report) -> Result<bool, DhcpError> {
    if !paths.dir.is_dir() {
        // World-readable: dnsmasq re-reads its files after dropping root for its own user.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(&paths.dir)
            .map_err(file_err("create", &paths.dir))?;
        report.change_logged(format!("create {}", paths.dir.display()));
    }
    let mut changed = false;
    for (path, content) in
        [(&paths.hosts, &rendered.hosts), (&paths.addn_hosts, &rendered.addn_hosts), (&paths.opts, &rendered.opts)]
    {
        let same = match std::fs::read_to_string(path) {
            Ok(old) => old == *content,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(file_err("read", path)(e)),
        };
        if !same {
            write_atomic(path, content)?;
            report.change_logged(format!("write {}", path.display()));
            changed = true;
        }
    }
    Ok(changed)
}

/// Writes `<path>.tmp` and renames it over `path`: dnsmasq, re-reading on a SIGHUP that
/// may come from an earlier pass, never sees half a file.
fn write_atomic(path: &Path, content: &str) -> Result<(), DhcpError> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o644)
        .open(&tmp)
        .map_err(file_err("create", &tmp))?;
    file.write_all(content.as_bytes()).and_then(|()| file.sync_all()).map_err(file_err("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(file_err("rename into place", path))
}

/// Names of the directories in `dir` (none when it does not exist).
fn list_dirs(dir: &Path) -> io::Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            out.extend(entry.file_name().to_str().map(str::to_owned));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
