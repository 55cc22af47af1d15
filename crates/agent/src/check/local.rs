//! The checks that read only this host: its name, `local_ip`, physnet interfaces, the
//! bridge-netfilter sysctls, the tools, and the DHCP state directory.

use super::system::{Link, System};
use super::{CheckInput, Finding};
use crate::firewall::BRIDGE_SYSCTLS;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

/// The user dnsmasq drops to: its compiled-in default (the agent passes no `--user`).
pub const DNSMASQ_USER: &str = "nobody";

/// Every local check, in the order they print.
pub fn run(input: &CheckInput, sys: &dyn System, repair: bool) -> Vec<Finding> {
    let links = sys.links();
    let mut out = vec![hostname(input, sys)];
    match &links {
        Ok(links) => {
            out.push(local_ip(input, links));
            out.extend(physnets(input, links));
        }
        Err(e) => out.push(Finding::fail("interfaces", format!("cannot list interfaces: {e}"), "install iproute2")),
    }
    out.extend(br_netfilter(input, sys, repair));
    out.extend(tools(input, sys));
    out.extend(dhcp_state_dir(input, sys));
    out
}

fn hostname(input: &CheckInput, sys: &dyn System) -> Finding {
    let host = &input.settings.host;
    match sys.hostname() {
        Ok(name) if &name == host => Finding::ok("hostname", format!("host '{host}' is the hostname")),
        Ok(name) => Finding::warn(
            "hostname",
            format!("host '{host}' differs from the hostname '{name}': Nova binds ports to its own `host` (the hostname by default), and ports bound to a host no agent serves fail to bind"),
            "make --host equal to the host `openstack compute service list` shows for this hypervisor",
        ),
        Err(e) => Finding::warn("hostname", format!("cannot read the hostname: {e}"), "check /proc/sys/kernel/hostname"),
    }
}

/// The interface carrying `ip`, if any.
pub fn link_with<'a>(links: &'a [Link], ip: &std::net::IpAddr) -> Option<&'a Link> {
    links.iter().find(|l| l.addresses.contains(ip))
}

fn local_ip(input: &CheckInput, links: &[Link]) -> Finding {
    let Some(ip) = input.settings.l2.local_ip else {
        return Finding::ok("local_ip", "no local_ip: this host carries no VXLAN networks");
    };
    match link_with(links, &ip) {
        Some(l) if l.up => Finding::ok("local_ip", format!("{ip} is on {} (up, mtu {})", l.name, l.mtu)),
        Some(l) => Finding::fail(
            "local_ip",
            format!("{ip} is on {}, which is down: no VXLAN traffic leaves or reaches this host", l.name),
            format!("ip link set {} up (and check its cable or peer)", l.name),
        ),
        None => Finding::fail(
            "local_ip",
            format!("{ip} is on no interface of this host: VXLAN packets would come from no address here"),
            "set --local-ip to this host's underlay address (`ip -br addr` lists them)",
        ),
    }
}

fn physnets(input: &CheckInput, links: &[Link]) -> Vec<Finding> {
    let mappings = &input.settings.l2.physical_interface_mappings;
    mappings
        .iter()
        .map(|(physnet, iface)| match links.iter().find(|l| &l.name == iface) {
            Some(l) if l.up => Finding::ok("physnet", format!("{physnet}:{iface} is up (mtu {})", l.mtu)),
            Some(_) => Finding::fail(
                "physnet",
                format!("{physnet}:{iface} is down: flat and VLAN networks on {physnet} carry nothing"),
                format!("ip link set {iface} up (and check its cable or switch port)"),
            ),
            None => Finding::fail(
                "physnet",
                format!("{physnet}:{iface}: no interface {iface} on this host"),
                format!("fix physical_interface_mappings ({physnet}:<an interface of `ip -br link`>)"),
            ),
        })
        .collect()
}

fn br_netfilter(input: &CheckInput, sys: &dyn System, repair: bool) -> Vec<Finding> {
    let Some(dir) = input.bridge_sysctl_dir() else {
        return vec![Finding::ok("br_netfilter", "security groups are off: bridged traffic is not filtered")];
    };
    let mut out = Vec::new();
    for name in BRIDGE_SYSCTLS {
        let path = dir.join(name);
        let mut value = sys.read(&path).map(|v| v.trim().to_string());
        if let Err(e) = &value {
            if e.kind() == ErrorKind::NotFound {
                return vec![Finding::fail(
                    "br_netfilter",
                    format!("{} is missing: br_netfilter is not loaded, so security groups filter nothing bridged (only anti-spoofing applies)", path.display()),
                    "modprobe br_netfilter, and list it in /etc/modules-load.d/ to survive reboots",
                )];
            }
        }
        if repair && value.as_deref().is_ok_and(|v| v != "1") {
            // What the firewall's first pass does anyway; done here so the check sees the
            // state the agent will run with.
            let _ = sys.write(&path, "1\n");
            value = sys.read(&path).map(|v| v.trim().to_string());
        }
        let sysctl = format!("net.bridge.{name}");
        out.push(match value {
            Ok(v) if v == "1" => Finding::ok("br_netfilter", format!("{sysctl} = 1")),
            Ok(v) if repair => Finding::fail(
                "br_netfilter",
                format!("{sysctl} = {v} and cannot be set: security groups would filter nothing bridged"),
                format!("sysctl -w {sysctl}=1 in this network namespace (is /proc/sys read-only here?)"),
            ),
            Ok(v) => Finding::warn(
                "br_netfilter",
                format!("{sysctl} = {v}: security groups filter nothing bridged until it is 1 (the agent sets it when it starts; whatever reset it may do so again)"),
                format!("sysctl -w {sysctl}=1 and persist it in /etc/sysctl.d/"),
            ),
            Err(e) => Finding::fail("br_netfilter", format!("cannot read {}: {e}", path.display()), "run the agent as root"),
        });
    }
    out
}

/// `nft`, `dnsmasq`, `conntrack` and `radvd` as this agent's services need them.
fn tools(input: &CheckInput, sys: &dyn System) -> Vec<Finding> {
    let s = &input.settings;
    let mut out = Vec::new();
    let nft = s.firewall.as_ref().map(|f| f.nft_path.clone()).or_else(|| s.dhcp.as_ref().map(|d| d.nft_path.clone()));
    if let Some(path) = nft.or_else(|| s.l3.as_ref().map(|l| l.nft_path.clone())) {
        out.push(tool(sys, "nft", &path, true, "apt-get install nftables"));
    }
    if let Some(d) = &s.dhcp {
        out.push(tool(sys, "dnsmasq", &d.dnsmasq_path, true, "apt-get install dnsmasq-base"));
    }
    match &s.l3 {
        Some(l3) => {
            out.push(tool(sys, "conntrack", &l3.conntrack_path, true, "apt-get install conntrack"));
            out.push(tool(
                sys,
                "radvd",
                &l3.ra.radvd_path,
                false,
                "apt-get install radvd (IPv6 subnets on routers need it)",
            ));
        }
        None => out.push(tool(
            sys,
            "conntrack",
            Path::new("/usr/sbin/conntrack"),
            false,
            "apt-get install conntrack (to inspect connections)",
        )),
    }
    out
}

/// `<path> --version`: its first line, or a FAIL (`needed`) or WARN.
fn tool(sys: &dyn System, name: &str, path: &Path, needed: bool, fix: &str) -> Finding {
    let shown = path.display().to_string();
    let version = match sys.run(&[shown.as_str(), "--version"]) {
        Ok(out) if out.success => out.stdout.lines().next().unwrap_or_default().trim().to_string(),
        Ok(out) => return missing(name, format!("{shown} --version failed: {}", out.stderr.trim()), needed, fix),
        Err(e) => return missing(name, format!("cannot run {shown}: {e}"), needed, fix),
    };
    Finding::ok(name, version)
}

fn missing(name: &str, detail: String, needed: bool, fix: &str) -> Finding {
    if needed {
        Finding::fail(name, detail, fix)
    } else {
        Finding::warn(name, detail, fix)
    }
}

/// dnsmasq drops to `nobody` after start and then reads its host files: every directory
/// from `/` down to the state directory must let `nobody` through. A 0700 parent leaves
/// every VM without a lease, and dnsmasq says nothing.
fn dhcp_state_dir(input: &CheckInput, sys: &dyn System) -> Option<Finding> {
    let dir = &input.settings.dhcp.as_ref()?.state_dir;
    let Some((uid, gid)) = passwd_entry(sys, DNSMASQ_USER) else {
        return Some(Finding::warn(
            "dhcp_state_dir",
            format!("no user {DNSMASQ_USER} in /etc/passwd: cannot tell whether dnsmasq can read {}", dir.display()),
            format!("add the user {DNSMASQ_USER} (dnsmasq drops to it)"),
        ));
    };
    let mut path = PathBuf::new();
    for part in dir.components() {
        path.push(part);
        let mode = match sys.mode(&path) {
            Ok(m) => m,
            // The agent creates what is missing (0755, under the default umask).
            Err(e) if e.kind() == ErrorKind::NotFound => break,
            Err(e) => {
                return Some(Finding::fail(
                    "dhcp_state_dir",
                    format!("cannot stat {}: {e}", path.display()),
                    "run the agent as root",
                ))
            }
        };
        let shift = if mode.uid == uid {
            6
        } else if mode.gid == gid {
            3
        } else {
            0
        };
        let need = if path == *dir { 0o5 } else { 0o1 };
        if (mode.mode >> shift) & need != need {
            let what = if need == 0o5 { "read" } else { "enter" };
            return Some(Finding::fail(
                "dhcp_state_dir",
                format!("dnsmasq runs as {DNSMASQ_USER} and cannot {what} {} (mode {:o}, owner {}): every VM would go without a DHCP lease", path.display(), mode.mode, mode.uid),
                format!("chmod o+{} {} (or choose another --dhcp-state-dir)", if need == 0o5 { "rx" } else { "x" }, path.display()),
            ));
        }
    }
    Some(Finding::ok("dhcp_state_dir", format!("{} is readable by {DNSMASQ_USER} (dnsmasq's user)", dir.display())))
}

/// `(uid, gid)` of `user` from /etc/passwd.
fn passwd_entry(sys: &dyn System, user: &str) -> Option<(u32, u32)> {
    let passwd = sys.read(Path::new("/etc/passwd")).ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == user).then(|| Some((f[2].parse().ok()?, f[3].parse().ok()?))).flatten()
    })
}
