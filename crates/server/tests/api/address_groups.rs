//! Address groups (`address-group`, `rbac-address-group`,
//! `security-groups-remote-address-group`), as neutron-tempest-plugin's `AddressGroupTest`
//! and `RbacSharedAddressGroupTest` exercise them, with answers compared to Neutron's.

use crate::common::{assert_error, assert_error_message, TestServer};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const ADDRESSES: [&str; 3] = ["10.10.10.3/32", "192.168.0.10/24", "2001:db8::f00/64"];
const NORMALISED: [&str; 3] = ["10.10.10.3/32", "192.168.0.0/24", "2001:db8::/64"];

async fn create_group(s: &TestServer, body: Value) -> Value {
    let (st, g) = s.post("/v2.0/address-groups", json!({ "address_group": body })).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    g["address_group"].clone()
}

async fn action(s: &TestServer, id: &str, action: &str, addresses: Value) -> (StatusCode, Value) {
    s.put(&format!("/v2.0/address-groups/{id}/{action}"), json!({ "addresses": addresses })).await
}

fn keys(v: &Value) -> Vec<&str> {
    v.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn the_extensions_are_advertised() {
    let s = TestServer::start().await;
    for alias in ["address-group", "rbac-address-group", "security-groups-remote-address-group"] {
        let (st, e) = s.get(&format!("/v2.0/extensions/{alias}")).await;
        assert_eq!(st, StatusCode::OK, "{e}");
        assert_eq!(e["extension"]["alias"], alias);
    }
}

#[tokio::test]
async fn an_address_group_lives_as_neutrons_does() {
    let s = TestServer::start().await;
    let g = create_group(&s, json!({"name": "ag", "description": "d", "addresses": ADDRESSES})).await;
    // Neutron's attributes in its order; `shared` is hidden; one revision per address.
    assert_eq!(
        keys(&g),
        [
            "id",
            "name",
            "project_id",
            "addresses",
            "revision_number",
            "description",
            "created_at",
            "updated_at",
            "tenant_id"
        ]
    );
    assert_eq!(g["addresses"], json!(["10.10.10.3/32", "192.168.0.0/24", "2001:db8::/64"]));
    assert_eq!(g["revision_number"], 3);
    let id = g["id"].as_str().unwrap();
    let path = format!("/v2.0/address-groups/{id}");
    let (st, shown) = s.get(&path).await;
    assert_eq!((st, &shown["address_group"]), (StatusCode::OK, &g));

    let (st, up) = s.put(&path, json!({"address_group": {"description": "new"}})).await;
    assert_eq!(st, StatusCode::OK, "{up}");
    assert_eq!(
        (&up["address_group"]["description"], &up["address_group"]["revision_number"]),
        (&json!("new"), &json!(4))
    );
    assert_eq!(up["address_group"]["addresses"], json!(NORMALISED));

    // No addresses (absent or null) is an empty group at revision 0.
    let empty = create_group(&s, json!({"name": "e", "addresses": null})).await;
    assert_eq!((&empty["addresses"], &empty["revision_number"]), (&json!([]), &json!(0)));

    // Lists: filters, sorting, fields, pagination like every resource.
    // Neutron adds `tenant_id` to whatever fields were asked for.
    let project = g["tenant_id"].clone();
    let (_, list) = s.get("/v2.0/address-groups?name=ag&fields=id&fields=addresses").await;
    assert_eq!(list["address_groups"], json!([{"id": id, "addresses": NORMALISED, "tenant_id": project}]));
    let (_, one) = s.get(&format!("/v2.0/address-groups/{id}?fields=name")).await;
    assert_eq!(one["address_group"], json!({"name": "ag", "tenant_id": project}));
    let (_, list) = s.get("/v2.0/address-groups?sort_key=name&sort_dir=desc&limit=1").await;
    assert_eq!(list["address_groups"][0]["name"], "e", "{list}");
    assert!(list["address_groups_links"].is_array(), "{list}");
    let (_, list) = s.get("/v2.0/address-groups?revision_number=0").await;
    assert_eq!(list["address_groups"].as_array().unwrap().len(), 1, "{list}");
    for bad in ["addresses", "shared"] {
        assert_error_message(
            &s.get(&format!("/v2.0/address-groups?{bad}=x")).await,
            400,
            "HTTPBadRequest",
            &format!("['{bad}'] is invalid attribute for filtering"),
        );
    }

    let (st, _) = s.delete(&path).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_error_message(
        &s.get(&path).await,
        404,
        "AddressGroupNotFound",
        &format!("Address group {id} could not be found."),
    );
    assert_error(&s.get(&format!("{path}/tags")).await, 404, "HTTPNotFound");
}

#[tokio::test]
async fn bodies_are_validated_as_neutron_validates_them() {
    let s = TestServer::start().await;
    let post = |body: Value| s.post("/v2.0/address-groups", json!({ "address_group": body }));
    assert_error_message(
        &post(json!({"addresses": ["10.20.30.40"]})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for addresses. Reason: '10.20.30.40' is not a valid IP subnet.",
    );
    assert_error_message(
        &post(json!({"addresses": ["this is bad IP address"]})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for addresses. Reason: 'this is bad IP address' is not a valid IP subnet.",
    );
    assert_error_message(
        &post(json!({"addresses": ["10.0.0.0/8", "10.0.0.0/8"]})).await,
        400,
        "HTTPBadRequest",
        "Invalid input for addresses. Reason: Duplicate items in the list: '10.0.0.0/8'.",
    );
    assert_error_message(
        &post(json!({"shared": true})).await,
        400,
        "HTTPBadRequest",
        "Attribute 'shared' not allowed in POST",
    );
    assert_error_message(
        &post(json!({"tags": ["a"]})).await,
        400,
        "HTTPBadRequest",
        "Unrecognized attribute(s) 'tags'",
    );
    // Two addresses of one network are one address of the group.
    let g = create_group(&s, json!({"addresses": ["10.0.0.1/8", "10.0.0.2/8"]})).await;
    assert_eq!((&g["addresses"], &g["revision_number"]), (&json!(["10.0.0.0/8"]), &json!(1)));
    let path = format!("/v2.0/address-groups/{}", g["id"].as_str().unwrap());
    assert_error_message(
        &s.put(&path, json!({"address_group": {"addresses": []}})).await,
        400,
        "HTTPBadRequest",
        "Cannot update read-only attribute addresses",
    );
}

#[tokio::test]
async fn addresses_are_added_and_removed_with_neutrons_errors() {
    let s = TestServer::start().await;
    let g = create_group(&s, json!({"name": "ag", "addresses": ADDRESSES})).await;
    let id = g["id"].as_str().unwrap().to_string();

    let (st, got) = action(&s, &id, "add_addresses", json!(["10.20.30.40/32", "10.9.9.9", "10.9.9.9/32"])).await;
    assert_eq!(st, StatusCode::OK, "{got}");
    let got = &got["address_group"];
    // The member actions show the hidden `shared` too, as Neutron's do.
    assert_eq!(keys(got)[..4], ["id", "name", "project_id", "shared"]);
    assert_eq!(got["shared"], false);
    assert_eq!(
        got["addresses"],
        json!(["10.10.10.3/32", "10.20.30.40/32", "10.9.9.9/32", "192.168.0.0/24", "2001:db8::/64"])
    );
    assert_eq!(got["revision_number"], 5);

    assert_error_message(
        &action(&s, &id, "add_addresses", json!(["192.168.0.1/24", "10.1.0.0/16"])).await,
        400,
        "AddressesAlreadyExist",
        &format!("Addresses ['192.168.0.0/24'] already exist in the address group {id}."),
    );
    assert_error_message(
        &action(&s, &id, "add_addresses", json!(["this is bad IP address"])).await,
        400,
        "AddrFormatError",
        "invalid IPNetwork this is bad IP address",
    );
    assert_error_message(
        &action(&s, &id, "remove_addresses", json!(["10.200.200.200", "10.20.30.40/32"])).await,
        404,
        "AddressesNotFound",
        &format!("Addresses ['10.200.200.200/32'] not found in the address group {id}."),
    );
    assert_error(&action(&s, &id, "remove_addresses", json!(["bad"])).await, 400, "AddrFormatError");
    // Nothing changed by the refused requests; an empty list changes nothing either.
    let (st, got) = action(&s, &id, "remove_addresses", json!([])).await;
    assert_eq!((st, &got["address_group"]["revision_number"]), (StatusCode::OK, &json!(5)));

    let (st, got) = action(&s, &id, "remove_addresses", json!(["10.20.30.40/32", "10.9.9.9/32"])).await;
    assert_eq!(st, StatusCode::OK, "{got}");
    assert_eq!(
        (&got["address_group"]["addresses"], &got["address_group"]["revision_number"]),
        (&json!(NORMALISED), &json!(7))
    );

    // What Neutron's plugin cannot iterate is its generic 500; an unknown group or action 404.
    let (st, e) = s.put(&format!("/v2.0/address-groups/{id}/add_addresses"), json!({"prefixes": []})).await;
    assert_eq!((st.as_u16(), &e["NeutronError"]["type"]), (500, &json!("HTTPInternalServerError")));
    assert_error_message(
        &action(&s, "aaaa", "add_addresses", json!(["10.1.1.1/32"])).await,
        404,
        "AddressGroupNotFound",
        "Address group aaaa could not be found.",
    );
    assert_error(&action(&s, &id, "frob", json!([])).await, 404, "HTTPNotFound");
}

#[tokio::test]
async fn the_addresses_of_a_group_are_capped() {
    let s = TestServer::start_with(|c| c.max_addresses_per_address_group = 2).await;
    let too_many = "Invalid input for addresses. Reason: The number of addresses exceeds the maximum 2.";
    let post = s.post(
        "/v2.0/address-groups",
        json!({"address_group": {"addresses": ["10.0.0.0/8", "10.1.0.0/16", "10.2.0.0/16"]}}),
    );
    assert_error_message(&post.await, 400, "HTTPBadRequest", too_many);
    let g = create_group(&s, json!({"addresses": ["10.0.0.0/8", "11.0.0.0/8"]})).await;
    let id = g["id"].as_str().unwrap();
    assert_error_message(
        &action(&s, id, "add_addresses", json!(["12.0.0.0/8"])).await,
        400,
        "HTTPBadRequest",
        too_many,
    );
    let body = json!(["1.0.0.0/8", "2.0.0.0/8", "3.0.0.0/8"]);
    assert_error_message(&action(&s, id, "remove_addresses", body).await, 400, "HTTPBadRequest", too_many);
}

async fn group_and_security_group(s: &TestServer) -> (String, String) {
    let g = create_group(s, json!({"name": "ag", "addresses": ["10.5.0.0/16"]})).await;
    let (st, sg) = s.post("/v2.0/security-groups", json!({"security_group": {"name": "sg"}})).await;
    assert_eq!(st, StatusCode::CREATED, "{sg}");
    (g["id"].as_str().unwrap().into(), sg["security_group"]["id"].as_str().unwrap().into())
}

fn rule(sg: &str, extra: Value) -> Value {
    let mut r = json!({"security_group_id": sg, "direction": "ingress"});
    r.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    json!({ "security_group_rule": r })
}

#[tokio::test]
async fn rules_name_a_remote_address_group() {
    let s = TestServer::start().await;
    let (ag, sg) = group_and_security_group(&s).await;
    let (st, r) = s.post("/v2.0/security-group-rules", rule(&sg, json!({"remote_address_group_id": ag}))).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    assert_eq!(r["security_group_rule"]["remote_address_group_id"], ag);
    let rid = r["security_group_rule"]["id"].as_str().unwrap().to_string();
    let (_, shown) = s.get(&format!("/v2.0/security-group-rules/{rid}")).await;
    assert_eq!(shown["security_group_rule"]["remote_address_group_id"], ag);
    let (_, list) = s.get(&format!("/v2.0/security-group-rules?remote_address_group_id={ag}")).await;
    assert_eq!(list["security_group_rules"].as_array().unwrap().len(), 1, "{list}");

    assert_error_message(
        &s.post("/v2.0/security-group-rules", rule(&sg, json!({"remote_address_group_id": ag}))).await,
        409,
        "SecurityGroupRuleExists",
        &format!("Security group rule already exists. Rule id is {rid}."),
    );
    // The same rule from another group of addresses is another rule.
    let (other, _) = group_and_security_group(&s).await;
    let (st, _) = s.post("/v2.0/security-group-rules", rule(&sg, json!({"remote_address_group_id": other}))).await;
    assert_eq!(st, StatusCode::CREATED);
    let multiple = "Only one of remote_ip_prefix or remote_group_id or remote_address_group_id may be provided.";
    for extra in [json!({"remote_ip_prefix": "10.0.0.0/8"}), json!({"remote_group_id": sg})] {
        let mut body = extra.clone();
        body["remote_address_group_id"] = json!(ag);
        assert_error_message(
            &s.post("/v2.0/security-group-rules", rule(&sg, body)).await,
            400,
            "SecurityGroupMultipleRemoteEntites",
            multiple,
        );
    }
    let unknown = "a0000000-0000-0000-0000-000000000000";
    assert_error_message(
        &s.post("/v2.0/security-group-rules", rule(&sg, json!({"remote_address_group_id": unknown}))).await,
        404,
        "AddressGroupNotFound",
        &format!("Address group {unknown} could not be found."),
    );

    // A group a rule names is kept until the rule goes.
    let path = format!("/v2.0/address-groups/{ag}");
    assert_error_message(
        &s.delete(&path).await,
        409,
        "AddressGroupInUse",
        &format!("Address group {ag} is in use on one or more security group rules."),
    );
    assert_eq!(s.delete(&format!("/v2.0/security-group-rules/{rid}")).await.0, StatusCode::NO_CONTENT);
    assert_eq!(s.delete(&path).await.0, StatusCode::NO_CONTENT);
}

async fn as_user(s: &TestServer, token: &str, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
    s.call_with(method, path, body, &[("X-Auth-Token", token)]).await
}

fn share(object_id: &str, target: &str, action: &str) -> Value {
    json!({"rbac_policy": {"object_type": "address_group", "object_id": object_id,
        "action": action, "target_tenant": target}})
}

#[tokio::test]
async fn a_policy_shares_a_group_until_the_targets_rules_use_it() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "ag1", "aguser1", "member").await;
    let (other, other_project) = s.member(&admin, "ag2", "aguser2", "member").await;
    let (st, g) = as_user(
        &s,
        &admin,
        Method::POST,
        "/v2.0/address-groups",
        Some(json!({"address_group": {"name": "a", "addresses": ["10.7.0.0/16"]}})),
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    let ag = g["address_group"]["id"].as_str().unwrap().to_string();
    let path = format!("/v2.0/address-groups/{ag}");
    assert_error(&as_user(&s, &demo, Method::GET, &path, None).await, 404, "AddressGroupNotFound");
    let (st, sg) =
        as_user(&s, &demo, Method::POST, "/v2.0/security-groups", Some(json!({"security_group": {"name": "s"}}))).await;
    assert_eq!(st, StatusCode::CREATED, "{sg}");
    let sg = sg["security_group"]["id"].as_str().unwrap().to_string();
    let use_it = rule(&sg, json!({"remote_address_group_id": ag, "protocol": "tcp"}));
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/security-group-rules", Some(use_it.clone())).await,
        404,
        "AddressGroupNotFound",
    );

    assert_error_message(
        &as_user(
            &s,
            &admin,
            Method::POST,
            "/v2.0/rbac-policies",
            Some(share(&ag, &demo_project, "access_as_external")),
        )
        .await,
        400,
        "InvalidActionForType",
        "Invalid action 'access_as_external' for object type 'address_group'. Valid actions: ('access_as_shared',)",
    );
    let (st, p) =
        as_user(&s, &admin, Method::POST, "/v2.0/rbac-policies", Some(share(&ag, &demo_project, "access_as_shared")))
            .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let policy = format!("/v2.0/rbac-policies/{}", p["rbac_policy"]["id"].as_str().unwrap());

    // The target sees the group (show and list, `shared` still hidden) and may use it, but
    // not change it (404, as Neutron); nor may it share it further; others still see nothing.
    let (st, shown) = as_user(&s, &demo, Method::GET, &path, None).await;
    assert_eq!(st, StatusCode::OK, "{shown}");
    assert!(shown["address_group"].get("shared").is_none(), "{shown}");
    let (_, list) = as_user(&s, &demo, Method::GET, "/v2.0/address-groups", None).await;
    assert_eq!(list["address_groups"].as_array().unwrap().len(), 1, "{list}");
    let rename = json!({"address_group": {"name": "new_name"}});
    assert_error(&as_user(&s, &demo, Method::PUT, &path, Some(rename)).await, 404, "AddressGroupNotFound");
    let add = json!({"addresses": ["10.8.0.0/16"]});
    assert_error(
        &as_user(&s, &demo, Method::PUT, &format!("{path}/add_addresses"), Some(add)).await,
        404,
        "AddressGroupNotFound",
    );
    assert_error(&as_user(&s, &demo, Method::DELETE, &path, None).await, 404, "AddressGroupNotFound");
    assert_error(
        &as_user(&s, &demo, Method::POST, "/v2.0/rbac-policies", Some(share(&ag, &other_project, "access_as_shared")))
            .await,
        400,
        "InvalidInput",
    );
    assert_error(&as_user(&s, &other, Method::GET, &path, None).await, 404, "AddressGroupNotFound");
    let (_, list) = as_user(&s, &other, Method::GET, "/v2.0/address-groups", None).await;
    assert_eq!(list["address_groups"], json!([]), "{list}");

    let (st, r) = as_user(&s, &demo, Method::POST, "/v2.0/security-group-rules", Some(use_it)).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let rule_path = format!("/v2.0/security-group-rules/{}", r["security_group_rule"]["id"].as_str().unwrap());
    let in_use = |target: &str| {
        format!("RBAC policy on object {ag} cannot be removed because other objects depend on it.\nDetails: project_id={target}")
    };
    assert_error_message(
        &as_user(&s, &admin, Method::DELETE, &policy, None).await,
        409,
        "RbacPolicyInUse",
        &in_use(&demo_project),
    );
    let retarget = json!({"rbac_policy": {"target_tenant": other_project}});
    assert_error(&as_user(&s, &admin, Method::PUT, &policy, Some(retarget)).await, 409, "RbacPolicyInUse");
    // Shared with everyone: allowed. Back to one project is not (Neutron counts only the
    // other policies when a `*` one is released, not its new target).
    let (st, _) = as_user(&s, &admin, Method::PUT, &policy, Some(json!({"rbac_policy": {"target_tenant": "*"}}))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(as_user(&s, &other, Method::GET, &path, None).await.0, StatusCode::OK);
    let back = json!({"rbac_policy": {"target_tenant": demo_project}});
    assert_error_message(
        &as_user(&s, &admin, Method::PUT, &policy, Some(back)).await,
        409,
        "RbacPolicyInUse",
        &in_use("*"),
    );

    assert_eq!(as_user(&s, &demo, Method::DELETE, &rule_path, None).await.0, StatusCode::NO_CONTENT);
    assert_eq!(as_user(&s, &admin, Method::DELETE, &policy, None).await.0, StatusCode::NO_CONTENT);
    // The `*` policy gone, the group is the admin's alone again.
    assert_error(&as_user(&s, &demo, Method::GET, &path, None).await, 404, "AddressGroupNotFound");
}

#[tokio::test]
async fn members_own_their_groups_and_nobody_elses() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (demo, demo_project) = s.member(&admin, "ag3", "aguser3", "member").await;
    let (reader, _) = s.member(&admin, "ag4", "aguser4", "reader").await;
    let (other, _) = s.member(&admin, "ag5", "aguser5", "member").await;
    let body = json!({"address_group": {"name": "mine", "addresses": ["10.9.0.0/16"]}});
    let (st, g) = as_user(&s, &demo, Method::POST, "/v2.0/address-groups", Some(body.clone())).await;
    assert_eq!(st, StatusCode::CREATED, "{g}");
    assert_eq!(g["address_group"]["project_id"], demo_project);
    let path = format!("/v2.0/address-groups/{}", g["address_group"]["id"].as_str().unwrap());
    // Neutron's `default` rule is admin or owner, whatever the role: a reader writes its own.
    let (st, r) = as_user(&s, &reader, Method::POST, "/v2.0/address-groups", Some(body)).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let foreign = json!({"address_group": {"project_id": demo_project}});
    assert_error(
        &as_user(&s, &other, Method::POST, "/v2.0/address-groups", Some(foreign)).await,
        400,
        "HTTPBadRequest",
    );
    assert_error(&as_user(&s, &other, Method::GET, &path, None).await, 404, "AddressGroupNotFound");
    assert_error(&as_user(&s, &other, Method::DELETE, &path, None).await, 404, "AddressGroupNotFound");
    let (st, up) = as_user(&s, &demo, Method::PUT, &path, Some(json!({"address_group": {"name": "n"}}))).await;
    assert_eq!(st, StatusCode::OK, "{up}");
    let (st, _) = as_user(&s, &admin, Method::DELETE, &path, None).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
}
