//! The agent's side of `neutrino diagnose`: answering the server's questions about this
//! host (see [`neutrino_agent_api::diagnose`]) with what the kernel and the agent's files
//! hold, one [`Finding`](neutrino_agent_api::diagnose::Finding) per fact, each with the
//! evidence an operator could check by hand (`ip link`, `bridge fdb`, `nft list`, the pid
//! and hosts files).
//!
//! * [`observer`]: the read-only [`Observer`] trait; [`linux`] reads the host through the
//!   reconcilers' own code (rtnetlink, the namespace helpers, the L3 read-back), [`fake`]
//!   holds a host in memory.
//! * [`answer()`]: pure logic from a question and an observer to the answer.
//! * The task that polls the questions and sends the answers is
//!   [`crate::runner::questions`].
//!
//! Answering never changes the kernel (a diagnosis must not heal, or hide, what it looks
//! for) and never waits for a reconcile pass: it shares nothing with the reconciler.

mod answer;
pub mod fake;
pub mod linux;
pub mod observer;
mod services;

pub use answer::{answer, expected, Scope, MAX_ASKS};
pub use linux::LinuxObserver;
pub use observer::{NsLink, ObserveError, Observer, Process};

#[cfg(test)]
mod tests;
