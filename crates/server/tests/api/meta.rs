use crate::common::{assert_error, TestServer};
use reqwest::StatusCode;

#[tokio::test]
async fn version_document_and_resource_index() {
    let s = TestServer::start().await;
    let (st, body) = s.get("/").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["versions"][0]["id"], "v2.0");
    assert_eq!(body["versions"][0]["status"], "CURRENT");
    assert!(body["versions"][0]["links"][0]["href"].as_str().unwrap().ends_with("/v2.0/"));
    let (st, body) = s.get("/v2.0/").await;
    assert_eq!(st, StatusCode::OK);
    let names: Vec<_> =
        body["resources"].as_array().unwrap().iter().map(|r| r["collection"].as_str().unwrap().to_string()).collect();
    assert_eq!(names, ["networks", "subnets", "ports"]);
}

#[tokio::test]
async fn extensions_list_and_show_agree() {
    let s = TestServer::start().await;
    let (st, list) = s.get("/v2.0/extensions").await;
    assert_eq!(st, StatusCode::OK);
    let exts = list["extensions"].as_array().unwrap();
    assert!(exts.iter().any(|e| e["alias"] == "provider"));
    for ext in exts {
        let alias = ext["alias"].as_str().unwrap();
        let (st, one) = s.get(&format!("/v2.0/extensions/{alias}")).await;
        assert_eq!(st, StatusCode::OK);
        assert_eq!(&one["extension"], ext);
    }
    assert_error(&s.get("/v2.0/extensions/multi-provider").await, 404, "HTTPNotFound");
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let s = TestServer::start().await;
    assert_error(&s.get("/v2.0/bogus").await, 404, "HTTPNotFound");
    assert_error(&s.get("/v2.0/networks/not-a-uuid").await, 404, "NetworkNotFound");
    assert_error(&s.call(reqwest::Method::PATCH, "/v2.0/networks", None).await, 405, "HTTPMethodNotAllowed");
    let (st, _) = s.get("/v2.0/networks.json").await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn bodies_over_the_limit_are_refused() {
    let s = TestServer::start_with(|c| c.max_request_body_bytes = 1024).await;
    let big = "x".repeat(4096);
    let got = s.post("/v2.0/networks", serde_json::json!({"network": {"name": big}})).await;
    assert_error(&got, 413, "HTTPRequestEntityTooLarge");
    let (_, list) = s.get("/v2.0/networks").await;
    assert_eq!(list["networks"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn malformed_bodies_are_400() {
    let s = TestServer::start().await;
    let res = s.http.post(format!("{}/v2.0/networks", s.url)).body("{not json").send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert_error(&s.post("/v2.0/networks", serde_json::json!({"net": {}})).await, 400, "HTTPBadRequest");
    assert_error(&s.post("/v2.0/networks", serde_json::json!({"network": "x"})).await, 400, "HTTPBadRequest");
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let s = TestServer::start().await;
    for path in ["/", "/v2.0/networks", "/v2.0/bogus"] {
        let res = s.http.get(format!("{}{path}", s.url)).send().await.unwrap();
        let id = res.headers().get("x-openstack-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(id.starts_with("req-") && id.len() == 40, "{path}: {id:?}");
    }
}

#[tokio::test]
async fn agents_and_zones_have_their_shapes() {
    let s = TestServer::start().await;
    let (st, a) = s.get("/v2.0/agents").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(a, serde_json::json!({"agents": []}));
    assert_error(&s.get("/v2.0/agents/6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f").await, 404, "AgentNotFound");
    let (st, z) = s.get("/v2.0/availability_zones").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(z, serde_json::json!({"availability_zones": []}));
    let (_, ext) = s.get("/v2.0/extensions/Availability%20Zone").await;
    assert!(ext.get("extension").is_none(), "looked up by alias, not name");
}
