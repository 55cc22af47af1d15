//! Questions to host agents, for `neutrino diagnose`: asked through the store, so a question
//! asked on one server reaches an agent polling another on the same database, and the
//! answer comes back the same way.
//!
//! Asking writes each host's question with a change of kind `HostQuestion` whose id is the
//! host; answering records it with a change of kind `HostAnswer` whose id is the question.
//! The agent's poll ([`poll`]) and the diagnosis waiting for answers ([`wait_answers`]) both
//! wait on the change feed for exactly those keys, as the state watch does
//! ([`super::host_watch`]): after each commit they ask the change index whether a change
//! with their key passed, and read the store only then. No host state holds either key, so
//! asking a host never rebuilds any host's state.

use super::host_deps::{Key, Touch};
use super::App;
use neutrino_agent_api::diagnose::{HostAnswer, HostQuestion, HostQuestions};
use neutrino_model::ApiError;
use neutrino_store::{ChangeKind, HostQuestionRow};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use tokio::time::Instant;

/// Now, in Unix milliseconds (questions' ages compare across servers: keep clocks in step).
fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Questions older than this are deleted, answered or not.
fn expired_before(app: &App) -> i64 {
    now_ms().saturating_sub((app.config.diagnose_question_ttl as i64).saturating_mul(1000))
}

/// Records one question per host (in one write, after deleting the expired ones). A host
/// that already has `diagnose_max_pending_questions` unanswered ones refuses the whole
/// diagnosis (503): nothing is asked.
pub async fn ask(app: &Arc<App>, questions: Vec<(String, HostQuestion)>) -> Result<(), ApiError> {
    let max = app.config.diagnose_max_pending_questions as u64;
    let before = expired_before(app);
    let created_ms = now_ms();
    let mut rows = Vec::with_capacity(questions.len());
    for (host, q) in &questions {
        rows.push(HostQuestionRow {
            id: q.id.clone(),
            host: host.clone(),
            body: super::encode(q)?,
            created_ms,
            answer: None,
            answered_ms: None,
        });
    }
    app.store
        .write(move |tx| -> Result<(), ApiError> {
            tx.host_question_delete(before, &[])?;
            for row in &rows {
                if tx.host_question_pending(&row.host, max)?.len() as u64 >= max {
                    return Err(ApiError::host_questions_full(&row.host));
                }
                tx.host_question_insert(row)?;
            }
            Ok(())
        })
        .await
}

/// Deletes a diagnosis's questions once it has judged (answered or not).
pub async fn forget(app: &Arc<App>, ids: Vec<String>) -> Result<(), ApiError> {
    let before = expired_before(app);
    app.store.write(move |tx| -> Result<u64, ApiError> { Ok(tx.host_question_delete(before, &ids)?) }).await?;
    Ok(())
}

/// Deletes the expired questions (the periodic sweep: asking deletes them too).
pub async fn sweep(app: &Arc<App>) -> Result<u64, ApiError> {
    let before = expired_before(app);
    app.store.write(move |tx| -> Result<u64, ApiError> { Ok(tx.host_question_delete(before, &[])?) }).await
}

/// Records an agent's answer to one of its host's pending questions (404 otherwise).
pub async fn answer(app: &Arc<App>, host: String, answer: HostAnswer) -> Result<(), ApiError> {
    if answer.host != host {
        return Err(ApiError::invalid_input(format!("the answer is from host '{}', not '{host}'", answer.host)));
    }
    let body = super::encode(&answer)?;
    app.store
        .write(move |tx| -> Result<(), ApiError> {
            if tx.host_question_answer(&answer.question_id, &host, &body, now_ms())? {
                Ok(())
            } else {
                Err(ApiError::host_question_not_found(&answer.question_id, &host))
            }
        })
        .await
}

/// The agent's long poll: the host's pending questions as soon as there is one, or none at
/// `deadline`.
pub async fn poll(app: &Arc<App>, host: String, deadline: Instant) -> Result<HostQuestions, ApiError> {
    let key = Key::Resource(ChangeKind::HostQuestion, host.clone());
    let found = wait_for(app, deadline, |t| touches(t, &key), || pending(app, host.clone())).await?;
    Ok(found.unwrap_or_default())
}

/// The host's unanswered, unexpired questions, if it has any.
async fn pending(app: &Arc<App>, host: String) -> Result<Option<HostQuestions>, ApiError> {
    let max = app.config.diagnose_max_pending_questions as u64;
    let rows = app.store.read(move |tx| tx.host_question_pending(&host, max)).await?;
    // An expired question's diagnosis is over (its server stopped before deleting it).
    let live = expired_before(app);
    let questions = rows
        .iter()
        .filter(|r| r.created_ms >= live)
        .map(|r| serde_json::from_str::<HostQuestion>(&r.body).map_err(|_| ApiError::internal()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((!questions.is_empty()).then_some(HostQuestions { questions }))
}

/// The answers to `ids` posted by `deadline` (those not answered by then are missing).
pub async fn wait_answers(
    app: &Arc<App>,
    ids: &[String],
    deadline: Instant,
) -> Result<BTreeMap<String, HostAnswer>, ApiError> {
    let keys: BTreeSet<Key> = ids.iter().map(|id| Key::Resource(ChangeKind::HostAnswer, id.clone())).collect();
    let complete = wait_for(
        app,
        deadline,
        |t| keys.iter().any(|k| touches(t, k)),
        || async {
            let answers = read_answers(app, ids.to_vec()).await?;
            Ok((answers.len() == ids.len()).then_some(answers))
        },
    )
    .await?;
    match complete {
        Some(answers) => Ok(answers),
        // What arrived by the deadline, all but the last answer among it.
        None => read_answers(app, ids.to_vec()).await,
    }
}

async fn read_answers(app: &Arc<App>, ids: Vec<String>) -> Result<BTreeMap<String, HostAnswer>, ApiError> {
    let rows = app
        .store
        .read(move |tx| -> Result<Vec<HostQuestionRow>, ApiError> {
            let mut rows = Vec::with_capacity(ids.len());
            for id in &ids {
                rows.extend(tx.host_question_get(id)?);
            }
            Ok(rows)
        })
        .await?;
    let mut answers = BTreeMap::new();
    for row in rows {
        let Some(body) = row.answer else { continue };
        // Stored by `answer` from a parsed one: a body that no longer parses is not an answer.
        if let Ok(a) = serde_json::from_str::<HostAnswer>(&body) {
            answers.insert(row.id, a);
        }
    }
    Ok(answers)
}

fn touches(touch: &Touch, key: &Key) -> bool {
    match touch {
        Touch::All => true,
        Touch::Keys(keys) => keys.contains(key),
    }
}

/// Runs `check` now and again after every change that `concerns`, until it yields a value
/// or `deadline` passes (then `None`). The feed position is taken before each check, so a
/// change committed while checking is never missed.
async fn wait_for<T, F, Fut>(
    app: &Arc<App>,
    deadline: Instant,
    concerns: impl Fn(&Touch) -> bool,
    check: F,
) -> Result<Option<T>, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<Option<T>, ApiError>>,
{
    let mut changes = app.store.changes();
    let expired = tokio::time::sleep_until(deadline);
    tokio::pin!(expired);
    let mut seen = *changes.borrow_and_update();
    loop {
        if let Some(found) = check().await? {
            return Ok(Some(found));
        }
        loop {
            tokio::select! {
                changed = changes.changed() => {
                    if changed.is_err() {
                        return Err(ApiError::store_shutting_down());
                    }
                }
                _ = &mut expired => return Ok(None),
            }
            changes.borrow_and_update();
            let (hit, upto) = app.change_index.any_since(app, seen, &concerns).await?;
            seen = upto;
            if hit {
                break;
            }
        }
    }
}
