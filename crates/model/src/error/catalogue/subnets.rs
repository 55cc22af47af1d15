//! Catalogue: subnets.

use crate::error::ApiError;
use std::fmt::Display;

impl ApiError {
    /// `DNSNameServersExhausted` (400): more nameservers than `max_dns_nameservers`.
    pub fn dns_nameservers_exhausted(subnet_id: &str, max: usize) -> Self {
        Self::new(
            400,
            "DNSNameServersExhausted",
            format!(
                "Unable to complete operation for {subnet_id}. The number of DNS nameservers exceeds the limit {max}."
            ),
        )
    }

    /// `HostRoutesExhausted` (400): more host routes than `max_subnet_host_routes`.
    pub fn host_routes_exhausted(subnet_id: &str, max: usize) -> Self {
        Self::new(
            400,
            "HostRoutesExhausted",
            format!("Unable to complete operation for {subnet_id}. The number of host routes exceeds the limit {max}."),
        )
    }

    /// `GatewayConflictWithAllocationPools` (409).
    pub fn gateway_conflict_with_allocation_pools(
        gateway: impl Display,
        start: impl Display,
        end: impl Display,
    ) -> Self {
        Self::conflict(
            "GatewayConflictWithAllocationPools",
            format!("Gateway ip {gateway} conflicts with allocation pool {start}-{end}"),
        )
    }

    /// `GatewayIpInUse` (409): the new gateway is a port's address.
    pub fn gateway_ip_in_use(gateway: impl Display, port_id: &str) -> Self {
        Self::conflict(
            "GatewayIpInUse",
            format!("Current gateway ip {gateway} already in use by port {port_id}. Unable to update."),
        )
    }

    /// `SubnetInUse` (409): ports still hold addresses on the subnet.
    pub fn subnet_in_use(id: &str) -> Self {
        Self::conflict(
            "SubnetInUse",
            format!(
                "Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."
            ),
        )
    }
}
