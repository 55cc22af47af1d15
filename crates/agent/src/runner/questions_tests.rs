//! The questions task against a small HTTP server standing for the agent API: questions
//! polled are answered and posted, at most `concurrent` at once; a server that answers 404
//! is asked again only after `old_server_retry`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures::future::BoxFuture;
use neutrino_agent_api::diagnose::{Ask, HostAnswer, HostQuestions};
use tokio::sync::mpsc;

use super::*;
use crate::api::Credentials;
use crate::clock::FakeClock;
use crate::diagnose::fake::FakeObserver;
use crate::diagnose::{NsLink, ObserveError, Process};
use crate::l2::dataplane::{FdbEntry, Link};
use crate::l3::nat::NatSummary;
use crate::l3::system::Route;

struct Api {
    /// What each poll answers, in turn; then polls hang (a long poll with nothing pending).
    polls: std::sync::Mutex<VecDeque<Result<HostQuestions, StatusCode>>>,
    count: AtomicUsize,
    answers: mpsc::UnboundedSender<(String, HostAnswer)>,
}

async fn questions(State(api): State<Arc<Api>>, Path(host): Path<String>) -> Response {
    api.count.fetch_add(1, Ordering::SeqCst);
    let next = api.polls.lock().unwrap().pop_front();
    match next {
        Some(Ok(q)) => Json(q).into_response(),
        Some(Err(status)) => (status, format!("no such path for {host}")).into_response(),
        None => futures::future::pending().await,
    }
}

async fn answers(State(api): State<Arc<Api>>, Path(host): Path<String>, Json(a): Json<HostAnswer>) -> StatusCode {
    let _ = api.answers.send((host, a));
    StatusCode::NO_CONTENT
}

/// A server answering `polls` in turn, and the answers it is sent.
async fn serve(
    polls: Vec<Result<HostQuestions, StatusCode>>,
) -> (Arc<ServerApi>, Arc<Api>, mpsc::UnboundedReceiver<(String, HostAnswer)>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let api = Arc::new(Api { polls: std::sync::Mutex::new(polls.into()), count: AtomicUsize::new(0), answers: tx });
    let app = Router::new()
        .route("/agent/v1/hosts/{host}/questions", get(questions))
        .route("/agent/v1/hosts/{host}/answers", post(answers))
        .with_state(Arc::clone(&api));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap()).parse().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = ServerApi::new(vec![url], Credentials::NoAuth { project_id: "p".into() }).unwrap();
    (Arc::new(client), api, rx)
}

fn scope() -> Arc<Scope> {
    Arc::new(Scope {
        host: "compute-1".into(),
        physical_interface_mappings: Default::default(),
        dhcp_state_dir: None,
        firewall: true,
        ask_timeout: Duration::from_secs(2),
        open_vswitch: false,
    })
}

fn port_question(id: &str) -> HostQuestion {
    let ask = Ask::Port {
        port_id: "p".repeat(36),
        network_id: "n".repeat(36),
        mac_address: "fa:16:3e:00:00:01".into(),
        filtered: false,
    };
    HostQuestion { id: id.into(), asks: vec![ask] }
}

/// Counts the looks at the devices that run at once.
#[derive(Default)]
struct Gauge {
    inner: FakeObserver,
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Observer for Gauge {
    fn links(&self) -> BoxFuture<'_, Result<Vec<Link>, ObserveError>> {
        Box::pin(async move {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.now.fetch_sub(1, Ordering::SeqCst);
            self.inner.links().await
        })
    }
    fn fdb<'a>(&'a self, dev: &'a str) -> BoxFuture<'a, Result<Vec<FdbEntry>, ObserveError>> {
        self.inner.fdb(dev)
    }
    fn nft_chain<'a>(&'a self, f: &'a str, t: &'a str, c: &'a str) -> BoxFuture<'a, Result<bool, ObserveError>> {
        self.inner.nft_chain(f, t, c)
    }
    fn nft_element<'a>(
        &'a self,
        f: &'a str,
        t: &'a str,
        s: &'a str,
        k: &'a str,
    ) -> BoxFuture<'a, Result<bool, ObserveError>> {
        self.inner.nft_element(f, t, s, k)
    }
    fn namespace<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<bool, ObserveError>> {
        self.inner.namespace(ns)
    }
    fn ns_links<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<NsLink>, ObserveError>> {
        self.inner.ns_links(ns)
    }
    fn ns_routes<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Vec<Route>, ObserveError>> {
        self.inner.ns_routes(ns)
    }
    fn ns_nat<'a>(&'a self, ns: &'a str) -> BoxFuture<'a, Result<Option<NatSummary>, ObserveError>> {
        self.inner.ns_nat(ns)
    }
    fn read_file<'a>(&'a self, p: &'a std::path::Path) -> BoxFuture<'a, Result<Option<String>, ObserveError>> {
        self.inner.read_file(p)
    }
    fn process<'a>(&'a self, pid: u32, ns: &'a str) -> BoxFuture<'a, Result<Option<Process>, ObserveError>> {
        self.inner.process(pid, ns)
    }
}

#[tokio::test]
async fn questions_are_answered_at_most_concurrent_at_once_and_each_once() {
    let ids: Vec<String> = (0..6).map(|i| format!("q{i}")).collect();
    let first = HostQuestions { questions: ids.iter().map(|id| port_question(id)).collect() };
    // The server asks q0 again while it is being answered: it is answered once.
    let again = HostQuestions { questions: vec![port_question("q0")] };
    let (api, server, mut answers) = serve(vec![Ok(first), Ok(again)]).await;
    let gauge = Arc::new(Gauge::default());
    let limits = QuestionLimits { concurrent: 2, ..QuestionLimits::default() };
    let clock: Arc<dyn Clock> = Arc::new(FakeClock::new());
    let task = tokio::spawn(run(scope(), limits, api, gauge.clone(), clock));
    let mut got = Vec::new();
    for _ in 0..6 {
        let (host, answer) = tokio::time::timeout(Duration::from_secs(10), answers.recv()).await.unwrap().unwrap();
        assert_eq!((host.as_str(), answer.host.as_str()), ("compute-1", "compute-1"));
        assert_eq!(answer.findings.len(), 3, "{answer:?}");
        assert!(answer.findings.iter().all(|f| !f.ok && f.evidence.ends_with("no such device")));
        got.push(answer.question_id);
    }
    got.sort();
    assert_eq!(got, ids);
    assert_eq!(gauge.max.load(Ordering::SeqCst), 2, "at most `concurrent` questions at once");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(answers.try_recv().is_err(), "q0 answered once");
    assert!(server.count.load(Ordering::SeqCst) >= 2);
    task.abort();
}

#[tokio::test]
async fn an_old_server_is_asked_again_only_after_the_retry_pause() {
    let (api, server, _answers) =
        serve(vec![Err(StatusCode::NOT_FOUND), Err(StatusCode::NOT_FOUND), Ok(HostQuestions::default())]).await;
    let clock = FakeClock::new();
    let limits = QuestionLimits { old_server_retry: Duration::from_secs(50), ..QuestionLimits::default() };
    let first = limits.wait;
    let observer: Arc<dyn Observer> = Arc::new(FakeObserver::default());
    let task = tokio::spawn(run(scope(), limits, api, observer, Arc::new(clock.clone())));
    let polls = || server.count.load(Ordering::SeqCst);
    let settle = || async {
        for _ in 0..50 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    settle().await;
    assert_eq!(polls(), 1, "no tight loop on 404");
    assert_eq!(clock.sleeps(), vec![first]);
    clock.advance(first - Duration::from_secs(1));
    settle().await;
    assert_eq!(polls(), 1);
    clock.advance(Duration::from_secs(1));
    settle().await;
    assert_eq!(polls(), 2);
    // The pause doubled, up to its cap.
    assert_eq!(clock.sleeps(), vec![first, Duration::from_secs(50)]);
    clock.advance(Duration::from_secs(50));
    settle().await;
    assert_eq!(polls(), 4, "after the 404s, the empty answer is followed by the next poll at once");
    task.abort();
}
