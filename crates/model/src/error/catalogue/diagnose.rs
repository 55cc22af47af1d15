//! Catalogue: `neutrino diagnose` and the agents' questions (a neutrino extension; the
//! classes are ours, in Neutron's shape).

use crate::error::ApiError;

impl ApiError {
    /// `ServiceUnavailable` (503): the server runs `diagnose_max_concurrent` diagnoses.
    pub fn diagnoses_busy() -> Self {
        Self::new(503, "ServiceUnavailable", "Too many diagnoses are running; retry later.")
    }

    /// `ServiceUnavailable` (503): a host already has `diagnose_max_pending_questions`
    /// unanswered questions (its agent is not answering, or many diagnoses ask it).
    pub fn host_questions_full(host: &str) -> Self {
        Self::new(503, "ServiceUnavailable", format!("Host {host} has too many unanswered questions; retry later."))
    }

    /// `HostQuestionNotFound` (404): an answer to no pending question of that host.
    pub fn host_question_not_found(id: &str, host: &str) -> Self {
        Self::new(404, "HostQuestionNotFound", format!("Host {host} has no pending question {id}."))
    }
}
