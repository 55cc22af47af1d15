//! [`L3System`] for real. Devices, addresses and namespaces are [`LinuxPorts`]' (the same
//! veth-into-a-namespace work as the DHCP port's); routes and sysctls are set from a
//! helper thread inside `qrouter-…`; `nft` and `conntrack` are started inside the
//! namespace by [`exec_in`], and so is radvd (a daemon found again by its pid file).

use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use futures::TryStreamExt;
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, RouteMessageBuilder};

use crate::netns::cidr::Cidr;
use crate::netns::linux::{blocking, is_errno, nl_err};
use crate::netns::process::{self, Daemon};
use crate::netns::{exec_in, LinuxPorts, NetnsDir, NetnsError, PortsOf};

use super::nat::{self, NatRuleset, NatSummary};
use super::radvd;
use super::system::{ConntrackFlush, L3Error, L3System, Route};
use super::{L3Config, NAMESPACE_PREFIX};

/// The sysctls a router needs on, as paths seen from a thread inside its namespace.
const FORWARDING: [&str; 2] = ["/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding"];

/// The host's L3 dataplane.
#[derive(Debug, Clone)]
pub struct LinuxL3 {
    ports: LinuxPorts,
    nft: PathBuf,
    conntrack: PathBuf,
}

impl LinuxL3 {
    /// Namespaces are named files in `cfg.netns_dir` of the calling thread's mount namespace.
    pub fn new(cfg: &L3Config) -> Self {
        LinuxL3 {
            ports: LinuxPorts::new(cfg.netns_dir.clone()).filling_checksums(cfg.fill_checksums),
            nft: cfg.nft_path.clone(),
            conntrack: cfg.conntrack_path.clone(),
        }
    }

    pub fn netns(&self) -> &NetnsDir {
        self.ports.netns()
    }

    /// Runs `program args` inside `ns` with `stdin`, on the blocking pool.
    async fn run(&self, ns: &str, program: &Path, args: Vec<String>, stdin: Option<String>) -> Result<Output, L3Error> {
        let ns_file = self.netns().open(ns)?;
        let command = format!("{} {}", program.display(), args.join(" "));
        let mut cmd = Command::new(program);
        cmd.args(&args).stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        exec_in(&mut cmd, &ns_file);
        let (name, what) = (ns.to_owned(), command.clone());
        let spawn_err = move |source| L3Error::Spawn { namespace: name.clone(), command: what.clone(), source };
        let out = tokio::task::spawn_blocking(move || -> Result<Output, io::Error> {
            let mut child = cmd.spawn()?;
            drop(ns_file);
            if let (Some(mut pipe), Some(input)) = (child.stdin.take(), stdin) {
                pipe.write_all(input.as_bytes())?;
            }
            child.wait_with_output()
        })
        .await
        .map_err(|e| io::Error::other(e.to_string()))
        .and_then(|r| r)
        .map_err(spawn_err)?;
        Ok(out)
    }

    fn failed(ns: &str, program: &Path, args: &[String], out: &Output) -> L3Error {
        L3Error::Command {
            namespace: ns.to_owned(),
            command: format!("{} {}", program.display(), args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }
    }
}

fn route_of(msg: &RouteMessage) -> Option<Route> {
    if msg.header.table != RouteHeader::RT_TABLE_MAIN
        || msg.header.kind != RouteType::Unicast
        || msg.header.protocol == RouteProtocol::Kernel
    {
        return None;
    }
    let ip = |a: &RouteAddress| match a {
        RouteAddress::Inet(v4) => Some(IpAddr::V4(*v4)),
        RouteAddress::Inet6(v6) => Some(IpAddr::V6(*v6)),
        _ => None,
    };
    let mut destination = None;
    let mut gateway = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(a) => destination = ip(a),
            RouteAttribute::Gateway(a) => gateway = ip(a),
            _ => {}
        }
    }
    let gateway = gateway?;
    let network = destination.unwrap_or(match msg.header.address_family {
        AddressFamily::Inet6 => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
        _ => IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
    });
    let destination = Cidr::parse(&format!("{network}/{}", msg.header.destination_prefix_length)).ok()?;
    Some(Route { destination, gateway })
}

async fn route_messages(h: &Handle, ns: &str) -> Result<Vec<RouteMessage>, NetnsError> {
    let mut all = Vec::new();
    for query in [
        RouteMessageBuilder::<std::net::Ipv4Addr>::new().build(),
        RouteMessageBuilder::<std::net::Ipv6Addr>::new().build(),
    ] {
        let msgs: Vec<RouteMessage> =
            h.route().get(query).execute().try_collect().await.map_err(|e| nl_err("list routes in", ns, e))?;
        all.extend(msgs);
    }
    Ok(all)
}

impl PortsOf for LinuxL3 {
    type Ports = LinuxPorts;
    fn ports(&self) -> &LinuxPorts {
        &self.ports
    }
}

impl L3System for LinuxL3 {
    async fn namespaces(&self) -> Result<Vec<String>, L3Error> {
        self.netns()
            .list(NAMESPACE_PREFIX)
            .map_err(|e| NetnsError::failed("list namespaces in", self.netns().dir().display().to_string(), e).into())
    }

    async fn links(&self, ns: &str) -> Result<Vec<String>, L3Error> {
        let name = ns.to_owned();
        Ok(self
            .ports
            .in_ns(ns, move |h| async move {
                let msgs: Vec<_> =
                    h.link().get().execute().try_collect().await.map_err(|e| nl_err("list devices in", &name, e))?;
                Ok(msgs
                    .iter()
                    .filter_map(|m| {
                        m.attributes.iter().find_map(|a| match a {
                            rtnetlink::packet_route::link::LinkAttribute::IfName(n) => Some(n.clone()),
                            _ => None,
                        })
                    })
                    .collect())
            })
            .await?)
    }

    async fn forwarding_is(&self, ns: &str, on: bool) -> Result<bool, L3Error> {
        let (netns, name) = (self.netns().clone(), ns.to_owned());
        let values = blocking(ns, move || {
            // /proc/sys/net is the namespace of the thread that opens it.
            let read = || FORWARDING.iter().map(std::fs::read_to_string).collect::<io::Result<Vec<_>>>();
            netns.run_in(&name, read)?.map_err(|e| NetnsError::failed("read ip_forward in", &name, e))
        })
        .await?;
        let want = if on { "1" } else { "0" };
        Ok(values.iter().all(|v| v.trim() == want))
    }

    async fn set_forwarding(&self, ns: &str, on: bool) -> Result<(), L3Error> {
        let (netns, name) = (self.netns().clone(), ns.to_owned());
        let value: &'static [u8] = if on { b"1" } else { b"0" };
        Ok(blocking(ns, move || {
            let write = || FORWARDING.iter().try_for_each(|p| std::fs::write(p, value));
            netns.run_in(&name, write)?.map_err(|e| NetnsError::failed("set forwarding in", &name, e))
        })
        .await?)
    }

    async fn routes(&self, ns: &str) -> Result<Vec<Route>, L3Error> {
        let name = ns.to_owned();
        Ok(self
            .ports
            .in_ns(
                ns,
                move |h| async move { Ok(route_messages(&h, &name).await?.iter().filter_map(route_of).collect()) },
            )
            .await?)
    }

    async fn add_route(&self, ns: &str, route: &Route) -> Result<(), L3Error> {
        let route = *route;
        let target = format!("{route} in {ns}");
        Ok(self
            .ports
            .in_ns(ns, move |h| async move {
                let built = RouteMessageBuilder::<IpAddr>::new()
                    .destination_prefix(route.destination.network, route.destination.prefix_len)
                    .and_then(|b| b.gateway(route.gateway));
                let msg = match built {
                    Ok(b) => b.build(),
                    Err(e) => {
                        let e = io::Error::new(io::ErrorKind::InvalidInput, e.to_string());
                        return Err(NetnsError::failed("build route", &target, e));
                    }
                };
                h.route().add(msg).replace().execute().await.map_err(|e| nl_err("add route", &target, e))
            })
            .await?)
    }

    async fn del_route(&self, ns: &str, route: &Route) -> Result<(), L3Error> {
        let (route, name) = (*route, ns.to_owned());
        let target = format!("{route} in {ns}");
        Ok(self
            .ports
            .in_ns(ns, move |h| async move {
                for msg in route_messages(&h, &name).await? {
                    if route_of(&msg) == Some(route) {
                        match h.route().del(msg).execute().await {
                            Err(e) if !is_errno(&e, libc::ESRCH) => return Err(nl_err("delete route", &target, e)),
                            _ => {}
                        }
                    }
                }
                Ok(())
            })
            .await?)
    }

    async fn nat(&self, ns: &str) -> Result<Option<NatSummary>, L3Error> {
        let args: Vec<String> = ["-j", "list", "table", "inet", nat::TABLE].map(String::from).into();
        let out = self.run(ns, &self.nft, args.clone(), None).await?;
        if !out.status.success() {
            // nft says "No such file or directory" for a missing table.
            if String::from_utf8_lossy(&out.stderr).contains("No such file or directory") {
                return Ok(None);
            }
            return Err(Self::failed(ns, &self.nft, &args, &out));
        }
        let summary = nat::read_back(&String::from_utf8_lossy(&out.stdout))
            .map_err(|source| L3Error::ReadBack { namespace: ns.to_owned(), source })?;
        Ok(Some(summary))
    }

    async fn apply_nat(&self, ns: &str, ruleset: &NatRuleset) -> Result<(), L3Error> {
        let args: Vec<String> = ["-j", "-f", "-"].map(String::from).into();
        let out = self.run(ns, &self.nft, args.clone(), Some(ruleset.batch_json())).await?;
        if !out.status.success() {
            return Err(Self::failed(ns, &self.nft, &args, &out));
        }
        Ok(())
    }

    async fn flush_conntrack(&self, ns: &str, what: &ConntrackFlush) -> Result<(), L3Error> {
        let runs: Vec<Vec<String>> = match what {
            ConntrackFlush::FloatingIp(ip) => {
                vec![
                    vec!["-D".into(), "-d".into(), ip.to_string()],
                    vec!["-D".into(), "--reply-dst".into(), ip.to_string()],
                ]
            }
            ConntrackFlush::PortForwarding { floating, protocol, external_port } => vec![vec![
                "-D".into(),
                "-d".into(),
                floating.to_string(),
                "-p".into(),
                protocol.to_string(),
                "--dport".into(),
                external_port.to_string(),
            ]],
        };
        for args in runs {
            let out = self.run(ns, &self.conntrack, args.clone(), None).await?;
            // conntrack exits 1 when nothing matched: "0 flow entries have been deleted".
            let stderr = String::from_utf8_lossy(&out.stderr);
            if !out.status.success() && !stderr.contains("flow entries have been deleted") {
                return Err(Self::failed(ns, &self.conntrack, &args, &out));
            }
        }
        Ok(())
    }

    async fn radvd(&self, pid_file: &Path, ns: &str) -> Result<Option<Daemon>, L3Error> {
        let file_err = |source| L3Error::File { op: "find the radvd of", path: pid_file.to_owned(), source };
        process::find_daemon(pid_file, &self.netns().path(ns), |argv| radvd::is_own(argv, pid_file)).map_err(file_err)
    }

    async fn start_radvd(&self, ns: &str, argv: &[String], pid_file: &Path) -> Result<Option<u32>, L3Error> {
        let Some((program, args)) = argv.split_first() else {
            return Err(L3Error::Invalid { what: "radvd command line", value: String::new() });
        };
        // Its first process exits once the daemon has written its pid file, non-zero (with
        // the reason on stderr, as `-m syslog` logs there until it daemonizes) on failure.
        let program = Path::new(program);
        let out = self.run(ns, program, args.to_vec(), None).await?;
        if !out.status.success() {
            return Err(Self::failed(ns, program, args, &out));
        }
        process::read_pid(pid_file).map_err(|source| L3Error::File { op: "read", path: pid_file.to_owned(), source })
    }

    async fn reload_radvd(&self, pid: u32) -> Result<(), L3Error> {
        process::signal(pid, libc::SIGHUP).map_err(|source| L3Error::Process { op: "send SIGHUP to", pid, source })
    }

    async fn stop_radvd(&self, pid: u32) -> Result<(), L3Error> {
        process::stop(pid).await.map_err(|source| L3Error::Process { op: "stop", pid, source })
    }

    async fn read_config(&self, path: &Path) -> Result<Option<String>, L3Error> {
        match tokio::fs::read_to_string(path).await {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(L3Error::File { op: "read", path: path.to_owned(), source }),
        }
    }

    async fn write_config(&self, path: &Path, contents: &str) -> Result<(), L3Error> {
        let (path, contents) = (path.to_owned(), contents.to_owned());
        blocking("radvd config", move || write_read_only(&path, &contents)).await
    }

    async fn state_dirs(&self, dir: &Path) -> Result<Vec<String>, L3Error> {
        let err = |source| L3Error::File { op: "list", path: dir.to_owned(), source };
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(err(e)),
        };
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(err)? {
            if entry.file_type().await.map_err(err)?.is_dir() {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    async fn remove_dir(&self, dir: &Path) -> Result<(), L3Error> {
        match tokio::fs::remove_dir_all(dir).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                Err(L3Error::File { op: "remove", path: dir.to_owned(), source: e })
            }
            _ => Ok(()),
        }
    }
}

/// Writes `contents` to a new file next to `path` (mode 0444: radvd refuses a configuration
/// its group or others may write) and renames it over `path`, so radvd never reads half a file.
fn write_read_only(path: &Path, contents: &str) -> Result<(), L3Error> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let err = |op, p: &Path| {
        let path = p.to_owned();
        move |source| L3Error::File { op, path, source }
    };
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o755).create(dir).map_err(err("create", dir))?;
    }
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(err("remove", &tmp)(e)),
        _ => {}
    }
    let mut file =
        std::fs::OpenOptions::new().write(true).create_new(true).mode(0o444).open(&tmp).map_err(err("create", &tmp))?;
    file.write_all(contents.as_bytes()).and_then(|()| file.sync_all()).map_err(err("write", &tmp))?;
    std::fs::rename(&tmp, path).map_err(err("replace", path))
}
