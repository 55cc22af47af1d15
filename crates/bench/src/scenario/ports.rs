//! load.py's scenario: N networks with a /24 subnet each, M ports round-robin over them,
//! the port list four ways, then everything deleted, each step a measured phase.

use super::{create_network_jobs, create_subnet_jobs, created_ids, delete_jobs, Round};
use crate::http::{quote, Job};
use crate::runner::Runner;
use crate::BenchError;
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Runs one round; a round whose networks all fail is given up (counted, not fatal).
pub async fn run_round(r: &mut Runner, round: &Round) -> Result<(), BenchError> {
    let c = round.concurrency;
    let networks = created_ids(&r.phase("create_network", create_network_jobs(round), c, 201).await?, "network");
    if networks.is_empty() {
        eprintln!("no networks created, aborting round");
        r.aborted_rounds += 1;
        return Ok(());
    }
    let subnets = created_ids(&r.phase("create_subnet", create_subnet_jobs(round, &networks), c, 201).await?, "subnet");
    let created = r.phase("create_port", create_port_jobs(round, &networks), c, 201).await?;
    let without_ip = ports_without_fixed_ips(&created);
    if without_ip > 0 {
        eprintln!("WARNING: {without_ip} ports without fixed_ips");
    }
    let ports = created_ids(&created, "port");

    let filtered_reps = round.list_reps * 5;
    let listed = r.phase("list_ports_all", list_all_jobs(round.list_reps), c, 200).await?;
    if r.verbose {
        eprintln!("    list_ports_all row counts: {:?}", list_sizes(&listed));
    }
    r.phase("list_ports_by_net", list_by_network_jobs(&networks, filtered_reps), c, 200).await?;
    r.phase("list_ports_by_name", list_by_name_jobs(round, filtered_reps), c, 200).await?;
    r.phase("list_ports_fields", list_fields_jobs(&networks, filtered_reps), c, 200).await?;

    r.phase("delete_port", delete_jobs("ports", &ports), c, 204).await?;
    r.phase("delete_subnet", delete_jobs("subnets", &subnets), c, 204).await?;
    r.phase("delete_network", delete_jobs("networks", &networks), c, 204).await?;
    Ok(())
}

/// `POST /v2.0/ports` x M, round-robin over the networks; the server picks the fixed IP.
fn create_port_jobs(round: &Round, networks: &[String]) -> Vec<Job> {
    (0..round.ports)
        .map(|j| {
            let body = json!({"port": {"name": port_name(round, j), "project_id": round.project,
                "network_id": networks[j % networks.len()]}});
            Job::post("/v2.0/ports", &body)
        })
        .collect()
}

fn port_name(round: &Round, j: usize) -> String {
    format!("{}-port-{j}", round.tag)
}

/// Created ports whose reply has no fixed IP (the subnet's allocation did not happen).
fn ports_without_fixed_ips(created: &[Option<Value>]) -> usize {
    created
        .iter()
        .flatten()
        .filter_map(|body| body.get("port"))
        .filter(|port| port["fixed_ips"].as_array().is_none_or(Vec::is_empty))
        .count()
}

/// The distinct row counts the unfiltered lists returned (one value when all agree).
fn list_sizes(listed: &[Option<Value>]) -> BTreeSet<usize> {
    listed.iter().flatten().filter_map(|body| body["ports"].as_array().map(Vec::len)).collect()
}

/// `GET /v2.0/ports` (every port).
fn list_all_jobs(reps: usize) -> Vec<Job> {
    (0..reps).map(|_| Job::get("/v2.0/ports")).collect()
}

/// `GET /v2.0/ports?network_id=X`, cycling over the networks (~M/N rows each).
fn list_by_network_jobs(networks: &[String], count: usize) -> Vec<Job> {
    (0..count).map(|k| Job::get(format!("/v2.0/ports?network_id={}", networks[k % networks.len()]))).collect()
}

/// `GET /v2.0/ports?name=X`, one row each, names spread by load.py's stride of 37.
fn list_by_name_jobs(round: &Round, count: usize) -> Vec<Job> {
    (0..count)
        .map(|k| Job::get(format!("/v2.0/ports?name={}", quote(&port_name(round, (k * 37) % round.ports.max(1))))))
        .collect()
}

/// `GET /v2.0/ports?network_id=X&fields=id&fields=fixed_ips`.
fn list_fields_jobs(networks: &[String], count: usize) -> Vec<Job> {
    (0..count)
        .map(|k| {
            Job::get(format!("/v2.0/ports?network_id={}&fields=id&fields=fixed_ips", networks[k % networks.len()]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets() -> Vec<String> {
        vec!["n0".into(), "n1".into(), "n2".into()]
    }

    #[test]
    fn ports_go_round_robin_over_the_networks() {
        let round = Round::new("lg", "proj", 3, 7, 1, 2);
        let jobs = create_port_jobs(&round, &nets());
        assert_eq!(jobs.len(), 7);
        let body: Value = serde_json::from_slice(jobs[4].body.as_deref().unwrap_or_default()).unwrap_or_default();
        assert_eq!(body, json!({"port": {"name": "lg-c2-port-4", "project_id": "proj", "network_id": "n1"}}));
    }

    #[test]
    fn list_requests_are_load_py_s() {
        let round = Round::new("lg x", "proj", 3, 100, 2, 8);
        assert_eq!(list_all_jobs(2).iter().map(|j| j.path.as_str()).collect::<Vec<_>>(), ["/v2.0/ports"; 2]);
        let by_net = list_by_network_jobs(&nets(), 10);
        assert_eq!((by_net.len(), by_net[4].path.as_str()), (10, "/v2.0/ports?network_id=n1"));
        let by_name = list_by_name_jobs(&round, 10);
        assert_eq!(by_name[3].path, "/v2.0/ports?name=lg%20x-c8-port-11");
        let fields = list_fields_jobs(&nets(), 10);
        assert_eq!(fields[5].path, "/v2.0/ports?network_id=n2&fields=id&fields=fixed_ips");
    }

    #[test]
    fn ports_without_addresses_and_list_sizes_are_counted() {
        let created = vec![
            Some(json!({"port": {"id": "a", "fixed_ips": [{"ip_address": "10.0.0.2"}]}})),
            Some(json!({"port": {"id": "b", "fixed_ips": []}})),
            Some(json!({"port": {"id": "c"}})),
            None,
        ];
        assert_eq!(ports_without_fixed_ips(&created), 2);
        let listed = vec![Some(json!({"ports": [1, 2]})), Some(json!({"ports": [1, 2]})), Some(json!({"ports": []}))];
        assert_eq!(list_sizes(&listed).into_iter().collect::<Vec<_>>(), [0, 2]);
    }
}
