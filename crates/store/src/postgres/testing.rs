//! A throwaway PostgreSQL cluster for tests: `initdb` in a temp dir, the server listening on
//! a unix socket in that dir only (no TCP), stopped and removed when dropped (also when the
//! test panics). PostgreSQL refuses to run as root, so as root the binaries run as the
//! `postgres` user (set on the child itself, no `runuser` in between: the child we stop
//! is the server), which owns the dir.
//!
//! Public (not `cfg(test)`) so the server's API tests can run against it too.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
}

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
        let bin = bin_dir().ok_or(ClusterError::NotInstalled)?;
        std::fs::create_dir_all(dir).map_err(|e| ClusterError::Failed { step: "mkdir", detail: e.to_string() })?;
        let run_as = if is_root() { Some(postgres_ids()?) } else { None };
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(|e| ClusterError::Failed { step: "chown", detail: e.to_string() })?;
        }
        let mut cluster = Self { dir: dir.to_path_buf(), _owned: None, bin, server: None, run_as };
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
        let server = cluster
            .command("postgres")
            .arg("-D")
            .arg(&data)
            .args(["-k", &socket_dir, "-c", "listen_addresses=", "-c", "fsync=off", "-c", "max_connections=200"])
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
        format!("host={} user=postgres dbname=postgres", self.dir.display())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn command(&self, program: &str) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(self.bin.join(program));
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
