//! Router bodies (`ROUTER` in [`crate::resources`]).

use crate::types::HostRoute;
use serde::Deserialize;

use super::double_option;
use super::ports::FixedIpRequest;

/// `external_gateway_info` as given: [`crate::attrs::Kind::GatewayInfo`] keeps only the
/// keys the caller sent (`{}` became `null`), so an `Option` here means "given".
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GatewayRequest {
    pub network_id: String,
    /// Admin-only; SNAT is on when not given.
    pub enable_snat: Option<bool>,
    /// Admin-only; addresses on the external network, else automatic.
    pub external_fixed_ips: Option<Vec<FixedIpRequest>>,
}

/// `POST /v2.0/routers`, one item.
#[derive(Debug, Clone, Deserialize)]
pub struct RouterCreate {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub admin_state_up: bool,
    /// `None`: no gateway (absent, `null` or `{}`).
    pub external_gateway_info: Option<GatewayRequest>,
    /// l3-flavors: `None` when not given; `Some(None)` for `null`, which names no flavor
    /// (Neutron looks it up as `None` and does not find it).
    #[serde(default, deserialize_with = "double_option")]
    pub flavor_id: Option<Option<String>>,
    pub availability_zone_hints: Vec<String>,
}

/// `PUT /v2.0/routers/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct RouterUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    /// `Some(None)`: remove the gateway.
    #[serde(default, deserialize_with = "double_option")]
    pub external_gateway_info: Option<Option<GatewayRequest>>,
    pub routes: Option<Vec<HostRoute>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::ROUTER;
    use serde_json::json;

    const NET: &str = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";

    fn caller() -> Caller<'static> {
        Caller { project_id: "p1", can_set_project_id: false }
    }

    fn create(router: serde_json::Value) -> RouterCreate {
        let (items, _) =
            prepare_create(&ROUTER, &json!({ "router": router }), &caller(), &ListLimits::default()).unwrap();
        Body::<RouterCreate>::from_validated_all(items).unwrap().remove(0).fields
    }

    fn update(router: serde_json::Value) -> RouterUpdate {
        let m = prepare_update(&ROUTER, &json!({ "router": router }), &caller(), &ListLimits::default()).unwrap();
        Body::<RouterUpdate>::from_validated(m).unwrap().fields
    }

    #[test]
    fn gateway_info_keeps_only_what_was_given() {
        assert_eq!(create(json!({})).external_gateway_info, None);
        assert_eq!(create(json!({"external_gateway_info": {}})).external_gateway_info, None);
        let gw = create(json!({"external_gateway_info": {"network_id": NET}})).external_gateway_info.unwrap();
        assert_eq!(gw, GatewayRequest { network_id: NET.into(), enable_snat: None, external_fixed_ips: None });
        let gw = create(json!({"external_gateway_info": {"network_id": NET, "enable_snat": "false",
            "external_fixed_ips": [{"ip_address": "172.24.4.9"}]}}))
        .external_gateway_info
        .unwrap();
        assert_eq!(gw.enable_snat, Some(false));
        let ips = gw.external_fixed_ips.unwrap();
        assert_eq!(ips, vec![FixedIpRequest { subnet_id: None, ip_address: Some("172.24.4.9".parse().unwrap()) }]);
    }

    #[test]
    fn an_update_clears_the_gateway_with_null_or_an_empty_dict() {
        assert_eq!(update(json!({"name": "r"})).external_gateway_info, None);
        assert_eq!(update(json!({"external_gateway_info": null})).external_gateway_info, Some(None));
        assert_eq!(update(json!({"external_gateway_info": {}})).external_gateway_info, Some(None));
        let routes = update(json!({"routes": [{"destination": "10.2.0.0/16", "nexthop": "10.0.0.5"}]})).routes;
        assert_eq!(routes.map(|r| r.len()), Some(1));
    }
}
