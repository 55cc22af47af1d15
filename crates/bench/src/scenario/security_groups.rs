//! Security groups: one group, M rules (one TCP port and source /24 each), the rules listed
//! all / by group, the group shown with its rules, then everything deleted.

use super::{created_ids, delete_jobs, Round};
use crate::http::Job;
use crate::runner::Runner;
use crate::BenchError;
use serde_json::json;

/// Runs one round; a round whose group cannot be created is given up (counted, not fatal).
pub async fn run_round(r: &mut Runner, round: &Round) -> Result<(), BenchError> {
    let c = round.concurrency;
    let group_body = json!({"security_group": {"name": format!("{}-sg", round.tag), "project_id": round.project}});
    let created =
        r.phase("create_security_group", vec![Job::post("/v2.0/security-groups", &group_body)], 1, 201).await?;
    let Some(group) = created_ids(&created, "security_group").into_iter().next() else {
        eprintln!("no security group created, aborting round");
        r.aborted_rounds += 1;
        return Ok(());
    };
    let rules = created_ids(
        &r.phase("create_security_group_rule", rule_jobs(round, &group), c, 201).await?,
        "security_group_rule",
    );
    let reps = round.list_reps;
    let all = (0..reps).map(|_| Job::get("/v2.0/security-group-rules")).collect();
    r.phase("list_security_group_rules", all, c, 200).await?;
    let by_group =
        (0..reps).map(|_| Job::get(format!("/v2.0/security-group-rules?security_group_id={group}"))).collect();
    r.phase("list_rules_by_group", by_group, c, 200).await?;
    let show = (0..reps).map(|_| Job::get(format!("/v2.0/security-groups/{group}"))).collect();
    r.phase("show_security_group", show, c, 200).await?;
    r.phase("delete_security_group_rule", delete_jobs("security-group-rules", &rules), c, 204).await?;
    r.phase("delete_security_group", delete_jobs("security-groups", &[group]), 1, 204).await?;
    Ok(())
}

/// `POST /v2.0/security-group-rules` x M, each distinct: TCP port 1 + i % 65535 from
/// 10.x.y.0/24.
fn rule_jobs(round: &Round, group: &str) -> Vec<Job> {
    (0..round.ports)
        .map(|i| {
            let port = 1 + i % 65535;
            let body = json!({"security_group_rule": {"security_group_id": group, "project_id": round.project,
                "direction": "ingress", "protocol": "tcp", "port_range_min": port,
                "port_range_max": port, "remote_ip_prefix": format!("10.{}.{}.0/24", i / 256 % 256, i % 256)}});
            Job::post("/v2.0/security-group-rules", &body)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn rules_are_distinct_and_owned() {
        let round = Round::new("lg", "proj", 1, 300, 1, 4);
        let jobs = rule_jobs(&round, "sg");
        let bodies: Vec<Value> = jobs
            .iter()
            .map(|j| serde_json::from_slice(j.body.as_deref().unwrap_or_default()).unwrap_or_default())
            .collect();
        let rule = &bodies[257]["security_group_rule"];
        assert_eq!(rule["port_range_min"], 258);
        assert_eq!(rule["remote_ip_prefix"], "10.1.1.0/24");
        assert_eq!(rule["project_id"], "proj");
        assert_eq!(rule["security_group_id"], "sg");
        let distinct: std::collections::HashSet<String> = bodies.iter().map(Value::to_string).collect();
        assert_eq!(distinct.len(), 300);
    }
}
