//! Flavors, service profiles, service providers and routers' flavors (`flavors`,
//! `service-type`, `l3-flavors`), as neutron-tempest-plugin's `TestFlavorsJson`,
//! `RoutersFlavorTestCase` and `ServiceTypeManagementTest` and Tempest's
//! `ServiceProvidersTest` exercise them, with the answers of a live Neutron 26.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const SINGLE_NODE: &str = "neutron.services.l3_router.service_providers.single_node.SingleNodeDriver";
const DVR: &str = "neutron.services.l3_router.service_providers.dvr.DvrDriver";
const UNKNOWN: &str = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";

async fn flavor(s: &TestServer, body: Value) -> Value {
    let (st, f) = s.post("/v2.0/flavors", json!({ "flavor": body })).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    f["flavor"].clone()
}

async fn profile(s: &TestServer, body: Value) -> Value {
    let (st, p) = s.post("/v2.0/service_profiles", json!({ "service_profile": body })).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    p["service_profile"].clone()
}

async fn associate(s: &TestServer, flavor: &str, profile: &str) -> (StatusCode, Value) {
    s.post(&format!("/v2.0/flavors/{flavor}/service_profiles"), json!({"service_profile": {"id": profile}})).await
}

/// An L3 flavor whose profile names our single-node provider.
async fn l3_flavor(s: &TestServer) -> String {
    let f = flavor(s, json!({"name": "special_flavor", "service_type": "L3_ROUTER_NAT"})).await;
    let p = profile(s, json!({"driver": SINGLE_NODE})).await;
    let id = f["id"].as_str().unwrap().to_string();
    assert_eq!(associate(s, &id, p["id"].as_str().unwrap()).await.0, StatusCode::CREATED);
    id
}

async fn as_user(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

#[tokio::test]
async fn the_extensions_are_advertised() {
    let s = TestServer::start().await;
    for alias in ["flavors", "l3-flavors", "service-type"] {
        let (st, e) = s.get(&format!("/v2.0/extensions/{alias}")).await;
        assert_eq!(st, StatusCode::OK, "{e}");
    }
    let (_, e) = s.get("/v2.0/extensions/l3-flavors").await;
    assert_eq!(e["extension"]["name"], "Router Flavor Extension");
}

#[tokio::test]
async fn flavors_are_created_shown_updated_listed_and_deleted() {
    let s = TestServer::start().await;
    let f = flavor(&s, json!({"name": "n", "description": "d", "service_type": "FLAVORS"})).await;
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "name", "description", "service_type", "enabled", "service_profiles"]);
    assert_eq!((f["enabled"].clone(), f["service_profiles"].clone()), (json!(true), json!([])));
    let path = format!("/v2.0/flavors/{}", id(&f));
    let (st, u) = s.put(&path, json!({"flavor": {"enabled": false, "description": null}})).await;
    assert_eq!(st, StatusCode::OK, "{u}");
    assert_eq!((u["flavor"]["enabled"].clone(), u["flavor"]["description"].clone()), (json!(false), json!(null)));
    // `null` enables, as Neutron's non-nullable column keeps its default.
    let (_, u) = s.put(&path, json!({"flavor": {"enabled": null}})).await;
    assert_eq!(u["flavor"]["enabled"], true);
    let (st, shown) = s.get(&path).await;
    assert_eq!((st, shown["flavor"]["name"].clone()), (StatusCode::OK, json!("n")));
    let (_, l) = s.get(&format!("/v2.0/flavors?id={}", id(&f))).await;
    assert_eq!(l["flavors"].as_array().unwrap().len(), 1);
    let (_, l) = s.get("/v2.0/flavors?id=33").await;
    assert_eq!(l["flavors"], json!([]));
    assert_eq!(s.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_error_message(&s.get(&path).await, 404, "FlavorNotFound", &format!("Flavor {} could not be found.", id(&f)));
    assert_error(&s.delete(&path).await, 404, "FlavorNotFound");
    assert_error(&s.put(&path, json!({"flavor": {"name": "x"}})).await, 404, "FlavorNotFound");
}

#[tokio::test]
async fn flavor_bodies_are_validated_as_neutron_does() {
    let s = TestServer::start().await;
    let post = |body: Value| s.post("/v2.0/flavors", json!({ "flavor": body }));
    assert_error_message(
        &post(json!({"name": "a"})).await,
        400,
        "HTTPBadRequest",
        "Failed to parse request. Required attribute 'service_type' not specified",
    );
    for (given, shown) in [(json!("QOS"), "QOS"), (json!("bogus"), "bogus"), (json!(null), "None")] {
        let message = format!("Invalid service type: {shown}.");
        assert_error_message(&post(json!({ "service_type": given })).await, 400, "InvalidServiceType", &message);
    }
    assert_error_message(
        &post(json!({"service_type": "CORE", "project_id": "p"})).await,
        400,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'project_id, tenant_id'",
    );
    assert_error_message(
        &post(json!({"service_type": "CORE", "enabled": "maybe"})).await,
        400,
        "InvalidInput",
        "Invalid input for operation: 'maybe' cannot be converted to boolean.",
    );
    // `service_profiles` is accepted (validated) and ignored, as in Neutron.
    let f = flavor(&s, json!({"service_type": "CORE", "service_profiles": [UNKNOWN]})).await;
    assert_eq!(f["service_profiles"], json!([]));
    let path = format!("/v2.0/flavors/{}", id(&f));
    assert_error_message(
        &s.put(&path, json!({"flavor": {"service_type": "CORE"}})).await,
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute service_type",
    );
    assert_error_message(
        &s.get("/v2.0/flavors?service_profiles=1").await,
        400,
        "HTTPBadRequest",
        "['service_profiles'] is invalid attribute for filtering",
    );
}

#[tokio::test]
async fn flavor_lists_filter_sort_page_and_select_fields() {
    let s = TestServer::start().await;
    for (name, enabled) in [("a", true), ("b", false), ("c", true)] {
        flavor(&s, json!({"name": name, "service_type": "L3_ROUTER_NAT", "enabled": enabled})).await;
    }
    let (_, l) = s.get("/v2.0/flavors?enabled=false&fields=name").await;
    assert_eq!(l["flavors"], json!([{"name": "b"}]));
    let (_, l) = s.get("/v2.0/flavors?sort_key=name&sort_dir=desc&limit=2").await;
    let names: Vec<&str> = l["flavors"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["c", "b"]);
    assert_eq!(l["flavors_links"][0]["rel"], "next");
    assert_error(&s.get(&format!("/v2.0/flavors?limit=1&marker={UNKNOWN}")).await, 404, "FlavorNotFound");
}

#[tokio::test]
async fn service_profiles_need_a_known_driver_or_metainfo() {
    let s = TestServer::start().await;
    let post = |body: Value| s.post("/v2.0/service_profiles", json!({ "service_profile": body }));
    for body in [json!({}), json!({"driver": ""}), json!({"metainfo": ""}), json!({"metainfo": null})] {
        assert_error_message(
            &post(body).await,
            400,
            "ServiceProfileEmpty",
            "Service Profile needs either a driver or metainfo.",
        );
    }
    assert_error_message(
        &post(json!({"driver": DVR})).await,
        404,
        "ServiceProfileDriverNotFound",
        &format!("Service Profile driver {DVR} could not be found."),
    );
    assert_error_message(
        &post(json!({"metainfo": "x", "driver": null})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for driver. Reason: 'None' is not a valid string.",
    );
    let p = profile(&s, json!({"driver": SINGLE_NODE})).await;
    let keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "description", "driver", "enabled", "metainfo"]);
    assert_eq!((p["metainfo"].clone(), p["enabled"].clone()), (json!(""), json!(true)));
    let m = profile(&s, json!({"metainfo": 5, "description": null})).await;
    assert_eq!((m["metainfo"].clone(), m["description"].clone()), (json!("5"), json!(null)));
    let path = format!("/v2.0/service_profiles/{}", id(&m));
    let (st, u) = s.put(&path, json!({"service_profile": {"enabled": false}})).await;
    assert_eq!((st, u["service_profile"]["enabled"].clone()), (StatusCode::OK, json!(false)));
    assert_error(&s.put(&path, json!({"service_profile": {"driver": DVR}})).await, 404, "ServiceProfileDriverNotFound");
    let (_, l) = s.get(&format!("/v2.0/service_profiles?id={}", id(&m))).await;
    assert_eq!(l["service_profiles"].as_array().unwrap().len(), 1);
    let (_, l) = s.get("/v2.0/service_profiles?id=33").await;
    assert_eq!(l["service_profiles"], json!([]));
    assert_eq!(s.delete(&path).await.0, StatusCode::NO_CONTENT);
    assert_error_message(
        &s.get(&path).await,
        404,
        "ServiceProfileNotFound",
        &format!("Service Profile {} could not be found.", id(&m)),
    );
}

#[tokio::test]
async fn associations_bind_profiles_to_flavors_and_keep_them_in_use() {
    let s = TestServer::start().await;
    let f = flavor(&s, json!({"service_type": "L3_ROUTER_NAT"})).await;
    let (p1, p2) = (profile(&s, json!({"driver": SINGLE_NODE})).await, profile(&s, json!({"metainfo": "m"})).await);
    let (fid, pid1, pid2) = (id(&f), id(&p1), id(&p2));
    // Neutron shows the flavor through the association's attribute map: only its id.
    let (st, a) = associate(&s, fid, pid1).await;
    assert_eq!((st, a), (StatusCode::CREATED, json!({"service_profile": {"id": fid}})));
    assert_error_message(
        &associate(&s, fid, pid1).await,
        409,
        "FlavorServiceProfileBindingExists",
        &format!("Service Profile {pid1} is already associated with flavor {fid}."),
    );
    assert_error(&associate(&s, fid, UNKNOWN).await, 404, "ServiceProfileNotFound");
    assert_error(&associate(&s, UNKNOWN, pid1).await, 404, "FlavorNotFound");
    let path = format!("/v2.0/flavors/{fid}/service_profiles");
    assert_error_message(
        &s.post(&path, json!({"service_profile": {}})).await,
        400,
        "HTTPBadRequest",
        "Failed to parse request. Required attribute 'id' not specified",
    );
    let (st, bulk) = s.post(&path, json!({"service_profiles": [{"id": pid2}]})).await;
    assert_eq!(st, StatusCode::CREATED, "{bulk}");
    assert_eq!(bulk["service_profiles"][0]["service_profiles"], json!([pid1, pid2]));
    let (_, shown) = s.get(&format!("/v2.0/flavors/{fid}")).await;
    assert_eq!(shown["flavor"]["service_profiles"], json!([pid1, pid2]));
    let (st, one) = s.get(&format!("{path}/{pid1}")).await;
    assert_eq!((st, one), (StatusCode::OK, json!({"service_profile": {}})));

    let profile_path = format!("/v2.0/service_profiles/{pid1}");
    let in_use = format!("Service Profile {pid1} is used by some service instance.");
    assert_error_message(&s.delete(&profile_path).await, 409, "ServiceProfileInUse", &in_use);
    let change = json!({"service_profile": {"description": "x"}});
    assert_error_message(&s.put(&profile_path, change).await, 409, "ServiceProfileInUse", &in_use);

    assert_eq!(s.delete(&format!("{path}/{pid1}")).await.0, StatusCode::NO_CONTENT);
    assert_error_message(
        &s.delete(&format!("{path}/{pid1}")).await,
        404,
        "FlavorServiceProfileBindingNotFound",
        &format!("Service Profile {pid1} is not associated with flavor {fid}."),
    );
    assert_error(&s.get(&format!("{path}/{pid1}")).await, 404, "FlavorServiceProfileBindingNotFound");
    assert_eq!(s.delete(&profile_path).await.0, StatusCode::NO_CONTENT);
    // A flavor goes with its associations, which then no longer hold their profiles.
    assert_eq!(s.delete(&format!("/v2.0/flavors/{fid}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.delete(&format!("/v2.0/service_profiles/{pid2}")).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn service_providers_are_the_single_node_router() {
    let s = TestServer::start().await;
    let (st, l) = s.get("/v2.0/service-providers").await;
    assert_eq!(st, StatusCode::OK);
    let single = json!({"service_type": "L3_ROUTER_NAT", "name": "single_node", "default": false});
    assert_eq!(l, json!({"service_providers": [single]}));
    for q in ["name=single_node", "service_type=L3_ROUTER_NAT", &format!("driver={SINGLE_NODE}"), "bogus=1"] {
        assert_eq!(s.get(&format!("/v2.0/service-providers?{q}")).await.1["service_providers"], json!([single]), "{q}");
    }
    for q in ["name=dvr", "service_type=X", "default=false", &format!("driver={DVR}")] {
        assert_eq!(s.get(&format!("/v2.0/service-providers?{q}")).await.1["service_providers"], json!([]), "{q}");
    }
    let (_, l) = s.get("/v2.0/service-providers?fields=name&fields=driver").await;
    assert_eq!(l["service_providers"], json!([{"name": "single_node"}]));
}

#[tokio::test]
async fn routers_take_a_flavor_of_our_provider() {
    let s = TestServer::start().await;
    let fid = l3_flavor(&s).await;
    let (st, r) = s.post("/v2.0/routers", json!({"router": {"name": "r", "flavor_id": fid}})).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["router"]["flavor_id"], fid.as_str());
    let rid = r["router"]["id"].as_str().unwrap().to_string();
    let (_, shown) = s.get(&format!("/v2.0/routers/{rid}")).await;
    assert_eq!(shown["router"]["flavor_id"], fid.as_str());
    let (_, plain) = s.post("/v2.0/routers", json!({"router": {"name": "plain"}})).await;
    assert_eq!(plain["router"]["flavor_id"], Value::Null);
    let (_, listed) = s.get("/v2.0/routers?fields=flavor_id&sort_key=flavor_id&sort_dir=asc").await;
    assert_eq!(listed["routers"].as_array().unwrap().len(), 2);
    assert_error_message(
        &s.put(&format!("/v2.0/routers/{rid}"), json!({"router": {"flavor_id": fid}})).await,
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute flavor_id",
    );
    assert_error_message(
        &s.get("/v2.0/routers?flavor_id=x").await,
        400,
        "HTTPBadRequest",
        "['flavor_id'] is invalid attribute for filtering",
    );
    // We offer no DVR: asking for it is refused whatever the flavor.
    let (st, _) = s.post("/v2.0/routers", json!({"router": {"flavor_id": fid, "distributed": true}})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let path = format!("/v2.0/flavors/{fid}");
    assert_error_message(
        &s.delete(&path).await,
        409,
        "FlavorInUse",
        &format!("Flavor {fid} is used by some service instance."),
    );
    assert_eq!(s.delete(&format!("/v2.0/routers/{rid}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.delete(&path).await.0, StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn routers_refuse_flavors_that_give_no_provider() {
    let s = TestServer::start().await;
    let router = |flavor: Value| s.post("/v2.0/routers", json!({"router": {"name": "r", "flavor_id": flavor}}));
    assert_error_message(
        &router(json!(UNKNOWN)).await,
        404,
        "FlavorNotFound",
        &format!("Flavor {UNKNOWN} could not be found."),
    );
    assert_error_message(&router(json!(null)).await, 404, "FlavorNotFound", "Flavor None could not be found.");

    let core = flavor(&s, json!({"service_type": "CORE"})).await;
    assert_error_message(&router(json!(id(&core))).await, 400, "InvalidServiceType", "Invalid service type: CORE.");

    let disabled = l3_flavor(&s).await;
    s.put(&format!("/v2.0/flavors/{disabled}"), json!({"flavor": {"enabled": false}})).await;
    assert_error_message(&router(json!(disabled)).await, 503, "FlavorDisabled", "Flavor is not enabled.");

    let bare = flavor(&s, json!({"service_type": "L3_ROUTER_NAT"})).await;
    assert_error_message(
        &router(json!(id(&bare))).await,
        404,
        "FlavorServiceProfileBindingNotFound",
        &format!("Service Profile  is not associated with flavor {}.", id(&bare)),
    );

    let off = flavor(&s, json!({"service_type": "L3_ROUTER_NAT"})).await;
    let off_profile = profile(&s, json!({"driver": SINGLE_NODE, "enabled": false})).await;
    associate(&s, id(&off), id(&off_profile)).await;
    assert_error_message(
        &router(json!(id(&off))).await,
        503,
        "ServiceProfileDisabled",
        "Service Profile is not enabled.",
    );
    // The first enabled profile decides.
    let on_profile = profile(&s, json!({"driver": SINGLE_NODE})).await;
    associate(&s, id(&off), id(&on_profile)).await;
    assert_eq!(router(json!(id(&off))).await.0, StatusCode::CREATED);

    let meta = flavor(&s, json!({"service_type": "L3_ROUTER_NAT"})).await;
    let meta_profile = profile(&s, json!({"metainfo": "{}"})).await;
    associate(&s, id(&meta), id(&meta_profile)).await;
    assert_error_message(
        &router(json!(id(&meta))).await,
        404,
        "ServiceProfileDriverNotFound",
        "Service Profile driver  could not be found.",
    );
    let (_, routers) = s.get("/v2.0/routers").await;
    assert_eq!(routers["routers"].as_array().unwrap().len(), 1, "refused routers leave nothing behind");
}

#[tokio::test]
async fn members_read_flavors_and_providers_but_only_admins_manage_them() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "fp1", "fpuser1", "member").await;
    let (reader, _) = s.member(&admin, "fp2", "fpuser2", "reader").await;
    let (st, f) =
        as_user(&s, &admin, Method::POST, "/v2.0/flavors", Some(json!({"flavor": {"service_type": "L3_ROUTER_NAT"}})))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    let fid = f["flavor"]["id"].as_str().unwrap().to_string();
    let (st, p) = as_user(
        &s,
        &admin,
        Method::POST,
        "/v2.0/service_profiles",
        Some(json!({"service_profile": {"driver": SINGLE_NODE}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let pid = p["service_profile"]["id"].as_str().unwrap().to_string();
    let assoc = json!({"service_profile": {"id": pid}});
    let assoc_path = format!("/v2.0/flavors/{fid}/service_profiles");
    assert_eq!(as_user(&s, &admin, Method::POST, &assoc_path, Some(assoc.clone())).await.0, StatusCode::CREATED);

    for token in [&member, &reader] {
        let (st, l) = as_user(&s, token, Method::GET, &format!("/v2.0/flavors?id={fid}"), None).await;
        assert_eq!((st, l["flavors"].as_array().unwrap().len()), (StatusCode::OK, 1));
        assert_eq!(as_user(&s, token, Method::GET, &format!("/v2.0/flavors/{fid}"), None).await.0, StatusCode::OK);
        let (_, l) = as_user(&s, token, Method::GET, "/v2.0/service-providers", None).await;
        assert_eq!(l["service_providers"].as_array().unwrap().len(), 1);
        let (_, l) = as_user(&s, token, Method::GET, "/v2.0/service_profiles", None).await;
        assert_eq!(l, json!({"service_profiles": []}));
        let hidden = as_user(&s, token, Method::GET, &format!("/v2.0/service_profiles/{pid}"), None).await;
        assert_error_message(&hidden, 404, "HTTPNotFound", "The resource could not be found.");
        let put = json!({"service_profile": {"description": "x"}});
        let hidden = as_user(&s, token, Method::PUT, &format!("/v2.0/service_profiles/{pid}"), Some(put)).await;
        assert_error(&hidden, 404, "HTTPNotFound");
        let create = json!({"flavor": {"service_type": "CORE"}});
        let refused = as_user(&s, token, Method::POST, "/v2.0/flavors", Some(create)).await;
        assert_error_message(&refused, 403, "PolicyNotAuthorized", "rule:create_flavor is disallowed by policy");
        let update = json!({"flavor": {"name": "x"}});
        let refused = as_user(&s, token, Method::PUT, &format!("/v2.0/flavors/{fid}"), Some(update)).await;
        assert_error_message(&refused, 403, "PolicyNotAuthorized", "rule:update_flavor is disallowed by policy");
        let refused = as_user(&s, token, Method::DELETE, &format!("/v2.0/flavors/{fid}"), None).await;
        assert_error(&refused, 403, "PolicyNotAuthorized");
        let create = json!({"service_profile": {"metainfo": "m"}});
        let refused = as_user(&s, token, Method::POST, "/v2.0/service_profiles", Some(create)).await;
        assert_error(&refused, 403, "PolicyNotAuthorized");
        assert_error(
            &as_user(&s, token, Method::POST, &assoc_path, Some(assoc.clone())).await,
            403,
            "PolicyNotAuthorized",
        );
        let refused = as_user(&s, token, Method::DELETE, &format!("{assoc_path}/{pid}"), None).await;
        assert_error(&refused, 403, "PolicyNotAuthorized");
    }
    // A member makes its own router with the admin's flavor.
    let (st, r) =
        as_user(&s, &member, Method::POST, "/v2.0/routers", Some(json!({"router": {"flavor_id": fid}}))).await;
    assert_eq!((st, r["router"]["flavor_id"].clone()), (StatusCode::CREATED, json!(fid)));
}
