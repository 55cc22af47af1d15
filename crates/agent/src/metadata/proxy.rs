//! One namespace's HTTP side: who is asking, and the request Neutron's metadata agent would
//! make to Nova for it (`neutron/common/metadata.py`, `_proxy_request` and `handle`).
//!
//! Nova gets the VM's method, path, query and body and exactly four headers of ours:
//! `X-Forwarded-For` (the VM's address), `X-Instance-ID` (the port's `device_id`),
//! `X-Tenant-ID` (the port's project) and `X-Instance-ID-Signature`. No header of the VM's is
//! forwarded, so spoofed identity headers never reach Nova. `X-Neutron-Network-ID` only
//! tells Neutron's agent which network the haproxy serves and is not sent to Nova; the
//! listener knows its network, so it is not needed at all.
//!
//! Answers, as Neutron gives them: Nova's 200, 400, 403, 404, 409, 500, 502, 503 and 504 are
//! passed through with Nova's headers and body (403 and 500 also logged: a 403 usually means
//! the shared secrets differ); redirects are followed (as `requests` does); Nova unreachable
//! is 503; an address with no instance is 404; any other answer or failure is 500
//! "An unknown error has occurred".

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hmac::{Hmac, Mac};
use neutrino_agent_api::DhcpNetwork;
use sha2::Sha256;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};
use url::Url;

use super::{MetadataConfig, MetadataError};

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

/// The instance behind an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// The port's `device_id`: Nova's instance id (empty when the port has no device).
    pub instance_id: String,
    /// The port's project, sent as `X-Tenant-ID`.
    pub project_id: String,
    pub port_id: String,
}

/// One network's addresses and the instances behind them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InstanceTable {
    /// `None`: the address is on several ports, so nobody is trusted with it (Neutron
    /// answers 404 unless exactly one port matches).
    by_ip: BTreeMap<IpAddr, Option<Instance>>,
}

impl InstanceTable {
    /// Every fixed IP of the network's lease holders, and the addresses found on more than
    /// one port.
    pub fn from_network(network: &DhcpNetwork) -> (Self, Vec<IpAddr>) {
        let mut by_ip: BTreeMap<IpAddr, Option<Instance>> = BTreeMap::new();
        let mut duplicates = Vec::new();
        for host in &network.hosts {
            let instance = Instance {
                instance_id: host.device_id.clone(),
                project_id: host.project_id.clone(),
                port_id: host.port_id.clone(),
            };
            for fixed in &host.fixed_ips {
                let ip = fixed.ip_address.to_canonical();
                match by_ip.get_mut(&ip) {
                    None => {
                        by_ip.insert(ip, Some(instance.clone()));
                    }
                    Some(entry) => {
                        if entry.as_ref().is_some_and(|e| e.port_id != host.port_id) {
                            *entry = None;
                            duplicates.push(ip);
                        }
                    }
                }
            }
        }
        (Self { by_ip }, duplicates)
    }

    /// The single instance behind `ip`, if any.
    pub fn lookup(&self, ip: IpAddr) -> Option<&Instance> {
        self.by_ip.get(&ip.to_canonical()).and_then(Option::as_ref)
    }

    /// Number of addresses known (ambiguous ones included).
    pub fn len(&self) -> usize {
        self.by_ip.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_ip.is_empty()
    }
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

/// What a listener serves: its network's table (replaced on each sync) and Nova.
pub(crate) struct Served {
    network_id: String,
    table: RwLock<Arc<InstanceTable>>,
    upstream: Arc<Upstream>,
}

impl Served {
    pub(crate) fn new(network_id: String, table: InstanceTable, upstream: Arc<Upstream>) -> Self {
        Self { network_id, table: RwLock::new(Arc::new(table)), upstream }
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

/// Serves HTTP on `listener` under `limits` (VMs are not trusted to send whole requests or
/// to open few connections) until `stop` fires or its sender is dropped; then stops
/// accepting at once and closes each connection after its current request.
pub(crate) fn serve(
    listener: tokio::net::TcpListener,
    served: Arc<Served>,
    limits: neutrino_http::Limits,
    stop: oneshot::Receiver<()>,
) {
    let network_id = served.network_id.clone();
    let app = Router::new().fallback(handle).with_state(served);
    // haproxy's answer when the server side runs out of time.
    let on_timeout: neutrino_http::TimeoutAnswer =
        Arc::new(|_| neutron_error(StatusCode::GATEWAY_TIMEOUT, "The metadata request did not complete in time."));
    tokio::spawn(async move {
        neutrino_http::serve(listener, limits, app, on_timeout, async move {
            let _ = stop.await;
        })
        .await;
        debug!(%network_id, "metadata listener stopped");
    });
}

async fn handle(
    State(served): State<Arc<Served>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let source = peer.ip().to_canonical();
    let network_id = served.network_id.as_str();
    let table = served.table();
    let instance = match table.lookup(source) {
        Some(instance) if !instance.instance_id.is_empty() => instance,
        found => {
            let why = if found.is_some() { "its port has no instance" } else { "no single port has it" };
            info!(%network_id, %source, path = %request.uri().path(), why, "metadata request refused");
            return neutron_error(StatusCode::NOT_FOUND, &format!("Instance was not found on network {network_id}."));
        }
    };

    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(body) => body,
        Err(e) => {
            info!(%network_id, %source, error = &e as &dyn std::error::Error, "metadata request body refused");
            return neutron_error(StatusCode::BAD_REQUEST, "The request body could not be read.");
        }
    };
    let method = parts.method.clone();
    let answer = served.upstream.forward(parts.method, &parts.uri, source, instance, body).await;
    let response = match answer {
        Ok(answer) => relay(network_id, answer).await,
        Err(e) if e.is_connect() => {
            warn!(%network_id, error = &e as &dyn std::error::Error, "Nova's metadata API is unreachable");
            neutron_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "The remote metadata server is temporarily unavailable. Please try again later.",
            )
        }
        Err(e) => {
            warn!(%network_id, error = &e as &dyn std::error::Error, "request to Nova's metadata API failed");
            unknown_error()
        }
    };
    debug!(
        %network_id, %source, instance_id = %instance.instance_id, %method, path = %parts.uri.path(),
        status = response.status().as_u16(), "metadata request proxied"
    );
    response
}

/// Nova's answer for the VM, or 500 for a status Neutron does not expect.
async fn relay(network_id: &str, answer: reqwest::Response) -> Response {
    let status = answer.status();
    match status.as_u16() {
        200 | 400 | 404 | 409 | 502 | 503 | 504 => {}
        403 => warn!(
            %network_id,
            "Nova's metadata API answered Forbidden: this usually means the shared secrets (metadata_proxy_shared_secret) differ"
        ),
        500 => warn!(%network_id, "Nova's metadata API had an internal server error"),
        other => {
            warn!(%network_id, status = other, "unexpected answer from Nova's metadata API");
            return unknown_error();
        }
    }
    let headers = forwardable(answer.headers());
    match answer.bytes().await {
        Ok(body) => (status, headers, body).into_response(),
        Err(e) => {
            warn!(%network_id, error = &e as &dyn std::error::Error, "cannot read the answer of Nova's metadata API");
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
