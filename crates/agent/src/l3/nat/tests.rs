use super::*;

fn input() -> NatInput {
    NatInput {
        gateway_dev: Some("qg-aaaaaaaa-aa".into()),
        snat_to: Some("203.0.113.10".parse().unwrap()),
        subnets: ["10.1.0.0/24", "10.0.0.0/24"].iter().map(|c| Cidr::parse(c).unwrap()).collect(),
        fips: [FipNat { floating: "203.0.113.20".parse().unwrap(), fixed: "10.0.0.5".parse().unwrap() }].into(),
        pfs: [PfNat {
            floating: "203.0.113.21".parse().unwrap(),
            protocol: L4Proto::Tcp,
            external_port: 2222,
            internal: "10.0.0.6".parse().unwrap(),
            internal_port: 22,
        }]
        .into(),
        metadata_port: None,
        drop_unredirected_metadata: false,
    }
}

fn comments(rs: &NatRuleset) -> Vec<String> {
    rs.rules.iter().map(|r| format!("{}: {}", r.chain, r.comment)).collect()
}

#[test]
fn compiles_pf_fip_hairpin_and_snat_in_order() {
    let rs = NatRuleset::compile(input());
    assert_eq!(
        comments(&rs),
        vec![
            "prerouting: pf tcp 203.0.113.21:2222 -> 10.0.0.6:22",
            "prerouting: fip 203.0.113.20 -> 10.0.0.5",
            "output: fip 203.0.113.20 -> 10.0.0.5",
            "postrouting: neutrino-l3 v2: hairpin dnat not from qg-aaaaaaaa-aa -> snat to 203.0.113.10",
            "postrouting: fip 203.0.113.20 <- 10.0.0.5 out qg-aaaaaaaa-aa",
            "postrouting: snat 10.0.0.0/24 -> 203.0.113.10 out qg-aaaaaaaa-aa",
            "postrouting: snat 10.1.0.0/24 -> 203.0.113.10 out qg-aaaaaaaa-aa",
        ]
    );
    // Deterministic, whatever the order the sets were filled in.
    assert_eq!(NatRuleset::compile(input()).batch_json(), rs.batch_json());
}

#[test]
fn batch_replaces_the_table_in_one_transaction() {
    let json: serde_json::Value = serde_json::from_str(&NatRuleset::compile(input()).batch_json()).unwrap();
    let cmds = json["nftables"].as_array().unwrap();
    let table = |family: &str| serde_json::json!({"table": {"family": family, "name": "neutrino-l3"}});
    // The table of versions before 2 (family ip) goes too.
    assert_eq!(cmds[0], serde_json::json!({ "add": table("ip") }));
    assert_eq!(cmds[1], serde_json::json!({ "delete": table("ip") }));
    assert_eq!(cmds[2], serde_json::json!({ "add": table("inet") }));
    assert_eq!(cmds[3], serde_json::json!({ "delete": table("inet") }));
    assert_eq!(cmds[4], serde_json::json!({ "add": table("inet") }));
    assert_eq!(cmds[5]["add"]["chain"]["hook"], "prerouting");
    assert_eq!(cmds[5]["add"]["chain"]["type"], "nat");
    assert_eq!(cmds[5]["add"]["chain"]["prio"], -100);
    assert_eq!(cmds[7]["add"]["chain"]["prio"], 100);
    assert_eq!(cmds[8]["add"]["chain"]["hook"], "input");
    assert_eq!(cmds[8]["add"]["chain"]["type"], "filter");
    assert_eq!(cmds[9]["add"]["chain"]["hook"], "forward");
    let snat = &cmds[cmds.len() - 1]["add"]["rule"];
    assert_eq!(snat["chain"], "postrouting");
    assert_eq!(
        snat["expr"],
        serde_json::json!([
            {"match": {"left": {"meta": {"key": "oifname"}}, "right": "qg-aaaaaaaa-aa", "op": "=="}},
            {"match": {"left": {"payload": {"protocol": "ip", "field": "saddr"}},
                       "right": {"prefix": {"addr": "10.1.0.0", "len": 24}}, "op": "=="}},
            {"snat": {"addr": "203.0.113.10", "family": "ip"}}
        ])
    );
    let pf = &cmds[10]["add"]["rule"];
    assert_eq!(pf["expr"][2], serde_json::json!({"dnat": {"addr": "10.0.0.6", "family": "ip", "port": 22}}));
    // The hairpin SNAT matches no IPv6 packet.
    let hairpin =
        cmds.iter().map(|c| &c["add"]["rule"]).find(|r| r["comment"].as_str().is_some_and(|c| c.contains("hairpin")));
    assert_eq!(
        hairpin.unwrap()["expr"][0],
        serde_json::json!({"match": {"left": {"meta": {"key": "nfproto"}}, "right": "ipv4", "op": "=="}})
    );
}

#[test]
fn without_snat_only_floating_ips_are_translated() {
    let rs = NatRuleset::compile(NatInput { snat_to: None, pfs: BTreeSet::new(), ..input() });
    assert_eq!(
        comments(&rs),
        vec![
            "prerouting: fip 203.0.113.20 -> 10.0.0.5",
            "output: fip 203.0.113.20 -> 10.0.0.5",
            "postrouting: neutrino-l3 v2: no snat",
            "postrouting: fip 203.0.113.20 <- 10.0.0.5 out qg-aaaaaaaa-aa",
        ]
    );
    // No gateway: nothing to translate.
    let rs = NatRuleset::compile(NatInput { gateway_dev: None, ..input() });
    assert!(rs.rules.is_empty());
}

#[test]
fn every_snat_rule_is_bound_to_the_gateway_device() {
    // Traffic between the router's subnets leaves through a qr- device: no rule matches it.
    let json = NatRuleset::compile(input()).batch_json();
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    for cmd in v["nftables"].as_array().unwrap() {
        let rule = &cmd["add"]["rule"];
        let snats = rule["expr"].as_array().map(|e| e.iter().any(|s| s.get("snat").is_some())).unwrap_or(false);
        if snats && !rule["comment"].as_str().unwrap().contains("hairpin") {
            assert_eq!(rule["expr"][0]["match"]["left"]["meta"]["key"], "oifname", "{rule}");
            assert_eq!(rule["expr"][0]["match"]["right"], "qg-aaaaaaaa-aa", "{rule}");
        }
    }
}

#[test]
fn read_back_gives_the_summary_and_translations() {
    let rs = NatRuleset::compile(input());
    // What `nft -j list table` prints, abridged: metainfo, table, chains with handles, rules.
    let mut objects = vec![
        serde_json::json!({"metainfo": {"version": "1.0.6", "json_schema_version": 1}}),
        serde_json::json!({"table": {"family": "inet", "name": "neutrino-l3", "handle": 7}}),
    ];
    for (name, kind, prio) in [
        ("prerouting", "nat", -100),
        ("output", "nat", -100),
        ("postrouting", "nat", 100),
        ("input", "filter", 0),
        ("forward", "filter", 0),
    ] {
        objects.push(serde_json::json!({"chain": {"family": "inet", "table": "neutrino-l3", "name": name,
            "handle": 1, "type": kind, "hook": name, "prio": prio, "policy": "accept"}}));
    }
    for r in &rs.rules {
        objects.push(serde_json::json!({"rule": {"family": "inet", "table": "neutrino-l3", "chain": r.chain,
            "handle": 9, "comment": r.comment, "expr": []}}));
    }
    let text = serde_json::json!({ "nftables": objects }).to_string();
    let back = read_back(&text).unwrap();
    assert_eq!(back, rs.summary());
    assert_eq!(back.fips(), input().fips);
    assert_eq!(back.pfs(), input().pfs);
    assert!(read_back("{}").is_err());
    assert!(read_back("not json").is_err());
}

#[test]
fn metadata_is_redirected_from_internal_devices_and_the_port_closed_to_the_rest() {
    let rs = NatRuleset::compile(NatInput { metadata_port: Some(9697), drop_unredirected_metadata: true, ..input() });
    let all = comments(&rs);
    // Neutron's metadata_nat_rules come first, before any port forwarding could match.
    assert_eq!(
        all[..2],
        [
            "prerouting: metadata 169.254.169.254:80 in qr-* -> redirect :9697",
            "prerouting: metadata [fe80::a9fe:a9fe]:80 in qr-* -> redirect :9697",
        ]
    );
    assert_eq!(
        all[all.len() - 4..],
        [
            "input: metadata :9697 redirected in qr-* -> accept",
            "input: metadata :9697 otherwise -> drop",
            // Neutron's scope chain: never routed on, to whatever is beyond the gateway.
            "forward: metadata 169.254.169.254:80 in qr-* not redirected -> drop",
            "forward: metadata [fe80::a9fe:a9fe]:80 in qr-* not redirected -> drop",
        ]
    );

    let json: serde_json::Value = serde_json::from_str(&rs.batch_json()).unwrap();
    let rules: Vec<&serde_json::Value> =
        json["nftables"].as_array().unwrap().iter().filter_map(|c| c["add"].get("rule")).collect();
    let m = |key: serde_json::Value, right: serde_json::Value| serde_json::json!({"match": {"left": key, "right": right, "op": "=="}});
    let iif = || m(serde_json::json!({"meta": {"key": "iifname"}}), "qr-*".into());
    let dport = |p: u16| m(serde_json::json!({"payload": {"protocol": "tcp", "field": "dport"}}), p.into());
    assert_eq!(
        rules[0]["expr"],
        serde_json::json!([
            iif(),
            m(serde_json::json!({"payload": {"protocol": "ip", "field": "daddr"}}), "169.254.169.254".into()),
            dport(80),
            {"redirect": {"port": 9697}}
        ])
    );
    assert_eq!(
        rules[1]["expr"][1],
        m(serde_json::json!({"payload": {"protocol": "ip6", "field": "daddr"}}), "fe80::a9fe:a9fe".into())
    );
    assert_eq!(rules[1]["expr"][3], serde_json::json!({"redirect": {"port": 9697}}));
    assert_eq!(
        rules[rules.len() - 1]["expr"],
        serde_json::json!([
            iif(),
            m(serde_json::json!({"payload": {"protocol": "ip6", "field": "daddr"}}), "fe80::a9fe:a9fe".into()),
            dport(80),
            {"drop": null}
        ])
    );
    let accept = rules[rules.len() - 4];
    assert_eq!(accept["chain"], "input");
    assert_eq!(
        accept["expr"],
        serde_json::json!([
            dport(9697),
            iif(),
            {"match": {"left": {"ct": {"key": "status"}}, "right": "dnat", "op": "in"}},
            {"accept": null}
        ])
    );
    assert_eq!(rules[rules.len() - 3]["expr"], serde_json::json!([dport(9697), {"drop": null}]));

    // Without a gateway the router still serves metadata (and translates nothing else).
    let internal = NatRuleset::compile(NatInput {
        gateway_dev: None,
        metadata_port: Some(9697),
        drop_unredirected_metadata: false,
        ..input()
    });
    assert_eq!(comments(&internal).len(), 4);
    assert!(comments(&internal).iter().all(|c| c.contains("metadata")));
    // The read-back identity covers the filter chain.
    assert!(rs.summary().chains.iter().any(|c| c.name == "input" && c.hook == "input" && c.prio == 0));
}
