//! IPAM failures, each with Neutron's exception name, status and message.

use std::net::IpAddr;

/// Why an address request or subnet definition is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// `InvalidInput` with Neutron's text.
    #[error("Invalid input for operation: {0}.")]
    InvalidInput(String),
    /// A pool whose start is after its end, or of the wrong IP version.
    #[error("The allocation pool {pool} is not valid.")]
    InvalidAllocationPool { pool: String },
    /// A pool outside the usable range of the subnet.
    #[error("The allocation pool {pool} spans beyond the subnet cidr {cidr}.")]
    OutOfBoundsAllocationPool { pool: String, cidr: String },
    /// Two pools sharing addresses.
    #[error("Found overlapping allocation pools: {pool_1} {pool_2} for subnet {cidr}.")]
    OverlappingAllocationPools { pool_1: String, pool_2: String, cidr: String },
    /// The gateway lies inside a pool.
    #[error("Gateway ip {ip} conflicts with allocation pool {pool}.")]
    GatewayConflictWithAllocationPools { ip: IpAddr, pool: String },
    /// An address that cannot be used on the subnet.
    #[error("IP address {ip} is not a valid IP for the specified subnet.")]
    InvalidIpForSubnet { ip: IpAddr },
}

impl IpamError {
    /// Neutron's exception class name.
    pub fn neutron_type(&self) -> &'static str {
        match self {
            IpamError::InvalidInput(_) => "InvalidInput",
            IpamError::InvalidAllocationPool { .. } => "InvalidAllocationPool",
            IpamError::OutOfBoundsAllocationPool { .. } => "OutOfBoundsAllocationPool",
            IpamError::OverlappingAllocationPools { .. } => "OverlappingAllocationPools",
            IpamError::GatewayConflictWithAllocationPools { .. } => "GatewayConflictWithAllocationPools",
            IpamError::InvalidIpForSubnet { .. } => "InvalidIpForSubnet",
        }
    }

    /// HTTP status per neutron-lib's FAULT_MAP (BadRequest 400, Conflict/InUse 409).
    pub fn http_status(&self) -> u16 {
        match self {
            IpamError::OverlappingAllocationPools { .. } | IpamError::GatewayConflictWithAllocationPools { .. } => 409,
            _ => 400,
        }
    }
}
