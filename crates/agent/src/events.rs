//! Kernel link events: the prompt that a tap was plugged, unplugged or changed.
//!
//! A hypervisor creates a VM's tap after the port is bound, so nothing on the server side
//! changes when it appears; instead of polling the kernel (Neutron's linuxbridge agent
//! scans its devices every two seconds), the agent subscribes to rtnetlink's link group and
//! reconciles when anything changes. The event carries no meaning here beyond "look again":
//! the reconciler always reads the kernel's whole state.

use futures::StreamExt;
use rtnetlink::sys::AsyncSocket;
use std::sync::Arc;
use tokio::sync::Notify;

/// `RTMGRP_LINK`: link creations, changes and deletions.
const RTMGRP_LINK: u32 = 1;

/// Starts watching link events in the current network namespace; the returned `Notify`
/// fires on each. Must be called inside a Tokio runtime.
pub fn watch_links() -> std::io::Result<Arc<Notify>> {
    let (mut conn, handle, mut messages) = rtnetlink::new_connection()?;
    let addr = rtnetlink::sys::SocketAddr::new(0, RTMGRP_LINK);
    conn.socket_mut().socket_mut().bind(&addr)?;
    tokio::spawn(conn);
    let notify = Arc::new(Notify::new());
    let fire = notify.clone();
    tokio::spawn(async move {
        // The handle keeps the connection open for as long as events are read.
        let _handle = handle;
        while messages.next().await.is_some() {
            fire.notify_one();
        }
        tracing::warn!("kernel link events stopped; relying on the periodic resync");
    });
    Ok(notify)
}
