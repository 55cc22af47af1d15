//! Servers on PostgreSQL (`database_url`): several of them on one database hand out each
//! address once and never overshoot a quota, as one server on SQLite does. Skipped (with the reason printed) where
//! PostgreSQL is not installed, except under `CI`.

use crate::common::TestServer;
use futures::StreamExt;
use neutrino_store::postgres::testing::TestCluster;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::collections::HashSet;

/// 40 creates at concurrency 16, split across two servers on one database, on a subnet with
/// 8 free addresses: exactly 8 win, the rest get 409, no address twice, and both servers
/// list the same 8 ports.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_on_one_database_never_share_an_address() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let url = cluster.url();
    let a = TestServer::start_with(|c| c.database_url = url.clone()).await;
    let b = TestServer::start_with(|c| c.database_url = url.clone()).await;
    let net = a.network("race").await;
    a.subnet(&net, "10.7.0.0/24", json!({"allocation_pools": [{"start": "10.7.0.10", "end": "10.7.0.17"}]})).await;
    let body = json!({"port": {"network_id": net}});
    let creates =
        (0..40).map(
            |i| if i % 2 == 0 { a.post("/v2.0/ports", body.clone()) } else { b.post("/v2.0/ports", body.clone()) },
        );
    let mut results = Vec::new();
    let mut pending = futures::stream::iter(creates).buffer_unordered(16);
    while let Some(r) = pending.next().await {
        results.push(r);
    }
    let mut ips = HashSet::new();
    let mut conflicts = 0;
    for (st, body) in &results {
        match st.as_u16() {
            201 => assert!(ips.insert(body["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string())),
            409 => {
                assert_eq!(body["NeutronError"]["type"], "IpAddressGenerationFailure", "{body}");
                conflicts += 1;
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!((ips.len(), conflicts), (8, 32));
    for server in [&a, &b] {
        let (_, list) = server.get(&format!("/v2.0/ports?network_id={net}")).await;
        assert_eq!(list["ports"].as_array().unwrap().len(), 8);
    }
}

/// What a burst of creates came to: the addresses handed out and the 409s by type.
#[derive(Debug, Default)]
struct Burst {
    ips: HashSet<String>,
    no_address: usize,
    over_quota: usize,
}

/// `n` port creates in `project`'s network `net`, at concurrency 16, alternating between
/// `servers`; panics on an address handed out twice or an answer other than 201/409.
async fn burst(servers: [&TestServer; 2], project: &str, net: &str, n: usize) -> Burst {
    let headers = [("X-Project-Id", project)];
    let creates = (0..n).map(|i| {
        let body = json!({"port": {"network_id": net, "name": format!("p-{i}")}});
        servers[i % 2].call_with(Method::POST, "/v2.0/ports", Some(body), &headers)
    });
    let mut pending = futures::stream::iter(creates).buffer_unordered(16);
    let mut out = Burst::default();
    while let Some((st, body)) = pending.next().await {
        match (st.as_u16(), body["NeutronError"]["type"].as_str()) {
            (201, _) => {
                let ip = body["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap().to_string();
                assert!(out.ips.insert(ip), "an address handed out twice: {body}");
            }
            (409, Some("IpAddressGenerationFailure")) => out.no_address += 1,
            (409, Some("OverQuota")) => out.over_quota += 1,
            (other, _) => panic!("unexpected {other}: {body}"),
        }
    }
    out
}

/// A network of `project` with two subnets of 200 and 100 free addresses; its id.
async fn network_of_300(s: &TestServer, project: &str, third_octet: u8) -> String {
    let h = [("X-Project-Id", project)];
    let (st, b) = s.call_with(Method::POST, "/v2.0/networks", Some(json!({"network": {"name": project}})), &h).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let net = b["network"]["id"].as_str().unwrap().to_string();
    for (octet, last) in [(third_octet, 209), (third_octet + 1, 109)] {
        let pool = json!([{"start": format!("10.8.{octet}.10"), "end": format!("10.8.{octet}.{last}")}]);
        let subnet = json!({"subnet": {"network_id": net, "cidr": format!("10.8.{octet}.0/24"), "ip_version": 4,
            "allocation_pools": pool}});
        let (st, b) = s.call_with(Method::POST, "/v2.0/subnets", Some(subnet), &h).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
    net
}

/// The number of ports on `net`, as `server` lists them.
async fn ports_on(server: &TestServer, net: &str) -> usize {
    let (st, list) = server.get(&format!("/v2.0/ports?network_id={net}")).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    list["ports"].as_array().unwrap().len()
}

/// 1000 creates at concurrency 16 split across two servers on one database, on subnets
/// with 300 free addresses: exactly 300 win, exactly 700 get IpAddressGenerationFailure,
/// no address twice. Then 1000 more in a project whose port quota (250) is below its 300
/// free addresses: exactly 250 win, 750 get OverQuota, and the quota is never overshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_creates_on_two_servers_stay_exact() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let url = cluster.url();
    let a = TestServer::start_with(|c| c.database_url = url.clone()).await;
    let b = TestServer::start_with(|c| c.database_url = url.clone()).await;

    let net = network_of_300(&a, "p-addresses", 0).await;
    let got = burst([&a, &b], "p-addresses", &net, 1000).await;
    assert_eq!((got.ips.len(), got.no_address, got.over_quota), (300, 700, 0), "{got:?}");
    for server in [&a, &b] {
        assert_eq!(ports_on(server, &net).await, 300);
    }

    let (st, body) = b.put("/v2.0/quotas/p-quota", json!({"quota": {"port": 250}})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    let net = network_of_300(&b, "p-quota", 2).await;
    let got = burst([&a, &b], "p-quota", &net, 1000).await;
    assert_eq!((got.ips.len(), got.no_address, got.over_quota), (250, 0, 750), "{got:?}");
    for server in [&a, &b] {
        assert_eq!(ports_on(server, &net).await, 250);
        let (_, details) = server.get("/v2.0/quotas/p-quota/details").await;
        assert_eq!(details["quota"]["port"]["used"], 250, "{details}");
    }
}
