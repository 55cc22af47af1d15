//! Two real `neutrino server` processes on one PostgreSQL, one of them killed (SIGKILL) in
//! the middle of a burst of port creates: clients that retry against the other server lose
//! nothing and duplicate nothing, and an agent watching the dead one converges through the
//! other within seconds. Skipped (with the reason printed) where PostgreSQL is not
//! installed, except under `CI`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests may unwrap

mod common;

use futures::StreamExt;
use neutrino_agent::api::{Credentials, ServerApi};
use neutrino_agent_api::{AgentReport, L2Configurations, AGENT_BINARY, AGENT_TYPE_LINUXBRIDGE, TUNNEL_TYPE_VXLAN};
use neutrino_store::postgres::testing::TestCluster;
use reqwest::{StatusCode, Url};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

/// Port creates in the burst, at this concurrency.
const CREATES: usize = 1000;
const CONCURRENCY: usize = 16;
/// Free addresses on the burst's network (three subnets of 200): fewer than creates.
const FREE: usize = 600;
/// A is killed once this many creates have been answered.
const KILL_AFTER: usize = 400;
/// The watching agent's host.
const HOST: &str = "hv-failover";
/// How long an agent may take to see a change after its server died.
const CONVERGE: Duration = Duration::from_secs(5);

/// How one create ended, from the client's side.
#[derive(Debug)]
enum Outcome {
    /// 201, from the server first asked.
    Created { name: String, ip: String },
    /// The first server's answer was lost; the port was found on the other by name.
    Found { name: String, ip: String },
    /// 201 from the other server, re-sent after the first failed.
    Resent { name: String, ip: String },
    /// 409 IpAddressGenerationFailure (possibly after a re-send).
    NoAddress { name: String },
}

/// The servers and what the burst's clients share.
struct Clients {
    http: reqwest::Client,
    a: String,
    b: String,
    network: String,
    /// A write through B after A died: see [`Clients::create`].
    barrier: OnceCell<()>,
    /// Creates whose answer was lost (looked up on B before a re-send).
    lost_answers: AtomicUsize,
}

impl Clients {
    async fn post(&self, server: &str, path: &str, body: &Value) -> reqwest::Result<(StatusCode, Value)> {
        let res = self.http.post(format!("{server}{path}")).json(body).send().await?;
        let status = res.status();
        Ok((status, res.json().await?))
    }

    async fn get(&self, server: &str, path: &str) -> (StatusCode, Value) {
        let res = self.http.get(format!("{server}{path}")).send().await.expect("GET");
        (res.status(), res.json().await.expect("JSON"))
    }

    /// Creates port `burst-{i}` through A (even) or B (odd). When A fails, the request is
    /// retried on B as a careful client would: a request that never connected is re-sent
    /// at once; one whose answer was lost may have committed, so the client first looks the
    /// name up on B and re-sends only if it is not there. The look-up follows one write
    /// through B, which cannot start before every write transaction the dead server left
    /// open has ended (they hold the one write lock): without it, a create whose COMMIT
    /// reached the database just before A died could land after the look-up.
    async fn create(&self, i: usize) -> Outcome {
        let name = format!("burst-{i}");
        let body = json!({"port": {"network_id": self.network, "name": name}});
        let first = if i.is_multiple_of(2) { &self.a } else { &self.b };
        let failure = match self.post(first, "/v2.0/ports", &body).await {
            Ok(answer) => return outcome(name, answer, false),
            Err(e) => e,
        };
        assert_eq!(first, &self.a, "B failed: {failure}");
        if !failure.is_connect() {
            self.lost_answers.fetch_add(1, Ordering::Relaxed);
            self.barrier.get_or_init(|| self.barrier_write()).await;
            let (st, list) = self.get(&self.b, &format!("/v2.0/ports?name={name}")).await;
            assert_eq!(st, StatusCode::OK, "{list}");
            match list["ports"].as_array().unwrap().as_slice() {
                [] => {}
                [port] => return Outcome::Found { name, ip: ip_of(port) },
                more => panic!("{name} twice: {more:?}"),
            }
        }
        outcome(name, self.post(&self.b, "/v2.0/ports", &body).await.expect("B answers"), true)
    }

    async fn barrier_write(&self) {
        let body = json!({"network": {"description": "after the failover"}});
        let res = self.http.put(format!("{}/v2.0/networks/{}", self.b, self.network)).json(&body).send().await;
        assert_eq!(res.expect("B answers").status(), StatusCode::OK);
    }
}

fn outcome(name: String, (status, body): (StatusCode, Value), resent: bool) -> Outcome {
    match (status.as_u16(), body["NeutronError"]["type"].as_str()) {
        (201, _) if resent => Outcome::Resent { name, ip: ip_of(&body["port"]) },
        (201, _) => Outcome::Created { name, ip: ip_of(&body["port"]) },
        (409, Some("IpAddressGenerationFailure")) => Outcome::NoAddress { name },
        (other, _) => panic!("{name}: unexpected {other}: {body}"),
    }
}

fn ip_of(port: &Value) -> String {
    port["fixed_ips"][0]["ip_address"].as_str().expect("an address").to_string()
}

/// A stand-in agent on [`HOST`]: the agent's own API client (servers [A, B], failing over
/// in order) long-polls the host's state; the first time each port id appears is noted.
fn watch(api: Arc<ServerApi>, seen: Arc<Mutex<HashMap<String, Instant>>>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut known = String::new();
        loop {
            match api.watch(HOST, &known, Duration::from_secs(20)).await {
                Ok(Some(state)) => {
                    let now = Instant::now();
                    let mut seen = seen.lock().unwrap();
                    for port in &state.ports {
                        seen.entry(port.id.clone()).or_insert(now);
                    }
                    known = state.fingerprint;
                }
                Ok(None) => {}
                Err(e) => {
                    eprintln!("watch failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}

/// Creates a port bound to [`HOST`] on `network` through `server` and waits until the
/// watcher sees it; the time from the create's answer to then.
async fn bound_port_reaches_the_host(
    clients: &Clients,
    server: &str,
    network: &str,
    seen: &Mutex<HashMap<String, Instant>>,
) -> Duration {
    let body = json!({"port": {"network_id": network, "binding:host_id": HOST}});
    let (st, port) = clients.post(server, "/v2.0/ports", &body).await.expect("create a bound port");
    assert_eq!(st, StatusCode::CREATED, "{port}");
    assert_eq!(port["port"]["binding:vif_type"], "bridge", "{port}");
    let id = port["port"]["id"].as_str().unwrap().to_string();
    let created = Instant::now();
    loop {
        if let Some(at) = seen.lock().unwrap().get(&id) {
            return at.saturating_duration_since(created);
        }
        assert!(created.elapsed() < 4 * CONVERGE, "port {id} never reached {HOST}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A network with a subnet of 200 free addresses per third octet given; its id.
async fn network(clients: &Clients, name: &str, octets: &[u8]) -> String {
    let (st, net) = clients.post(&clients.b, "/v2.0/networks", &json!({"network": {"name": name}})).await.unwrap();
    assert_eq!(st, StatusCode::CREATED, "{net}");
    let id = net["network"]["id"].as_str().unwrap().to_string();
    for octet in octets {
        let pool = json!([{"start": format!("10.30.{octet}.10"), "end": format!("10.30.{octet}.209")}]);
        let cidr = format!("10.30.{octet}.0/24");
        let subnet = json!({"subnet": {"network_id": id, "cidr": cidr, "ip_version": 4, "allocation_pools": pool}});
        let (st, body) = clients.post(&clients.b, "/v2.0/subnets", &subnet).await.unwrap();
        assert_eq!(st, StatusCode::CREATED, "{body}");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_a_server_mid_burst_loses_and_duplicates_nothing() {
    let Some(cluster) = TestCluster::for_test() else { return };
    let flags = ["--database-url", &cluster.url()];
    let (mut a, a_url, _a_dir) = common::start_with(&flags);
    let (_b, b_url, _b_dir) = common::start_with(&flags);
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let mut clients = Clients {
        http,
        a: a_url.clone(),
        b: b_url.clone(),
        network: String::new(),
        barrier: OnceCell::new(),
        lost_answers: 0.into(),
    };
    // Neutron's default port quota (500) would bind before the addresses run out.
    let quota = json!({"quota": {"port": -1}});
    let res = clients.http.put(format!("{b_url}/v2.0/quotas/default")).json(&quota).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    clients.network = network(&clients, "burst", &[0, 1, 2]).await;
    let wired = network(&clients, "wired", &[10]).await;

    // The agent registers and watches through A, the first of its servers.
    let servers = vec![Url::parse(&a_url).unwrap(), Url::parse(&b_url).unwrap()];
    let api = Arc::new(ServerApi::new(servers, Credentials::NoAuth { project_id: "default".into() }).unwrap());
    let configurations = L2Configurations {
        tunnel_types: vec![TUNNEL_TYPE_VXLAN.into()],
        tunneling_ip: Some("192.0.2.1".parse().unwrap()),
        ..L2Configurations::default()
    };
    let report = AgentReport {
        host: HOST.into(),
        agent_type: AGENT_TYPE_LINUXBRIDGE.into(),
        binary: AGENT_BINARY.into(),
        availability_zone: None,
        configurations: serde_json::to_value(configurations).unwrap(),
        start_flag: true,
        conditions: vec![],
    };
    api.report(&report).await.expect("agent report");
    let seen = Arc::new(Mutex::new(HashMap::new()));
    let watcher = watch(api, seen.clone());
    let before = bound_port_reaches_the_host(&clients, &a_url, &wired, &seen).await;
    eprintln!("through A, before the kill: {before:?}");

    let clients = Arc::new(clients);
    let mut pending = futures::stream::iter((0..CREATES).map(|i| clients.create(i))).buffer_unordered(CONCURRENCY);
    let mut outcomes = Vec::new();
    let mut after_kill = None;
    while let Some(outcome) = pending.next().await {
        outcomes.push(outcome);
        if outcomes.len() == KILL_AFTER {
            a.0.kill().expect("SIGKILL A");
            // Through B, while the burst goes on: the agent, watching dead A, must see it.
            let (clients, wired, seen) = (clients.clone(), wired.clone(), seen.clone());
            after_kill = Some(tokio::spawn(async move {
                let b = clients.b.clone();
                bound_port_reaches_the_host(&clients, &b, &wired, &seen).await
            }));
        }
    }
    let converged = after_kill.expect("A was killed").await.unwrap();
    eprintln!("through B, after the kill: {converged:?}");
    assert!(converged < CONVERGE, "the agent took {converged:?} to converge through B");
    watcher.abort();

    // Every name ended exactly once, and the servers' view agrees with the clients'.
    let (mut created, mut found, mut resent, mut no_address) = (HashMap::new(), 0, 0, 0);
    let mut names = HashSet::new();
    for outcome in &outcomes {
        let (name, ip) = match outcome {
            Outcome::Created { name, ip } => (name, Some(ip)),
            Outcome::Found { name, ip } => {
                found += 1;
                (name, Some(ip))
            }
            Outcome::Resent { name, ip } => {
                resent += 1;
                (name, Some(ip))
            }
            Outcome::NoAddress { name } => {
                no_address += 1;
                (name, None)
            }
        };
        assert!(names.insert(name.clone()), "{name} ended twice");
        if let Some(ip) = ip {
            assert!(created.insert(ip.clone(), name.clone()).is_none(), "{ip} handed out twice");
        }
    }
    let lost = clients.lost_answers.load(Ordering::Relaxed);
    eprintln!(
        "{} created, {no_address} 409; {lost} answers lost, {found} of them found; {resent} re-sent",
        created.len()
    );
    assert_eq!(names.len(), CREATES);
    assert!(found + resent > 0, "the kill hit no request");
    assert_eq!((created.len(), no_address), (FREE, CREATES - FREE));
    let (st, list) = clients.get(&b_url, &format!("/v2.0/ports?network_id={}", clients.network)).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let stored: HashMap<String, String> =
        list["ports"].as_array().unwrap().iter().map(|p| (ip_of(p), p["name"].as_str().unwrap().to_string())).collect();
    assert_eq!(list["ports"].as_array().unwrap().len(), FREE, "a port stored twice");
    assert_eq!(stored, created);
}

/// haproxy, as docs/OPERATIONS.md configures it, with its addresses replaced by loopback
/// ones; killed when dropped.
struct Haproxy(std::process::Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The haproxy.cfg of docs/OPERATIONS.md, listening on `front`, its three servers at
/// `servers`, in the foreground (no daemon, user switch or syslog).
fn haproxy_config(front: &str, servers: [&str; 3]) -> String {
    let doc = include_str!("../../../docs/OPERATIONS.md");
    let start = doc.find("```\nglobal\n").expect("the haproxy.cfg block") + 4;
    let end = start + doc[start..].find("```").expect("its end");
    let mut config = doc[start..end].replace("192.0.2.10:9696", front);
    for (i, server) in servers.iter().enumerate() {
        config = config.replace(&format!("192.0.2.1{}:9696", i + 1), server);
    }
    let dropped = ["log /dev/log", "user haproxy", "group haproxy", "daemon"];
    config.lines().filter(|l| !dropped.contains(&l.trim())).map(|l| format!("{l}\n")).collect()
}

fn free_address() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

/// The documented haproxy in front of two servers and a third that never started: every
/// request through it succeeds, before and right after one server is killed (haproxy
/// re-sends a request whose connection was refused to another server), and it stops
/// sending to the dead one once `/healthcheck` fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_haproxy_routes_around_a_dead_server() {
    let Some(haproxy) = which("haproxy") else {
        assert!(std::env::var_os("CI").is_none(), "haproxy is not installed");
        eprintln!("skipping: haproxy is not installed");
        return;
    };
    let Some(cluster) = TestCluster::for_test() else { return };
    let flags = ["--database-url", &cluster.url()];
    let (mut a, a_url, dir) = common::start_with(&flags);
    let (_b, b_url, _b_dir) = common::start_with(&flags);
    let front = free_address();
    let never_started = free_address();
    let strip = |url: &str| url.trim_start_matches("http://").to_string();
    let config = haproxy_config(&front, [&strip(&a_url), &strip(&b_url), &never_started]);
    let path = dir.path().join("haproxy.cfg");
    std::fs::write(&path, config).unwrap();
    let check = Command::new(&haproxy).arg("-c").arg("-f").arg(&path).output().unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stdout));
    let log = dir.path().join("haproxy.log");
    let stderr = std::fs::File::create(&log).unwrap();
    let _proxy = Haproxy(Command::new(&haproxy).arg("-db").arg("-f").arg(&path).stderr(stderr).spawn().unwrap());

    let http = reqwest::Client::new();
    let url = format!("http://{front}/v2.0/networks");
    let deadline = Instant::now() + Duration::from_secs(15);
    while http.get(&url).send().await.is_err() {
        assert!(Instant::now() < deadline, "haproxy does not answer");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all_ok = |n: usize| {
        let (http, url) = (http.clone(), url.clone());
        async move {
            for _ in 0..n {
                let res = http.get(&url).send().await.expect("an answer through haproxy");
                assert_eq!(res.status(), StatusCode::OK);
            }
        }
    };
    all_ok(20).await;
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    // At once, before the health checks notice: refused connections are re-dispatched.
    all_ok(20).await;
    // After `fall 2` failed checks `inter 2s` apart, the dead server is out; the live one,
    // whose /healthcheck answers 200, stays in.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let said = std::fs::read_to_string(&log).unwrap();
        assert!(!said.contains("neutrino/ctl2 is DOWN"), "{said}");
        if said.contains("neutrino/ctl1 is DOWN") && said.contains("neutrino/ctl3 is DOWN") {
            break;
        }
        assert!(Instant::now() < deadline, "haproxy did not mark the dead servers down: {said}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    all_ok(20).await;
    let body = json!({"network": {"name": "through-haproxy"}});
    let res = http.post(format!("http://{front}/v2.0/networks")).json(&body).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    ["/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        .iter()
        .map(|d| std::path::Path::new(d).join(program))
        .find(|p| p.exists())
}
