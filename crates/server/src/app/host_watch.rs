//! The agents' long poll: wait until a host's state differs from the one its agent has.
//!
//! A watch builds the host's state once, keeping what it was built from
//! ([`super::host_deps::Deps`]); after each commit it asks the server's
//! [`super::change_index::ChangeIndex`] whether any new change touches that set, and
//! rebuilds only if one does. So a change wakes (rebuilds for) the hosts it concerns and
//! no other, instead of every watching host rebuilding on every commit. At the deadline, a
//! watch that let changes pass unbuilt compares one full rebuild before answering "not
//! modified": a missed dependency costs at most one wait, never a stale agent.

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
) -> Result<Option<HostState>, ApiError> {
    let mut changes = app.store.changes();
    // Counted as an open watch (and its progress through the feed) until it answers.
    let registered = app.metrics.watch_opened(*changes.borrow());
    loop {
        changes.borrow_and_update();
        let (state, deps) = host_state(app, host.clone()).await?;
        if state.fingerprint != known {
            return Ok(Some(state));
        }
        let mut seen = state.revision;
        registered.seen(seen);
        let mut passed_unbuilt = false;
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err(ApiError::store_shutting_down());
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if !passed_unbuilt {
                        return Ok(None);
                    }
                    let (state, _) = host_state(app, host.clone()).await?;
                    return Ok((state.fingerprint != known).then_some(state));
                }
            }
            let (concerned, upto) = app.change_index.any_since(app, seen, |t| deps.concerned_by(t)).await?;
            if concerned {
                break;
            }
            seen = upto;
            registered.seen(seen);
            passed_unbuilt = true;
        }
    }
}
