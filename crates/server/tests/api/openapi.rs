//! `GET /openapi.json`: served without a token, valid by a real OpenAPI validator
//! (openapi-spec-validator, in the virtualenv scripts/install-openapi-validator.sh makes),
//! and in step with the router: every route the router source declares is in the document,
//! and every documented path and method is answered by the router (not its 404/405
//! fallbacks).

use super::common::TestServer;
use neutrino_model::resources::{self, COLLECTIONS};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The document as an unauthenticated caller gets it.
async fn fetch(server: &TestServer) -> Value {
    let res = server.http.get(format!("{}/openapi.json", server.url)).send().await.expect("request");
    assert_eq!(res.status(), StatusCode::OK);
    let ct = res.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert_eq!(ct, "application/json");
    res.json().await.expect("json")
}

/// The validator's venv, made (or found) by the install script; `None` (skip) outside CI when
/// it cannot be made.
fn validator() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let venv = std::env::var_os("NEUTRINO_OPENAPI_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/tmp/neutrino-openapi-venv"));
    let status = std::process::Command::new(root.join("scripts/install-openapi-validator.sh"))
        .env("NEUTRINO_OPENAPI_VENV", &venv)
        .status();
    match status {
        Ok(s) if s.success() => Some(venv.join("bin/python3")),
        other => {
            assert!(
                std::env::var_os("CI").is_none(),
                "openapi-spec-validator could not be installed ({other:?}): run scripts/install-openapi-validator.sh"
            );
            eprintln!("skipped: openapi-spec-validator could not be installed ({other:?})");
            None
        }
    }
}

#[tokio::test]
async fn the_document_is_served_without_a_token_and_is_valid_openapi() {
    let server = TestServer::start_auth().await;
    let doc = fetch(&server).await;
    assert_eq!(doc["openapi"], "3.0.3");
    // Everything else still wants a token.
    assert_eq!(server.get("/v2.0/networks").await.0, StatusCode::UNAUTHORIZED);
    let Some(python) = validator() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec_pretty(&doc).expect("json")).expect("write");
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.0"])
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "openapi-spec-validator refused the document:\n{text}");

    // The validator does catch a broken document (so the pass above means something).
    let mut broken = doc.clone();
    broken["paths"]["/v2.0/networks"]["get"]["responses"] = Value::String("none".into());
    std::fs::write(&file, serde_json::to_vec(&broken).expect("json")).expect("write");
    let out = std::process::Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.0"])
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    assert!(!out.status.success(), "a broken document passed");
}

/// Every path literal in a `.route(` call of the router's source files (`src/api/`, with
/// its subdirectories).
fn router_paths() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let (mut dirs, mut paths) = (vec![root.clone()], Vec::new());
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("a source dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            // `/metrics` is served on its own listener (`metrics_listen`), never on the API
            // router (`tests/api/metrics.rs` checks the API port answers it 404).
            if path.file_name().and_then(|n| n.to_str()) == Some("metrics.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("read");
            for part in text.split(".route(").skip(1) {
                let Some(rest) = part.trim_start().strip_prefix('"') else { continue };
                paths.push(rest.split('"').next().unwrap_or_default().to_string());
            }
        }
    }
    assert!(paths.len() > 20, "the router's routes were not found in {}", root.display());
    paths
}

/// A path with every `{param}` made `{}`, and the `.json` suffix the server strips removed.
fn normalise(path: &str) -> String {
    let path = path.strip_suffix(".json").unwrap_or(path);
    path.split('/').map(|s| if s.starts_with('{') { "{}" } else { s }).collect::<Vec<_>>().join("/")
}

/// The router's served API paths, `{collection}` expanded from the table the router resolves
/// it with; the agents' API and Keystone's are not the Networking API and not documented.
fn served() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for path in router_paths() {
        if path.starts_with("/v3") || path.starts_with("/agent/") {
            continue;
        }
        if path.contains("{collection}") {
            for (segment, resource) in COLLECTIONS {
                let tagged = resources::def(*resource).attr("tags").is_some();
                // `{action}` is the member actions' node: checked from the document's side.
                if path.contains("{action}") || (path.contains("/tags") && !tagged) {
                    continue;
                }
                out.insert(normalise(&path.replace("{collection}", segment)));
            }
        } else {
            out.insert(normalise(&path));
        }
    }
    out
}

#[tokio::test]
async fn the_document_lists_every_collection_and_route_the_server_serves() {
    let server = TestServer::start().await;
    let doc = fetch(&server).await;
    let documented: BTreeSet<String> = doc["paths"].as_object().expect("paths").keys().map(|p| normalise(p)).collect();
    let missing: Vec<String> = served().into_iter().filter(|p| !documented.contains(p)).collect();
    assert!(missing.is_empty(), "served but not documented: {missing:?}");
    for (segment, resource) in COLLECTIONS {
        let def = resources::def(*resource);
        let create = &doc["components"]["schemas"][format!("{}.create", def.singular)]["properties"];
        for attr in def.attrs.iter().filter(|a| a.post) {
            assert!(create.get(attr.name).is_some(), "{segment}: {} missing from the create schema", attr.name);
        }
        let update = &doc["components"]["schemas"][format!("{}.update", def.singular)]["properties"];
        for attr in def.attrs.iter().filter(|a| a.put) {
            assert!(update.get(attr.name).is_some(), "{segment}: {} missing from the update schema", attr.name);
        }
    }
}

#[tokio::test]
async fn every_documented_operation_is_routed() {
    let server = TestServer::start().await;
    let doc = fetch(&server).await;
    let id = "6f9d1c4e-1b2a-4c3d-8e9f-0a1b2c3d4e5f";
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let url = path.split('/').map(|s| if s.starts_with('{') { id } else { s }).collect::<Vec<_>>().join("/");
        // A path the router has answers an unused method with 405; one it lacks with 404.
        let (st, _) = server.call(Method::PATCH, &url, None).await;
        assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED, "PATCH {url}: no such route");
        for method in item.as_object().expect("path item").keys().filter(|k| *k != "parameters") {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            let res = server.http.request(method.clone(), format!("{}{url}", server.url)).send().await.expect("send");
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url}: documented, not routed");
            // The fallback's (and an unknown collection's or action's) answer.
            let fallback = body["NeutronError"]["message"] == "The resource could not be found.";
            assert!(!fallback, "{method} {url}: documented, answered by the fallback");
        }
    }
}
