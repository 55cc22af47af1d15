//! Caps on the list attributes of one request body.
//!
//! A body is already bounded in bytes (`max_request_body_bytes`), but inside that budget a
//! hostile client can send tens of thousands of tags, address pairs or fixed IPs. Every list
//! is therefore counted against its cap before any of its items is validated, so the work a
//! body costs is bounded by the caps, not by what the client chose to send. The caps are
//! Neutron's where Neutron has one (`max_allowed_address_pair`, `max_fixed_ips_per_port`,
//! the tagging extension's 50 tags) and configurable ones where it has none.

use crate::error::ApiError;
use crate::resources::ResourceDef;
use crate::validate::invalid_attr;
use serde_json::{Map, Value};

/// Most tags on one resource: the tagging extension's `MAX_TAGS_COUNT` (not configurable in
/// Neutron either).
pub const MAX_TAGS: usize = 50;

/// The per-request caps on list attributes. The server fills it from its configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// `allowed_address_pairs` per port (`max_allowed_address_pair`, Neutron's default 10).
    pub allowed_address_pairs: usize,
    /// `fixed_ips` per port and `external_fixed_ips` per router gateway
    /// (`max_fixed_ips_per_port`, Neutron's default 5).
    pub fixed_ips: usize,
    /// `extra_dhcp_opts` per port (Neutron has no cap).
    pub extra_dhcp_opts: usize,
    /// `security_groups` per port (Neutron has no cap).
    pub security_groups: usize,
    /// `allocation_pools` per subnet (Neutron has no cap).
    pub allocation_pools: usize,
    /// `prefixes` of a subnet pool, in a create or update body and in one
    /// `add_prefixes`/`remove_prefixes` request (Neutron has no cap).
    pub subnetpool_prefixes: usize,
    /// `tags` given in a create body ([`MAX_TAGS`]).
    pub tags: usize,
    /// `routes` in one router update or `add_extraroutes`/`remove_extraroutes` body
    /// (Neutron's `max_routes`, default 30).
    pub routes: usize,
    /// `addresses` of an address group, in a create body, in one
    /// `add_addresses`/`remove_addresses` request and in the group (Neutron has no cap).
    pub address_group_addresses: usize,
}

impl Default for ListLimits {
    fn default() -> Self {
        Self {
            allowed_address_pairs: 10,
            fixed_ips: 5,
            extra_dhcp_opts: 64,
            security_groups: 64,
            allocation_pools: 64,
            subnetpool_prefixes: 64,
            tags: MAX_TAGS,
            routes: 30,
            address_group_addresses: 1024,
        }
    }
}

/// Neutron's `_validate_max_ips_per_port` error (400 InvalidInput).
pub fn fixed_ips_exhausted() -> ApiError {
    ApiError::invalid_input("Exceeded maximum amount of fixed ips per port")
}

/// The tagging extension's `validate_tags_limit` error: `BadRequest` naming the collection.
pub fn tags_exhausted(collection: &str, max: usize) -> ApiError {
    ApiError::bad_request_for(collection, format!("The number of tags exceed the per-resource limit of {max}"))
}

/// A cap neutrino adds where Neutron has none: a validator-style 400 naming the attribute.
fn list_too_long(attr: &str, max: usize) -> ApiError {
    invalid_attr(attr, &format!("The number of {attr} exceeds the maximum {max}"))
}

impl ListLimits {
    /// Counts every capped list of one resource body before anything in it is validated.
    /// Values that are not lists are left to the attribute's validator.
    pub fn check_body(&self, def: &ResourceDef, body: &Map<String, Value>) -> Result<(), ApiError> {
        for (name, value) in body {
            let Value::Array(items) = value else { continue };
            let len = items.len();
            match name.as_str() {
                "allowed_address_pairs" if len > self.allowed_address_pairs => {
                    return Err(ApiError::address_pairs_exhausted(self.allowed_address_pairs));
                }
                "fixed_ips" if len > self.fixed_ips => return Err(fixed_ips_exhausted()),
                "extra_dhcp_opts" if len > self.extra_dhcp_opts => {
                    return Err(list_too_long(name, self.extra_dhcp_opts));
                }
                "security_groups" if len > self.security_groups => {
                    return Err(list_too_long(name, self.security_groups));
                }
                "allocation_pools" if len > self.allocation_pools => {
                    return Err(list_too_long(name, self.allocation_pools));
                }
                "prefixes" if len > self.subnetpool_prefixes => {
                    return Err(list_too_long(name, self.subnetpool_prefixes));
                }
                "tags" if len > self.tags => return Err(tags_exhausted(def.plural, self.tags)),
                "addresses" if len > self.address_group_addresses => {
                    return Err(self.addresses_exhausted());
                }
                _ => {}
            }
        }
        if let Some(Value::Object(gateway)) = body.get("external_gateway_info") {
            if let Some(Value::Array(ips)) = gateway.get("external_fixed_ips") {
                if ips.len() > self.fixed_ips {
                    return Err(fixed_ips_exhausted());
                }
            }
        }
        Ok(())
    }

    /// Counts the `prefixes` of an `add_prefixes`/`remove_prefixes` body before they are read.
    pub fn check_prefix_ops(&self, body: &Value) -> Result<(), ApiError> {
        match body.get("prefixes") {
            Some(Value::Array(prefixes)) if prefixes.len() > self.subnetpool_prefixes => {
                Err(list_too_long("prefixes", self.subnetpool_prefixes))
            }
            _ => Ok(()),
        }
    }

    /// The error for more than [`Self::address_group_addresses`] addresses, in a body or in
    /// the group an `add_addresses` would make.
    pub fn addresses_exhausted(&self) -> ApiError {
        list_too_long("addresses", self.address_group_addresses)
    }

    /// Counts the `addresses` of an `add_addresses`/`remove_addresses` body before they are
    /// read.
    pub fn check_address_ops(&self, body: &Value) -> Result<(), ApiError> {
        match body.get("addresses") {
            Some(Value::Array(addresses)) if addresses.len() > self.address_group_addresses => {
                Err(self.addresses_exhausted())
            }
            _ => Ok(()),
        }
    }

    /// Counts the `routes` of a router body (`{"router": {"routes": [...]}}`), before they
    /// are validated or compared with the router's own.
    pub fn check_router_routes(&self, router_id: &str, body: &Value) -> Result<(), ApiError> {
        match body.get("router").and_then(|r| r.get("routes")) {
            Some(Value::Array(routes)) if routes.len() > self.routes => {
                Err(ApiError::routes_exhausted(router_id, self.routes))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{NETWORK, PORT, ROUTER};
    use serde_json::json;

    fn body(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("test bodies are objects"),
        }
    }

    #[test]
    fn lists_at_the_caps_pass_and_one_more_is_refused() {
        let limits = ListLimits::default();
        let pairs: Vec<Value> = (0..10).map(|i| json!({"ip_address": format!("10.0.0.{i}")})).collect();
        assert!(limits.check_body(&PORT, &body(json!({"allowed_address_pairs": pairs}))).is_ok());
        let pairs: Vec<Value> = (0..11).map(|i| json!({"ip_address": format!("10.0.0.{i}")})).collect();
        let err = limits.check_body(&PORT, &body(json!({"allowed_address_pairs": pairs}))).unwrap_err();
        assert_eq!(err.kind, "AllowedAddressPairExhausted");
        assert_eq!(err.message, "The number of allowed address pair exceeds the maximum 10.");

        let tags: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
        assert!(limits.check_body(&NETWORK, &body(json!({"tags": tags}))).is_ok());
        let tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
        let err = limits.check_body(&NETWORK, &body(json!({"tags": tags}))).unwrap_err();
        assert_eq!((err.status, err.kind.as_ref()), (400, "BadRequest"));
        assert_eq!(err.message, "Bad networks request: The number of tags exceed the per-resource limit of 50.");
    }

    #[test]
    fn every_capped_list_is_counted() {
        let limits = ListLimits {
            allowed_address_pairs: 1,
            fixed_ips: 1,
            extra_dhcp_opts: 1,
            security_groups: 1,
            allocation_pools: 1,
            subnetpool_prefixes: 1,
            tags: 1,
            routes: 1,
            address_group_addresses: 1,
        };
        for name in ["fixed_ips", "extra_dhcp_opts", "security_groups", "allocation_pools", "prefixes", "addresses"] {
            let mut m = Map::new();
            m.insert(name.into(), json!([1, 2]));
            let err = limits.check_body(&PORT, &m).unwrap_err();
            assert_eq!(err.status, 400, "{name}");
            m.insert(name.into(), json!([1]));
            assert!(limits.check_body(&PORT, &m).is_ok(), "{name}");
        }
        let gw = body(json!({"external_gateway_info": {"network_id": "n", "external_fixed_ips": [{}, {}]}}));
        assert_eq!(limits.check_body(&ROUTER, &gw).unwrap_err().kind, "InvalidInput");
        assert!(limits.check_body(&PORT, &body(json!({"fixed_ips": "not a list"}))).is_ok());
        let route = json!({"destination": "10.1.0.0/24", "nexthop": "10.0.0.1"});
        assert!(limits.check_router_routes("r1", &json!({"router": {"routes": [route]}})).is_ok());
        let err = limits.check_router_routes("r1", &json!({"router": {"routes": [route, route]}})).unwrap_err();
        assert_eq!(err.kind, "RoutesExhausted");
        assert_eq!(err.message, "Unable to complete operation for r1. The number of routes exceeds the maximum 1.");
        assert!(limits.check_address_ops(&json!({"addresses": ["10.0.0.0/8"]})).is_ok());
        let err = limits.check_address_ops(&json!({"addresses": ["10.0.0.0/8", "10.1.0.0/16"]})).unwrap_err();
        assert_eq!(err.message, "Invalid input for addresses. Reason: The number of addresses exceeds the maximum 1.");
    }
}
