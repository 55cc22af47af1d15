//! dns-integration and dns-domain-ports (ML2's `dns_domain_ports` driver without an external
//! DNS service): the attributes, their validators with Neutron's messages, `dns_assignment`
//! kept in step with every change of a port's addresses, the server's `dns_domain`, and the
//! names the DHCP host state hands out. Expected bodies were read from Neutron 26.0.6.

use crate::common::{assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A server whose `dns_domain` lets ports keep their names.
async fn named_server() -> TestServer {
    TestServer::start_with(|c| c.dns_domain = "example.org.".into()).await
}

async fn port(s: &TestServer, body: Value) -> Value {
    let (st, b) = s.post("/v2.0/ports", json!({ "port": body })).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["port"].clone()
}

/// `(ip_address, hostname, fqdn)` of each `dns_assignment` entry.
fn names(port: &Value) -> Vec<(String, String, String)> {
    port["dns_assignment"]
        .as_array()
        .expect("dns_assignment is a list")
        .iter()
        .map(|d| {
            assert_eq!(d.as_object().map(|o| o.len()), Some(3), "{d}");
            let s = |k: &str| d[k].as_str().expect(k).to_string();
            (s("ip_address"), s("hostname"), s("fqdn"))
        })
        .collect()
}

fn ips(port: &Value) -> Vec<String> {
    port["fixed_ips"].as_array().unwrap().iter().map(|f| f["ip_address"].as_str().unwrap().to_string()).collect()
}

fn named(port: &Value, hostname: &str, fqdn: &str) -> Vec<(String, String, String)> {
    ips(port).into_iter().map(|ip| (ip, hostname.to_string(), fqdn.to_string())).collect()
}

fn host_names(port: &Value, domain: &str) -> Vec<(String, String, String)> {
    ips(port)
        .into_iter()
        .map(|ip| {
            let host = format!("host-{}", ip.replace(['.', ':'], "-"));
            let fqdn = if domain.is_empty() { host.clone() } else { format!("{host}.{domain}") };
            (ip, host, fqdn)
        })
        .collect()
}

#[tokio::test]
async fn both_extensions_are_listed_and_no_other_dns_one() {
    let s = TestServer::start().await;
    let (_, b) = s.get("/v2.0/extensions").await;
    let dns: Vec<&Value> = b["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["alias"].as_str().is_some_and(|a| a.contains("dns")))
        .collect();
    assert_eq!(
        dns,
        [
            &json!({"name": "DNS Integration", "alias": "dns-integration", "description": "Provides integration with DNS.", "updated": "2015-08-15T18:00:00-00:00", "links": []}),
            &json!({"name": "dns_domain for ports", "alias": "dns-domain-ports", "description": "Allows the DNS domain to be specified for a network port.", "updated": "2017-04-24T10:00:00-00:00", "links": []}),
        ]
    );
}

#[tokio::test]
async fn ports_are_named_after_their_dns_name_in_the_servers_domain() {
    let s = named_server().await;
    let (st, n) = s.post("/v2.0/networks", json!({"network": {"name": "n", "dns_domain": "Net.Example.COM."}})).await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    assert_eq!(n["network"]["dns_domain"], "net.example.com.");
    let net = n["network"]["id"].as_str().unwrap().to_string();
    s.subnet(&net, "10.9.0.0/24", json!({})).await;
    s.subnet(&net, "fd00:9::/64", json!({})).await;

    let vm = port(&s, json!({"network_id": net, "dns_name": "VM-One", "dns_domain": "Port.Example."})).await;
    assert_eq!((vm["dns_name"].as_str(), vm["dns_domain"].as_str()), (Some("vm-one"), Some("port.example.")));
    assert_eq!(ips(&vm).len(), 2);
    // The FQDN is in the server's domain, whatever the port's and the network's say.
    assert_eq!(names(&vm), named(&vm, "vm-one", "vm-one.example.org."));
    let id = vm["id"].as_str().unwrap();
    let (_, shown) = s.get(&format!("/v2.0/ports/{id}")).await;
    assert_eq!(shown["port"], vm);
    let (_, listed) = s.get(&format!("/v2.0/ports?id={id}&fields=dns_assignment&fields=dns_name")).await;
    assert_eq!(listed["ports"][0], json!({"dns_assignment": vm["dns_assignment"], "dns_name": "vm-one"}));

    let plain = port(&s, json!({"network_id": net})).await;
    assert_eq!((plain["dns_name"].as_str(), plain["dns_domain"].as_str()), (Some(""), Some("")));
    assert_eq!(names(&plain), host_names(&plain, "example.org."));
    assert!(names(&plain).iter().any(|(ip, host, _)| ip.contains(':') && !host.contains(':')));

    // An absolute name in the server's domain is its own FQDN; two ports may share it.
    for _ in 0..2 {
        let abs = port(&s, json!({"network_id": net, "dns_name": "vm2.example.org."})).await;
        assert_eq!(names(&abs), named(&abs, "vm2.example.org.", "vm2.example.org."));
    }
    // Keyword labels pass the validator and stay as given (no keyword driver).
    let kw = port(&s, json!({"network_id": net, "dns_name": "<project_id>"})).await;
    assert_eq!(names(&kw)[0].2, "<project_id>.example.org.");
    // A port without addresses has no names.
    let bare = port(&s, json!({"network_id": net, "dns_name": "x", "fixed_ips": []})).await;
    assert_eq!(bare["dns_assignment"], json!([]));
}

#[tokio::test]
async fn updates_rename_the_addresses() {
    let s = named_server().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.8.0.0/24", json!({})).await;
    let p = port(&s, json!({"network_id": net, "fixed_ips": [{"ip_address": "10.8.0.50"}]})).await;
    let path = format!("/v2.0/ports/{}", p["id"].as_str().unwrap());
    let mut revision = p["revision_number"].as_u64().unwrap();
    let update = |body: Value| {
        let (s, path) = (&s, path.clone());
        async move {
            let (st, b) = s.put(&path, json!({ "port": body })).await;
            assert_eq!(st, StatusCode::OK, "{b}");
            b["port"].clone()
        }
    };
    let steps: [(Value, &str, &str, &str, &str); 6] = [
        (json!({"dns_name": "Web"}), "10.8.0.50", "web", "web.example.org.", ""),
        (json!({"fixed_ips": [{"ip_address": "10.8.0.60"}]}), "10.8.0.60", "web", "web.example.org.", ""),
        (json!({"dns_domain": "Zone.Example."}), "10.8.0.60", "web", "web.example.org.", "zone.example."),
        (json!({"dns_name": ""}), "10.8.0.60", "host-10-8-0-60", "host-10-8-0-60.example.org.", "zone.example."),
        (json!({"dns_domain": ""}), "10.8.0.60", "host-10-8-0-60", "host-10-8-0-60.example.org.", ""),
        (json!({"dns_name": "x.y.example.org."}), "10.8.0.60", "x.y.example.org.", "x.y.example.org.", ""),
    ];
    for (body, ip, host, fqdn, domain) in steps {
        let got = update(body.clone()).await;
        assert_eq!(names(&got), [(ip.to_string(), host.to_string(), fqdn.to_string())], "{body}");
        assert_eq!(got["dns_domain"], domain, "{body}");
        let now = got["revision_number"].as_u64().unwrap();
        assert!(now > revision, "{body} revises the port");
        revision = now;
        let (_, shown) = s.get(&path).await;
        assert_eq!(shown["port"], got);
    }
    assert_error_message(
        &s.put(&path, json!({"port": {"dns_assignment": []}})).await,
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute dns_assignment",
    );
    assert_error_message(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "dns_assignment": []}})).await,
        400,
        "HTTPBadRequest",
        "Attribute 'dns_assignment' not allowed in POST",
    );
}

#[tokio::test]
async fn addresses_added_and_removed_by_subnets_keep_their_names() {
    let s = named_server().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.6.0.0/24", json!({})).await;
    let p = port(&s, json!({"network_id": net, "dns_name": "app"})).await;
    let path = format!("/v2.0/ports/{}", p["id"].as_str().unwrap());
    // A SLAAC subnet gives the existing port an address, and it gets its name.
    let v6 = s.subnet(&net, "fd00:6::/64", json!({"ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"})).await;
    let (_, shown) = s.get(&path).await;
    assert_eq!(ips(&shown["port"]).len(), 2);
    assert_eq!(names(&shown["port"]), named(&shown["port"], "app", "app.example.org."));
    // Deleting the subnet takes the address and its name.
    let (st, _) = s.delete(&format!("/v2.0/subnets/{v6}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, shown) = s.get(&path).await;
    assert_eq!(ips(&shown["port"]).len(), 1);
    assert_eq!(names(&shown["port"]), named(&shown["port"], "app", "app.example.org."));
}

#[tokio::test]
async fn the_default_domain_keeps_no_port_names() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    s.subnet(&net, "10.5.0.0/24", json!({})).await;
    // Only the format is checked; name and domain are then dropped, as Neutron drops them.
    let long = vec!["a".repeat(60); 4].join(".");
    for name in ["vm", "a.example.com.", long.as_str()] {
        let p = port(&s, json!({"network_id": net, "dns_name": name, "dns_domain": "zone.example."})).await;
        assert_eq!((p["dns_name"].as_str(), p["dns_domain"].as_str()), (Some(""), Some("")), "{name}");
        assert_eq!(names(&p), host_names(&p, "openstacklocal."));
        let (st, u) =
            s.put(&format!("/v2.0/ports/{}", p["id"].as_str().unwrap()), json!({"port": {"dns_name": "web"}})).await;
        assert_eq!(st, StatusCode::OK, "{u}");
        assert_eq!(u["port"]["dns_name"], "");
    }
    assert_error_message(
        &s.post("/v2.0/ports", json!({"port": {"network_id": net, "dns_name": "a_b"}})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for dns_name. Reason: 'a_b' not a valid PQDN or FQDN. Reason: Name 'a_b' must be 1-63 characters long, each of which can only be alphanumeric or a hyphen.",
    );
    // Networks keep their domain whatever the server's.
    let (_, n) = s.put(&format!("/v2.0/networks/{net}"), json!({"network": {"dns_domain": "Up.Example."}})).await;
    assert_eq!(n["network"]["dns_domain"], "up.example.");
}

#[tokio::test]
async fn without_a_domain_names_are_bare() {
    let s = TestServer::start_with(|c| c.dns_domain = String::new()).await;
    let net = s.network("n").await;
    s.subnet(&net, "10.4.0.0/24", json!({})).await;
    let p = port(&s, json!({"network_id": net, "dns_name": "vm"})).await;
    assert_eq!(p["dns_name"], "");
    assert_eq!(names(&p), host_names(&p, ""));
}

#[tokio::test]
async fn a_server_domain_that_is_no_fqdn_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let config = neutrino_server::config::Config {
        data_dir: dir.path().to_path_buf(),
        noauth: true,
        dns_domain: "bad_domain".into(),
        ..Default::default()
    };
    let err = neutrino_server::build(config).await.err().expect("refused");
    let chain = format!("{err} {:?}", err);
    assert!(chain.contains("dns_domain"), "{chain}");
}

/// Every validator error, with Neutron's status, type and message.
#[tokio::test]
async fn invalid_names_and_domains_get_neutrons_errors() {
    let s = named_server().await;
    let net = s.network("n").await;
    let (st, e) = s.post("/v2.0/networks", json!({"network": {"name": "ext", "router:external": true}})).await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    let ext = e["network"]["id"].as_str().unwrap().to_string();
    s.subnet(&ext, "172.24.9.0/24", json!({})).await;
    let bad = |reason: &str, attr: &str| format!("Invalid input for {attr}. Reason: {reason}.");
    let long = vec!["a".repeat(60); 4].join(".");
    let too_long = vec!["a".repeat(60); 5].join(".");
    let full = format!("{}.", vec!["a".repeat(63); 4].join("."));
    let fqdn_msg = "The dns_name passed is a FQDN. Its higher level labels must be equal to the dns_domain option in neutron.conf, that has been set to 'example.org.'. It must also include one or more valid DNS labels to the left of 'example.org.'";
    let cases: Vec<(&str, Value, &str, String)> = vec![
        ("dns_name", json!("a..b"), "HTTPBadRequest", bad("'a..b' not a valid PQDN or FQDN. Reason: Encountered an empty component", "dns_name")),
        ("dns_name", json!("."), "HTTPBadRequest", bad("'.' not a valid PQDN or FQDN. Reason: Encountered an empty component", "dns_name")),
        ("dns_name", json!("-ab"), "HTTPBadRequest", bad("'-ab' not a valid PQDN or FQDN. Reason: Name '-ab' must not start or end with a hyphen", "dns_name")),
        ("dns_name", json!("AB-"), "HTTPBadRequest", bad("'ab-' not a valid PQDN or FQDN. Reason: Name 'ab-' must not start or end with a hyphen", "dns_name")),
        ("dns_name", json!("a b"), "HTTPBadRequest", bad("'a b' not a valid PQDN or FQDN. Reason: Name 'a b' must be 1-63 characters long, each of which can only be alphanumeric or a hyphen", "dns_name")),
        ("dns_name", json!("a.123"), "HTTPBadRequest", bad("'a.123' not a valid PQDN or FQDN. Reason: TLD '123' must not be all numeric", "dns_name")),
        ("dns_name", json!(too_long), "HTTPBadRequest", bad(&format!("'{too_long}' not a valid PQDN or FQDN. Reason: '{too_long}' exceeds the 255 character FQDN limit"), "dns_name")),
        ("dns_name", json!("a.example.com."), "HTTPBadRequest", bad(fqdn_msg, "dns_name")),
        ("dns_name", json!("example.org."), "HTTPBadRequest", bad(fqdn_msg, "dns_name")),
        ("dns_name", json!(long), "HTTPBadRequest", bad("The dns_name passed is a PQDN and its size is '243'. The dns_domain option in neutron.conf is set to example.org., with a length of '13'. When the two are concatenated to form a FQDN (with a '.' at the end), the resulting length exceeds the maximum size of '255'", "dns_name")),
        ("dns_name", json!(5), "InvalidInput", "Invalid input for operation: Input value 5 must be string type.".into()),
        ("dns_name", json!(null), "InvalidInput", "Invalid input for operation: Input value None must be string type.".into()),
        ("dns_name", json!(["a"]), "InvalidInput", "Invalid input for operation: Input value ['a'] must be string type.".into()),
        ("dns_domain", json!("example.com"), "HTTPBadRequest", bad("'example.com' is not a FQDN", "dns_domain")),
        ("dns_domain", json!("a..b."), "HTTPBadRequest", bad("'a..b.' not a valid PQDN or FQDN. Reason: Encountered an empty component", "dns_domain")),
        ("dns_domain", json!("1.2."), "HTTPBadRequest", bad("'1.2.' not a valid PQDN or FQDN. Reason: TLD '2' must not be all numeric", "dns_domain")),
        ("dns_domain", json!(full), "HTTPBadRequest", bad(&format!("'{full}' contains 256 characters. Adding a sub-domain will cause it to exceed the maximum length of a FQDN of '255'"), "dns_domain")),
        ("dns_domain", json!(null), "InvalidInput", "Invalid input for operation: Input value None must be string type.".into()),
    ];
    for (attr, value, kind, message) in &cases {
        let got = s.post("/v2.0/ports", json!({"port": {"network_id": net, *attr: value}})).await;
        assert_error_message(&got, 400, kind, message);
        if *attr == "dns_domain" {
            let got = s.post("/v2.0/networks", json!({"network": {"dns_domain": value}})).await;
            assert_error_message(&got, 400, kind, message);
            let got = s
                .post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": ext, "dns_domain": value}}))
                .await;
            assert_error_message(&got, 400, kind, message);
        }
    }
    // Updates run the same validators.
    let p = port(&s, json!({"network_id": net})).await;
    let got =
        s.put(&format!("/v2.0/ports/{}", p["id"].as_str().unwrap()), json!({"port": {"dns_name": "bad_name"}})).await;
    assert_error_message(&got, 400, "HTTPBadRequest", "Invalid input for dns_name. Reason: 'bad_name' not a valid PQDN or FQDN. Reason: Name 'bad_name' must be 1-63 characters long, each of which can only be alphanumeric or a hyphen.");
    let got = s
        .put(&format!("/v2.0/ports/{}", p["id"].as_str().unwrap()), json!({"port": {"dns_name": "a.example.com."}}))
        .await;
    assert_error_message(&got, 400, "HTTPBadRequest", &bad(fqdn_msg, "dns_name"));
    let got = s.put(&format!("/v2.0/networks/{net}"), json!({"network": {"dns_domain": "nodot"}})).await;
    assert_error_message(&got, 400, "HTTPBadRequest", "Invalid input for dns_domain. Reason: 'nodot' is not a FQDN.");
    // A floating IP's name is relative and leaves room for a domain.
    let fip = |name: Value| json!({"floatingip": {"floating_network_id": ext, "dns_name": name}});
    assert_error_message(
        &s.post("/v2.0/floatingips", fip(json!("fip."))).await,
        400,
        "HTTPBadRequest",
        "Invalid input for dns_name. Reason: 'fip.' is a FQDN. It should be a relative domain name.",
    );
    let near = format!("{}.a", vec!["a".repeat(62); 4].join("."));
    assert_error_message(&s.post("/v2.0/floatingips", fip(json!(near))).await, 400, "HTTPBadRequest", &format!("Invalid input for dns_name. Reason: '{near}' contains 253 characters. Adding a domain name will cause it to exceed the maximum length of a FQDN of '255'."));
    assert_error_message(
        &s.post("/v2.0/floatingips", fip(json!(5))).await,
        400,
        "InvalidInput",
        "Invalid input for operation: Input value 5 must be string type.",
    );
}

#[tokio::test]
async fn floating_ips_validate_their_names_and_show_them_empty() {
    let s = named_server().await;
    let (_, e) = s.post("/v2.0/networks", json!({"network": {"name": "ext", "router:external": true}})).await;
    let ext = e["network"]["id"].as_str().unwrap().to_string();
    s.subnet(&ext, "172.24.8.0/24", json!({})).await;
    let (st, f) = s
        .post(
            "/v2.0/floatingips",
            json!({"floatingip": {"floating_network_id": ext, "dns_name": "Fip1", "dns_domain": "Fip.Example."}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    assert_eq!((f["floatingip"]["dns_name"].as_str(), f["floatingip"]["dns_domain"].as_str()), (Some(""), Some("")));
    let path = format!("/v2.0/floatingips/{}", f["floatingip"]["id"].as_str().unwrap());
    let (_, shown) = s.get(&format!("{path}?fields=dns_name&fields=dns_domain")).await;
    assert_eq!(shown["floatingip"], json!({"dns_name": "", "dns_domain": ""}));
    for attr in ["dns_name", "dns_domain"] {
        let got = s.put(&path, json!({"floatingip": {attr: "x"}})).await;
        assert_error_message(&got, 400, "HTTPBadRequest", &format!("Cannot update read-only attribute {attr}"));
    }
}

#[tokio::test]
async fn dns_attributes_are_neither_filters_nor_sort_keys() {
    let s = named_server().await;
    for (query, message) in [
        ("ports?dns_name=vm", "['dns_name'] is invalid attribute for filtering"),
        ("ports?dns_domain=a.", "['dns_domain'] is invalid attribute for filtering"),
        ("ports?dns_assignment=x", "['dns_assignment'] is invalid attribute for filtering"),
        ("networks?dns_domain=a.", "['dns_domain'] is invalid attribute for filtering"),
        ("floatingips?dns_name=x", "['dns_name'] is invalid attribute for filtering"),
        ("ports?sort_key=dns_name&sort_dir=asc", "['dns_name'] is invalid attribute for sort_keys"),
    ] {
        assert_error_message(&s.get(&format!("/v2.0/{query}")).await, 400, "HTTPBadRequest", message);
    }
}

/// No policy rule names the DNS attributes: whoever may create or update a port sets them.
#[tokio::test]
async fn members_name_their_own_ports_and_nobody_elses() {
    let s = TestServer::start_with(|c| {
        c.noauth = false;
        c.dns_domain = "example.org".into();
    })
    .await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "dns-a", "dns-a-user", "member").await;
    let (other, _) = s.member(&admin, "dns-b", "dns-b-user", "member").await;
    let as_user = |token: &str| [("X-Auth-Token", token.to_string())];
    let call = |token: String, method: Method, path: String, body: Option<Value>| {
        let s = &s;
        async move {
            let h = as_user(&token);
            let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
            s.call_with(method, &path, body, &h).await
        }
    };
    let (st, n) = call(
        member.clone(),
        Method::POST,
        "/v2.0/networks".into(),
        Some(json!({"network": {"name": "n", "dns_domain": "own.example."}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{n}");
    let net = n["network"]["id"].as_str().unwrap().to_string();
    let (st, sn) = call(
        member.clone(),
        Method::POST,
        "/v2.0/subnets".into(),
        Some(json!({"subnet": {"network_id": net, "cidr": "10.3.0.0/24", "ip_version": 4}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{sn}");
    let (st, p) = call(
        member.clone(),
        Method::POST,
        "/v2.0/ports".into(),
        Some(json!({"port": {"network_id": net, "dns_name": "mine", "dns_domain": "zone.example."}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(names(&p["port"]), named(&p["port"], "mine", "mine.example.org."));
    let path = format!("/v2.0/ports/{}", p["port"]["id"].as_str().unwrap());
    let (st, u) = call(member.clone(), Method::PUT, path.clone(), Some(json!({"port": {"dns_name": "renamed"}}))).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!(u["port"]["dns_assignment"][0]["hostname"], "renamed");
    // Another project does not see the port, so it cannot rename it.
    let got = call(other, Method::PUT, path.clone(), Some(json!({"port": {"dns_name": "stolen"}}))).await;
    assert_error_message(
        &got,
        404,
        "PortNotFound",
        &format!("Port {} could not be found.", p["port"]["id"].as_str().unwrap()),
    );
    let (_, shown) = call(member, Method::GET, path, None).await;
    assert_eq!(shown["port"]["dns_name"], "renamed");
}

fn agent_report(host: &str, agent_type: &str, configurations: Value) -> Value {
    json!({"host": host, "agent_type": agent_type, "binary": "neutrino-agent", "start_flag": true, "configurations": configurations})
}

#[tokio::test]
async fn dhcp_hands_out_the_ports_dns_name_as_hostname() {
    let s = named_server().await;
    s.post(
        "/agent/v1/agents/report",
        agent_report("compute-1", "Linux bridge agent", json!({"tunnel_types": ["vxlan"], "tunneling_ip": "198.18.1.1", "l2_population": true, "interface_mappings": {"physnet1": "eth1"}, "devices": 0})),
    )
    .await;
    let (st, b) = s
        .post(
            "/agent/v1/agents/report",
            agent_report("compute-1", "DHCP agent", json!({"dhcp_driver": "dnsmasq", "dhcp_lease_duration": 86400, "networks": 0, "subnets": 0, "ports": 0, "notifies_port_ready": true})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let net = s.network("n").await;
    s.subnet(&net, "10.2.0.0/24", json!({})).await;
    let vm = port(&s, json!({"network_id": net, "dns_name": "vm1", "binding:host_id": "compute-1"})).await;
    let anon = port(&s, json!({"network_id": net, "binding:host_id": "compute-1"})).await;
    let abs =
        port(&s, json!({"network_id": net, "dns_name": "vm3.example.org.", "binding:host_id": "compute-1"})).await;
    let hostname_of = |state: &Value, port: &Value| -> Option<String> {
        state["dhcp"][0]["hosts"]
            .as_array()?
            .iter()
            .find(|h| h["port_id"] == port["id"])
            .and_then(|h| h["hostname"].as_str().map(str::to_string))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    let state = loop {
        let (_, state) = s.get("/agent/v1/hosts/compute-1/state").await;
        if hostname_of(&state, &abs).is_some() {
            break state;
        }
        assert!(Instant::now() < deadline, "the DHCP network is not served: {state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(hostname_of(&state, &vm).as_deref(), Some("vm1"));
    let ip = ips(&anon).remove(0);
    assert_eq!(hostname_of(&state, &anon), Some(format!("host-{}", ip.replace('.', "-"))));
    assert_eq!(hostname_of(&state, &abs).as_deref(), Some("vm3.example.org."));
    // A rename reaches the host state.
    let (st, _) =
        s.put(&format!("/v2.0/ports/{}", vm["id"].as_str().unwrap()), json!({"port": {"dns_name": "vm1b"}})).await;
    assert_eq!(st, StatusCode::OK);
    let (_, state) = s.get("/agent/v1/hosts/compute-1/state").await;
    assert_eq!(hostname_of(&state, &vm).as_deref(), Some("vm1b"));
}

/// Documents keep the wire form: a restart under another domain renames every port (and
/// documents from before dns-integration get their names), without revising them.
#[tokio::test]
async fn a_restart_under_another_domain_renames_the_ports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_path_buf();
    let (path, before) = {
        let data = data.clone();
        let s = TestServer::start_with(move |c| {
            c.data_dir = data;
            c.dns_domain = "example.org.".into();
        })
        .await;
        let net = s.network("n").await;
        s.subnet(&net, "10.1.0.0/24", json!({})).await;
        let p = port(&s, json!({"network_id": net, "dns_name": "vm"})).await;
        assert_eq!(names(&p), named(&p, "vm", "vm.example.org."));
        (format!("/v2.0/ports/{}", p["id"].as_str().unwrap()), p)
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let data2 = data.clone();
    let s = TestServer::start_with(move |c| {
        c.data_dir = data2;
        c.dns_domain = "other.test".into();
    })
    .await;
    let (_, after) = s.get(&path).await;
    assert_eq!(names(&after["port"]), named(&before, "vm", "vm.other.test."));
    assert_eq!(after["port"]["revision_number"], before["revision_number"]);
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Under the default domain the stored name stays but no longer names the addresses.
    let s = TestServer::start_with(move |c| c.data_dir = data).await;
    let (_, after) = s.get(&path).await;
    assert_eq!(after["port"]["dns_name"], "vm");
    assert_eq!(names(&after["port"]), host_names(&before, "openstacklocal."));
}
