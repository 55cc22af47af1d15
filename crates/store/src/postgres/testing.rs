//! A throwaway PostgreSQL cluster for tests: `initdb` in a temp dir, the server listening on
//! a unix socket in that dir only (no TCP), stopped and removed when dropped (also when the
//! test panics). PostgreSQL refuses to run as root, so as root the binaries run as the
//! `postgres` user (set on the child itself, no `runuser` in between: the child we stop
//! is the server), which owns the dir.
//!
//! Public (not `cfg(test)`) so the server's API tests can run against it too.
//!
//! A suite that starts many servers shares one cluster per test process instead
//! ([`TestCluster::shared`]), each server on a database of its own: `initdb` per test made
//! the API suite on PostgreSQL several times slower than on SQLite.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Why a cluster could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// No PostgreSQL server binaries (Debian's `postgresql` package) on this machine.
    #[error("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")]
    NotInstalled,
    #[error("{step} failed: {detail}")]
    Failed { step: &'static str, detail: String },
}

/// A running throwaway cluster.
pub struct TestCluster {
    /// The cluster's dir: `data/`, the socket and the server log.
    dir: PathBuf,
    /// Removes `dir` after the server stopped, when the cluster made it (fields drop in
    /// order, after [`Drop::drop`] stopped the server).
    _owned: Option<tempfile::TempDir>,
    bin: PathBuf,
    server: Option<Child>,
    /// Run the binaries as this (uid, gid): `postgres`'s when we are root.
    run_as: Option<(u32, u32)>,
    /// The shared cluster's reaper: stops the server and removes the dir once this pipe
    /// closes, i.e. when the test process exits, however it exits (a static is never dropped).
    _reaper: Option<ChildStdin>,
}

/// The process's shared cluster ([`TestCluster::shared`]).
static SHARED: OnceLock<Result<TestCluster, ClusterError>> = OnceLock::new();

/// Connections the shared cluster accepts: every server of the tests running at once
/// (each holds its readers and a writer), with room for servers not yet stopped.
const SHARED_MAX_CONNECTIONS: u32 = 500;
/// Connections a cluster of one test accepts.
const MAX_CONNECTIONS: u32 = 200;

/// How long the server may take to accept connections.
const START_TIMEOUT: Duration = Duration::from_secs(30);

impl TestCluster {
    /// Starts a cluster in a temp dir of its own, removed when it is dropped; or says why it
    /// could not.
    pub fn start() -> Result<Self, ClusterError> {
        let owned = tempfile::Builder::new()
            .prefix("neutrino-pg-")
            .tempdir()
            .map_err(|e| ClusterError::Failed { step: "tempdir", detail: e.to_string() })?;
        let mut cluster = Self::start_in(owned.path())?;
        cluster._owned = Some(owned);
        Ok(cluster)
    }

    /// Starts the cluster kept in `dir` (created there the first time), which outlives it:
    /// a server restarted on the same dir finds its data again. `dir`'s parents must let the
    /// `postgres` user through when we are root.
    pub fn start_in(dir: &Path) -> Result<Self, ClusterError> {
        Self::start_with(dir, MAX_CONNECTIONS)
    }

    fn start_with(dir: &Path, max_connections: u32) -> Result<Self, ClusterError> {
        let bin = bin_dir().ok_or(ClusterError::NotInstalled)?;
        std::fs::create_dir_all(dir).map_err(|e| ClusterError::Failed { step: "mkdir", detail: e.to_string() })?;
        let run_as = if is_root() { Some(postgres_ids()?) } else { None };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(|e| ClusterError::Failed { step: "chown", detail: e.to_string() })?;
        }
        let mut cluster = Self { dir: dir.to_path_buf(), _owned: None, bin, server: None, run_as, _reaper: None };
        let data = cluster.data_dir();
        if !data.join("PG_VERSION").exists() {
            let mut initdb = cluster.command("initdb");
            let args = ["-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"];
            run(initdb.arg("-D").arg(&data).args(args), "initdb")?;
        }
        let log = std::fs::File::create(cluster.dir.join("server.log"))
            .map_err(|e| ClusterError::Failed { step: "server log", detail: e.to_string() })?;
        let stderr = log.try_clone().map_err(|e| ClusterError::Failed { step: "server log", detail: e.to_string() })?;
        let socket_dir = cluster.dir.display().to_string();
        let max_connections = format!("max_connections={max_connections}");
        let server = cluster
            .command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-k", &socket_dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", &max_connections])
            .stdout(log)
            .stderr(stderr)
            .spawn()
            .map_err(|e| ClusterError::Failed { step: "postgres", detail: e.to_string() })?;
        cluster.server = Some(server);
        cluster.wait_ready()?;
        Ok(cluster)
    }

    /// Starts a cluster for a test; `None` (the test skips, saying why) when PostgreSQL is
    /// not installed, unless `CI` is set: there a missing PostgreSQL fails the test.
    pub fn for_test() -> Option<Self> {
        match Self::start() {
            Ok(c) => Some(c),
            Err(ClusterError::NotInstalled) if std::env::var_os("CI").is_none() => {
                eprintln!("skipping the PostgreSQL half of this test: {}", ClusterError::NotInstalled);
                None
            }
            Err(e) => panic!("cannot start a PostgreSQL test cluster: {e}"),
        }
    }

    /// The connection string of the cluster's `postgres` database.
    pub fn url(&self) -> String {
        self.database_url("postgres")
    }

    /// The connection string of database `name` of the cluster.
    pub fn database_url(&self, name: &str) -> String {
        format!("host={} user=postgres dbname={name}", self.dir.display())
    }

    /// The cluster every caller in this process shares, started on first use and stopped
    /// (its dir removed) when the process exits. Callers keep apart by database
    /// ([`TestCluster::create_database`]).
    pub fn shared() -> Result<&'static Self, &'static ClusterError> {
        SHARED.get_or_init(Self::start_shared).as_ref()
    }

    fn start_shared() -> Result<Self, ClusterError> {
        let owned = tempfile::Builder::new()
            .prefix("neutrino-pg-shared-")
            .tempdir()
            .map_err(|e| ClusterError::Failed { step: "tempdir", detail: e.to_string() })?;
        let mut cluster = Self::start_with(owned.path(), SHARED_MAX_CONNECTIONS)?;
        let mut reaper = cluster.command_of(Path::new("sh"));
        let script = r#"cat >/dev/null; "$0" -D "$1" -m immediate -w stop >/dev/null 2>&1; rm -rf "$2""#;
        // Its own process group: a ^C to the tests must not kill it before it cleans up.
        std::os::unix::process::CommandExt::process_group(&mut reaper, 0);
        let mut child = reaper
            .args(["-c", script])
            .arg(cluster.bin.join("pg_ctl"))
            .arg(cluster.data_dir())
            .arg(owned.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| ClusterError::Failed { step: "reaper", detail: e.to_string() })?;
        let stdin = child.stdin.take().ok_or(ClusterError::Failed { step: "reaper", detail: "no stdin".into() })?;
        cluster._reaper = Some(stdin);
        // The reaper removes the dir: a static's `TempDir` would never be dropped.
        let _ = owned.keep();
        Ok(cluster)
    }

    /// Creates database `name` (lowercase letters, digits and `_`) unless it exists; its URL.
    pub fn create_database(&self, name: &str) -> Result<String, ClusterError> {
        let sql = format!("CREATE DATABASE {}", identifier(name)?);
        self.admin(move |client| match client.batch_execute(&sql) {
            Err(e) if e.code() == Some(&postgres::error::SqlState::DUPLICATE_DATABASE) => Ok(()),
            other => other,
        })?;
        Ok(self.database_url(name))
    }

    /// Drops database `name`, ending the sessions still on it.
    pub fn drop_database(&self, name: &str) -> Result<(), ClusterError> {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", identifier(name)?);
        self.admin(move |client| client.batch_execute(&sql))
    }

    /// Runs `f` on a client of the `postgres` database, on a thread of its own: the blocking
    /// client cannot start its runtime on a caller's tokio thread.
    fn admin(
        &self,
        f: impl FnOnce(&mut postgres::Client) -> Result<(), postgres::Error> + Send + 'static,
    ) -> Result<(), ClusterError> {
        let url = self.url();
        let failed = |detail: String| ClusterError::Failed { step: "admin statement", detail };
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            f(&mut client)
        })
        .join()
        .map_err(|_| failed("the admin thread panicked".into()))?
        .map_err(|e| failed(e.to_string()))
    }

    /// The cluster's dir (its data, socket and log).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        self.command_of(&self.bin.join(program))
    }

    /// `program` run in the cluster's dir, as the cluster's owner.
    fn command_of(&self, program: &Path) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(program);
        command.current_dir(&self.dir);
        if let Some((uid, gid)) = self.run_as {
            command.uid(uid).gid(gid);
        }
        command
    }

    fn wait_ready(&mut self) -> Result<(), ClusterError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let socket_dir = self.dir.display().to_string();
        loop {
            // pg_isready, not a client: callers may be on a tokio thread, where the blocking
            // client cannot start its runtime.
            let ready = Command::new(self.bin.join("pg_isready")).args(["-q", "-h", &socket_dir]).status();
            if ready.is_ok_and(|s| s.success()) {
                return Ok(());
            }
            let exited = self.server.as_mut().and_then(|s| s.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                return Err(ClusterError::Failed { step: "postgres start", detail: log });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for TestCluster {
    /// Stops the server (fast shutdown: its backends end too) before the dir goes.
    fn drop(&mut self) {
        let data = self.data_dir();
        let stopped = self
            .command("pg_ctl")
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "-w", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if let Some(mut server) = self.server.take() {
            if !stopped.is_ok_and(|s| s.success()) {
                let _ = server.kill();
            }
            let _ = server.wait();
        }
    }
}

/// `name` if it is a plain SQL identifier (it is written into statements as is).
fn identifier(name: &str) -> Result<&str, ClusterError> {
    let plain = name.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if plain {
        Ok(name)
    } else {
        Err(ClusterError::Failed { step: "database name", detail: format!("not a plain identifier: {name:?}") })
    }
}

fn run(command: &mut Command, step: &'static str) -> Result<(), ClusterError> {
    let out = command.output().map_err(|e| ClusterError::Failed { step, detail: e.to_string() })?;
    if out.status.success() {
        return Ok(());
    }
    Err(ClusterError::Failed { step, detail: String::from_utf8_lossy(&out.stderr).into_owned() })
}

/// The newest installed server's binaries (Debian keeps each major version apart).
fn bin_dir() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| Path::new(bin).join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// The `postgres` user's (uid, gid), from `id` (Debian's package creates the user).
fn postgres_ids() -> Result<(u32, u32), ClusterError> {
    let id = |flag: &str| -> Result<u32, ClusterError> {
        let out = Command::new("id").args([flag, "postgres"]).output();
        let text = out.map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string()).unwrap_or_default();
        text.parse()
            .map_err(|_| ClusterError::Failed { step: "id postgres", detail: format!("no postgres user: {text:?}") })
    };
    Ok((id("-u")?, id("-g")?))
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}
