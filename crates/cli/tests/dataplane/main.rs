//! The dataplane on real kernels: a `neutrino server` and `neutrino agent`s in network
//! namespaces built by `neutrino-testbed`, VMs booted as Nova boots them, real packets.
//!
//! Needs root and iproute2/iputils-ping/util-linux (scripts/test.sh installs them). Without
//! them the tests skip with the reason, except under CI (`CI` set), where that fails.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod check;
mod dhcp;
mod diagnose;
mod dns;
mod ipv6;
mod isolation;
mod l2;
mod l3;
mod metadata;
mod migration;
mod nova;
mod ovs;
mod ovs_services;

use neutrino_testbed::cloud::{Auth, Cloud};
use neutrino_testbed::{preflight, Testbed};
use std::path::Path;

/// A cloud with `hosts`, or `None` when this machine cannot build one (outside CI).
pub fn cloud(name: &str, hosts: &[&str]) -> Option<Cloud> {
    cloud_with(name, hosts, &[])
}

/// [`cloud`] whose agents get `agent_flags` too.
pub fn cloud_with(name: &str, hosts: &[&str], agent_flags: &[&str]) -> Option<Cloud> {
    cloud_auth(name, hosts, agent_flags, Auth::NoAuth)
}

/// [`cloud_with`] with a choice of authentication (the embedded identity for calls only a
/// service user may make).
pub fn cloud_auth(name: &str, hosts: &[&str], agent_flags: &[&str], auth: Auth) -> Option<Cloud> {
    let tb = testbed(name)?;
    let mut cloud = Cloud::start_with(tb, Path::new(env!("CARGO_BIN_EXE_neutrino")), auth).expect("server");
    cloud.agent_flags.extend(agent_flags.iter().map(|f| f.to_string()));
    for h in hosts {
        cloud.add_host(h).expect("host with agent");
    }
    Some(cloud)
}

/// An empty testbed, or `None` when this machine cannot build one (outside CI).
pub fn testbed(name: &str) -> Option<Testbed> {
    if let Err(why) = preflight() {
        assert!(std::env::var_os("CI").is_none(), "the dataplane tests cannot run under CI: {why}");
        eprintln!("skipped: {why}");
        return None;
    }
    Some(Testbed::new(name).expect("testbed"))
}
