//! A whole run: checks the arguments, clears leftovers, runs one round per concurrency level,
//! prints the table as it goes and the server's memory around it, writes the JSON, and only
//! then reports failures.

use crate::http::{quote, request_headers, Connection, Endpoint, Job};
use crate::procfs::CpuMeter;
use crate::report::{RunReport, TABLE_HEADER, TABLE_RULE};
use crate::runner::Runner;
use crate::scenario::hosts::topology::{Topology, MAX_CHANGES};
use crate::scenario::hosts::HostsPlan;
use crate::scenario::{self, Round, MAX_NETWORKS};
use crate::{BenchArgs, BenchError, Scenario};
use serde_json::{json, Value};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let levels = parse_levels(&args.concurrency)?;
    check_sizes(&args, levels.len())?;
    let timeout = request_timeout(args.timeout)?;
    check_urls(&args.urls)?;
    let project = args.project_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let headers = request_headers(&project, args.token.as_deref(), &args.headers)?;
    let endpoint = Endpoint::new(&args.urls, headers, timeout);
    let meter = CpuMeter { server_pids: args.server_pid.clone(), db_pid: args.db_pid };
    let mut runner = Runner::new(endpoint, meter, !args.quiet);
    if args.urls.len() > 1 {
        println!("{} servers, requests round-robin: {}", args.urls.len(), args.urls.join(" "));
    }

    let rss_before = runner.meter.server_rss_kib();
    print_rss(&args.server_pid, rss_before, "before");
    if !args.no_cleanup {
        cleanup(&runner.endpoint.connect()?, args.scenario, &args.prefix, runner.verbose).await;
    }
    if !args.keep_quotas {
        lift_quotas(&runner.endpoint.connect()?, &project).await;
    }

    let started_unix = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or_default();
    let started = Instant::now();
    let hosts = if args.scenario == Scenario::Hosts {
        let plan = hosts_plan(&args, &project, &levels, timeout);
        let outcome = scenario::hosts::run(&mut runner, &plan).await?;
        if !args.no_cleanup {
            cleanup(&runner.endpoint.connect()?, args.scenario, &args.prefix, runner.verbose).await;
        }
        Some(outcome)
    } else {
        run_rounds(&mut runner, &args, &project, &levels).await?;
        None
    };
    let total = started.elapsed().as_secs_f64();
    println!("\ntotal {total:.1} s");
    let rss_after = runner.meter.server_rss_kib();
    print_rss(&args.server_pid, rss_after, "after");

    if let Some(path) = &args.json {
        let report = RunReport {
            base_url: args.urls.first().map(String::as_str).unwrap_or_default(),
            base_urls: &args.urls,
            label: &args.label,
            scenario: args.scenario.name(),
            networks: args.networks,
            ports: args.ports,
            list_reps: args.list_reps,
            concurrency: &levels,
            project_id: &project,
            started: started_unix,
            total_s: crate::stats::round_to(total, 2),
            server_pid: args.server_pid.first().copied(),
            server_pids: &args.server_pid,
            db_pid: args.db_pid,
            server_rss_kib_before: rss_before,
            server_rss_kib_after: rss_after,
            failed_requests: runner.failed_requests,
            aborted_rounds: runner.aborted_rounds,
            results: &runner.rows,
            hosts: hosts.as_ref(),
        };
        report.write(path)?;
    }
    if runner.failed_requests > 0 {
        return Err(BenchError::Failed(runner.failed_requests));
    }
    if runner.aborted_rounds > 0 {
        return Err(BenchError::Aborted(runner.aborted_rounds));
    }
    match hosts.map(|h| h.lost_changes()) {
        Some(lost) if lost > 0 => Err(BenchError::Undelivered(lost)),
        _ => Ok(()),
    }
}

/// One round of a request-mix scenario per concurrency level.
async fn run_rounds(runner: &mut Runner, args: &BenchArgs, project: &str, levels: &[usize]) -> Result<(), BenchError> {
    for &concurrency in levels {
        println!(
            "\n## concurrency {concurrency} (N={} networks, M={} ports, project {project})\n",
            args.networks, args.ports
        );
        println!("{TABLE_HEADER}\n{TABLE_RULE}");
        let round = Round::new(&args.prefix, project, args.networks, args.ports, args.list_reps, concurrency);
        match args.scenario {
            Scenario::Ports => scenario::ports::run_round(runner, &round).await?,
            Scenario::SecurityGroups => scenario::security_groups::run_round(runner, &round).await?,
            Scenario::Routers => scenario::routers::run_round(runner, &round).await?,
            Scenario::Hosts => {}
        }
    }
    Ok(())
}

/// `--scenario hosts`' plan: the sizes, one round of --changes per level, and --timeout
/// as the longest wait for a round's deliveries.
fn hosts_plan(args: &BenchArgs, project: &str, levels: &[usize], timeout: Duration) -> HostsPlan {
    HostsPlan {
        tag: args.prefix.clone(),
        project: project.to_string(),
        topology: Topology { hosts: args.hosts, networks: args.networks, span: args.span },
        changes: args.changes,
        levels: levels.to_vec(),
        deliver_timeout: timeout,
        mac_byte: uuid::Uuid::new_v4().as_bytes()[0],
    }
}

/// "1,8" -> [1, 8]; empty items are skipped (load.py does too), zero is refused.
fn parse_levels(text: &str) -> Result<Vec<usize>, BenchError> {
    let levels = text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| match s.parse::<usize>() {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(BenchError::Args(format!("concurrency '{s}' is not a positive number"))),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if levels.is_empty() {
        return Err(BenchError::Args("no concurrency level given".into()));
    }
    Ok(levels)
}

/// The scenario needs at least one network, and subnets are numbered 10.x.y.0/24; the
/// hosts scenario needs hosts, and names its measured ports' MACs with 16 bits.
fn check_sizes(args: &BenchArgs, levels: usize) -> Result<(), BenchError> {
    let uses_networks = args.scenario != Scenario::SecurityGroups;
    if uses_networks && !(1..=MAX_NETWORKS).contains(&args.networks) {
        return Err(BenchError::Args(format!("--networks must be between 1 and {MAX_NETWORKS}")));
    }
    if args.scenario == Scenario::Hosts {
        if !(1..=MAX_HOSTS).contains(&args.hosts) || args.span == 0 {
            return Err(BenchError::Args(format!("--hosts must be between 1 and {MAX_HOSTS}, --span at least 1")));
        }
        if args.changes.saturating_mul(levels) > MAX_CHANGES {
            return Err(BenchError::Args(format!(
                "--changes times the concurrency levels must be at most {MAX_CHANGES}"
            )));
        }
    }
    Ok(())
}

/// Simulated hosts a run may have (each holds a connection and two tasks).
const MAX_HOSTS: usize = 100_000;

fn request_timeout(seconds: f64) -> Result<Duration, BenchError> {
    Duration::try_from_secs_f64(seconds)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| BenchError::Args(format!("--timeout {seconds} is not a positive number of seconds")))
}

/// At least one URL, each an http(s) URL with a host.
fn check_urls(urls: &[String]) -> Result<(), BenchError> {
    if urls.is_empty() {
        return Err(BenchError::Args("no server URL given".into()));
    }
    for url in urls {
        match reqwest::Url::parse(url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => {}
            _ => return Err(BenchError::Args(format!("'{url}' is not an http(s) URL"))),
        }
    }
    Ok(())
}

fn print_rss(pids: &[u32], kib: Option<u64>, when: &str) {
    if let Some(kib) = kib {
        let pids = pids.iter().map(u32::to_string).collect::<Vec<_>>().join(",");
        println!("server pid {pids} (with children): RSS {kib} KiB ({:.1} MiB) {when} the run", kib as f64 / 1024.0);
    }
}

/// Deletes what an earlier run left behind, as load.py does: everything of the scenario's
/// kinds whose name starts with the prefix (routers after detaching their interfaces).
/// Failures are reported and skipped; the run itself will show whether the server works.
async fn cleanup(conn: &Connection, scenario: Scenario, prefix: &str, verbose: bool) {
    if scenario == Scenario::Routers {
        for router in named_ids(conn, "routers", prefix).await {
            let path =
                format!("/v2.0/ports?device_id={router}&device_owner={}&fields=id", quote("network:router_interface"));
            for port in listed_ids(conn, &path, "ports").await.into_iter().flatten().map(|(id, _)| id) {
                let body = json!({"port_id": port});
                let _ = conn.send(&Job::put(format!("/v2.0/routers/{router}/remove_router_interface"), &body)).await;
            }
            let _ = conn.send(&Job::delete(format!("/v2.0/routers/{router}"))).await;
        }
    }
    let collections: &[&str] = match scenario {
        Scenario::Ports | Scenario::Routers | Scenario::Hosts => &["ports", "subnets", "networks"],
        Scenario::SecurityGroups => &["security-groups"],
    };
    for collection in collections {
        let ids = named_ids(conn, collection, prefix).await;
        let mut failed = 0;
        for id in &ids {
            match conn.send(&Job::delete(format!("/v2.0/{collection}/{id}"))).await {
                Ok(reply) if reply.status == 204 || reply.status == 404 => {}
                _ => failed += 1,
            }
        }
        if !ids.is_empty() && verbose {
            eprintln!("cleanup: deleted {} leftover {collection}", ids.len() - failed);
        }
        if failed > 0 {
            eprintln!("cleanup: could not delete {failed} leftover {collection}");
        }
    }
}

/// Ids of the collection's resources named PREFIX*; empty (and said why) if it cannot be listed.
async fn named_ids(conn: &Connection, collection: &str, prefix: &str) -> Vec<String> {
    let path = format!("/v2.0/{collection}?fields=id&fields=name");
    let key = collection.replace('-', "_");
    let Some(items) = listed_ids(conn, &path, &key).await else { return Vec::new() };
    items.into_iter().filter(|(_, name)| name.starts_with(prefix)).map(|(id, _)| id).collect()
}

/// (id, name) of each item a list request returns under `key`; None (said why) on failure.
async fn listed_ids(conn: &Connection, path: &str, key: &str) -> Option<Vec<(String, String)>> {
    let reply = match conn.send(&Job::get(path)).await {
        Ok(reply) if reply.status == 200 => reply,
        Ok(reply) => {
            eprintln!("cleanup: GET {path} -> {}", reply.status);
            return None;
        }
        Err(e) => {
            eprintln!("cleanup: {e}");
            return None;
        }
    };
    let body: Value = serde_json::from_slice(&reply.body).ok()?;
    let items = body.get(key)?.as_array()?;
    Some(
        items
            .iter()
            .filter_map(|item| {
                let id = item["id"].as_str()?.to_string();
                Some((id, item["name"].as_str().unwrap_or_default().to_string()))
            })
            .collect(),
    )
}

/// Sets the project's quotas to unlimited, as Rally's `quotas` context does (Neutron's
/// default of 500 ports per project would cap the scenario). Servers without quotas, or
/// that refuse, get a note and the run goes on.
async fn lift_quotas(conn: &Connection, project: &str) {
    let body = json!({"quota": {"network": -1, "subnet": -1, "port": -1, "router": -1,
        "security_group": -1, "security_group_rule": -1}});
    match conn.send(&Job::put(format!("/v2.0/quotas/{project}"), &body)).await {
        Ok(reply) if (200..300).contains(&reply.status) => {}
        Ok(reply) => {
            eprintln!("note: could not lift quotas for {project} (HTTP {}); the run may hit them", reply.status)
        }
        Err(e) => eprintln!("note: could not lift quotas for {project}: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrency_levels() {
        assert_eq!(parse_levels("1,8").ok(), Some(vec![1, 8]));
        assert_eq!(parse_levels(" 4 ,").ok(), Some(vec![4]));
        for bad in ["", ",", "0", "1,x", "-2"] {
            assert!(matches!(parse_levels(bad), Err(BenchError::Args(_))), "{bad}");
        }
    }

    fn args(extra: &[&str]) -> BenchArgs {
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            args: BenchArgs,
        }
        let argv = ["bench", "http://127.0.0.1:9696"].iter().chain(extra);
        match <Cli as clap::Parser>::try_parse_from(argv) {
            Ok(cli) => cli.args,
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn hosts_sizes_are_checked() {
        assert!(check_sizes(&args(&["--scenario", "hosts"]), 2).is_ok());
        for bad in [&["--hosts", "0"][..], &["--span", "0"], &["--networks", "0"], &["--changes", "40000"]] {
            let a = args(&[&["--scenario", "hosts"][..], bad].concat());
            assert!(matches!(check_sizes(&a, 2), Err(BenchError::Args(_))), "{bad:?}");
        }
        // --changes bounds only the hosts scenario.
        assert!(check_sizes(&args(&["--changes", "40000"]), 2).is_ok());
    }

    #[test]
    fn the_hosts_plan_follows_the_arguments() {
        let a = args(&["--scenario", "hosts", "--hosts", "7", "--networks", "3", "--span", "2", "--changes", "9"]);
        let plan = hosts_plan(&a, "p", &[1, 8], Duration::from_secs(5));
        assert_eq!(plan.topology, Topology { hosts: 7, networks: 3, span: 2 });
        assert_eq!((plan.changes, plan.levels.as_slice(), plan.tag.as_str()), (9, &[1, 8][..], "lg"));
        assert_eq!(plan.deliver_timeout, Duration::from_secs(5));
    }

    #[test]
    fn timeouts_and_urls() {
        assert_eq!(request_timeout(1.5).ok(), Some(Duration::from_millis(1500)));
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(request_timeout(bad).is_err(), "{bad}");
        }
        let urls = |list: &[&str]| list.iter().map(|u| u.to_string()).collect::<Vec<_>>();
        assert!(check_urls(&urls(&["http://127.0.0.1:9696"])).is_ok());
        assert!(check_urls(&urls(&["https://cloud.example/networking/", "http://127.0.0.1:9697"])).is_ok());
        for bad in ["127.0.0.1:9696", "ftp://x", "http://", "not a url"] {
            assert!(check_urls(&urls(&[bad])).is_err(), "{bad}");
            assert!(check_urls(&urls(&["http://127.0.0.1:9696", bad])).is_err(), "{bad} second");
        }
        assert!(check_urls(&[]).is_err());
    }
}
