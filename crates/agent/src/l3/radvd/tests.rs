use std::path::Path;

use neutrino_agent_api::{RouterPort, RouterSubnet};

use super::*;

fn subnet(cidr: &str, ra_mode: Option<&str>, dns: &[&str]) -> RouterSubnet {
    RouterSubnet {
        id: format!("s-{cidr}"),
        cidr: cidr.to_owned(),
        ip_version: if cidr.contains(':') { 6 } else { 4 },
        ipv6_ra_mode: ra_mode.map(str::to_owned),
        ipv6_address_mode: ra_mode.map(str::to_owned),
        dns_nameservers: dns.iter().map(|d| (*d).to_owned()).collect(),
    }
}

fn port(id: &str, mtu: u32, subnets: Vec<RouterSubnet>) -> RouterPort {
    RouterPort {
        port_id: id.to_owned(),
        network_id: "net".to_owned(),
        mac_address: "fa:16:3e:00:00:01".to_owned(),
        mtu,
        addresses: Vec::new(),
        cidrs: subnets.iter().map(|s| s.cidr.clone()).collect(),
        subnets,
    }
}

/// The ports Neutron 26's `DaemonMonitor._generate_radvd_conf` was run with to write
/// `neutron-radvd.conf` (its device names are `qr-<id[:11]>` as here).
fn neutron_ports() -> Vec<RouterPort> {
    vec![
        port(
            "aaaaaaaa-1111-2222",
            1450,
            vec![
                subnet("2001:db8:1::/64", Some("slaac"), &["2001:db8::53", "2001:db8::54"]),
                subnet("10.0.0.0/24", None, &[]),
                subnet("2001:db8:2::/64", Some("dhcpv6-stateful"), &["2001:db8::55"]),
                subnet("2001:db8:3::/64", Some("dhcpv6-stateless"), &[]),
            ],
        ),
        port("bbbbbbbb-1111", 1000, vec![subnet("2001:db8:4::/64", None, &[])]),
        port("cccccccc-1111", 1500, vec![subnet("10.1.0.0/24", None, &[])]),
        port("dddddddd-1111", 1500, vec![subnet("2001:db8:5::/64", Some("slaac"), &["1::1", "1::2", "1::3", "1::4"])]),
    ]
}

#[test]
fn renders_exactly_what_neutron_writes() {
    let expected = include_str!("neutron-radvd.conf");
    assert_eq!(render(&RaConfig::default(), &neutron_ports()).as_deref(), Some(expected));
}

#[test]
fn one_slaac_interface() {
    let ports = [port("0123456789abcdef", 1450, vec![subnet("2001:db8::/64", Some("slaac"), &[])])];
    let text = render(&RaConfig { min_rtr_adv_interval: 3, max_rtr_adv_interval: 10, ..RaConfig::default() }, &ports);
    let expected = "interface qr-0123456789a\n{\n   AdvSendAdvert on;\n   MinRtrAdvInterval 3;\n   MaxRtrAdvInterval 10;\
                    \n   AdvLinkMTU 1450;\n   \n   prefix 2001:db8::/64\n   {\n        AdvOnLink on;\n        AdvAutonomous on;\
                    \n   };\n   \n\n   route fe80::a9fe:a9fe/128 {\n   };\n};";
    assert_eq!(text.as_deref(), Some(expected));
}

#[test]
fn stateful_only_sets_m_and_a_non_autonomous_prefix() {
    let ports = [port("p1", 1500, vec![subnet("2001:db8::/64", Some("dhcpv6-stateful"), &["2001:db8::53"])])];
    let text = render(&RaConfig::default(), &ports).unwrap();
    assert!(text.contains("AdvManagedFlag on;"));
    assert!(!text.contains("AdvOtherConfigFlag"));
    assert!(text.contains("AdvAutonomous off;"));
    // RDNSS comes from slaac subnets only (DHCPv6 hands DNS out itself).
    assert!(!text.contains("RDNSS"));
}

#[test]
fn no_ipv6_subnet_means_no_radvd() {
    assert_eq!(render(&RaConfig::default(), &[]), None);
    let ports = [port("p1", 1500, vec![subnet("10.0.0.0/24", None, &[])])];
    assert_eq!(render(&RaConfig::default(), &ports), None);
}

#[test]
fn small_mtu_is_not_advertised() {
    let ports = [port("p1", 1279, vec![subnet("2001:db8::/64", Some("slaac"), &[])])];
    assert!(!render(&RaConfig::default(), &ports).unwrap().contains("AdvLinkMTU"));
    let ports = [port("p1", 1280, vec![subnet("2001:db8::/64", Some("slaac"), &[])])];
    assert!(render(&RaConfig::default(), &ports).unwrap().contains("AdvLinkMTU 1280;"));
}

#[test]
fn command_line_and_ownership() {
    let cfg = RaConfig::default();
    let paths = RadvdPaths::new(Path::new("/var/lib/neutrino/ra"), "r1");
    let argv = argv(&cfg, &paths);
    assert_eq!(
        argv.join(" "),
        "/usr/sbin/radvd -C /var/lib/neutrino/ra/r1/radvd.conf -p /var/lib/neutrino/ra/r1/radvd.pid -m syslog"
    );
    assert!(is_own(&argv, &paths.pid));
    assert!(!is_own(&argv, Path::new("/var/lib/neutrino/ra/r2/radvd.pid")));
    let mut other = argv.clone();
    other[0] = "/usr/sbin/dnsmasq".to_owned();
    assert!(!is_own(&other, &paths.pid));
}

#[test]
fn values_that_do_not_parse_never_reach_the_file() {
    let mut bad = subnet("2001:db8::/64\n};\ninterface eth0 {", Some("slaac"), &["2001:db8::53;\n}", "2001:db8::54"]);
    bad.ip_version = 6;
    let good = subnet("2001:db8:1::/64", Some("slaac"), &["2001:db8::55", "10.0.0.1"]);
    let text = render(&RaConfig::default(), &[port("p1", 1500, vec![bad, good])]).unwrap();
    assert!(!text.contains("eth0") && !text.contains("2001:db8::53"), "{text}");
    assert!(text.contains("RDNSS  2001:db8::55  {};"), "{text}");
    assert!(!text.contains("10.0.0.1"), "{text}");
}
