//! Host agents: registration by report (heartbeat), liveness, and `/v2.0/agents`.
//!
//! An agent reports who it is and what it can wire every report interval; the first report
//! creates its row, later ones refresh `heartbeat_timestamp` and `configurations`. `alive`
//! is computed when read: a report within `agent_down_time` seconds. A change of
//! `configurations` (a new tunnel endpoint, say) is recorded in the change feed, because
//! other hosts' desired state (their flood lists) depends on it; plain heartbeats are not,
//! so they wake no watcher. Neither do the agent's conditions (its problems, see
//! [`super::agent_conditions`]), kept beside `configurations` and shown inside it.

use super::agent_conditions as conditions;
use super::{App, RequestContext};
use neutrino_agent_api::{
    AgentReport, AgentReportReply, DhcpConfigurations, L2Configurations, Mechanism, AGENT_TYPE_DHCP, AGENT_TYPE_L3,
    AGENT_TYPE_LINUXBRIDGE, AGENT_TYPE_OVS,
};
use neutrino_model::ApiError;
use neutrino_store::{AgentRow, ChangeOp, Tx};
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use std::sync::Arc;

/// Neutron's agent timestamps: `YYYY-MM-DD HH:MM:SS`, UTC.
fn timestamp(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0).map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string()).unwrap_or_default()
}

/// Agents' own endpoints are for admins and the `service` role (the agents' credentials).
pub(crate) fn authorize_agent(ctx: &RequestContext) -> Result<(), ApiError> {
    if ctx.is_admin || ctx.has_role("service") {
        Ok(())
    } else {
        Err(ApiError::policy_not_authorized("rule:admin_or_service"))
    }
}

/// Records a report: creates the agent on its first one, refreshes it afterwards.
pub async fn report(app: &Arc<App>, ctx: &RequestContext, report: AgentReport) -> Result<AgentReportReply, ApiError> {
    authorize_agent(ctx)?;
    if report.host.is_empty() || report.host.len() > 255 {
        return Err(ApiError::invalid_input("'host' must be 1 to 255 characters"));
    }
    let bad = |e: serde_json::Error| ApiError::bad_request(format!("Invalid configurations: {e}"));
    match report.agent_type.as_str() {
        AGENT_TYPE_LINUXBRIDGE | AGENT_TYPE_OVS => {
            serde_json::from_value::<L2Configurations>(report.configurations.clone()).map_err(bad)?;
        }
        AGENT_TYPE_DHCP => {
            serde_json::from_value::<DhcpConfigurations>(report.configurations.clone()).map_err(bad)?;
        }
        AGENT_TYPE_L3 => {
            if !report.configurations.is_object() {
                return Err(ApiError::bad_request("Invalid configurations: not an object"));
            }
        }
        other => return Err(ApiError::invalid_input(format!("agent_type '{other}' is not supported"))),
    }
    let app2 = app.clone();
    let down_time = app.config.agent_down_time;
    app.store
        .write(move |tx| {
            let now = app2.clock.unix();
            let configurations = report.configurations.clone();
            let existing = tx.agent_find(&report.agent_type, &report.host)?;
            let (id, mut body, changed) = match existing {
                Some(row) => {
                    let body: Map<String, Value> = serde_json::from_str(&row.body).map_err(|_| ApiError::internal())?;
                    let changed = body.get("configurations") != Some(&configurations);
                    (row.id, body, changed)
                }
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    let topic = match report.agent_type.as_str() {
                        AGENT_TYPE_DHCP => "dhcp_agent",
                        AGENT_TYPE_L3 => "l3_agent",
                        _ => "N/A",
                    };
                    let body = json!({
                        "id": id,
                        "agent_type": report.agent_type,
                        "binary": report.binary,
                        "topic": topic,
                        "host": report.host,
                        "admin_state_up": true,
                        "created_at": timestamp(now),
                        "started_at": timestamp(now),
                        "description": null,
                        "resources_synced": null,
                    });
                    let Value::Object(body) = body else { return Err(ApiError::internal()) };
                    tracing::info!(agent = %id, host = %report.host, "agent registered");
                    (id, body, true)
                }
            };
            if report.start_flag {
                body.insert("started_at".into(), Value::String(timestamp(now)));
            }
            body.insert("binary".into(), Value::String(report.binary.clone()));
            body.insert("heartbeat_timestamp".into(), Value::String(timestamp(now)));
            body.insert(
                "availability_zone".into(),
                report.availability_zone.clone().map_or(Value::Null, Value::String),
            );
            body.insert("configurations".into(), configurations);
            // Kept beside `configurations` (and merged into it when shown), so that a
            // changed condition is no change of reach and wakes no watcher.
            let bounds = conditions::Bounds {
                max_conditions: app2.config.agent_max_conditions,
                max_length: app2.config.agent_condition_max_length,
            };
            let kept = conditions::merge(&conditions::stored(&body), &report.conditions, bounds, &timestamp(now));
            if kept.is_empty() {
                body.remove(conditions::KEY);
            } else {
                body.insert(conditions::KEY.into(), serde_json::to_value(kept).map_err(|_| ApiError::internal())?);
            }
            let row = AgentRow {
                id: id.clone(),
                agent_type: report.agent_type.clone(),
                host: report.host.clone(),
                heartbeat_at: now,
                body: Value::Object(body).to_string(),
            };
            tx.agent_upsert(&row)?;
            if changed {
                tx.change_record_agent(&id, ChangeOp::Update)?;
            }
            Ok(AgentReportReply { agent_id: id, agent_down_time: down_time })
        })
        .await
}

/// Whether an agent reported within `agent_down_time` of `now`.
pub(crate) fn alive(app: &App, row: &AgentRow, now: i64) -> bool {
    now - row.heartbeat_at <= app.config.agent_down_time as i64
}

/// Agents alive and dead now, for `/metrics` (one store read; no per-agent detail leaves).
pub async fn liveness_counts(app: &Arc<App>) -> Result<(u64, u64), ApiError> {
    let rows = app.store.read(|tx| -> Result<_, ApiError> { Ok(tx.agent_list()?) }).await?;
    let now = app.clock.unix();
    let alive = rows.iter().filter(|row| alive(app, row, now)).count() as u64;
    Ok((alive, rows.len() as u64 - alive))
}

/// Whether an operator left the agent enabled (schedulers skip disabled ones).
pub(crate) fn admin_up(row: &AgentRow) -> bool {
    serde_json::from_str::<Value>(&row.body).ok().and_then(|b| b.get("admin_state_up").and_then(Value::as_bool))
        != Some(false)
}

/// What binding learns about a host's L2 agent.
pub(crate) enum LiveAgent {
    Missing,
    Dead { mechanism: Mechanism, silent_for: i64 },
    Alive(L2Agent),
}

/// A live L2 agent: its mechanism and what it reaches.
pub(crate) struct L2Agent {
    pub mechanism: Mechanism,
    pub config: L2Configurations,
}

impl L2Agent {
    /// Whether it can wire a segment of this type on this physical network.
    pub fn reaches(&self, network_type: &str, physical_network: Option<&str>) -> bool {
        self.config.reaches(self.mechanism, network_type, physical_network)
    }
}

/// The host's L2 agent, whichever mechanism it runs: a live one if any (linuxbridge first
/// when a misconfigured host runs both), else the one heard from last.
pub(crate) fn find_live(tx: &mut dyn Tx, app: &App, host: &str) -> Result<LiveAgent, ApiError> {
    let mut dead: Option<(Mechanism, i64)> = None;
    for mechanism in Mechanism::ALL {
        let Some(row) = tx.agent_find(mechanism.agent_type(), host)? else { continue };
        let silent_for = app.clock.unix() - row.heartbeat_at;
        if silent_for <= app.config.agent_down_time as i64 {
            return Ok(LiveAgent::Alive(L2Agent { mechanism, config: configurations(&row) }));
        }
        if dead.is_none_or(|(_, s)| silent_for < s) {
            dead = Some((mechanism, silent_for));
        }
    }
    Ok(dead.map_or(LiveAgent::Missing, |(mechanism, silent_for)| LiveAgent::Dead { mechanism, silent_for }))
}

fn configurations(row: &AgentRow) -> L2Configurations {
    serde_json::from_str::<Value>(&row.body)
        .ok()
        .and_then(|mut b| b.get_mut("configurations").map(Value::take))
        .and_then(|c| serde_json::from_value(c).ok())
        .unwrap_or_default()
}

/// The VXLAN endpoint a host's L2 agent reported (dead or alive: its ports keep working).
pub(crate) fn tunneling_ip(tx: &mut dyn Tx, host: &str) -> Result<Option<IpAddr>, ApiError> {
    for mechanism in Mechanism::ALL {
        if let Some(ip) = tx.agent_find(mechanism.agent_type(), host)?.and_then(|row| configurations(&row).tunneling_ip)
        {
            return Ok(Some(ip));
        }
    }
    Ok(None)
}

/// An agent's API document, with `alive` computed now.
fn view(app: &App, row: &AgentRow) -> Result<Map<String, Value>, ApiError> {
    let mut body: Map<String, Value> = serde_json::from_str(&row.body).map_err(|_| ApiError::internal())?;
    let alive = app.clock.unix() - row.heartbeat_at <= app.config.agent_down_time as i64;
    body.insert("alive".into(), Value::Bool(alive));
    // Neutron's `configurations` is free-form: its clients show what is there.
    let shown = body.remove(conditions::KEY).unwrap_or_else(|| Value::Array(vec![]));
    if let Some(Value::Object(c)) = body.get_mut("configurations") {
        c.insert(conditions::KEY.into(), shown);
    }
    Ok(body)
}

/// Filters `GET /v2.0/agents` understands: matches on these attributes. Strings compare without
/// ASCII case, as upstream's agents table does under MySQL/MariaDB's default `utf8mb4_general_ci`
/// collation (`?agent_type=DHCP Agent` finds the `DHCP agent`s there, and clients rely on it).
const FILTERABLE: &[&str] =
    &["id", "agent_type", "binary", "topic", "host", "admin_state_up", "alive", "availability_zone", "description"];

/// Lists agents (admin only: others see an empty list, as with Neutron's `get_agent` rule).
pub async fn list(
    app: &Arc<App>,
    ctx: &RequestContext,
    filters: Vec<(String, String)>,
) -> Result<Vec<Map<String, Value>>, ApiError> {
    if !ctx.is_admin {
        return Ok(vec![]);
    }
    let rows = app.store.read(|tx| Ok::<_, ApiError>(tx.agent_list()?)).await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        let doc = view(app, row)?;
        let keep = filters.iter().filter(|(k, _)| FILTERABLE.contains(&k.as_str())).all(|(k, v)| match doc.get(k) {
            Some(Value::String(s)) => s.eq_ignore_ascii_case(v),
            Some(Value::Bool(b)) => v.eq_ignore_ascii_case(&b.to_string()),
            Some(Value::Null) | None => v.is_empty(),
            Some(other) => serde_json::from_str::<Value>(v).ok().as_ref() == Some(other),
        });
        if keep {
            out.push(doc);
        }
    }
    Ok(out)
}

/// One agent.
pub async fn show(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<Map<String, Value>, ApiError> {
    if !ctx.is_admin {
        return Err(ApiError::agent_not_found(&id));
    }
    let row = app.store.read({
        let id = id.clone();
        move |tx| Ok::<_, ApiError>(tx.agent_get(&id)?)
    });
    let row = row.await?.ok_or_else(|| ApiError::agent_not_found(&id))?;
    view(app, &row)
}

/// Updates `admin_state_up` and `description`, the only writable attributes.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    body: Value,
) -> Result<Map<String, Value>, ApiError> {
    if !ctx.is_admin {
        return Err(ApiError::agent_not_found(&id));
    }
    let Some(attrs) = body.get("agent").and_then(Value::as_object).cloned() else {
        return Err(ApiError::invalid_input("Resource body required"));
    };
    for (k, v) in &attrs {
        match (k.as_str(), v) {
            ("admin_state_up", Value::Bool(_)) | ("description", Value::String(_) | Value::Null) => {}
            ("admin_state_up", _) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for admin_state_up. Reason: '{v}' is not a valid boolean value."
                )))
            }
            ("description", _) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for description. Reason: '{v}' is not a valid string."
                )))
            }
            _ => return Err(ApiError::bad_request(format!("Cannot update read-only attribute {k}"))),
        }
    }
    let app2 = app.clone();
    let row = app
        .store
        .write(move |tx| {
            let mut row = tx.agent_get(&id)?.ok_or_else(|| ApiError::agent_not_found(&id))?;
            let mut body: Map<String, Value> = serde_json::from_str(&row.body).map_err(|_| ApiError::internal())?;
            for (k, v) in attrs {
                body.insert(k, v);
            }
            row.body = Value::Object(body).to_string();
            tx.agent_upsert(&row)?;
            tx.change_record_agent(&id, ChangeOp::Update)?;
            Ok::<_, ApiError>(row)
        })
        .await?;
    view(&app2, &row)
}

/// Deletes an agent (an operator's cleanup of a decommissioned host).
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    if !ctx.is_admin {
        return Err(ApiError::agent_not_found(&id));
    }
    app.store
        .write(move |tx| {
            if !tx.agent_delete(&id)? {
                return Err(ApiError::agent_not_found(&id));
            }
            tx.change_record_agent(&id, ChangeOp::Delete)?;
            Ok(())
        })
        .await
}
