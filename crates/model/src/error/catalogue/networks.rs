//! Catalogue: networks (neutron-lib `exceptions`, `exceptions.l3`).

use crate::error::ApiError;

impl ApiError {
    /// `NetworkInUse` (409): ports other than the network's own services remain.
    pub fn network_in_use(network_id: &str) -> Self {
        Self::conflict(
            "NetworkInUse",
            format!(
                "Unable to complete operation on network {network_id}. There are one or more ports still in use on the network."
            ),
        )
    }

    /// `ExternalNetworkInUse` (409): a router's gateway keeps the network external.
    pub fn external_network_in_use(network_id: &str) -> Self {
        Self::conflict(
            "ExternalNetworkInUse",
            format!(
                "External network {network_id} cannot be updated to be made non-external, since it has existing gateway ports."
            ),
        )
    }

    /// `NetworkMTUSubnetConflict` (409): the MTU is below what a subnet's IP version needs.
    pub fn network_mtu_subnet_conflict(network_id: &str, minimum: u32) -> Self {
        Self::conflict(
            "NetworkMTUSubnetConflict",
            format!("MTU of {network_id} is not valid, subnet requires a minimum of {minimum}"),
        )
    }
}
