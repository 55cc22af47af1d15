//! Bounded inputs: list caps counted before validation, DELETE bodies refused, client-id
//! values that cannot reach dnsmasq's host line as extra fields, and a server that keeps
//! answering while it refuses hostile bodies.

use crate::common::{assert_error, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A network with one IPv4 subnet: (network id, subnet id).
async fn network_with_subnet(s: &TestServer, cidr: &str) -> (String, String) {
    let net = s.network("limits").await;
    let sub = s.subnet(&net, cidr, json!({})).await;
    (net, sub)
}

async fn count(s: &TestServer, collection: &str) -> usize {
    let (st, b) = s.get(&format!("/v2.0/{collection}")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b[collection].as_array().map_or(0, Vec::len)
}

fn assert_message(got: &(StatusCode, Value), message: &str) {
    assert_eq!(got.1["NeutronError"]["message"], message, "body: {}", got.1);
}

fn pairs(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!({"ip_address": format!("10.50.{}.{}", i / 250, i % 250 + 1)})).collect())
}

fn tags(n: usize) -> Value {
    Value::Array((0..n).map(|i| json!(format!("tag-{i}"))).collect())
}

fn dhcp_opts(n: usize) -> Value {
    // Numbered options from 100 on: none of them is the client identifier (61).
    Value::Array((0..n).map(|i| json!({"opt_name": format!("{}", 100 + i), "opt_value": "x"})).collect())
}

/// Point 7: `allowed_address_pairs` beyond `max_allowed_address_pair` (10), on create and on
/// update, with Neutron's error; nothing is written.
#[tokio::test]
async fn address_pairs_beyond_the_maximum_are_refused() {
    let s = TestServer::start().await;
    let (net, _) = network_with_subnet(&s, "10.70.0.0/24").await;
    let got = s.post("/v2.0/ports", json!({"port": {"network_id": net, "allowed_address_pairs": pairs(11)}})).await;
    assert_error(&got, 400, "AllowedAddressPairExhausted");
    assert_message(&got, "The number of allowed address pair exceeds the maximum 10.");
    assert_eq!(count(&s, "ports").await, 0, "the refused port was written");

    let (st, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "allowed_address_pairs": pairs(1)}})).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let id = p["port"]["id"].as_str().expect("id");
    let got = s.put(&format!("/v2.0/ports/{id}"), json!({"port": {"allowed_address_pairs": pairs(11)}})).await;
    assert_error(&got, 400, "AllowedAddressPairExhausted");
    let (_, after) = s.get(&format!("/v2.0/ports/{id}")).await;
    assert_eq!(after["port"]["allowed_address_pairs"], p["port"]["allowed_address_pairs"]);
    assert_eq!(after["port"]["revision_number"], p["port"]["revision_number"]);

    // The cap is the configured one.
    let s = TestServer::start_with(|c| c.max_allowed_address_pair = 2).await;
    let (net, _) = network_with_subnet(&s, "10.70.0.0/24").await;
    let got = s.post("/v2.0/ports", json!({"port": {"network_id": net, "allowed_address_pairs": pairs(3)}})).await;
    assert_message(&got, "The number of allowed address pair exceeds the maximum 2.");
    let (st, b) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "allowed_address_pairs": pairs(2)}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
}

/// Point 7: more than 50 tags in any create body (and through the tags API) is Neutron's
/// `validate_tags_limit` error; a bulk create with one such item writes nothing.
#[tokio::test]
async fn tags_beyond_fifty_are_refused_on_every_create() {
    let s = TestServer::start().await;
    let got = s.post("/v2.0/networks", json!({"network": {"name": "t", "tags": tags(51)}})).await;
    assert_error(&got, 400, "BadRequest");
    assert_message(&got, "Bad networks request: The number of tags exceed the per-resource limit of 50.");
    let got = s
        .post(
            "/v2.0/networks",
            json!({"networks": [{"network": {"name": "ok"}}, {"network": {"name": "t", "tags": tags(51)}}]}),
        )
        .await;
    assert_error(&got, 400, "BadRequest");
    assert_eq!(count(&s, "networks").await, 0, "a refused create wrote a network");

    let (net, _) = network_with_subnet(&s, "10.71.0.0/24").await;
    for (collection, body) in [
        ("ports", json!({"port": {"network_id": net, "tags": tags(51)}})),
        ("security-groups", json!({"security_group": {"name": "g", "tags": tags(51)}})),
        ("routers", json!({"router": {"name": "r", "tags": tags(51)}})),
    ] {
        let got = s.post(&format!("/v2.0/{collection}"), body).await;
        assert_error(&got, 400, "BadRequest");
        let plural = collection.replace('-', "_");
        assert_message(&got, &format!("Bad {plural} request: The number of tags exceed the per-resource limit of 50."));
    }
    assert_eq!(count(&s, "ports").await, 0);
    assert_eq!(count(&s, "routers").await, 0);

    // The tags API: duplicates first (validate_tags), then the limit; nothing changes.
    let path = format!("/v2.0/networks/{net}/tags");
    let got = s.put(&path, json!({"tags": ["a", "b", "a", "b", "c"]})).await;
    assert_error(&got, 400, "InvalidInput");
    assert_message(&got, "Invalid input for operation: Duplicate items in the list: 'a, b'.");
    let got = s.put(&path, json!({"tags": tags(51)})).await;
    assert_error(&got, 400, "BadRequest");
    assert_message(&got, "Bad networks request: The number of tags exceed the per-resource limit of 50.");
    let (_, b) = s.get(&path).await;
    assert_eq!(b["tags"], json!([]));
}

/// Point 7: the other per-request caps (fixed IPs, extra DHCP options, security groups,
/// allocation pools) are counted before the items are looked at; nothing is written.
#[tokio::test]
async fn the_other_list_caps_are_enforced() {
    let s = TestServer::start_with(|c| c.max_security_groups_per_port = 3).await;
    let (net, sub) = network_with_subnet(&s, "10.72.0.0/24").await;
    let fixed: Vec<Value> =
        (0..6).map(|i| json!({"subnet_id": sub, "ip_address": format!("10.72.0.{}", 10 + i)})).collect();
    let got = s.post("/v2.0/ports", json!({"port": {"network_id": net, "fixed_ips": fixed}})).await;
    assert_error(&got, 400, "InvalidInput");
    assert_message(&got, "Invalid input for operation: Exceeded maximum amount of fixed ips per port.");

    let got = s.post("/v2.0/ports", json!({"port": {"network_id": net, "extra_dhcp_opts": dhcp_opts(65)}})).await;
    assert_error(&got, 400, "HTTPBadRequest");
    assert_message(
        &got,
        "Invalid input for extra_dhcp_opts. Reason: The number of extra_dhcp_opts exceeds the maximum 64.",
    );

    let groups: Vec<String> = (0..4).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let got = s.post("/v2.0/ports", json!({"port": {"network_id": net, "security_groups": groups}})).await;
    assert_error(&got, 400, "HTTPBadRequest");
    assert_message(
        &got,
        "Invalid input for security_groups. Reason: The number of security_groups exceeds the maximum 3.",
    );
    assert_eq!(count(&s, "ports").await, 0, "a refused port was written");

    let pools: Vec<Value> =
        (0..65).map(|i| json!({"start": format!("10.73.0.{}", i + 2), "end": format!("10.73.0.{}", i + 2)})).collect();
    let got = s
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.73.0.0/24", "ip_version": 4, "allocation_pools": pools}}),
        )
        .await;
    assert_error(&got, 400, "HTTPBadRequest");
    assert_message(
        &got,
        "Invalid input for allocation_pools. Reason: The number of allocation_pools exceeds the maximum 64.",
    );
    assert_eq!(count(&s, "subnets").await, 1, "the refused subnet was written");

    // A router gateway's external_fixed_ips share the fixed-IP cap.
    let got = s
        .post(
            "/v2.0/routers",
            json!({"router": {"name": "r", "external_gateway_info": {"network_id": net, "external_fixed_ips": fixed}}}),
        )
        .await;
    assert_error(&got, 400, "InvalidInput");
    assert_eq!(count(&s, "routers").await, 0);
}

/// Bodies exactly at every cap are accepted and stored whole.
#[tokio::test]
async fn bodies_at_the_caps_are_accepted() {
    let s = TestServer::start_with(|c| c.max_security_groups_per_port = 3).await;
    let (net, sub) = network_with_subnet(&s, "10.74.0.0/24").await;
    let mut groups = Vec::new();
    for i in 0..3 {
        let (st, g) = s.post("/v2.0/security-groups", json!({"security_group": {"name": format!("g{i}")}})).await;
        assert_eq!(st, StatusCode::CREATED, "{g}");
        groups.push(g["security_group"]["id"].as_str().expect("id").to_string());
    }
    let fixed: Vec<Value> =
        (0..5).map(|i| json!({"subnet_id": sub, "ip_address": format!("10.74.0.{}", 10 + i)})).collect();
    let (st, p) = s
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": fixed, "allowed_address_pairs": pairs(10),
                "tags": tags(50), "extra_dhcp_opts": dhcp_opts(64), "security_groups": groups}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let p = &p["port"];
    assert_eq!(p["fixed_ips"].as_array().map(Vec::len), Some(5));
    assert_eq!(p["allowed_address_pairs"].as_array().map(Vec::len), Some(10));
    assert_eq!(p["tags"].as_array().map(Vec::len), Some(50));
    assert_eq!(p["extra_dhcp_opts"].as_array().map(Vec::len), Some(64));
    assert_eq!(p["security_groups"].as_array().map(Vec::len), Some(3));

    let pools: Vec<Value> = (0..64)
        .map(|i| json!({"start": format!("10.75.0.{}", 2 * i + 2), "end": format!("10.75.0.{}", 2 * i + 2)}))
        .collect();
    let (st, b) = s
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": net, "cidr": "10.75.0.0/24", "ip_version": 4, "allocation_pools": pools}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(b["subnet"]["allocation_pools"].as_array().map(Vec::len), Some(64));

    let (st, b) = s.post("/v2.0/networks", json!({"network": {"name": "t", "tags": tags(50)}})).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let id = b["network"]["id"].as_str().expect("id");
    let (st, b) = s.put(&format!("/v2.0/networks/{id}/tags"), json!({"tags": tags(50)})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
}

/// Sends one raw HTTP/1.1 request and returns the status line's code, or None when the
/// server closed the connection without answering.
async fn raw_request(url: &str, request: &[u8]) -> Option<u16> {
    let addr = url.trim_start_matches("http://");
    let mut conn = tokio::net::TcpStream::connect(addr).await.expect("connect");
    conn.write_all(request).await.expect("write");
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        let mut buf = [0u8; 4096];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
            if answer.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within 10 s");
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Point 8: a DELETE with any body (valid, over the old 1 KiB read limit, or one that cannot
/// be read) is refused with Neutron's 400 and the resource stays.
#[tokio::test]
async fn delete_with_a_body_is_refused_and_nothing_is_deleted() {
    let s = TestServer::start().await;
    let net = s.network("keep").await;
    let path = format!("/v2.0/networks/{net}");
    let big = json!({"pad": "x".repeat(4096)});
    for body in [json!({"network": {}}), big] {
        let got = s.call(Method::DELETE, &path, Some(body)).await;
        assert_error(&got, 400, "HTTPBadRequest");
        assert_message(&got, "Request body is not supported in DELETE.");
        assert_eq!(s.get(&path).await.0, StatusCode::OK, "the network was deleted");
    }

    // A chunked body that breaks off mid-chunk cannot be read: refused, never "no body".
    let host = s.url.trim_start_matches("http://");
    let broken = format!(
        "DELETE {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nzz\r\n{{}}\r\n"
    );
    let status = raw_request(&s.url, broken.as_bytes()).await;
    assert_eq!(status, Some(400), "broken body answered {status:?}");
    // A declared body that is never sent.
    let truncated = format!("DELETE {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n{{\"a\":");
    assert_eq!(raw_request(&s.url, truncated.as_bytes()).await, Some(400));
    assert_eq!(s.get(&path).await.0, StatusCode::OK, "the network was deleted");

    // Tags and their DELETE routes refuse a body the same way.
    let (st, _) = s.put(&format!("{path}/tags/keep-me"), json!(null)).await;
    assert_eq!(st, StatusCode::CREATED);
    for tag_path in [format!("{path}/tags"), format!("{path}/tags/keep-me")] {
        let got = s.call(Method::DELETE, &tag_path, Some(json!({"x": 1}))).await;
        assert_error(&got, 400, "HTTPBadRequest");
    }
    assert_eq!(s.get(&format!("{path}/tags")).await.1["tags"], json!(["keep-me"]));

    // Without a body the delete goes through.
    assert_eq!(s.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&path).await.0, StatusCode::NOT_FOUND);
}

/// The operators' DELETE routes (RBAC policies, quotas, agents) refuse a body the same way
/// and keep what they would have deleted.
#[tokio::test]
async fn operator_delete_routes_refuse_a_body_too() {
    let s = TestServer::start().await;
    let net = s.network("rbac-target").await;
    let (st, b) = s
        .post(
            "/v2.0/rbac-policies",
            json!({"rbac_policy": {"object_type": "network", "object_id": net, "action": "access_as_shared", "target_tenant": "5e4d3c2b1a0f4e9d8c7b6a5f4e3d2c1b"}}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    let rbac = format!("/v2.0/rbac-policies/{}", b["rbac_policy"]["id"].as_str().unwrap());
    let (st, _) = s.put("/v2.0/quotas/p1", json!({"quota": {"network": 7}})).await;
    assert_eq!(st, StatusCode::OK);
    for path in [rbac.as_str(), "/v2.0/quotas/p1"] {
        let got = s.call(Method::DELETE, path, Some(json!({"x": 1}))).await;
        assert_error(&got, 400, "HTTPBadRequest");
        assert_message(&got, "Request body is not supported in DELETE.");
    }
    assert_eq!(s.get(&rbac).await.0, StatusCode::OK, "the RBAC policy was deleted");
    assert_eq!(s.get("/v2.0/quotas/p1").await.1["quota"]["network"], 7, "the quota was reset");
    assert_eq!(s.delete(&rbac).await.0, StatusCode::NO_CONTENT);
}

/// Point 9: a client-id value with a comma (or anything else dnsmasq splits or unquotes on)
/// is refused with 400 on create and update, and the port keeps its options.
#[tokio::test]
async fn client_id_values_cannot_add_host_line_fields() {
    let s = TestServer::start().await;
    let (net, _) = network_with_subnet(&s, "10.76.0.0/24").await;
    for (name, value) in
        [("client-id", "abc,10.76.0.99"), ("61", "id,set:known"), ("client-id", "a b"), ("client-id", "\"a,b\"")]
    {
        let got = s
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": net, "extra_dhcp_opts": [{"opt_name": name, "opt_value": value}]}}),
            )
            .await;
        assert_error(&got, 400, "HTTPBadRequest");
        assert_message(
            &got,
            &format!("Invalid input for extra_dhcp_opts. Reason: '{value}' is not a valid client-id: only printable characters without spaces, commas, quotes or backslashes are allowed."),
        );
    }
    assert_eq!(count(&s, "ports").await, 0, "a refused port was written");

    let good = json!([{"opt_name": "client-id", "opt_value": "01:fa:16:3e:11:22:33", "ip_version": 4}]);
    let (st, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "extra_dhcp_opts": good}})).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let id = p["port"]["id"].as_str().expect("id");
    let got = s
        .put(
            &format!("/v2.0/ports/{id}"),
            json!({"port": {"extra_dhcp_opts": [{"opt_name": "client-id", "opt_value": "x,10.76.0.200"}]}}),
        )
        .await;
    assert_error(&got, 400, "HTTPBadRequest");
    let (_, after) = s.get(&format!("/v2.0/ports/{id}")).await;
    assert_eq!(after["port"]["extra_dhcp_opts"], good);
}

/// Point 7, the flood: hostile bodies just under the 1 MiB cap (30,000 fixed IPs, 50,000 tags,
/// 30,000 address pairs), sent all at once, are all refused quickly, and `GET /` keeps
/// answering meanwhile. Bounded: 6 hostile requests on loopback; the bounds are generous
/// (a debug build on a shared machine, with the rest of the suite running), not a benchmark.
/// Before the caps one 30,000-fixed-IP body took minutes in a debug build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_bodies_are_refused_quickly_while_the_server_answers() {
    let s = TestServer::start().await;
    let (net, _) = network_with_subnet(&s, "10.77.0.0/16").await;
    let fixed: Vec<Value> =
        (0..30_000).map(|i| json!({"ip_address": format!("10.77.{}.{}", i / 250, i % 250 + 1)})).collect();
    let hostile = [
        (json!({"port": {"network_id": net, "fixed_ips": fixed}}).to_string(), "/v2.0/ports", "InvalidInput"),
        (json!({"network": {"name": "t", "tags": tags(50_000)}}).to_string(), "/v2.0/networks", "BadRequest"),
        (
            json!({"port": {"network_id": net, "allowed_address_pairs": pairs(30_000)}}).to_string(),
            "/v2.0/ports",
            "AllowedAddressPairExhausted",
        ),
    ];
    for (body, _, _) in &hostile {
        assert!(body.len() < 1024 * 1024 && body.len() > 400_000, "body of {} bytes", body.len());
    }
    let networks_before = count(&s, "networks").await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let prober = {
        let (http, url, stop) = (s.http.clone(), s.url.clone(), stop.clone());
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut probes = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || probes == 0 {
                let started = Instant::now();
                let res = http.get(format!("{url}/")).send().await.expect("GET /");
                assert_eq!(res.status(), StatusCode::OK);
                worst = worst.max(started.elapsed());
                probes += 1;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            (worst, probes)
        })
    };

    let started = Instant::now();
    let mut sends = Vec::new();
    for round in 0..2 {
        for &(ref body, path, kind) in &hostile {
            let req =
                s.http.post(format!("{}{path}", s.url)).header("content-type", "application/json").body(body.clone());
            sends.push(tokio::spawn(async move {
                let t = Instant::now();
                let res = req.send().await.expect("hostile request");
                let status = res.status();
                let json: Value = res.json().await.expect("error body");
                (round, kind, status, json, t.elapsed())
            }));
        }
    }
    for send in sends {
        let (round, kind, status, json, took) = send.await.expect("task");
        assert_eq!(status, StatusCode::BAD_REQUEST, "round {round}: {json}");
        assert_eq!(json["NeutronError"]["type"], kind, "round {round}: {json}");
        assert!(took < Duration::from_secs(10), "{kind} took {took:?}");
    }
    let all = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (worst, probes) = prober.await.expect("prober");
    eprintln!("flood: {all:?} in all, worst GET / {worst:?} over {probes} probes");
    assert!(
        worst < Duration::from_millis(500),
        "GET / took {worst:?} during the flood ({probes} probes, {all:?} in all)"
    );
    assert_eq!(count(&s, "networks").await, networks_before, "a hostile network was written");
    assert_eq!(count(&s, "ports").await, 0, "a hostile port was written");
}

fn routes(n: usize) -> Value {
    Value::Array(
        (0..n)
            .map(
                |i| json!({"destination": format!("192.168.{i}.0/24"), "nexthop": format!("10.79.0.{}", i % 200 + 10)}),
            )
            .collect(),
    )
}

/// Point 7: a router's `routes` (update and the extra-routes actions) beyond `max_routes` (30)
/// are Neutron's `RoutesExhausted`, counted before any route is checked; the router keeps
/// its routes. Thirty are accepted.
#[tokio::test]
async fn router_routes_beyond_the_maximum_are_refused() {
    let s = TestServer::start().await;
    let (_, sub) = network_with_subnet(&s, "10.79.0.0/24").await;
    let (st, r) = s.post("/v2.0/routers", json!({"router": {"name": "r"}})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let rid = r["router"]["id"].as_str().expect("id").to_string();
    let (st, b) = s.put(&format!("/v2.0/routers/{rid}/add_router_interface"), json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");

    let expected = format!("Unable to complete operation for {rid}. The number of routes exceeds the maximum 30.");
    let got = s.put(&format!("/v2.0/routers/{rid}"), json!({"router": {"routes": routes(31)}})).await;
    assert_error(&got, 400, "RoutesExhausted");
    assert_message(&got, &expected);
    for action in ["add_extraroutes", "remove_extraroutes"] {
        let got = s.put(&format!("/v2.0/routers/{rid}/{action}"), json!({"router": {"routes": routes(31)}})).await;
        assert_error(&got, 400, "RoutesExhausted");
        assert_message(&got, &expected);
    }
    let (_, after) = s.get(&format!("/v2.0/routers/{rid}")).await;
    assert_eq!(after["router"]["routes"], json!([]));

    let (st, b) = s.put(&format!("/v2.0/routers/{rid}"), json!({"router": {"routes": routes(30)}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["router"]["routes"].as_array().map(Vec::len), Some(30));

    // add_extraroutes counts the router's whole list: one more on a full router is refused.
    let extra = json!({"router": {"routes": [{"destination": "172.31.0.0/24", "nexthop": "10.79.0.9"}]}});
    let got = s.put(&format!("/v2.0/routers/{rid}/add_extraroutes"), extra).await;
    assert_error(&got, 400, "RoutesExhausted");
    assert_message(&got, &expected);
    let (_, after) = s.get(&format!("/v2.0/routers/{rid}")).await;
    assert_eq!(after["router"]["routes"].as_array().map(Vec::len), Some(30));
}

/// The body cap holds without a `Content-Length` (chunked bodies are counted as they arrive:
/// 413), and a body that cannot be read is a 400, not a 413; nothing is written.
#[tokio::test]
async fn chunked_bodies_are_capped_and_unreadable_ones_refused() {
    let s = TestServer::start_with(|c| c.max_request_body_bytes = 1024).await;
    let host = s.url.trim_start_matches("http://").to_string();
    let head = format!(
        "POST /v2.0/networks HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
    );
    let body = json!({"network": {"name": "x".repeat(1500)}}).to_string();
    let oversized = format!("{head}{:x}\r\n{body}\r\n0\r\n\r\n", body.len());
    assert_eq!(raw_request(&s.url, oversized.as_bytes()).await, Some(413));
    let broken = format!("{head}zz\r\n{{}}\r\n");
    assert_eq!(raw_request(&s.url, broken.as_bytes()).await, Some(400));
    let small = json!({"network": {"name": "ok"}}).to_string();
    let fine = format!("{head}{:x}\r\n{small}\r\n0\r\n\r\n", small.len());
    assert_eq!(raw_request(&s.url, fine.as_bytes()).await, Some(201));
    let (_, list) = s.get("/v2.0/networks").await;
    let names: Vec<&str> =
        list["networks"].as_array().into_iter().flatten().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["ok"]);
}
