//! IPAM failures. Each variant is one Neutron exception: its `Display` is Neutron's message
//! text, [`IpamError::neutron_type`] its class name and [`IpamError::http_status`] the status
//! neutron-lib's `FAULT_MAP` gives its base class, so the API layer converts in one place.

use crate::AllocationPool;
use ipnet::IpNet;
use std::net::IpAddr;

/// Why a subnet definition or an address is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpamError {
    /// An attribute validator refused the value (webob `HTTPBadRequest`, raised by the API
    /// layer's `convert_values`), e.g. `cidr` that is not a subnet.
    #[error("Invalid input for {attr}. Reason: {reason}.")]
    InvalidAttribute { attr: &'static str, reason: String },
    /// neutron-lib `InvalidInput` (a `BadRequest`).
    #[error("Invalid input for operation: {0}.")]
    InvalidInput(String),
    /// neutron-lib `InvalidAllocationPool` (`BadRequest`). `pool` is rendered the way Neutron
    /// renders it at the failing step: the request dict for a reversed or mixed-family pool,
    /// the netaddr range for a pool of the other IP version.
    #[error("The allocation pool {pool} is not valid.")]
    InvalidAllocationPool { pool: String },
    /// neutron-lib `OutOfBoundsAllocationPool` (`BadRequest`).
    #[error("The allocation pool {pool} spans beyond the subnet cidr {subnet_cidr}.")]
    OutOfBoundsAllocationPool { pool: AllocationPool, subnet_cidr: IpNet },
    /// neutron-lib `OverlappingAllocationPools` (`Conflict`).
    #[error("Found overlapping allocation pools: {pool_1} {pool_2} for subnet {subnet_cidr}.")]
    OverlappingAllocationPools { pool_1: AllocationPool, pool_2: AllocationPool, subnet_cidr: IpNet },
    /// neutron-lib `GatewayConflictWithAllocationPools` (`InUse`).
    #[error("Gateway ip {ip_address} conflicts with allocation pool {pool}.")]
    GatewayConflictWithAllocationPools { ip_address: IpAddr, pool: AllocationPool },
    /// neutron-lib `InvalidIpForSubnet` (`BadRequest`).
    #[error("IP address {ip_address} is not a valid IP for the specified subnet.")]
    InvalidIpForSubnet { ip_address: IpAddr },
    /// neutron `ipam.exceptions.IpamValueInvalid` (`Conflict`), raised by the IPAM subnet
    /// request when the gateway is the network or last address of an IPv4 subnet.
    #[error("Gateway IP {gateway_ip} cannot be the network or broadcast IP address {subnet_cidr}")]
    IpamValueInvalid { gateway_ip: IpAddr, subnet_cidr: IpNet },
}

impl IpamError {
    /// The exception class name Neutron puts in `NeutronError.type`.
    pub fn neutron_type(&self) -> &'static str {
        match self {
            IpamError::InvalidAttribute { .. } => "HTTPBadRequest",
            IpamError::InvalidInput(_) => "InvalidInput",
            IpamError::InvalidAllocationPool { .. } => "InvalidAllocationPool",
            IpamError::OutOfBoundsAllocationPool { .. } => "OutOfBoundsAllocationPool",
            IpamError::OverlappingAllocationPools { .. } => "OverlappingAllocationPools",
            IpamError::GatewayConflictWithAllocationPools { .. } => "GatewayConflictWithAllocationPools",
            IpamError::InvalidIpForSubnet { .. } => "InvalidIpForSubnet",
            IpamError::IpamValueInvalid { .. } => "IpamValueInvalid",
        }
    }

    /// The HTTP status: 400 for `BadRequest` subclasses, 409 for `Conflict` and `InUse` ones.
    pub fn http_status(&self) -> u16 {
        match self {
            IpamError::InvalidAttribute { .. }
            | IpamError::InvalidInput(_)
            | IpamError::InvalidAllocationPool { .. }
            | IpamError::OutOfBoundsAllocationPool { .. }
            | IpamError::InvalidIpForSubnet { .. } => 400,
            IpamError::OverlappingAllocationPools { .. }
            | IpamError::GatewayConflictWithAllocationPools { .. }
            | IpamError::IpamValueInvalid { .. } => 409,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(a: &str, b: &str) -> AllocationPool {
        AllocationPool::new(a.parse().unwrap(), b.parse().unwrap())
    }

    #[test]
    fn messages_types_and_statuses_follow_neutron() {
        let cidr: IpNet = "10.0.0.0/24".parse().unwrap();
        let cases = [
            (
                IpamError::InvalidAttribute { attr: "cidr", reason: "'10.0.0.0' is not a valid IP subnet".into() },
                "Invalid input for cidr. Reason: '10.0.0.0' is not a valid IP subnet.",
                "HTTPBadRequest",
                400,
            ),
            (
                IpamError::InvalidInput("0 is not allowed as CIDR prefix length".into()),
                "Invalid input for operation: 0 is not allowed as CIDR prefix length.",
                "InvalidInput",
                400,
            ),
            (
                IpamError::InvalidAllocationPool { pool: "fd00::1-fd00::9".into() },
                "The allocation pool fd00::1-fd00::9 is not valid.",
                "InvalidAllocationPool",
                400,
            ),
            (
                IpamError::OutOfBoundsAllocationPool { pool: pool("10.0.0.2", "10.0.0.255"), subnet_cidr: cidr },
                "The allocation pool 10.0.0.2-10.0.0.255 spans beyond the subnet cidr 10.0.0.0/24.",
                "OutOfBoundsAllocationPool",
                400,
            ),
            (
                IpamError::OverlappingAllocationPools {
                    pool_1: pool("10.0.0.2", "10.0.0.9"),
                    pool_2: pool("10.0.0.9", "10.0.0.20"),
                    subnet_cidr: cidr,
                },
                "Found overlapping allocation pools: 10.0.0.2-10.0.0.9 10.0.0.9-10.0.0.20 for subnet 10.0.0.0/24.",
                "OverlappingAllocationPools",
                409,
            ),
            (
                IpamError::GatewayConflictWithAllocationPools {
                    ip_address: "10.0.0.1".parse().unwrap(),
                    pool: pool("10.0.0.1", "10.0.0.9"),
                },
                "Gateway ip 10.0.0.1 conflicts with allocation pool 10.0.0.1-10.0.0.9.",
                "GatewayConflictWithAllocationPools",
                409,
            ),
            (
                IpamError::InvalidIpForSubnet { ip_address: "10.0.0.255".parse().unwrap() },
                "IP address 10.0.0.255 is not a valid IP for the specified subnet.",
                "InvalidIpForSubnet",
                400,
            ),
            (
                IpamError::IpamValueInvalid {
                    gateway_ip: "10.0.0.1".parse().unwrap(),
                    subnet_cidr: "10.0.0.0/31".parse().unwrap(),
                },
                "Gateway IP 10.0.0.1 cannot be the network or broadcast IP address 10.0.0.0/31",
                "IpamValueInvalid",
                409,
            ),
        ];
        for (error, message, kind, status) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.neutron_type(), kind);
            assert_eq!(error.http_status(), status, "{kind}");
        }
    }
}
