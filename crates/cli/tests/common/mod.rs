//! A real `neutrino server --noauth` for the CLI's integration tests: on a free loopback
//! port, its store in a temp dir (`data/`, so a test may keep other files beside it), or
//! wherever extra flags put it (`--database-url`), killed when dropped.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The server process; killed and reaped on drop.
pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a server and waits until it listens: the process, its URL and the temp dir.
#[allow(dead_code)] // not every test binary uses both starters
pub fn start() -> (Server, String, tempfile::TempDir) {
    start_with(&[])
}

/// [`start`] with more `neutrino server` flags.
pub fn start_with(flags: &[&str]) -> (Server, String, tempfile::TempDir) {
    let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port");
    let dir = tempfile::tempdir().expect("temp dir");
    let child = Command::new(env!("CARGO_BIN_EXE_neutrino"))
        .args(["server", "--noauth", "--listen", &format!("127.0.0.1:{port}"), "--data-dir"])
        .arg(dir.path().join("data"))
        .args(flags)
        .env_remove("NEUTRINO_CONFIG")
        .env_remove("NEUTRINO_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start server");
    let server = Server(child);
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "server not ready");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, format!("http://127.0.0.1:{port}"), dir)
}
