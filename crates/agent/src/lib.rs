//! `neutrino agent`: the host agent, a level-triggered reconciler of the host's dataplane.

pub mod config;
