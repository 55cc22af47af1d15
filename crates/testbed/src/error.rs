//! The one error type of the testbed: every failure names what was attempted (the command line, the
//! namespace, the file) so that a failing integration test says why without a debugger.

use std::io;
use std::time::Duration;

/// Why a testbed operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TestbedError {
    /// Namespaces, veths and mounts need root (CAP_SYS_ADMIN and CAP_NET_ADMIN).
    #[error("not root: the testbed creates network namespaces and needs root (effective uid {euid})")]
    NotRoot {
        /// The effective uid of this process.
        euid: u32,
    },

    /// A program the testbed drives is not installed.
    #[error("{program} missing: apt-get install {package}")]
    MissingTool {
        /// The program looked up in PATH (and the sbin directories).
        program: &'static str,
        /// The Debian package that provides it.
        package: &'static str,
    },

    /// The machine refuses to create namespaces (e.g. an unprivileged container).
    #[error("cannot create namespaces here: `{command}` failed: {stderr}")]
    NoNamespaces {
        /// The probe command.
        command: String,
        /// Its standard error.
        stderr: String,
    },

    /// A command ran and exited unsuccessfully.
    #[error("`{command}` failed ({status}): {stderr}")]
    Command {
        /// The full command line.
        command: String,
        /// Its exit status, as printed by std.
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },

    /// A command could not even be started.
    #[error("cannot run `{command}`: {source}")]
    Spawn {
        /// The full command line.
        command: String,
        /// The error of fork/exec.
        source: io::Error,
    },

    /// A file or system call failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: io::Error,
    },

    /// A name given by the caller cannot be used (length, characters, duplicate).
    #[error("invalid name {name:?}: {reason}")]
    InvalidName {
        /// The offending name.
        name: String,
        /// Why it is refused.
        reason: String,
    },

    /// `setns` into a named network namespace failed.
    #[error("cannot enter network namespace {netns}: {source}")]
    Setns {
        /// The namespace name (a file under /run/netns).
        netns: String,
        /// The error of open or setns.
        source: io::Error,
    },

    /// A condition was not met in time.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long it was awaited.
        after: Duration,
    },

    /// The output of a tool could not be understood.
    #[error("cannot parse output of {what}: {output:?}")]
    Parse {
        /// Which tool or which output.
        what: String,
        /// The text that was not understood.
        output: String,
    },

    /// The per-host helper process that holds a host's mount namespace is gone.
    #[error("the mount-namespace holder of {netns} died; the host can no longer run processes")]
    HolderGone {
        /// The host namespace.
        netns: String,
    },
}

/// Result alias of the testbed.
pub type Result<T, E = TestbedError> = std::result::Result<T, E>;

impl TestbedError {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        TestbedError::Io { context: context.into(), source }
    }

    pub(crate) fn invalid(name: &str, reason: impl Into<String>) -> Self {
        TestbedError::InvalidName { name: name.to_string(), reason: reason.into() }
    }
}
