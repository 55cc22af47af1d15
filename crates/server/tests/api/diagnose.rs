//! `neutrino diagnose`, server side: the test plays the agents (it registers them, long-polls
//! their hosts' questions and posts answers), and checks the hop the diagnosis names.

use crate::common::{assert_error, dhcp_report, l2_report, l3_report, TestServer};
use neutrino_agent_api::diagnose::{Ask, Check, Finding, HostAnswer, HostQuestion, HostQuestions};
use neutrino_server::app::host_deps::{Deps, Key};
use neutrino_store::ChangeKind;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The checks an agent makes for one ask, in packet order.
fn checks_of(ask: &Ask) -> Vec<Check> {
    match ask {
        Ask::Port { filtered, .. } => {
            let mut c = vec![Check::Tap, Check::TapUp, Check::TapBridge];
            c.extend(filtered.then_some(Check::PortFirewall));
            c
        }
        Ask::Network { remote_ports, .. } => {
            let mut c = vec![Check::Bridge, Check::SegmentDevice];
            c.extend(remote_ports.iter().map(|_| Check::Fdb));
            c
        }
        Ask::Dhcp { .. } => vec![Check::DhcpNamespace, Check::Dnsmasq, Check::DhcpHost],
        Ask::Router { interfaces, gateway, floating_ip, .. } => {
            let mut c = vec![Check::RouterNamespace];
            c.extend(interfaces.iter().map(|_| Check::RouterInterface));
            c.extend(gateway.as_ref().map(|_| Check::RouterGateway));
            c.extend(floating_ip.as_ref().map(|_| Check::FloatingIpNat));
            c
        }
    }
}

/// An agent answering its host's questions: every check fine except `broken`. Keeps the
/// questions it was asked.
struct FakeAgent {
    task: tokio::task::JoinHandle<()>,
    asked: Arc<Mutex<Vec<HostQuestion>>>,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fake_agent(url: &str, host: &str, broken: Option<Check>) -> FakeAgent {
    let (url, host) = (url.to_string(), host.to_string());
    let asked = Arc::new(Mutex::new(Vec::new()));
    let seen = asked.clone();
    let task = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let res = http.get(format!("{url}/agent/v1/hosts/{host}/questions?wait=5")).send().await;
            let Ok(res) = res else { continue };
            assert_eq!(res.status(), StatusCode::OK);
            let pending: HostQuestions = res.json().await.unwrap();
            for q in pending.questions {
                let mut findings = Vec::new();
                for (i, ask) in q.asks.iter().enumerate() {
                    for check in checks_of(ask) {
                        let ok = Some(check) != broken;
                        findings.push(Finding { ask: i, check, ok, evidence: format!("{check:?} on {host}: ok={ok}") });
                    }
                }
                let answer = HostAnswer { question_id: q.id.clone(), host: host.clone(), findings };
                let res = http.post(format!("{url}/agent/v1/hosts/{host}/answers")).json(&answer).send().await.unwrap();
                assert_eq!(res.status(), StatusCode::NO_CONTENT);
                seen.lock().unwrap().push(q);
            }
        }
    });
    FakeAgent { task, asked }
}

/// Two hosts with their L2 agents and a VXLAN network without DHCP; a port on each.
struct Cloud {
    net: String,
    p1: Value,
    p2: Value,
}

async fn cloud(s: &TestServer) -> Cloud {
    for (host, ip) in [("compute-1", "198.18.1.1"), ("compute-2", "198.18.1.2")] {
        let (st, b) = s.post("/agent/v1/agents/report", l2_report(host, ip)).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let net = s.network("n").await;
    s.subnet(&net, "10.9.0.0/24", json!({"enable_dhcp": false})).await;
    let mut ports = Vec::new();
    for host in ["compute-1", "compute-2"] {
        let (st, b) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "binding:host_id": host}})).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        ports.push(b["port"].clone());
    }
    let p2 = ports.pop().unwrap();
    let p1 = ports.pop().unwrap();
    Cloud { net, p1, p2 }
}

fn id(v: &Value) -> &str {
    v["id"].as_str().unwrap()
}

fn ip(v: &Value) -> &str {
    v["fixed_ips"][0]["ip_address"].as_str().unwrap()
}

async fn diagnose(s: &TestServer, query: &str) -> Value {
    let (st, b) = s.get(&format!("/v2.0/diagnose/ports/{query}")).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    b["diagnosis"].clone()
}

fn first_wrong(d: &Value) -> &Value {
    &d["hops"][d["first_wrong_hop"].as_u64().unwrap_or_else(|| panic!("no wrong hop: {d:#}")) as usize]
}

fn checks(d: &Value) -> Vec<String> {
    d["hops"].as_array().unwrap().iter().map(|h| h["check"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_healthy_path_says_so_and_a_broken_fdb_entry_is_named() {
    let s = TestServer::start().await;
    let c = cloud(&s).await;
    let a1 = fake_agent(&s.url, "compute-1", None);
    let _a2 = fake_agent(&s.url, "compute-2", None);
    let d = diagnose(&s, &format!("{}?to={}", id(&c.p1), id(&c.p2))).await;
    assert_eq!(d["healthy"], true, "{d:#}");
    assert_eq!(d["first_wrong_hop"], Value::Null);
    assert!(d["summary"].as_str().unwrap().starts_with("healthy"), "{d:#}");
    assert_eq!(d["protocol"], "icmp");
    // Packet order: the source's binding, agent, device and filter, its L2, then the target's.
    let order = checks(&d);
    let pos = |c: &str| order.iter().position(|x| x == c).unwrap_or_else(|| panic!("no {c} in {order:?}"));
    assert_eq!(&order[..2], ["binding", "agent"]);
    assert!(pos("tap") < pos("port_firewall") && pos("port_firewall") < pos("security_group"), "{order:?}");
    assert!(pos("security_group") < pos("bridge") && pos("bridge") < pos("fdb"), "{order:?}");
    // Arriving: the target's bridge, then its filter, then its device.
    let last = |c: &str| order.iter().rposition(|x| x == c).unwrap();
    assert!(last("bridge") < last("security_group") && last("security_group") < last("tap"), "{order:?}");
    let sg: Vec<&Value> = d["hops"].as_array().unwrap().iter().filter(|h| h["check"] == "security_group").collect();
    assert_eq!(sg.len(), 2, "egress on the source, ingress on the target: {d:#}");
    assert!(sg[1]["evidence"].as_str().unwrap().contains(&format!("admits icmp from {}", ip(&c.p1))), "{d:#}");
    // Each side was asked for the other's FDB entry.
    let asked = a1.asked.lock().unwrap().clone();
    let remote = asked[0].asks.iter().find_map(|a| match a {
        Ask::Network { network_id, remote_ports, .. } if *network_id == c.net => Some(remote_ports.clone()),
        _ => None,
    });
    let remote = remote.expect("a network ask");
    assert_eq!(remote[0].mac_address, c.p2["mac_address"].as_str().unwrap());
    assert_eq!(remote[0].endpoint.to_string(), "198.18.1.2");
    drop(a1);

    // compute-1 finds its FDB entry for the peer missing: that hop is named.
    let _a1 = fake_agent(&s.url, "compute-1", Some(Check::Fdb));
    let d = diagnose(&s, &format!("{}?to={}", id(&c.p1), id(&c.p2))).await;
    assert_eq!(d["healthy"], false);
    let hop = first_wrong(&d);
    assert_eq!(
        (hop["check"].as_str(), hop["host"].as_str(), hop["status"].as_str()),
        (Some("fdb"), Some("compute-1"), Some("wrong"))
    );
    assert!(d["summary"].as_str().unwrap().contains("fdb"), "{d:#}");
}

#[tokio::test]
async fn a_group_without_the_rule_is_the_wrong_hop_with_its_evidence() {
    let s = TestServer::start().await;
    let c = cloud(&s).await;
    let (_, g) = s.post("/v2.0/security-groups", json!({"security_group": {"name": "web"}})).await;
    let web = g["security_group"]["id"].as_str().unwrap().to_string();
    let rule = json!({"security_group_rule": {"security_group_id": web, "direction": "ingress", "ethertype": "IPv4",
                                               "protocol": "tcp", "port_range_min": 80, "port_range_max": 80}});
    assert_eq!(s.post("/v2.0/security-group-rules", rule).await.0, StatusCode::CREATED);
    let (st, b) = s.put(&format!("/v2.0/ports/{}", id(&c.p2)), json!({"port": {"security_groups": [web]}})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let _a1 = fake_agent(&s.url, "compute-1", None);
    let _a2 = fake_agent(&s.url, "compute-2", None);

    let d = diagnose(&s, &format!("{}?to={}&protocol=tcp&port=22", id(&c.p1), id(&c.p2))).await;
    let hop = first_wrong(&d);
    assert_eq!(hop["check"], "security_group", "{d:#}");
    assert_eq!(hop["host"], "compute-2");
    assert_eq!(hop["evidence"], format!("no ingress rule of groups [web] admits tcp 22 from {}", ip(&c.p1)));
    // Port 80 passes, through the rule, and by address too.
    let d = diagnose(&s, &format!("{}?to={}&protocol=tcp&port=80", id(&c.p1), ip(&c.p2))).await;
    assert_eq!(d["healthy"], true, "{d:#}");
}

#[tokio::test]
async fn a_dead_agent_is_named_and_its_host_is_not_asked() {
    let s = TestServer::start_with(|c| c.agent_down_time = 1).await;
    let c = cloud(&s).await;
    let _a2 = fake_agent(&s.url, "compute-2", None);
    tokio::time::sleep(Duration::from_millis(2200)).await;
    // compute-2's agent keeps reporting; compute-1's has gone silent.
    s.post("/agent/v1/agents/report", l2_report("compute-2", "198.18.1.2")).await;
    let started = Instant::now();
    let d = diagnose(&s, id(&c.p1)).await;
    let hop = first_wrong(&d);
    assert_eq!((hop["check"].as_str(), hop["host"].as_str()), (Some("agent"), Some("compute-1")), "{d:#}");
    assert!(hop["evidence"].as_str().unwrap().contains("last heartbeat"), "{d:#}");
    assert_eq!(checks(&d), ["binding", "agent"], "nothing else is asked of a dead agent's host: {d:#}");
    assert!(started.elapsed() < Duration::from_secs(2), "no wait for a host never asked");
    let d = diagnose(&s, id(&c.p2)).await;
    assert_eq!(d["healthy"], true, "{d:#}");
}

#[tokio::test]
async fn an_agent_that_never_answers_leaves_its_hops_unknown_within_the_timeout() {
    let s = TestServer::start_with(|c| c.diagnose_answer_timeout_ms = 400).await;
    let c = cloud(&s).await;
    let started = Instant::now();
    let d = diagnose(&s, id(&c.p1)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(d["healthy"], false);
    let hop = first_wrong(&d);
    assert_eq!((hop["check"].as_str(), hop["status"].as_str()), (Some("tap"), Some("unknown")), "{d:#}");
    assert_eq!(hop["evidence"], "the agent on host compute-1 did not answer in 400 ms");
    // The diagnosis took its questions back.
    let (st, b) = s.get("/agent/v1/hosts/compute-1/questions?wait=0").await;
    assert_eq!((st, b), (StatusCode::OK, json!({"questions": []})));
}

#[tokio::test]
async fn questions_wake_only_their_host_poll_and_no_host_state() {
    let s = TestServer::start_with(|c| c.diagnose_answer_timeout_ms = 300).await;
    let c = cloud(&s).await;
    let app = s.app.clone().unwrap();
    let before = *app.store.changes().borrow();
    // A poll of compute-1 waiting when the question comes answers it at once.
    let url = format!("{}/agent/v1/hosts/compute-1/questions?wait=20", s.url);
    let poll = tokio::spawn(async move {
        let started = Instant::now();
        let b: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
        (b, started.elapsed())
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let d = diagnose(&s, id(&c.p1)).await;
    let (b, took) = poll.await.unwrap();
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(b["questions"][0]["asks"][0]["kind"], "port", "{b}");
    assert_eq!(b["questions"][0]["asks"][0]["port_id"], id(&c.p1));
    assert_eq!(d["hops"][2]["status"], "unknown", "nobody answered: {d:#}");
    // Both hosts' states depend on both hosts; no question (or its deletion) concerns them.
    let mut deps = Deps::of_host("compute-1");
    deps.add(Key::host("compute-2"));
    deps.add(Key::network(&c.net));
    deps.add(Key::port(id(&c.p1)));
    let (hit, upto) = app.change_index.any_since(&app, before, |t| deps.concerned_by(t)).await.unwrap();
    assert!(upto > before, "the questions were changes");
    assert!(!hit, "a question rebuilt a host state");
    let key = Key::Resource(ChangeKind::HostQuestion, "compute-1".into());
    let (hit, _) = app
        .change_index
        .any_since(&app, before, |t| matches!(t, neutrino_server::app::host_deps::Touch::Keys(k) if k.contains(&key)))
        .await
        .unwrap();
    assert!(hit, "the question's change names its host");
}

#[tokio::test]
async fn bad_queries_unknown_ports_and_bad_answers_are_refused() {
    let s = TestServer::start_with(|c| c.diagnose_max_answer_bytes = 1024).await;
    let c = cloud(&s).await;
    let p1 = id(&c.p1).to_string();
    assert_error(&s.get("/v2.0/diagnose/ports/nope").await, 404, "PortNotFound");
    assert_error(&s.get(&format!("/v2.0/diagnose/ports/{p1}?to=nope")).await, 400, "InvalidInput");
    assert_error(&s.get(&format!("/v2.0/diagnose/ports/{p1}?to=10.9.0.9&protocol=gre")).await, 400, "InvalidInput");
    assert_error(
        &s.get(&format!("/v2.0/diagnose/ports/{p1}?to=10.9.0.9&protocol=tcp&port=0")).await,
        400,
        "InvalidInput",
    );
    assert_error(&s.get(&format!("/v2.0/diagnose/ports/{p1}?to=10.9.0.9&port=22")).await, 400, "InvalidInput");
    assert_error(&s.get(&format!("/v2.0/diagnose/ports/{p1}?protocol=tcp")).await, 400, "InvalidInput");
    let answer = |q: &str, host: &str| json!({"question_id": q, "host": host, "findings": []});
    assert_error(
        &s.post("/agent/v1/hosts/compute-1/answers", answer("q", "compute-1")).await,
        404,
        "HostQuestionNotFound",
    );
    assert_error(&s.post("/agent/v1/hosts/compute-1/answers", answer("q", "compute-2")).await, 400, "InvalidInput");
    assert_error(
        &s.post("/agent/v1/hosts/compute-1/answers", json!({"question_id": "q"})).await,
        400,
        "HTTPBadRequest",
    );
    let big = json!({"question_id": "q", "host": "compute-1", "findings": [], "pad": "x".repeat(2000)});
    assert_error(&s.post("/agent/v1/hosts/compute-1/answers", big).await, 413, "HTTPRequestEntityTooLarge");
    let (st, _) = s.get("/agent/v1/hosts/compute-1/questions?wait=x").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
}

/// Diagnoses `one` and, while it waits for answers nobody gives, `two`: (first, second).
async fn two_at_once(
    tweak: impl FnOnce(&mut neutrino_server::config::Config),
    second_port: fn(&Cloud) -> &Value,
) -> (TestServer, String, (StatusCode, Value), (StatusCode, Value)) {
    let s = TestServer::start_with(|c| {
        c.diagnose_answer_timeout_ms = 1500;
        tweak(c);
    })
    .await;
    let c = cloud(&s).await;
    let (one, two) =
        (format!("/v2.0/diagnose/ports/{}", id(&c.p1)), format!("/v2.0/diagnose/ports/{}", id(second_port(&c))));
    let (first, second) = tokio::join!(s.get(&one), async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        s.get(&two).await
    });
    (s, one, first, second)
}

#[tokio::test]
async fn a_host_with_too_many_unanswered_questions_refuses_more() {
    let (s, path, first, second) = two_at_once(|c| c.diagnose_max_pending_questions = 1, |c| &c.p1).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_error(&second, 503, "ServiceUnavailable");
    // Once the first took its question back, the host may be asked again.
    let (st, _) = s.get(&path).await;
    assert_eq!(st, StatusCode::OK);
}

#[tokio::test]
async fn diagnoses_past_the_concurrency_cap_are_refused() {
    let (_s, _, first, second) = two_at_once(|c| c.diagnose_max_concurrent = 1, |c| &c.p2).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_error(&second, 503, "ServiceUnavailable");
}

#[tokio::test]
async fn the_network_dhcp_agent_is_walked_and_a_stopped_dnsmasq_is_named() {
    let s = TestServer::start().await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    s.post("/agent/v1/agents/report", l2_report("net-1", "198.18.1.9")).await;
    s.post("/agent/v1/agents/report", dhcp_report("net-1")).await;
    let net = s.network("d").await;
    s.subnet(&net, "10.8.0.0/24", json!({})).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "binding:host_id": "compute-1"}})).await;
    let port = p["port"]["id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = s.get(&format!("/v2.0/networks/{net}/dhcp-agents")).await;
        if b["agents"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "not scheduled: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _a1 = fake_agent(&s.url, "compute-1", None);
    let _n1 = fake_agent(&s.url, "net-1", Some(Check::Dnsmasq));
    let d = diagnose(&s, &port).await;
    let hop = first_wrong(&d);
    assert_eq!((hop["check"].as_str(), hop["host"].as_str()), (Some("dnsmasq"), Some("net-1")), "{d:#}");
    assert!(checks(&d).iter().any(|c| c == "dhcp_host"), "{d:#}");
}

#[tokio::test]
async fn a_member_may_not_diagnose_and_sees_no_other_project_port() {
    let s = TestServer::start_auth().await;
    let admin = s.admin_token().await;
    let (member, _) = s.member(&admin, "p1", "alice", "member").await;
    let as_member = |path: String| {
        let member = member.clone();
        let s = &s;
        async move { s.call_with(reqwest::Method::GET, &path, None, &[("x-auth-token", &member)]).await }
    };
    let h = [("x-auth-token", member.as_str())];
    let (_, n) =
        s.call_with(reqwest::Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "m"}})), &h).await;
    let net = n["network"]["id"].as_str().unwrap().to_string();
    let (st, p) =
        s.call_with(reqwest::Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": net}})), &h).await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let own = p["port"]["id"].as_str().unwrap().to_string();
    assert_error(&as_member(format!("/v2.0/diagnose/ports/{own}")).await, 403, "PolicyNotAuthorized");
    let ha = [("x-auth-token", admin.as_str())];
    let (_, n) =
        s.call_with(reqwest::Method::POST, "/v2.0/networks", Some(json!({"network": {"name": "a"}})), &ha).await;
    let net = n["network"]["id"].as_str().unwrap().to_string();
    let (_, p) =
        s.call_with(reqwest::Method::POST, "/v2.0/ports", Some(json!({"port": {"network_id": net}})), &ha).await;
    let theirs = p["port"]["id"].as_str().unwrap().to_string();
    assert_error(&as_member(format!("/v2.0/diagnose/ports/{theirs}")).await, 404, "PortNotFound");
    // The admin may: an unbound port's first hop is its binding.
    let (st, d) = s.call_with(reqwest::Method::GET, &format!("/v2.0/diagnose/ports/{theirs}"), None, &ha).await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["diagnosis"]["hops"][0]["check"], "binding");
    assert_eq!(d["diagnosis"]["first_wrong_hop"], 0);
    // Nor may a member poll questions or answer them.
    let (st, _) = as_member("/agent/v1/hosts/h/questions".into()).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}

/// A question asked through one server reaches an agent polling another on the same
/// PostgreSQL database, and its answer comes back, each within the latency of the change
/// feed's notification (the listeners' own poll is a minute away).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_question_asked_through_one_replica_reaches_an_agent_polling_another() {
    let Some(cluster) = neutrino_store::postgres::testing::TestCluster::for_test() else { return };
    let replica = |timeout_ms: u64| {
        let url = cluster.url();
        TestServer::start_with(move |c| {
            c.database_url = url;
            c.store.change_poll_ms = 60_000;
            c.diagnose_answer_timeout_ms = timeout_ms;
        })
    };
    let a = replica(20_000).await;
    let b = replica(20_000).await;
    let c = cloud(&a).await;
    let _a1 = fake_agent(&b.url, "compute-1", None);
    let _a2 = fake_agent(&b.url, "compute-2", Some(Check::Tap));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    let d = diagnose(&a, &format!("{}?to={}", id(&c.p1), id(&c.p2))).await;
    assert!(started.elapsed() < Duration::from_secs(5), "answered at the timeout: {:?}", started.elapsed());
    let hop = first_wrong(&d);
    assert_eq!((hop["check"].as_str(), hop["host"].as_str()), (Some("tap"), Some("compute-2")), "{d:#}");
    assert!(d["hops"].as_array().unwrap().iter().all(|h| h["status"] != "unknown"), "{d:#}");
}

/// An external network, an inside one behind a router on net-1's L3 agent, and a VM port
/// on compute-1 with a floating IP; returns (router, VM port, floating IP address).
async fn routed_cloud(s: &TestServer) -> (String, Value, String) {
    let mut ext = l2_report("net-1", "198.18.1.9");
    ext["configurations"]["interface_mappings"] = json!({"external": "eth1"});
    s.post("/agent/v1/agents/report", ext).await;
    s.post("/agent/v1/agents/report", l2_report("compute-1", "198.18.1.1")).await;
    s.post("/agent/v1/agents/report", l3_report("net-1")).await;
    let body = json!({"network": {"name": "public", "router:external": true,
                      "provider:network_type": "flat", "provider:physical_network": "external"}});
    let (_, ext) = s.post("/v2.0/networks", body).await;
    let ext_id = ext["network"]["id"].as_str().unwrap().to_string();
    let pools = json!({"enable_dhcp": false, "allocation_pools": [{"start": "203.0.113.10", "end": "203.0.113.100"}]});
    s.subnet(&ext_id, "203.0.113.0/24", pools).await;
    let net = s.network("inside").await;
    let sub = s.subnet(&net, "10.50.0.0/24", json!({"enable_dhcp": false})).await;
    let (_, r) = s
        .post("/v2.0/routers", json!({"router": {"name": "r1", "external_gateway_info": {"network_id": ext_id}}}))
        .await;
    let router = r["router"]["id"].as_str().unwrap().to_string();
    let (st, b) = s.put(&format!("/v2.0/routers/{router}/add_router_interface"), json!({"subnet_id": sub})).await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, b) = s.get(&format!("/v2.0/routers/{router}/l3-agents")).await;
        if b["agents"].as_array().is_some_and(|a| !a.is_empty()) {
            break;
        }
        assert!(Instant::now() < deadline, "not scheduled: {b}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": net, "binding:host_id": "compute-1"}})).await;
    let vm = p["port"].clone();
    let (st, f) =
        s.post("/v2.0/floatingips", json!({"floatingip": {"floating_network_id": ext_id, "port_id": id(&vm)}})).await;
    assert_eq!(st, StatusCode::CREATED, "{f}");
    (router, vm, f["floatingip"]["floating_ip_address"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn a_floating_ip_whose_router_is_on_a_dead_agent_names_that_agent() {
    let s = TestServer::start_with(|c| {
        c.agent_down_time = 2;
        c.l3_failover = false;
    })
    .await;
    let (router, vm, fip) = routed_cloud(&s).await;
    let _a1 = fake_agent(&s.url, "compute-1", None);
    let _n1 = fake_agent(&s.url, "net-1", None);
    // Alive: the router is asked for its interfaces, gateway and the floating IP's NAT.
    let d = diagnose(&s, id(&vm)).await;
    assert_eq!(d["healthy"], true, "{d:#}");
    for check in ["router_namespace", "router_interface", "router_gateway", "floating_ip_nat"] {
        let times = checks(&d).iter().filter(|c| *c == check).count();
        assert_eq!(times, 1, "{check} walked {times} times (the subnet's router is the floating IP's): {d:#}");
    }
    // Outside addresses go through the router's gateway; its floating IP through its NAT.
    let d = diagnose(&s, &format!("{}?to=192.0.2.1", id(&vm))).await;
    let route = d["hops"].as_array().unwrap().iter().find(|h| h["check"] == "route").cloned().unwrap();
    assert_eq!(route["status"], "ok", "{d:#}");
    assert!(route["evidence"].as_str().unwrap().contains(&router), "{d:#}");
    let d = diagnose(&s, &format!("{}?to={fip}", id(&vm))).await;
    assert!(d["hops"].as_array().unwrap().iter().any(|h| h["check"] == "route" && h["status"] == "ok"), "{d:#}");

    // net-1 goes silent; compute-1 keeps reporting.
    let url = s.url.clone();
    let beat = tokio::spawn(async move {
        let http = reqwest::Client::new();
        loop {
            let _ = http
                .post(format!("{url}/agent/v1/agents/report"))
                .json(&l2_report("compute-1", "198.18.1.1"))
                .send()
                .await;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(3200)).await;
    let d = diagnose(&s, id(&vm)).await;
    beat.abort();
    let hop = first_wrong(&d);
    assert_eq!((hop["check"].as_str(), hop["host"].as_str()), (Some("agent"), Some("net-1")), "{d:#}");
    let evidence = hop["evidence"].as_str().unwrap();
    assert!(evidence.starts_with("L3 agent on host net-1: last heartbeat "), "{evidence}");
    assert!(!checks(&d).iter().any(|c| c == "router_namespace"), "a dead agent's host is not asked: {d:#}");
}

#[tokio::test]
async fn a_target_on_another_network_needs_a_router_on_both_subnets() {
    let s = TestServer::start().await;
    let c = cloud(&s).await;
    let other = s.network("other").await;
    let sub = s.subnet(&other, "10.7.0.0/24", json!({"enable_dhcp": false})).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": other, "binding:host_id": "compute-2"}})).await;
    let p3 = p["port"].clone();
    let _a1 = fake_agent(&s.url, "compute-1", None);
    let _a2 = fake_agent(&s.url, "compute-2", None);
    let d = diagnose(&s, &format!("{}?to={}", id(&c.p1), id(&p3))).await;
    let hop = first_wrong(&d);
    assert_eq!(hop["check"], "route", "{d:#}");
    assert!(hop["evidence"].as_str().unwrap().starts_with("no router has interfaces on both"), "{d:#}");
    // An outside address with no router at all.
    let d = diagnose(&s, &format!("{}?to=192.0.2.1", id(&c.p1))).await;
    assert_eq!(first_wrong(&d)["check"], "route", "{d:#}");

    // A router on both subnets routes it (its L3 agent missing is then the wrong hop).
    let (_, r) = s.post("/v2.0/routers", json!({"router": {"name": "r"}})).await;
    let router = r["router"]["id"].as_str().unwrap().to_string();
    let (_, n) = s.get(&format!("/v2.0/networks/{}", c.net)).await;
    let first = n["network"]["subnets"][0].as_str().unwrap().to_string();
    for subnet in [first, sub] {
        let (st, b) =
            s.put(&format!("/v2.0/routers/{router}/add_router_interface"), json!({"subnet_id": subnet})).await;
        assert_eq!(st, StatusCode::OK, "{b}");
    }
    let d = diagnose(&s, &format!("{}?to={}", id(&c.p1), id(&p3))).await;
    let route = d["hops"].as_array().unwrap().iter().find(|h| h["check"] == "route").cloned().unwrap();
    assert_eq!(route["status"], "ok", "{d:#}");
    let hop = first_wrong(&d);
    assert_eq!(hop["check"], "agent", "{d:#}");
    assert_eq!(hop["evidence"], format!("no L3 agent hosts router {router}"));
}

#[tokio::test]
async fn expired_questions_are_neither_polled_nor_kept() {
    let s = TestServer::start().await;
    let app = s.app.clone().unwrap();
    let old = neutrino_store::HostQuestionRow {
        id: "old".into(),
        host: "h".into(),
        body: json!({"id": "old", "asks": []}).to_string(),
        created_ms: chrono::Utc::now().timestamp_millis() - 120_000,
        answer: None,
        answered_ms: None,
    };
    app.store.write(move |tx| tx.host_question_insert(&old)).await.unwrap();
    let (st, b) = s.get("/agent/v1/hosts/h/questions?wait=0").await;
    assert_eq!((st, b), (StatusCode::OK, json!({"questions": []})));
    assert_eq!(neutrino_server::app::questions::sweep(&app).await.unwrap(), 1);
    assert_eq!(neutrino_server::app::questions::sweep(&app).await.unwrap(), 0);
}

#[tokio::test]
async fn a_target_on_the_same_host_shares_the_sources_network_hops() {
    let s = TestServer::start().await;
    let c = cloud(&s).await;
    let (_, p) = s.post("/v2.0/ports", json!({"port": {"network_id": c.net, "binding:host_id": "compute-1"}})).await;
    let neighbour = p["port"].clone();
    let a1 = fake_agent(&s.url, "compute-1", None);
    let d = diagnose(&s, &format!("{}?to={}", id(&c.p1), id(&neighbour))).await;
    assert_eq!(d["healthy"], true, "{d:#}");
    let count = |check: &str| checks(&d).iter().filter(|c| *c == check).count();
    assert_eq!((count("bridge"), count("tap"), count("security_group")), (1, 2, 2), "{d:#}");
    let asked = a1.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1, "one question for the host");
    assert_eq!(asked[0].asks.len(), 3, "two ports and their network: {:?}", asked[0].asks);
}
