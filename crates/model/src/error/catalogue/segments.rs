//! Catalogue: segments (ML2's type drivers allocating segmentation ids).

use crate::error::ApiError;

impl ApiError {
    /// neutron-lib's `NoNetworkAvailable` (503): no tenant segment is left to allocate.
    pub fn no_network_available() -> Self {
        Self::new(
            503,
            "NoNetworkAvailable",
            "Unable to create the network. No tenant network is available for allocation.",
        )
    }

    /// neutron-lib's `VlanIdInUse` (409).
    pub fn vlan_id_in_use(vlan_id: u32, physical_network: &str) -> Self {
        Self::conflict(
            "VlanIdInUse",
            format!(
                "Unable to create the network. The VLAN {vlan_id} on physical network {physical_network} is in use."
            ),
        )
    }

    /// neutron-lib's `FlatNetworkInUse` (409).
    pub fn flat_network_in_use(physical_network: &str) -> Self {
        Self::conflict(
            "FlatNetworkInUse",
            format!("Unable to create the flat network. Physical network {physical_network} is in use."),
        )
    }

    /// neutron-lib's `TunnelIdInUse` (409).
    pub fn tunnel_id_in_use(tunnel_id: u32) -> Self {
        Self::conflict("TunnelIdInUse", format!("Unable to create the network. The tunnel ID {tunnel_id} is in use."))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(e: ApiError) -> (u16, String, String) {
        (e.status, e.kind.into_owned(), e.message)
    }

    #[test]
    fn the_type_drivers_errors_keep_neutrons_names_and_wording() {
        assert_eq!(
            wire(ApiError::no_network_available()),
            (
                503,
                "NoNetworkAvailable".into(),
                "Unable to create the network. No tenant network is available for allocation.".into()
            )
        );
        assert_eq!(
            wire(ApiError::vlan_id_in_use(101, "physnet1")),
            (
                409,
                "VlanIdInUse".into(),
                "Unable to create the network. The VLAN 101 on physical network physnet1 is in use.".into()
            )
        );
        assert_eq!(
            wire(ApiError::flat_network_in_use("ext")),
            (
                409,
                "FlatNetworkInUse".into(),
                "Unable to create the flat network. Physical network ext is in use.".into()
            )
        );
        assert_eq!(
            wire(ApiError::tunnel_id_in_use(5000)),
            (409, "TunnelIdInUse".into(), "Unable to create the network. The tunnel ID 5000 is in use.".into())
        );
    }
}
