use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

async fn group(s: &TestServer, name: &str) -> String {
    let (st, b) = s.post("/v2.0/security-groups", json!({"security_group": {"name": name}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    b["security_group"]["id"].as_str().unwrap().to_string()
}

fn rule(sg: &str, extra: Value) -> Value {
    let mut r = json!({"security_group_id": sg, "direction": "ingress"});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({"security_group_rule": r})
}

#[tokio::test]
async fn default_group_and_its_rules() {
    let s = TestServer::start().await;
    let (st, list) = s.get("/v2.0/security-groups").await;
    assert_eq!(st, StatusCode::OK);
    let groups = list["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let d = &groups[0];
    assert_eq!(d["name"], "default");
    let rules = d["security_group_rules"].as_array().unwrap();
    assert_eq!(rules.len(), 4);
    let remote_self = rules.iter().filter(|r| r["direction"] == "ingress" && r["remote_group_id"] == d["id"]).count();
    assert_eq!(remote_self, 2);
    assert!(rules.iter().all(|r| r["belongs_to_default_sg"] == true));
    let default_id = d["id"].as_str().unwrap().to_string();
    // A second `default` is refused, as is renaming to it.
    assert_error(
        &s.post("/v2.0/security-groups", json!({"security_group": {"name": "default"}})).await,
        409,
        "SecurityGroupDefaultAlreadyExists",
    );
    let web = group(&s, "web").await;
    assert_error(
        &s.put(&format!("/v2.0/security-groups/{web}"), json!({"security_group": {"name": "default"}})).await,
        409,
        "SecurityGroupDefaultAlreadyExists",
    );
    // New groups get the two egress rules.
    let (_, w) = s.get(&format!("/v2.0/security-groups/{web}")).await;
    assert_eq!(w["security_group"]["security_group_rules"].as_array().unwrap().len(), 2);
    assert_eq!(w["security_group"]["stateful"], true);
    // Ports get the default group; a group in use cannot go.
    let net = s.network("n").await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net}})).await;
    assert_eq!(p["port"]["security_groups"], json!([default_id]));
    let (_, p2) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "security_groups": [web]}})).await;
    assert_eq!(p2["port"]["security_groups"], json!([web]));
    assert_error(&s.delete(&format!("/v2.0/security-groups/{web}")).await, 409, "SecurityGroupInUse");
    let missing = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "security_groups": ["6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"]}}),
        )
        .await;
    assert_error(&missing, 404, "SecurityGroupNotFound");
    let off = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "port_security_enabled": false, "security_groups": [web]}}),
        )
        .await;
    assert_error(&off, 400, "PortSecurityAndIPRequiredForSecurityGroups");
    let (_, p3) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "port_security_enabled": false}})).await;
    assert_eq!(p3["port"]["security_groups"], json!([]));
    assert_eq!(
        s.delete(&format!("/v2.0/ports/{}", p2["port"]["id"].as_str().unwrap())).await.0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.delete(&format!("/v2.0/security-groups/{web}")).await.0, StatusCode::NO_CONTENT);
    let (_, rules) = s.get(&format!("/v2.0/security-group-rules?security_group_id={web}")).await;
    assert_eq!(rules["security_group_rules"].as_array().unwrap().len(), 0, "rules go with the group");
}

#[tokio::test]
async fn rule_validation() {
    let s = TestServer::start().await;
    let sg = group(&s, "rules").await;
    let post = |extra: Value| s.post("/v2.0/security-group-rules", rule(&sg, extra));
    let (st, r) =
        post(json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["security_group_rule"]["ethertype"], "IPv4");
    assert_eq!(r["security_group_rule"]["normalized_cidr"], "0.0.0.0/0");
    let again =
        post(json!({"protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}))
            .await;
    assert_error(&again, 409, "SecurityGroupRuleExists");
    assert_error(
        &post(json!({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80})).await,
        400,
        "SecurityGroupInvalidPortRange",
    );
    assert_error(&post(json!({"port_range_min": 80})).await, 400, "SecurityGroupProtocolRequiredWithPorts");
    assert_error(&post(json!({"protocol": "bogus"})).await, 400, "SecurityGroupRuleInvalidProtocol");
    assert_error(&post(json!({"protocol": "icmp", "port_range_min": 300})).await, 400, "SecurityGroupInvalidIcmpValue");
    assert_error(&post(json!({"protocol": "icmp", "port_range_max": 0})).await, 400, "SecurityGroupMissingIcmpType");
    assert_error(
        &post(json!({"protocol": "ipv6-icmp", "ethertype": "IPv4"})).await,
        400,
        "SecurityGroupEthertypeConflictWithProtocol",
    );
    assert_error(
        &post(json!({"protocol": "gre", "port_range_min": 1})).await,
        400,
        "SecurityGroupInvalidProtocolForPort",
    );
    assert_error(&post(json!({"remote_ip_prefix": "fd00::/64"})).await, 400, "SecurityGroupRuleParameterConflict");
    assert_error(
        &post(json!({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": sg})).await,
        400,
        "SecurityGroupMultipleRemoteEntites",
    );
    assert_error(&post(json!({"direction": "sideways"})).await, 400, "HTTPBadRequest");
    assert_error(&post(json!({"ethertype": "IPv5"})).await, 400, "SecurityGroupRuleInvalidEtherType");
    assert_error(
        &post(json!({"remote_group_id": "6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"})).await,
        404,
        "SecurityGroupNotFound",
    );
    let (st, r) = post(json!({"protocol": "icmp", "port_range_min": 8, "port_range_max": 0, "remote_ip_prefix": "10.1.2.3/16", "ethertype": "ipv4"})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["security_group_rule"]["remote_ip_prefix"], "10.1.2.3/16");
    assert_eq!(r["security_group_rule"]["normalized_cidr"], "10.1.0.0/16");
    let (st, r) = post(json!({"protocol": "58", "ethertype": "IPv6", "remote_group_id": sg})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    // Bulk create is atomic, and duplicates inside one request are refused.
    let bulk = json!({"security_group_rules": [
        {"security_group_id": sg, "direction": "ingress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53},
        {"security_group_id": sg, "direction": "ingress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53}]});
    assert_error(&s.post("/v2.0/security-group-rules", bulk).await, 409, "DuplicateSecurityGroupRuleInPost");
    let (_, g) = s.get(&format!("/v2.0/security-groups/{sg}")).await;
    assert_eq!(g["security_group"]["security_group_rules"].as_array().unwrap().len(), 5, "2 egress + 3 created");
    let id = r["security_group_rule"]["id"].as_str().unwrap();
    assert_eq!(s.delete(&format!("/v2.0/security-group-rules/{id}")).await.0, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("/v2.0/security-group-rules/{id}")).await, 404, "SecurityGroupRuleNotFound");
}

/// `protocol` is converted as Neutron's `convert_protocol` does (a JSON number or numeric
/// string is kept as text), and an IPv6 rule's `icmp`, `icmpv6` and `1` are stored as
/// `ipv6-icmp` and `58`; IPv6-only protocols (names or numbers) are refused in IPv4 rules.
#[tokio::test]
async fn rule_protocols_as_neutron_converts_them() {
    let s = TestServer::start().await;
    let sg = group(&s, "protocols").await;
    let post = |extra: Value| s.post("/v2.0/security-group-rules", rule(&sg, extra));
    let created = |got: (StatusCode, Value)| {
        assert_eq!(got.0, StatusCode::CREATED, "{}", got.1);
        got.1["security_group_rule"].clone()
    };
    assert_eq!(created(post(json!({"protocol": 17})).await)["protocol"], "17");
    assert_eq!(created(post(json!({"protocol": "TCP"})).await)["protocol"], "tcp");
    for (icmp_type, (given, stored)) in
        [("icmp", "ipv6-icmp"), ("icmpv6", "ipv6-icmp"), ("1", "58")].into_iter().enumerate()
    {
        let r = created(post(json!({"protocol": given, "ethertype": "IPv6", "port_range_min": icmp_type})).await);
        assert_eq!(r["protocol"], stored);
        let (_, shown) = s.get(&format!("/v2.0/security-group-rules/{}", r["id"].as_str().unwrap())).await;
        assert_eq!(shown["security_group_rule"], r);
    }
    // The whole port range is stored as no range (and so is the same rule as none: `udp`
    // here would be a duplicate of the protocol-17 rule above, as on Neutron).
    assert_error(
        &post(json!({"protocol": "udp", "port_range_min": 1, "port_range_max": 65535})).await,
        409,
        "SecurityGroupRuleExists",
    );
    let r = created(post(json!({"protocol": "dccp", "port_range_min": 1, "port_range_max": 65535})).await);
    assert_eq!((r["port_range_min"].clone(), r["port_range_max"].clone()), (json!(null), json!(null)));
    for v6_only in [json!("ipv6-route"), json!("icmpv6"), json!(43), json!("58")] {
        let got = post(json!({"protocol": v6_only, "ethertype": "IPv4"})).await;
        assert_error(&got, 400, "SecurityGroupEthertypeConflictWithProtocol");
    }
    assert_error_message(
        &post(json!({"protocol": "ipv6-frag"})).await,
        400,
        "SecurityGroupEthertypeConflictWithProtocol",
        "Invalid ethertype IPv4 for protocol ipv6-frag.",
    );
    let got = post(json!({"protocol": 256})).await;
    assert_error(&got, 400, "SecurityGroupRuleInvalidProtocol");
    let message = got.1["NeutronError"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("Security group rule protocol 256 not supported. Only protocol values (None, 'any', 'ah',")
    );
    assert!(message.ends_with("'vrrp') and integer representations [0 to 255] are supported."), "{message}");
}

/// Neutron's port-range converter and checks, with its messages.
#[tokio::test]
async fn rule_port_ranges_with_neutrons_messages() {
    let s = TestServer::start().await;
    let sg = group(&s, "ports").await;
    let post = |protocol: &str, min: Value, max: Value| {
        s.post(
            "/v2.0/security-group-rules",
            rule(&sg, json!({"protocol": protocol, "port_range_min": min, "port_range_max": max})),
        )
    };
    let port_value = "SecurityGroupInvalidPortValue";
    assert_error_message(&post("tcp", json!(-16), json!(80)).await, 400, port_value, "Invalid value for port -16");
    assert_error_message(&post("tcp", json!(80), json!(65536)).await, 400, port_value, "Invalid value for port 65536");
    assert_error_message(&post("tcp", json!("x"), json!(80)).await, 400, port_value, "Invalid value for port x");
    assert_error_message(&post("tcp", json!(0), json!(80)).await, 400, port_value, "Invalid value for port 0");
    let range = "For TCP/UDP protocols, port_range_min must be <= port_range_max";
    assert_error_message(&post("tcp", json!(80), json!(79)).await, 400, "SecurityGroupInvalidPortRange", range);
    assert_error_message(&post("tcp", json!(null), json!(6)).await, 400, "SecurityGroupInvalidPortRange", range);
    assert_error_message(&post("udp", json!(53), json!(null)).await, 400, "SecurityGroupInvalidPortRange", range);
    assert_error_message(
        &post("icmp", json!(1), json!(256)).await,
        400,
        "SecurityGroupInvalidIcmpValue",
        "Invalid value for ICMP code (port_range_max) 256. It must be 0 to 255.",
    );
    assert_error_message(
        &post("icmp", json!(300), json!(1)).await,
        400,
        "SecurityGroupInvalidIcmpValue",
        "Invalid value for ICMP type (port_range_min) 300. It must be 0 to 255.",
    );
    assert_error_message(&post("icmp", json!(-1), json!(25)).await, 400, port_value, "Invalid value for port -1");
    assert_error_message(
        &post("icmp", json!(null), json!(6)).await,
        400,
        "SecurityGroupMissingIcmpType",
        "ICMP code (port-range-max) 6 is provided but ICMP type (port-range-min) is missing.",
    );
    assert_error_message(
        &post("gre", json!(1), json!(2)).await,
        400,
        "SecurityGroupInvalidProtocolForPort",
        "Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE.",
    );
    let (st, r) = post("6", json!("22"), json!(22)).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["security_group_rule"]["port_range_min"], 22);
}

/// `remote_group_id` has no validator in Neutron: an id that is no group's, UUID or not,
/// is a 404.
#[tokio::test]
async fn an_unknown_remote_group_is_not_found() {
    let s = TestServer::start().await;
    let sg = group(&s, "remote").await;
    for id in ["bad_group_id", "6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"] {
        let got =
            s.post("/v2.0/security-group-rules", rule(&sg, json!({"protocol": "tcp", "remote_group_id": id}))).await;
        assert_error_message(&got, 404, "SecurityGroupNotFound", &format!("Security group {id} does not exist"));
    }
}

/// A port's `security_groups` is a `uuid_list`: a group named twice is refused; stateful
/// and stateless groups may not be mixed on one port, on create or update.
#[tokio::test]
async fn port_security_groups_twice_or_mixed_are_refused() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let stateful = group(&s, "stateful").await;
    let (st, b) = s.post("/v2.0/security-groups", json!({"security_group": {"name": "sl", "stateful": false}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let stateless = b["security_group"]["id"].as_str().unwrap().to_string();
    let (st, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "security_groups": [stateful]}})).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let port = format!("/v2.0/ports/{}", p["port"]["id"].as_str().unwrap());
    let twice = json!({"port": {"security_groups": [stateful, stateful]}});
    let message = format!("Invalid input for security_groups. Reason: Duplicate items in the list: '{stateful}'.");
    assert_error_message(&s.put(&port, twice).await, 400, "HTTPBadRequest", &message);
    let twice = json!({"port": {"network_id": net, "security_groups": [stateful, stateful]}});
    assert_error_message(&s.post("/v2.0/ports", twice).await, 400, "HTTPBadRequest", &message);
    let conflict = "Error Cannot apply both stateful and stateless security groups on the same port at the same time \
                    while attempting the operation.";
    let mixed = json!({"port": {"security_groups": [stateful, stateless]}});
    assert_error_message(&s.put(&port, mixed).await, 409, "SecurityGroupConflict", conflict);
    let mixed = json!({"port": {"network_id": net, "security_groups": [stateless, stateful]}});
    assert_error_message(&s.post("/v2.0/ports", mixed).await, 409, "SecurityGroupConflict", conflict);
    let (_, shown) = s.get(&port).await;
    assert_eq!(shown["port"]["security_groups"], json!([stateful]), "nothing changed");
    let (st, b) = s.put(&port, json!({"port": {"security_groups": [stateless]}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

/// Listing groups with a `project_id` filter makes that project's default group (as admin),
/// as Neutron does; a member listing another project's makes none.
#[tokio::test]
async fn listing_a_projects_groups_makes_its_default_group() {
    let s = TestServer::start().await;
    let (st, b) = s.get("/v2.0/security-groups?project_id=other-project").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let groups = b["security_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{b}");
    assert_eq!(
        (groups[0]["name"].as_str(), groups[0]["project_id"].as_str()),
        (Some("default"), Some("other-project"))
    );
}

/// `security-groups-normalized-cidr`: advertised; a rule shows its remote prefix with the
/// host bits cleared (null without one), and lists filter and sort on it.
#[tokio::test]
async fn rules_show_filter_and_sort_on_their_normalized_cidr() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/v2.0/extensions/security-groups-normalized-cidr").await.0, StatusCode::OK);
    let sg = group(&s, "web").await;
    let post = |extra: Value| s.post("/v2.0/security-group-rules", rule(&sg, extra));
    let (st, a) = post(json!({"remote_ip_prefix": "10.0.0.34/24"})).await;
    assert_eq!(st, StatusCode::CREATED, "{a}");
    assert_eq!(a["security_group_rule"]["normalized_cidr"], "10.0.0.0/24");
    assert_eq!(a["security_group_rule"]["remote_ip_prefix"], "10.0.0.34/24");
    let (_, b) = post(json!({"remote_ip_prefix": "2001:db8::1/64", "ethertype": "IPv6"})).await;
    assert_eq!(b["security_group_rule"]["normalized_cidr"], "2001:db8::/64");
    let (_, c) = post(json!({"remote_group_id": sg})).await;
    assert_eq!(c["security_group_rule"]["normalized_cidr"], Value::Null);
    assert_eq!(c["security_group_rule"]["remote_ip_prefix"], Value::Null);

    let (st, l) = s.get("/v2.0/security-group-rules?normalized_cidr=10.0.0.0/24").await;
    assert_eq!(st, StatusCode::OK, "{l}");
    assert_eq!(l["security_group_rules"].as_array().unwrap().len(), 1);
    assert_eq!(l["security_group_rules"][0]["id"], a["security_group_rule"]["id"]);
    let (st, l) = s
        .get(&format!("/v2.0/security-group-rules?security_group_id={sg}&sort_key=normalized_cidr&sort_dir=desc&fields=normalized_cidr"))
        .await;
    assert_eq!(st, StatusCode::OK, "{l}");
    let cidrs: Vec<&Value> =
        l["security_group_rules"].as_array().unwrap().iter().map(|r| &r["normalized_cidr"]).collect();
    assert!(cidrs.contains(&&json!("2001:db8::/64")) && cidrs.contains(&&json!("10.0.0.0/24")), "{l}");
}

/// Neutron's `_rule_to_key`: a protocol number and its name are the same rule, and so are
/// `0.0.0.0/0` (or `::/0`) and no prefix.
#[tokio::test]
async fn duplicates_are_found_across_spellings() {
    let s = TestServer::start().await;
    let sg = group(&s, "dup").await;
    let (st, first) = s
        .post(
            "/v2.0/security-group-rules",
            rule(
                &sg,
                json!({"protocol": "tcp", "remote_ip_prefix": "0.0.0.0/0", "port_range_min": 22, "port_range_max": 22}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{first}");
    let id = first["security_group_rule"]["id"].as_str().unwrap();
    for spelling in [json!({"protocol": "6"}), json!({"protocol": 6, "remote_ip_prefix": "0.0.0.0/0"})] {
        let mut extra = json!({"port_range_min": 22, "port_range_max": 22});
        extra.as_object_mut().unwrap().extend(spelling.as_object().unwrap().clone());
        assert_error_message(
            &s.post("/v2.0/security-group-rules", rule(&sg, extra)).await,
            409,
            "SecurityGroupRuleExists",
            &format!("Security group rule already exists. Rule id is {id}."),
        );
    }
    let v6 = json!({"ethertype": "IPv6", "protocol": "tcp", "remote_ip_prefix": "::/0"});
    let (st, b) = s.post("/v2.0/security-group-rules", rule(&sg, v6)).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_error(
        &s.post("/v2.0/security-group-rules", rule(&sg, json!({"ethertype": "IPv6", "protocol": "6"}))).await,
        409,
        "SecurityGroupRuleExists",
    );
    // `58` and `ipv6-icmp` are one protocol.
    let (st, _) = s.post("/v2.0/security-group-rules", rule(&sg, json!({"ethertype": "IPv6", "protocol": "58"}))).await;
    assert_eq!(st, StatusCode::CREATED);
    let icmp6 = json!({"ethertype": "IPv6", "protocol": "ipv6-icmp"});
    assert_error(&s.post("/v2.0/security-group-rules", rule(&sg, icmp6)).await, 409, "SecurityGroupRuleExists");
    // A different port is a different rule.
    let (st, _) = s
        .post(
            "/v2.0/security-group-rules",
            rule(&sg, json!({"protocol": "6", "port_range_min": 23, "port_range_max": 23})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
}
