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

    /// `InvalidSubnetServiceType` (400): a service type with no device owner's prefix.
    pub fn invalid_subnet_service_type(service_type: &str) -> Self {
        Self::new(
            400,
            "InvalidSubnetServiceType",
            format!("Subnet service type {service_type} does not correspond to a valid device owner."),
        )
    }

    /// `InvalidInputSubnetServiceType` (400): a service type that is not a string.
    pub fn invalid_input_subnet_service_type(service_type: &str) -> Self {
        Self::new(400, "InvalidInputSubnetServiceType", format!("Subnet service type {service_type} is not a string."))
    }

    /// `IpAddressGenerationFailureNoMatchingSubnet` (409): the network has subnets, but none
    /// serves the port's device owner.
    pub fn ip_address_generation_failure_no_matching_subnet(network_id: &str, service_type: &str) -> Self {
        Self::conflict(
            "IpAddressGenerationFailureNoMatchingSubnet",
            format!(
                "No valid service subnet for the given device owner, network {network_id}, service type {service_type}."
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
