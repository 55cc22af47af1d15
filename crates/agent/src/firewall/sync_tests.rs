//! [`Firewall::sync`] against the fake nftables.

use std::sync::Arc;

use neutrino_agent_api::{HostState, SecurityRule};

use super::compile_tests::{rule, sample};
use super::fake::FakeNft;
use super::*;

fn state() -> HostState {
    let (port_security, security_groups, group_members) = sample();
    HostState { port_security, security_groups, group_members, ..HostState::default() }
}

fn firewall(fake: &Arc<FakeNft>, sysctl_dir: &std::path::Path) -> Firewall {
    let cfg = FirewallConfig {
        nft_path: "/nonexistent/nft".into(),
        bridge_sysctl_dir: sysctl_dir.to_owned(),
        verify_interval: std::time::Duration::ZERO,
        hybrid_plug: false,
    };
    Firewall::with_runner(cfg, Arc::clone(fake) as Arc<dyn NftRunner>)
}

fn sysctl_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in BRIDGE_SYSCTLS {
        std::fs::write(dir.path().join(name), "0\n").unwrap();
    }
    dir
}

#[tokio::test]
async fn applies_once_then_only_on_change_or_drift() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fw = firewall(&fake, dir.path());
    let mut s = state();

    let first = fw.sync(&s).await;
    assert!(first.issues.is_empty(), "{first:?}");
    assert_eq!(first.applied.len(), 3, "two sysctls and the ruleset: {first:?}");
    assert_eq!(std::fs::read_to_string(dir.path().join("bridge-nf-call-ip6tables")).unwrap(), "1\n");
    assert_eq!(fake.applies(), 1);

    let again = fw.sync(&s).await;
    assert_eq!(again, Report::new(SubsystemKind::Firewall));
    assert_eq!(fake.applies(), 1);

    s.security_groups[0].rules.push(SecurityRule {
        protocol: Some("tcp".into()),
        port_range_min: Some(22),
        port_range_max: Some(22),
        ..rule("ssh", "ingress", "IPv4")
    });
    let changed = fw.sync(&s).await;
    assert_eq!(changed.applied.len(), 1, "{changed:?}");
    assert_eq!(fake.applies(), 2);
    let doc = fake.last_document().unwrap();
    assert!(doc.contains(r#""right":22"#));
    // Only the group's shared chain and the fingerprinted bridge base chain are rewritten:
    // 2 flushes, their 4 + 3 rules.
    assert!(changed.applied[0].contains("incremental: 6 commands"), "{changed:?}\n{doc}");
    assert!(!doc.contains(r#""delete""#) && !doc.contains(r#""chain":"ingress-tap"#), "{doc}");

    fake.delete_last_rule("inet", TABLE);
    let healed = fw.sync(&s).await;
    assert_eq!(healed.applied.len(), 1, "{healed:?}");
    assert_eq!(fake.applies(), 3);

    // A restarted agent finds its ruleset in place and applies nothing.
    let mut restarted = firewall(&fake, dir.path());
    assert_eq!(restarted.sync(&s).await, Report::new(SubsystemKind::Firewall));
    assert_eq!(fake.applies(), 3);
    assert_eq!(restarted.fingerprint(), fw.fingerprint());
}

#[tokio::test]
async fn an_unchanged_ruleset_is_read_back_only_after_the_interval() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let cfg = FirewallConfig { bridge_sysctl_dir: dir.path().to_owned(), ..FirewallConfig::default() };
    let mut fw = Firewall::with_runner(cfg, Arc::clone(&fake) as Arc<dyn NftRunner>);
    let s = state();
    assert_eq!(fw.sync(&s).await.applied.len(), 3);
    fake.delete_last_rule("inet", TABLE);
    // Within the interval the unchanged ruleset is trusted: no read, no apply.
    assert_eq!(fw.sync(&s).await, Report::new(SubsystemKind::Firewall));
    assert_eq!(fake.applies(), 1);
    fw.verified = None;
    assert_eq!(fw.sync(&s).await.applied.len(), 1);
    assert_eq!(fake.applies(), 2);
}

#[tokio::test]
async fn a_failed_apply_is_reported_and_retried() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fw = firewall(&fake, dir.path());
    fake.fail_apply(Some("Error: Could not process rule: No such file or directory"));
    let failed = fw.sync(&state()).await;
    assert_eq!(failed.issues.len(), 1, "{failed:?}");
    assert!(
        failed.issues[0].reason.contains("nft -j -f -") && failed.issues[0].reason.contains("Could not process rule")
    );
    assert_eq!(fw.fingerprint(), None);
    fake.fail_apply(None);
    let retried = fw.sync(&state()).await;
    assert!(retried.issues.is_empty() && retried.applied.len() == 1, "{retried:?}");
}

#[tokio::test]
async fn missing_br_netfilter_is_an_issue_but_rules_still_apply() {
    let fake = Arc::new(FakeNft::new());
    let dir = tempfile::tempdir().unwrap();
    let mut fw = firewall(&fake, &dir.path().join("bridge"));
    let report = fw.sync(&state()).await;
    assert_eq!(report.issues.len(), 1, "{report:?}");
    assert!(report.issues[0].reason.contains("br_netfilter"));
    assert_eq!(fake.applies(), 1);
}

#[tokio::test]
async fn compile_issues_are_reported() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fw = firewall(&fake, dir.path());
    let mut s = state();
    s.security_groups[0].rules.push(SecurityRule { protocol: Some("bogus".into()), ..rule("bad", "ingress", "IPv4") });
    let report = fw.sync(&s).await;
    let group = s.security_groups[0].id.clone();
    assert_eq!(
        report.issues,
        vec![crate::report::Issue {
            subsystem: SubsystemKind::Firewall,
            object: Object::SecurityGroup(group.clone()),
            reason: format!("security group {group} rule bad: unknown protocol \"bogus\"; rule left out"),
        }]
    );
}

#[tokio::test]
async fn a_restarted_agent_keeps_the_zones_the_kernel_has() {
    use super::compile_tests::colliding_bridges;
    let (first, second) = colliding_bridges();
    // Network ids whose bridges are these names (`brq` + the id's first 11 characters).
    let network =
        |bridge: &str| crate::l2::testdata::vxlan_net(&format!("{}00-4000-8000-000000000000", &bridge[3..]), 100);
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fw = firewall(&fake, dir.path());
    let mut s = state();
    s.networks = vec![network(&second)];
    assert!(fw.sync(&s).await.issues.is_empty());
    let zone = fw.zones()[&second];
    // The colliding network arrives later: the zone in use stays with `second`.
    s.networks = vec![network(&first), network(&second)];
    fw.sync(&s).await;
    assert_eq!(fw.zones()[&second], zone);
    let moved = fw.zones()[&first];
    assert_ne!(moved, zone);
    let applies = fake.applies();

    // A restarted agent reads the zones back from the kernel: same zones, nothing applied
    // (a fresh assignment in bridge order would have swapped them).
    let mut restarted = firewall(&fake, dir.path());
    assert_eq!(restarted.sync(&s).await, Report::new(SubsystemKind::Firewall));
    assert_eq!(fake.applies(), applies);
    assert_eq!(restarted.zones(), fw.zones());
    assert_eq!((restarted.zones()[&first], restarted.zones()[&second]), (moved, zone));
}

#[tokio::test]
async fn the_gate_confirms_only_what_the_kernel_holds() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fw = firewall(&fake, dir.path());
    let mut s = state();
    let (a, b) = (s.port_security[0].port_id.clone(), s.port_security[1].port_id.clone());
    let off = s.port_security[2].port_id.clone();
    let newcomer = s.port_security.remove(1);
    fw.sync(&s).await;
    assert_eq!(fw.gate().confirmed, [a.clone(), off.clone()].into_iter().collect());
    assert_eq!(fw.gate().hold_reason(&a), None);

    fake.fail_apply(Some("Error: simulated"));
    s.port_security.push(newcomer);
    fw.sync(&s).await;
    assert_eq!(fw.gate().confirmed, [a.clone(), off.clone()].into_iter().collect(), "the old ruleset stays");
    let reason = fw.gate().hold_reason(&b).expect("held");
    assert!(reason.contains("nftables transaction failed") && reason.contains("simulated"), "{reason}");

    fake.fail_apply(None);
    fw.sync(&s).await;
    assert_eq!(fw.gate().confirmed, [a, b.clone(), off].into_iter().collect());
    assert_eq!(fw.gate().hold_reason(&b), None);
}

/// `/metrics` hears of each ruleset write's time once, and of nothing when nothing was written.
#[tokio::test]
async fn a_write_leaves_its_time_for_the_pass_once() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fw = firewall(&fake, dir.path());
    let s = state();
    fw.sync(&s).await;
    assert!(fw.take_apply_time().is_some(), "the first sync wrote the ruleset");
    assert_eq!(fw.take_apply_time(), None, "taken once");
    fw.sync(&s).await;
    assert_eq!(fake.applies(), 1);
    assert_eq!(fw.take_apply_time(), None, "nothing written, nothing timed");
}

/// The fake kernel's tables, as a whole apply of the same state would leave them.
async fn kernel_equals_whole_apply(fake: &FakeNft, s: &HostState) {
    let whole = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fresh = firewall(&whole, dir.path());
    let _ = fresh.sync(s).await;
    for (family, table) in [("bridge", TABLE), ("inet", TABLE), ("bridge", compile::FINGERPRINT_TABLE)] {
        let (a, b) = (fake.list_table(family, table).unwrap(), whole.list_table(family, table).unwrap());
        // Elements may be in another order after element updates: compare them as sets.
        let norm = |v: Option<serde_json::Value>| -> Vec<String> {
            let mut objects: Vec<String> = v.unwrap()["nftables"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| {
                    let mut o = o.clone();
                    for kind in ["set", "map"] {
                        if let Some(elems) =
                            o.get_mut(kind).and_then(|b| b.get_mut("elem")).and_then(|e| e.as_array_mut())
                        {
                            elems.sort_by_key(|e| e.to_string());
                        }
                    }
                    o.to_string()
                })
                .collect();
            objects.sort();
            objects
        };
        assert_eq!(norm(a), norm(b), "{family} {table}");
    }
}

#[tokio::test]
async fn a_port_or_a_member_coming_or_going_is_element_updates() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let mut fw = firewall(&fake, dir.path());
    let mut s = state();
    let _ = fw.sync(&s).await;

    // A new port in the group: element adds only (its profile's chains exist): one in each
    // port map and the known-tap set, its sources in the anti-spoofing sets, its address in
    // the group's member set; no chain added or rewritten but the fingerprint's.
    let mut added = s.port_security[0].clone();
    added.port_id = "dddddddd-dddd-4ddd-8ddd-dddddddddddd".into();
    added.mac_address = "fa:16:3e:00:00:0d".into();
    added.ip_addresses = vec!["10.0.0.9".parse().unwrap()];
    s.port_security.push(added);
    s.group_members.get_mut(compile_tests::GROUP).unwrap().push("10.0.0.9".into());
    let report = fw.sync(&s).await;
    assert!(report.issues.is_empty(), "{report:?}");
    let doc: serde_json::Value = serde_json::from_str(&fake.last_document().unwrap()).unwrap();
    let commands = doc["nftables"].as_array().unwrap();
    let elements: Vec<&serde_json::Value> =
        commands.iter().filter_map(|c| c.get("add").and_then(|a| a.get("element"))).collect();
    let names: Vec<&str> = elements.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "from-ports",
            "known-taps",
            "nd-targets",
            "spoof-arp",
            "spoof-macs",
            "spoof-own",
            "spoof-v4",
            "spoof-v6",
            "to-ports",
            &format!("rg4-{}", compile_tests::GROUP)
        ],
        "{doc:#}"
    );
    // Only the new port's elements (its pair, copied from A, is a second source) and its
    // member address.
    for e in &elements[..elements.len() - 1] {
        assert!(e["elem"].as_array().unwrap().iter().all(|x| x.to_string().contains("tapdddddddd-dd")), "{e:#}");
    }
    assert_eq!(elements.last().unwrap()["elem"], serde_json::json!([{"concat": ["ipv4", "10.0.0.9"]}]));
    let added: Vec<&str> =
        commands.iter().filter_map(|c| c.get("add")?.as_object()?.keys().next().map(String::as_str)).collect();
    assert!(added.iter().all(|k| *k == "element" || *k == "rule"), "{doc:#}");
    let rules = commands.iter().filter_map(|c| c.get("add")?.get("rule"));
    assert!(rules.clone().count() == 1 && rules.clone().all(|r| r["chain"] == "fingerprint"), "{doc:#}");
    let text = doc.to_string();
    assert!(!text.contains(r#""name":"forward""#), "a base chain was rewritten: {doc:#}");
    assert!(!text.contains(r#""flush":{"set""#) && !text.contains(r#""flush":{"map""#), "{doc:#}");
    kernel_equals_whole_apply(&fake, &s).await;

    // The port goes: its elements are deleted, the member too; its profile's chains stay
    // (port A still uses them).
    s.port_security.pop();
    s.group_members.get_mut(compile_tests::GROUP).unwrap().pop();
    let report = fw.sync(&s).await;
    assert!(report.issues.is_empty(), "{report:?}");
    let doc = fake.last_document().unwrap();
    assert!(doc.contains(r#"{"delete":{"element""#) && !doc.contains(r#"{"delete":{"chain""#), "{doc}");
    assert!(report.applied[0].contains("incremental"), "{report:?}");
    kernel_equals_whole_apply(&fake, &s).await;
}

#[tokio::test]
async fn a_pass_with_the_same_inputs_skips_the_compile_but_not_its_issues() {
    let fake = Arc::new(FakeNft::new());
    let dir = sysctl_dir();
    let cfg = FirewallConfig {
        nft_path: "/nonexistent/nft".into(),
        bridge_sysctl_dir: dir.path().to_owned(),
        verify_interval: std::time::Duration::from_secs(3600),
        hybrid_plug: false,
    };
    let mut fw = Firewall::with_runner(cfg, Arc::clone(&fake) as Arc<dyn NftRunner>);
    let mut s = state();
    s.security_groups[0].rules.push(SecurityRule { protocol: Some("bogus".into()), ..rule("bad", "ingress", "IPv4") });
    let first = fw.sync(&s).await;
    assert_eq!(first.issues.len(), 1, "{first:?}");
    assert_eq!(fake.applies(), 1);
    let cached = fw.sync(&s).await;
    assert_eq!(cached.issues, first.issues, "the skipped compile's issues are reported again");
    assert!(cached.applied.is_empty(), "{cached:?}");
    assert_eq!(fw.compiled_from.as_ref().map(|(_, i)| i.len()), Some(1));
    // Any input changing compiles again: a member, a zone's bridge, a rule.
    s.group_members.get_mut(compile_tests::GROUP).unwrap().push("10.0.0.77".into());
    let changed = fw.sync(&s).await;
    assert!(changed.applied.iter().any(|a| a.contains("incremental")), "{changed:?}");
    s.networks.push(crate::l2::testdata::vxlan_net(crate::l2::testdata::NET_A, 100));
    let zoned = fw.sync(&s).await;
    assert!(zoned.applied.iter().any(|a| a.starts_with("nftables ruleset")), "{zoned:?}");
    assert_eq!(fw.zones().len(), 1);
    assert_eq!(fake.applies(), 3);
}
