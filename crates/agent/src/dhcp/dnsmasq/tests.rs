//! Rendering against the formats Neutron's Dnsmasq driver writes (its unit tests'
//! expectations in `neutron/tests/unit/agent/linux/test_dhcp.py` use the same shapes).

use std::path::PathBuf;

use neutrino_agent_api::{DhcpFixedIp, DhcpHost, DhcpNetwork, DhcpPort, DhcpSubnet, ExtraDhcpOpt, HostRoute};

use super::*;

pub(crate) const NET: &str = "5e0f6a4c-1d2b-4c3d-8e9f-0a1b2c3d4e5f";
const V4: &str = "aaaaaaaa-0000-4000-8000-000000000004";
const V6: &str = "bbbbbbbb-0000-4000-8000-000000000006";
const SLAAC: &str = "cccccccc-0000-4000-8000-00000000000a";

fn cfg() -> DhcpConfig {
    DhcpConfig { state_dir: PathBuf::from("/var/lib/neutrino/dhcp"), ..DhcpConfig::default() }
}

fn fip(subnet: &str, ip: &str) -> DhcpFixedIp {
    DhcpFixedIp { subnet_id: subnet.into(), ip_address: ip.parse().unwrap() }
}

fn opt(name: &str, value: &str, v: u8) -> ExtraDhcpOpt {
    ExtraDhcpOpt { opt_name: name.into(), opt_value: value.into(), ip_version: v }
}

fn host(port: &str, mac: &str, ips: Vec<DhcpFixedIp>, opts: Vec<ExtraDhcpOpt>) -> DhcpHost {
    DhcpHost {
        dns_assignment: vec![],
        port_id: port.into(),
        mac_address: mac.into(),
        hostname: format!("host-{}", ips[0].ip_address.to_string().replace(['.', ':'], "-")),
        fixed_ips: ips,
        device_id: "vm".into(),
        device_owner: "compute:nova".into(),
        project_id: "p".into(),
        extra_dhcp_opts: opts,
    }
}

pub(crate) fn subnet(id: &str, cidr: &str, v: u8) -> DhcpSubnet {
    DhcpSubnet {
        router_attached: false,
        id: id.into(),
        cidr: cidr.into(),
        ip_version: v,
        gateway_ip: None,
        dns_nameservers: vec![],
        host_routes: vec![],
        ipv6_address_mode: None,
        ipv6_ra_mode: None,
    }
}

/// A dual-stack network: IPv4 with DNS and a host route, stateful DHCPv6, SLAAC.
pub(crate) fn dual_stack() -> DhcpNetwork {
    let mut v4 = subnet(V4, "10.0.0.0/24", 4);
    v4.gateway_ip = Some("10.0.0.1".parse().unwrap());
    v4.dns_nameservers = vec!["8.8.8.8".into(), "8.8.4.4".into()];
    v4.host_routes = vec![HostRoute { destination: "10.1.0.0/16".into(), nexthop: "10.0.0.254".parse().unwrap() }];
    let mut v6 = subnet(V6, "2001:db8::/64", 6);
    v6.gateway_ip = Some("2001:db8::1".parse().unwrap());
    v6.dns_nameservers = vec!["2001:4860:4860::8888".into()];
    v6.ipv6_address_mode = Some("dhcpv6-stateful".into());
    v6.ipv6_ra_mode = Some("dhcpv6-stateful".into());
    let mut slaac = subnet(SLAAC, "2001:db8:1::/64", 6);
    slaac.ipv6_address_mode = Some("slaac".into());
    slaac.ipv6_ra_mode = Some("slaac".into());
    DhcpNetwork {
        network_id: NET.into(),
        project_id: "p".into(),
        mtu: 1450,
        port: DhcpPort {
            id: "d1c2b3a4-0000-4000-8000-000000000001".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            fixed_ips: vec![fip(V4, "10.0.0.2"), fip(V6, "2001:db8::2")],
        },
        subnets: vec![v4, v6, slaac],
        hosts: vec![
            host("p1", "fa:16:3e:00:00:0a", vec![fip(V4, "10.0.0.5"), fip(V6, "2001:db8::5")], vec![]),
            host(
                "p2",
                "fa:16:3e:00:00:0b",
                vec![fip(V4, "10.0.0.6"), fip(SLAAC, "2001:db8:1::6")],
                vec![
                    opt("bootfile-name", "pxelinux.0", 4),
                    opt("150", "10.0.0.99", 4),
                    opt("tag:ipxe,bootfile-name", "boot.ipxe", 4),
                ],
            ),
            host(
                "p3",
                "fa:16:3e:00:00:0c",
                vec![fip(V4, "10.0.0.7")],
                vec![opt("client-id", "cid-7", 4), opt("mtu", "1400", 4)],
            ),
            host("p4", "fa:16:3e:00:00:0d", vec![fip(V4, "10.0.0.8")], vec![opt("dns-server", "[2001:db8::53]", 6)]),
        ],
    }
}

#[test]
fn command_line_is_neutrons() {
    let r = render(&cfg(), &dual_stack()).unwrap();
    let dir = format!("/var/lib/neutrino/dhcp/{NET}");
    let expected: Vec<String> = [
        "/usr/sbin/dnsmasq".to_owned(),
        "--no-hosts".into(),
        "--no-resolv".into(),
        format!("--pid-file={dir}/pid"),
        format!("--dhcp-hostsfile={dir}/host"),
        format!("--addn-hosts={dir}/addn_hosts"),
        format!("--dhcp-optsfile={dir}/opts"),
        format!("--dhcp-leasefile={dir}/leases"),
        "--dhcp-match=set:ipxe,175".into(),
        "--dhcp-userclass=set:ipxe6,iPXE".into(),
        "--local-service".into(),
        "--bind-dynamic".into(),
        "--interface=ns-d1c2b3a4-00".into(),
        "--except-interface=lo".into(),
        "--dns-forward-max=150".into(),
        "--cache-size=150".into(),
        format!("--dhcp-range=set:subnet-{V4},10.0.0.0,static,255.255.255.0,86400s"),
        format!("--dhcp-range=set:subnet-{V6},2001:db8::,static,64,86400s"),
        "--dhcp-option-force=option:mtu,1450".into(),
        "--dhcp-lease-max=16777216".into(),
        "--conf-file=/dev/null".into(),
        "--domain=openstacklocal".into(),
    ]
    .into();
    assert_eq!(r.argv, expected);
}

#[test]
fn forwarders_and_the_hosts_resolvers() {
    let net = dual_stack();
    let forwarders = DhcpConfig {
        dns_servers: vec!["192.0.2.53".parse().unwrap(), "2001:db8::53#5353".parse().unwrap()],
        local_resolv: true,
        ..cfg()
    };
    let argv = render(&forwarders, &net).unwrap().argv;
    assert!(argv.contains(&"--no-resolv".to_owned()), "forwarders win over local_resolv: {argv:?}");
    let servers: Vec<&String> = argv.iter().filter(|a| a.starts_with("--server=")).collect();
    assert_eq!(servers, ["--server=192.0.2.53", "--server=2001:db8::53#5353"]);
    // Neutron's dnsmasq_local_resolv: the host's resolv.conf, only when asked and alone.
    let local = render(&DhcpConfig { local_resolv: true, ..cfg() }, &net).unwrap().argv;
    assert!(!local.contains(&"--no-resolv".to_owned()), "{local:?}");
    assert!(!local.iter().any(|a| a.starts_with("--server=") || a == "--port=0"), "{local:?}");
}

#[test]
fn a_dns_name_names_every_address_of_its_port() {
    let mut net = dual_stack();
    net.hosts[0].hostname = "web-1".into();
    net.hosts[1].hostname = "host-web".into();
    let r = render(&cfg(), &net).unwrap();
    assert!(r.addn_hosts.starts_with(
        "10.0.0.5\tweb-1.openstacklocal web-1\n2001:db8::5\tweb-1.openstacklocal web-1\n\
         10.0.0.6\thost-web.openstacklocal host-web\n"
    ));
    assert!(r.hosts.contains("fa:16:3e:00:00:0a,web-1.openstacklocal,10.0.0.5\n"), "{}", r.hosts);
}

#[test]
fn the_metadata_route_follows_isolation() {
    let mut net = dual_stack();
    net.subnets[0].router_attached = true;
    // A router on the subnet serves its metadata: the route goes to the gateway.
    let r = render(&cfg(), &net).unwrap();
    assert!(r.opts.contains("169.254.169.254/32,10.0.0.1,"), "{}", r.opts);
    // force_metadata: to the DHCP port whatever the subnet.
    let force =
        DhcpConfig { metadata: crate::dhcp::MetadataMode { force_metadata: true, ..Default::default() }, ..cfg() };
    assert!(render(&force, &net).unwrap().opts.contains("169.254.169.254/32,10.0.0.2,"));
    // Neither option and an isolated subnet: no metadata route at all.
    net.subnets[0].router_attached = false;
    let off = crate::dhcp::MetadataMode { enable_isolated_metadata: false, force_metadata: false };
    let r = render(&DhcpConfig { metadata: off, ..cfg() }, &net).unwrap();
    assert!(!r.opts.contains("169.254.169.254"), "{}", r.opts);
}

#[test]
fn several_dhcp_ports_are_all_resolvers_of_subnets_without_nameservers() {
    let mut net = dual_stack();
    net.subnets[0].dns_nameservers.clear();
    net.subnets[1].dns_nameservers.clear();
    let r = render(&cfg(), &net).unwrap();
    assert!(!r.opts.contains("dns-server"), "one DHCP port: dnsmasq's own default: {}", r.opts);
    let mut other = host("d2", "fa:16:3e:00:00:02", vec![fip(V4, "10.0.0.3"), fip(V6, "2001:db8::3")], vec![]);
    other.device_owner = "network:dhcp".into();
    net.hosts.push(other);
    let r = render(&cfg(), &net).unwrap();
    assert!(
        r.opts.ends_with(&format!(
            "tag:subnet-{V4},option:dns-server,10.0.0.2,10.0.0.3\n\
         tag:subnet-{V6},option6:dns-server,[2001:db8::2],[2001:db8::3]"
        )),
        "{}",
        r.opts
    );
}

#[test]
fn lease_max_counts_the_ranges() {
    let mut net = dual_stack();
    net.subnets.truncate(1);
    let r = render(&DhcpConfig { lease_duration: 600, ..cfg() }, &net).unwrap();
    assert!(r.argv.contains(&"--dhcp-lease-max=256".to_owned()), "{:?}", r.argv);
    assert!(r.argv.iter().any(|a| a.ends_with(",255.255.255.0,600s")));
}

#[test]
fn ipv6_modes_pick_ranges_like_neutron() {
    let mut net = dual_stack();
    net.subnets[1].ipv6_address_mode = Some("dhcpv6-stateless".into());
    let r = render(&cfg(), &net).unwrap();
    assert!(r.argv.iter().any(|a| a == &format!("--dhcp-range=set:subnet-{V6},2001:db8::,static,64,86400s")));
    // A prefix shorter than /64 gets no range.
    net.subnets[1].cidr = "2001:db8::/56".into();
    let r = render(&cfg(), &net).unwrap();
    assert!(!r.argv.iter().any(|a| a.contains(V6)));
    // SLAAC never gets one.
    assert!(!r.argv.iter().any(|a| a.contains(SLAAC)));
}

#[test]
fn hosts_file() {
    let r = render(&cfg(), &dual_stack()).unwrap();
    let expected = "\
fa:16:3e:00:00:0a,host-10-0-0-5.openstacklocal,10.0.0.5
fa:16:3e:00:00:0a,tag:dhcpv6,host-2001-db8--5.openstacklocal,[2001:db8::5]
fa:16:3e:00:00:0b,host-10-0-0-6.openstacklocal,10.0.0.6,set:port-p2
fa:16:3e:00:00:0c,id:cid-7,host-10-0-0-7.openstacklocal,10.0.0.7,set:port-p3
fa:16:3e:00:00:0d,host-10-0-0-8.openstacklocal,10.0.0.8,set:port-p4
";
    assert_eq!(r.hosts, expected);
}

#[test]
fn a_client_id_that_would_add_fields_is_left_out() {
    // Stored before the API refused such values: it must not reach the line as fields.
    let mut net = dual_stack();
    net.hosts[2].extra_dhcp_opts = vec![opt("Client-ID", "x,set:evil", 4)];
    let r = render(&cfg(), &net).unwrap();
    assert!(r.hosts.contains("fa:16:3e:00:00:0c,host-10-0-0-7.openstacklocal,10.0.0.7,set:port-p3\n"), "{}", r.hosts);
    assert!(!r.hosts.contains("evil"), "{}", r.hosts);
    assert!(!r.opts.contains("evil"), "{}", r.opts);
}

#[test]
fn stateless_ipv6_lines_come_first() {
    let mut net = dual_stack();
    net.subnets[1].ipv6_address_mode = Some("dhcpv6-stateless".into());
    net.hosts[0].extra_dhcp_opts = vec![opt("dns-server", "[2001:db8::53]", 6)];
    let r = render(&cfg(), &net).unwrap();
    assert!(
        r.hosts.starts_with(
            "fa:16:3e:00:00:0a,tag:dhcpv6,set:port-p1\n\
             fa:16:3e:00:00:0a,host-10-0-0-5.openstacklocal,10.0.0.5,set:port-p1\n"
        ),
        "{}",
        r.hosts
    );
}

#[test]
fn addn_hosts_file() {
    let r = render(&cfg(), &dual_stack()).unwrap();
    assert!(r.addn_hosts.starts_with(
        "10.0.0.5\thost-10-0-0-5.openstacklocal host-10-0-0-5\n\
         2001:db8::5\thost-2001-db8--5.openstacklocal host-2001-db8--5\n"
    ));
    // SLAAC addresses are named too (Neutron lists every address).
    assert!(r.addn_hosts.contains("2001:db8:1::6\thost-2001-db8-1--6.openstacklocal host-2001-db8-1--6\n"));
}

#[test]
fn the_servers_dns_assignment_names_each_address() {
    let mut net = dual_stack();
    let names = |ip: &str, host: &str, fqdn: &str| neutrino_agent_api::DnsName {
        ip_address: ip.parse().unwrap(),
        hostname: host.into(),
        fqdn: fqdn.into(),
    };
    // The server's domain, not the agent's; an address it did not name falls back.
    net.hosts[0].hostname = "web".into();
    net.hosts[0].dns_assignment = vec![names("10.0.0.5", "web", "web.example.org.")];
    let r = render(&cfg(), &net).unwrap();
    assert!(r.addn_hosts.starts_with("10.0.0.5\tweb.example.org web\n"), "{}", r.addn_hosts);
    assert!(r.hosts.contains("fa:16:3e:00:00:0a,web.example.org,10.0.0.5"), "{}", r.hosts);
    assert!(r.addn_hosts.contains("2001:db8::5\tweb.openstacklocal web\n"), "{}", r.addn_hosts);
}

#[test]
fn opts_file() {
    let r = render(&cfg(), &dual_stack()).unwrap();
    let routes = "10.1.0.0/16,10.0.0.254,169.254.169.254/32,10.0.0.2,0.0.0.0/0,10.0.0.1";
    let expected = [
        format!("tag:subnet-{V4},option:dns-server,8.8.8.8,8.8.4.4"),
        format!("tag:subnet-{V4},option:classless-static-route,{routes}"),
        format!("tag:subnet-{V4},249,{routes}"),
        format!("tag:subnet-{V4},option:router,10.0.0.1"),
        format!("tag:subnet-{V6},option6:dns-server,[2001:4860:4860::8888]"),
        format!("tag:subnet-{V6},option6:domain-search,openstacklocal"),
        "tag:port-p2,option:bootfile-name,pxelinux.0".into(),
        "tag:port-p2,150,10.0.0.99".into(),
        "tag:port-p2,tag:ipxe,option:bootfile-name,boot.ipxe".into(),
        "tag:port-p3,option:mtu,1400".into(),
    ]
    .join("\n");
    assert_eq!(r.opts, expected);
    assert_eq!(r.notes, vec!["port p4: DHCP option dns-server not served: the port has no IPv6 address".to_owned()]);
}

#[test]
fn routes_without_gateway_and_other_subnets() {
    let mut net = dual_stack();
    net.subnets.truncate(1);
    let mut second = subnet("s2", "10.2.0.0/24", 4);
    second.host_routes = vec![HostRoute { destination: "0.0.0.0/0".into(), nexthop: "10.2.0.254".parse().unwrap() }];
    second.dns_nameservers = vec!["0.0.0.0".into()];
    net.subnets.push(second);
    net.subnets[0].gateway_ip = None;
    net.subnets[0].host_routes.clear();
    let r = render(&cfg(), &net).unwrap();
    let lines: Vec<&str> = r.opts.lines().collect();
    assert_eq!(
        lines[..4],
        [
            format!("tag:subnet-{V4},option:dns-server,8.8.8.8,8.8.4.4").as_str(),
            // the other subnet is on-link; the metadata route goes to the DHCP port; no gateway
            format!("tag:subnet-{V4},option:classless-static-route,10.2.0.0/24,0.0.0.0,169.254.169.254/32,10.0.0.2")
                .as_str(),
            format!("tag:subnet-{V4},249,10.2.0.0/24,0.0.0.0,169.254.169.254/32,10.0.0.2").as_str(),
            format!("tag:subnet-{V4},option:router").as_str(),
        ]
    );
    // `0.0.0.0` alone: announce no DNS; the default host route stands in for the gateway;
    // no DHCP port address there, so no metadata route.
    assert_eq!(
        lines[4..8],
        [
            "tag:subnet-s2,option:dns-server",
            "tag:subnet-s2,option:classless-static-route,10.0.0.0/24,0.0.0.0,0.0.0.0/0,10.2.0.254",
            "tag:subnet-s2,249,10.0.0.0/24,0.0.0.0,0.0.0.0/0,10.2.0.254",
            "tag:subnet-s2,option:router,10.2.0.254",
        ]
    );
}

#[test]
fn only_the_first_line_of_any_text_is_used() {
    let mut net = dual_stack();
    net.hosts[1].extra_dhcp_opts = vec![opt("bootfile-name\ndhcp-range=evil", "a\nb", 4)];
    let r = render(&cfg(), &net).unwrap();
    assert!(r.opts.ends_with("tag:port-p2,option:bootfile-name,a\ntag:port-p3,option:mtu,1400"), "{}", r.opts);
    assert!(!r.opts.contains("evil"));
}

#[test]
fn invalid_cidr_names_network_and_subnet() {
    let mut net = dual_stack();
    net.subnets[0].cidr = "10.0.0.0/99".into();
    let err = render(&cfg(), &net).unwrap_err();
    assert_eq!(err.to_string(), format!("network {NET}: subnet {V4} has an invalid cidr"));
}

#[test]
fn init_leases_bootstrap_v4_and_keep_v6() {
    let existing = "duid 00:01:00:01:aa\n1700000000 1234 2001:db8::5 host-x 00:03:00:01\n\
                    1700000000 99 2001:db8::77 gone *\n1700000000 fa:16:3e:00:00:0a 10.0.0.5 x *\n";
    let leases = init_leases(&cfg(), &dual_stack(), existing);
    let expected = "duid 00:01:00:01:aa\n0 fa:16:3e:00:00:0a 10.0.0.5 * *\n\
                    1700000000 1234 2001:db8::5 host-x 00:03:00:01\n\
                    0 fa:16:3e:00:00:0b 10.0.0.6 * *\n0 fa:16:3e:00:00:0c 10.0.0.7 * *\n\
                    0 fa:16:3e:00:00:0d 10.0.0.8 * *\n";
    assert_eq!(leases, expected);
}
