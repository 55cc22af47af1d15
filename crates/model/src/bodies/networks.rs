//! Network bodies (`networks`, with the provider, external-net, port-security,
//! net-mtu-writable and dns-integration extensions' attributes).

use super::double_option;
use serde::Deserialize;

/// A network create, defaults filled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct NetworkCreate {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub shared: bool,
    #[serde(rename = "router:external")]
    pub router_external: bool,
    pub port_security_enabled: bool,
    /// `None` or `0`: the largest MTU the segment allows.
    pub mtu: Option<i64>,
    #[serde(rename = "provider:network_type")]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id")]
    pub segmentation_id: Option<i64>,
    pub tags: Vec<String>,
    /// auto-allocated-topology: make this the default external network.
    pub is_default: bool,
    pub availability_zone_hints: Vec<String>,
    /// dns-integration: lower-cased, `""` for none.
    #[serde(default)]
    pub dns_domain: String,
}

/// A network update: `None` is "not given".
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct NetworkUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    #[serde(rename = "router:external")]
    pub router_external: Option<bool>,
    pub port_security_enabled: Option<bool>,
    pub mtu: Option<i64>,
    /// Provider attributes may only be "updated" to their current values.
    #[serde(rename = "provider:network_type")]
    pub network_type: Option<String>,
    #[serde(rename = "provider:physical_network")]
    pub physical_network: Option<String>,
    #[serde(rename = "provider:segmentation_id", default, deserialize_with = "double_option")]
    pub segmentation_id: Option<Option<i64>>,
    pub is_default: Option<bool>,
    pub dns_domain: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::NETWORK;
    use serde_json::json;

    const CALLER: Caller<'static> = Caller { project_id: "p1", can_set_project_id: false };

    #[test]
    fn a_prepared_create_fits_with_its_defaults() {
        let (items, _) =
            prepare_create(&NETWORK, &json!({"network": {"name": "n"}}), &CALLER, &ListLimits::default()).unwrap();
        let n = Body::<NetworkCreate>::from_validated_all(items).unwrap().remove(0).fields;
        assert_eq!(n.project_id, "p1");
        assert!(n.admin_state_up && n.port_security_enabled && !n.shared && !n.router_external);
        assert_eq!((n.mtu, n.network_type, n.segmentation_id), (None, None, None));
    }

    #[test]
    fn an_update_tells_a_null_segmentation_id_from_none() {
        let body = json!({"network": {"provider:segmentation_id": null, "mtu": 1400}});
        let a = prepare_update(&NETWORK, &body, &CALLER, &ListLimits::default()).unwrap();
        let u = Body::<NetworkUpdate>::from_validated(a).unwrap().fields;
        assert_eq!((u.segmentation_id, u.mtu, u.name), (Some(None), Some(1400), None));
    }
}
