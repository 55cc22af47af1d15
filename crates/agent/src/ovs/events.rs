//! Open vSwitch events: the prompt that Nova plugged or unplugged a port on br-int.
//!
//! Nova (os-vif) adds a VM's port to br-int after the port is bound, so nothing on the
//! server changes when it appears; the kernel link events the agent already watches do
//! not always follow (an ovs-vsctl `add-port` of an existing device creates no link). So,
//! as Neutron's OVS agent does, the agent runs `ovsdb-client monitor` on the Interface
//! table and passes on each change as "look again" (the pass reads ovsdb whole). If the
//! monitor dies (ovsdb-server restarted) it is started again after a pause; the periodic
//! resync covers the gap.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Notify;

/// Pause before restarting a monitor that ended.
const RESTART: Duration = Duration::from_secs(2);

/// Notifies `events` on every Interface change in ovsdb at `rundir/db.sock`, for as long as
/// the returned task runs.
pub fn watch_interfaces(rundir: PathBuf, events: Arc<Notify>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let db = format!("unix:{}", rundir.join("db.sock").display());
        loop {
            match monitor(&db, &events).await {
                Ok(()) => tracing::warn!("ovsdb-client monitor ended; restarting it"),
                Err(e) => tracing::warn!(error = %e, "cannot run ovsdb-client monitor; relying on the periodic resync"),
            }
            tokio::time::sleep(RESTART).await;
        }
    })
}

async fn monitor(db: &str, events: &Notify) -> std::io::Result<()> {
    let mut child = tokio::process::Command::new("ovsdb-client")
        .args(["monitor", db, "Open_vSwitch", "Interface", "name,ofport,external_ids", "--format=csv"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let Some(stdout) = child.stdout.take() else { return Ok(()) };
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        // Rows only: not the headings and blank lines between updates.
        if !line.is_empty() && !line.starts_with("row,") {
            events.notify_one();
        }
    }
    child.wait().await.map(drop)
}
