//! The questions task: `neutrino diagnose`'s questions to this host, answered from what the
//! host holds (see [`crate::diagnose`]).
//!
//! It long-polls the pending questions (as the watch task polls the state) and answers each
//! on its own task, at most [`QuestionLimits::concurrent`] at once (the poll waits for a
//! free slot, so a burst of questions never fans out), each ask bounded by
//! [`crate::diagnose::Scope::ask_timeout`]. A question being answered, or among the last
//! [`REMEMBERED`] answered, is not taken again when a poll returns it once more. Answering only reads the kernel: it never waits
//! for a reconcile pass nor takes the reconciler's state.
//!
//! A server that does not know the call (404: older than this agent) is logged once and asked
//! again after a pause that doubles from the poll's wait up to
//! [`QuestionLimits::old_server_retry`]; other failures back off as the watch does.

use std::collections::{BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use neutrino_agent_api::diagnose::HostQuestion;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::{AgentSettings, Backoff};
use crate::api::ServerApi;
use crate::clock::Clock;
use crate::diagnose::{answer, LinuxObserver, Observer, Scope};
use crate::error_chain as chain;

/// The task's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuestionLimits {
    /// Questions answered at once.
    pub concurrent: usize,
    /// How long one poll waits on the server.
    pub wait: Duration,
    /// Longest pause after a failed poll.
    pub max_backoff: Duration,
    /// Longest pause between polls of a server that answers 404 (the first is `wait`,
    /// doubling up to this: a server that only lacks the host yet is soon asked again).
    pub old_server_retry: Duration,
    /// How long one ask may take ([`Scope::ask_timeout`]).
    pub ask_timeout: Duration,
}

impl Default for QuestionLimits {
    fn default() -> Self {
        QuestionLimits {
            concurrent: 4,
            wait: Duration::from_secs(30),
            max_backoff: Duration::from_secs(30),
            old_server_retry: Duration::from_secs(300),
            ask_timeout: Duration::from_secs(2),
        }
    }
}

/// Starts the task with the host's real observer (in the agent's namespaces); `None`
/// (logged) when it cannot open one.
pub(super) fn spawn(settings: &AgentSettings, api: Arc<ServerApi>, clock: Arc<dyn Clock>) -> Option<JoinHandle<()>> {
    let netns_dir = (settings.dhcp.as_ref().map(|d| d.netns_dir.clone()))
        .or_else(|| settings.l3.as_ref().map(|l| l.netns_dir.clone()))
        .unwrap_or_else(|| crate::netns::SYSTEM_NETNS_DIR.into());
    let nft = (settings.firewall.as_ref().map(|f| f.nft_path.clone()))
        .or_else(|| settings.l3.as_ref().map(|l| l.nft_path.clone()))
        .unwrap_or_else(|| crate::firewall::FirewallConfig::default().nft_path);
    let observer = match LinuxObserver::new(netns_dir, nft) {
        Ok(observer) => observer,
        Err(e) => {
            tracing::error!(error = %chain(&e), "cannot answer diagnosis questions");
            return None;
        }
    };
    let limits =
        QuestionLimits { wait: settings.watch_wait, max_backoff: settings.max_backoff, ..settings.questions.clone() };
    let scope = Scope {
        host: settings.host.clone(),
        physical_interface_mappings: settings.l2.physical_interface_mappings.clone(),
        dhcp_state_dir: settings.dhcp.as_ref().map(|d| d.state_dir.clone()),
        firewall: settings.firewall.is_some(),
        ask_timeout: limits.ask_timeout,
        open_vswitch: settings.l2.ovs.is_some(),
    };
    Some(tokio::spawn(run(Arc::new(scope), limits, api, Arc::new(observer), clock)))
}

/// Polls and answers questions until aborted.
pub async fn run(
    scope: Arc<Scope>,
    limits: QuestionLimits,
    api: Arc<ServerApi>,
    observer: Arc<dyn Observer>,
    clock: Arc<dyn Clock>,
) {
    let slots = Arc::new(Semaphore::new(limits.concurrent.max(1)));
    let taken = Arc::new(Mutex::new(Taken::default()));
    let mut backoff = Backoff::new(limits.max_backoff);
    let mut old_server_told = false;
    let first_not_found_pause = limits.wait.min(limits.old_server_retry);
    let mut not_found_pause = first_not_found_pause;
    loop {
        let questions = match api.questions(&scope.host, limits.wait).await {
            Ok(q) => q.questions,
            Err(e) if e.is_not_found() => {
                if !old_server_told {
                    let retry_s = limits.old_server_retry.as_secs();
                    tracing::warn!(error = %chain(&e), retry_s, "the server asks no diagnosis questions (an older server?)");
                    old_server_told = true;
                }
                clock.sleep(not_found_pause).await;
                not_found_pause = (not_found_pause * 2).min(limits.old_server_retry);
                continue;
            }
            Err(e) => {
                let pause = backoff.next();
                if backoff.attempts == 1 {
                    tracing::warn!(error = %chain(&e), retry_in_ms = pause.as_millis() as u64, "polling diagnosis questions failed");
                }
                clock.sleep(pause).await;
                continue;
            }
        };
        backoff.reset();
        old_server_told = false;
        not_found_pause = first_not_found_pause;
        for question in questions {
            if !claim(&taken, &question.id) {
                continue;
            }
            let Ok(slot) = Arc::clone(&slots).acquire_owned().await else { return };
            let job = (Arc::clone(&scope), Arc::clone(&api), Arc::clone(&observer), Arc::clone(&taken));
            tokio::spawn(async move {
                let (scope, api, observer, taken) = job;
                let sent = answer_one(&scope, &question, &api, observer.as_ref()).await;
                release(&taken, &question.id, sent);
                drop(slot);
            });
        }
    }
}

/// Questions being answered, and the last ones answered (a server may hand a question out
/// again before it has taken its answer).
#[derive(Default)]
struct Taken {
    in_flight: BTreeSet<String>,
    answered: VecDeque<String>,
}

/// How many answered questions are remembered.
const REMEMBERED: usize = 256;

/// Marks `id` as being answered; false when it is, or was answered lately.
fn claim(taken: &Mutex<Taken>, id: &str) -> bool {
    let Ok(mut t) = taken.lock() else { return false };
    if t.answered.iter().any(|a| a == id) {
        return false;
    }
    t.in_flight.insert(id.to_owned())
}

/// `id` is no longer being answered; `sent`: its answer reached the server.
fn release(taken: &Mutex<Taken>, id: &str, sent: bool) {
    if let Ok(mut t) = taken.lock() {
        t.in_flight.remove(id);
        if sent {
            if t.answered.len() == REMEMBERED {
                t.answered.pop_front();
            }
            t.answered.push_back(id.to_owned());
        }
    }
}

/// Answers `question`; whether the answer reached the server.
async fn answer_one(scope: &Scope, question: &HostQuestion, api: &ServerApi, observer: &dyn Observer) -> bool {
    let found = answer(scope, question, observer).await;
    let wrong = found.findings.iter().filter(|f| !f.ok).count();
    tracing::debug!(question = %question.id, findings = found.findings.len(), wrong, "answering a diagnosis question");
    match api.answer(&found).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(question = %question.id, error = %chain(&e), "could not send a diagnosis answer");
            false
        }
    }
}

#[cfg(test)]
#[path = "questions_tests.rs"]
mod tests;
