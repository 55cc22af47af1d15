use super::*;
use std::sync::Arc;

fn subnet(id: &str, cidr: &str, gateway: Option<&str>, project: &str) -> Subnet {
    let net: IpNet = cidr.parse().unwrap();
    Subnet {
        id: id.into(),
        name: String::new(),
        tenant_id: project.into(),
        project_id: project.into(),
        network_id: "n1".into(),
        ip_version: if net.addr().is_ipv4() { 4 } else { 6 },
        subnetpool_id: None,
        cidr: cidr.into(),
        gateway_ip: gateway.map(str::to_string),
        allocation_pools: neutrino_ipam::default_allocation_pools(&net, gateway.and_then(|g| g.parse().ok())),
        dns_nameservers: vec![],
        host_routes: vec![],
        enable_dhcp: true,
        ipv6_ra_mode: None,
        ipv6_address_mode: None,
        router_external: false,
        service_types: vec![],
        description: String::new(),
        tags: vec![],
        created_at: String::new(),
        updated_at: String::new(),
        revision_number: 0,
    }
}

fn ctx(project: &str, admin: bool) -> RequestContext {
    RequestContext {
        project_id: project.into(),
        is_admin: admin,
        roles: vec![if admin { "admin" } else { "member" }.into()],
        user_id: "u1".into(),
        rules: Arc::new(super::super::policy_rules::Rules::default()),
    }
}

fn route(destination: &str, nexthop: &str) -> HostRoute {
    HostRoute { destination: destination.into(), nexthop: nexthop.into() }
}

#[test]
fn nexthops_must_be_on_an_interface_and_not_its_gateway() {
    let attached = [subnet("s1", "10.0.0.0/24", Some("10.0.0.1"), "p1")];
    assert!(check_nexthops(&attached, &[route("10.9.0.0/16", "10.0.0.7")]).is_ok());
    let routes = [route("10.9.0.0/16", "10.1.0.7")];
    let err = check_nexthops(&attached, &routes).unwrap_err();
    assert_eq!((err.status, err.kind.as_ref()), (400, "InvalidRoutes"));
    assert_eq!(
        err.message,
        r#"Invalid format for routes: [{"destination":"10.9.0.0/16","nexthop":"10.1.0.7"}], the nexthop is not connected with router"#
    );
    let err = check_nexthops(&attached, &[route("10.9.0.0/16", "10.0.0.1")]).unwrap_err();
    assert!(err.message.ends_with("the nexthop is used by router"), "{}", err.message);
}

#[test]
fn an_interface_subnet_may_be_neither_attached_nor_overlapping() {
    let attached = [subnet("s1", "10.0.0.0/24", Some("10.0.0.1"), "p1")];
    assert!(check_attachable_beside(&attached, &subnet("s2", "10.0.1.0/24", None, "p1")).is_ok());
    let err = check_attachable_beside(&attached, &attached[0]).unwrap_err();
    assert_eq!(err.message, "Bad router request: Router already has a port on subnet s1.");
    let err = check_attachable_beside(&attached, &subnet("s3", "10.0.0.0/16", None, "p1")).unwrap_err();
    assert_eq!(
        err.message,
        "Bad router request: Cidr 10.0.0.0/16 of subnet s3 overlaps with cidr 10.0.0.0/24 of subnet s1."
    );
}

#[test]
fn gateway_addresses_and_snat_are_for_admins() {
    let net = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";
    let plain = GatewayRequest { network_id: net.into(), enable_snat: None, external_fixed_ips: None };
    assert!(check_gateway_policy(&ctx("p1", false), Some(&plain)).is_ok());
    let snat = GatewayRequest { enable_snat: Some(false), ..plain.clone() };
    let err = check_gateway_policy(&ctx("p1", false), Some(&snat)).unwrap_err();
    assert_eq!(
        (err.status, err.message.as_str()),
        (
            403,
            "((rule:create_router and rule:create_router:external_gateway_info:enable_snat)) is disallowed by policy"
        )
    );
    assert!(check_gateway_policy(&ctx("p1", true), Some(&snat)).is_ok());
    assert!(check_gateway_policy(&ctx("p1", false), None).is_ok());
}

#[test]
fn interface_requests_name_a_subnet_or_a_port_by_uuid() {
    let id = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";
    assert_eq!(interface_request(&serde_json::json!({"subnet_id": id})).unwrap(), (Some(id.into()), None));
    let err = interface_request(&serde_json::json!({"port_id": "nope"})).unwrap_err();
    assert_eq!(err.message, "Invalid input. 'nope' is not a valid UUID");
    assert_eq!(interface_request(&serde_json::json!([])).unwrap_err().message, "Body contains invalid data");
}

#[test]
fn a_port_outside_the_pools_needs_the_subnet_owner() {
    let s = subnet("s1", "10.0.0.0/24", Some("10.0.0.1"), "owner");
    let port_json = serde_json::json!({"id": "p", "name": "", "tenant_id": "x", "project_id": "x", "network_id": "n1",
        "admin_state_up": true, "mac_address": "", "fixed_ips": [], "device_id": "", "device_owner": "", "status": "DOWN",
        "port_security_enabled": true, "allowed_address_pairs": [], "extra_dhcp_opts": [], "binding:host_id": "",
        "binding:vif_type": "", "binding:vif_details": {}, "binding:vnic_type": "normal", "binding:profile": {},
        "ip_allocation": "immediate", "security_groups": [], "description": "", "tags": [], "created_at": "",
        "updated_at": "", "revision_number": 0});
    let port: Port = serde_json::from_value(port_json).unwrap();
    let inside = FixedIp { subnet_id: "s1".into(), ip_address: "10.0.0.5".into() };
    let outside = FixedIp { subnet_id: "s1".into(), ip_address: "10.0.0.1".into() };
    assert!(check_port_in_pool_or_admin(&ctx("other", false), &port, &s, &inside).is_ok());
    assert!(check_port_in_pool_or_admin(&ctx("other", false), &port, &s, &outside).is_err());
    assert!(check_port_in_pool_or_admin(&ctx("owner", false), &port, &s, &outside).is_ok());
    assert!(check_port_in_pool_or_admin(&ctx("other", true), &port, &s, &outside).is_ok());
}
