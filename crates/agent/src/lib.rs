//! `neutrino agent`: the host agent, a level-triggered reconciler of the host's dataplane.

pub mod api;
pub mod check;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dhcp;
pub mod diagnose;
pub mod events;
pub mod firewall;
pub mod l2;
pub mod l3;
pub mod metadata;
pub mod metrics;
pub mod netns;
pub mod ovs;
pub mod report;
pub mod runner;
pub mod subsystem;

/// An error and its sources on one line (`outer: cause: root cause`), for logs.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let causes = std::iter::successors(Some(e), |e| e.source());
    causes.map(ToString::to_string).collect::<Vec<_>>().join(": ")
}
