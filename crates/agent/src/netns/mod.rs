//! Namespaced ports: named network namespaces, veth pairs with one end inside one, the
//! addresses on that end, and the threads and child processes that enter a namespace.
//!
//! DHCP (`qdhcp-…`), L3 (`qrouter-…`) and the metadata proxy build on this module, and it is
//! the only one that calls `setns` ([`enter`]). Everything that fails here fails with
//! [`NetnsError`].

pub mod cidr;
mod dir;
mod enter;
mod error;
mod ethtool;
pub mod linux;
mod listen;
mod port;
pub mod process;

pub use dir::{NetnsDir, SYSTEM_NETNS_DIR};
pub use enter::{exec_in, setns};
pub use error::NetnsError;
pub use linux::LinuxPorts;
pub use listen::ListenAddr;
pub(crate) use listen::{ifindex_in, listen_in, ns_id, NsId, Opened};
pub use port::{converge_port, DevState, NamespacedPorts, PortDevices, PortsOf, TapState, VethSpec};
