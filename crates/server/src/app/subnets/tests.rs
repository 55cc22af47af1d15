use super::*;
use neutrino_model::bodies::Body;
use neutrino_model::body::{prepare_create, Caller};
use neutrino_model::resources::SUBNET;
use serde_json::{json, Value};

const NET: &str = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";

fn network(mtu: u32) -> Network {
    Network {
        id: NET.into(),
        name: String::new(),
        tenant_id: "p1".into(),
        project_id: "p1".into(),
        admin_state_up: true,
        status: "ACTIVE".into(),
        shared: false,
        mtu,
        router_external: false,
        port_security_enabled: true,
        network_type: None,
        physical_network: None,
        segmentation_id: None,
        subnets: vec![],
        ipv4_address_scope: None,
        ipv6_address_scope: None,
        is_default: None,
        availability_zone_hints: vec![],
        availability_zones: vec![],
        dns_domain: String::new(),
        description: String::new(),
        tags: vec![],
        created_at: String::new(),
        updated_at: String::new(),
        revision_number: 0,
    }
}

/// A subnet create as the handler hands it over: prepared, then typed.
fn body(subnet: Value) -> SubnetCreate {
    let mut subnet = subnet;
    subnet["network_id"] = json!(NET);
    let caller = Caller { project_id: "p1", can_set_project_id: false };
    let limits = neutrino_model::limits::ListLimits::default();
    let (items, _) = prepare_create(&SUBNET, &json!({ "subnet": subnet }), &caller, &limits).unwrap();
    Body::<SubnetCreate>::from_validated_all(items).unwrap().remove(0).fields
}

fn plan(subnet: Value) -> Result<AddressPlan, ApiError> {
    plan_create(&Config::default(), &body(subnet), &network(1500), None)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn defaults_give_the_first_address_as_gateway_and_the_rest_as_pool() {
    let p = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24"})).unwrap();
    assert_eq!(p.gateway, Some(ip("10.0.0.1")));
    assert_eq!(p.pools, vec![AllocationPool::new(ip("10.0.0.2"), ip("10.0.0.254"))]);
    let p = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": null})).unwrap();
    assert_eq!(p.gateway, None);
    assert_eq!(p.pools, vec![AllocationPool::new(ip("10.0.0.1"), ip("10.0.0.254"))]);
}

#[test]
fn a_gateway_inside_a_given_pool_conflicts() {
    let err = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": "10.0.0.5",
        "allocation_pools": [{"start": "10.0.0.2", "end": "10.0.0.9"}]}))
    .unwrap_err();
    assert_eq!((err.status, err.kind.as_ref()), (409, "GatewayConflictWithAllocationPools"));
    assert_eq!(err.message, "Gateway ip 10.0.0.5 conflicts with allocation pool 10.0.0.2-10.0.0.9");
}

#[test]
fn addresses_of_the_other_ip_version_are_refused() {
    let err = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24", "gateway_ip": "2001:db8::1"})).unwrap_err();
    assert_eq!(
        err.message,
        "Invalid input for operation: Invalid input for gateway_ip. Reason: '2001:db8::1' is not a valid IPv4 address.."
    );
    let err = plan(json!({"ip_version": 6, "cidr": "10.0.0.0/24"})).unwrap_err();
    assert!(err.message.contains("Invalid input for cidr"), "{}", err.message);
    let err = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24",
        "host_routes": [{"destination": "2001:db8:1::/64", "nexthop": "10.0.0.9"}]}))
    .unwrap_err();
    assert!(err.message.contains("Invalid input for host_routes"), "{}", err.message);
    let p = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24",
        "host_routes": [{"destination": "10.1.0.0/16", "nexthop": "10.0.0.9"}]}))
    .unwrap();
    assert_eq!(p.routes, vec![HostRoute { destination: "10.1.0.0/16".into(), nexthop: "10.0.0.9".into() }]);
}

#[test]
fn pools_and_ipv6_modes_are_checked() {
    let err = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24",
        "allocation_pools": [{"start": "10.0.1.2", "end": "10.0.1.9"}]}))
    .unwrap_err();
    assert_eq!(err.status, 400);
    let err = plan(json!({"ip_version": 6, "cidr": "2001:db8::/64", "ipv6_ra_mode": "slaac",
        "ipv6_address_mode": "dhcpv6-stateful"}))
    .unwrap_err();
    assert!(err.message.contains("they must be the same value"), "{}", err.message);
    let err = plan(json!({"ip_version": 6, "cidr": "2001:db8::/80", "ipv6_address_mode": "slaac"})).unwrap_err();
    assert!(err.message.contains("requires the prefix to be /64"), "{}", err.message);
    let err = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24", "ipv6_ra_mode": "slaac"})).unwrap_err();
    assert_eq!(err.message, "Invalid input for operation: ipv6_ra_mode is not valid when ip_version is 4.");
}

#[test]
fn no_cidr_or_too_many_nameservers_are_refused() {
    // An unknown pool (404) is the allocator's to refuse: tests/api/subnetpools.rs.
    let err = plan(json!({"ip_version": 4})).unwrap_err();
    assert_eq!(err.message, "Bad subnets request: a subnetpool must be specified in the absence of a cidr.");
    let max = Config::default().max_dns_nameservers;
    let dns: Vec<String> = (0..=max).map(|i| format!("10.0.9.{i}")).collect();
    let err = plan(json!({"ip_version": 4, "cidr": "10.0.0.0/24", "dns_nameservers": dns})).unwrap_err();
    assert_eq!(err.kind, "DNSNameServersExhausted");
    assert!(err.message.starts_with("Unable to complete operation for new subnet."), "{}", err.message);
}

#[test]
fn an_ipv6_subnet_needs_a_network_mtu_of_1280() {
    let err =
        plan_create(&Config::default(), &body(json!({"ip_version": 6, "cidr": "2001:db8::/64"})), &network(1279), None)
            .unwrap_err();
    assert_eq!((err.status, err.kind.as_ref()), (409, "NetworkMTUSubnetConflict"));
}

#[test]
fn a_gateway_outside_pools_passes() {
    let pools = [AllocationPool::new(ip("10.0.0.10"), ip("10.0.0.20"))];
    assert!(check_gateway_outside_pools(Some(ip("10.0.0.1")), &pools).is_ok());
    assert!(check_gateway_outside_pools(None, &pools).is_ok());
    assert!(check_gateway_outside_pools(Some(ip("10.0.0.20")), &pools).is_err());
}
