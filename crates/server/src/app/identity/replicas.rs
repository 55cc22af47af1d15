//! What other servers on the same database did to identity, read from the change feed: a
//! revocation (a token revoked, a user disabled or deleted, a password changed, an
//! assignment removed) or a key rotation reaches this server within the feed's latency
//! (LISTEN/NOTIFY on PostgreSQL), not at the next periodic refresh.

use super::revocation::{read_revoked_tokens, refresh_revocations, EVENT, TOKEN};
use super::stored_keys;
use crate::app::App;
use neutrino_model::ApiError;
use neutrino_store::ChangeKind;

/// Changes read per round.
const PAGE: u64 = 10_000;

/// Applies the revocations and rotations recorded after `since`; returns the last seq read.
pub async fn follow(app: &App, since: u64) -> Result<u64, ApiError> {
    let mut since = since;
    loop {
        let changes =
            app.store.read(move |tx| -> Result<_, ApiError> { Ok(tx.change_list_since(since, PAGE)?) }).await?;
        let Some(last) = changes.last().map(|c| c.seq) else { return Ok(since) };
        let revocations = changes.iter().filter(|c| c.kind == ChangeKind::Revocation);
        let tokens: Vec<String> =
            revocations.clone().filter_map(|c| c.id.strip_prefix(TOKEN)).map(str::to_string).collect();
        if !tokens.is_empty() {
            read_revoked_tokens(app, tokens).await?;
        }
        if revocations.clone().any(|c| c.id.starts_with(EVENT)) {
            refresh_revocations(app).await?;
        }
        if changes.iter().any(|c| c.kind == ChangeKind::SigningKey) {
            stored_keys::reload(app).await?;
        }
        since = last;
        if (changes.len() as u64) < PAGE {
            return Ok(since);
        }
    }
}
