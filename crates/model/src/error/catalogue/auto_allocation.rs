//! Catalogue: auto-allocated topologies and availability zones
//! (`neutron/services/auto_allocate/exceptions.py`, neutron-lib `exceptions.availability_zone`).

use crate::error::ApiError;

impl ApiError {
    /// `AutoAllocationFailure` (409): the deployment cannot give a project a topology
    /// (`reason` is one of Neutron's: "No default router:external network", ...).
    pub fn auto_allocation_failure(reason: &str) -> Self {
        Self::conflict("AutoAllocationFailure", format!("Deployment error: {reason}."))
    }

    /// `DefaultExternalNetworkExists` (409): another network is the default external one.
    pub fn default_external_network_exists(network_id: &str) -> Self {
        Self::conflict(
            "DefaultExternalNetworkExists",
            format!("A default external network already exists: {network_id}."),
        )
    }

    /// `RbacPolicyInUse` (409): the `*` `access_as_external` policy of the default external
    /// network may not go or narrow (`_validate_ext_not_in_use_by_tenant`).
    pub fn rbac_policy_in_use_by_default_external(object_id: &str) -> Self {
        Self::conflict(
            "RbacPolicyInUse",
            format!(
                "RBAC policy on object {object_id} cannot be removed because other objects depend on it.\nDetails: Default external networks must be shared to everyone."
            ),
        )
    }

    /// neutron-lib's `NotAuthorized` (403): a project asking for another's topology.
    pub fn not_authorized() -> Self {
        Self::new(403, "NotAuthorized", "Not authorized.")
    }

    /// `AvailabilityZoneNotFound` (404): a hint no agent of the resource's kind reports.
    pub fn availability_zone_not_found(zone: &str) -> Self {
        Self::new(404, "AvailabilityZoneNotFound", format!("AvailabilityZone {zone} could not be found."))
    }
}
