//! Whole runs of `neutrino bench` against a small in-memory fake of the Networking API
//! (plain HTTP/1.1 over tokio's TcpStream): the requests, the rows, the JSON, the cleanup
//! of leftovers, keep-alive connections, and failure reporting.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_bench::{run, BenchArgs, BenchError, Scenario};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// What the fake holds and what it saw.
#[derive(Default)]
struct Fake {
    next_id: u64,
    collections: BTreeMap<String, Vec<Value>>,
    connections: usize,
    /// X-Project-Id values seen ("" when absent).
    header_projects: BTreeSet<String>,
    /// project_id values seen in create bodies.
    body_projects: BTreeSet<String>,
    /// Rows returned to each `?name=` list.
    name_hits: Vec<usize>,
    refuse_port_deletes: bool,
    /// (listening port, method, collection) of every request: which server got what when
    /// several listeners share this fake (replicas on one database).
    hits: Vec<(u16, String, String)>,
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Fake {
    fn seed(&mut self, collection: &str, name: &str) {
        self.next_id += 1;
        let item = json!({"id": format!("seed-{}", self.next_id), "name": name});
        self.collections.entry(collection.into()).or_default().push(item);
    }

    fn names(&self, collection: &str) -> Vec<String> {
        let items = self.collections.get(collection).map(Vec::as_slice).unwrap_or_default();
        items.iter().filter_map(|i| i["name"].as_str().map(str::to_string)).collect()
    }

    fn handle(&mut self, method: &str, target: &str, project: Option<&str>, body: &[u8]) -> (u16, Option<Value>) {
        self.header_projects.insert(project.unwrap_or_default().to_string());
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let query: Vec<(String, String)> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (percent_decode(k), percent_decode(v))
            })
            .collect();
        let segments: Vec<&str> = path.trim_start_matches("/v2.0/").split('/').collect();
        match (method, segments.as_slice()) {
            ("PUT", ["quotas", _]) => (200, Some(json!({"quota": {"port": -1}}))),
            ("POST", [collection]) => {
                let Ok(body) = serde_json::from_slice::<Value>(body) else { return (400, None) };
                let singular = collection.trim_end_matches('s');
                let mut item = body[singular].clone();
                self.body_projects.insert(item["project_id"].as_str().unwrap_or_default().to_string());
                self.next_id += 1;
                item["id"] = json!(format!("{singular}-{}", self.next_id));
                if *collection == "ports" {
                    item["fixed_ips"] = json!([{"ip_address": format!("10.0.0.{}", self.next_id % 250 + 2)}]);
                }
                self.collections.entry(collection.to_string()).or_default().push(item.clone());
                (201, Some(json!({ singular: item })))
            }
            ("GET", [collection]) => {
                let fields: Vec<&str> = query.iter().filter(|(k, _)| k == "fields").map(|(_, v)| v.as_str()).collect();
                let items = self.collections.get(*collection).cloned().unwrap_or_default();
                let rows: Vec<Value> = items
                    .into_iter()
                    .filter(|item| query.iter().filter(|(k, _)| k != "fields").all(|(k, v)| item[k] == json!(v)))
                    .map(|item| {
                        if fields.is_empty() {
                            return item;
                        }
                        Value::Object(fields.iter().map(|f| (f.to_string(), item[*f].clone())).collect())
                    })
                    .collect();
                if query.iter().any(|(k, _)| k == "name") {
                    self.name_hits.push(rows.len());
                }
                (200, Some(json!({ *collection: rows })))
            }
            ("DELETE", [collection, id]) => {
                if *collection == "ports" && self.refuse_port_deletes {
                    return (409, Some(json!({"NeutronError": {"type": "InUse", "message": "no", "detail": ""}})));
                }
                let items = self.collections.entry(collection.to_string()).or_default();
                let before = items.len();
                items.retain(|item| item["id"] != json!(id));
                if items.len() < before {
                    (204, None)
                } else {
                    (404, None)
                }
            }
            _ => (404, None),
        }
    }
}

async fn serve_connection(stream: TcpStream, fake: Arc<Mutex<Fake>>) -> std::io::Result<()> {
    let server = stream.local_addr()?.port();
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await? == 0 {
            return Ok(());
        }
        let mut parts = request_line.split_whitespace();
        let (method, target) =
            (parts.next().unwrap_or_default().to_string(), parts.next().unwrap_or_default().to_string());
        let mut headers = HashMap::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).await?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let length: usize = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        let (status, reply) = {
            let mut fake = fake.lock().map_err(|_| std::io::Error::other("poisoned"))?;
            let collection = target.trim_start_matches("/v2.0/").split(['/', '?']).next().unwrap_or_default();
            fake.hits.push((server, method.clone(), collection.to_string()));
            fake.handle(&method, &target, headers.get("x-project-id").map(String::as_str), &body)
        };
        let response = match reply {
            Some(v) => {
                let text = v.to_string();
                format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                )
            }
            None if status == 204 => format!("HTTP/1.1 {status} X\r\n\r\n"),
            None => format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n"),
        };
        write.write_all(response.as_bytes()).await?;
    }
}

/// Starts the fake on a free loopback port; returns its base URL.
async fn start(fake: Arc<Mutex<Fake>>) -> String {
    let listener = match TcpListener::bind("127.0.0.1:0").await {
        Ok(l) => l,
        Err(e) => panic!("bind: {e}"),
    };
    let url = match listener.local_addr() {
        Ok(a) => format!("http://{a}"),
        Err(e) => panic!("{e}"),
    };
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            if let Ok(mut f) = fake.lock() {
                f.connections += 1;
            }
            tokio::spawn(serve_connection(stream, fake.clone()));
        }
    });
    url
}

fn args(url: String, json: &std::path::Path) -> BenchArgs {
    BenchArgs {
        urls: vec![url],
        networks: 3,
        ports: 10,
        concurrency: "1,3".into(),
        list_reps: 2,
        project_id: Some("p-bench".into()),
        prefix: "lg".into(),
        headers: Vec::new(),
        token: None,
        timeout: 10.0,
        json: Some(json.to_path_buf()),
        label: "fake".into(),
        no_cleanup: false,
        keep_quotas: false,
        scenario: Scenario::Ports,
        hosts: 100,
        changes: 100,
        span: 3,
        server_pid: Vec::new(),
        db_pid: None,
        quiet: false,
    }
}

fn read_json(path: &std::path::Path) -> Value {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => panic!("{}: {e}", path.display()),
    };
    match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => panic!("{e}: {text}"),
    }
}

fn lock(fake: &Arc<Mutex<Fake>>) -> std::sync::MutexGuard<'_, Fake> {
    match fake.lock() {
        Ok(f) => f,
        Err(e) => panic!("{e}"),
    }
}

const PHASES: [(&str, usize); 10] = [
    ("create_network", 3),
    ("create_subnet", 3),
    ("create_port", 10),
    ("list_ports_all", 2),
    ("list_ports_by_net", 10),
    ("list_ports_by_name", 10),
    ("list_ports_fields", 10),
    ("delete_port", 10),
    ("delete_subnet", 3),
    ("delete_network", 3),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ports_scenario_runs_every_phase_and_cleans_up() {
    let fake = Arc::new(Mutex::new(Fake::default()));
    {
        let mut f = lock(&fake);
        f.seed("networks", "lg-old-net");
        f.seed("ports", "lg-old-port");
        f.seed("networks", "keep-me");
    }
    let url = start(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let json_path = dir.path().join("run.json");
    let mut a = args(url, &json_path);
    a.server_pid = vec![std::process::id()];
    if let Err(e) = run(a).await {
        panic!("run failed: {e}");
    }

    let report = read_json(&json_path);
    assert_eq!(report["concurrency"], json!([1, 3]));
    assert_eq!(report["project_id"], "p-bench");
    assert_eq!(report["failed_requests"], 0);
    assert!(report["server_rss_kib_before"].as_u64().is_some_and(|kib| kib > 0));
    let rows = report["results"].as_array().cloned().unwrap_or_default();
    assert_eq!(rows.len(), 2 * PHASES.len());
    for (row, (op, requests)) in rows.iter().zip(PHASES.iter().chain(PHASES.iter())) {
        assert_eq!(row["op"], *op);
        assert_eq!(row["requests"], *requests, "{row}");
        assert_eq!(row["ok"], *requests, "{row}");
        assert_eq!(row["errors"], 0, "{row}");
        assert!(row["p50_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{row}");
        assert!(row["p99_ms"].as_f64() >= row["p50_ms"].as_f64(), "{row}");
        assert!(row["srv_cpu_ms_per_req"].is_f64(), "{row}");
        assert!(row["db_cpu_ms_per_req"].is_null(), "{row}");
    }
    assert_eq!(rows[10]["concurrency"], 3);

    let f = lock(&fake);
    assert_eq!(f.names("networks"), ["keep-me"], "leftovers deleted, other networks kept");
    assert!(f.names("ports").is_empty() && f.names("subnets").is_empty());
    assert_eq!(f.header_projects, BTreeSet::from(["p-bench".to_string()]));
    assert_eq!(f.body_projects, BTreeSet::from(["p-bench".to_string()]));
    assert_eq!(f.name_hits, vec![1; 20], "every by-name list finds its one port");
    // One connection per worker per phase at most (plus cleanup and quotas): keep-alive works.
    assert!(f.connections <= 2 + PHASES.len() * (1 + 3), "{} connections", f.connections);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn several_servers_get_equal_shares_of_every_phase() {
    // Two listeners on one fake: two replicas of one database.
    let fake = Arc::new(Mutex::new(Fake::default()));
    let (a, b) = (start(fake.clone()).await, start(fake.clone()).await);
    let port = |url: &str| url.rsplit(':').next().and_then(|p| p.parse::<u16>().ok()).unwrap_or_default();
    let (pa, pb) = (port(&a), port(&b));
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let json_path = dir.path().join("run.json");
    let mut args = args(a.clone(), &json_path);
    args.urls.push(b.clone());
    args.concurrency = "3".into();
    args.no_cleanup = true;
    args.keep_quotas = true;
    if let Err(e) = run(args).await {
        panic!("run failed: {e}");
    }
    let report = read_json(&json_path);
    assert_eq!(report["base_urls"], json!([a, b]));
    assert_eq!(report["failed_requests"], 0, "a port created through one server is deleted through the other");
    let f = lock(&fake);
    let count = |server: u16, method: &str, collection: &str| {
        f.hits.iter().filter(|(s, m, c)| (*s, m.as_str(), c.as_str()) == (server, method, collection)).count()
    };
    // 3 networks and subnets, 10 ports, 2 + 3 * 10 lists: round-robin per request, whatever
    // the 3 workers' pace.
    for (method, collection, total) in [("POST", "networks", 3), ("POST", "subnets", 3), ("POST", "ports", 10)]
        .into_iter()
        .chain([("GET", "ports", 32), ("DELETE", "ports", 10), ("DELETE", "networks", 3)])
    {
        let (on_a, on_b) = (count(pa, method, collection), count(pb, method, collection));
        assert_eq!((on_a, on_b), (total - total / 2, total / 2), "{method} {collection}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_requests_are_reported_after_the_json_is_written() {
    let fake = Arc::new(Mutex::new(Fake { refuse_port_deletes: true, ..Fake::default() }));
    let url = start(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let json_path = dir.path().join("run.json");
    let mut a = args(url, &json_path);
    a.concurrency = "2".into();
    a.headers = vec!["X-Project-Id:".into()];
    match run(a).await {
        Err(BenchError::Failed(10)) => {}
        other => panic!("expected 10 failed requests, got {other:?}"),
    }
    let report = read_json(&json_path);
    let delete_port = report["results"].as_array().and_then(|rows| rows.iter().find(|r| r["op"] == "delete_port"));
    assert_eq!(delete_port.map(|r| (r["ok"].clone(), r["errors"].clone())), Some((json!(0), json!(10))));
    assert_eq!(report["failed_requests"], 10);
    let f = lock(&fake);
    assert_eq!(f.header_projects, BTreeSet::from([String::new()]), "an empty --header value removes X-Project-Id");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_server_fails_every_request_without_aborting_the_run() {
    // Bind then drop a listener: the port is (almost certainly) closed afterwards.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap_or_else(|e| panic!("{e}"));
        format!("http://{}", listener.local_addr().unwrap_or_else(|e| panic!("{e}")))
    };
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let json_path = dir.path().join("run.json");
    let mut a = args(url, &json_path);
    a.timeout = 2.0;
    match run(a).await {
        Err(BenchError::Failed(6)) => {}
        other => panic!("expected the 3 network creates of both rounds to fail, got {other:?}"),
    }
    let report = read_json(&json_path);
    assert_eq!(report["aborted_rounds"], 2);
    assert_eq!(report["results"].as_array().map(Vec::len), Some(2));
}
