use crate::common::{assert_error, TestServer};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn names(body: &Value, key: &str) -> Vec<String> {
    body[key].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap_or("").to_string()).collect()
}

#[tokio::test]
async fn filters_fields_and_sorting() {
    let s = TestServer::start().await;
    for (name, up) in [("b", true), ("a", false), ("c", true)] {
        s.post("/v2.0/networks", json!({"network": {"name": name, "admin_state_up": up}})).await;
    }
    let (_, b) = s.get("/v2.0/networks?name=a&name=c").await;
    let mut got = names(&b, "networks");
    got.sort();
    assert_eq!(got, ["a", "c"]);
    let (_, b) = s.get("/v2.0/networks?admin_state_up=True&name=a").await;
    assert_eq!(names(&b, "networks").len(), 0);
    let (_, b) = s.get("/v2.0/networks?admin_state_up=false").await;
    assert_eq!(names(&b, "networks"), ["a"]);
    let (_, b) = s.get("/v2.0/networks?sort_key=name&sort_dir=desc").await;
    assert_eq!(names(&b, "networks"), ["c", "b", "a"]);
    let (_, b) = s.get("/v2.0/networks?fields=id&fields=name&sort_key=name&sort_dir=asc").await;
    let first = b["networks"][0].as_object().unwrap();
    assert_eq!(first.len(), 2);
    assert!(first.contains_key("id") && first.contains_key("name"));
    let id = b["networks"][0]["id"].as_str().unwrap();
    let (_, one) = s.get(&format!("/v2.0/networks/{id}?fields=name")).await;
    assert_eq!(one["network"], json!({"name": "a"}));
    assert_error(&s.get("/v2.0/networks?bogus=1").await, 400, "HTTPBadRequest");
    assert_error(&s.get("/v2.0/networks?sort_key=subnets&sort_dir=asc").await, 400, "HTTPBadRequest");
    assert_error(&s.get("/v2.0/networks?sort_key=name").await, 400, "HTTPBadRequest");
    assert_error(&s.get("/v2.0/networks?limit=x").await, 400, "BadRequest");
}

#[tokio::test]
async fn pagination_links_walk_everything() {
    let s = TestServer::start().await;
    for i in 0..7 {
        s.post("/v2.0/networks", json!({"network": {"name": format!("n{i}")}})).await;
    }
    let mut seen = Vec::new();
    let mut path = "/v2.0/networks?limit=3&sort_key=name&sort_dir=asc".to_string();
    loop {
        let (st, b) = s.get(&path).await;
        assert_eq!(st, StatusCode::OK);
        let page = names(&b, "networks");
        seen.extend(page.clone());
        let links = b["networks_links"].as_array().unwrap();
        let next = links.iter().find(|l| l["rel"] == "next");
        match next {
            Some(l) if page.len() == 3 => {
                let href = l["href"].as_str().unwrap();
                path = href.strip_prefix(&s.url).unwrap().to_string();
            }
            _ => break,
        }
    }
    assert_eq!(seen, (0..7).map(|i| format!("n{i}")).collect::<Vec<_>>());
    // Back from the end.
    let (_, all) = s.get("/v2.0/networks?sort_key=name&sort_dir=asc").await;
    let marker = all["networks"][5]["id"].as_str().unwrap();
    let (_, back) =
        s.get(&format!("/v2.0/networks?limit=2&sort_key=name&sort_dir=asc&marker={marker}&page_reverse=True")).await;
    assert_eq!(names(&back, "networks"), ["n3", "n4"]);
    assert_error(
        &s.get("/v2.0/networks?limit=2&marker=6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f").await,
        404,
        "NetworkNotFound",
    );
}

#[tokio::test]
async fn port_filters_by_fixed_ip_device_and_tags() {
    let s = TestServer::start().await;
    let net = s.network("n").await;
    let sub = s.subnet(&net, "10.8.0.0/24", json!({})).await;
    let (_, p) = s
        .post("/v2.0/ports", json!({"port": {"network_id": net, "name": "vm", "device_id": "dev-1", "tags": ["x"]}}))
        .await;
    s.post("/v2.0/ports", json!({"port": {"network_id": net, "name": "other"}})).await;
    let ip = p["port"]["fixed_ips"][0]["ip_address"].as_str().unwrap();
    let (_, b) = s.get(&format!("/v2.0/ports?fixed_ips=ip_address%3D{ip}&fixed_ips=subnet_id%3D{sub}")).await;
    assert_eq!(names(&b, "ports"), ["vm"]);
    let (_, b) = s.get("/v2.0/ports?device_id=dev-1").await;
    assert_eq!(names(&b, "ports"), ["vm"]);
    let (_, b) = s.get("/v2.0/ports?device_id=").await;
    assert_eq!(names(&b, "ports"), ["other"]);
    let (_, b) = s.get("/v2.0/ports?tags=x").await;
    assert_eq!(names(&b, "ports"), ["vm"]);
    let (_, b) = s.get("/v2.0/ports?not-tags=x").await;
    assert_eq!(names(&b, "ports"), ["other"]);
    let (_, b) = s.get(&format!("/v2.0/ports?network_id={net}&fields=id&fields=fixed_ips")).await;
    assert_eq!(b["ports"].as_array().unwrap().len(), 2);
    assert_eq!(b["ports"][0].as_object().unwrap().len(), 2);
}
