//! The security groups, judged for one flow with no I/O: does a port's egress (or ingress)
//! filtering admit `<protocol> <port>` to (from) an address, and by which rule. The rules
//! are read as the agent's firewall compiles them (`agent/src/firewall`): a port without
//! port security is unfiltered; otherwise a rule admits when its ethertype is the address's
//! family, its protocol the flow's (none: any), its port range holds the flow's port (for
//! ICMP the type and code of an echo request), and its remote holds the address (a prefix,
//! a remote group's members with their allowed address pairs, an address group's
//! addresses; none: anywhere).

use ipnet::IpNet;
use neutrino_agent_api::{PortSecurity, SecurityGroupState, SecurityRule};
use neutrino_model::diagnose::FlowProtocol;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The flow a diagnosis judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flow {
    pub protocol: FlowProtocol,
    /// The destination port (TCP, UDP); none: any.
    pub port: Option<u16>,
}

impl Flow {
    /// `icmp`, `tcp 22`, `udp`.
    pub fn describe(&self) -> String {
        let name = match self.protocol {
            FlowProtocol::Icmp => "icmp",
            FlowProtocol::Tcp => "tcp",
            FlowProtocol::Udp => "udp",
        };
        match self.port {
            Some(p) if self.protocol != FlowProtocol::Icmp => format!("{name} {p}"),
            _ => name.to_string(),
        }
    }
}

/// Which way the packet crosses the port's filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Leaving the port (`peer` is the destination).
    Egress,
    /// Entering the port (`peer` is the source).
    Ingress,
}

impl Direction {
    fn name(self) -> &'static str {
        match self {
            Direction::Egress => "egress",
            Direction::Ingress => "ingress",
        }
    }
}

/// The rules a judgement reads: groups with their rules, remote groups' member addresses
/// and address groups' addresses (as `firewall::host_security` gathers them), and the
/// groups' names for the evidence.
#[derive(Debug, Clone, Default)]
pub struct Rules {
    pub groups: Vec<SecurityGroupState>,
    pub members: BTreeMap<String, Vec<String>>,
    pub address_groups: BTreeMap<String, Vec<String>>,
    pub names: BTreeMap<String, String>,
}

/// A judgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Port security is off: nothing filters.
    Unfiltered,
    /// The first rule (by group, then rule id) that admits the flow.
    Admitted {
        group: String,
        rule: String,
    },
    Dropped,
}

impl Verdict {
    pub fn admits(&self) -> bool {
        !matches!(self, Verdict::Dropped)
    }
}

/// Whether `port`'s filter admits `flow` in `direction` with `peer` at the other end.
pub fn judge(port: &PortSecurity, rules: &Rules, direction: Direction, flow: Flow, peer: IpAddr) -> Verdict {
    if !port.port_security_enabled {
        return Verdict::Unfiltered;
    }
    for gid in &port.security_group_ids {
        let Some(group) = rules.groups.iter().find(|g| &g.id == gid) else { continue };
        if let Some(rule) = group.rules.iter().find(|r| admits(r, rules, direction, flow, peer)) {
            return Verdict::Admitted { group: gid.clone(), rule: rule.id.clone() };
        }
    }
    Verdict::Dropped
}

/// The evidence of a judgement, in one line.
pub fn evidence(
    verdict: &Verdict,
    port: &PortSecurity,
    rules: &Rules,
    direction: Direction,
    flow: Flow,
    peer: IpAddr,
) -> String {
    let way = match direction {
        Direction::Egress => "to",
        Direction::Ingress => "from",
    };
    let name = |gid: &str| rules.names.get(gid).filter(|n| !n.is_empty()).cloned().unwrap_or_else(|| gid.to_string());
    match verdict {
        Verdict::Unfiltered => format!("port security is disabled on port {}: unfiltered", port.port_id),
        Verdict::Admitted { group, rule } => {
            format!("{} rule {rule} of group {} admits {} {way} {peer}", direction.name(), name(group), flow.describe())
        }
        Verdict::Dropped => {
            let groups: Vec<String> = port.security_group_ids.iter().map(|g| name(g)).collect();
            format!(
                "no {} rule of groups [{}] admits {} {way} {peer}",
                direction.name(),
                groups.join(", "),
                flow.describe()
            )
        }
    }
}

fn admits(rule: &SecurityRule, rules: &Rules, direction: Direction, flow: Flow, peer: IpAddr) -> bool {
    rule.direction == direction.name()
        && family_matches(&rule.ethertype, peer)
        && protocol_matches(rule, flow, peer)
        && remote_matches(rule, rules, peer)
}

fn family_matches(ethertype: &str, peer: IpAddr) -> bool {
    match ethertype {
        "IPv4" => peer.is_ipv4(),
        "IPv6" => peer.is_ipv6(),
        _ => false,
    }
}

fn protocol_matches(rule: &SecurityRule, flow: Flow, peer: IpAddr) -> bool {
    let proto = rule.protocol.as_deref().unwrap_or("").to_ascii_lowercase();
    let wanted = match proto.as_str() {
        "" | "any" => return true,
        "icmp" | "1" | "ipv6-icmp" | "icmpv6" | "58" => FlowProtocol::Icmp,
        "tcp" | "6" => FlowProtocol::Tcp,
        "udp" | "17" => FlowProtocol::Udp,
        _ => return false,
    };
    if wanted != flow.protocol {
        return false;
    }
    match flow.protocol {
        // An echo request: type 8 (128 for IPv6), code 0.
        FlowProtocol::Icmp => {
            let echo = if peer.is_ipv4() { 8 } else { 128 };
            rule.port_range_min.is_none_or(|t| t == echo) && rule.port_range_max.is_none_or(|c| c == 0)
        }
        FlowProtocol::Tcp | FlowProtocol::Udp => match flow.port.map(u32::from) {
            None => true,
            Some(p) => rule.port_range_min.is_none_or(|m| p >= m) && rule.port_range_max.is_none_or(|m| p <= m),
        },
    }
}

fn remote_matches(rule: &SecurityRule, rules: &Rules, peer: IpAddr) -> bool {
    if let Some(prefix) = rule.remote_ip_prefix.as_deref() {
        return holds(prefix, peer);
    }
    if let Some(gid) = rule.remote_group_id.as_deref() {
        return rules.members.get(gid).is_some_and(|m| m.iter().any(|a| holds(a, peer)));
    }
    if let Some(ag) = rule.remote_address_group_id.as_deref() {
        return rules.address_groups.get(ag).is_some_and(|m| m.iter().any(|a| holds(a, peer)));
    }
    true
}

/// Whether an address or CIDR (`10.0.0.5`, `10.0.0.0/24`) holds `peer`.
fn holds(spec: &str, peer: IpAddr) -> bool {
    match spec.parse::<IpNet>() {
        Ok(net) => net.contains(&peer),
        Err(_) => spec.parse::<IpAddr>().is_ok_and(|a| a == peer),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, direction: &str, protocol: Option<&str>, ports: (Option<u32>, Option<u32>)) -> SecurityRule {
        SecurityRule {
            id: id.into(),
            direction: direction.into(),
            ethertype: "IPv4".into(),
            protocol: protocol.map(str::to_string),
            port_range_min: ports.0,
            port_range_max: ports.1,
            remote_ip_prefix: None,
            remote_group_id: None,
            remote_address_group_id: None,
        }
    }

    fn port(groups: &[&str]) -> PortSecurity {
        PortSecurity {
            port_id: "p1".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            ip_addresses: vec!["10.0.0.5".parse().unwrap()],
            allowed_address_pairs: vec![],
            port_security_enabled: true,
            security_group_ids: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn rules(groups: Vec<(&str, Vec<SecurityRule>)>) -> Rules {
        Rules {
            names: groups.iter().map(|(id, _)| (id.to_string(), format!("name-{id}"))).collect(),
            groups: groups
                .into_iter()
                .map(|(id, rules)| SecurityGroupState { id: id.into(), stateful: true, rules })
                .collect(),
            ..Rules::default()
        }
    }

    const TCP22: Flow = Flow { protocol: FlowProtocol::Tcp, port: Some(22) };
    const PING: Flow = Flow { protocol: FlowProtocol::Icmp, port: None };

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_rule_admits_by_protocol_port_range_and_direction() {
        let r = rules(vec![("g", vec![rule("ssh", "ingress", Some("tcp"), (Some(20), Some(25)))])]);
        let p = port(&["g"]);
        let admitted = Verdict::Admitted { group: "g".into(), rule: "ssh".into() };
        assert_eq!(judge(&p, &r, Direction::Ingress, TCP22, ip("10.0.0.9")), admitted);
        assert_eq!(
            evidence(&admitted, &p, &r, Direction::Ingress, TCP22, ip("10.0.0.9")),
            "ingress rule ssh of group name-g admits tcp 22 from 10.0.0.9"
        );
        let tcp80 = Flow { protocol: FlowProtocol::Tcp, port: Some(80) };
        assert_eq!(judge(&p, &r, Direction::Ingress, tcp80, ip("10.0.0.9")), Verdict::Dropped);
        assert_eq!(judge(&p, &r, Direction::Egress, TCP22, ip("10.0.0.9")), Verdict::Dropped);
        let udp22 = Flow { protocol: FlowProtocol::Udp, port: Some(22) };
        assert_eq!(judge(&p, &r, Direction::Ingress, udp22, ip("10.0.0.9")), Verdict::Dropped);
        // An IPv6 peer needs an IPv6 rule.
        assert_eq!(judge(&p, &r, Direction::Ingress, TCP22, ip("fd00::9")), Verdict::Dropped);
    }

    #[test]
    fn the_dropped_evidence_names_the_groups_and_the_flow() {
        let r = rules(vec![("g", vec![rule("web", "ingress", Some("tcp"), (Some(80), Some(80)))]), ("h", vec![])]);
        let p = port(&["g", "h"]);
        let v = judge(&p, &r, Direction::Ingress, TCP22, ip("10.0.0.9"));
        assert_eq!(v, Verdict::Dropped);
        assert_eq!(
            evidence(&v, &p, &r, Direction::Ingress, TCP22, ip("10.0.0.9")),
            "no ingress rule of groups [name-g, name-h] admits tcp 22 from 10.0.0.9"
        );
        // No group at all drops everything.
        assert_eq!(judge(&port(&[]), &r, Direction::Egress, PING, ip("10.0.0.9")), Verdict::Dropped);
    }

    #[test]
    fn icmp_rules_match_echo_requests_and_any_protocol_matches_all() {
        let mut echo = rule("echo", "ingress", Some("icmp"), (Some(8), Some(0)));
        let reply_only = rule("reply", "ingress", Some("icmp"), (Some(0), None));
        let r = rules(vec![("g", vec![reply_only.clone()])]);
        assert_eq!(judge(&port(&["g"]), &r, Direction::Ingress, PING, ip("10.0.0.9")), Verdict::Dropped);
        echo.protocol = Some("1".into());
        let r = rules(vec![("g", vec![reply_only, echo])]);
        assert!(judge(&port(&["g"]), &r, Direction::Ingress, PING, ip("10.0.0.9")).admits());
        let r = rules(vec![("g", vec![rule("all", "egress", None, (None, None))])]);
        assert!(judge(&port(&["g"]), &r, Direction::Egress, TCP22, ip("192.0.2.1")).admits());
        assert!(judge(&port(&["g"]), &r, Direction::Egress, PING, ip("192.0.2.1")).admits());
    }

    #[test]
    fn remotes_are_prefixes_group_members_and_address_groups() {
        let mut by_prefix = rule("pfx", "ingress", None, (None, None));
        by_prefix.remote_ip_prefix = Some("10.0.0.0/29".into());
        let mut by_group = rule("grp", "ingress", None, (None, None));
        by_group.remote_group_id = Some("peers".into());
        let mut by_ag = rule("ag", "ingress", None, (None, None));
        by_ag.remote_address_group_id = Some("ag1".into());
        let mut r = rules(vec![("g", vec![by_prefix, by_group, by_ag])]);
        // A member's allowed address pair (a CIDR) counts as its address.
        r.members.insert("peers".into(), vec!["10.0.1.7".into(), "10.0.2.0/24".into()]);
        r.address_groups.insert("ag1".into(), vec!["192.0.2.0/28".into()]);
        let p = port(&["g"]);
        let rule_of = |peer: &str| match judge(&p, &r, Direction::Ingress, PING, ip(peer)) {
            Verdict::Admitted { rule, .. } => rule,
            other => format!("{other:?}"),
        };
        assert_eq!(rule_of("10.0.0.6"), "pfx");
        assert_eq!(rule_of("10.0.1.7"), "grp");
        assert_eq!(rule_of("10.0.2.99"), "grp");
        assert_eq!(rule_of("192.0.2.3"), "ag");
        assert_eq!(rule_of("10.0.0.9"), "Dropped");
        assert_eq!(rule_of("10.0.1.8"), "Dropped");
    }

    #[test]
    fn a_port_without_port_security_is_unfiltered() {
        let mut p = port(&[]);
        p.port_security_enabled = false;
        let v = judge(&p, &Rules::default(), Direction::Ingress, TCP22, ip("10.0.0.9"));
        assert_eq!(v, Verdict::Unfiltered);
        assert!(v.admits());
        assert!(evidence(&v, &p, &Rules::default(), Direction::Ingress, TCP22, ip("10.0.0.9")).contains("unfiltered"));
    }
}
