//! The one error type of the DHCP subsystem.

use std::io;
use std::path::PathBuf;

use crate::netns::cidr::InvalidCidr;
use crate::netns::NetnsError;

/// Why a network could not be served, or a DHCP operation failed, naming what it acted on.
#[derive(Debug, thiserror::Error)]
pub enum DhcpError {
    /// A namespace, device or address operation (and the host's other verbs: reading a pid
    /// file, signalling dnsmasq, listing namespaces).
    #[error(transparent)]
    Netns(#[from] NetnsError),
    #[error("`{command}` in {namespace} failed ({status}): {stderr}")]
    Nft { namespace: String, command: String, status: String, stderr: String },
    #[error("dnsmasq in {namespace} failed to start ({status}): {stderr}")]
    DnsmasqStart { namespace: String, status: String, stderr: String },
    /// The network cannot be rendered into dnsmasq's files.
    #[error("network {network}: subnet {subnet} has an invalid cidr")]
    Cidr {
        network: String,
        subnet: String,
        #[source]
        source: InvalidCidr,
    },
    #[error("invalid {what} {value:?}")]
    Invalid { what: &'static str, value: String },
    #[error("cannot {op} {path}")]
    File {
        op: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("the DHCP port's devices {tap}/{dev} are still missing after creating them")]
    Vanished { tap: String, dev: String },
}

impl DhcpError {
    /// `op target` failed with `source`.
    pub fn failed(op: &'static str, target: impl Into<String>, source: io::Error) -> Self {
        DhcpError::Netns(NetnsError::failed(op, target, source))
    }
}
