//! A simulated guest: a network namespace whose `eth0` is a veth whose peer is the `tap…` device in
//! its host's namespace, exactly where a hypervisor would plug a VM's tap.

use std::ffi::{OsStr, OsString};
use std::net::{Ipv6Addr, SocketAddr, UdpSocket};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Result, TestbedError};
use crate::process::{Process, Signal, Spec};
use crate::shared::Shared;

/// A VM of the testbed. A cheap handle (clone it); valid until `remove_vm` or the testbed drops.
#[derive(Debug, Clone)]
pub struct Vm {
    pub(crate) name: String,
    pub(crate) netns: String,
    pub(crate) host_netns: String,
    pub(crate) tap: String,
    pub(crate) mac: String,
    pub(crate) mtu: u32,
    pub(crate) shared: Arc<Shared>,
}

/// What a DHCP server offered a VM ([`Vm::dhcp`]), as udhcpc reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpLease {
    pub ip: String,
    /// Prefix length (udhcpc's `$mask`).
    pub mask: Option<String>,
    pub router: Option<String>,
    pub dns: Vec<String>,
    pub mtu: Option<u32>,
    /// Option 121, `dest/len via dest/len via ...` flattened to `dest via` pairs.
    pub static_routes: Option<String>,
    pub domain: Option<String>,
    /// The DHCP server's address (option 54).
    pub server_id: Option<String>,
    pub lease_seconds: Option<u32>,
}

/// Outcome of [`Vm::ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingResult {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
}

impl PingResult {
    /// Requests without a reply.
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.received)
    }
}

/// Counts of a [`PingStream`], from ping's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingStats {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
    /// `sent - received`: how many packets a data-plane change (agent restart, migration) cost.
    pub lost: u32,
}

impl Vm {
    /// The name given to `add_vm`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The VM's network namespace (`nt<tag>-<name>`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The namespace of the host it is plugged into.
    pub fn host_netns(&self) -> &str {
        &self.host_netns
    }

    /// The tap device in the host namespace (the veth peer of the VM's `eth0`).
    pub fn tap(&self) -> &str {
        &self.tap
    }

    /// The MAC address of the VM's `eth0` (lowercase).
    pub fn mac(&self) -> &str {
        &self.mac
    }

    /// The MTU of `eth0` and the tap.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Runs `argv` inside the VM (`ip netns exec <vm> …`); output whatever the exit status.
    pub fn exec<I, S>(&self, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.shared.exec(&self.netns, argv)
    }

    /// Like [`Vm::exec`], a non-zero exit being an error; returns stdout.
    pub fn exec_ok<I, S>(&self, argv: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.shared.exec_ok(&self.netns, argv)
    }

    /// Adds a static address (`10.0.0.5/24`, `2001:db8::5/64`) to `eth0`, as a guest without DHCP
    /// would.
    pub fn set_addr(&self, cidr: &str) -> Result<()> {
        self.exec_ok(["ip", "addr", "add", cidr, "dev", "eth0"]).map(drop)
    }

    /// Sets the default route via `gateway`.
    pub fn set_gateway(&self, gateway: &str) -> Result<()> {
        self.exec_ok(["ip", "route", "replace", "default", "via", gateway]).map(drop)
    }

    /// Asks for a lease with a real DHCP client (busybox `udhcpc`, requesting the MTU and
    /// classless static routes too) and applies it as a guest's DHCP client script does:
    /// address, default route, classless routes, MTU. Returns what the server offered, or
    /// `None` when no server answered within `timeout`.
    pub fn dhcp(&self, timeout: Duration) -> Result<Option<DhcpLease>> {
        self.dhcp_request(timeout, None)
    }

    /// [`Vm::dhcp`] asking for a given address first (a renewal of a known lease).
    pub fn dhcp_request(&self, timeout: Duration, requested: Option<&str>) -> Result<Option<DhcpLease>> {
        // The client script prints what the server offered; the lease is applied here.
        let script = "#!/bin/sh\n[ \"$1\" = bound ] || [ \"$1\" = renew ] || exit 0\n\
                      for k in ip mask router dns mtu staticroutes domain serverid lease; do eval \"echo $k=\\$$k\"; done\n";
        let path = std::env::temp_dir().join(format!("udhcpc-{}.sh", self.netns));
        std::fs::write(&path, script).map_err(|e| TestbedError::io("writing the DHCP client script", e))?;
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| TestbedError::io("making the DHCP client script executable", e))?;
        let tries = timeout.as_secs().max(1).to_string();
        let script_path = path.display().to_string();
        let mut argv = vec![
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-f",
            "-q",
            "-n",
            "-t",
            &tries,
            "-T",
            "1",
            "-A",
            "1",
            "-O",
            "mtu",
            "-O",
            "staticroutes",
            "-O",
            "domain",
            "-s",
            &script_path,
        ];
        if let Some(ip) = requested {
            argv.extend(["-r", ip]);
        }
        let out = self.exec(argv)?;
        let _ = std::fs::remove_file(&path);
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let get = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("{k}=")))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let Some(ip) = get("ip") else { return Ok(None) };
        let lease = DhcpLease {
            ip,
            mask: get("mask"),
            router: get("router"),
            dns: get("dns").map(|d| d.split_whitespace().map(str::to_string).collect()).unwrap_or_default(),
            mtu: get("mtu").and_then(|m| m.parse().ok()),
            static_routes: get("staticroutes"),
            domain: get("domain"),
            server_id: get("serverid"),
            lease_seconds: get("lease").and_then(|m| m.parse().ok()),
        };
        self.apply_lease(&lease)?;
        Ok(Some(lease))
    }

    fn apply_lease(&self, lease: &DhcpLease) -> Result<()> {
        let prefix = lease.mask.as_deref().and_then(|m| m.parse::<u8>().ok()).unwrap_or(24);
        let _ = self.exec(["ip", "addr", "flush", "dev", "eth0"]);
        self.exec_ok(["ip", "addr", "add", &format!("{}/{prefix}", lease.ip), "dev", "eth0"])?;
        if let Some(mtu) = lease.mtu {
            self.exec_ok(["ip", "link", "set", "eth0", "mtu", &mtu.to_string()])?;
        }
        // Classless routes (RFC 3442) replace the router option when present.
        if let Some(routes) = &lease.static_routes {
            let parts: Vec<&str> = routes.split_whitespace().collect();
            for pair in parts.chunks(2) {
                if let [dest, via] = pair {
                    let _ = self.exec(["ip", "route", "replace", dest, "via", via, "dev", "eth0"]);
                }
            }
        } else if let Some(router) = &lease.router {
            self.exec_ok(["ip", "route", "replace", "default", "via", router])?;
        }
        Ok(())
    }

    /// Pings `ip` until `count` replies arrived or `timeout` elapsed (`ping -c count -w timeout`,
    /// 0.2 s apart). Losing every packet is a result (`received == 0`), not an error: tests
    /// assert isolation with it too.
    pub fn ping(&self, ip: &str, count: u32, timeout: Duration) -> Result<PingResult> {
        let deadline = timeout.as_secs().max(1).to_string();
        let count = count.max(1).to_string();
        let out = self.exec(["ping", "-n", "-q", "-i", "0.2", "-c", &count, "-w", &deadline, ip])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (sent, received) = parse_ping_summary(&text).ok_or_else(|| TestbedError::Parse {
            what: format!("ping {ip} in {}", self.netns),
            output: format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
        })?;
        Ok(PingResult { sent, received })
    }

    /// Starts a background `ping -i <interval> -W 1 <ip>` in the VM; [`PingStream::stop`] tells
    /// how many packets were lost meanwhile (during an agent restart, a live migration…).
    /// Intervals below 200 ms need root, which the testbed has.
    pub fn ping_stream(&self, ip: &str, interval_ms: u32) -> Result<PingStream> {
        let interval = format!("{:.3}", f64::from(interval_ms.max(1)) / 1000.0);
        let program = OsString::from("ping");
        let spec = Spec {
            netns: self.netns.clone(),
            log_path: self.shared.log_path(&self.netns, &program),
            program,
            args: ["-n", "-i", &interval, "-W", "1", ip].iter().map(OsString::from).collect(),
            env: Vec::new(),
        };
        Ok(PingStream { process: self.shared.spawn(spec)? })
    }
}

impl Vm {
    /// A UDP socket of the VM bound to `addr` (the socket stays in the VM's namespace; use it
    /// from any thread). For tests that need exact source ports, such as a packet matching
    /// another connection's tuple.
    pub fn udp_socket(&self, addr: SocketAddr) -> Result<UdpSocket> {
        crate::ns::in_netns(&self.netns, || UdpSocket::bind(addr))?
            .map_err(|e| TestbedError::io(format!("binding UDP {addr} in {}", self.netns), e))
    }

    /// Sends one ICMPv6 `message` (type, code, zero checksum, body: the kernel fills in the
    /// checksum) from `src` to `dst` out of `eth0` with hop limit 255, as a guest crafting
    /// neighbour discovery would (neighbour discovery is only accepted with hop limit 255).
    pub fn send_icmpv6(&self, src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> Result<()> {
        let context = format!("sending ICMPv6 {src} -> {dst} in {}", self.netns);
        crate::ns::in_netns(&self.netns, || raw_icmpv6(src, dst, message))?.map_err(|e| TestbedError::io(context, e))
    }
}

/// One ICMPv6 datagram on a raw socket (see [`Vm::send_icmpv6`]); in the caller's namespace.
fn raw_icmpv6(src: Ipv6Addr, dst: Ipv6Addr, message: &[u8]) -> std::io::Result<()> {
    let check = |rc: libc::c_int| if rc < 0 { Err(std::io::Error::last_os_error()) } else { Ok(rc) };
    // SAFETY: plain socket calls on a descriptor this function owns and closes; every pointer
    // passed points at a live local of the size given.
    unsafe {
        let fd = check(libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMPV6))?;
        let result = (|| {
            let hops: libc::c_int = 255;
            for opt in [libc::IPV6_UNICAST_HOPS, libc::IPV6_MULTICAST_HOPS] {
                check(libc::setsockopt(
                    fd,
                    libc::IPPROTO_IPV6,
                    opt,
                    (&hops as *const libc::c_int).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                ))?;
            }
            let scope = if src.is_unicast_link_local() || dst.is_unicast_link_local() || dst.is_multicast() {
                libc::if_nametoindex(c"eth0".as_ptr())
            } else {
                0
            };
            let addr = |ip: Ipv6Addr| libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: ip.octets() },
                sin6_scope_id: scope,
            };
            let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            let from = addr(src);
            check(libc::bind(fd, (&from as *const libc::sockaddr_in6).cast(), len))?;
            let to = addr(dst);
            let sent = libc::sendto(
                fd,
                message.as_ptr().cast(),
                message.len(),
                0,
                (&to as *const libc::sockaddr_in6).cast(),
                len,
            );
            if sent < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        })();
        libc::close(fd);
        result
    }
}

/// A background ping started by [`Vm::ping_stream`].
#[derive(Debug)]
pub struct PingStream {
    process: Process,
}

impl PingStream {
    /// The ping process (its log holds one line per reply).
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// Interrupts ping (SIGINT, so that it prints its summary) and returns the counts.
    pub fn stop(self) -> Result<PingStats> {
        self.process.signal(Signal::Int)?;
        if self.process.wait_timeout(Duration::from_secs(5))?.is_none() {
            self.process.kill()?;
        }
        let log = self.process.read_log();
        let (sent, received) = parse_ping_summary(&log)
            .ok_or_else(|| TestbedError::Parse { what: "ping summary".into(), output: log.clone() })?;
        Ok(PingStats { sent, received, lost: sent.saturating_sub(received) })
    }
}

/// `(transmitted, received)` from the last "N packets transmitted, M received" line.
pub(crate) fn parse_ping_summary(text: &str) -> Option<(u32, u32)> {
    let line = text.lines().rev().find(|l| l.contains("packets transmitted"))?;
    let mut parts = line.split(',');
    let first = |s: Option<&str>| s?.split_whitespace().next()?.parse::<u32>().ok();
    let sent = first(parts.next())?;
    let received = first(parts.next())?;
    Some((sent, received))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_summary() {
        let out = "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n\n--- 10.0.0.2 ping statistics ---\n\
                   12 packets transmitted, 9 received, +2 errors, 25% packet loss, time 1103ms\n\
                   rtt min/avg/max/mdev = 0.030/0.050/0.090/0.010 ms\n";
        assert_eq!(parse_ping_summary(out), Some((12, 9)));
        assert_eq!(parse_ping_summary("3 packets transmitted, 0 received, 100% packet loss"), Some((3, 0)));
        assert_eq!(parse_ping_summary("ping: connect: Network is unreachable"), None);
    }
}
