//! Everything the server runs by itself, in one place: the change-driven scheduling passes
//! (DHCP and L3) and the periodic jobs (signing-key reload, token-revocation refresh,
//! change-feed compaction). The passes themselves live with what they schedule
//! ([`super::dhcp::schedule`], [`super::l3::schedule`]); this module only decides when they
//! run, so it sits above them and nothing in the app imports it.

use super::{dhcp, identity, l3, App};
use neutrino_model::ApiError;
use neutrino_store::ChangeKind;
use std::sync::Arc;
use std::time::Duration;

/// Starts the scheduling passes: each runs after relevant changes and on a timer a third of
/// `agent_down_time` long, so dead agents are noticed without any write. With servers
/// sharing a database, also the follower of their revocations and key rotations.
/// The returned tasks hold the app (and so the store and its lock) until aborted.
pub fn spawn_scheduling(app: Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    let dhcp = spawn_pass(
        app.clone(),
        "DHCP scheduling",
        &[ChangeKind::Subnet, ChangeKind::Network, ChangeKind::Agent],
        |app| Box::pin(async move { dhcp::schedule(&app).await.map(|p| p.changed()) }),
    );
    let l3 = spawn_pass(
        app.clone(),
        "L3 scheduling",
        &[ChangeKind::Router, ChangeKind::Port, ChangeKind::Agent, ChangeKind::Network],
        |app| Box::pin(async move { l3::schedule(&app).await.map(|p| p != l3::Pass::default()) }),
    );
    let mut tasks = vec![dhcp, l3];
    if !app.config.database_url.is_empty() {
        tasks.push(spawn_identity_follower(app));
    }
    tasks
}

/// Follows the change feed for other servers' revocations and key rotations
/// ([`identity::replicas::follow`]), so they apply here within the feed's latency; the
/// periodic refreshers stay as the fallback.
fn spawn_identity_follower(app: Arc<App>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = app.store.changes();
        // From where the revocations were loaded: what came since is read at once.
        let mut seen = app.identity.loaded_at_seq;
        loop {
            let latest = *changes.borrow_and_update();
            match identity::replicas::follow(&app, seen).await {
                Ok(read) => seen = read.max(latest),
                Err(e) => tracing::error!(error = %e.message, "cannot follow revocations and key rotations"),
            }
            if changes.changed().await.is_err() {
                return;
            }
        }
    })
}

/// Starts the periodic jobs of a running server (`neutrino server`, not in-process tests).
pub fn spawn_periodic(app: Arc<App>) {
    spawn_key_reloader(app.clone());
    spawn_revocation_refresher(app.clone());
    spawn_build_counter_log(app.clone());
    spawn_change_compactor(app);
}

/// Logs (at debug) the host states built in the last minute and since start, so the work
/// the agents' watches cost is visible.
fn spawn_build_counter_log(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        let mut last = 0;
        loop {
            tick.tick().await;
            let total = app.host_state_builds.load(std::sync::atomic::Ordering::Relaxed);
            tracing::debug!(last_minute = total - last, total, "host states built");
            last = total;
        }
    });
}

/// A scheduling pass's future: whether it changed anything.
type PassFuture = std::pin::Pin<Box<dyn std::future::Future<Output = Result<bool, ApiError>> + Send>>;

/// Runs `pass` whenever the change feed shows a change of one of `kinds`, and on a timer
/// a third of `agent_down_time` long (liveness changes without any write).
fn spawn_pass(
    app: Arc<App>,
    name: &'static str,
    kinds: &'static [ChangeKind],
    pass: fn(Arc<App>) -> PassFuture,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut changes = app.store.changes();
        let mut seen = *changes.borrow_and_update();
        let period = Duration::from_secs((app.config.agent_down_time / 3).max(1));
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let run;
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    let latest = *changes.borrow_and_update();
                    let since = seen;
                    seen = latest;
                    let relevant = app
                        .store
                        .read(move |tx| -> Result<bool, ApiError> {
                            Ok(tx.change_list_since(since, 100_000)?.iter().any(|c| kinds.contains(&c.kind)))
                        })
                        .await;
                    run = relevant.unwrap_or(true);
                }
                _ = tick.tick() => run = true,
            }
            if run {
                match pass(app.clone()).await {
                    Ok(true) => tracing::info!(pass = name, "scheduling changed assignments"),
                    Ok(false) => {}
                    Err(e) => tracing::error!(pass = name, error = %e.message, "scheduling failed"),
                }
            }
        }
    })
}

/// Re-reads the signing keys every minute, so rotations reach a running server (on a shared
/// database the feed brings them sooner; this is the fallback).
fn spawn_key_reloader(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        tick.tick().await;
        loop {
            tick.tick().await;
            if identity::reload_keys(&app).await.is_err() {
                tracing::error!("cannot reload signing keys; keeping the current ones");
            }
        }
    });
}

/// Trims the change feed every ten minutes to its newest `change_feed_retention` entries,
/// and deletes the diagnoses' expired questions (those a stopped server left behind).
fn spawn_change_compactor(app: Arc<App>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(600));
        loop {
            tick.tick().await;
            let keep = app.config.change_feed_retention;
            match app.store.write(move |tx| -> Result<u64, ApiError> { Ok(tx.change_compact(keep)?) }).await {
                Ok(0) => {}
                Ok(dropped) => tracing::info!(dropped, keep, "compacted the change feed"),
                Err(e) => tracing::error!(error = %e.message, "cannot compact the change feed"),
            }
            if let Err(e) = super::questions::sweep(&app).await {
                tracing::error!(error = %e.message, "cannot delete expired questions");
            }
        }
    });
}

/// Refreshes revocations every `revocation_refresh_seconds`: the fallback by which other
/// replicas' revocations reach this one should the feed miss them (it brings them within
/// seconds; this server's own apply at once). On a shared database revoked tokens are
/// re-read too.
fn spawn_revocation_refresher(app: Arc<App>) {
    let every = Duration::from_secs(app.config.identity.revocation_refresh_seconds.max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tick.tick().await;
            if let Err(e) = identity::refresh_revocations(&app).await {
                tracing::error!(error = %e.message, "cannot read revocation events; keeping the ones held");
            }
            if !app.config.database_url.is_empty() {
                if let Err(e) = identity::refresh_revoked_tokens(&app).await {
                    tracing::error!(error = %e.message, "cannot read revoked tokens; keeping the ones held");
                }
            }
        }
    });
}
