//! Availability zones (`availability_zone`, `availability_zone_filter`,
//! `network_availability_zone`, `router_availability_zone`), as Neutron's agent-based
//! zones: a zone exists while a DHCP agent (zone of networks) or an L3 agent (zone of
//! routers) reports it; it is `available` while one of those agents is enabled
//! (`admin_state_up`). Networks and routers may name zones on create
//! (`availability_zone_hints`), which must exist; the schedulers place them on agents of
//! those zones first, and their `availability_zones` are the zones of the agents serving them.

use super::policy;
use super::{App, RequestContext};
use neutrino_agent_api::{AGENT_TYPE_DHCP, AGENT_TYPE_L3};
use neutrino_model::pystr::py_repr;
use neutrino_model::ApiError;
use neutrino_store::{AgentRow, Tx};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a zone is a zone of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneResource {
    /// Networks: the zones of DHCP agents.
    Network,
    /// Routers: the zones of L3 agents.
    Router,
}

impl ZoneResource {
    fn agent_type(self) -> &'static str {
        match self {
            ZoneResource::Network => AGENT_TYPE_DHCP,
            ZoneResource::Router => AGENT_TYPE_L3,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ZoneResource::Network => "network",
            ZoneResource::Router => "router",
        }
    }

    fn of_agent_type(agent_type: &str) -> Option<Self> {
        match agent_type {
            AGENT_TYPE_DHCP => Some(ZoneResource::Network),
            AGENT_TYPE_L3 => Some(ZoneResource::Router),
            _ => None,
        }
    }
}

/// An agent's document as stored (its zone and `admin_state_up`).
fn body(row: &AgentRow) -> Map<String, Value> {
    serde_json::from_str(&row.body).unwrap_or_default()
}

/// The zone an agent reported, if any (an empty zone is none, as Neutron skips it).
pub(crate) fn agent_zone(row: &AgentRow) -> Option<String> {
    body(row).get("availability_zone").and_then(Value::as_str).filter(|z| !z.is_empty()).map(str::to_string)
}

/// Neutron's `validate_availability_zones`: every hint must be the zone of some agent of
/// the resource's kind (alive or not), else 404 `AvailabilityZoneNotFound`.
pub(crate) fn check_hints(tx: &mut dyn Tx, resource: ZoneResource, hints: &[String]) -> Result<(), ApiError> {
    if hints.is_empty() {
        return Ok(());
    }
    let zones: Vec<String> =
        tx.agent_list()?.iter().filter(|a| a.agent_type == resource.agent_type()).filter_map(agent_zone).collect();
    match hints.iter().find(|h| !zones.contains(h)) {
        Some(missing) => Err(ApiError::availability_zone_not_found(missing)),
        None => Ok(()),
    }
}

/// The filters of `GET /v2.0/availability_zones` (`availability_zone_filter`): each key
/// ORs its values, keys AND.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ZoneQuery {
    names: Vec<String>,
    resources: Vec<String>,
    states: Vec<String>,
    /// `fields=`: the keys to show (all when empty).
    pub fields: Vec<String>,
}

impl ZoneQuery {
    /// Parses the query string's pairs; a key that is no zone attribute is 400, as
    /// Neutron's filter validation answers.
    pub fn parse(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        let mut q = ZoneQuery::default();
        let mut unknown: Vec<Value> = Vec::new();
        for (k, v) in pairs {
            match k.as_str() {
                "name" => q.names.push(v),
                "resource" => q.resources.push(v),
                "state" => q.states.push(v),
                "fields" if !v.is_empty() => q.fields.push(v),
                "fields" | "limit" | "marker" | "page_reverse" | "sort_key" | "sort_dir" => {}
                _ if !unknown.iter().any(|u| u.as_str() == Some(k.as_str())) => unknown.push(Value::String(k)),
                _ => {}
            }
        }
        if !unknown.is_empty() {
            let shown = py_repr(&Value::Array(unknown));
            return Err(ApiError::bad_request(format!("{shown} is invalid attribute for filtering")));
        }
        Ok(q)
    }

    fn admits(values: &[String], v: &str) -> bool {
        values.is_empty() || values.iter().any(|x| x == v)
    }
}

/// `GET /v2.0/availability_zones`: one entry per (zone, resource) that agents report
/// (Neutron's `_list_availability_zones`), for callers the `get_availability_zone` rule
/// lets read them (others get an empty list, as Neutron filters a list by policy).
pub async fn list(app: &Arc<App>, ctx: &RequestContext, q: ZoneQuery) -> Result<Vec<Value>, ApiError> {
    if policy::authorize_rule(ctx, "get_availability_zone", &ctx.project_id).is_err() {
        return Ok(vec![]);
    }
    let rows = app.store.read(|tx| Ok::<_, ApiError>(tx.agent_list()?)).await?;
    let mut zones: BTreeMap<(String, &'static str), bool> = BTreeMap::new();
    for row in &rows {
        let (Some(zone), Some(resource)) = (agent_zone(row), ZoneResource::of_agent_type(&row.agent_type)) else {
            continue;
        };
        let up = super::agents::admin_up(row);
        *zones.entry((zone, resource.name())).or_default() |= up;
    }
    Ok(zones
        .into_iter()
        .map(|((name, resource), up)| (name, resource, if up { "available" } else { "unavailable" }))
        .filter(|(name, resource, state)| {
            ZoneQuery::admits(&q.names, name)
                && ZoneQuery::admits(&q.resources, resource)
                && ZoneQuery::admits(&q.states, state)
        })
        .map(|(name, resource, state)| {
            let mut zone = Map::new();
            for (k, v) in [("name", json!(name)), ("resource", json!(resource)), ("state", json!(state))] {
                if q.fields.is_empty() || q.fields.iter().any(|f| f == k) {
                    zone.insert(k.into(), v);
                }
            }
            Value::Object(zone)
        })
        .collect())
}

/// The zones of the agents serving a network (DHCP) or router (L3), sorted: what the
/// resource's `availability_zones` shows.
pub(crate) fn zones_of_agents(tx: &mut dyn Tx, agent_ids: &[String]) -> Result<Vec<String>, ApiError> {
    let mut zones = Vec::new();
    for id in agent_ids {
        if let Some(z) = tx.agent_get(id)?.as_ref().and_then(agent_zone) {
            zones.push(z);
        }
    }
    zones.sort();
    zones.dedup();
    Ok(zones)
}

/// Whether an agent may serve a resource with these hints (none: any agent), as Neutron's
/// AZ-aware schedulers filter their candidates.
pub(crate) fn admits(hints: &[String], agent: &AgentRow) -> bool {
    hints.is_empty() || agent_zone(agent).is_some_and(|z| hints.contains(&z))
}

/// Neutron's `AZAwareWeightScheduler.select`: `need` of the `candidates` (least loaded
/// first), each from the zone that serves the resource least so far (`hosted`: the agents
/// already serving it), ties to the zone named first in sort order; within a zone, the
/// least loaded agent.
pub(crate) fn spread<'a>(candidates: &[&'a AgentRow], hosted: &[&AgentRow], need: usize) -> Vec<&'a AgentRow> {
    let mut by_zone: BTreeMap<String, std::collections::VecDeque<&'a AgentRow>> = BTreeMap::new();
    for a in candidates {
        by_zone.entry(agent_zone(a).unwrap_or_default()).or_default().push_back(a);
    }
    let mut served: BTreeMap<String, usize> = by_zone.keys().map(|z| (z.clone(), 0)).collect();
    for a in hosted {
        if let Some(n) = served.get_mut(&agent_zone(a).unwrap_or_default()) {
            *n += 1;
        }
    }
    let mut chosen = Vec::with_capacity(need);
    while chosen.len() < need {
        let next = by_zone
            .iter()
            .filter(|(_, agents)| !agents.is_empty())
            .map(|(zone, _)| (served.get(zone).copied().unwrap_or(0), zone.clone()))
            .min();
        let Some((_, zone)) = next else { break };
        if let Some(a) = by_zone.get_mut(&zone).and_then(|q| q.pop_front()) {
            chosen.push(a);
        }
        *served.entry(zone).or_default() += 1;
    }
    chosen
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: &str, zone: &str) -> AgentRow {
        let body = json!({"id": id, "availability_zone": zone, "admin_state_up": true}).to_string();
        AgentRow { id: id.into(), agent_type: AGENT_TYPE_DHCP.into(), host: id.into(), heartbeat_at: 0, body }
    }

    fn ids(agents: &[&AgentRow]) -> Vec<String> {
        agents.iter().map(|a| a.id.clone()).collect()
    }

    #[test]
    fn agents_are_spread_over_zones_least_served_first() {
        let (a1, a2, b1, c1) = (agent("a1", "az-a"), agent("a2", "az-a"), agent("b1", "az-b"), agent("c1", "az-c"));
        // Least loaded first: a1, a2, b1, c1.
        let candidates = [&a1, &a2, &b1, &c1];
        assert_eq!(ids(&spread(&candidates, &[], 2)), ["a1", "b1"]);
        assert_eq!(ids(&spread(&candidates, &[], 4)), ["a1", "b1", "c1", "a2"]);
        // az-a and az-b already serve it: az-c first.
        let hosted = agent("a0", "az-a");
        let hosted_b = agent("b0", "az-b");
        assert_eq!(ids(&spread(&candidates, &[&hosted, &hosted_b], 1)), ["c1"]);
        assert_eq!(ids(&spread(&candidates, &[], 9)).len(), 4, "never more than the candidates");
    }

    #[test]
    fn hints_admit_only_their_zones() {
        let a = agent("a", "az-a");
        assert!(admits(&[], &a));
        assert!(admits(&["az-a".into()], &a));
        assert!(!admits(&["az-b".into()], &a));
    }

    #[test]
    fn zone_queries_refuse_unknown_keys() {
        let pairs =
            vec![("bogus".to_string(), "x".to_string()), ("name".into(), "n".into()), ("bogus".into(), "y".into())];
        let err = ZoneQuery::parse(pairs).unwrap_err();
        assert_eq!((err.status, err.message.as_str()), (400, "['bogus'] is invalid attribute for filtering"));
    }
}
