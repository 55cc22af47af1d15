//! The client against a small in-process fake of the Networking API: envelopes, headers,
//! error bodies, pagination and openstacksdk's find contract.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use neutrino_client::{Client, ClientError, Collection, Object};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Networks by id, plus the auth headers of the last request.
#[derive(Default)]
struct Fake {
    networks: Vec<Object>,
    next_id: u32,
    last_token: Option<String>,
    last_project: Option<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn lock(s: &Shared) -> std::sync::MutexGuard<'_, Fake> {
    s.lock().unwrap_or_else(|e| e.into_inner())
}

fn neutron_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (status, Json(json!({"NeutronError": {"type": kind, "message": message, "detail": ""}}))).into_response()
}

fn remember_headers(s: &Shared, headers: &HeaderMap) {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let mut fake = lock(s);
    fake.last_token = header("x-auth-token");
    fake.last_project = header("x-project-id");
}

/// `?name=` filters; `?limit=&marker=` pages with a `networks_links` next link like Neutron's.
async fn list(State(s): State<Shared>, headers: HeaderMap, Query(q): Query<HashMap<String, String>>) -> Response {
    remember_headers(&s, &headers);
    let fake = lock(&s);
    let mut items: Vec<&Object> =
        fake.networks.iter().filter(|n| q.get("name").is_none_or(|name| n["name"] == name.as_str())).collect();
    if let Some(marker) = q.get("marker") {
        let after = items.iter().position(|n| n["id"] == marker.as_str()).map_or(0, |i| i + 1);
        items.drain(..after);
    }
    let mut body = json!({});
    if let Some(limit) = q.get("limit").and_then(|l| l.parse::<usize>().ok()) {
        items.truncate(limit);
        if items.len() == limit {
            if let Some(last) = items.last() {
                let href = format!("/v2.0/networks?limit={limit}&marker={}", last["id"].as_str().unwrap_or_default());
                body["networks_links"] = json!([{"rel": "next", "href": href}]);
            }
        }
    }
    body["networks"] = json!(items);
    Json(body).into_response()
}

/// Ids starting with `bad` answer 400, `secret` 403 and `boom` 500, as a policy or a broken
/// server might; unknown ids 404.
async fn show(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    if id.starts_with("bad") {
        return neutron_error(StatusCode::BAD_REQUEST, "HTTPBadRequest", "bad id");
    }
    if id.starts_with("secret") {
        return neutron_error(StatusCode::FORBIDDEN, "HTTPForbidden", "not yours");
    }
    if id.starts_with("boom") {
        return (StatusCode::INTERNAL_SERVER_ERROR, "internal failure").into_response();
    }
    match lock(&s).networks.iter().find(|n| n["id"] == id.as_str()) {
        Some(n) => Json(json!({"network": n})).into_response(),
        None => neutron_error(StatusCode::NOT_FOUND, "NetworkNotFound", &format!("Network {id} could not be found.")),
    }
}

async fn create(State(s): State<Shared>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    remember_headers(&s, &headers);
    let Some(Value::Object(mut net)) = body.get("network").cloned() else {
        return neutron_error(StatusCode::BAD_REQUEST, "HTTPBadRequest", "no network");
    };
    let mut fake = lock(&s);
    fake.next_id += 1;
    net.insert("id".into(), json!(format!("id-{}", fake.next_id)));
    net.insert("tags".into(), json!([]));
    fake.networks.push(net.clone());
    (StatusCode::CREATED, Json(json!({"network": net}))).into_response()
}

async fn update(State(s): State<Shared>, Path(id): Path<String>, Json(body): Json<Value>) -> Response {
    let mut fake = lock(&s);
    let Some(net) = fake.networks.iter_mut().find(|n| n["id"] == id.as_str()) else {
        return neutron_error(StatusCode::NOT_FOUND, "NetworkNotFound", "gone");
    };
    if let Some(Value::Object(changes)) = body.get("network") {
        net.extend(changes.clone());
    }
    Json(json!({"network": net})).into_response()
}

async fn delete(State(s): State<Shared>, Path(id): Path<String>) -> Response {
    let mut fake = lock(&s);
    if fake.networks.iter().any(|n| n["id"] == id.as_str() && n["name"] == "busy") {
        return neutron_error(StatusCode::CONFLICT, "NetworkInUse", "There are one or more ports still in use.");
    }
    fake.networks.retain(|n| n["id"] != id.as_str());
    StatusCode::NO_CONTENT.into_response()
}

async fn replace_tags(State(s): State<Shared>, Path(id): Path<String>, Json(body): Json<Value>) -> Response {
    let mut fake = lock(&s);
    let Some(net) = fake.networks.iter_mut().find(|n| n["id"] == id.as_str()) else {
        return neutron_error(StatusCode::NOT_FOUND, "NetworkNotFound", "gone");
    };
    net.insert("tags".into(), body["tags"].clone());
    Json(json!({"tags": body["tags"]})).into_response()
}

/// Serves the fake on a free loopback port; returns a client for it and the shared state.
async fn start() -> (Client, Shared) {
    let state = Shared::default();
    let app = Router::new()
        .route("/v2.0/networks", get(list).post(create))
        .route("/v2.0/networks/{id}", get(show).put(update).delete(delete))
        .route("/v2.0/networks/{id}/tags", put(replace_tags))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("bind: {e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("addr: {e}"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = Client::new(&format!("http://{addr}")).unwrap_or_else(|e| panic!("client: {e}"));
    (client, state)
}

async fn create_named(client: &Client, name: &str) -> Object {
    let mut attrs = Object::new();
    attrs.insert("name".into(), json!(name));
    client.create(Collection::Networks, attrs).await.unwrap_or_else(|e| panic!("create {name}: {e}"))
}

#[tokio::test]
async fn crud_round_trip_with_headers() {
    let (client, state) = start().await;
    let client = client.with_token(Some("tok".into())).with_project(Some("proj".into()));
    let created = create_named(&client, "n1").await;
    assert_eq!(created["name"], "n1");
    assert_eq!(lock(&state).last_token.as_deref(), Some("tok"));
    assert_eq!(lock(&state).last_project.as_deref(), Some("proj"));
    let id = created["id"].as_str().unwrap_or_default().to_string();

    let mut change = Object::new();
    change.insert("description".into(), json!("d"));
    let updated = client.update(Collection::Networks, &id, change).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(updated["description"], "d");

    let tags = client.tags_replace(Collection::Networks, &id, &["b".into(), "a".into()]).await;
    assert_eq!(tags.unwrap_or_else(|e| panic!("{e}")), vec!["b".to_string(), "a".to_string()]);
    let shown = client.show(Collection::Networks, &id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(shown["tags"], json!(["b", "a"]));

    client.delete(Collection::Networks, &id).await.unwrap_or_else(|e| panic!("{e}"));
    let gone = client.show(Collection::Networks, &id).await;
    assert!(matches!(&gone, Err(e) if e.status() == Some(404)), "{gone:?}");
}

#[tokio::test]
async fn api_errors_carry_neutron_type_and_url() {
    let (client, _) = start().await;
    let busy = create_named(&client, "busy").await;
    let id = busy["id"].as_str().unwrap_or_default();
    let Err(err) = client.delete(Collection::Networks, id).await else { panic!("a busy network was deleted") };
    let api = err.api().unwrap_or_else(|| panic!("not an API error: {err}"));
    assert_eq!((api.status, api.kind.as_deref()), (409, Some("NetworkInUse")));
    assert_eq!(
        err.to_string(),
        format!(
            "ConflictException: 409: Client Error for url: {}, There are one or more ports still in use.",
            client.resource_url(Collection::Networks, id)
        )
    );
}

#[tokio::test]
async fn list_follows_pagination_links() {
    let (client, _) = start().await;
    for i in 0..5 {
        create_named(&client, &format!("n{i}")).await;
    }
    let all = client.list(Collection::Networks, &[("limit", "2")]).await.unwrap_or_else(|e| panic!("{e}"));
    let names: Vec<&str> = all.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(names, ["n0", "n1", "n2", "n3", "n4"]);
    let one = client.list(Collection::Networks, &[("name", "n3")]).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(one.len(), 1);
}

#[tokio::test]
async fn find_by_id_then_by_name() {
    let (client, _) = start().await;
    let net = create_named(&client, "by-name").await;
    let id = net["id"].as_str().unwrap_or_default();
    let by_id = client.find(Collection::Networks, id).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_id["name"], "by-name");
    let by_name = client.find_id(Collection::Networks, "by-name").await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(by_name, id);
}

#[tokio::test]
async fn find_falls_back_to_names_on_400_and_403() {
    let (client, _) = start().await;
    create_named(&client, "bad name").await;
    create_named(&client, "secret-net").await;
    assert!(client.find(Collection::Networks, "bad name").await.is_ok());
    assert!(client.find(Collection::Networks, "secret-net").await.is_ok());
}

#[tokio::test]
async fn find_reports_none_and_many_like_openstacksdk() {
    let (client, _) = start().await;
    let missing = client.find(Collection::Networks, "nope").await;
    assert!(matches!(&missing, Err(ClientError::NotFound { .. })), "{missing:?}");
    assert_eq!(missing.err().map(|e| e.to_string()).as_deref(), Some("No Network found for nope"));

    create_named(&client, "twin").await;
    create_named(&client, "twin").await;
    let twins = client.find(Collection::Networks, "twin").await;
    assert_eq!(
        twins.err().map(|e| e.to_string()).as_deref(),
        Some("More than one Network exists with the name 'twin'.")
    );
    let empty = client.find(Collection::Networks, "").await;
    assert!(matches!(empty, Err(ClientError::NotFound { .. })));
}

#[tokio::test]
async fn find_does_not_hide_server_failures() {
    let (client, _) = start().await;
    create_named(&client, "boom").await;
    let err = client.find(Collection::Networks, "boom").await.err();
    assert_eq!(err.as_ref().and_then(ClientError::status), Some(500), "{err:?}");
}

#[tokio::test]
async fn unreachable_endpoint_is_a_transport_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let addr = listener.local_addr().unwrap_or_else(|e| panic!("{e}"));
    drop(listener);
    let client = Client::new(&format!("http://{addr}")).unwrap_or_else(|e| panic!("{e}"));
    let err = client.list(Collection::Networks, &[]).await.err();
    assert!(matches!(err, Some(ClientError::Transport { .. })), "{err:?}");
}
