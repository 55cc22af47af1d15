use crate::common::{assert_error, TestServer};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn create_show_update_delete() {
    let s = TestServer::start().await;
    let (st, body) = s.post("/v2.0/networks", json!({"network": {"name": "net1", "description": "d"}})).await;
    assert_eq!(st, StatusCode::CREATED);
    let n = &body["network"];
    assert_eq!(n["name"], "net1");
    assert_eq!(n["admin_state_up"], true);
    assert_eq!(n["status"], "ACTIVE");
    assert_eq!(n["shared"], false);
    assert_eq!(n["router:external"], false);
    assert_eq!(n["mtu"], 1450);
    assert_eq!(n["provider:network_type"], "vxlan");
    assert_eq!(n["provider:segmentation_id"], 1);
    assert_eq!(n["subnets"], json!([]));
    assert_eq!(n["revision_number"], 0);
    assert_eq!(n["project_id"], n["tenant_id"]);
    assert!(n["created_at"].as_str().unwrap().ends_with('Z'));
    let id = n["id"].as_str().unwrap();

    let (st, shown) = s.get(&format!("/v2.0/networks/{id}")).await;
    assert_eq!(st, StatusCode::OK);
    // Neutron's create answer shows the `is_default` asked for (auto-allocated-topology);
    // an internal network's later answers have none.
    let mut created = n.clone();
    assert_eq!(created.as_object_mut().unwrap().remove("is_default"), Some(json!(false)));
    assert_eq!(shown["network"], created);

    let (st, upd) = s.put(&format!("/v2.0/networks/{id}"), json!({"network": {"name": "renamed", "mtu": 1400}})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(upd["network"]["name"], "renamed");
    assert_eq!(upd["network"]["mtu"], 1400);
    assert_eq!(upd["network"]["revision_number"], 1);

    assert_error(&s.put(&format!("/v2.0/networks/{id}"), json!({"network": {"mtu": 9000}})).await, 400, "InvalidInput");
    assert_error(
        &s.put(&format!("/v2.0/networks/{id}"), json!({"network": {"status": "DOWN"}})).await,
        400,
        "HTTPBadRequest",
    );
    assert_error(
        &s.put(&format!("/v2.0/networks/{id}"), json!({"network": {"provider:segmentation_id": 77}})).await,
        400,
        "InvalidInput",
    );

    let (st, _) = s.delete(&format!("/v2.0/networks/{id}")).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("/v2.0/networks/{id}")).await, 404, "NetworkNotFound");
    assert_error(&s.delete(&format!("/v2.0/networks/{id}")).await, 404, "NetworkNotFound");
}

#[tokio::test]
async fn segments_are_never_allocated_twice() {
    let s = TestServer::start().await;
    let mut vnis = Vec::new();
    for i in 0..5 {
        let (_, b) = s.post("/v2.0/networks", json!({"network": {"name": format!("n{i}")}})).await;
        vnis.push(b["network"]["provider:segmentation_id"].as_u64().unwrap());
    }
    let mut dedup = vnis.clone();
    dedup.sort();
    dedup.dedup();
    assert_eq!(dedup.len(), vnis.len());

    let body = json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 5000}});
    assert_eq!(s.post("/v2.0/networks", body.clone()).await.0, StatusCode::CREATED);
    assert_error(&s.post("/v2.0/networks", body).await, 409, "TunnelIdInUse");

    let vlan = json!({"network": {"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 101}});
    let (st, b) = s.post("/v2.0/networks", vlan.clone()).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(b["network"]["mtu"], 1500);
    assert_error(&s.post("/v2.0/networks", vlan).await, 409, "VlanIdInUse");

    let flat = json!({"network": {"provider:network_type": "flat", "provider:physical_network": "ext"}});
    let (st, b) = s.post("/v2.0/networks", flat.clone()).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(b["network"]["provider:segmentation_id"], serde_json::Value::Null);
    assert_error(&s.post("/v2.0/networks", flat).await, 409, "FlatNetworkInUse");
    assert_error(
        &s.post("/v2.0/networks", json!({"network": {"provider:network_type": "vlan"}})).await,
        400,
        "InvalidInput",
    );

    // Deleting frees the id for reuse.
    let (_, list) = s.get("/v2.0/networks?provider:segmentation_id=5000").await;
    let id = list["networks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(s.delete(&format!("/v2.0/networks/{id}")).await.0, StatusCode::NO_CONTENT);
    let again = json!({"network": {"provider:network_type": "vxlan", "provider:segmentation_id": 5000}});
    assert_eq!(s.post("/v2.0/networks", again).await.0, StatusCode::CREATED);
}

#[tokio::test]
async fn bulk_create_is_atomic() {
    let s = TestServer::start().await;
    let (st, b) = s.post("/v2.0/networks", json!({"networks": [{"name": "a"}, {"name": "b"}]})).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(b["networks"].as_array().unwrap().len(), 2);
    // The second item takes a VNI the first one already holds: nothing of the request stays.
    let bad = json!({"networks": [{"name": "c", "provider:network_type": "vxlan", "provider:segmentation_id": 900}, {"name": "d", "provider:network_type": "vxlan", "provider:segmentation_id": 900}]});
    assert_error(&s.post("/v2.0/networks", bad).await, 409, "TunnelIdInUse");
    let (_, list) = s.get("/v2.0/networks").await;
    let names: Vec<_> =
        list["networks"].as_array().unwrap().iter().map(|n| n["name"].as_str().unwrap().to_string()).collect();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(!names.contains(&"c".to_string()));
    // A validation error in any item rejects the whole request before anything is written.
    assert_error(
        &s.post("/v2.0/networks", json!({"networks": [{"name": "e"}, {"bogus": 1}]})).await,
        400,
        "HTTPBadRequest",
    );
    let (_, list) = s.get("/v2.0/networks").await;
    assert_eq!(list["networks"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn invalid_inputs_are_400() {
    let s = TestServer::start().await;
    assert_error(&s.post("/v2.0/networks", json!({"network": {"bogus": true}})).await, 400, "HTTPBadRequest");
    assert_error(&s.post("/v2.0/networks", json!({"network": {"admin_state_up": "maybe"}})).await, 400, "InvalidInput");
    assert_error(&s.post("/v2.0/networks", json!({"network": {"name": "x".repeat(256)}})).await, 400, "HTTPBadRequest");
    assert_error(&s.post("/v2.0/networks", json!({"network": {"id": "abc"}})).await, 400, "HTTPBadRequest");
    assert_error(
        &s.post("/v2.0/networks", json!({"network": {"tenant_id": "a", "project_id": "b"}})).await,
        400,
        "HTTPBadRequest",
    );
}

#[tokio::test]
async fn revision_and_if_match() {
    let s = TestServer::start().await;
    let id = s.network("r").await;
    let path = format!("/v2.0/networks/{id}");
    let stale = s
        .call_with(
            reqwest::Method::PUT,
            &path,
            Some(json!({"network": {"name": "x"}})),
            &[("If-Match", "revision_number=5")],
        )
        .await;
    assert_error(&stale, 412, "RevisionNumberConstraintFailed");
    let (_, after) = s.get(&path).await;
    assert_eq!(after["network"]["name"], "r", "a failed precondition changes nothing");
    let ok = s
        .call_with(
            reqwest::Method::PUT,
            &path,
            Some(json!({"network": {"name": "x"}})),
            &[("If-Match", "revision_number=0")],
        )
        .await;
    assert_eq!(ok.0, StatusCode::OK);
    assert_eq!(ok.1["network"]["revision_number"], 1);
    let bad = s
        .call_with(
            reqwest::Method::PUT,
            &path,
            Some(json!({"network": {"name": "y"}})),
            &[("If-Match", "revision_number=abc")],
        )
        .await;
    assert_error(&bad, 400, "BadRequest");
    let del = s.call_with(reqwest::Method::DELETE, &path, None, &[("If-Match", "revision_number=0")]).await;
    assert_error(&del, 412, "RevisionNumberConstraintFailed");
    let del = s.call_with(reqwest::Method::DELETE, &path, None, &[("If-Match", "revision_number=1")]).await;
    assert_eq!(del.0, StatusCode::NO_CONTENT);
}

/// The etag forms Neutron (webob, then Python's `int()`) accepts: a stale `-1` is a 412 with
/// the number as given, quoted etags are read, weak ones ignored.
#[tokio::test]
async fn if_match_takes_neutrons_etag_forms() {
    let s = TestServer::start().await;
    let id = s.network("r").await;
    let path = format!("/v2.0/networks/{id}");
    let put = |etag: &'static str| {
        let path = path.clone();
        let s = &s;
        async move {
            s.call_with(reqwest::Method::PUT, &path, Some(json!({"network": {"name": "x"}})), &[("If-Match", etag)])
                .await
        }
    };
    let stale = put("revision_number=-1").await;
    assert_error(&stale, 412, "RevisionNumberConstraintFailed");
    assert_eq!(stale.1["NeutronError"]["message"], "Constrained to -1, but current revision is 0");
    assert_error(&put("\"revision_number=7\"").await, 412, "RevisionNumberConstraintFailed");
    let ok = put("W/\"revision_number=9\", \"revision_number=0\"").await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    let ok = put("revision_number=+0_1").await;
    assert_eq!(ok.0, StatusCode::OK, "{}", ok.1);
    assert_eq!(ok.1["network"]["revision_number"], 2);
    let twice = put("\"revision_number=2\", \"revision_number=2\"").await;
    assert_error(&twice, 400, "BadRequest");
    assert_eq!(
        twice.1["NeutronError"]["message"],
        "Bad if-match request: Multiple revision_number etags are not supported.."
    );
}

#[tokio::test]
async fn tags_sub_resource() {
    let s = TestServer::start().await;
    let id = s.network("t").await;
    let base = format!("/v2.0/networks/{id}/tags");
    let (st, b) = s.put(&base, json!({"tags": ["foo", "bar"]})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(b["tags"], json!(["bar", "foo"]));
    let (st, _) = s.call(reqwest::Method::PUT, &format!("{base}/baz"), None).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(s.get(&format!("{base}/baz")).await.0, StatusCode::NO_CONTENT);
    assert_error(&s.get(&format!("{base}/nope")).await, 404, "TagNotFound");
    assert_eq!(s.delete(&format!("{base}/baz")).await.0, StatusCode::NO_CONTENT);
    assert_error(&s.delete(&format!("{base}/baz")).await, 404, "TagNotFound");
    let (_, n) = s.get(&format!("/v2.0/networks/{id}")).await;
    assert_eq!(n["network"]["tags"], json!(["bar", "foo"]));
    assert_eq!(n["network"]["revision_number"], 3);
    assert_eq!(s.delete(&base).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&base).await.1["tags"], json!([]));
    let too_many: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
    assert_error(&s.put(&base, json!({"tags": too_many})).await, 400, "BadRequest");
    // One more tag through `PUT .../tags/{tag}` on a full list: the same error, nothing kept.
    let fifty: Vec<String> = (0..50).map(|i| format!("t{i}")).collect();
    assert_eq!(s.put(&base, json!({"tags": fifty})).await.0, StatusCode::OK);
    let over = s.call(reqwest::Method::PUT, &format!("{base}/one-more"), None).await;
    assert_error(&over, 400, "BadRequest");
    assert!(over.1["NeutronError"]["message"].as_str().unwrap().contains("per-resource limit of 50"), "{}", over.1);
    assert_eq!(s.get(&base).await.1["tags"].as_array().map(Vec::len), Some(50));
    assert_error(&s.get(&format!("/v2.0/networks/{}/tags", uuid_like())).await, 404, "NetworkNotFound");
}

/// `tag-creation`: `POST .../tags` adds the tags not there yet and answers with those asked
/// for; routers' tags are reached like any other resource's.
#[tokio::test]
async fn tags_created_in_bulk_and_on_routers() {
    let s = TestServer::start().await;
    let id = s.network("t").await;
    let base = format!("/v2.0/networks/{id}/tags");
    assert_eq!(s.put(&base, json!({"tags": ["red"]})).await.0, StatusCode::OK);
    let (st, b) = s.post(&base, json!({"tags": ["red", "blue"]})).await;
    assert_eq!((st, &b), (StatusCode::CREATED, &json!({"tags": ["red", "blue"]})));
    assert_eq!(s.get(&base).await.1["tags"], json!(["blue", "red"]));
    assert_error(&s.post(&base, json!({"tags": ["a", "a"]})).await, 400, "InvalidInput");
    let (_, r) = s.post("/v2.0/routers", json!({"router": {"name": "r"}})).await;
    let router = r["router"]["id"].as_str().unwrap();
    let rbase = format!("/v2.0/routers/{router}/tags");
    let (st, b) = s.put(&rbase, json!({"tags": ["x", "y"]})).await;
    assert_eq!((st, &b["tags"]), (StatusCode::OK, &json!(["x", "y"])), "{b}");
    assert_eq!(s.call(reqwest::Method::PUT, &format!("{rbase}/z"), None).await.0, StatusCode::CREATED);
    assert_eq!(s.post(&rbase, json!({"tags": ["w"]})).await.0, StatusCode::CREATED);
    assert_eq!(s.get(&format!("{rbase}/w")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.delete(&format!("{rbase}/w")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&rbase).await.1["tags"], json!(["x", "y", "z"]));
    assert_eq!(s.get(&format!("/v2.0/routers/{router}")).await.1["router"]["tags"], json!(["x", "y", "z"]));
    assert_eq!(s.delete(&rbase).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.get(&rbase).await.1["tags"], json!([]));
    let ext = s.get("/v2.0/extensions/tag-creation").await;
    assert_eq!(ext.1["extension"]["updated"], "2024-23-07T10:00:00-00:00", "{}", ext.1);
}

fn uuid_like() -> &'static str {
    "6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f"
}

/// A network is created with an MTU too small for IP (ML2 takes any value up to the
/// segment's largest); its first IPv4 subnet is then refused with 409.
#[tokio::test]
async fn a_network_below_the_ipv4_minimum_refuses_subnets() {
    let s = TestServer::start().await;
    let (st, b) = s.post("/v2.0/networks", json!({"network": {"name": "small", "mtu": 67}})).await;
    assert_eq!((st, &b["network"]["mtu"]), (StatusCode::CREATED, &json!(67)), "{b}");
    let id = b["network"]["id"].as_str().unwrap();
    let got =
        s.post("/v2.0/subnets", json!({"subnet": {"network_id": id, "cidr": "10.0.0.0/24", "ip_version": 4}})).await;
    assert_error(&got, 409, "NetworkMTUSubnetConflict");
    assert_eq!(s.get(&format!("/v2.0/networks/{id}")).await.1["network"]["subnets"], json!([]));
    let big = s.post("/v2.0/networks", json!({"network": {"name": "big", "mtu": 9001}})).await;
    assert_error(&big, 400, "InvalidInput");
    assert_eq!(
        big.1["NeutronError"]["message"],
        "Invalid input for operation: Requested MTU is too big, maximum is 1450."
    );
}

/// Neutron's MTU bounds (`_validate_change_network_mtu`, `_validate_subnet_network_mtu`):
/// at least 68, at least 1280 with an IPv6 subnet; nothing is written when refused.
#[tokio::test]
async fn mtu_keeps_the_ip_minimums() {
    let s = TestServer::start().await;
    let id = s.network("mtu").await;
    let path = format!("/v2.0/networks/{id}");
    // Without subnets any MTU is taken (as ML2 does); the first subnet is refused then.
    let (st, b) = s.put(&path, json!({"network": {"mtu": 1}})).await;
    assert_eq!((st, &b["network"]["mtu"]), (StatusCode::OK, &json!(1)), "{b}");
    let got =
        s.post("/v2.0/subnets", json!({"subnet": {"network_id": id, "cidr": "10.67.0.0/24", "ip_version": 4}})).await;
    assert_error(&got, 409, "NetworkMTUSubnetConflict");
    assert_eq!(got.1["NeutronError"]["message"], format!("MTU of {id} is not valid, subnet requires a minimum of 68"));
    // IPv4 subnets work from 68 up.
    let (st, b) = s.put(&path, json!({"network": {"mtu": 68}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.subnet(&id, "10.68.0.0/24", json!({})).await;
    // An IPv6 subnet needs 1280, on create as on update.
    let got = s
        .post("/v2.0/subnets", json!({"subnet": {"network_id": id, "cidr": "2001:db8:68::/64", "ip_version": 6}}))
        .await;
    assert_error(&got, 409, "NetworkMTUSubnetConflict");
    assert_eq!(
        got.1["NeutronError"]["message"],
        format!("MTU of {id} is not valid, subnet requires a minimum of 1280")
    );
    assert_eq!(s.get(&path).await.1["network"]["subnets"].as_array().map(Vec::len), Some(1));
    assert_error(&s.put(&path, json!({"network": {"mtu": 67}})).await, 409, "NetworkMTUSubnetConflict");
    assert_eq!(s.get(&path).await.1["network"]["mtu"], 68);
    let (st, b) = s.put(&path, json!({"network": {"mtu": 1280}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    s.subnet(&id, "2001:db8:68::/64", json!({})).await;
    assert_error(&s.put(&path, json!({"network": {"mtu": 1279}})).await, 409, "NetworkMTUSubnetConflict");
    assert_eq!(s.get(&path).await.1["network"]["mtu"], 1280);
    // 0 means the segment's maximum.
    let (st, b) = s.put(&path, json!({"network": {"mtu": 0}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["network"]["mtu"], 1450);
}

/// `subnet-external-network`: a subnet's read-only `router:external` mirrors its network's,
/// whichever way the network becomes (or stops being) external, and filters lists.
#[tokio::test]
async fn subnets_mirror_their_networks_external_flag() {
    let s = TestServer::start().await;
    let (st, b) = s.get("/v2.0/extensions/subnet-external-network").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(b["extension"]["name"], "Subnet belongs to an external network");
    let (_, b) = s.post("/v2.0/networks", json!({"network": {"name": "ext", "router:external": true}})).await;
    let ext = b["network"]["id"].as_str().unwrap().to_string();
    let ext_sub = s.subnet(&ext, "203.0.113.0/24", json!({})).await;
    let int = s.network("int").await;
    let int_sub = s.subnet(&int, "10.80.0.0/24", json!({})).await;
    let flag = |id: String| {
        let s = &s;
        async move { s.get(&format!("/v2.0/subnets/{id}")).await.1["subnet"]["router:external"].clone() }
    };
    assert_eq!(flag(ext_sub.clone()).await, json!(true));
    assert_eq!(flag(int_sub.clone()).await, json!(false));
    let ids = |b: serde_json::Value| -> Vec<String> {
        b["subnets"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(ids(s.get("/v2.0/subnets?router:external=True").await.1), [ext_sub.as_str()]);
    assert_eq!(ids(s.get("/v2.0/subnets?router:external=false").await.1), [int_sub.as_str()]);
    // Read-only.
    let got = s
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": int, "cidr": "10.81.0.0/24", "ip_version": 4, "router:external": true}}),
        )
        .await;
    assert_eq!(got.0, StatusCode::BAD_REQUEST, "{}", got.1);

    // The network's flag, by update or by a `*` access_as_external policy, moves its subnets'.
    let (st, b) = s.put(&format!("/v2.0/networks/{ext}"), json!({"network": {"router:external": false}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert_eq!(flag(ext_sub.clone()).await, json!(false));
    let policy = json!({"rbac_policy": {"object_type": "network", "object_id": int, "action": "access_as_external", "target_tenant": "*"}});
    let (st, b) = s.post("/v2.0/rbac-policies", policy).await;
    assert_eq!(st, StatusCode::CREATED, "{b}");
    assert_eq!(flag(int_sub.clone()).await, json!(true));
    let (_, b) = s.get(&format!("/v2.0/subnets/{int_sub}")).await;
    assert_eq!(b["subnet"]["revision_number"], 0, "the subnet itself is not revised: {b}");
}
