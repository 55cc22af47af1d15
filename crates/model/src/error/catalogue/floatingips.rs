//! Catalogue: floating IPs and their port forwardings (neutron-lib `exceptions.l3`,
//! `exceptions.port_forwarding`).

use crate::error::ApiError;

impl ApiError {
    /// `ExternalGatewayForFloatingIPNotFound` (404): no router connects the port's subnet to
    /// the floating IP's network.
    pub fn external_gateway_for_floating_ip_not_found(
        external_network_id: &str,
        subnet_id: &str,
        port_id: &str,
    ) -> Self {
        Self::new(
            404,
            "ExternalGatewayForFloatingIPNotFound",
            format!(
                "External network {external_network_id} is not reachable from subnet {subnet_id}.  Therefore, cannot associate Port {port_id} with a Floating IP."
            ),
        )
    }

    /// `FloatingIPPortAlreadyAssociated` (409): the fixed IP already has a floating IP.
    pub fn floating_ip_port_already_associated(
        floating_ip_address: &str,
        fip_id: &str,
        port_id: &str,
        fixed_ip: &str,
        net_id: &str,
    ) -> Self {
        Self::conflict(
            "FloatingIPPortAlreadyAssociated",
            format!(
                "Cannot associate floating IP {floating_ip_address} ({fip_id}) with port {port_id} using fixed IP {fixed_ip}, as that fixed IP already has a floating IP on external network {net_id}."
            ),
        )
    }

    /// `FipInUseByPortForwarding` (409): a floating IP with port forwardings is not associated.
    pub fn fip_in_use_by_port_forwarding(fip_id: &str) -> Self {
        Self::conflict("FipInUseByPortForwarding", format!("Floating IP {fip_id} in use by Port Forwarding resources."))
    }

    /// `PortForwardingNotFound` (404).
    pub fn port_forwarding_not_found(id: &str) -> Self {
        Self::new(404, "PortForwardingNotFound", format!("Port Forwarding {id} could not be found."))
    }

    /// `PortHasBindingFloatingIP` (409): the port's fixed IP is already some floating IP's.
    pub fn port_has_binding_floating_ip(
        floating_ip_address: &str,
        fip_id: &str,
        port_id: &str,
        fixed_ip: &str,
    ) -> Self {
        Self::conflict(
            "PortHasBindingFloatingIP",
            format!(
                "Cannot create port forwarding to floating IP {floating_ip_address} ({fip_id}) with port {port_id} using fixed IP {fixed_ip}, as that port already has a binding floating IP."
            ),
        )
    }
}
