//! The checks where the agent starts: `--check` prints them; a normal start logs them and
//! refuses to join on a fatal FAIL.

use super::probe::{start_responder, UdpProber};
use super::{fatal, render_text, run_all, CheckInput, RealSystem, Status};
use crate::api::ServerApi;
use neutrino_agent_api::AgentCondition;

/// `--format` of `--check`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Text,
    Json,
}

/// Why the checks stop the agent.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{count} check(s) failed")]
    Failed { count: usize },
    #[error("refusing to join: {0}")]
    Refused(String),
    #[error("cannot print the checks")]
    Json(#[source] serde_json::Error),
}

/// `neutrino agent --check`: runs the checks without changing anything, prints them;
/// an error (a non-zero exit) when any failed.
pub async fn check_only(input: &CheckInput, api: &ServerApi, format: Format) -> Result<(), CheckError> {
    let findings = run_all(input, &RealSystem, api, &UdpProber::default(), false).await;
    match format {
        Format::Text => print!("{}", render_text(&findings)),
        Format::Json => println!("{}", serde_json::to_string_pretty(&findings).map_err(CheckError::Json)?),
    }
    match findings.iter().filter(|f| f.status == Status::Fail).count() {
        0 => Ok(()),
        count => Err(CheckError::Failed { count }),
    }
}

/// At start: answers peers' probes from now on, runs the checks (setting the bridge
/// sysctls the firewall would set anyway), logs each, and refuses on a fatal one. Returns
/// the warnings and failures the agent started with, for its heartbeats to report.
pub async fn at_start(input: &CheckInput, api: &ServerApi) -> Result<Vec<AgentCondition>, CheckError> {
    if let (Some(local), port @ 1..) = (input.settings.l2.local_ip, input.checks.probe_port) {
        if let Err(e) = start_responder(local, port) {
            tracing::warn!(error = %e, port, "cannot answer probes on the probe port; peers will report this host unreachable");
        }
    }
    let findings = run_all(input, &RealSystem, api, &UdpProber::default(), true).await;
    for f in &findings {
        let fix = f.fix.as_deref().unwrap_or_default();
        match f.status {
            Status::Ok => tracing::info!(check = %f.check, "{}", f.detail),
            Status::Warn => tracing::warn!(check = %f.check, fix, "{}", f.detail),
            Status::Fail => tracing::error!(check = %f.check, fix, fatal = f.fatal, "{}", f.detail),
        }
    }
    let fatal = fatal(&findings);
    if fatal.is_empty() {
        return Ok(findings.iter().filter_map(super::Finding::condition).collect());
    }
    let why: Vec<String> = fatal.iter().map(|f| f.line()).collect();
    Err(CheckError::Refused(why.join("; ")))
}
