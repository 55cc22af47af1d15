//! The scenarios: what each round creates, lists and deletes. `ports` is load.py's
//! scenario; the others measure security group rules and router interfaces the same way,
//! and `hosts` how port creates reach simulated host agents.
//! Job lists are built by plain functions so their exact requests are unit-tested.

pub mod hosts;
pub mod ports;
pub mod routers;
pub mod security_groups;

use crate::http::Job;
use serde_json::{json, Value};

/// What one round (one concurrency level) works with.
#[derive(Debug, Clone)]
pub struct Round {
    /// Name prefix of everything the round creates: `PREFIX-cC`.
    pub tag: String,
    /// Owner sent as `project_id` in every create body, as load.py does.
    pub project: String,
    pub networks: usize,
    pub ports: usize,
    pub list_reps: usize,
    pub concurrency: usize,
}

impl Round {
    pub fn new(
        prefix: &str,
        project: &str,
        networks: usize,
        ports: usize,
        list_reps: usize,
        concurrency: usize,
    ) -> Self {
        Self {
            tag: format!("{prefix}-c{concurrency}"),
            project: project.to_string(),
            networks,
            ports,
            list_reps,
            concurrency,
        }
    }
}

/// The /24 of the i-th network: 10.(i/256).(i%256).0/24, as load.py.
pub fn subnet_cidr(i: usize) -> String {
    format!("10.{}.{}.0/24", i / 256, i % 256)
}

/// Networks this many subnets can be numbered for (10.0.0.0/24 .. 10.255.255.0/24).
pub const MAX_NETWORKS: usize = 256 * 256;

/// `POST /v2.0/networks` x N.
pub fn create_network_jobs(round: &Round) -> Vec<Job> {
    (0..round.networks)
        .map(|i| {
            let body = json!({"network": {"name": format!("{}-net-{i}", round.tag), "project_id": round.project,
                "admin_state_up": true}});
            Job::post("/v2.0/networks", &body)
        })
        .collect()
}

/// `POST /v2.0/subnets`, one IPv4 /24 per network.
pub fn create_subnet_jobs(round: &Round, networks: &[String]) -> Vec<Job> {
    networks
        .iter()
        .enumerate()
        .map(|(i, network)| {
            let body = json!({"subnet": {"name": format!("{}-sub-{i}", round.tag), "network_id": network,
                "project_id": round.project, "ip_version": 4, "cidr": subnet_cidr(i)}});
            Job::post("/v2.0/subnets", &body)
        })
        .collect()
}

/// `DELETE /v2.0/COLLECTION/ID` for each id.
pub fn delete_jobs(collection: &str, ids: &[String]) -> Vec<Job> {
    ids.iter().map(|id| Job::delete(format!("/v2.0/{collection}/{id}"))).collect()
}

/// The ids of the created resources (`{"network": {"id": ...}}` for key `network`), in job
/// order, skipping requests that failed.
pub fn created_ids(bodies: &[Option<Value>], key: &str) -> Vec<String> {
    bodies.iter().flatten().filter_map(|body| body[key]["id"].as_str().map(str::to_string)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round() -> Round {
        Round::new("lg", "proj", 3, 10, 2, 8)
    }

    fn body(job: &Job) -> Value {
        serde_json::from_slice(job.body.as_deref().unwrap_or_default()).unwrap_or_default()
    }

    #[test]
    fn cidrs_are_one_slash_24_per_network() {
        assert_eq!(subnet_cidr(0), "10.0.0.0/24");
        assert_eq!(subnet_cidr(255), "10.0.255.0/24");
        assert_eq!(subnet_cidr(300), "10.1.44.0/24");
        assert_eq!(subnet_cidr(MAX_NETWORKS - 1), "10.255.255.0/24");
    }

    #[test]
    fn networks_and_subnets_carry_names_and_project() {
        let r = round();
        let nets = create_network_jobs(&r);
        assert_eq!(nets.len(), 3);
        assert_eq!(nets[2].path, "/v2.0/networks");
        assert_eq!(
            body(&nets[2]),
            json!({"network": {"name": "lg-c8-net-2", "project_id": "proj", "admin_state_up": true}})
        );
        let subs = create_subnet_jobs(&r, &["a".into(), "b".into()]);
        assert_eq!(
            body(&subs[1]),
            json!({"subnet": {"name": "lg-c8-sub-1", "network_id": "b", "project_id": "proj", "ip_version": 4,
                "cidr": "10.0.1.0/24"}})
        );
    }

    #[test]
    fn ids_skip_failures_and_deletes_address_each() {
        let bodies =
            vec![Some(json!({"port": {"id": "p1"}})), None, Some(Value::Null), Some(json!({"port": {"id": "p2"}}))];
        let ids = created_ids(&bodies, "port");
        assert_eq!(ids, ["p1", "p2"]);
        let jobs = delete_jobs("ports", &ids);
        assert_eq!(jobs[1].path, "/v2.0/ports/p2");
        assert_eq!(jobs[1].method, reqwest::Method::DELETE);
    }
}
