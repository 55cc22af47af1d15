//! One namespace's HTTP side: who is asking, and the request Neutron's metadata agent would
//! make to Nova for it (`neutron/common/metadata.py`, `_proxy_request` and `handle`).
//!
//! Nova gets the VM's method, path, query and body and exactly four headers of ours:
//! `X-Forwarded-For` (the VM's address), `X-Instance-ID` (the port's `device_id`),
//! `X-Tenant-ID` (the port's project) and `X-Instance-ID-Signature`. No header of the VM's is
//! forwarded, so spoofed identity headers never reach Nova. `X-Neutron-Network-ID` and
//! `X-Neutron-Router-ID` only tell Neutron's agent which network or router the haproxy
//! serves (so which ports to look the address up among) and are not sent to Nova
//! (`_proxy_request`); the listener knows its namespace, so they are not needed at all.
//!
//! Answers, as Neutron gives them: Nova's 200, 400, 403, 404, 409, 500, 502, 503 and 504 are
//! passed through with Nova's headers and body (403 and 500 also logged: a 403 usually means
//! the shared secrets differ); redirects are followed (as `requests` does); Nova unreachable
//! is 503; an address with no instance is 404; any other answer or failure is 500
//! "An unknown error has occurred".

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};
use url::Url;

use super::{Instance, InstanceTable, MetadataConfig, MetadataError, ServedNs};

/// Neutron's timeout for a request to Nova.
const NOVA_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest request body accepted from a VM. Nova's only writable path, the password, takes
/// at most 255 bytes; Neutron reads at most 4096 bytes of a whole request.
const MAX_BODY: usize = 64 * 1024;

/// `hex(HMAC-SHA256(key = shared secret, message = instance id))`: how Nova checks that
/// `X-Instance-ID` comes from Neutron (Neutron's `common_utils.sign_instance_id`).
pub fn sign_instance_id(shared_secret: &str, instance_id: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(shared_secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(instance_id.as_bytes());
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Nova's metadata API, as every listener reaches it.
pub(crate) struct Upstream {
    client: reqwest::Client,
    base: Url,
    secret: String,
}

impl Upstream {
    pub(crate) fn new(cfg: &MetadataConfig) -> Result<Self, MetadataError> {
        let url = &cfg.nova_metadata_url;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(MetadataError::NovaUrl { url: url.to_string() });
        }
        let client = reqwest::Client::builder().timeout(NOVA_TIMEOUT).build().map_err(MetadataError::Client)?;
        Ok(Self { client, base: url.clone(), secret: cfg.shared_secret.clone() })
    }

    /// Nova's URL for the VM's path and query.
    fn url(&self, uri: &Uri) -> Url {
        let mut url = self.base.clone();
        let path = format!("{}{}", self.base.path().trim_end_matches('/'), uri.path());
        url.set_path(&path);
        url.set_query(uri.query());
        url
    }

    async fn forward(
        &self,
        method: Method,
        uri: &Uri,
        source: IpAddr,
        instance: &Instance,
        body: Bytes,
    ) -> Result<reqwest::Response, reqwest::Error> {
        let mut request = self
            .client
            .request(method, self.url(uri))
            .header("X-Forwarded-For", source.to_string())
            .header("X-Instance-ID", &instance.instance_id)
            .header("X-Tenant-ID", &instance.project_id)
            .header("X-Instance-ID-Signature", sign_instance_id(&self.secret, &instance.instance_id));
        if !body.is_empty() {
            request = request.body(body);
        }
        request.send().await
    }
}

/// What a namespace's listeners serve: its table (replaced on each sync) and Nova.
pub(crate) struct Served {
    key: ServedNs,
    table: RwLock<Arc<InstanceTable>>,
    upstream: Arc<Upstream>,
}

impl Served {
    pub(crate) fn new(key: ServedNs, table: InstanceTable, upstream: Arc<Upstream>) -> Self {
        Self { key, table: RwLock::new(Arc::new(table)), upstream }
    }

    /// Swaps in `table`; false when it equals the current one (nothing to do).
    pub(crate) fn replace_table(&self, table: InstanceTable) -> bool {
        let mut current = self.table.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if **current == table {
            return false;
        }
        *current = Arc::new(table);
        true
    }

    fn table(&self) -> Arc<InstanceTable> {
        self.table.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// Serves HTTP on `listeners` under one set of `limits` (VMs are not trusted to send whole requests or
/// to open few connections) until `stop` fires or its sender is dropped; then stops
/// accepting at once and closes each connection after its current request. `closed` is
/// told when the listening sockets are closed (the addresses can be bound again).
pub(crate) fn serve(
    listeners: Vec<tokio::net::TcpListener>,
    served: Arc<Served>,
    limits: neutrino_http::Limits,
    stop: oneshot::Receiver<()>,
    closed: oneshot::Sender<()>,
) {
    let key = served.key.clone();
    let app = Router::new().fallback(handle).with_state(served);
    // haproxy's answer when the server side runs out of time.
    let on_timeout: neutrino_http::TimeoutAnswer =
        Arc::new(|_| neutron_error(StatusCode::GATEWAY_TIMEOUT, "The metadata request did not complete in time."));
    tokio::spawn(async move {
        let stop = async move {
            let _ = stop.await;
        };
        neutrino_http::serve_all_then(listeners, limits, app, on_timeout, stop, closed).await;
        debug!(served = %key, "metadata listener stopped");
    });
}

async fn handle(
    State(served): State<Arc<Served>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let source = peer.ip().to_canonical();
    let key = &served.key;
    let table = served.table();
    let instance = match table.lookup(source) {
        Some(instance) if !instance.instance_id.is_empty() => instance,
        found => {
            let why = if found.is_some() { "its port has no instance" } else { "no single port has it" };
            info!(served = %key, %source, path = %request.uri().path(), why, "metadata request refused");
            return neutron_error(StatusCode::NOT_FOUND, &format!("Instance was not found on {key}."));
        }
    };

    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => {
            info!(served = %key, %source, error = &e as &dyn std::error::Error, "metadata request body refused");
            return neutron_error(StatusCode::BAD_REQUEST, "The request body could not be read.");
        }
    };
    let method = parts.method.clone();
    let answer = served.upstream.forward(parts.method, &parts.uri, source, instance, body).await;
    let response = match answer {
        Ok(answer) => relay(key, answer).await,
        Err(e) if e.is_connect() => {
            warn!(served = %key, error = &e as &dyn std::error::Error, "Nova's metadata API is unreachable");
            neutron_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The remote metadata server is temporarily unavailable. Please try again later.",
            )
        }
        Err(e) => {
            warn!(served = %key, error = &e as &dyn std::error::Error, "request to Nova's metadata API failed");
            unknown_error()
        }
    };
    debug!(
        served = %key, %source, instance_id = %instance.instance_id, %method, path = %parts.uri.path(),
        status = response.status().as_u16(), "metadata request proxied"
    );
    response
}

/// Nova's answer for the VM, or 500 for a status Neutron does not expect.
async fn relay(key: &ServedNs, answer: reqwest::Response) -> Response {
    let status = answer.status();
    match status.as_u16() {
        200 | 400 | 404 | 409 | 502 | 503 | 504 => {}
        403 => warn!(
            served = %key,
            "Nova's metadata API answered Forbidden: this usually means the shared secrets (metadata_proxy_shared_secret) differ"
        ),
        500 => warn!(served = %key, "Nova's metadata API had an internal server error"),
        other => {
            warn!(served = %key, status = other, "unexpected answer from Nova's metadata API");
            return unknown_error();
        }
    }
    let headers = forwardable(answer.headers());
    match answer.bytes().await {
        Ok(body) => (status, headers, body).into_response(),
        Err(e) => {
            warn!(served = %key, error = &e as &dyn std::error::Error, "cannot read the answer of Nova's metadata API");
            unknown_error()
        }
    }
}

/// Nova's headers minus those of its connection to us (ours are set by the server, the
/// length from the body).
fn forwardable(headers: &HeaderMap) -> HeaderMap {
    const HOP_BY_HOP: [HeaderName; 6] = [
        header::CONNECTION,
        header::TRANSFER_ENCODING,
        header::CONTENT_LENGTH,
        header::TE,
        header::TRAILER,
        header::UPGRADE,
    ];
    let mut out = HeaderMap::new();
    for (name, value) in headers {
        if !HOP_BY_HOP.contains(name) && name.as_str() != "keep-alive" && !name.as_str().starts_with("proxy-") {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

fn unknown_error() -> Response {
    neutron_error(StatusCode::INTERNAL_SERVER_ERROR, "An unknown error has occurred. Please try your request again.")
}

/// The page Neutron answers with itself (`encode_http_reponse`): plain text holding a bit
/// of HTML, titled with the status.
fn neutron_error(status: StatusCode, message: &str) -> Response {
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    let body = format!(
        "<html>\n <head>\n  <title>{title}</title>\n </head>\n <body>\n  <h1>{title}</h1>\n  \
         {message}<br /><br />\n\n\n </body>\n</html>"
    );
    (status, [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=UTF-8"))], body).into_response()
}
