//! Catalogue: routers.

use crate::error::ApiError;

impl ApiError {
    /// `RoutesExhausted` (400): more routes than `max_routes`.
    pub fn routes_exhausted(router_id: &str, max: usize) -> Self {
        Self::new(
            400,
            "RoutesExhausted",
            format!("Unable to complete operation for {router_id}. The number of routes exceeds the maximum {max}."),
        )
    }

    /// `RouterExternalGatewayInUseByFloatingIp` (409).
    pub fn router_external_gateway_in_use_by_floating_ip(router_id: &str, network_id: &str) -> Self {
        Self::conflict(
            "RouterExternalGatewayInUseByFloatingIp",
            format!(
                "Gateway cannot be updated for router {router_id}, since a gateway to external network {network_id} is required by one or more floating IPs."
            ),
        )
    }

    /// `InvalidRoutes` (400): `routes` is the request's route list as JSON.
    pub fn invalid_routes(routes: &str, reason: &str) -> Self {
        Self::new(400, "InvalidRoutes", format!("Invalid format for routes: {routes}, {reason}"))
    }

    /// `RouterInUse` (409), with Neutron's reason.
    pub fn router_in_use(router_id: &str, reason: &str) -> Self {
        Self::conflict("RouterInUse", format!("Router {router_id} {reason}"))
    }

    /// `PortInUse` (409) for a port an interface would take that already has a device.
    pub fn port_already_attached(port_id: &str, network_id: &str, device_id: &str) -> Self {
        Self::conflict(
            "PortInUse",
            format!(
                "Unable to complete operation on port {port_id} for network {network_id}. Port already has an attached device {device_id}."
            ),
        )
    }

    /// `RouterInterfaceNotFound` (404).
    pub fn router_interface_not_found(router_id: &str, port_id: &str) -> Self {
        Self::new(
            404,
            "RouterInterfaceNotFound",
            format!("Router {router_id} does not have an interface with id {port_id}"),
        )
    }

    /// `RouterInterfaceNotFoundForSubnet` (404).
    pub fn router_interface_not_found_for_subnet(router_id: &str, subnet_id: &str) -> Self {
        Self::new(
            404,
            "RouterInterfaceNotFoundForSubnet",
            format!("Router {router_id} has no interface on subnet {subnet_id}"),
        )
    }

    /// `RouterInterfaceInUseByFloatingIP` (409).
    pub fn router_interface_in_use_by_floating_ip(router_id: &str, subnet_id: &str) -> Self {
        Self::conflict(
            "RouterInterfaceInUseByFloatingIP",
            format!(
                "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is required by one or more floating IPs."
            ),
        )
    }

    /// `RouterInterfaceInUseByRoute` (409).
    pub fn router_interface_in_use_by_route(router_id: &str, subnet_id: &str) -> Self {
        Self::conflict(
            "RouterInterfaceInUseByRoute",
            format!(
                "Router interface for subnet {subnet_id} on router {router_id} cannot be deleted, as it is required by one or more routes."
            ),
        )
    }
}
