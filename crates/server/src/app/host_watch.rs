//! The agents' long poll: wait until a host's state differs from the one its agent has.
//!
//! A watch builds the host's state once, keeping what it was built from
//! ([`super::host_deps::Deps`]); after each commit it asks the server's
//! [`super::change_index::ChangeIndex`] whether any new change touches that set, and
//! rebuilds only if one does. So a change wakes (rebuilds for) the hosts it concerns and
//! no other, instead of every watching host rebuilding on every commit. The state built
//! stays in [`super::host_cache`] with the sequence it is known current through, so the
//! agent's next watch (right after an answer, or after a 304) starts from it instead of
//! building again. At the deadline, a watch whose state let changes pass unbuilt compares
//! one rebuild before answering "not modified": a missed dependency costs at most one
//! wait, never a stale agent.

use super::host_cache::HostEntry;
use super::host_state::host_state;
use super::App;
use neutrino_agent_api::HostState;
use neutrino_model::ApiError;
use std::sync::Arc;
use tokio::time::Instant;

/// The host's state once it differs from `known` (fingerprint), or `None` at `deadline`.
pub async fn watch(
    app: &Arc<App>,
    host: String,
    known: String,
    deadline: Instant,
) -> Result<Option<Arc<HostState>>, ApiError> {
    let mut changes = app.store.changes();
    // One timer for the whole watch: every commit wakes the watch, and a timer armed per
    // wake-up would cost each of the server's watches a timer-wheel insert per commit.
    let expired = tokio::time::sleep_until(deadline);
    tokio::pin!(expired);
    // Counted as an open watch (and its progress through the feed) until it answers.
    let registered = app.metrics.watch_opened(*changes.borrow());
    loop {
        changes.borrow_and_update();
        let mut entry = current(app, &host).await?;
        if entry.state.fingerprint != known {
            return Ok(Some(entry.state));
        }
        registered.seen(entry.seen);
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err(ApiError::store_shutting_down());
                    }
                }
                _ = &mut expired => {
                    if !entry.passed {
                        app.host_cache.put(&host, entry);
                        return Ok(None);
                    }
                    let state = build(app, &host).await?.state;
                    return Ok((state.fingerprint != known).then_some(state));
                }
            }
            let deps = entry.deps.clone();
            let (concerned, upto) = app.change_index.any_since(app, entry.seen, |t| deps.concerned_by(t)).await?;
            if concerned {
                break;
            }
            entry.passed |= upto > entry.seen;
            entry.seen = upto;
            registered.seen(upto);
        }
    }
}

/// The host's cached state if no change since it concerns the host, else a new build.
async fn current(app: &Arc<App>, host: &str) -> Result<HostEntry, ApiError> {
    let Some(mut entry) = app.host_cache.get(host) else { return build(app, host).await };
    let deps = entry.deps.clone();
    let (concerned, upto) = app.change_index.any_since(app, entry.seen, |t| deps.concerned_by(t)).await?;
    if concerned {
        return build(app, host).await;
    }
    entry.passed |= upto > entry.seen;
    entry.seen = upto;
    Ok(entry)
}

/// Builds the host's state and keeps it for the next watch.
async fn build(app: &Arc<App>, host: &str) -> Result<HostEntry, ApiError> {
    let (state, deps) = host_state(app, host.to_string()).await?;
    let entry = HostEntry::built(state, deps);
    app.host_cache.put(host, entry.clone());
    Ok(entry)
}
