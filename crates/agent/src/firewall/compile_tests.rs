//! The compiler, checked on its JSON output.

use std::collections::{BTreeMap, BTreeSet};

use neutrino_agent_api::{AllowedPair, PortSecurity, SecurityGroupState, SecurityRule};
use serde_json::Value;

use super::*;

pub(super) const PORT_A: &str = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
pub(super) const PORT_B: &str = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
pub(super) const PORT_OFF: &str = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";
pub(super) const GROUP: &str = "11111111-1111-4111-8111-111111111111";

pub(super) fn rule(id: &str, direction: &str, ethertype: &str) -> SecurityRule {
    SecurityRule {
        id: id.into(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        remote_group_id: None,
        remote_address_group_id: None,
    }
}

/// Neutron's default group: egress anywhere, ingress from members.
pub(super) fn default_group(id: &str) -> SecurityGroupState {
    let from_members =
        |rid: &str, eth: &str| SecurityRule { remote_group_id: Some(id.into()), ..rule(rid, "ingress", eth) };
    SecurityGroupState {
        id: id.into(),
        stateful: true,
        rules: vec![
            rule("r1", "egress", "IPv4"),
            rule("r2", "egress", "IPv6"),
            from_members("r3", "IPv4"),
            from_members("r4", "IPv6"),
        ],
    }
}

pub(super) fn port(id: &str, mac: &str, ip: &str) -> PortSecurity {
    PortSecurity {
        port_id: id.into(),
        mac_address: mac.into(),
        ip_addresses: vec![ip.parse().unwrap()],
        allowed_address_pairs: vec![],
        port_security_enabled: true,
        security_group_ids: vec![GROUP.into()],
    }
}

pub(super) fn sample() -> (Vec<PortSecurity>, Vec<SecurityGroupState>, BTreeMap<String, Vec<String>>) {
    let mut a = port(PORT_A, "fa:16:3e:00:00:0a", "10.0.0.5");
    a.allowed_address_pairs.push(AllowedPair { ip_address: "10.0.0.128/25".into(), mac_address: String::new() });
    let b = port(PORT_B, "fa:16:3e:00:00:0b", "10.0.0.6");
    let mut off = port(PORT_OFF, "fa:16:3e:00:00:0c", "10.0.0.7");
    off.port_security_enabled = false;
    let members =
        BTreeMap::from([(GROUP.to_owned(), vec!["10.0.0.5".into(), "10.0.0.6".into(), "10.0.0.128/25".into()])]);
    (vec![a, b, off], vec![default_group(GROUP)], members)
}

/// The rules of one chain, each as compact JSON of its `expr`.
fn rules_of(compiled: &Compiled, family: &str, chain: &str) -> Vec<String> {
    let doc = compiled.ruleset.to_value();
    doc["nftables"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.get("add").and_then(|a| a.get("rule")))
        .filter(|r| r["family"] == family && r["chain"] == chain)
        .map(|r| r["expr"].to_string())
        .collect()
}

fn objects(compiled: &Compiled, kind: &str) -> Vec<Value> {
    let doc = compiled.ruleset.to_value();
    doc["nftables"].as_array().unwrap().iter().filter_map(|c| c.get("add").and_then(|a| a.get(kind)).cloned()).collect()
}

/// The elements of a named set or map, each as compact JSON.
fn elements(compiled: &Compiled, name: &str) -> Vec<String> {
    let set = compiled.ruleset.commands.iter().find(|c| matches!(c.kind, super::doc::Kind::Set(_)) && c.name == name);
    set.map(|c| c.elems.clone()).unwrap_or_default()
}

/// The chain a port map sends a device to.
fn chain_of(compiled: &Compiled, map: &str, tap: &str) -> String {
    let elems = elements(compiled, map);
    let elem = elems.iter().map(|e| serde_json::from_str::<Value>(e).unwrap()).find(|e| e[0] == tap);
    elem.map(|e| e[1]["jump"]["target"].as_str().unwrap().to_owned()).unwrap_or_default()
}

/// A port's profile chain in the inet table (`egress` or `ingress`).
fn profile_chain(compiled: &Compiled, direction: &str, tap: &str) -> String {
    chain_of(compiled, "from-ports", tap).replacen("from", direction, 1)
}

fn compiled_sample() -> Compiled {
    let (ports, groups, members) = sample();
    compile(&ports, &groups, &members)
}

/// The sample's whole document, checked in so a change of the generated ruleset shows in
/// review. `NEUTRINO_UPDATE_GOLDEN=1` rewrites it.
#[test]
fn golden_sample_ruleset() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/firewall/testdata/sample.json");
    let actual = serde_json::to_string_pretty(&compiled_sample().ruleset.to_value()).unwrap() + "\n";
    if std::env::var_os("NEUTRINO_UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &actual).unwrap();
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        expected == actual,
        "{} differs from the compiled sample (NEUTRINO_UPDATE_GOLDEN=1 to accept)",
        path.display()
    );
}

#[test]
fn anti_spoofing_allows_only_the_ports_sources() {
    let c = compiled_sample();
    assert!(c.issues.is_empty(), "{:?}", c.issues);
    // The port's own chain only sets its mark and jumps to the shared anti-spoofing chain.
    let from_a = rules_of(&c, "bridge", &chain_of(&c, "from-ports", "tapaaaaaaaa-aa"));
    assert_eq!(from_a.len(), 2, "{from_a:#?}");
    assert_eq!(from_a[1], r#"[{"jump":{"target":"spoof"}}]"#);
    let spoof = rules_of(&c, "bridge", "spoof").join("\n");
    // Source MAC, then DHCP server / RA drops, ARP, DHCP discovery, IPv4, DAD, IPv6, drop.
    let by_port = r#"{"concat":[{"meta":{"key":"iifname"}},{"payload":{"protocol":"ether","field":"saddr"}}"#;
    assert!(
        spoof.starts_with(&format!(
            r#"[{{"match":{{"left":{by_port}]}},"right":"@spoof-macs","op":"!="}}}},{{"drop":null}}]"#
        )),
        "{spoof}"
    );
    // DHCP server replies, router advertisements and redirects: a chain every port jumps to.
    assert!(spoof.contains(r#"[{"jump":{"target":"deny-servers"}}]"#), "{spoof}");
    let servers = rules_of(&c, "bridge", "deny-servers").join("\n");
    assert!(servers.contains(r#"{"payload":{"protocol":"udp","field":"sport"}},"right":67"#), "{servers}");
    assert!(servers.contains(r#""right":{"set":[134,137]}"#), "{servers}");
    assert!(spoof.contains(r#"[{"jump":{"target":"dad"}}]"#), "{spoof}");
    assert!(rules_of(&c, "bridge", "dad").join("\n").contains(r#""right":{"set":[131,135,143]}"#));
    for (field, set, op) in [
        (r#"{"protocol":"ip","field":"saddr"}"#, "@spoof-v4", "=="),
        (r#"{"protocol":"arp","field":"saddr ip"}"#, "@spoof-v4", "=="),
        (r#"{"protocol":"arp","field":"saddr ether"}"#, "@spoof-arp", "!="),
        (r#"{"protocol":"ip6","field":"saddr"}"#, "@spoof-v6", "=="),
    ] {
        let lookup = format!(r#"{by_port},{{"payload":{field}}}]}},"right":"{set}","op":"{op}"}}"#);
        assert!(spoof.contains(&lookup), "{lookup} in {spoof}");
    }
    assert!(spoof.contains(r#""right":"@spoof-own","op":"=="}},{"accept":null}"#), "ARP probes: {spoof}");
    assert!(spoof.contains(r#""right":"255.255.255.255""#), "DHCP discovery");
    assert!(spoof.ends_with(r#"[{"drop":null}]"#));
    // The port's data: its elements, keyed by its device.
    let mac = |rest: &str| format!(r#"{{"concat":["tapaaaaaaaa-aa","fa:16:3e:00:00:0a"{rest}]}}"#);
    assert_eq!(elements(&c, "spoof-macs")[0], mac(""));
    assert_eq!(elements(&c, "spoof-own")[0], mac(""));
    assert_eq!(elements(&c, "spoof-arp")[0], mac(r#","fa:16:3e:00:00:0a""#));
    let v4: Vec<_> = elements(&c, "spoof-v4").into_iter().filter(|e| e.contains("tapaaaaaaaa-aa")).collect();
    assert_eq!(v4, [mac(r#","10.0.0.5""#), mac(r#",{"prefix":{"addr":"10.0.0.128","len":25}}"#)]);
    assert!(elements(&c, "spoof-v6").contains(&mac(r#","fe80::f816:3eff:fe00:a""#)), "EUI-64 link-local");
    assert!(elements(&c, "nd-targets").contains(&mac(r#","0xfe80000000000000f8163efffe00000a""#)), "NA target");
    let v4_set = objects(&c, "set").into_iter().find(|s| s["name"] == "spoof-v4").unwrap();
    assert_eq!(v4_set["type"], serde_json::json!(["ifname", "ether_addr", "ipv4_addr"]));
    assert_eq!(v4_set["flags"], serde_json::json!(["interval"]));
    // Frames to the port only get its mark.
    assert_eq!(rules_of(&c, "bridge", &chain_of(&c, "to-ports", "tapaaaaaaaa-aa")).len(), 1);
}

/// Ports with the same security groups share their four chains; each port is only its
/// elements (port maps, anti-spoofing sets), so nft's cache does not grow with the ports.
#[test]
fn ports_with_the_same_groups_share_one_profile() {
    let c = compiled_sample();
    let (a, b) = ("tapaaaaaaaa-aa", "tapbbbbbbbb-bb");
    for map in ["from-ports", "to-ports"] {
        assert_eq!(chain_of(&c, map, a), chain_of(&c, map, b), "{map}");
    }
    assert_eq!(c.marks.len(), 1);
    assert_eq!(c.filtered, 2);
    let chains = objects(&c, "chain");
    let per_port = chains.iter().filter(|ch| ch["name"].as_str().unwrap().contains("tap")).count();
    assert_eq!(per_port, 0, "{chains:#?}");
    // A port of another profile gets chains of its own profile.
    let (mut ports, mut groups, members) = sample();
    groups[0].stateful = false;
    let mut other = default_group("22222222-2222-4222-8222-222222222222");
    other.stateful = false;
    groups.push(other);
    ports[1].security_group_ids = vec!["22222222-2222-4222-8222-222222222222".into()];
    let c = compile(&ports, &groups, &members);
    assert_ne!(chain_of(&c, "from-ports", a), chain_of(&c, "from-ports", b));
    assert_eq!(c.marks.len(), 2);
}

#[test]
fn eui64_matches_the_kernels_derivation() {
    let mac = "fa:16:3e:12:34:56".parse().unwrap();
    assert_eq!(eui64_link_local(mac).to_string(), "fe80::f816:3eff:fe12:3456");
}

#[test]
fn allowed_pair_with_its_own_mac_is_a_separate_source() {
    let (mut ports, groups, members) = sample();
    ports[1]
        .allowed_address_pairs
        .push(AllowedPair { ip_address: "10.0.0.99".into(), mac_address: "fa:16:3e:00:00:99".into() });
    ports[1].allowed_address_pairs.push(AllowedPair { ip_address: "not-an-ip".into(), mac_address: String::new() });
    let c = compile(&ports, &groups, &members);
    let b = |rest: &str| format!(r#"{{"concat":["tapbbbbbbbb-bb",{rest}]}}"#);
    let macs = elements(&c, "spoof-macs");
    assert!(macs.contains(&b(r#""fa:16:3e:00:00:0b""#)) && macs.contains(&b(r#""fa:16:3e:00:00:99""#)));
    // The pair's MAC is no ARP-probe source: only the port's own is.
    assert!(!elements(&c, "spoof-own").contains(&b(r#""fa:16:3e:00:00:99""#)));
    let v4 = elements(&c, "spoof-v4");
    assert!(v4.contains(&b(r#""fa:16:3e:00:00:99","10.0.0.99""#)));
    assert!(!v4.contains(&b(r#""fa:16:3e:00:00:0b","10.0.0.99""#)));
    assert!(elements(&c, "spoof-arp").contains(&b(r#""fa:16:3e:00:00:99","fa:16:3e:00:00:99""#)));
    assert_eq!(c.issues.len(), 1, "{:?}", c.issues);
    assert!(c.issues[0].to_string().contains(PORT_B));
}

#[test]
fn port_security_off_gets_no_chain_but_is_known() {
    let c = compiled_sample();
    let json = c.to_json();
    assert!(chain_of(&c, "from-ports", "tapcccccccc-cc").is_empty() && !json.contains(r#""tapcccccccc-cc","fa"#));
    assert_eq!(c.filtered, 2);
    assert_eq!(c.known_ports, [PORT_A, PORT_B, PORT_OFF].map(String::from).into_iter().collect());
}

#[test]
fn taps_the_ruleset_does_not_know_are_dropped() {
    let c = compiled_sample();
    let base = rules_of(&c, "bridge", BASE_CHAIN);
    for key in ["iifname", "oifname"] {
        let unknown = format!(
            r#"[{{"match":{{"left":{{"meta":{{"key":"{key}"}}}},"right":"tap*","op":"=="}}}},{{"match":{{"left":{{"meta":{{"key":"{key}"}}}},"right":"@known-taps","op":"!="}}}},{{"drop":null}}]"#
        );
        assert!(base.contains(&unknown), "no unknown-{key} rule in {base:#?}");
    }
    let known = |c: &Compiled| objects(c, "set").into_iter().find(|s| s["name"] == "known-taps").unwrap();
    assert_eq!(known(&c)["type"], "ifname");
    assert_eq!(known(&c)["elem"], serde_json::json!(["tapaaaaaaaa-aa", "tapbbbbbbbb-bb", "tapcccccccc-cc"]));
    // The drops come after the port maps (filtered ports got their verdict there).
    let last_map = base.iter().rposition(|r| r.contains("vmap")).unwrap();
    let first_drop = base.iter().position(|r| r.contains("drop")).unwrap();
    assert!(last_map < first_drop, "{base:#?}");
    // Filtered ports are dispatched through named maps, one element per port.
    let maps = objects(&c, "map");
    let to = maps.iter().find(|m| m["name"] == "to-ports").unwrap();
    let profile = format!("to-p{:04x}", c.marks.keys().next().unwrap());
    assert_eq!(to["elem"][0], serde_json::json!(["tapaaaaaaaa-aa", {"jump": {"target": profile}}]));
    assert_eq!(to["elem"].as_array().unwrap().len(), 2);

    // No port at all: the set is empty, so every tap is dropped.
    let empty = compile(&[], &[], &BTreeMap::new());
    assert!(known(&empty).get("elem").is_none());
    assert_eq!(rules_of(&empty, "bridge", BASE_CHAIN).iter().filter(|r| r.contains("@known-taps")).count(), 2);

    // Service ports the agent plugs (DHCP, routers) are known without a filter.
    let devices = HostDevices { service_ports: ["dddddddd-dddd".to_owned()].into(), ..HostDevices::default() };
    let c = compile_host(&[], &[], &Remotes::default(), &devices);
    assert!(c.known_ports.contains("dddddddd-dddd"));
    assert_eq!(known(&c)["elem"], serde_json::json!(["tapdddddddd-dd"]));
}

#[test]
fn neighbour_adverts_only_for_the_ports_own_addresses() {
    let (mut ports, groups, members) = sample();
    ports[0].ip_addresses.push("fd00::5".parse().unwrap());
    ports[0].allowed_address_pairs.push(AllowedPair { ip_address: "fd00:1::/64".into(), mac_address: String::new() });
    ports[0]
        .allowed_address_pairs
        .push(AllowedPair { ip_address: "fd00::99".into(), mac_address: "fa:16:3e:00:00:99".into() });
    let c = compile(&ports, &groups, &members);
    // The ND table's one rule: iifname . ether saddr . <NA target> must be one of the MAC's
    // own (fixed IP, pair, link-local), for frames from filtered ports.
    let nd = rules_of(&c, "bridge", "nd");
    assert_eq!(nd.len(), 1, "{nd:#?}");
    let rule = &nd[0];
    assert!(rule.contains(r#""field":"type"}},"right":136,"op":"=="}"#), "{rule}");
    assert!(
        rule.contains(
            r#"{"payload":{"base":"th","offset":64,"len":128}}]},"right":"@nd-targets","op":"!="}},{"drop":null}]"#
        ),
        "{rule}"
    );
    assert!(
        rule.contains(r#"{"match":{"left":{"&":[{"meta":{"key":"mark"}},4294901760]},"right":0,"op":"!="}}"#),
        "{rule}"
    );
    let targets = elements(&c, "nd-targets");
    let a = |rest: &str| format!(r#"{{"concat":["tapaaaaaaaa-aa",{rest}]}}"#);
    assert!(targets.contains(&a(r#""fa:16:3e:00:00:0a","0xfd000000000000000000000000000005""#)), "{targets:#?}");
    assert!(targets.contains(&a(
        r#""fa:16:3e:00:00:0a",{"range":["0xfd000001000000000000000000000000","0xfd00000100000000ffffffffffffffff"]}"#
    )));
    // fe80::f816:3eff:fe00:a, the EUI-64 link-local of fa:16:3e:00:00:0a.
    assert!(targets.contains(&a(r#""fa:16:3e:00:00:0a","0xfe80000000000000f8163efffe00000a""#)));
    assert!(targets.contains(&a(r#""fa:16:3e:00:00:99","0xfd000000000000000000000000000099""#)));
    // Not the other MAC's pair for this MAC, and not B's address.
    assert!(!targets.contains(&a(r#""fa:16:3e:00:00:0a","0xfd000000000000000000000000000099""#)));
    // Router advertisements and redirects are dropped whatever their source; neighbour
    // solicitations are not matched by either rule.
    let servers = rules_of(&c, "bridge", "deny-servers");
    let spoof = rules_of(&c, "bridge", "spoof");
    assert!(servers.iter().any(|r| r.contains(r#"{"set":[134,137]}"#) && r.ends_with(r#"{"drop":null}]"#)));
    assert!(!spoof.iter().chain(&servers).any(|r| r.contains("135") && r.ends_with(r#"{"drop":null}]"#)));
}

#[test]
fn each_bridge_gets_its_own_stable_conntrack_zone() {
    let bridges: BTreeSet<String> = ["brq0c1b2a39-8e", "brq5f3e2d1c-0b"].map(String::from).into();
    let devices = HostDevices { bridges: bridges.clone(), ..HostDevices::default() };
    let c = compile_host(&[], &[], &Remotes::default(), &devices);
    assert_eq!(c.zones.len(), 2);
    let zones: BTreeSet<u16> = c.zones.values().copied().collect();
    assert_eq!(zones.len(), 2, "distinct: {:?}", c.zones);
    assert!(!zones.contains(&0), "zone 0 is the host's own");
    // Derived from the bridge (network): the same on every compile and every host.
    assert_eq!(compile_host(&[], &[], &Remotes::default(), &devices).zones, c.zones);

    let zone_rules = rules_of(&c, "inet", "zone");
    assert_eq!(zone_rules.len(), 2, "{zone_rules:#?}");
    assert!(zone_rules[0]
        .starts_with(r#"[{"mangle":{"key":{"ct":{"key":"zone"}},"value":{"map":{"key":{"meta":{"key":"iifname"}}"#));
    for (bridge, zone) in &c.zones {
        assert!(zone_rules[0].contains(&format!(r#"["{bridge}",{zone}]"#)), "{zone_rules:#?}");
    }
    // IP on one of the agent's bridges without a zone is dropped, not left in zone 0.
    assert!(zone_rules[1].contains(r#""right":"brq*""#) && zone_rules[1].ends_with(r#"{"drop":null}]"#));
    let chain = objects(&c, "chain").into_iter().find(|ch| ch["name"] == "zone").unwrap();
    assert_eq!(
        (chain["table"].as_str(), chain["hook"].as_str(), chain["prio"].as_i64()),
        (Some("neutrino-zones"), Some("prerouting"), Some(-300))
    );
}

/// Two bridge names whose zone hashes collide (found by search, so the test does not
/// depend on luck).
pub(super) fn colliding_bridges() -> (String, String) {
    let mut seen: BTreeMap<u16, String> = BTreeMap::new();
    for i in 0..100_000u32 {
        let name = format!("brq{i:08x}-00");
        let only = BTreeSet::from([name.clone()]);
        let zone =
            compile_host(&[], &[], &Remotes::default(), &HostDevices { bridges: only, ..HostDevices::default() }).zones
                [&name];
        if let Some(other) = seen.insert(zone, name.clone()) {
            return (other, name);
        }
    }
    panic!("no collision in 100000 names");
}

#[test]
fn zone_collisions_probe_and_zones_in_use_never_move() {
    let (first, second) = colliding_bridges();
    let alone = |b: &str| {
        let only = BTreeSet::from([b.to_owned()]);
        compile_host(&[], &[], &Remotes::default(), &HostDevices { bridges: only, ..HostDevices::default() }).zones
    };
    let z = alone(&second)[&second];
    assert_eq!(alone(&first)[&first], z);

    // `second` came first and has the zone; `first` (sorting before it) arrives later: the
    // zone in use stays with `second`, `first` probes to another.
    let both: BTreeSet<String> = [first.clone(), second.clone()].into();
    let previous = BTreeMap::from([(second.clone(), z)]);
    let devices = HostDevices { bridges: both.clone(), previous_zones: previous, ..HostDevices::default() };
    let c = compile_host(&[], &[], &Remotes::default(), &devices);
    assert_eq!(c.zones[&second], z);
    assert_ne!(c.zones[&first], z);
    assert_ne!(c.zones[&first], 0);
    // Without history, the order decides (still distinct).
    let fresh = compile_host(&[], &[], &Remotes::default(), &HostDevices { bridges: both, ..HostDevices::default() });
    assert_eq!(fresh.zones[&first], z);
    assert_ne!(fresh.zones[&second], z);
    // A previous zone of a bridge that is gone is free again; a previous zone of 0 is not kept.
    let devices = HostDevices {
        bridges: [first.clone()].into(),
        previous_zones: BTreeMap::from([(first.clone(), 0), (second, z)]),
        ..HostDevices::default()
    };
    assert_eq!(compile_host(&[], &[], &Remotes::default(), &devices).zones[&first], z);
}

#[test]
fn default_group_compiles_to_stateful_chains_with_a_member_set() {
    let c = compiled_sample();
    let egress = rules_of(&c, "inet", &profile_chain(&c, "egress", "tapaaaaaaaa-aa"));
    assert!(egress[0].contains(r#""right":["invalid"]"#) && egress[0].contains("drop"));
    assert!(egress[1].contains(r#""right":["established","related"]"#) && egress[1].contains("return"));
    // The jumps to the baseline's and the group's chains, the "permitted" check, then drop.
    assert_eq!(egress.len(), 2 + 1 + 1 + 1 + 1, "{egress:#?}");
    assert_eq!(egress[2], r#"[{"jump":{"target":"baseline-out"}}]"#);
    assert_eq!(egress[3], format!(r#"[{{"jump":{{"target":"sg-out-{GROUP}"}}}}]"#));
    assert_eq!(
        egress[4],
        r#"[{"match":{"left":{"&":[{"meta":{"key":"mark"}},4294901760]},"right":0,"op":"=="}},{"return":null}]"#
    );
    assert_eq!(egress.last().unwrap(), r#"[{"drop":null}]"#);
    // The group's egress rules, once for both ports: clear the egress index, return.
    let shared = rules_of(&c, "inet", &format!("sg-out-{GROUP}"));
    assert_eq!(shared.len(), 2, "{shared:#?}");
    assert_eq!(
        shared[0],
        r#"[{"match":{"left":{"meta":{"key":"nfproto"}},"right":"ipv4","op":"=="}},{"mangle":{"key":{"meta":{"key":"mark"}},"value":{"&":[{"meta":{"key":"mark"}},65535]}}},{"return":null}]"#
    );
    // One verdict per rule, last (nft rejects statements after a terminal one).
    let verdicts = ["\"accept\"", "\"drop\"", "\"return\"", "\"jump\""];
    let ingress = rules_of(&c, "inet", &profile_chain(&c, "ingress", "tapaaaaaaaa-aa"));
    let shared_in = rules_of(&c, "inet", &format!("sg-in-{GROUP}"));
    for r in egress.iter().chain(&ingress).chain(&shared).chain(&shared_in) {
        assert_eq!(verdicts.iter().map(|v| r.matches(v).count()).sum::<usize>(), 1, "{r}");
    }
    assert_eq!(ingress[ingress.len() - 2], format!(r#"[{{"jump":{{"target":"sg-in-{GROUP}"}}}}]"#));
    assert_eq!(ingress.last().unwrap(), r#"[{"drop":null}]"#);
    let set_name = format!("@rg4-{GROUP}");
    assert!(shared_in
        .iter()
        .any(|r| r.contains(&set_name) && r.contains(r#""field":"saddr""#) && r.contains("accept")));
    // Port B jumps to the same chains; the group's rules appear nowhere else.
    assert!(rules_of(&c, "inet", &profile_chain(&c, "ingress", "tapbbbbbbbb-bb")).contains(&ingress[ingress.len() - 2]));
    assert_eq!(c.to_json().matches(&set_name).count(), 1);
    let sets: Vec<Value> =
        objects(&c, "set").into_iter().filter(|s| s["name"].as_str().unwrap().starts_with("rg")).collect();
    assert_eq!(sets.len(), 2);
    let v4 = sets.iter().find(|s| s["name"] == format!("rg4-{GROUP}")).unwrap();
    assert_eq!(v4["flags"], serde_json::json!(["interval"]));
    // 10.0.0.128/25 covers neither .5 nor .6; all three stay.
    assert_eq!(v4["elem"].as_array().unwrap().len(), 3);
    let v6 = sets.iter().find(|s| s["name"] == format!("rg6-{GROUP}")).unwrap();
    assert!(v6.get("elem").is_none());
}

#[test]
fn rule_kinds() {
    let (ports, mut groups, members) = sample();
    let tcp = SecurityRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(22),
        port_range_max: Some(22),
        remote_ip_prefix: Some("192.0.2.0/24".into()),
        ..rule("t1", "ingress", "IPv4")
    };
    let udp_range = SecurityRule {
        protocol: Some("17".into()),
        port_range_min: Some(1000),
        port_range_max: Some(2000),
        ..rule("t2", "ingress", "IPv4")
    };
    let icmp = SecurityRule {
        protocol: Some("icmp".into()),
        port_range_min: Some(8),
        port_range_max: Some(0),
        ..rule("t3", "ingress", "IPv4")
    };
    let icmp6 =
        SecurityRule { protocol: Some("icmp".into()), port_range_min: Some(128), ..rule("t4", "ingress", "IPv6") };
    let gre = SecurityRule { protocol: Some("gre".into()), ..rule("t5", "egress", "IPv4") };
    let egress_prefix = SecurityRule { remote_ip_prefix: Some("2001:db8::/32".into()), ..rule("t6", "egress", "IPv6") };
    let bad = [
        SecurityRule {
            protocol: Some("tcp".into()),
            port_range_min: Some(30),
            port_range_max: Some(20),
            ..rule("x1", "ingress", "IPv4")
        },
        SecurityRule { protocol: Some("nonsense".into()), ..rule("x2", "ingress", "IPv4") },
        SecurityRule { remote_ip_prefix: Some("10.0.0.0/8".into()), ..rule("x3", "ingress", "IPv6") },
        SecurityRule { protocol: Some("gre".into()), port_range_min: Some(1), ..rule("x4", "ingress", "IPv4") },
        SecurityRule { protocol: Some("icmp".into()), port_range_max: Some(1), ..rule("x5", "ingress", "IPv4") },
        rule("x6", "ingress", "IPX"),
    ];
    groups[0].rules.extend([tcp, udp_range, icmp, icmp6, gre, egress_prefix]);
    groups[0].rules.extend(bad);
    let c = compile(&ports, &groups, &members);
    let ingress = rules_of(&c, "inet", &format!("sg-in-{GROUP}")).join("\n");
    assert!(ingress.contains(r#"{"match":{"left":{"payload":{"protocol":"ip","field":"saddr"}},"right":{"prefix":{"addr":"192.0.2.0","len":24}},"op":"=="}},{"match":{"left":{"meta":{"key":"l4proto"}},"right":6,"op":"=="}},{"match":{"left":{"payload":{"protocol":"th","field":"dport"}},"right":22,"op":"=="}},{"accept":null}"#), "{ingress}");
    assert!(ingress.contains(r#""right":{"range":[1000,2000]}"#));
    assert!(ingress.contains(r#"{"payload":{"protocol":"icmp","field":"type"}},"right":8"#));
    assert!(ingress.contains(r#"{"payload":{"protocol":"icmp","field":"code"}},"right":0"#));
    assert!(ingress.contains(r#"{"meta":{"key":"l4proto"}},"right":58,"op":"=="}},{"match":{"left":{"payload":{"protocol":"icmpv6","field":"type"}},"right":128"#));
    let egress = rules_of(&c, "inet", &format!("sg-out-{GROUP}")).join("\n");
    assert!(egress.contains(r#""right":47"#));
    assert!(egress.contains(
        r#"{"payload":{"protocol":"ip6","field":"daddr"}},"right":{"prefix":{"addr":"2001:db8::","len":32}}"#
    ));
    let reported: Vec<String> = c.issues.iter().map(ToString::to_string).collect();
    for id in ["x1", "x2", "x3", "x4", "x5", "x6"] {
        assert!(reported.iter().any(|i| i.contains(&format!("rule {id}:"))), "{id} in {reported:#?}");
    }
    assert_eq!(reported.len(), 6, "{reported:#?}");
}

#[test]
fn stateless_groups_have_no_conntrack() {
    let (ports, mut groups, members) = sample();
    groups[0].stateful = false;
    let c = compile(&ports, &groups, &members);
    let ingress = rules_of(&c, "inet", &profile_chain(&c, "ingress", "tapaaaaaaaa-aa")).join("\n");
    assert!(!ingress.contains(r#""ct""#), "{ingress}");
    assert!(ingress.ends_with(r#"[{"drop":null}]"#));
}

#[test]
fn port_in_two_groups_jumps_to_both_in_group_order() {
    let (mut ports, mut groups, members) = sample();
    let second_id = "22222222-2222-4222-8222-222222222222";
    let mut second = default_group(second_id);
    second.rules.truncate(1); // egress IPv4 allow-all, as in the first group
    second.rules.push(rule("w0", "egress", "IPv4")); // a duplicate inside the group: once
    second.rules.push(SecurityRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(80),
        port_range_max: Some(80),
        ..rule("w1", "ingress", "IPv4")
    });
    groups.push(second);
    ports[0].security_group_ids.push(second_id.into());
    ports[0].security_group_ids.push("33333333-0000-4000-8000-000000000000".into());
    let c = compile(&ports, &groups, &members);
    let jumps = |chain: &str| -> Vec<String> {
        rules_of(&c, "inet", chain).into_iter().filter(|r| r.contains(r#""jump""#)).collect()
    };
    let jump = |target: String| format!(r#"[{{"jump":{{"target":"{target}"}}}}]"#);
    assert_eq!(
        jumps(&profile_chain(&c, "egress", "tapaaaaaaaa-aa")),
        [jump("baseline-out".into()), jump(format!("sg-out-{GROUP}")), jump(format!("sg-out-{second_id}"))]
    );
    assert_eq!(
        jumps(&profile_chain(&c, "ingress", "tapaaaaaaaa-aa")),
        [jump("baseline-in".into()), jump(format!("sg-in-{GROUP}")), jump(format!("sg-in-{second_id}"))]
    );
    // B is not in the second group.
    assert_eq!(
        jumps(&profile_chain(&c, "ingress", "tapbbbbbbbb-bb")),
        [jump("baseline-in".into()), jump(format!("sg-in-{GROUP}"))]
    );
    assert_eq!(rules_of(&c, "inet", &format!("sg-out-{second_id}")).len(), 1);
    assert!(rules_of(&c, "inet", &format!("sg-in-{second_id}")).join("\n").contains(r#""right":80"#));
    assert_eq!(c.issues.len(), 1);
    assert!(matches!(&c.issues[0], CompileIssue::UnknownGroup { port, .. } if port == PORT_A));
}

#[test]
fn group_without_rules_in_a_direction_gets_no_chain() {
    let (ports, mut groups, members) = sample();
    groups[0].rules.retain(|r| r.direction == "ingress");
    let c = compile(&ports, &groups, &members);
    let json = c.to_json();
    assert!(!json.contains("sg-out-"), "{json}");
    // No group can permit egress: after the baseline, the port's egress chain drops.
    let egress = rules_of(&c, "inet", &profile_chain(&c, "egress", "tapaaaaaaaa-aa"));
    assert_eq!(egress.len(), 2 + 1 + 1 + 1);
    assert_eq!(egress[2], r#"[{"jump":{"target":"baseline-out"}}]"#);
    assert_eq!(egress.last().unwrap(), r#"[{"drop":null}]"#);
}

#[test]
fn a_group_no_port_uses_is_not_compiled() {
    let (ports, mut groups, members) = sample();
    groups.push(default_group("44444444-4444-4444-8444-444444444444"));
    let c = compile(&ports, &groups, &members);
    assert!(!c.to_json().contains("44444444-4444"));
}

#[test]
fn deterministic_whatever_the_input_order() {
    let (mut ports, mut groups, members) = sample();
    let first = compile(&ports, &groups, &members);
    ports.reverse();
    groups[0].rules.reverse();
    let second = compile(&ports, &groups, &members);
    assert_eq!(first.to_json(), second.to_json());
    assert_eq!(first.fingerprint, second.fingerprint);
    assert!(first.to_json().contains(&format!("{FINGERPRINT_PREFIX}{}", first.fingerprint)));
}

#[test]
fn marks_are_unique_and_stable() {
    let (mut ports, mut groups, members) = sample();
    let second = "22222222-2222-4222-8222-222222222222";
    groups.push(default_group(second));
    ports[0].security_group_ids = vec![second.into()];
    let both = compile(&ports, &groups, &members);
    let only_b = compile(&ports[1..], &groups, &members);
    let index_of =
        |c: &Compiled, group: &str| c.marks.iter().find(|(_, k)| k.ends_with(group)).map(|(i, _)| *i).unwrap();
    assert_eq!(index_of(&both, GROUP), index_of(&only_b, GROUP));
    assert_ne!(index_of(&both, GROUP), index_of(&both, second));
    // Many profiles: still one index each, never 0.
    let many_groups: Vec<_> =
        (0..3000).map(|i| default_group(&format!("{i:08x}-0000-4000-8000-000000000000"))).collect();
    let many: Vec<_> = (0..3000)
        .map(|i| PortSecurity {
            security_group_ids: vec![format!("{i:08x}-0000-4000-8000-000000000000")],
            ..port(&format!("{i:08x}-0000-4000-8000-000000000000"), "fa:16:3e:00:00:01", "10.0.0.1")
        })
        .collect();
    let c = compile(&many, &many_groups, &members);
    assert_eq!(c.marks.len(), 3000);
    assert!(!c.marks.contains_key(&0));
}

#[test]
fn invalid_port_mac_drops_everything_it_sends() {
    let (mut ports, groups, members) = sample();
    ports[0].mac_address = "zz".into();
    let c = compile(&ports, &groups, &members);
    // In the port maps (it is filtered: never bridged unfiltered), in no anti-spoofing
    // set, so the shared chain's first rule drops all it sends.
    assert!(!chain_of(&c, "from-ports", "tapaaaaaaaa-aa").is_empty());
    for set in ["spoof-macs", "spoof-own", "spoof-arp", "spoof-v4", "spoof-v6", "nd-targets"] {
        assert!(!elements(&c, set).iter().any(|e| e.contains("tapaaaaaaaa-aa")), "{set}");
    }
    assert!(matches!(&c.issues[0], CompileIssue::PortMac { port, .. } if port == PORT_A));
}

/// `security-groups-remote-address-group`: a rule's remote is the named set of its address
/// group's CIDRs of the rule's family (source on ingress, destination on egress).
#[test]
fn address_group_rules_match_the_groups_cidrs_of_their_family() {
    const AG: &str = "22222222-2222-4222-8222-222222222222";
    let (ports, mut groups, members) = sample();
    groups[0].rules.push(SecurityRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(80),
        port_range_max: Some(80),
        remote_address_group_id: Some(AG.into()),
        ..rule("a1", "ingress", "IPv4")
    });
    groups[0].rules.push(SecurityRule { remote_address_group_id: Some(AG.into()), ..rule("a2", "egress", "IPv6") });
    let cidrs = vec!["10.5.0.0/16".to_string(), "10.5.7.0/24".into(), "192.0.2.9/32".into(), "2001:db8::/64".into()];
    let address_groups = BTreeMap::from([(AG.to_string(), cidrs)]);
    let remotes = Remotes { group_members: &members, address_groups: &address_groups };
    let c = compile_host(&ports, &groups, &remotes, &HostDevices::default());
    assert!(c.issues.is_empty(), "{:?}", c.issues);

    let shared_in = rules_of(&c, "inet", &format!("sg-in-{GROUP}"));
    let from_group = shared_in.iter().find(|r| r.contains(&format!("@ag4-{AG}"))).expect("ingress rule");
    assert!(from_group.contains(r#""field":"saddr""#) && from_group.contains(r#""right":80"#), "{from_group}");
    assert!(from_group.ends_with(r#"{"accept":null}]"#), "{from_group}");
    let shared_out = rules_of(&c, "inet", &format!("sg-out-{GROUP}"));
    let to_group = shared_out.iter().find(|r| r.contains(&format!("@ag6-{AG}"))).expect("egress rule");
    assert!(to_group.contains(r#""field":"daddr""#) && to_group.contains(r#""protocol":"ip6""#), "{to_group}");

    // One set per family used: the IPv4 set holds the widest of overlapping CIDRs only.
    let sets = objects(&c, "set");
    let v4 = sets.iter().find(|s| s["name"] == format!("ag4-{AG}")).expect("ag4 set");
    assert_eq!(v4["flags"], serde_json::json!(["interval"]));
    // Keyed `nf_proto . address` (a concatenated interval set: nft never dumps its elements).
    assert_eq!(v4["type"], serde_json::json!(["nf_proto", "ipv4_addr"]));
    assert!(
        from_group.contains(r#"{"concat":[{"meta":{"key":"nfproto"}},{"payload":{"protocol":"ip","field":"saddr"}}]}"#)
    );
    assert_eq!(
        v4["elem"],
        serde_json::json!([{"concat": ["ipv4", {"prefix": {"addr": "10.5.0.0", "len": 16}}]}, {"concat": ["ipv4", "192.0.2.9"]}]),
        "{v4}"
    );
    let v6 = sets.iter().find(|s| s["name"] == format!("ag6-{AG}")).expect("ag6 set");
    assert_eq!(v6["elem"], serde_json::json!([{"concat": ["ipv6", {"prefix": {"addr": "2001:db8::", "len": 64}}]}]));

    // New addresses are a new ruleset (the agent applies it); a group the state lacks
    // leaves the set empty, so its rules allow nothing.
    let more = BTreeMap::from([(AG.to_string(), vec!["10.5.0.0/16".to_string(), "10.9.0.0/16".into()])]);
    let changed = compile_host(
        &ports,
        &groups,
        &Remotes { group_members: &members, address_groups: &more },
        &HostDevices::default(),
    );
    assert_ne!(changed.fingerprint, c.fingerprint);
    let none = compile_host(
        &ports,
        &groups,
        &Remotes { group_members: &members, ..Remotes::default() },
        &HostDevices::default(),
    );
    let v4 = objects(&none, "set").into_iter().find(|s| s["name"] == format!("ag4-{AG}")).expect("ag4 set");
    assert!(v4.get("elem").is_none(), "{v4}");
}

#[test]
fn the_port_cache_gives_the_same_document_as_compiling_afresh() {
    let (mut ports, mut groups, mut members) = sample();
    let mut cache = super::PortCache::default();
    let devices = HostDevices::default();
    let both = |ports: &[PortSecurity],
                groups: &[SecurityGroupState],
                members: &BTreeMap<String, Vec<String>>,
                cache: &mut super::PortCache| {
        let remotes = Remotes { group_members: members, ..Remotes::default() };
        let cached = super::compile_host_cached(ports, groups, &remotes, &devices, cache);
        let fresh = compile_host(ports, groups, &remotes, &devices);
        assert_eq!(cached, fresh);
        cached
    };
    let first = both(&ports, &groups, &members, &mut cache);
    // A port's address, a group's rules (which chains exist), a new port: each changes
    // what the cached ports compile to, or not, and the result is always the fresh one.
    ports[0].ip_addresses.push("10.0.0.99".parse().unwrap());
    let second = both(&ports, &groups, &members, &mut cache);
    assert_ne!(first.fingerprint, second.fingerprint);
    groups[0].rules.retain(|r| r.direction == "ingress");
    both(&ports, &groups, &members, &mut cache);
    let mut added = port("dddddddd-dddd-4ddd-8ddd-dddddddddddd", "fa:16:3e:00:00:0d", "10.0.0.9");
    added.allowed_address_pairs.push(AllowedPair { ip_address: "bogus".into(), mac_address: String::new() });
    ports.push(added);
    members.get_mut(GROUP).unwrap().push("10.0.0.9".into());
    let c = both(&ports, &groups, &members, &mut cache);
    // Issues of a cached port are reported on every pass, not only when it was compiled.
    assert!(c.issues.iter().any(|i| matches!(i, CompileIssue::Pair { .. })), "{:?}", c.issues);
    let again = both(&ports, &groups, &members, &mut cache);
    assert_eq!(again.issues, c.issues);
    // An unchanged port's elements are the last pass's, not compiled again.
    let port_b = ports.iter().find(|p| p.port_id == PORT_B).unwrap();
    let (mut next, mut next_again) = (Default::default(), Default::default());
    let filtered = super::compile::Filtered {
        port: port_b,
        tap: "tapbbbbbbbb-bb".into(),
        index: 7,
        groups: vec![],
        stateful: true,
    };
    let first = cache.port(&mut next, &filtered);
    cache.keep(next);
    assert!(std::sync::Arc::ptr_eq(&first, &cache.port(&mut next_again, &filtered)));
}

#[test]
fn typed_commands_know_what_they_are_as_their_json_says() {
    // The fast path (text straight from the typed command) and the JSON path agree.
    for c in &compiled_sample().ruleset.commands {
        if c.table == super::ND_TABLE && matches!(c.kind, super::doc::Kind::Set(_)) {
            continue; // `flush set` + `add element`: see the ND table's own test
        }
        let again = super::doc::Command::of(serde_json::from_str(&c.text).unwrap());
        assert_eq!(**c, *again, "{}", c.text);
    }
}

#[test]
fn the_baseline_is_one_shared_chain_per_direction() {
    let c = compiled_sample();
    let out = rules_of(&c, "inet", "baseline-out");
    // DHCP, DHCPv6, ND/MLD; each permits as a group's egress rule does.
    assert_eq!(out.len(), 3, "{out:#?}");
    assert!(out.iter().all(|r| r.ends_with(r#"{"mangle":{"key":{"meta":{"key":"mark"}},"value":{"&":[{"meta":{"key":"mark"}},65535]}}},{"return":null}]"#)), "{out:#?}");
    let inbound = rules_of(&c, "inet", "baseline-in");
    assert_eq!(inbound.len(), 3);
    assert!(inbound.iter().all(|r| r.ends_with(r#"{"accept":null}]"#)), "{inbound:#?}");
    // No port chain carries an inline set of its own for them any more.
    assert!(!rules_of(&c, "inet", &profile_chain(&c, "egress", "tapaaaaaaaa-aa")).join("\n").contains(r#""set""#));
}

/// A port added to a profile in use changes only elements: the same chains with the same
/// rules, the same sets and maps, a few more elements (and the fingerprint's comment).
#[test]
fn a_port_added_to_a_profile_in_use_is_elements_only() {
    let (mut ports, groups, mut members) = sample();
    let before = compile(&ports, &groups, &members);
    ports.push(port("dddddddd-dddd-4ddd-8ddd-dddddddddddd", "fa:16:3e:00:00:0d", "10.0.0.9"));
    members.get_mut(GROUP).unwrap().push("10.0.0.9".into());
    let after = compile(&ports, &groups, &members);
    let of = |c: &Compiled, kind: super::doc::Kind| -> Vec<String> {
        let commands = c.ruleset.commands.iter().filter(|x| x.kind == kind && x.name != "fingerprint");
        commands.map(|x| x.text.clone()).collect()
    };
    for kind in [super::doc::Kind::Chain, super::doc::Kind::Rule] {
        assert_eq!(of(&before, kind), of(&after, kind), "{kind:?}");
    }
    let definitions = |c: &Compiled| -> Vec<String> {
        let sets = c.ruleset.commands.iter().filter(|x| matches!(x.kind, super::doc::Kind::Set(_)));
        sets.map(|x| x.definition.clone()).collect()
    };
    assert_eq!(definitions(&before), definitions(&after));
    let count = |c: &Compiled| -> usize { c.ruleset.commands.iter().map(|x| x.elems.len()).sum() };
    // to-ports, from-ports, known-taps, 5 anti-spoofing elements (one IPv4, one link-local),
    // its ND target, its address in the group's member set.
    assert_eq!(count(&after) - count(&before), 3 + 5 + 1 + 1);
}

#[test]
fn a_hybrid_plugs_port_bridge_takes_its_networks_zone() {
    // Two tenants' ports with the same addresses on one Open vSwitch host: each qbr carries
    // its own network's zone, never zone 0.
    let bridges: BTreeSet<String> = ["brq0c1b2a39-8e", "brq5f3e2d1c-0b"].map(String::from).into();
    let hybrid_bridges = [("qbraaaaaaaa-aa", "brq0c1b2a39-8e"), ("qbrbbbbbbbb-bb", "brq5f3e2d1c-0b")]
        .map(|(q, b)| (q.to_string(), b.to_string()))
        .into();
    let devices = HostDevices { bridges, hybrid_bridges: Some(hybrid_bridges), ..HostDevices::default() };
    let c = compile_host(&[], &[], &Remotes::default(), &devices);
    let zone_rules = rules_of(&c, "inet", "zone");
    for (qbr, bridge) in [("qbraaaaaaaa-aa", "brq0c1b2a39-8e"), ("qbrbbbbbbbb-bb", "brq5f3e2d1c-0b")] {
        let zone = c.zones[bridge];
        assert!(zone_rules[0].contains(&format!(r#"["{qbr}",{zone}]"#)), "{zone_rules:#?}");
    }
    // IP on a port bridge without a zone (a port not in the state) is dropped.
    assert!(zone_rules[2].contains("qbraaaaaaaa-aa") && zone_rules[2].contains(r#""right":"qbr*""#));
    assert!(zone_rules[2].ends_with(r#"{"drop":null}]"#));
    assert_eq!(compile::hybrid_bridge_name("aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"), "qbraaaaaaaa-aa");
}
