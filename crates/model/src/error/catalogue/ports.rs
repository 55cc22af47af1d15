//! Catalogue: ports and their addresses (neutron-lib `exceptions`, `exceptions.l3`,
//! `exceptions.port_security`, `exceptions.allowedaddresspairs`).

use crate::error::ApiError;

impl ApiError {
    /// `IpAddressGenerationFailure` (409): the network has no free address left.
    pub fn ip_address_generation_failure(network_id: &str) -> Self {
        Self::conflict("IpAddressGenerationFailure", format!("No more IP addresses available on network {network_id}."))
    }

    /// `IpAddressAlreadyAllocated` (409).
    pub fn ip_address_already_allocated(ip: &str, subnet_id: &str) -> Self {
        Self::conflict("IpAddressAlreadyAllocated", format!("IP address {ip} already allocated in subnet {subnet_id}"))
    }

    /// `InvalidIpForNetwork` (400): the address is in none of the network's subnets.
    pub fn invalid_ip_for_network(ip: &str) -> Self {
        Self::new(
            400,
            "InvalidIpForNetwork",
            format!("IP address {ip} is not a valid IP for any of the subnets on the specified network."),
        )
    }

    /// `InvalidIpForSubnet` (400): the address is outside the subnet or not assignable in it.
    pub fn invalid_ip_for_subnet(ip: &str) -> Self {
        Self::new(400, "InvalidIpForSubnet", format!("IP address {ip} is not a valid IP for the specified subnet."))
    }

    /// `AllocationOnAutoAddressSubnet` (400): an explicit address on a SLAAC/stateless
    /// subnet other than the port's EUI-64 one, for a port that is no router interface.
    pub fn allocation_on_auto_address_subnet(ip: &str, subnet_id: &str) -> Self {
        Self::new(
            400,
            "AllocationOnAutoAddressSubnet",
            format!(
                "IPv6 address {ip} cannot be directly assigned to a port on subnet {subnet_id} as the subnet is configured for automatic addresses"
            ),
        )
    }

    /// `MacAddressInUse` (409).
    pub fn mac_address_in_use(network_id: &str, mac: &str) -> Self {
        Self::conflict(
            "MacAddressInUse",
            format!("Unable to complete operation for network {network_id}. The mac address {mac} is in use."),
        )
    }

    /// `MacAddressGenerationFailure` (503): every generated MAC was taken.
    pub fn mac_address_generation_failure(network_id: &str) -> Self {
        Self::new(503, "MacAddressGenerationFailure", format!("Unable to generate unique mac on network {network_id}."))
    }

    /// `PortBound` (409): the MAC of a bound port cannot change.
    pub fn port_bound(port_id: &str, vif_type: &str, old_mac: &str, new_mac: &str) -> Self {
        Self::conflict(
            "PortBound",
            format!(
                "Unable to complete operation on port {port_id}, port is already bound, port type: {vif_type}, old_mac {old_mac}, new_mac {new_mac}."
            ),
        )
    }

    /// `DeviceIDNotOwnedByTenant` (409): a port claims another project's router.
    pub fn device_id_not_owned_by_tenant(device_id: &str) -> Self {
        Self::conflict(
            "DeviceIDNotOwnedByTenant",
            format!(
                "The following device_id {device_id} is not owned by your tenant or matches another tenants router."
            ),
        )
    }

    /// `L3PortInUse` (409): a router's port is deleted through its router.
    pub fn l3_port_in_use(port_id: &str, device_owner: &str) -> Self {
        Self::conflict(
            "L3PortInUse",
            format!("Port {port_id} cannot be deleted directly via the port API: has device owner {device_owner}."),
        )
    }

    /// `PortSecurityPortHasSecurityGroup` (409).
    pub fn port_security_port_has_security_group() -> Self {
        Self::conflict(
            "PortSecurityPortHasSecurityGroup",
            "Port has security group associated. Cannot disable port security or ip address until security group is removed",
        )
    }

    /// `AddressPairAndPortSecurityRequired` (409).
    pub fn address_pair_and_port_security_required() -> Self {
        Self::conflict(
            "AddressPairAndPortSecurityRequired",
            "Port Security must be enabled in order to have allowed address pairs on a port.",
        )
    }

    /// `PortBindingNotFound` (404).
    pub fn port_binding_not_found(port_id: &str, host: &str) -> Self {
        Self::new(404, "PortBindingNotFound", format!("Binding for port {port_id} for host {host} could not be found."))
    }

    /// `PortBindingAlreadyActive` (409).
    pub fn port_binding_already_active(port_id: &str, host: &str) -> Self {
        Self::conflict(
            "PortBindingAlreadyActive",
            format!("Binding for port {port_id} on host {host} is already active."),
        )
    }

    /// `PortBindingAlreadyExists` (409).
    pub fn port_binding_already_exists(port_id: &str, host: &str) -> Self {
        Self::conflict("PortBindingAlreadyExists", format!("Binding for port {port_id} on host {host} already exists."))
    }

    /// `PortBindingError` (500): the host could not bind the port (no live agent, no
    /// segment it reaches). A `NeutronException`, so Neutron answers 500.
    pub fn port_binding_error(port_id: &str, host: &str) -> Self {
        Self::new(
            500,
            "PortBindingError",
            format!("Binding for port {port_id} on host {host} could not be created or updated."),
        )
    }

    /// `BadRequest` (400): `binding-extended` is for the ports of servers and shares only
    /// (ML2's `_validate_port_supports_multiple_bindings`).
    pub fn port_not_multi_bindable(port_id: &str) -> Self {
        Self::bad_request_for(
            "port",
            format_args!("Invalid port {port_id}. Operation only valid on compute and shared filesystem ports"),
        )
    }
}
