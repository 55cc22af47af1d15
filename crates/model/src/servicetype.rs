//! Service types and service providers (`service-type`, `flavors`, `l3-flavors`).
//!
//! A flavor names a *service type*: Neutron's plugin type of a loaded service plugin
//! (`validate_service_plugin_type` asks the plugin directory). neutrino has no plugin
//! directory; a plugin type counts as loaded when the extension that plugin serves is in
//! our catalog, so the answer follows what the server really offers.
//!
//! A service provider is a driver of a service that the server can run. Neutron's L3 plugin
//! registers four (`dvrha`, `dvr`, `ha`, `single_node`); neutrino's router is the
//! centralised, single-node router with SNAT on the L3 host (no DVR, no L3 HA), which is
//! Neutron's `single_node` provider, so that is the one provider listed. Its driver path is
//! Neutron's, because a service profile names its provider by that path.

use serde::Serialize;

/// Neutron's plugin type of the L3 router service (`plugin_constants.L3`).
pub const L3_ROUTER_NAT: &str = "L3_ROUTER_NAT";

/// Plugin types and the extension alias that shows the plugin is loaded (`None`: always,
/// the core plugin).
const PLUGIN_TYPES: &[(&str, Option<&str>)] = &[
    ("CORE", None),
    (L3_ROUTER_NAT, Some("router")),
    ("FLAVORS", Some("flavors")),
    ("TAG", Some("standard-attr-tag")),
    ("timestamp", Some("standard-attr-timestamp")),
    ("revision_plugin", Some("standard-attr-revisions")),
    ("network-ip-availability", Some("network-ip-availability")),
    ("PORTFORWARDING", Some("floating-ip-port-forwarding")),
    ("auto-allocated-topology", Some("auto-allocated-topology")),
    ("trunk", Some("trunk")),
    ("QOS", Some("qos")),
    ("segments", Some("segment")),
];

/// Whether `service_type` is the plugin type of a service plugin the server runs.
pub fn is_loaded_plugin_type(service_type: &str) -> bool {
    PLUGIN_TYPES
        .iter()
        .any(|(t, alias)| *t == service_type && alias.is_none_or(|a| crate::extensions::find(a).is_some()))
}

/// One service provider, as `GET /v2.0/service-providers` shows it (the driver is not
/// shown: it is not in the resource's attribute map).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ServiceProvider {
    pub service_type: &'static str,
    pub name: &'static str,
    #[serde(skip)]
    pub driver: &'static str,
    /// Whether the operator made it the default of its service type (no operator setting
    /// exists: none is, as in Neutron without `service_provider` options).
    pub default: bool,
}

/// The providers neutrino runs, in the order they are listed.
pub const SERVICE_PROVIDERS: &[ServiceProvider] = &[ServiceProvider {
    service_type: L3_ROUTER_NAT,
    name: "single_node",
    driver: "neutron.services.l3_router.service_providers.single_node.SingleNodeDriver",
    default: false,
}];

/// The provider whose driver is `driver` (Neutron filters providers by driver to validate
/// a service profile and to pick a flavor's provider).
pub fn provider_by_driver(driver: &str) -> Option<&'static ServiceProvider> {
    SERVICE_PROVIDERS.iter().find(|p| p.driver == driver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loaded_plugin_types_follow_the_catalog() {
        for t in ["CORE", "L3_ROUTER_NAT", "FLAVORS", "TAG", "timestamp", "revision_plugin"] {
            assert!(is_loaded_plugin_type(t), "{t}");
        }
        for t in ["LOADBALANCERV2", "METERING", "tag", "bogus", ""] {
            assert!(!is_loaded_plugin_type(t), "{t}");
        }
    }

    #[test]
    fn the_single_node_driver_is_ours_and_dvr_is_not() {
        let sn = provider_by_driver("neutron.services.l3_router.service_providers.single_node.SingleNodeDriver");
        assert_eq!(sn.map(|p| p.name), Some("single_node"));
        assert!(provider_by_driver("neutron.services.l3_router.service_providers.dvr.DvrDriver").is_none());
        assert!(provider_by_driver("single_node").is_none());
    }
}
