//! Routers: N networks with a subnet, N routers, one interface each (router i on subnet
//! i), the routers listed, then the interfaces removed and everything deleted.

use super::{create_network_jobs, create_subnet_jobs, created_ids, delete_jobs, Round};
use crate::http::Job;
use crate::runner::Runner;
use crate::BenchError;
use serde_json::json;

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
    let routers =
        created_ids(&r.phase("create_router", create_router_jobs(round, subnets.len()), c, 201).await?, "router");
    let pairs: Vec<(String, String)> = routers.iter().cloned().zip(subnets.iter().cloned()).collect();
    r.phase("add_router_interface", interface_jobs(&pairs, "add_router_interface"), c, 200).await?;
    let list = (0..round.list_reps).map(|_| Job::get("/v2.0/routers")).collect();
    r.phase("list_routers", list, c, 200).await?;
    r.phase("remove_router_interface", interface_jobs(&pairs, "remove_router_interface"), c, 200).await?;
    r.phase("delete_router", delete_jobs("routers", &routers), c, 204).await?;
    r.phase("delete_subnet", delete_jobs("subnets", &subnets), c, 204).await?;
    r.phase("delete_network", delete_jobs("networks", &networks), c, 204).await?;
    Ok(())
}

/// `POST /v2.0/routers`, one per subnet created.
fn create_router_jobs(round: &Round, count: usize) -> Vec<Job> {
    (0..count)
        .map(|i| {
            let body = json!({"router": {"name": format!("{}-router-{i}", round.tag), "project_id": round.project}});
            Job::post("/v2.0/routers", &body)
        })
        .collect()
}

/// `PUT /v2.0/routers/R/ACTION {"subnet_id": S}` for each (router, subnet) pair.
fn interface_jobs(pairs: &[(String, String)], action: &str) -> Vec<Job> {
    pairs
        .iter()
        .map(|(router, subnet)| Job::put(format!("/v2.0/routers/{router}/{action}"), &json!({"subnet_id": subnet})))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interfaces_pair_each_router_with_its_subnet() {
        let pairs = vec![("r0".to_string(), "s0".to_string()), ("r1".to_string(), "s1".to_string())];
        let jobs = interface_jobs(&pairs, "remove_router_interface");
        assert_eq!(jobs[1].method, reqwest::Method::PUT);
        assert_eq!(jobs[1].path, "/v2.0/routers/r1/remove_router_interface");
        assert_eq!(jobs[1].body.as_deref(), Some(br#"{"subnet_id":"s1"}"#.as_slice()));
        let routers = create_router_jobs(&Round::new("lg", "p", 2, 0, 1, 8), 2);
        assert_eq!(
            routers[1].body.as_deref(),
            Some(br#"{"router":{"name":"lg-c8-router-1","project_id":"p"}}"#.as_slice())
        );
    }
}
