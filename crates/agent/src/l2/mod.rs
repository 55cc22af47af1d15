//! L2: the host's linuxbridge wiring (bridges, VXLAN and VLAN uplinks, taps, FDB).
//!
//! [`plan`] says what the kernel must hold for a host state (pure), [`reconcile`] diffs it
//! against what [`dataplane`] observes and [`apply`] changes only the difference, in a
//! safe order. [`netlink`] is the kernel's [`dataplane::Dataplane`], [`fake`] the
//! in-memory one the tests use.

mod apply;
pub mod dataplane;
pub mod fake;
pub mod netlink;
pub mod plan;
pub mod reconcile;

#[cfg(test)]
pub(crate) mod testdata;
