//! Subnet bodies (`SUBNET` in [`crate::resources`]).

use crate::types::HostRoute;
use neutrino_ipam::AllocationPool;
use serde::Deserialize;
use std::net::IpAddr;

use super::double_option;

/// `POST /v2.0/subnets`, one item.
#[derive(Debug, Clone, Deserialize)]
pub struct SubnetCreate {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub network_id: String,
    pub ip_version: u8,
    /// The pool to allocate the CIDR from (`null`: none).
    pub subnetpool_id: Option<String>,
    /// With a pool and no `cidr`: the size of the subnet to take (default: the pool's).
    pub prefixlen: Option<u64>,
    /// Allocate from the default pool of the IP version (default-subnetpools).
    #[serde(default)]
    pub use_default_subnetpool: bool,
    /// Canonical (`addr/len`); required without a pool.
    pub cidr: Option<String>,
    /// Absent: the CIDR's first address; `null`: no gateway.
    #[serde(default, deserialize_with = "double_option")]
    pub gateway_ip: Option<Option<IpAddr>>,
    /// Absent or empty: the CIDR minus the gateway.
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub enable_dhcp: bool,
    pub ipv6_ra_mode: Option<String>,
    pub ipv6_address_mode: Option<String>,
    /// `subnet-service-types`; absent or `null`: none.
    pub service_types: Option<Vec<String>>,
}

/// `PUT /v2.0/subnets/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SubnetUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    /// `Some(None)`: remove the gateway.
    #[serde(default, deserialize_with = "double_option")]
    pub gateway_ip: Option<Option<IpAddr>>,
    pub allocation_pools: Option<Vec<AllocationPool>>,
    pub dns_nameservers: Option<Vec<String>>,
    pub host_routes: Option<Vec<HostRoute>>,
    pub enable_dhcp: Option<bool>,
    /// `subnet-service-types`: replaces the list (the validator turns `null` into `[]`).
    pub service_types: Option<Vec<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::SUBNET;
    use serde_json::json;

    const NET: &str = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";

    fn caller() -> Caller<'static> {
        Caller { project_id: "p1", can_set_project_id: false }
    }

    fn create(body: serde_json::Value) -> SubnetCreate {
        let (items, _) = prepare_create(&SUBNET, &body, &caller(), &ListLimits::default()).unwrap();
        Body::<SubnetCreate>::from_validated_all(items).unwrap().remove(0).fields
    }

    #[test]
    fn a_prepared_create_types_with_its_defaults() {
        let s = create(json!({"subnet": {"network_id": NET, "ip_version": 4, "cidr": "10.0.0.0/24"}}));
        assert_eq!((s.project_id.as_str(), s.ip_version, s.enable_dhcp), ("p1", 4, true));
        assert_eq!(s.cidr.as_deref(), Some("10.0.0.0/24"));
        assert_eq!(s.gateway_ip, None);
        let s = create(json!({"subnet": {"network_id": NET, "ip_version": 6, "gateway_ip": null,
            "allocation_pools": [{"start": "2001:db8::10", "end": "2001:db8::20"}],
            "host_routes": [{"destination": "10.1.0.0/16", "nexthop": "2001:db8::1"}]}}));
        assert_eq!(s.gateway_ip, Some(None));
        assert_eq!(s.allocation_pools.map(|p| p.len()), Some(1));
        assert_eq!(s.host_routes.map(|r| r[0].destination.clone()).as_deref(), Some("10.1.0.0/16"));
    }

    #[test]
    fn an_update_tells_absent_from_null() {
        let up = |b| {
            let m = prepare_update(&SUBNET, &b, &caller(), &ListLimits::default()).unwrap();
            Body::<SubnetUpdate>::from_validated(m).unwrap().fields
        };
        assert_eq!(up(json!({"subnet": {"name": "a"}})).gateway_ip, None);
        assert_eq!(up(json!({"subnet": {"gateway_ip": null}})).gateway_ip, Some(None));
        let ip: IpAddr = "10.0.0.9".parse().unwrap();
        assert_eq!(up(json!({"subnet": {"gateway_ip": "10.0.0.9"}})).gateway_ip, Some(Some(ip)));
        assert_eq!(up(json!({"subnet": {"allocation_pools": null}})).allocation_pools, Some(vec![]));
    }
}
