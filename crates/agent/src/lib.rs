//! `neutrino agent`: the host agent, a level-triggered reconciler of the host's dataplane.

pub mod api;
pub mod cli;
pub mod config;
pub mod dhcp;
pub mod events;
pub mod firewall;
pub mod l2;
pub mod l3;
pub mod metadata;
pub mod netns;
pub mod runner;
