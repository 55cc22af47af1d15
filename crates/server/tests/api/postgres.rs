//! Servers on PostgreSQL (`database_url`): several of them on one database hand out each
//! address once, as one server on SQLite does. Skipped (with the reason printed) where
//! PostgreSQL is not installed, except under `CI`.

use crate::common::TestServer;
use futures::StreamExt;
use neutrino_store::postgres::testing::TestCluster;
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
