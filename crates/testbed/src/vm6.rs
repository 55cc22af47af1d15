//! IPv6 configuration of a simulated guest, as a guest OS does it: router advertisements
//! (the kernel's SLAAC, and the advertisement itself read off the wire), and DHCPv6 with a
//! real client (ISC `dhclient -6`, Debian's `isc-dhcp-client`).

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::error::{Result, TestbedError};
use crate::vm::Vm;

/// A router advertisement a VM received ([`Vm::router_advert`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterAdvert {
    /// The router's (link-local) source address.
    pub source: Ipv6Addr,
    /// M: addresses come from DHCPv6.
    pub managed: bool,
    /// O: other configuration (DNS) comes from DHCPv6.
    pub other: bool,
    /// Router lifetime in seconds (0: not a default router).
    pub lifetime: u16,
    /// Prefix information options.
    pub prefixes: Vec<RaPrefix>,
    /// RDNSS servers.
    pub dns: Vec<Ipv6Addr>,
    /// The MTU option.
    pub mtu: Option<u32>,
    /// Route information options (`prefix/len`).
    pub routes: Vec<String>,
}

/// A prefix information option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaPrefix {
    /// `prefix/len`.
    pub prefix: String,
    pub on_link: bool,
    /// A: hosts make their own address in it (SLAAC).
    pub autonomous: bool,
}

/// What `dhclient -6` got ([`Vm::dhcp6`], [`Vm::dhcp6_info`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dhcp6Lease {
    /// Addresses of the IA_NA (none for an information request).
    pub addresses: Vec<Ipv6Addr>,
    pub dns: Vec<Ipv6Addr>,
    pub domain_search: Vec<String>,
}

impl Vm {
    /// Makes `eth0` a host that takes router advertisements (`accept_ra=1`, `autoconf=1`,
    /// `forwarding=0`), as a guest OS's defaults are.
    pub fn accept_ra(&self) -> Result<()> {
        for (key, value) in [("forwarding", "0"), ("accept_ra", "1"), ("autoconf", "1")] {
            let path = format!("/proc/sys/net/ipv6/conf/eth0/{key}");
            self.exec_ok(["sh", "-c", &format!("echo {value} > {path}")])?;
        }
        Ok(())
    }

    /// `eth0`'s link-local address once it passed duplicate address detection.
    pub fn link_local(&self, timeout: Duration) -> Result<Ipv6Addr> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.exec_ok(["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "link"])?;
            let ready = out.lines().filter(|l| !l.contains("tentative")).find_map(inet6_of);
            if let Some(addr) = ready {
                return Ok(addr);
            }
            if Instant::now() > deadline {
                return Err(TestbedError::Parse {
                    what: format!("link-local address in {}", self.netns()),
                    output: out,
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `eth0`'s global addresses (`ip -6 addr show scope global`), tentative ones left out.
    pub fn global_addrs6(&self) -> Result<Vec<Ipv6Addr>> {
        let out = self.exec_ok(["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global"])?;
        Ok(out.lines().filter(|l| !l.contains("tentative")).filter_map(inet6_of).collect())
    }

    /// Waits until `eth0` has a global address made from a router advertisement (SLAAC).
    pub fn slaac(&self, timeout: Duration) -> Result<Vec<Ipv6Addr>> {
        let deadline = Instant::now() + timeout;
        loop {
            let out = self.exec_ok(["ip", "-6", "-o", "addr", "show", "dev", "eth0", "scope", "global", "dynamic"])?;
            let addrs: Vec<Ipv6Addr> = out.lines().filter(|l| !l.contains("tentative")).filter_map(inet6_of).collect();
            if !addrs.is_empty() {
                return Ok(addrs);
            }
            if Instant::now() > deadline {
                return Ok(Vec::new());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The IPv6 default route's next hop (`ip -6 route show default`), if any.
    pub fn default_route6(&self) -> Result<Option<String>> {
        let out = self.exec_ok(["ip", "-6", "route", "show", "default"])?;
        Ok(out.split_whitespace().skip_while(|w| *w != "via").nth(1).map(str::to_string))
    }

    /// Sends a router solicitation and returns the first router advertisement received on
    /// `eth0` within `timeout` (solicited or not).
    pub fn router_advert(&self, timeout: Duration) -> Result<Option<RouterAdvert>> {
        self.link_local(timeout)?;
        let context = format!("waiting for a router advertisement in {}", self.netns());
        crate::ns::in_netns(self.netns(), || crate::ra_socket::receive_ra(timeout))?
            .map_err(|e| TestbedError::io(context, e))
    }

    /// Asks for an address with `dhclient -6` (stateful DHCPv6: Solicit, Advertise, Request,
    /// Reply) and adds it to `eth0` as Debian's client script does (`/128`: the on-link prefix
    /// comes from router advertisements). `None` when no server answered within `timeout`.
    pub fn dhcp6(&self, timeout: Duration) -> Result<Option<Dhcp6Lease>> {
        self.run_dhclient6(timeout, false)
    }

    /// `dhclient -6 -S`: an information request (stateless DHCPv6: DNS servers, search list).
    pub fn dhcp6_info(&self, timeout: Duration) -> Result<Option<Dhcp6Lease>> {
        self.run_dhclient6(timeout, true)
    }

    fn run_dhclient6(&self, timeout: Duration, info_only: bool) -> Result<Option<Dhcp6Lease>> {
        self.link_local(timeout)?;
        let dir = self.shared.log_dir.join(format!("dhclient6-{}", self.name()));
        let io = |what: &str| {
            let what = format!("{what} in {}", dir.display());
            move |e| TestbedError::io(what, e)
        };
        std::fs::create_dir_all(&dir).map_err(io("creating the dhclient directory"))?;
        let (record, script, conf) = (dir.join("record"), dir.join("script.sh"), dir.join("dhclient.conf"));
        let (lease, pid) = (dir.join("dhclient6.leases"), dir.join("dhclient6.pid"));
        let _ = std::fs::remove_file(&record);
        // dhclient runs its script with a clean environment: the record path is in the text.
        let text = format!(
            "#!/bin/sh\nPATH=/usr/sbin:/usr/bin:/sbin:/bin\ncase \"$reason\" in\n  BOUND6|RENEW6|REBIND6|REBOOT6)\n\
             \x20   [ -n \"$new_ip6_address\" ] && ip -6 addr replace \"$new_ip6_address/$new_ip6_prefixlen\" dev \"$interface\"\n\
             \x20   echo \"address=$new_ip6_address\" >> {rec}\n\
             \x20   echo \"dns=$new_dhcp6_name_servers\" >> {rec}\n    echo \"search=$new_dhcp6_domain_search\" >> {rec};;\n\
             \x20 INFORM6)\n    echo \"dns=$new_dhcp6_name_servers\" >> {rec}\n\
             \x20   echo \"search=$new_dhcp6_domain_search\" >> {rec};;\nesac\nexit 0\n",
            rec = record.display()
        );
        std::fs::write(&script, text).map_err(io("writing the dhclient script"))?;
        std::fs::set_permissions(&script, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(io("making the dhclient script executable"))?;
        std::fs::write(&conf, "request dhcp6.name-servers, dhcp6.domain-search;\n")
            .map_err(io("writing dhclient.conf"))?;
        let secs = timeout.as_secs().max(1).to_string();
        let (script, conf, lease, pidf) = (
            script.display().to_string(),
            conf.display().to_string(),
            lease.display().to_string(),
            pid.display().to_string(),
        );
        let mut argv = vec![
            "timeout", &secs, "dhclient", "-6", "-1", "-v", "-D", "LL", "-sf", &script, "-cf", &conf, "-lf", &lease,
            "-pf", &pidf,
        ];
        if info_only {
            argv.push("-S");
        }
        argv.push("eth0");
        let out = self.exec(argv)?;
        // dhclient went to the background once it had a lease: it is not needed any more.
        if let Some(daemon) = std::fs::read_to_string(&pid).ok().and_then(|p| p.trim().parse::<i32>().ok()) {
            // SAFETY: kill(2) has no memory-safety preconditions.
            unsafe { libc::kill(daemon, libc::SIGKILL) };
        }
        let Ok(lines) = std::fs::read_to_string(&record) else {
            if !out.status.success() {
                let log = String::from_utf8_lossy(&out.stderr).into_owned();
                eprintln!("dhclient -6 in {} got nothing:\n{log}", self.netns());
            }
            return Ok(None);
        };
        let values = |key: &str| -> Vec<String> {
            let prefix = format!("{key}=");
            lines
                .lines()
                .filter_map(|l| l.strip_prefix(&prefix))
                .flat_map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
                .collect()
        };
        Ok(Some(Dhcp6Lease {
            addresses: values("address").iter().filter_map(|a| a.parse().ok()).collect(),
            dns: values("dns").iter().filter_map(|a| a.parse().ok()).collect(),
            domain_search: values("search"),
        }))
    }
}

/// The address of an `ip -o addr` line (`… inet6 2001:db8::5/64 …`).
fn inet6_of(line: &str) -> Option<Ipv6Addr> {
    let cidr = line.split_whitespace().skip_while(|w| *w != "inet6").nth(1)?;
    cidr.split('/').next()?.parse().ok()
}
