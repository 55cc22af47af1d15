//! Port bodies (`ports`, with the port-security, binding, allowed-address-pairs,
//! extra_dhcp_opt, dns-integration and dns-domain-ports extensions' attributes).

use crate::types::ExtraDhcpOpt;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::net::IpAddr;

/// One entry of a request's `fixed_ips`: a subnet, an address, or both (the validator
/// refuses an entry with other keys; one with neither is the allocator's to refuse).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FixedIpRequest {
    pub subnet_id: Option<String>,
    pub ip_address: Option<IpAddr>,
}

impl FixedIpRequest {
    /// Any address of the subnet.
    pub fn on_subnet(subnet_id: impl Into<String>) -> Self {
        Self { subnet_id: Some(subnet_id.into()), ip_address: None }
    }
}

/// One entry of a request's `allowed_address_pairs`: without a MAC the pair uses the
/// port's own.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AddressPairRequest {
    /// An address or a CIDR, canonical.
    pub ip_address: String,
    pub mac_address: Option<String>,
}

/// A port create, defaults filled.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PortCreate {
    pub project_id: String,
    pub network_id: String,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    /// Generated when not given.
    pub mac_address: Option<String>,
    /// `None`: Neutron's default addresses; `Some` (even empty): exactly these (plus SLAAC).
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub device_id: String,
    pub device_owner: String,
    /// `None`: the network's setting.
    pub port_security_enabled: Option<bool>,
    #[serde(default)]
    pub allowed_address_pairs: Vec<AddressPairRequest>,
    #[serde(default)]
    pub extra_dhcp_opts: Vec<ExtraDhcpOpt>,
    /// Empty: not bound to a host (as the port keeps it).
    #[serde(rename = "binding:host_id", default)]
    pub binding_host_id: String,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: String,
    /// A free-form dict by definition (Nova's hints to the mechanism drivers).
    #[serde(rename = "binding:profile", default)]
    pub binding_profile: Map<String, Value>,
    /// `None`: the project's default group.
    pub security_groups: Option<Vec<String>>,
    pub tags: Vec<String>,
    /// dns-integration: lower-cased, `""` for none.
    #[serde(default)]
    pub dns_name: String,
    /// dns-domain-ports: lower-cased, `""` for none.
    #[serde(default)]
    pub dns_domain: String,
}

impl PortCreate {
    /// A port the server makes for one of its services (router interface or gateway, DHCP,
    /// floating IP): every other attribute at its default, as the API would fill it.
    pub fn service(project_id: &str, network_id: &str, device_owner: &str, device_id: &str) -> Self {
        Self {
            project_id: project_id.into(),
            network_id: network_id.into(),
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            mac_address: None,
            fixed_ips: None,
            device_id: device_id.into(),
            device_owner: device_owner.into(),
            port_security_enabled: None,
            allowed_address_pairs: vec![],
            extra_dhcp_opts: vec![],
            binding_host_id: String::new(),
            binding_vnic_type: "normal".into(),
            binding_profile: Map::new(),
            security_groups: None,
            tags: vec![],
            dns_name: String::new(),
            dns_domain: String::new(),
        }
    }
}

/// A port update: `None` is "not given".
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct PortUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    /// `Some(None)` (`null`): a newly generated MAC (`port-mac-address-regenerate`).
    #[serde(default, deserialize_with = "super::double_option")]
    pub mac_address: Option<Option<String>>,
    /// The addresses the port should have: held ones asked for again are kept.
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Option<Vec<AddressPairRequest>>,
    /// Merged by name: an option with a `null` value is removed.
    pub extra_dhcp_opts: Option<Vec<ExtraDhcpOpt>>,
    #[serde(rename = "binding:host_id")]
    pub binding_host_id: Option<String>,
    #[serde(rename = "binding:vnic_type")]
    pub binding_vnic_type: Option<String>,
    #[serde(rename = "binding:profile")]
    pub binding_profile: Option<Map<String, Value>>,
    pub security_groups: Option<Vec<String>>,
    pub dns_name: Option<String>,
    pub dns_domain: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::PORT;
    use serde_json::json;

    const CALLER: Caller<'static> = Caller { project_id: "p1", can_set_project_id: false };
    const NET: &str = "6f6a4e8c-5b52-4d8e-9b3e-6f0b2d2f1a11";
    const SUBNET: &str = "0c7d3e55-1e2a-4f11-8d3c-2a9a8b7c6d5e";

    fn create(body: Value) -> PortCreate {
        let (items, _) = prepare_create(&PORT, &body, &CALLER, &ListLimits::default()).unwrap();
        Body::<PortCreate>::from_validated_all(items).unwrap().remove(0).fields
    }

    #[test]
    fn a_prepared_create_fits_with_its_defaults() {
        let p = create(json!({"port": {"network_id": NET}}));
        assert_eq!(p, PortCreate::service("p1", NET, "", ""));
    }

    #[test]
    fn requests_keep_what_was_given() {
        let p = create(json!({"port": {
            "network_id": NET,
            "mac_address": "FA:16:3E:00:00:01",
            "fixed_ips": [{"subnet_id": SUBNET}, {"ip_address": "10.0.0.5"}],
            "allowed_address_pairs": [{"ip_address": "10.0.0.0/24"}],
            "extra_dhcp_opts": [{"opt_name": "mtu", "opt_value": "1400"}],
            "binding:profile": null,
        }}));
        assert_eq!(p.mac_address.as_deref(), Some("fa:16:3e:00:00:01"));
        assert_eq!(
            p.fixed_ips,
            Some(vec![
                FixedIpRequest::on_subnet(SUBNET),
                FixedIpRequest { subnet_id: None, ip_address: Some("10.0.0.5".parse().unwrap()) },
            ])
        );
        assert_eq!(p.allowed_address_pairs[0].mac_address, None);
        assert_eq!(p.extra_dhcp_opts[0].ip_version, 4);
        assert!(p.binding_profile.is_empty());
    }

    #[test]
    fn an_update_names_only_what_it_changes() {
        let a =
            prepare_update(&PORT, &json!({"port": {"name": "x", "fixed_ips": []}}), &CALLER, &ListLimits::default())
                .unwrap();
        let u = Body::<PortUpdate>::from_validated(a).unwrap().fields;
        assert_eq!(u, PortUpdate { name: Some("x".into()), fixed_ips: Some(vec![]), ..PortUpdate::default() });
    }
}
