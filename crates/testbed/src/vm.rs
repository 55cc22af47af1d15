//! A simulated guest: a network namespace whose `eth0` is a veth whose peer is the `tap…` device in
//! its host's namespace, exactly where a hypervisor would plug a VM's tap.

use std::ffi::{OsStr, OsString};
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Result, TestbedError};
use crate::process::{Process, Signal, Spec};
use crate::shared::Shared;

/// A VM of the testbed. A cheap handle (clone it); valid until `remove_vm` or the testbed drops.
#[derive(Debug, Clone)]
pub struct Vm {
    pub(crate) name: String,
    pub(crate) netns: String,
    pub(crate) host_netns: String,
    pub(crate) tap: String,
    pub(crate) mac: String,
    pub(crate) mtu: u32,
    pub(crate) shared: Arc<Shared>,
}

/// Outcome of [`Vm::ping`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingResult {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
}

impl PingResult {
    /// Requests without a reply.
    pub fn lost(&self) -> u32 {
        self.sent.saturating_sub(self.received)
    }
}

/// Counts of a [`PingStream`], from ping's summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingStats {
    /// Echo requests sent.
    pub sent: u32,
    /// Echo replies received.
    pub received: u32,
    /// `sent - received`: how many packets a data-plane change (agent restart, migration) cost.
    pub lost: u32,
}

impl Vm {
    /// The name given to `add_vm`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The VM's network namespace (`nt<tag>-<name>`).
    pub fn netns(&self) -> &str {
        &self.netns
    }

    /// The namespace of the host it is plugged into.
    pub fn host_netns(&self) -> &str {
        &self.host_netns
    }

    /// The tap device in the host namespace (the veth peer of the VM's `eth0`).
    pub fn tap(&self) -> &str {
        &self.tap
    }

    /// The MAC address of the VM's `eth0` (lowercase).
    pub fn mac(&self) -> &str {
        &self.mac
    }

    /// The MTU of `eth0` and the tap.
    pub fn mtu(&self) -> u32 {
        self.mtu
    }

    /// Runs `argv` inside the VM (`ip netns exec <vm> …`); output whatever the exit status.
    pub fn exec<I, S>(&self, argv: I) -> Result<Output>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.shared.exec(&self.netns, argv)
    }

    /// Like [`Vm::exec`], a non-zero exit being an error; returns stdout.
    pub fn exec_ok<I, S>(&self, argv: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.shared.exec_ok(&self.netns, argv)
    }

    /// Adds a static address (`10.0.0.5/24`, `2001:db8::5/64`) to `eth0`, as a guest without DHCP
    /// would.
    pub fn set_addr(&self, cidr: &str) -> Result<()> {
        self.exec_ok(["ip", "addr", "add", cidr, "dev", "eth0"]).map(drop)
    }

    /// Sets the default route via `gateway`.
    pub fn set_gateway(&self, gateway: &str) -> Result<()> {
        self.exec_ok(["ip", "route", "replace", "default", "via", gateway]).map(drop)
    }

    /// Pings `ip` until `count` replies arrived or `timeout` elapsed (`ping -c count -w timeout`,
    /// 0.2 s apart). Losing every packet is a result (`received == 0`), not an error: tests
    /// assert isolation with it too.
    pub fn ping(&self, ip: &str, count: u32, timeout: Duration) -> Result<PingResult> {
        let deadline = timeout.as_secs().max(1).to_string();
        let count = count.max(1).to_string();
        let out = self.exec(["ping", "-n", "-q", "-i", "0.2", "-c", &count, "-w", &deadline, ip])?;
        let text = String::from_utf8_lossy(&out.stdout);
        let (sent, received) = parse_ping_summary(&text).ok_or_else(|| TestbedError::Parse {
            what: format!("ping {ip} in {}", self.netns),
            output: format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
        })?;
        Ok(PingResult { sent, received })
    }

    /// Starts a background `ping -i <interval> -W 1 <ip>` in the VM; [`PingStream::stop`] tells
    /// how many packets were lost meanwhile (during an agent restart, a live migration…).
    /// Intervals below 200 ms need root, which the testbed has.
    pub fn ping_stream(&self, ip: &str, interval_ms: u32) -> Result<PingStream> {
        let interval = format!("{:.3}", f64::from(interval_ms.max(1)) / 1000.0);
        let program = OsString::from("ping");
        let spec = Spec {
            netns: self.netns.clone(),
            log_path: self.shared.log_path(&self.netns, &program),
            program,
            args: ["-n", "-i", &interval, "-W", "1", ip].iter().map(OsString::from).collect(),
            env: Vec::new(),
        };
        Ok(PingStream { process: self.shared.spawn(spec)? })
    }
}

/// A background ping started by [`Vm::ping_stream`].
#[derive(Debug)]
pub struct PingStream {
    process: Process,
}

impl PingStream {
    /// The ping process (its log holds one line per reply).
    pub fn process(&self) -> &Process {
        &self.process
    }

    /// Interrupts ping (SIGINT, so that it prints its summary) and returns the counts.
    pub fn stop(self) -> Result<PingStats> {
        self.process.signal(Signal::Int)?;
        if self.process.wait_timeout(Duration::from_secs(5))?.is_none() {
            self.process.kill()?;
        }
        let log = self.process.read_log();
        let (sent, received) = parse_ping_summary(&log)
            .ok_or_else(|| TestbedError::Parse { what: "ping summary".into(), output: log.clone() })?;
        Ok(PingStats { sent, received, lost: sent.saturating_sub(received) })
    }
}

/// `(transmitted, received)` from the last "N packets transmitted, M received" line.
pub(crate) fn parse_ping_summary(text: &str) -> Option<(u32, u32)> {
    let line = text.lines().rev().find(|l| l.contains("packets transmitted"))?;
    let mut parts = line.split(',');
    let first = |s: Option<&str>| s?.split_whitespace().next()?.parse::<u32>().ok();
    let sent = first(parts.next())?;
    let received = first(parts.next())?;
    Some((sent, received))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_summary() {
        let out = "PING 10.0.0.2 (10.0.0.2) 56(84) bytes of data.\n\n--- 10.0.0.2 ping statistics ---\n\
                   12 packets transmitted, 9 received, +2 errors, 25% packet loss, time 1103ms\n\
                   rtt min/avg/max/mdev = 0.030/0.050/0.090/0.010 ms\n";
        assert_eq!(parse_ping_summary(out), Some((12, 9)));
        assert_eq!(parse_ping_summary("3 packets transmitted, 0 received, 100% packet loss"), Some((3, 0)));
        assert_eq!(parse_ping_summary("ping: connect: Network is unreachable"), None);
    }
}
