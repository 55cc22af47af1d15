//! HTTP/1.1 serving that survives floods, shared by the API server and the agent's metadata
//! proxy (which VMs reach).
//!
//! `axum::serve` runs hyper without a timer, so a client that sends half a request line is
//! held forever, and it accepts connections without bound. [`serve`] runs hyper's own HTTP/1
//! connection (no HTTP of ours) with:
//! - a **header-read timeout** (hyper's, on a Tokio timer): the request head must arrive
//!   within it, counted from the moment the connection waits for a head (so it also closes a
//!   connection that sends nothing);
//! - a **keep-alive idle timeout**: a connection with no request in flight for that long is
//!   closed;
//! - a **request timeout**: a request whose answer is not ready in time (slow body, slow
//!   handler) gets the caller's timeout answer; a connection that cannot even be closed
//!   gracefully within it (a client that never reads its answer) is dropped;
//! - a **connection cap**: a semaphore permit is taken *before* `accept`, so over the cap new
//!   connections wait in the kernel's (bounded) listen backlog and cost this process no file
//!   descriptor;
//! - a **per-address cap** (optional): one client address may hold only so many of those
//!   connections; one more is closed at once, so a single client cannot take every slot.
//!
//! Each request carries the peer address as axum's `ConnectInfo<SocketAddr>`.

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tokio::time::Instant;
use tower::ServiceExt;

/// The limits of one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest wait for a complete request head.
    pub header_read_timeout: Duration,
    /// Longest a connection stays open with no request in flight.
    pub keepalive_timeout: Duration,
    /// Longest a request may take, from its head to its answer.
    pub request_timeout: Duration,
    /// Most connections served at once; more wait in the listen backlog.
    pub max_connections: usize,
    /// Most connections one client address may hold at once (0 = no per-address cap);
    /// beyond it a new connection is closed as soon as it is accepted.
    pub max_connections_per_address: usize,
}

/// Connections held per client address, for [`Limits::max_connections_per_address`].
#[derive(Default)]
struct PerAddress {
    held: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// Counts a new connection from `ip`, or `None` when `ip` already holds `max`.
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let n = held.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot { table: self.clone(), ip })
    }
}

/// One connection counted against its address; dropping it uncounts it.
struct AddressSlot {
    table: Arc<PerAddress>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut held = self.table.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = held.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.ip);
            }
        }
    }
}

/// What a request that ran out of time is answered with (the timeout is passed in).
pub type TimeoutAnswer = Arc<dyn Fn(Duration) -> Response + Send + Sync>;

/// Serves `service` on `listener` under `limits` until `shutdown` resolves; then stops
/// accepting, lets each connection finish its current request (within the request
/// timeout) and returns when all are closed.
pub async fn serve<S>(
    listener: TcpListener,
    limits: Limits,
    service: S,
    on_timeout: TimeoutAnswer,
    shutdown: impl Future<Output = ()> + Send,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    serve_all(vec![listener], limits, service, on_timeout, shutdown).await;
}

/// [`serve`] on several listeners that share one set of limits (one service reachable on
/// several addresses counts its connections once).
pub async fn serve_all<S>(
    listeners: Vec<TcpListener>,
    limits: Limits,
    service: S,
    on_timeout: TimeoutAnswer,
    shutdown: impl Future<Output = ()> + Send,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let (closed, _) = tokio::sync::oneshot::channel();
    serve_all_then(listeners, limits, service, on_timeout, shutdown, closed).await;
}

/// [`serve_all`] that tells `closed` as soon as the listening sockets are closed, before
/// the open connections drain: a caller rebinding the same addresses waits for that, not
/// for the connections (the kernel refuses a second listener on an address while the
/// first is open).
pub async fn serve_all_then<S>(
    listeners: Vec<TcpListener>,
    limits: Limits,
    service: S,
    on_timeout: TimeoutAnswer,
    shutdown: impl Future<Output = ()> + Send,
    closed: tokio::sync::oneshot::Sender<()>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let max_connections = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max_connections));
    let per_address = Arc::new(PerAddress::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::pin!(shutdown);
    let mut next = 0;
    loop {
        let permit = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = accept_any(&listeners, &mut next) => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let address_slot = match limits.max_connections_per_address {
            0 => None,
            max => match per_address.admit(peer.ip(), max) {
                Some(slot) => Some(slot),
                None => {
                    tracing::info!(%peer, max, "too many connections from this address; closing");
                    continue; // drops the stream (closed) and the permit
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let service = service.clone();
        let on_timeout = on_timeout.clone();
        let stop = stop_rx.clone();
        tokio::spawn(async move {
            connection(stream, peer, limits, service, on_timeout, stop).await;
            drop(address_slot);
            drop(permit);
        });
    }
    drop(listeners);
    let _ = closed.send(());
    let _ = stop_tx.send(true);
    // Every connection holds a permit until it is closed.
    let _ = slots.acquire_many(max_connections as u32).await;
}

/// The next connection of any of `listeners`, polled round-robin from `next` so that a
/// busy one cannot starve the others.
async fn accept_any(listeners: &[TcpListener], next: &mut usize) -> std::io::Result<(TcpStream, SocketAddr)> {
    if listeners.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for i in 0..listeners.len() {
            let at = (*next + i) % listeners.len();
            if let std::task::Poll::Ready(accepted) = listeners[at].poll_accept(cx) {
                *next = (at + 1) % listeners.len();
                return std::task::Poll::Ready(accepted);
            }
        }
        std::task::Poll::Pending
    })
    .await
}

/// Whether a connection has a request in flight, and since when it has been idle.
struct Activity {
    in_flight: AtomicUsize,
    idle_since: Mutex<Instant>,
}

impl Activity {
    fn begin(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(self.clone())
    }

    /// When the connection, if nothing happens meanwhile, will have been idle for `idle`.
    fn idle_deadline(&self, idle: Duration) -> Option<Instant> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = *self.idle_since.lock().unwrap_or_else(|p| p.into_inner());
        Some(since + idle)
    }
}

/// One request in flight; dropping it (answered, or abandoned by a closed connection)
/// ends it.
struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        *self.0.idle_since.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

async fn connection<S>(
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    limits: Limits,
    service: S,
    on_timeout: TimeoutAnswer,
    mut stop: watch::Receiver<bool>,
) where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let activity = Arc::new(Activity { in_flight: AtomicUsize::new(0), idle_since: Mutex::new(Instant::now()) });
    let requests = activity.clone();
    let handler = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        let in_flight = requests.begin();
        let service = service.clone();
        let on_timeout = on_timeout.clone();
        async move {
            let mut request = request.map(axum::body::Body::new);
            request.extensions_mut().insert(ConnectInfo(peer));
            let answer = match tokio::time::timeout(limits.request_timeout, service.oneshot(request)).await {
                Ok(Ok(response)) => response,
                Ok(Err(never)) => match never {},
                Err(_) => {
                    tracing::info!(%peer, timeout = ?limits.request_timeout, "request timed out");
                    on_timeout(limits.request_timeout)
                }
            };
            drop(in_flight);
            Ok::<_, Infallible>(answer)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout).keep_alive(true);
    let conn = builder.serve_connection(TokioIo::new(stream), handler);
    tokio::pin!(conn);
    // Set once the connection is asked to close: by then it must be gone within the
    // request timeout, or it is dropped.
    let mut closing_by: Option<Instant> = None;
    loop {
        let idle_check = match (closing_by, activity.idle_deadline(limits.keepalive_timeout)) {
            (Some(deadline), _) => deadline,
            (None, Some(deadline)) => deadline,
            // A request is in flight: its own timeout bounds it; look again later.
            (None, None) => Instant::now() + limits.keepalive_timeout,
        };
        tokio::select! {
            done = conn.as_mut() => {
                if let Err(e) = done {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                }
                return;
            }
            _ = stop.changed(), if closing_by.is_none() => {
                conn.as_mut().graceful_shutdown();
                closing_by = Some(Instant::now() + limits.request_timeout);
            }
            () = tokio::time::sleep_until(idle_check) => {
                if closing_by.is_some() {
                    tracing::debug!(%peer, "connection did not close in time; dropping it");
                    return;
                }
                if activity.idle_deadline(limits.keepalive_timeout).is_some_and(|d| d <= Instant::now()) {
                    tracing::debug!(%peer, "keep-alive connection idle; closing it");
                    conn.as_mut().graceful_shutdown();
                    closing_by = Some(Instant::now() + limits.request_timeout);
                }
            }
        }
    }
}
