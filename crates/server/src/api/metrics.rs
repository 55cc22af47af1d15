//! `GET /metrics` in the Prometheus text format (0.0.4), on its own listener
//! (`metrics_listen`, off by default; never on the API port), and the middleware that counts
//! the API's requests. The families and what each label can hold are listed in
//! docs/CONFIG.md; `app::metrics` explains why every label is bounded.

use crate::app::{agents, App};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use neutrino_metrics::{Exposition, CONTENT_TYPE};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The route label of requests no route matched.
pub const UNMATCHED: &str = "unmatched";

/// Counts every API request by route template, method and status, with its latency.
pub async fn record(State(app): State<Arc<App>>, req: Request, next: axum::middleware::Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map_or(UNMATCHED, MatchedPath::as_str).to_string();
    let method = crate::app::metrics::method_label(req.method());
    let started = std::time::Instant::now();
    let res = next.run(req).await;
    app.metrics.request(&route, method, res.status().as_u16(), started.elapsed());
    res
}

/// The metrics listener's router: `GET /metrics` and nothing else.
pub fn router(app: Arc<App>) -> Router {
    Router::new().route("/metrics", get(render)).with_state(app)
}

/// `GET /metrics`.
async fn render(State(app): State<Arc<App>>) -> Response {
    let mut e = Exposition::new();
    http_families(&app, &mut e);
    store_families(&app, &mut e);
    feed_families(&app, &mut e);
    nova_families(&app, &mut e);
    match agents::liveness_counts(&app).await {
        Ok((alive, dead)) => e.gauge(
            "neutrino_agents",
            "Agents by liveness (a report within agent_down_time).",
            [(&[("state", "alive")][..], alive as f64), (&[("state", "dead")][..], dead as f64)],
        ),
        // The store is unreachable: the other families still tell why.
        Err(_) => tracing::warn!("metrics: cannot count agents"),
    }
    let mut res = Response::new(axum::body::Body::from(e.finish()));
    *res.status_mut() = StatusCode::OK;
    res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    res
}

fn http_families(app: &App, e: &mut Exposition) {
    let requests: Vec<_> = app
        .metrics
        .requests()
        .into_iter()
        .map(|((route, method, status), n)| (route, method, status.to_string(), n))
        .collect();
    let samples: Vec<_> = requests
        .iter()
        .map(|(route, method, status, n)| {
            ([("route", route.as_str()), ("method", *method), ("status", status.as_str())], *n)
        })
        .collect();
    e.counter(
        "neutrino_http_requests_total",
        "API requests answered, by route template, method and status.",
        samples.iter().map(|(labels, n)| (&labels[..], *n)),
    );
    let latencies = app.metrics.latencies();
    let samples: Vec<_> =
        latencies.iter().map(|((route, method), h)| ([("route", route.as_str()), ("method", *method)], h)).collect();
    e.histogram(
        "neutrino_http_request_duration_seconds",
        "API request latency (agents' long polls included), by route template and method.",
        samples.iter().map(|(labels, h)| (&labels[..], (*h).clone())),
    );
}

fn store_families(app: &App, e: &mut Exposition) {
    let stats = app.store.stats();
    e.gauge(
        "neutrino_store_write_queue_depth",
        "Write transactions waiting for the store's writer.",
        [(&[][..], stats.write_queue_depth() as f64)],
    );
    e.histogram(
        "neutrino_store_commit_duration_seconds",
        "Store COMMIT time (SQLite: one per group-committed batch).",
        [(&[][..], stats.commit_seconds.snapshot())],
    );
}

fn feed_families(app: &App, e: &mut Exposition) {
    let latest = *app.store.changes().borrow();
    let (watches, lowest) = app.metrics.watches();
    e.gauge("neutrino_change_feed_sequence", "Newest committed change sequence.", [(&[][..], latest as f64)]);
    e.gauge(
        "neutrino_change_feed_lag",
        "Changes committed that the furthest-behind open agent watch has not examined yet (0 with none open).",
        [(&[][..], lowest.map_or(0, |seen| latest.saturating_sub(seen)) as f64)],
    );
    e.gauge("neutrino_agent_watches", "Open agent long polls (host-state watches).", [(&[][..], watches as f64)]);
    e.counter(
        "neutrino_host_state_builds_total",
        "Host states built (watch answers and their rechecks).",
        [(&[][..], app.host_state_builds.load(Ordering::Relaxed))],
    );
}

fn nova_families(app: &App, e: &mut Exposition) {
    let c = app.nova.counters();
    let get = crate::nova::Counters::get;
    e.counter(
        "neutrino_nova_events_total",
        "External events for Nova, by outcome (queued; sent, server_not_found, failed, dropped).",
        [
            (&[("outcome", "queued")][..], get(&c.queued)),
            (&[("outcome", "sent")][..], get(&c.sent)),
            (&[("outcome", "server_not_found")][..], get(&c.server_not_found)),
            (&[("outcome", "failed")][..], get(&c.failed)),
            (&[("outcome", "dropped")][..], get(&c.dropped)),
        ],
    );
    e.counter(
        "neutrino_nova_retried_batches_total",
        "Batches that did not reach Nova or that Nova could not serve (their events were kept).",
        [(&[][..], get(&c.retried_batches))],
    );
}
