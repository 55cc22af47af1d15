//! Catalogue: flavors, service profiles and service providers (neutron-lib's
//! `exceptions/flavors.py`, and `InvalidServiceType`).

use crate::error::ApiError;
use std::fmt::Display;

impl ApiError {
    /// `InvalidServiceType` (400): a flavor's `service_type` names no loaded service plugin,
    /// or a flavor of another service was given to a router.
    pub fn invalid_service_type(service_type: impl Display) -> Self {
        Self::new(400, "InvalidServiceType", format!("Invalid service type: {service_type}."))
    }

    /// `FlavorInUse` (409): routers were created with the flavor.
    pub fn flavor_in_use(flavor_id: &str) -> Self {
        Self::new(409, "FlavorInUse", format!("Flavor {flavor_id} is used by some service instance."))
    }

    /// `ServiceProfileInUse` (409): a flavor is associated with the profile.
    pub fn service_profile_in_use(sp_id: &str) -> Self {
        Self::new(409, "ServiceProfileInUse", format!("Service Profile {sp_id} is used by some service instance."))
    }

    /// `FlavorServiceProfileBindingExists` (409).
    pub fn flavor_service_profile_binding_exists(sp_id: &str, fl_id: &str) -> Self {
        Self::new(
            409,
            "FlavorServiceProfileBindingExists",
            format!("Service Profile {sp_id} is already associated with flavor {fl_id}."),
        )
    }

    /// `FlavorServiceProfileBindingNotFound` (404); `sp_id` is empty when the flavor has no
    /// profile at all (Neutron's `get_flavor_next_provider`).
    pub fn flavor_service_profile_binding_not_found(sp_id: &str, fl_id: &str) -> Self {
        Self::new(
            404,
            "FlavorServiceProfileBindingNotFound",
            format!("Service Profile {sp_id} is not associated with flavor {fl_id}."),
        )
    }

    /// `ServiceProfileDriverNotFound` (404): no service provider has that driver.
    pub fn service_profile_driver_not_found(driver: &str) -> Self {
        Self::new(404, "ServiceProfileDriverNotFound", format!("Service Profile driver {driver} could not be found."))
    }

    /// `ServiceProfileEmpty` (400): neither a driver nor metainfo.
    pub fn service_profile_empty() -> Self {
        Self::new(400, "ServiceProfileEmpty", "Service Profile needs either a driver or metainfo.")
    }

    /// `FlavorDisabled` (503).
    pub fn flavor_disabled() -> Self {
        Self::new(503, "FlavorDisabled", "Flavor is not enabled.")
    }

    /// `ServiceProfileDisabled` (503).
    pub fn service_profile_disabled() -> Self {
        Self::new(503, "ServiceProfileDisabled", "Service Profile is not enabled.")
    }
}
