//! [`Firewall::sync`] against the fake nftables.

use std::sync::Arc;

use neutrino_model::agent_api::{HostState, SecurityRule};

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
    assert_eq!(again, FirewallReport::default());
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
    assert_eq!(restarted.sync(&s).await, FirewallReport::default());
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
    assert_eq!(fw.sync(&s).await, FirewallReport::default());
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
    assert!(failed.issues[0].contains("nft -j -f -") && failed.issues[0].contains("Could not process rule"));
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
    assert!(report.issues[0].contains("br_netfilter"));
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
    assert_eq!(
        report.issues,
        vec![format!("security group {} rule bad: unknown protocol \"bogus\"; rule left out", s.security_groups[0].id)]
    );
}
