//! The phases of the run and the per-phase measurement.

use crate::{procfs, stats, BenchArgs, BenchError};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// One request of a phase.
#[derive(Debug, Clone)]
struct Job {
    method: Method,
    path: String,
    body: Option<Value>,
}

impl Job {
    fn get(path: String) -> Self {
        Self { method: Method::GET, path, body: None }
    }
    fn post(path: &str, body: Value) -> Self {
        Self { method: Method::POST, path: path.into(), body: Some(body) }
    }
    fn delete(path: String) -> Self {
        Self { method: Method::DELETE, path, body: None }
    }
}

/// One row of the report (same fields as load.py's JSON).
#[derive(Debug, Clone, Serialize)]
struct Row {
    op: String,
    concurrency: usize,
    requests: usize,
    ok: usize,
    errors: usize,
    wall_s: f64,
    rps: f64,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    srv_cpu_ms_per_req: f64,
    srv_cpu_util: f64,
}

const HEADER: &str =
    "| op | conc | reqs | ok | err | wall s | req/s | p50 ms | p90 ms | p99 ms | max ms | srv cpu ms/req | srv cores |";
const RULE: &str = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|";

fn fmt_row(r: &Row) -> String {
    format!(
        "| {} | {} | {} | {} | {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
        r.op,
        r.concurrency,
        r.requests,
        r.ok,
        r.errors,
        r.wall_s,
        r.rps,
        r.p50_ms,
        r.p90_ms,
        r.p99_ms,
        r.max_ms,
        r.srv_cpu_ms_per_req,
        r.srv_cpu_util
    )
}

struct Runner {
    base: String,
    headers: HeaderMap,
    timeout: Duration,
    server_pid: Option<u32>,
    rows: Vec<Row>,
    errors: usize,
}

impl Runner {
    fn client(&self) -> Result<reqwest::Client, BenchError> {
        reqwest::Client::builder()
            .default_headers(self.headers.clone())
            .timeout(self.timeout)
            .pool_max_idle_per_host(1)
            .build()
            .map_err(BenchError::Client)
    }

    /// Runs the jobs through `conc` workers (each with its own connection); returns the
    /// decoded bodies of the requests that got `expect`, in job order.
    async fn phase(
        &mut self,
        name: &str,
        jobs: Vec<Job>,
        conc: usize,
        expect: u16,
    ) -> Result<Vec<Option<Value>>, BenchError> {
        let jobs = Arc::new(jobs);
        let next = Arc::new(AtomicUsize::new(0));
        let cpu0 = self.server_pid.map(procfs::cpu_seconds);
        let t0 = Instant::now();
        let mut workers = Vec::with_capacity(conc);
        for _ in 0..conc.max(1) {
            let client = self.client()?;
            let jobs = jobs.clone();
            let next = next.clone();
            let base = self.base.clone();
            workers.push(tokio::spawn(async move {
                let mut done: Vec<(usize, Outcome)> = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(job) = jobs.get(i) else { break };
                    let mut req = client.request(job.method.clone(), format!("{base}{}", job.path));
                    if let Some(b) = &job.body {
                        req = req.json(b);
                    }
                    let start = Instant::now();
                    let outcome = match req.send().await {
                        Ok(res) => {
                            let status = res.status().as_u16();
                            match res.bytes().await {
                                Ok(body) => {
                                    Ok((start.elapsed().as_secs_f64(), Response { status, bytes: body.to_vec() }))
                                }
                                Err(e) => Err(format!("{} {}: {e}", job.method, job.path)),
                            }
                        }
                        Err(e) => Err(format!("{} {}: {e}", job.method, job.path)),
                    };
                    done.push((i, outcome));
                }
                done
            }));
        }
        let mut results: Vec<Option<Value>> = vec![None; jobs.len()];
        let mut latencies = Vec::with_capacity(jobs.len());
        let mut errors = Vec::new();
        for w in workers {
            let done = w.await.map_err(|e| BenchError::Setup(format!("worker panicked: {e}")))?;
            for (i, outcome) in done {
                match outcome {
                    Ok((dt, body)) if body.status == expect => {
                        latencies.push(dt);
                        results[i] = Some(serde_json::from_slice(&body.bytes).unwrap_or(Value::Null));
                    }
                    Ok((_, body)) => errors.push(format!(
                        "{} {} -> {} {}",
                        jobs[i].method,
                        jobs[i].path,
                        body.status,
                        String::from_utf8_lossy(&body.bytes).chars().take(300).collect::<String>()
                    )),
                    Err(e) => errors.push(e),
                }
            }
        }
        let wall = t0.elapsed().as_secs_f64();
        let cpu = match (cpu0, self.server_pid) {
            (Some(c0), Some(pid)) => Some(procfs::cpu_seconds(pid) - c0),
            _ => None,
        };
        latencies.sort_by(|a, b| a.total_cmp(b));
        let ms = |v: f64| (v * 1000.0 * 100.0).round() / 100.0;
        let row = Row {
            op: name.into(),
            concurrency: conc,
            requests: jobs.len(),
            ok: latencies.len(),
            errors: errors.len(),
            wall_s: (wall * 1000.0).round() / 1000.0,
            rps: if wall > 0.0 { (latencies.len() as f64 / wall * 100.0).round() / 100.0 } else { 0.0 },
            p50_ms: ms(stats::percentile(&latencies, 50.0)),
            p90_ms: ms(stats::percentile(&latencies, 90.0)),
            p99_ms: ms(stats::percentile(&latencies, 99.0)),
            max_ms: ms(latencies.last().copied().unwrap_or(f64::NAN)),
            mean_ms: ms(stats::mean(&latencies)),
            srv_cpu_ms_per_req: cpu.map(|c| c * 1000.0 / jobs.len().max(1) as f64).unwrap_or(f64::NAN),
            srv_cpu_util: cpu.map(|c| c / wall).unwrap_or(f64::NAN),
        };
        println!("{}", fmt_row(&row));
        for e in errors.iter().take(5) {
            eprintln!("    ! {e}");
        }
        self.errors += errors.len();
        self.rows.push(row);
        Ok(results)
    }
}

/// A timed response (seconds, response) or why the request failed.
type Outcome = Result<(f64, Response), String>;

/// One response, kept as bytes until the measurement is over.
struct Response {
    status: u16,
    bytes: Vec<u8>,
}

fn ids(results: &[Option<Value>], key: &str) -> Vec<String> {
    results.iter().flatten().filter_map(|v| v[key]["id"].as_str().map(str::to_string)).collect()
}

async fn round(r: &mut Runner, args: &BenchArgs, project: &str, conc: usize) -> Result<(), BenchError> {
    let tag = format!("{}-c{conc}", args.prefix);
    let (n, m, reps) = (args.networks, args.ports, args.list_reps);
    let jobs = (0..n)
        .map(|i| {
            Job::post(
                "/v2.0/networks",
                json!({"network": {"name": format!("{tag}-net-{i}"), "project_id": project, "admin_state_up": true}}),
            )
        })
        .collect();
    let nets = ids(&r.phase("create_network", jobs, conc, 201).await?, "network");
    if nets.is_empty() {
        return Err(BenchError::Setup("no networks created".into()));
    }
    let jobs = nets
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Job::post(
                "/v2.0/subnets",
                json!({"subnet": {"name": format!("{tag}-sub-{i}"), "network_id": id, "project_id": project, "ip_version": 4,
                    "cidr": format!("10.{}.{}.0/24", i / 256, i % 256)}}),
            )
        })
        .collect();
    let subs = ids(&r.phase("create_subnet", jobs, conc, 201).await?, "subnet");
    let jobs = (0..m)
        .map(|j| Job::post("/v2.0/ports", json!({"port": {"name": format!("{tag}-port-{j}"), "project_id": project, "network_id": nets[j % nets.len()]}})))
        .collect();
    let created = r.phase("create_port", jobs, conc, 201).await?;
    let without_ip =
        created.iter().flatten().filter(|p| p["port"]["fixed_ips"].as_array().is_none_or(Vec::is_empty)).count();
    if without_ip > 0 {
        eprintln!("WARNING: {without_ip} ports without fixed_ips");
    }
    let ports = ids(&created, "port");
    let got = r.phase("list_ports_all", (0..reps).map(|_| Job::get("/v2.0/ports".into())).collect(), conc, 200).await?;
    let sizes: std::collections::BTreeSet<usize> =
        got.iter().flatten().filter_map(|v| v["ports"].as_array().map(Vec::len)).collect();
    eprintln!("    list_ports_all row counts: {sizes:?}");
    let by_net = (0..reps * 5).map(|k| Job::get(format!("/v2.0/ports?network_id={}", nets[k % nets.len()]))).collect();
    r.phase("list_ports_by_net", by_net, conc, 200).await?;
    let by_name =
        (0..reps * 5).map(|k| Job::get(format!("/v2.0/ports?name={tag}-port-{}", (k * 37) % m.max(1)))).collect();
    r.phase("list_ports_by_name", by_name, conc, 200).await?;
    let fields = (0..reps * 5)
        .map(|k| Job::get(format!("/v2.0/ports?network_id={}&fields=id&fields=fixed_ips", nets[k % nets.len()])))
        .collect();
    r.phase("list_ports_fields", fields, conc, 200).await?;
    r.phase("delete_port", ports.iter().map(|id| Job::delete(format!("/v2.0/ports/{id}"))).collect(), conc, 204)
        .await?;
    r.phase("delete_subnet", subs.iter().map(|id| Job::delete(format!("/v2.0/subnets/{id}"))).collect(), conc, 204)
        .await?;
    r.phase("delete_network", nets.iter().map(|id| Job::delete(format!("/v2.0/networks/{id}"))).collect(), conc, 204)
        .await?;
    Ok(())
}

/// Security groups: one group, M rules (one TCP port each), list all / by group, delete.
async fn sg_round(r: &mut Runner, args: &BenchArgs, project: &str, conc: usize) -> Result<(), BenchError> {
    let tag = format!("{}-c{conc}", args.prefix);
    let jobs = vec![Job::post(
        "/v2.0/security-groups",
        json!({"security_group": {"name": format!("{tag}-sg"), "project_id": project}}),
    )];
    let sg = ids(&r.phase("create_security_group", jobs, 1, 201).await?, "security_group");
    let sg = sg.first().cloned().ok_or_else(|| BenchError::Setup("no security group created".into()))?;
    let jobs = (0..args.ports)
        .map(|i| {
            let port = 1 + (i % 65535);
            Job::post(
                "/v2.0/security-group-rules",
                json!({"security_group_rule": {"security_group_id": sg, "project_id": project, "direction": "ingress", "protocol": "tcp",
                    "port_range_min": port, "port_range_max": port, "remote_ip_prefix": format!("10.{}.{}.0/24", i / 256 % 256, i % 256)}}),
            )
        })
        .collect();
    let rules = ids(&r.phase("create_security_group_rule", jobs, conc, 201).await?, "security_group_rule");
    let reps = args.list_reps;
    r.phase(
        "list_security_group_rules",
        (0..reps).map(|_| Job::get("/v2.0/security-group-rules".into())).collect(),
        conc,
        200,
    )
    .await?;
    let by_group = (0..reps).map(|_| Job::get(format!("/v2.0/security-group-rules?security_group_id={sg}"))).collect();
    r.phase("list_rules_by_group", by_group, conc, 200).await?;
    r.phase(
        "show_security_group",
        (0..reps).map(|_| Job::get(format!("/v2.0/security-groups/{sg}"))).collect(),
        conc,
        200,
    )
    .await?;
    r.phase(
        "delete_security_group_rule",
        rules.iter().map(|id| Job::delete(format!("/v2.0/security-group-rules/{id}"))).collect(),
        conc,
        204,
    )
    .await?;
    r.phase("delete_security_group", vec![Job::delete(format!("/v2.0/security-groups/{sg}"))], 1, 204).await?;
    Ok(())
}

/// Routers: N networks with a subnet, N routers, one interface each, then tear down.
async fn router_round(r: &mut Runner, args: &BenchArgs, project: &str, conc: usize) -> Result<(), BenchError> {
    let tag = format!("{}-c{conc}", args.prefix);
    let n = args.networks;
    let jobs = (0..n)
        .map(|i| {
            Job::post("/v2.0/networks", json!({"network": {"name": format!("{tag}-net-{i}"), "project_id": project}}))
        })
        .collect();
    let nets = ids(&r.phase("create_network", jobs, conc, 201).await?, "network");
    let jobs = nets
        .iter()
        .enumerate()
        .map(|(i, id)| {
            Job::post(
                "/v2.0/subnets",
                json!({"subnet": {"name": format!("{tag}-sub-{i}"), "network_id": id, "project_id": project,
                "ip_version": 4, "cidr": format!("10.{}.{}.0/24", i / 256, i % 256)}}),
            )
        })
        .collect();
    let subs = ids(&r.phase("create_subnet", jobs, conc, 201).await?, "subnet");
    let jobs = (0..subs.len())
        .map(|i| {
            Job::post("/v2.0/routers", json!({"router": {"name": format!("{tag}-router-{i}"), "project_id": project}}))
        })
        .collect();
    let routers = ids(&r.phase("create_router", jobs, conc, 201).await?, "router");
    let pairs: Vec<(String, String)> = routers.iter().cloned().zip(subs.iter().cloned()).collect();
    let put = |router: &str, action: &str, sub: &str| Job {
        method: Method::PUT,
        path: format!("/v2.0/routers/{router}/{action}"),
        body: Some(json!({"subnet_id": sub})),
    };
    r.phase(
        "add_router_interface",
        pairs.iter().map(|(rt, sb)| put(rt, "add_router_interface", sb)).collect(),
        conc,
        200,
    )
    .await?;
    r.phase("list_routers", (0..args.list_reps).map(|_| Job::get("/v2.0/routers".into())).collect(), conc, 200).await?;
    r.phase(
        "remove_router_interface",
        pairs.iter().map(|(rt, sb)| put(rt, "remove_router_interface", sb)).collect(),
        conc,
        200,
    )
    .await?;
    r.phase("delete_router", routers.iter().map(|id| Job::delete(format!("/v2.0/routers/{id}"))).collect(), conc, 204)
        .await?;
    r.phase("delete_subnet", subs.iter().map(|id| Job::delete(format!("/v2.0/subnets/{id}"))).collect(), conc, 204)
        .await?;
    r.phase("delete_network", nets.iter().map(|id| Job::delete(format!("/v2.0/networks/{id}"))).collect(), conc, 204)
        .await?;
    Ok(())
}

/// Deletes leftovers named PREFIX* (ports, subnets, networks), as load.py does.
async fn cleanup(r: &Runner, prefix: &str) -> Result<(), BenchError> {
    let client = r.client()?;
    for coll in ["ports", "subnets", "networks"] {
        let url = format!("{}/v2.0/{coll}?fields=id&fields=name", r.base);
        let Ok(res) = client.get(&url).send().await else { continue };
        let Ok(body) = res.json::<Value>().await else { continue };
        let items = body[coll].as_array().cloned().unwrap_or_default();
        for item in items.iter().filter(|x| x["name"].as_str().is_some_and(|n| n.starts_with(prefix))) {
            if let Some(id) = item["id"].as_str() {
                let _ = client.delete(format!("{}/v2.0/{coll}/{id}", r.base)).send().await;
            }
        }
    }
    Ok(())
}

/// Sets the project's network, subnet and port quotas to unlimited, when the server has
/// quotas and lets us (admin); otherwise says why and carries on.
async fn lift_quotas(r: &Runner, project: &str) -> Result<(), BenchError> {
    let client = r.client()?;
    let body = json!({"quota": {"network": -1, "subnet": -1, "port": -1, "router": -1, "security_group": -1, "security_group_rule": -1}});
    match client.put(format!("{}/v2.0/quotas/{project}", r.base)).json(&body).send().await {
        Ok(res) if res.status().is_success() => {}
        Ok(res) => eprintln!("note: could not lift quotas for {project} (HTTP {}); the run may hit them", res.status()),
        Err(e) => eprintln!("note: could not lift quotas for {project}: {e}"),
    }
    Ok(())
}

fn headers(args: &BenchArgs, project: &str) -> Result<HeaderMap, BenchError> {
    let mut h = HeaderMap::new();
    h.insert("accept", HeaderValue::from_static("application/json"));
    let project =
        HeaderValue::from_str(project).map_err(|_| BenchError::Args("project id is not a header value".into()))?;
    h.insert("x-project-id", project);
    if let Some(t) = &args.token {
        h.insert(
            "x-auth-token",
            HeaderValue::from_str(t).map_err(|_| BenchError::Args("token is not a header value".into()))?,
        );
    }
    for raw in &args.headers {
        let (k, v) =
            raw.split_once(':').ok_or_else(|| BenchError::Args(format!("--header '{raw}' is not 'Name: value'")))?;
        let name = HeaderName::from_bytes(k.trim().as_bytes())
            .map_err(|_| BenchError::Args(format!("bad header name '{k}'")))?;
        let value = HeaderValue::from_str(v.trim()).map_err(|_| BenchError::Args(format!("bad header value '{v}'")))?;
        h.insert(name, value);
    }
    Ok(h)
}

pub async fn run(args: BenchArgs) -> Result<(), BenchError> {
    let levels: Vec<usize> = args
        .concurrency
        .split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse::<usize>().map_err(|_| BenchError::Args(format!("concurrency '{s}' is not a number"))))
        .collect::<Result<_, _>>()?;
    if levels.is_empty() || levels.contains(&0) || args.networks == 0 {
        return Err(BenchError::Args("need at least one network and concurrency levels > 0".into()));
    }
    let project = args.project_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    let mut r = Runner {
        base: args.url.trim_end_matches('/').to_string(),
        headers: headers(&args, &project)?,
        timeout: Duration::from_secs_f64(args.timeout.max(0.1)),
        server_pid: args.server_pid,
        rows: Vec::new(),
        errors: 0,
    };
    if let Some(pid) = r.server_pid {
        println!("server pid {pid}: RSS {} KiB before the run", procfs::rss_kib(pid));
    }
    if !args.no_cleanup {
        cleanup(&r, &args.prefix).await?;
    }
    if !args.keep_quotas {
        lift_quotas(&r, &project).await?;
    }
    let started = Instant::now();
    for conc in &levels {
        println!("\n## concurrency {conc} (N={} networks, M={} ports, project {project})\n", args.networks, args.ports);
        println!("{HEADER}\n{RULE}");
        match args.scenario.as_str() {
            "security-groups" => sg_round(&mut r, &args, &project, *conc).await?,
            "routers" => router_round(&mut r, &args, &project, *conc).await?,
            _ => round(&mut r, &args, &project, *conc).await?,
        }
    }
    let total = started.elapsed().as_secs_f64();
    println!("\ntotal {total:.1} s");
    let rss = r.server_pid.map(procfs::rss_kib);
    if let (Some(pid), Some(kib)) = (r.server_pid, rss) {
        println!("server pid {pid}: RSS {kib} KiB after the run");
    }
    if let Some(path) = &args.json {
        let doc = json!({"base_url": args.url, "label": args.label, "networks": args.networks, "ports": args.ports,
            "list_reps": args.list_reps, "total_s": (total * 100.0).round() / 100.0, "server_rss_kib_after": rss, "results": r.rows});
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        std::fs::write(path, text).map_err(|source| BenchError::Write { path: path.clone(), source })?;
    }
    if r.errors > 0 {
        return Err(BenchError::Failed(r.errors));
    }
    Ok(())
}
