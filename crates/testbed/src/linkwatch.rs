//! When devices of a namespace change, as the kernel announces it: `ip -o monitor link`
//! inside the namespace, each line stamped with the instant it was read. A test measures
//! from the moment the agent enslaved a tap to its bridge, not from when a poll noticed it.

use crate::cmd::{self, TAG_ENV};
use crate::error::{Result, TestbedError};
use crate::testbed::Testbed;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

type Lines = Arc<Mutex<Vec<(Instant, String)>>>;

/// A running `ip monitor link` of one namespace; stopped when dropped.
pub struct LinkWatch {
    child: Child,
    lines: Lines,
    reader: Option<JoinHandle<()>>,
}

impl LinkWatch {
    /// Starts watching `netns` (a host of `tb`) and returns once the monitor is listening:
    /// it has reported a marker device made for that purpose.
    pub fn start(tb: &Testbed, netns: &str) -> Result<LinkWatch> {
        let ip = &cmd::tools()?.ip;
        let mut command = Command::new(ip);
        // Tagged like every testbed process, so a killed test's monitor is swept too.
        command.args(["-n", netns, "-o", "monitor", "link"]).env(TAG_ENV, tb.tag());
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let mut child =
            command.spawn().map_err(|source| TestbedError::Spawn { command: cmd::describe(&command), source })?;
        let lines: Lines = Arc::default();
        let reader = child.stdout.take().map(|out| {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(out).lines().map_while(std::result::Result::ok) {
                    lines.lock().unwrap_or_else(|p| p.into_inner()).push((Instant::now(), line));
                }
            })
        });
        let watch = LinkWatch { child, lines, reader };
        // Until the monitor reports it, a short-lived marker device appears in the namespace
        // (a veth pair: the kernel announces no change of `lo` that could carry a name).
        for n in 0..100 {
            let (mark, peer) = (format!("lwmark{n}"), format!("lwpeer{n}"));
            cmd::ip(&["-n", netns, "link", "add", &mark, "type", "veth", "peer", "name", &peer])?;
            std::thread::sleep(Duration::from_millis(50));
            cmd::ip(&["-n", netns, "link", "del", &mark])?;
            if watch.first(&[&format!(" {mark}@")]).is_some() {
                return Ok(watch);
            }
        }
        Err(TestbedError::Timeout { what: format!("ip monitor in {netns}"), after: Duration::from_secs(5) })
    }

    /// When a line holding every one of `needles` was first read.
    pub fn first(&self, needles: &[&str]) -> Option<Instant> {
        let lines = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        lines.iter().find(|(_, l)| needles.iter().all(|n| l.contains(n))).map(|(at, _)| *at)
    }

    /// [`LinkWatch::first`], waiting up to `timeout` for such a line.
    pub fn wait_first(&self, needles: &[&str], timeout: Duration) -> Result<Instant> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.first(needles) {
                return Ok(at);
            }
            if Instant::now() > deadline {
                return Err(TestbedError::Timeout { what: format!("a link event with {needles:?}"), after: timeout });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Every line so far (for a failure message).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).iter().map(|(_, l)| l.clone()).collect()
    }
}

impl Drop for LinkWatch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
    }
}
