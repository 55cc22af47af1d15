//! IPv6 router advertisements: one radvd per router, in its `qrouter-` namespace, with the
//! configuration Neutron's `neutron/agent/linux/ra.py` writes, byte for byte.
//!
//! Every interface port with an IPv6 subnet gets an `interface qr-…` section (a subnet
//! without `ipv6_ra_mode` too: the router then advertises itself as default router without a
//! prefix, as Neutron's does): the M flag for `dhcpv6-stateful`, the O flag for
//! `dhcpv6-stateless`, the prefixes (autonomous for `slaac` and `dhcpv6-stateless`, not for
//! `dhcpv6-stateful`), the link MTU when it is at least IPv6's minimum, the first three DNS
//! servers of its `slaac` subnets (RDNSS), and a host route to `fe80::a9fe:a9fe`, where the
//! router serves metadata. A router without such a port runs no radvd.
//!
//! Files live in `<ra_state_dir>/<router-id>/` (`radvd.conf`, mode 0444 since radvd refuses
//! a configuration others may write, and `radvd.pid`); radvd reads the file again on
//! SIGHUP, so a changed configuration costs no restart.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};

use neutrino_agent_api::RouterPort;

use super::qr_name;
use crate::netns::cidr::Cidr;

/// Neutron's `MAX_RDNSS_ENTRIES`: radvd takes at most three servers in one RDNSS line.
const MAX_RDNSS_ENTRIES: usize = 3;
/// `neutron_lib.constants.IPV6_MIN_MTU`: a smaller link MTU is not advertised.
const IPV6_MIN_MTU: u32 = 1280;

/// The radvd part of the L3 configuration (Neutron's `RA_OPTS` names in brackets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaConfig {
    /// Per-router directories of radvd's configuration and pid file (`ra_confs`).
    pub state_dir: PathBuf,
    /// The radvd binary (Debian's `radvd`).
    pub radvd_path: PathBuf,
    /// `MinRtrAdvInterval`, seconds (`min_rtr_adv_interval`).
    pub min_rtr_adv_interval: u32,
    /// `MaxRtrAdvInterval`, seconds (`max_rtr_adv_interval`).
    pub max_rtr_adv_interval: u32,
}

impl Default for RaConfig {
    fn default() -> Self {
        RaConfig {
            state_dir: PathBuf::from("/var/lib/neutrino/ra"),
            radvd_path: PathBuf::from("/usr/sbin/radvd"),
            min_rtr_adv_interval: 30,
            max_rtr_adv_interval: 100,
        }
    }
}

/// Where one router's radvd files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadvdPaths {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub pid: PathBuf,
}

impl RadvdPaths {
    /// `<state_dir>/<router_id>/{radvd.conf,radvd.pid}`; `router_id` must be a valid id.
    pub fn new(state_dir: &Path, router_id: &str) -> Self {
        let dir = state_dir.join(router_id);
        RadvdPaths { conf: dir.join("radvd.conf"), pid: dir.join("radvd.pid"), dir }
    }
}

/// radvd's command line, as Neutron's (`-m syslog`: radvd then closes stderr when it
/// daemonizes, so its starter returns). No `-u`: it runs as the agent's user, root.
pub fn argv(cfg: &RaConfig, paths: &RadvdPaths) -> Vec<String> {
    vec![
        cfg.radvd_path.display().to_string(),
        "-C".to_owned(),
        paths.conf.display().to_string(),
        "-p".to_owned(),
        paths.pid.display().to_string(),
        "-m".to_owned(),
        "syslog".to_owned(),
    ]
}

/// Whether `argv` is the command line of a radvd started with this pid file.
pub fn is_own(argv: &[String], pid_file: &Path) -> bool {
    let pid = pid_file.display().to_string();
    let is_radvd = argv.first().is_some_and(|p| Path::new(p).file_name().is_some_and(|n| n == "radvd"));
    is_radvd && argv.windows(2).any(|w| w[0] == "-p" && w[1] == pid)
}

/// The configuration for a router's interfaces; `None` when none has an IPv6 subnet (then
/// the router runs no radvd).
pub fn render(cfg: &RaConfig, interfaces: &[RouterPort]) -> Option<String> {
    let mut out = String::new();
    for port in interfaces {
        // The family from the CIDR, as Neutron's netaddr; a value that does not parse (the
        // server validates them) never reaches the file, so nothing can be injected into it.
        let v6: Vec<_> = port
            .subnets
            .iter()
            .filter(|s| s.cidr.trim() == s.cidr && Cidr::parse(&s.cidr).is_ok_and(|c| c.network.is_ipv6()))
            .collect();
        if v6.is_empty() {
            continue;
        }
        let mode = |s: &&neutrino_agent_api::RouterSubnet, m: &str| s.ipv6_ra_mode.as_deref() == Some(m);
        out.push_str(&format!(
            "interface {}\n{{\n   AdvSendAdvert on;\n   MinRtrAdvInterval {};\n   MaxRtrAdvInterval {};",
            qr_name(&port.port_id),
            cfg.min_rtr_adv_interval,
            cfg.max_rtr_adv_interval
        ));
        // Each optional part renders as Jinja renders Neutron's `{%- if %}` blocks.
        let mut line = |text: &str| out.push_str(&format!("\n   {text}\n   "));
        if port.mtu >= IPV6_MIN_MTU {
            line(&format!("AdvLinkMTU {};", port.mtu));
        }
        if v6.iter().any(|s| mode(s, "dhcpv6-stateless")) {
            line("AdvOtherConfigFlag on;");
        }
        if v6.iter().any(|s| mode(s, "dhcpv6-stateful")) {
            line("AdvManagedFlag on;");
        }
        let dns: Vec<&str> = v6
            .iter()
            .filter(|s| mode(s, "slaac"))
            .flat_map(|s| s.dns_nameservers.iter().map(String::as_str))
            .filter(|d| d.parse::<Ipv6Addr>().is_ok())
            .take(MAX_RDNSS_ENTRIES)
            .collect();
        if !dns.is_empty() {
            let servers: String = dns.iter().map(|d| format!(" {d} ")).collect();
            line(&format!("RDNSS {servers} {{}};"));
        }
        let auto = v6.iter().filter(|s| mode(s, "slaac") || mode(s, "dhcpv6-stateless"));
        let stateful = v6.iter().filter(|s| mode(s, "dhcpv6-stateful"));
        for (subnet, autonomous) in auto.map(|s| (s, "on")).chain(stateful.map(|s| (s, "off"))) {
            line(&format!(
                "prefix {}\n   {{\n        AdvOnLink on;\n        AdvAutonomous {autonomous};\n   }};",
                subnet.cidr
            ));
        }
        out.push_str("\n\n   route fe80::a9fe:a9fe/128 {\n   };\n};");
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests;
