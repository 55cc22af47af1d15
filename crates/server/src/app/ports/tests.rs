//! Port updates: DHCP option merging and fixed IP reconciliation.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::app::port_alloc::tests::{app_with, body, create, ip, req, slaac, v4, NET, SLAAC, V4};
use crate::app::port_alloc::IpRequest;

fn opt(name: &str, value: Option<&str>, version: u8) -> ExtraDhcpOpt {
    ExtraDhcpOpt { opt_name: name.into(), opt_value: value.map(str::to_string), ip_version: version }
}

#[test]
fn dhcp_options_are_replaced_by_name_and_removed_by_null() {
    let mut current =
        vec![opt("mtu", Some("1400"), 4), opt("mtu", Some("1280"), 6), opt("router", Some("10.0.0.1"), 4)];
    merge_dhcp_opts(
        &mut current,
        &[opt("mtu", Some("1450"), 4), opt("router", None, 4), opt("ntp-server", Some("10.0.0.3"), 4)],
    );
    assert_eq!(
        current,
        [opt("mtu", Some("1280"), 6), opt("mtu", Some("1450"), 4), opt("ntp-server", Some("10.0.0.3"), 4)]
    );
}

fn held(port: &mut Port, list: &[(&str, &str)]) {
    port.fixed_ips =
        list.iter().map(|(s, a)| FixedIp { subnet_id: s.to_string(), ip_address: a.to_string() }).collect();
}

fn ask(subnet: &Subnet, address: Option<&str>) -> IpRequest {
    IpRequest { subnet: subnet.clone(), ip: address.map(ip) }
}

/// A compute port on the test network, without addresses.
fn a_port() -> Port {
    let body = body();
    Port {
        id: "p".into(),
        name: String::new(),
        tenant_id: body.project_id.clone(),
        project_id: body.project_id,
        network_id: NET.into(),
        admin_state_up: true,
        mac_address: "fa:16:3e:00:00:01".into(),
        fixed_ips: vec![],
        device_id: body.device_id,
        device_owner: body.device_owner,
        status: "DOWN".into(),
        port_security_enabled: true,
        allowed_address_pairs: vec![],
        extra_dhcp_opts: vec![],
        binding_host_id: String::new(),
        binding_vif_type: String::new(),
        binding_vif_details: Map::new(),
        binding_vnic_type: "normal".into(),
        binding_profile: Map::new(),
        ip_allocation: "immediate".into(),
        security_groups: vec![],
        dns_name: String::new(),
        dns_domain: String::new(),
        dns_assignment: vec![],
        description: String::new(),
        tags: vec![],
        created_at: String::new(),
        updated_at: String::new(),
        revision_number: 0,
    }
}

#[test]
fn addresses_asked_for_again_are_kept_and_the_rest_are_new() {
    let mut port = a_port();
    held(&mut port, &[(V4, "10.0.0.5"), (V4, "10.0.0.6")]);
    let (keep, fresh) =
        split_fixed_ips(&port, vec![ask(&v4(), Some("10.0.0.6")), ask(&v4(), Some("10.0.0.9"))], &[v4()]);
    assert_eq!(keep, [FixedIp { subnet_id: V4.into(), ip_address: "10.0.0.6".into() }]);
    assert_eq!(fresh.len(), 1);
    assert_eq!(fresh[0].ip, Some(ip("10.0.0.9")));
}

#[test]
fn a_subnet_asked_for_keeps_one_held_address_per_request() {
    let mut port = a_port();
    held(&mut port, &[(V4, "10.0.0.5")]);
    let (keep, fresh) = split_fixed_ips(&port, vec![ask(&v4(), None), ask(&v4(), None)], &[v4()]);
    assert_eq!(keep.len(), 1);
    assert_eq!((fresh.len(), fresh[0].ip), (1, None));
}

#[test]
fn slaac_addresses_stay_unless_the_port_is_a_router_interface() {
    let mut port = a_port();
    held(&mut port, &[(V4, "10.0.0.5"), (SLAAC, "2001:db8::1")]);
    let (keep, fresh) = split_fixed_ips(&port, vec![], &[v4(), slaac()]);
    assert_eq!(keep, [FixedIp { subnet_id: SLAAC.into(), ip_address: "2001:db8::1".into() }]);
    assert!(fresh.is_empty());
    port.device_owner = "network:router_interface".into();
    assert!(split_fixed_ips(&port, vec![], &[v4(), slaac()]).0.is_empty());
}

#[tokio::test]
async fn reconciling_releases_what_is_not_kept() {
    let (_dir, app) = app_with(vec![v4(), slaac()]).await;
    let first =
        create(&app, PortCreate { fixed_ips: Some(vec![req(Some(V4), Some("10.0.0.5"))]), ..body() }, vec![[0, 0, 1]])
            .await
            .unwrap();
    let app2 = app.clone();
    let port = app
        .store
        .write(move |tx| {
            let mut port = first;
            let net: Network = load_required(tx, Resource::Network, NET)?;
            let ctx = RequestContext::noauth("p1".into(), app2.rules.clone());
            reconcile_fixed_ips(tx, &app2, &ctx, &mut port, &net, &[req(Some(V4), Some("10.0.0.6"))])?;
            Ok::<_, ApiError>(port)
        })
        .await
        .unwrap();
    let addresses: Vec<&str> = port.fixed_ips.iter().map(|f| f.ip_address.as_str()).collect();
    assert!(addresses.contains(&"10.0.0.6") && !addresses.contains(&"10.0.0.5"), "{addresses:?}");
    assert_eq!(addresses.len(), 2, "the SLAAC address stays: {addresses:?}");
    // The released address can be taken again.
    create(&app, PortCreate { fixed_ips: Some(vec![req(Some(V4), Some("10.0.0.5"))]), ..body() }, vec![[0, 0, 2]])
        .await
        .unwrap();
}

#[tokio::test]
async fn too_many_fixed_ips_are_refused() {
    let (_dir, app) = app_with(vec![v4()]).await;
    let list: Vec<FixedIpRequest> = (0..6).map(|_| req(Some(V4), None)).collect();
    let e = create(&app, PortCreate { fixed_ips: Some(list), ..body() }, vec![[0, 0, 1]]).await.unwrap_err();
    assert_eq!(e.message, "Invalid input for operation: Exceeded maximum amount of fixed ips per port..");
}
