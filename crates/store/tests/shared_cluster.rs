//! The PostgreSQL cluster a test process shares ([`TestCluster::shared`]): a database per
//! caller, created once per name and dropped on request, and the whole cluster stopped and
//! removed when the process exits. Skipped (with the reason printed) where PostgreSQL is
//! not installed, except under `CI`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use neutrino_store::postgres::testing::{ClusterError, TestCluster};
use std::process::Command;
use std::time::{Duration, Instant};

/// Set in the child process of [`the_cluster_is_gone_once_its_process_exits`].
const CHILD: &str = "NEUTRINO_SHARED_CLUSTER_CHILD";

fn shared() -> Option<&'static TestCluster> {
    match TestCluster::shared() {
        Ok(c) => Some(c),
        Err(ClusterError::NotInstalled) if std::env::var_os("CI").is_none() => {
            eprintln!("skipping: {}", ClusterError::NotInstalled);
            None
        }
        Err(e) => panic!("cannot start the shared cluster: {e}"),
    }
}

/// Runs `sql` on `url` and returns the first column of each row, as text.
fn query(url: &str, sql: &str) -> Result<Vec<String>, postgres::Error> {
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    Ok(client
        .simple_query(sql)?
        .into_iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .collect())
}

#[test]
fn each_name_is_one_database_kept_until_dropped() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let Some(cluster) = shared() else { return };
    assert!(std::ptr::eq(cluster, TestCluster::shared().unwrap()), "one cluster per process");
    let url = cluster.create_database("kept_db").unwrap();
    query(&url, "CREATE TABLE t (v TEXT); INSERT INTO t VALUES ('here')").unwrap();
    // Created again (a server restarted on the same data dir): the same data.
    assert_eq!(cluster.create_database("kept_db").unwrap(), url);
    assert_eq!(query(&url, "SELECT v FROM t").unwrap(), ["here"]);
    // Another name is another database.
    let other = cluster.create_database("other_db").unwrap();
    assert!(query(&other, "SELECT v FROM t").is_err());
    // Dropped even while a session is still on it.
    let mut open = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    cluster.drop_database("kept_db").unwrap();
    assert!(open.simple_query("SELECT 1").is_err(), "the session was ended");
    assert!(query(&url, "SELECT 1").is_err(), "the database is gone");
    cluster.drop_database("other_db").unwrap();
    // Names are written into SQL as they are: only plain identifiers pass.
    for bad in ["a; DROP DATABASE postgres", "Upper", "1st", ""] {
        assert!(cluster.create_database(bad).is_err(), "{bad:?}");
    }
}

/// The process that started the cluster exits (as a test binary does: its statics are
/// never dropped): the server stops and the dir goes.
#[test]
fn the_cluster_is_gone_once_its_process_exits() {
    if std::env::var_os(CHILD).is_some() {
        let cluster = TestCluster::shared().unwrap();
        println!("cluster-dir={}", cluster.dir().display());
        return;
    }
    if shared().is_none() {
        return;
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["the_cluster_is_gone_once_its_process_exits", "--exact", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let dir = stdout.lines().find_map(|l| l.strip_prefix("cluster-dir=")).expect("the child's cluster dir");
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::path::Path::new(dir).exists() {
        assert!(Instant::now() < deadline, "{dir} still there");
        std::thread::sleep(Duration::from_millis(50));
    }
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let running = String::from_utf8_lossy(&ps.stdout);
    assert!(!running.lines().any(|l| l.contains(dir)), "a process of {dir} is still running");
}
