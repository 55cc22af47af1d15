//! Port allocation: request resolution and defaults (pure), MACs and addresses over a
//! real store in a temporary directory. The fixtures are shared with the ports tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::Config;
use neutrino_model::types::AllocationPool;
use std::sync::Arc;

pub(crate) const NET: &str = "11111111-1111-4111-8111-111111111111";
pub(crate) const V4: &str = "22222222-2222-4222-8222-222222222222";
pub(crate) const V4_OTHER: &str = "33333333-3333-4333-8333-333333333333";
pub(crate) const SLAAC: &str = "44444444-4444-4444-8444-444444444444";
pub(crate) const STATEFUL_V6: &str = "55555555-5555-4555-8555-555555555555";

pub(crate) fn network(subnets: &[&str]) -> Network {
    Network {
        id: NET.into(),
        name: "n".into(),
        tenant_id: "p1".into(),
        project_id: "p1".into(),
        admin_state_up: true,
        status: status::ACTIVE.into(),
        shared: false,
        mtu: 1450,
        router_external: false,
        port_security_enabled: true,
        network_type: Some("vxlan".into()),
        physical_network: None,
        segmentation_id: Some(7),
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
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

/// A subnet with its gateway at `.1` / `::1` and a pool of the addresses after it.
pub(crate) fn subnet(id: &str, cidr: &str, pool: (&str, &str), mode: Option<&str>) -> Subnet {
    let net: IpNet = cidr.parse().unwrap();
    Subnet {
        id: id.into(),
        name: String::new(),
        tenant_id: "p1".into(),
        project_id: "p1".into(),
        network_id: NET.into(),
        ip_version: if net.addr().is_ipv4() { 4 } else { 6 },
        subnetpool_id: None,
        cidr: cidr.into(),
        gateway_ip: Some(net.hosts().next().unwrap().to_string()),
        allocation_pools: vec![AllocationPool { start: pool.0.parse().unwrap(), end: pool.1.parse().unwrap() }],
        dns_nameservers: vec![],
        host_routes: vec![],
        enable_dhcp: true,
        ipv6_ra_mode: mode.map(str::to_string),
        ipv6_address_mode: mode.map(str::to_string),
        router_external: false,
        service_types: vec![],
        description: String::new(),
        tags: vec![],
        created_at: String::new(),
        updated_at: String::new(),
        revision_number: 0,
    }
}

pub(crate) fn v4() -> Subnet {
    subnet(V4, "10.0.0.0/24", ("10.0.0.2", "10.0.0.254"), None)
}

pub(crate) fn slaac() -> Subnet {
    subnet(SLAAC, "2001:db8::/64", ("2001:db8::2", "2001:db8::ffff"), Some("slaac"))
}

pub(crate) fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

pub(crate) fn req(subnet_id: Option<&str>, ip_address: Option<&str>) -> FixedIpRequest {
    FixedIpRequest { subnet_id: subnet_id.map(str::to_string), ip_address: ip_address.map(ip) }
}

/// An application over a fresh store, with the network and `subnets` in it.
pub(crate) async fn app_with(subnets: Vec<Subnet>) -> (tempfile::TempDir, Arc<App>) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: dir.path().to_path_buf(),
        noauth: true,
        store_durability: "normal".into(),
        ..Config::default()
    };
    let app = crate::build(config).await.unwrap();
    let ids: Vec<&str> = subnets.iter().map(|s| s.id.as_str()).collect();
    let net = network(&ids);
    app.store
        .write(move |tx| {
            tx.doc_insert(Resource::Network, &super::super::networks::doc(&net)?)?;
            for s in &subnets {
                tx.doc_insert(Resource::Subnet, &super::super::subnets::doc(s)?)?;
            }
            Ok::<_, ApiError>(())
        })
        .await
        .unwrap();
    (dir, app)
}

/// A port body on the test network.
pub(crate) fn body() -> PortCreate {
    PortCreate::service("p1", NET, "compute:nova", "vm-1")
}

/// Creates a port as the server would, with the given MAC tails to try.
pub(crate) async fn create(app: &Arc<App>, body: PortCreate, tails: Vec<[u8; 3]>) -> Result<Port, ApiError> {
    let app2 = app.clone();
    app.store
        .write(move |tx| {
            let ctx = RequestContext::noauth("p1".into(), app2.rules.clone());
            let net = load_required(tx, Resource::Network, NET)?;
            create_one(tx, &app2, &ctx, &body, &net, "now", &mut tails.into_iter(), Maker::Api)
        })
        .await
}

#[test]
fn a_request_names_a_subnet_an_address_or_both() {
    let (net, subnets) = (network(&[V4]), vec![v4()]);
    let r =
        resolve_requests(&net, &subnets, &[req(Some(V4), None), req(None, Some("10.0.0.9"))], "compute:nova").unwrap();
    assert_eq!((r[0].subnet.id.as_str(), r[0].ip), (V4, None));
    assert_eq!((r[1].subnet.id.as_str(), r[1].ip), (V4, Some(ip("10.0.0.9"))));
    let both = resolve_requests(&net, &subnets, &[req(Some(V4), Some("10.0.0.7"))], "compute:nova").unwrap();
    assert_eq!(both[0].ip, Some(ip("10.0.0.7")));
}

#[test]
fn a_subnet_named_twice_is_asked_twice() {
    let r = resolve_requests(&network(&[V4]), &[v4()], &[req(Some(V4), None), req(Some(V4), None)], "compute:nova")
        .unwrap();
    assert_eq!(r.len(), 2);
}

#[test]
fn requests_that_fit_no_subnet_are_refused() {
    let (net, subnets) = (network(&[V4]), vec![v4()]);
    let refused = |r: FixedIpRequest| resolve_requests(&net, &subnets, &[r], "compute:nova").unwrap_err();
    let e = refused(req(Some(V4_OTHER), None));
    assert_eq!(e.kind, "InvalidInput");
    assert!(e.message.contains(&format!("fixed_ips included invalid subnet {V4_OTHER}")), "{}", e.message);
    assert_eq!(refused(req(None, Some("192.0.2.1"))).kind, "InvalidIpForNetwork");
    assert_eq!(refused(req(Some(V4), Some("192.0.2.1"))).kind, "InvalidIpForSubnet");
    // The network address is not assignable.
    assert_eq!(refused(req(Some(V4), Some("10.0.0.0"))).kind, "InvalidIpForSubnet");
    assert_eq!(
        refused(req(None, None)).message,
        "Invalid input for operation: IP allocation requires subnet_id or ip_address."
    );
}

#[test]
fn defaults_are_the_first_v4_every_slaac_and_one_stateful_v6() {
    let other_v4 = subnet(V4_OTHER, "10.1.0.0/24", ("10.1.0.2", "10.1.0.9"), None);
    let stateful = subnet(STATEFUL_V6, "2001:db8:1::/64", ("2001:db8:1::2", "2001:db8:1::9"), Some("dhcpv6-stateful"));
    let mut stateful2 = stateful.clone();
    stateful2.id = "66666666-6666-4666-8666-666666666666".into();
    let picked: Vec<String> =
        default_requests(&[v4(), other_v4, slaac(), stateful, stateful2]).into_iter().map(|r| r.subnet.id).collect();
    assert_eq!(picked, [V4, SLAAC, STATEFUL_V6]);
}

#[test]
fn a_pair_without_a_mac_takes_the_ports() {
    let pairs = [
        AddressPairRequest { ip_address: "10.0.0.0/24".into(), mac_address: None },
        AddressPairRequest { ip_address: "10.0.0.9".into(), mac_address: Some("fa:16:3e:00:00:09".into()) },
    ];
    let stored = with_port_mac(&pairs, "fa:16:3e:aa:bb:cc");
    assert_eq!(stored[0].mac_address, "fa:16:3e:aa:bb:cc");
    assert_eq!(stored[1].mac_address, "fa:16:3e:00:00:09");
}

#[test]
fn pairs_need_port_security() {
    assert_eq!(security_requirements(false, true).unwrap_err().kind, "AddressPairAndPortSecurityRequired");
    assert!(security_requirements(false, false).is_ok() && security_requirements(true, true).is_ok());
}

#[tokio::test]
async fn a_taken_mac_is_retried_and_running_out_is_a_503() {
    let (_dir, app) = app_with(vec![v4()]).await;
    let first = create(&app, body(), vec![[1, 2, 3]]).await.unwrap();
    let second = create(&app, body(), vec![[1, 2, 3], [4, 5, 6]]).await.unwrap();
    assert_ne!(first.mac_address, second.mac_address);
    assert!(second.mac_address.ends_with(":04:05:06"), "{}", second.mac_address);
    let e = create(&app, body(), vec![[1, 2, 3], [4, 5, 6]]).await.unwrap_err();
    assert_eq!((e.status, e.kind.as_ref()), (503, "MacAddressGenerationFailure"));
}

#[tokio::test]
async fn a_given_mac_in_use_is_a_409() {
    let (_dir, app) = app_with(vec![v4()]).await;
    let first = create(&app, body(), vec![[1, 2, 3]]).await.unwrap();
    let again = PortCreate { mac_address: Some(first.mac_address.clone()), ..body() };
    let e = create(&app, again, vec![]).await.unwrap_err();
    assert_eq!(e, ApiError::mac_address_in_use(NET, &first.mac_address));
}

#[tokio::test]
async fn default_addresses_skip_the_gateway_and_add_slaac() {
    let (_dir, app) = app_with(vec![v4(), slaac()]).await;
    let p = create(&app, body(), vec![[0, 0, 1]]).await.unwrap();
    assert_eq!(p.fixed_ips[0], FixedIp { subnet_id: V4.into(), ip_address: "10.0.0.2".into() });
    let mac = p.mac_address.parse::<MacAddress>().unwrap().octets();
    let eui64 = neutrino_ipam::eui64_address(&"2001:db8::/64".parse().unwrap(), mac).unwrap();
    assert_eq!(p.fixed_ips[1], FixedIp { subnet_id: SLAAC.into(), ip_address: eui64.to_string() });
}

#[tokio::test]
async fn an_address_is_handed_out_once() {
    let (_dir, app) = app_with(vec![v4()]).await;
    let wanted = || PortCreate { fixed_ips: Some(vec![req(None, Some("10.0.0.9"))]), ..body() };
    create(&app, wanted(), vec![[0, 0, 1]]).await.unwrap();
    let e = create(&app, wanted(), vec![[0, 0, 2]]).await.unwrap_err();
    assert_eq!(e, ApiError::ip_address_already_allocated("10.0.0.9", V4));
    // Twice in one request is the same conflict.
    let twice = PortCreate {
        fixed_ips: Some(vec![req(Some(V4), Some("10.0.0.7")), req(Some(V4), Some("10.0.0.7"))]),
        ..body()
    };
    assert_eq!(
        create(&app, twice, vec![[0, 0, 3]]).await.unwrap_err(),
        ApiError::ip_address_already_allocated("10.0.0.7", V4)
    );
}

#[tokio::test]
async fn the_gateway_address_is_not_the_apis_to_give() {
    let (_dir, app) = app_with(vec![v4()]).await;
    let gateway = PortCreate { fixed_ips: Some(vec![req(Some(V4), Some("10.0.0.1"))]), ..body() };
    let e = create(&app, gateway, vec![[0, 0, 1]]).await.unwrap_err();
    assert_eq!(e, ApiError::ip_address_already_allocated("10.0.0.1", V4));
}

#[tokio::test]
async fn a_full_subnet_is_a_generation_failure() {
    let tiny = subnet(V4, "10.0.0.0/29", ("10.0.0.2", "10.0.0.2"), None);
    let (_dir, app) = app_with(vec![tiny]).await;
    create(&app, body(), vec![[0, 0, 1]]).await.unwrap();
    let e = create(&app, body(), vec![[0, 0, 2]]).await.unwrap_err();
    assert_eq!(e, ApiError::ip_address_generation_failure(NET));
}
