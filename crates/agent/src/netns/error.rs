//! The one error type of namespaced ports.

use std::io;
use std::path::PathBuf;

use super::ListenAddr;

/// A failed operation on a namespace, a device in or next to one, or a listener inside one,
/// naming what it acted on.
#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("invalid namespace name {0:?}")]
    InvalidName(String),
    #[error("network namespace {name}: cannot {step}")]
    Io {
        name: String,
        step: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("network namespace {name}: the helper thread panicked")]
    Panicked { name: String },
    /// A device or address verb (`ip link`, `ip addr`, a sysctl) failed.
    #[error("{op} {target}")]
    Failed {
        op: &'static str,
        target: String,
        #[source]
        source: io::Error,
    },
    /// A veth pair was created and is still not there.
    #[error("the devices {tap}/{dev} are still missing after creating them")]
    Vanished { tap: String, dev: String },
    #[error("cannot open network namespace {}", path.display())]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot enter network namespace {}", path.display())]
    Enter {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot listen on {addr} in network namespace {}", path.display())]
    Listen {
        path: PathBuf,
        addr: ListenAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot hand the listener on {addr} in {} to the runtime", path.display())]
    Register {
        path: PathBuf,
        addr: ListenAddr,
        #[source]
        source: io::Error,
    },
    #[error("cannot start a thread to enter network namespace {}", path.display())]
    Thread {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the thread entering network namespace {} ended without an answer", path.display())]
    ThreadLost { path: PathBuf },
}

impl NetnsError {
    pub(crate) fn io(name: &str, step: &'static str, source: io::Error) -> Self {
        NetnsError::Io { name: name.to_owned(), step, source }
    }

    /// `op target` failed with `source`.
    pub fn failed(op: &'static str, target: impl Into<String>, source: io::Error) -> Self {
        NetnsError::Failed { op, target: target.into(), source }
    }
}
