//! Floating IP bodies (`floatingips`).

use super::double_option;
use serde::Deserialize;
use std::net::IpAddr;

/// A floating IP create, defaults filled.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct FloatingIpCreate {
    pub project_id: String,
    pub floating_network_id: String,
    /// A chosen address, else the first free one (of `subnet_id` when given).
    pub floating_ip_address: Option<IpAddr>,
    pub subnet_id: Option<String>,
    /// Associate at once with this port ...
    pub port_id: Option<String>,
    /// ... on this fixed IP (needed when the port has several IPv4 addresses).
    pub fixed_ip_address: Option<String>,
    pub description: String,
    pub tags: Vec<String>,
}

/// A floating IP update: `port_id` associates, `port_id: null` dissociates.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct FloatingIpUpdate {
    #[serde(default, deserialize_with = "double_option")]
    pub port_id: Option<Option<String>>,
    pub fixed_ip_address: Option<String>,
    pub description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::FLOATINGIP;
    use serde_json::json;

    const CALLER: Caller<'static> = Caller { project_id: "p1", can_set_project_id: false };
    const NET: &str = "6f6a4e8c-5b52-4d8e-9b3e-6f0b2d2f1a11";

    #[test]
    fn a_prepared_create_fits() {
        let body = json!({"floatingip": {"floating_network_id": NET, "floating_ip_address": "203.0.113.7"}});
        let (items, _) = prepare_create(&FLOATINGIP, &body, &CALLER, &ListLimits::default()).unwrap();
        let f = Body::<FloatingIpCreate>::from_validated_all(items).unwrap().remove(0).fields;
        assert_eq!(f.floating_ip_address, Some("203.0.113.7".parse().unwrap()));
        assert_eq!((f.port_id, f.subnet_id, f.description.as_str()), (None, None, ""));
    }

    #[test]
    fn a_null_port_dissociates() {
        let a = prepare_update(&FLOATINGIP, &json!({"floatingip": {"port_id": null}}), &CALLER, &ListLimits::default())
            .unwrap();
        assert_eq!(Body::<FloatingIpUpdate>::from_validated(a).unwrap().fields.port_id, Some(None));
    }
}
