//! Shared helpers of the testbed's own integration tests.
#![allow(dead_code)]

use std::process::Command;

use neutrino_testbed::{preflight, Testbed};

/// A fresh testbed, or `None` (with the reason printed) when this machine cannot build one.
pub fn testbed(hint: &str) -> Option<Testbed> {
    if let Err(why) = preflight() {
        assert!(std::env::var_os("CI").is_none(), "cannot run under CI: {why}");
        eprintln!("skipped: {why}");
        return None;
    }
    Some(Testbed::new(hint).expect("creating testbed"))
}

/// Names of the devices of the root network namespace.
pub fn root_links() -> Vec<String> {
    let out = Command::new("ip").args(["-o", "link", "show"]).output().expect("ip -o link");
    let mut names: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        .collect();
    names.sort();
    names
}

/// Namespaces of the machine whose name carries `tag`.
pub fn netns_with_tag(tag: &str) -> Vec<String> {
    let prefix = format!("nt{tag}-");
    neutrino_testbed::list_netns().expect("ip netns list").into_iter().filter(|n| n.starts_with(&prefix)).collect()
}
