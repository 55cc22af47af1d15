//! DNS from the DHCP namespace, as Neutron's dnsmasq driver serves it: guests that get their
//! address by DHCP (busybox udhcpc) are given the DHCP port as resolver when their subnet
//! names none, and ask it with a real resolver client (busybox nslookup): the network's own
//! names resolve, other names go to the agent's forwarders or are refused, and nothing of
//! another network can be asked. Also which metadata route DHCP pushes (isolated or not).

use crate::cloud_with;
use crate::dhcp::served_dhcp_port;
use crate::l3::{external_network, id, obj, router};
use neutrino_client::Collection;
use neutrino_testbed::cloud::{BootedVm, Cloud};
use neutrino_testbed::{DhcpLease, Process};
use serde_json::json;
use std::time::{Duration, Instant};

const LEASE_WAIT: Duration = Duration::from_secs(8);
/// The external side of the forwarder test (the `ext` namespace's `br-ext` address).
const FORWARDER: &str = "203.0.113.1";
const EXTERNAL_NAME: &str = "www.example.test";
const EXTERNAL_ADDRESS: &str = "192.0.2.80";

/// What a resolver said about a name (A records only).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Addresses(Vec<String>),
    /// `REFUSED`, `NXDOMAIN`, ...: the server answered, without an address.
    Failed(String),
    /// No answer at all.
    TimedOut,
}

/// `nslookup -type=a <name> <server>` inside the VM.
fn lookup(vm: &BootedVm, name: &str, server: &str) -> Answer {
    let out = vm.vm.exec(["timeout", "12", "busybox", "nslookup", "-type=a", name, server]).expect("nslookup");
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if let Some(reason) = text.lines().find_map(|l| l.split_once("server can't find ").map(|(_, r)| r.to_string())) {
        return Answer::Failed(reason.rsplit(": ").next().unwrap_or_default().trim().to_string());
    }
    // The answer section: `Name: <name>` followed by `Address: <ip>` lines (the server's
    // own `Address:` line, with its port, comes first).
    let answers: Vec<String> = text
        .lines()
        .skip_while(|l| !l.starts_with("Name:"))
        .filter_map(|l| l.strip_prefix("Address:"))
        .map(|a| a.trim().to_string())
        .collect();
    if !answers.is_empty() {
        return Answer::Addresses(answers);
    }
    assert!(text.contains("timed out") || text.is_empty(), "unexpected nslookup output: {text}");
    Answer::TimedOut
}

/// A network with one DHCP subnet without `dns_nameservers`, served: (network, subnet,
/// DHCP port's address).
fn dns_network(cloud: &Cloud, project: &str, name: &str, cidr: &str) -> (String, String, String) {
    let (name, cidr) = (name.to_string(), cidr.to_string());
    let (net, sub) = cloud
        .api(project, move |c| async move {
            let net = c.create(Collection::Networks, obj(json!({"name": name}))).await?;
            let sub = c
                .create(Collection::Subnets, obj(json!({"network_id": net["id"], "cidr": cidr, "ip_version": 4})))
                .await?;
            Ok((net, sub))
        })
        .expect("network");
    let net_id = id(&net);
    let ip = served_dhcp_port(cloud, &net_id);
    (net_id, id(&sub), ip)
}

/// A VM that took its address by DHCP.
fn dhcp_vm(cloud: &Cloud, project: &str, host: &str, net: &str, name: &str) -> (BootedVm, DhcpLease) {
    let vm = cloud.plug_vm(project, host, net, name, json!({})).expect("vm");
    let lease = vm.vm.dhcp(LEASE_WAIT).unwrap().unwrap_or_else(|| panic!("no lease for {name}"));
    assert_eq!(lease.ip, vm.ip());
    (vm, lease)
}

/// Whether the network's DHCP namespace on `host` holds the metadata address (it serves
/// metadata only then).
fn namespace_has_metadata_address(cloud: &Cloud, host: &str, net: &str) -> bool {
    let ns = format!("qdhcp-{net}");
    let addrs = cloud.host(host).unwrap().exec_ok(["ip", "-n", ns.as_str(), "-4", "addr", "show"]).expect("ip addr");
    addrs.contains("169.254.169.254/32")
}

/// `host-10-50-0-5`, the name Neutron gives a port without a `dns_name`.
fn host_name(ip: &str) -> String {
    format!("host-{}", ip.replace('.', "-"))
}

/// Retries `lookup` while it times out: a resolver just (re)configured may miss the first
/// query (the first packets through a new SNAT, a dnsmasq being reloaded).
fn lookup_settled(vm: &BootedVm, name: &str, server: &str) -> Answer {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = lookup(vm, name, server);
        if answer != Answer::TimedOut || Instant::now() > deadline {
            return answer;
        }
    }
}

/// A DNS server in the external namespace that knows one name (dnsmasq, in the foreground,
/// killed with the testbed).
fn external_forwarder(cloud: &Cloud) -> Process {
    let ext_ns = cloud.tb.netns_name("ext");
    let args = [
        "--keep-in-foreground".to_string(),
        "--no-hosts".into(),
        "--no-resolv".into(),
        "--conf-file=/dev/null".into(),
        "--pid-file".into(),
        "--bind-interfaces".into(),
        format!("--listen-address={FORWARDER}"),
        format!("--address=/{EXTERNAL_NAME}/{EXTERNAL_ADDRESS}"),
        "--log-queries".into(),
        "--log-facility=-".into(),
    ];
    let p = cloud.tb.spawn_in(&ext_ns, "/usr/sbin/dnsmasq", args, &[], None).expect("forwarder");
    std::thread::sleep(Duration::from_millis(300));
    p
}

#[test]
fn guests_resolve_their_network_and_forwarded_names_only() {
    let Some(mut cloud) = cloud_with("dnsfwd", &[], &["--dnsmasq-dns-servers", FORWARDER]) else { return };
    cloud.add_network_node("net1", &format!("{FORWARDER}/24")).unwrap();
    cloud.add_host("h1").unwrap();
    let _forwarder = external_forwarder(&cloud);
    let ext = external_network(&cloud);
    let (net_a, sub_a, dhcp_a) = dns_network(&cloud, "tenant-a", "a", "10.50.0.0/24");
    let (net_b, sub_b, dhcp_b) = dns_network(&cloud, "tenant-a", "b", "10.51.0.0/24");
    router(&cloud, "tenant-a", &ext, &[&sub_a, &sub_b]);

    let (a1, lease) = dhcp_vm(&cloud, "tenant-a", "h1", &net_a, "a1");
    let (a2, _) = dhcp_vm(&cloud, "tenant-a", "h1", &net_a, "a2");
    let (b1, lease_b) = dhcp_vm(&cloud, "tenant-a", "h1", &net_b, "b1");
    // No dns_nameservers: dnsmasq offers itself (option 6) and the domain (option 15).
    assert_eq!(lease.dns, vec![dhcp_a.clone()], "the DHCP port is the resolver");
    assert_eq!(lease_b.dns, vec![dhcp_b.clone()]);
    assert_eq!(lease.domain.as_deref(), Some("openstacklocal"));
    // A router is attached: its gateway, not the DHCP port, is the way to metadata.
    let routes = lease.static_routes.clone().unwrap_or_default();
    assert!(routes.contains("169.254.169.254/32 10.50.0.1"), "metadata via the router: {routes}");
    assert!(!routes.contains(&dhcp_a), "no metadata route to the DHCP port: {routes}");
    assert!(!namespace_has_metadata_address(&cloud, "net1", &net_a), "a routed network's namespace serves metadata");

    // The network's own names, short and fully qualified.
    let a2_name = host_name(a2.ip());
    assert_eq!(lookup_settled(&a1, &a2_name, &dhcp_a), Answer::Addresses(vec![a2.ip().to_string()]));
    let fqdn = format!("{a2_name}.openstacklocal");
    assert_eq!(lookup(&a1, &fqdn, &dhcp_a), Answer::Addresses(vec![a2.ip().to_string()]));
    // An external name, through the qdhcp namespace's default route, the router's SNAT
    // and the agent's forwarder.
    assert_eq!(
        lookup_settled(&a1, EXTERNAL_NAME, &dhcp_a),
        Answer::Addresses(vec![EXTERNAL_ADDRESS.to_string()]),
        "forwarded to {FORWARDER}"
    );

    // Another network's names are not this resolver's: asked upstream, which does not know them.
    let b1_name = host_name(b1.ip());
    assert_eq!(lookup_settled(&b1, &b1_name, &dhcp_b), Answer::Addresses(vec![b1.ip().to_string()]));
    assert!(matches!(lookup(&a1, &b1_name, &dhcp_a), Answer::Failed(_)), "b's name from a's resolver");
    // The router makes b's DHCP port reachable from a, but its resolver does not answer a.
    assert!(a1.vm.ping(&dhcp_b, 3, Duration::from_secs(5)).unwrap().received >= 2, "b's DHCP port is routed");
    assert_eq!(lookup(&a1, &b1_name, &dhcp_b), Answer::TimedOut, "b's resolver answered a guest of a");
}

#[test]
fn without_forwarders_only_the_networks_names_resolve_and_queries_are_rate_limited() {
    let Some(mut cloud) = cloud_with("dnsiso", &[], &["--dns-query-rate-per-client", "20"]) else { return };
    cloud.add_dhcp_host("h1").unwrap();
    cloud.add_host("h2").unwrap();
    let (net, _, dhcp_ip) = dns_network(&cloud, "tenant-a", "iso", "10.52.0.0/24");
    let (v1, lease) = dhcp_vm(&cloud, "tenant-a", "h2", &net, "v1");
    let (v2, _) = dhcp_vm(&cloud, "tenant-a", "h2", &net, "v2");
    assert_eq!(lease.dns, vec![dhcp_ip.clone()]);
    // Isolated (no router): enable_isolated_metadata routes metadata to the DHCP port.
    let routes = lease.static_routes.clone().unwrap_or_default();
    assert!(routes.contains(&format!("169.254.169.254/32 {dhcp_ip}")), "isolated metadata route: {routes}");
    assert!(namespace_has_metadata_address(&cloud, "h1", &net));

    assert_eq!(lookup_settled(&v1, &host_name(v2.ip()), &dhcp_ip), Answer::Addresses(vec![v2.ip().to_string()]));
    // No forwarders, no host resolv.conf: any other name is refused, never looked up.
    assert_eq!(lookup(&v1, EXTERNAL_NAME, &dhcp_ip), Answer::Failed("REFUSED".into()));
    assert_eq!(lookup(&v1, "host-10-99-0-5.openstacklocal", &dhcp_ip), Answer::Failed("REFUSED".into()));

    // 200 queries at once from one guest: about the per-client rate (20/s, burst 20) pass.
    let answered = flood(&v1, &dhcp_ip, &host_name(v2.ip()), 200);
    assert!((10..=60).contains(&answered), "{answered} of 200 queries answered at 20/s");
    // Another guest is not held back by the first one's limit.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(lookup(&v2, &host_name(v1.ip()), &dhcp_ip), Answer::Addresses(vec![v1.ip().to_string()]));
}

/// Sends `count` A queries for `name` to `server` as fast as it can from the VM, then
/// counts the answers that arrive within two seconds (python3, raw DNS over UDP).
fn flood(vm: &BootedVm, server: &str, name: &str, count: u32) -> u32 {
    let script = format!(
        "import socket,struct,time\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n\
         q=b''.join(bytes([len(p)])+p.encode() for p in '{name}'.split('.'))+b'\\0'+struct.pack('>HH',1,1)\n\
         for i in range({count}):\n s.sendto(struct.pack('>HHHHHH',i,0x100,1,0,0,0)+q,('{server}',53))\n\
         s.settimeout(0.5)\nn=0\nend=time.time()+2\n\
         while time.time()<end:\n try:\n  s.recv(512);n+=1\n except socket.timeout:\n  pass\n\
         print(n)\n"
    );
    let out = vm.vm.exec_ok(["python3", "-c", script.as_str()]).expect("flood");
    out.trim().parse().expect("a count")
}

/// With dns-integration (a server `dns_domain` that is a real domain), a port's `dns_name`
/// is its guest's name in the DHCP namespace's resolver, and a new name replaces the old one
/// without a restart of dnsmasq.
#[test]
fn a_ports_dns_name_resolves_in_the_servers_domain() {
    let Some(tb) = crate::testbed("dnsname") else { return };
    let neutrino = std::path::Path::new(env!("CARGO_BIN_EXE_neutrino"));
    let config = "dns_domain = \"example.org.\"\n";
    let mut cloud = Cloud::start_with_config(tb, neutrino, neutrino_testbed::cloud::Auth::NoAuth, config).unwrap();
    cloud.agent_flags.extend(["--dns-domain".to_string(), "example.org".to_string()]);
    cloud.add_dhcp_host("h1").unwrap();
    cloud.add_host("h2").unwrap();
    let (net, _, dhcp_ip) = dns_network(&cloud, "tenant-a", "named", "10.53.0.0/24");
    let web = cloud.plug_vm("tenant-a", "h2", &net, "web", json!({"dns_name": "web"})).expect("vm");
    let (client, lease) = dhcp_vm(&cloud, "tenant-a", "h2", &net, "client");
    assert_eq!(lease.domain.as_deref(), Some("example.org"));
    let port = web.port_id().to_string();
    let shown = cloud.api("tenant-a", move |c| async move { c.show(Collection::Ports, &port).await }).expect("port");
    assert_eq!(shown["dns_assignment"][0]["fqdn"], "web.example.org.", "{shown:?}");
    let at = || Answer::Addresses(vec![web.ip().to_string()]);
    assert_eq!(lookup_settled(&client, "web", &dhcp_ip), at());
    assert_eq!(lookup(&client, "web.example.org", &dhcp_ip), at());
    let dnsmasq_pid = |cloud: &Cloud| {
        let ns = format!("qdhcp-{net}");
        cloud.host("h1").unwrap().exec_ok(["ip", "netns", "pids", ns.as_str()]).unwrap_or_default()
    };
    let pid = dnsmasq_pid(&cloud);

    // Renamed: the new name answers, the old one no longer does, dnsmasq was only reloaded.
    let port = web.port_id().to_string();
    cloud
        .api(
            "tenant-a",
            move |c| async move { c.update(Collection::Ports, &port, obj(json!({"dns_name": "api"}))).await },
        )
        .expect("rename");
    let deadline = Instant::now() + Duration::from_secs(20);
    while lookup(&client, "api", &dhcp_ip) != at() {
        assert!(Instant::now() < deadline, "the new name never resolved");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(matches!(lookup(&client, "web.example.org", &dhcp_ip), Answer::Failed(_)), "the old name still resolves");
    assert_eq!(dnsmasq_pid(&cloud), pid, "dnsmasq restarted for a rename");
}
