//! A many-hosts-on-one-machine harness: a small cloud built of Linux network namespaces, for the
//! integration tests and `neutrino demo`.
//!
//! ```text
//!   nt<tag>-fabric: br-underlay ── ul-0-1 ═ eth0 198.18.0.1  nt<tag>-ctl   (server)
//!                               ├─ ul-1-1 ═ eth0 198.18.1.1  nt<tag>-h1    (agent) ── tap1 ═ eth0  nt<tag>-vm1
//!                               └─ ul-1-2 ═ eth0 198.18.1.2  nt<tag>-h2    (agent) ── tap2 ═ eth0  nt<tag>-vm2
//! ```
//!
//! * Nothing is ever created in the machine's root network namespace: veths are created from one
//!   testbed namespace straight into another.
//! * Every namespace name carries a random 5-character tag (`nt<tag>-h1`), so tests run in
//!   parallel; the underlay is 198.18.0.0/16, inside the benchmarking range 198.18.0.0/15.
//! * Hosts (and the controller) also get a private mount namespace, shared by everything that
//!   runs on them ([`Testbed::spawn_in`], [`Host::exec`]): a host's `ip netns add qdhcp-…` is
//!   invisible to the other hosts and to the machine. See [`process`].
//! * Dropping the [`Testbed`] (even while a failed assertion unwinds) kills its processes and
//!   deletes its namespaces; logs of a panicking test are kept and their directory printed.
//!   Testbeds left by killed test processes are swept by the next [`Testbed::new`].
//! * Code of the test process itself runs inside a namespace on a dedicated thread:
//!   [`in_netns`], [`block_on_in`] (a tokio runtime whose sockets live in, say, the controller
//!   namespace), [`thread_in`]. See [`ns`].
//!
//! Requirements: root, and the Debian packages `iproute2` (`ip`, `bridge`), `iputils-ping`,
//! `util-linux` (`unshare`, `nsenter`); `busybox` for its `udhcpc` in VMs. [`preflight`] checks
//! them; tests skip with the printed reason when it fails:
//!
//! ```no_run
//! use neutrino_testbed::{preflight, Testbed};
//! use std::time::Duration;
//!
//! # fn main() -> Result<(), neutrino_testbed::TestbedError> {
//! if let Err(why) = preflight() {
//!     eprintln!("skipped: {why}");
//!     return Ok(());
//! }
//! let tb = Testbed::new("example")?;
//! let h1 = tb.add_host("h1")?;
//! let vm = tb.add_vm(&h1, "vm1", "tap1", "fa:16:3e:00:00:01", 1450)?;
//! vm.set_addr("10.0.0.1/24")?;
//! let agent = tb.spawn_in(h1.netns(), "neutrino", ["agent"], &[("RUST_LOG", "debug")], None)?;
//! assert_eq!(vm.ping("10.0.0.1", 1, Duration::from_secs(2))?.received, 1);
//! agent.stop(Duration::from_secs(3))?;
//! # Ok(()) }
//! ```

pub mod cloud;
pub mod cmd;
pub mod compute;
pub mod error;
pub mod host;
pub mod linkwatch;
pub mod metadata;
pub mod ns;
pub mod ovs;
pub mod process;
mod ra_socket;
mod shared;
pub mod testbed;
pub mod vif;
pub mod vm;
pub mod vm6;
pub mod wait;

pub use cmd::{preflight, TAG_ENV};
pub use error::{Result, TestbedError};
pub use host::Host;
pub use ns::{block_on_in, in_netns, list_netns, thread_in};
pub use ovs::{ovs_preflight, UNDERLAY_OVS_BRIDGE};
pub use process::{Process, Signal};
pub use shared::{cleanup_stale, NETNS_PREFIX, OWNERS_DIR};
pub use testbed::{Testbed, CONTROLLER_IP, UNDERLAY_BRIDGE, UNDERLAY_MTU};
pub use vm::{DhcpLease, PingResult, PingStats, PingStream, Vm};
pub use vm6::{Dhcp6Lease, RaPrefix, RouterAdvert};
pub use wait::{wait_until, wait_until_async};
