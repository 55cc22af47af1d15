//! Other servers' commits, published to [`crate::Store::changes`].
//!
//! Every write transaction that records a change sends `pg_notify(CHANNEL, seq)`, which
//! PostgreSQL delivers at commit to every session listening on [`CHANNEL`]. One thread per
//! backend holds its own connection, `LISTEN`s and publishes the highest seq it hears, so a
//! long poll on this server wakes for a change written through another as soon as it
//! commits. The `changes` table is the truth, the notification only the wake-up: the
//! thread also reads `MAX(seq)` whenever `poll` has passed without a wake-up (and right
//! after every connect), so a lost notification (a broken connection, a row written by
//! hand) costs at most `poll` of latency, never a missed change. A broken connection is
//! reopened with backoff; the thread ends once the backend is dropped.

use crate::publish;
use postgres::fallible_iterator::FallibleIterator;
use postgres::Client;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// The notification channel of the change feed; the payload is the seq, in decimal.
pub const CHANNEL: &str = "neutrino_changes";

/// The listener's `application_name`, so operators find it in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "neutrino-changes-listener";

/// First wait before reconnecting; it doubles up to [`MAX_BACKOFF`].
const MIN_BACKOFF: Duration = Duration::from_millis(100);
/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Starts the listener thread. It runs until `stop`'s sender is dropped (the backend).
pub(super) fn spawn(
    config: postgres::Config,
    poll: Duration,
    notify: Arc<watch::Sender<u64>>,
    stop: mpsc::Receiver<()>,
) -> Result<(), crate::StoreError> {
    let mut config = config;
    config.application_name(APPLICATION_NAME);
    // Over TCP, a peer that vanished (a partition, a crashed host) is noticed within about
    // half a minute, not the kernel's default quarter of an hour: the listener reconnects.
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(10))
        .keepalives_interval(Duration::from_secs(5))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(30));
    super::spawn("neutrino-store-pg-listen".into(), move || {
        let poll = poll.max(Duration::from_millis(10));
        let mut backoff = MIN_BACKOFF;
        while !stopped(&stop) {
            match super::connect(&config) {
                Ok(mut client) => {
                    backoff = MIN_BACKOFF;
                    if let Err(e) = listen(&mut client, poll, &notify, &stop) {
                        tracing::warn!(error = %neutrino_model::error::error_chain(&e), "change-feed listener lost its connection; reconnecting");
                    }
                }
                Err(e) => {
                    tracing::error!(error = %neutrino_model::error::error_chain(&e), "change-feed listener cannot connect to PostgreSQL");
                }
            }
            if stopped(&stop) {
                return;
            }
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    })
}

/// Whether the backend is gone.
fn stopped(stop: &mpsc::Receiver<()>) -> bool {
    matches!(stop.try_recv(), Err(mpsc::TryRecvError::Disconnected))
}

/// Listens on one connection until it breaks (an error) or the backend is dropped (`Ok`).
fn listen(
    client: &mut Client,
    poll: Duration,
    notify: &watch::Sender<u64>,
    stop: &mpsc::Receiver<()>,
) -> Result<(), postgres::Error> {
    client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
    loop {
        // After LISTEN: a commit between the two is either heard or already counted here.
        publish(notify, latest(client)?);
        let polled = Instant::now();
        let mut notifications = client.notifications();
        let mut heard = notifications.timeout_iter(poll);
        while let Some(n) = heard.next()? {
            if let Ok(seq) = n.payload().parse::<u64>() {
                publish(notify, seq);
            }
            if polled.elapsed() >= poll {
                break;
            }
        }
        if stopped(stop) {
            return Ok(());
        }
    }
}

/// The highest committed change sequence.
fn latest(client: &mut Client) -> Result<u64, postgres::Error> {
    let row = client.query_one("SELECT COALESCE(MAX(seq), 0) FROM changes", &[])?;
    Ok(row.get::<_, i64>(0).max(0) as u64)
}
