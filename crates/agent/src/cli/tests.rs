use super::*;

fn args() -> AgentArgs {
    AgentArgs {
        host: Some("compute-1".into()),
        servers: vec!["http://198.18.0.1:9696".into()],
        noauth_project: Some("p".into()),
        ..Default::default()
    }
}

#[test]
fn flags_resolve() {
    let mut a = args();
    a.physical_interface_mappings = vec!["physnet1:eth1,physnet2:eth2".into()];
    a.local_ip = Some("198.18.1.1".parse().unwrap());
    let r = a.resolve().unwrap();
    assert_eq!(r.settings.host, "compute-1");
    assert_eq!(r.settings.l2.physical_interface_mappings.len(), 2);
    assert_eq!(r.settings.report_interval, Duration::from_secs(30));
    assert!(matches!(r.credentials, Credentials::NoAuth { .. }));
}

#[test]
fn dhcp_and_metadata_flags() {
    let mut a = args();
    a.nova_metadata_url = Some("http://198.18.0.1:8775".into());
    assert!(a.clone().resolve().err().unwrap().to_string().contains("--dhcp"));
    a.dhcp = true;
    assert!(a.clone().resolve().err().unwrap().to_string().contains("metadata_proxy_shared_secret"));
    a.metadata_proxy_shared_secret = Some("s3cret".into());
    a.dhcp_lease_duration = Some(600);
    let r = a.clone().resolve().unwrap();
    assert_eq!(r.settings.dhcp.as_ref().map(|d| d.lease_duration), Some(600));
    assert!(r.settings.metadata.is_some());
    assert_eq!(r.settings.metadata.as_ref().map(|m| m.limits), Some(crate::metadata::DEFAULT_LIMITS));
    let mut limited = a.clone();
    limited.metadata_header_read_timeout = Some(2.0);
    limited.metadata_max_connections = Some(16);
    let limits = limited.clone().resolve().unwrap().settings.metadata.map(|m| m.limits).unwrap();
    assert_eq!((limits.header_read_timeout, limits.max_connections), (Duration::from_secs(2), 16));
    limited.metadata_max_connections = Some(0);
    assert!(limited.clone().resolve().err().unwrap().to_string().contains("metadata_max_connections"));
    limited.metadata_max_connections = None;
    limited.metadata_request_timeout = Some(0.0);
    assert!(limited.resolve().err().unwrap().to_string().contains("metadata_request_timeout"));
    a.dhcp_lease_duration = Some(60);
    assert!(a.resolve().err().unwrap().to_string().contains("120"));
}

#[test]
fn router_advertisement_flags() {
    let mut a = args();
    a.l3 = true;
    let ra = a.clone().resolve().unwrap().settings.l3.unwrap().ra;
    assert_eq!((ra.min_rtr_adv_interval, ra.max_rtr_adv_interval), (30, 100));
    a.ra_state_dir = Some("/tmp/ra".into());
    (a.min_rtr_adv_interval, a.max_rtr_adv_interval) = (Some(3), Some(10));
    let ra = a.clone().resolve().unwrap().settings.l3.unwrap().ra;
    assert_eq!((ra.min_rtr_adv_interval, ra.max_rtr_adv_interval), (3, 10));
    assert_eq!(ra.state_dir, PathBuf::from("/tmp/ra"));
    a.min_rtr_adv_interval = Some(8);
    assert!(a.clone().resolve().err().unwrap().to_string().contains("min_rtr_adv_interval"));
    a.max_rtr_adv_interval = Some(3600);
    assert!(a.resolve().err().unwrap().to_string().contains("max_rtr_adv_interval"));
}

#[test]
fn routers_get_the_metadata_port_when_metadata_is_proxied() {
    let mut a = args();
    a.l3 = true;
    assert_eq!(a.clone().resolve().unwrap().settings.l3.unwrap().metadata_port, None);
    a.nova_metadata_url = Some("http://198.18.0.1:8775".into());
    a.metadata_proxy_shared_secret = Some("s3cret".into());
    let r = a.clone().resolve().unwrap();
    assert_eq!(r.settings.l3.unwrap().metadata_port, Some(9697), "an L3 host alone proxies metadata too");
    assert_eq!(r.settings.metadata.map(|m| m.router_port), Some(9697));
    a.metadata_port = Some(8775);
    assert_eq!(a.clone().resolve().unwrap().settings.l3.unwrap().metadata_port, Some(8775));
    a.metadata_port = Some(80);
    assert!(a.resolve().err().unwrap().to_string().contains("metadata_port"));
}

#[test]
fn dns_keys_reach_the_dhcp_config() {
    let mut a = args();
    a.dhcp = true;
    a.dnsmasq_dns_servers = vec!["192.0.2.53".into()];
    a.enable_isolated_metadata = Some(false);
    let dhcp = a.clone().resolve().unwrap().settings.dhcp.unwrap();
    assert_eq!(dhcp.dns_servers.len(), 1);
    assert!(!dhcp.metadata.enable_isolated_metadata);
    a.dnsmasq_dns_servers = vec!["not-an-ip".into()];
    assert!(a.resolve().err().unwrap().to_string().contains("dnsmasq_dns_servers"));

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "dhcp = true\ndnsmasq_dns_servers = [\"192.0.2.1#5353\"]\nforce_metadata = true\n").unwrap();
    let a = AgentArgs { config_file: Some(path), ..args() };
    let dhcp = a.resolve().unwrap().settings.dhcp.unwrap();
    assert_eq!(dhcp.dns_servers[0].to_string(), "192.0.2.1#5353");
    assert!(dhcp.metadata.force_metadata);
}

#[test]
fn bad_values_are_named() {
    let mut a = args();
    a.physical_interface_mappings = vec!["physnet1".into()];
    let e = a.resolve().err().unwrap().to_string();
    assert!(e.contains("physical_interface_mappings") && e.contains("physnet:interface"), "{e}");
    let mut a = args();
    a.physical_interface_mappings = vec!["p:eth1".into(), "p:eth2".into()];
    assert!(a.resolve().err().unwrap().to_string().contains("mapped twice"));
    let mut a = args();
    a.servers = vec![];
    assert!(a.resolve().err().unwrap().to_string().contains("--server"));
    let mut a = args();
    a.noauth_project = None;
    assert!(a.resolve().err().unwrap().to_string().contains("credentials"));
    let mut a = args();
    a.report_interval = Some(0.0);
    assert!(a.resolve().err().unwrap().to_string().contains("report_interval"));
}

#[test]
fn the_file_has_the_flags_keys_and_flags_win() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        "host = \"from-file\"\nservers = [\"http://a:9696\", \"http://b:9696\"]\nlocal_ip = \"198.18.1.7\"\n\
         physical_interface_mappings = [\"physnet1:eth1\"]\nusername = \"neutron\"\npassword = \"pw\"\n",
    )
    .unwrap();
    let a = AgentArgs { config_file: Some(path.clone()), ..Default::default() };
    let r = a.resolve().unwrap();
    assert_eq!(r.settings.host, "from-file");
    assert_eq!(r.servers.len(), 2);
    assert!(matches!(r.credentials, Credentials::Password { ref project_name, .. } if project_name == "service"));
    let a = AgentArgs { config_file: Some(path.clone()), host: Some("flag".into()), ..Default::default() };
    assert_eq!(a.resolve().unwrap().settings.host, "flag");
    std::fs::write(&path, "hots = \"typo\"\n").unwrap();
    let a = AgentArgs { config_file: Some(path), ..Default::default() };
    let e = a.resolve().err().unwrap();
    assert!(matches!(e, StartError::Parse { .. }), "{e}");
}

#[test]
fn check_keys_resolve_and_unknown_check_names_are_refused() {
    let mut a = args();
    a.probe_port = Some(5000);
    a.clock_tolerance = Some(5);
    a.downgrade_checks = vec!["underlay_mtu,hostname".into()];
    let r = a.clone().resolve().unwrap();
    assert_eq!(r.checks.probe_port, 5000);
    assert_eq!(r.checks.clock_tolerance, Duration::from_secs(5));
    assert_eq!(r.checks.downgrade.iter().collect::<Vec<_>>(), ["hostname", "underlay_mtu"]);
    a.downgrade_checks = vec!["mtu".into()];
    let e = a.resolve().err().unwrap().to_string();
    assert!(e.contains("no check 'mtu'") && e.contains("underlay_mtu"), "{e}");
}

#[test]
fn metrics_are_off_unless_an_address_is_given_by_flag_or_file() {
    assert_eq!(args().resolve().unwrap().settings.metrics_listen, None);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "metrics_listen = \"127.0.0.1:9101\"\n").unwrap();
    let a = AgentArgs { config_file: Some(path.clone()), ..args() };
    assert_eq!(a.resolve().unwrap().settings.metrics_listen, Some("127.0.0.1:9101".parse().unwrap()));
    let a = AgentArgs { config_file: Some(path), metrics_listen: Some("10.0.0.5:9102".parse().unwrap()), ..args() };
    assert_eq!(a.resolve().unwrap().settings.metrics_listen, Some("10.0.0.5:9102".parse().unwrap()), "the flag wins");
    assert_eq!(args().resolve().unwrap().settings.metrics_max_connections, 4);
    let a = AgentArgs { metrics_max_connections: Some(0), ..args() };
    assert!(a.resolve().err().unwrap().to_string().contains("metrics_max_connections"));
}

#[test]
fn diagnose_bounds_come_from_flag_or_file_and_are_checked() {
    let limits = args().resolve().unwrap().settings.questions;
    assert_eq!((limits.concurrent, limits.ask_timeout), (4, Duration::from_secs(2)));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "diagnose_max_concurrent = 2\ndiagnose_ask_timeout = 0.5\n").unwrap();
    let a = AgentArgs { config_file: Some(path.clone()), ..args() };
    let limits = a.resolve().unwrap().settings.questions;
    assert_eq!((limits.concurrent, limits.ask_timeout), (2, Duration::from_millis(500)));
    let a = AgentArgs { config_file: Some(path), diagnose_max_concurrent: Some(8), ..args() };
    assert_eq!(a.resolve().unwrap().settings.questions.concurrent, 8, "the flag wins");
    let a = AgentArgs { diagnose_max_concurrent: Some(0), ..args() };
    assert!(a.resolve().err().unwrap().to_string().contains("diagnose_max_concurrent"));
    let a = AgentArgs { diagnose_ask_timeout: Some(0.0), ..args() };
    assert!(a.resolve().err().unwrap().to_string().contains("diagnose_ask_timeout"));
}

#[test]
fn open_vswitch_flags_and_file_keys() {
    let mut a = args();
    a.ovs.mechanism = Some("openvswitch".into());
    a.ovs.bridge_mappings = vec!["physnet1:br-eth1".into()];
    a.ovs.ovs_datapath_type = Some("netdev".into());
    let ovs = a.resolve().unwrap().settings.l2.ovs.unwrap();
    assert_eq!((ovs.bridge_mappings["physnet1"].as_str(), ovs.datapath_type.as_str()), ("br-eth1", "netdev"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(
        &path,
        "host = \"h\"\nservers = [\"http://198.18.0.1:9696\"]\nnoauth_project = \"p\"\nmechanism = \"openvswitch\"\n\
         bridge_mappings = [\"physnet1:br-eth1\"]\novs_rundir = \"/tmp/h1/ovs\"\novs_hybrid_plug = true\n\
         integration_bridge = \"br-int\"\ntunnel_bridge = \"br-tun2\"\n",
    )
    .unwrap();
    let file = AgentArgs { config_file: Some(path), ..Default::default() };
    let ovs = file.resolve().unwrap().settings.l2.ovs.unwrap();
    assert_eq!((ovs.tunnel_bridge.as_str(), ovs.rundir.to_str()), ("br-tun2", Some("/tmp/h1/ovs")));
    assert!(args().resolve().unwrap().settings.l2.ovs.is_none(), "linuxbridge stays the default");
}

#[test]
fn the_testbeds_open_vswitch_flags_parse() {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        agent: AgentArgs,
    }
    let argv = [
        "agent",
        "--host",
        "h1",
        "--server",
        "http://198.18.0.1:9696",
        "--noauth-project",
        "p",
        "--mechanism",
        "openvswitch",
        "--ovs-rundir",
        "/run/h1/ovs",
        "--bridge-mappings",
        "physnet1:br-eth1,physnet2:br-eth2",
        "--local-ip",
        "198.18.1.1",
        "--ovs-datapath-type",
        "netdev",
        "--ovs-hybrid-plug",
        "true",
        "--integration-bridge",
        "br-int",
        "--tunnel-bridge",
        "br-tun",
    ];
    let cli = <Cli as clap::Parser>::try_parse_from(argv).unwrap();
    let ovs = cli.agent.resolve().unwrap().settings.l2.ovs.unwrap();
    assert_eq!(ovs.rundir, PathBuf::from("/run/h1/ovs"));
    assert_eq!(ovs.bridge_mappings.len(), 2);
    assert!(ovs.hybrid_plug && ovs.datapath_type == "netdev");
}
