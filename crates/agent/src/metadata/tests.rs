//! The HTTP side without namespaces: a listener on 127.0.0.1 whose table maps 127.0.0.1 to
//! an instance, in front of a stand-in Nova that checks what Neutron's agent would send.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use neutrino_agent_api::{DhcpFixedIp, DhcpHost, DhcpNetwork, DhcpPort, MetadataHost, RouterState};
use tokio::sync::oneshot;
use url::Url;

use super::proxy::{serve, Served, Upstream};
use super::*;

const SECRET: &str = "s3cret";
const NET: &str = "0c1b2a39-8e9d-4f6b-a1b2-c3d4e5f60718";
const INSTANCE: &str = "7b4e4a4c-6f4b-4b1a-9d4b-0a1b2c3d4e5f";
const PROJECT: &str = "e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6";

fn host(port_id: &str, device_id: &str, ips: &[&str]) -> DhcpHost {
    DhcpHost {
        dns_assignment: vec![],
        port_id: port_id.into(),
        mac_address: "fa:16:3e:00:00:01".into(),
        fixed_ips: ips
            .iter()
            .map(|ip| DhcpFixedIp { subnet_id: "sub".into(), ip_address: ip.parse().expect("test address") })
            .collect(),
        hostname: "host".into(),
        device_id: device_id.into(),
        device_owner: "compute:nova".into(),
        project_id: PROJECT.into(),
        extra_dhcp_opts: vec![],
    }
}

fn network(hosts: Vec<DhcpHost>) -> DhcpNetwork {
    DhcpNetwork {
        network_id: NET.into(),
        project_id: PROJECT.into(),
        mtu: 1450,
        port: DhcpPort { id: "dhcp".into(), mac_address: "fa:16:3e:00:00:ff".into(), fixed_ips: vec![] },
        subnets: vec![],
        hosts,
    }
}

/// What the stand-in Nova saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path_and_query: String,
    headers: HeaderMap,
    body: Bytes,
}

type Log = Arc<Mutex<Vec<Seen>>>;

/// Answers like Nova: 403 unless the signature matches, the instance id for
/// `instance-id`, the body back for POSTs, `/status/<code>` with that code, a redirect.
async fn nova(State(log): State<Log>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap_or_default();
    let path = parts.uri.path().to_string();
    log.lock().expect("log").push(Seen {
        method: parts.method.to_string(),
        path_and_query: parts.uri.path_and_query().map(|p| p.to_string()).unwrap_or_default(),
        headers: parts.headers.clone(),
        body: body.clone(),
    });
    let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let instance = header("x-instance-id");
    if header("x-instance-id-signature") != sign_instance_id(SECRET, &instance) {
        return (StatusCode::FORBIDDEN, "bad signature").into_response();
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let code = StatusCode::from_u16(code.parse().unwrap_or(599)).unwrap_or(StatusCode::IM_A_TEAPOT);
        return (code, [("content-type", "application/x-nova")], format!("nova says {code}")).into_response();
    }
    match path.as_str() {
        "/latest/meta-data/instance-id" => (StatusCode::OK, [("content-type", "text/plain")], instance).into_response(),
        "/moved" => (StatusCode::FOUND, [("location", "/latest/meta-data/instance-id")]).into_response(),
        "/openstack/latest/password" => (StatusCode::OK, body).into_response(),
        "/slow" => {
            tokio::time::sleep(std::time::Duration::from_secs(3)).await;
            (StatusCode::OK, "late").into_response()
        }
        _ => (StatusCode::NOT_FOUND, "no such metadata").into_response(),
    }
}

/// A stand-in Nova on 127.0.0.1 and its request log.
async fn start_nova() -> (Url, Log) {
    let log = Log::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind nova");
    let addr = listener.local_addr().expect("nova addr");
    let app = Router::new().fallback(nova).with_state(log.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (Url::parse(&format!("http://{addr}/")).expect("url"), log)
}

/// A proxy listener on 127.0.0.1 serving `hosts`; stops when the sender is dropped.
async fn start_proxy(nova: Url, secret: &str, hosts: Vec<DhcpHost>) -> (SocketAddr, Arc<Served>, oneshot::Sender<()>) {
    start_proxy_with(nova, secret, hosts, DEFAULT_LIMITS).await
}

/// The same under `limits`.
async fn start_proxy_with(
    nova: Url,
    secret: &str,
    hosts: Vec<DhcpHost>,
    limits: neutrino_http::Limits,
) -> (SocketAddr, Arc<Served>, oneshot::Sender<()>) {
    let upstream = Arc::new(Upstream::new(&MetadataConfig::new(nova, secret)).expect("upstream"));
    let (table, _) = InstanceTable::from_network(&network(hosts));
    let served = Arc::new(Served::new(ServedNs::Network(NET.into()), table, upstream));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
    let addr = listener.local_addr().expect("proxy addr");
    let (stop, stopped) = oneshot::channel();
    serve(vec![listener], served.clone(), limits, stopped, oneshot::channel().0);
    (addr, served, stop)
}

fn vm_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().expect("client")
}

fn only(headers: &HeaderMap, name: &str) -> String {
    let values: Vec<_> = headers.get_all(name).iter().collect();
    assert_eq!(values.len(), 1, "{name} sent {} times", values.len());
    values[0].to_str().expect("ascii").to_string()
}

#[test]
fn signature_is_neutrons_hmac_sha256_hex() {
    // python3 -c 'import hmac,hashlib; print(hmac.new(b"secret", b"abc", hashlib.sha256).hexdigest())'
    assert_eq!(sign_instance_id("secret", "abc"), "9946dad4e00e913fc8be8e5d3f7e110a4a9e832f83fb09c345285d78638d8a0e");
}

#[test]
fn table_resolves_single_ports_only() {
    let net = network(vec![
        host("p1", "vm-1", &["10.0.0.5", "fd00::5"]),
        host("p2", "", &["10.0.0.6"]),
        host("p3", "vm-3", &["10.0.0.7"]),
        host("p4", "vm-4", &["10.0.0.7"]),
    ]);
    let (table, duplicates) = InstanceTable::from_network(&net);
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    assert_eq!(table.lookup(ip("10.0.0.5")).map(|i| i.instance_id.as_str()), Some("vm-1"));
    assert_eq!(table.lookup(ip("::ffff:10.0.0.5")).map(|i| i.instance_id.as_str()), Some("vm-1"));
    assert_eq!(table.lookup(ip("fd00::5")).map(|i| i.port_id.as_str()), Some("p1"));
    assert_eq!(table.lookup(ip("10.0.0.6")).map(|i| i.instance_id.as_str()), Some(""));
    assert_eq!(table.lookup(ip("10.0.0.7")), None);
    assert_eq!(table.lookup(ip("10.0.0.8")), None);
    assert_eq!(duplicates, vec![ip("10.0.0.7")]);
}

#[tokio::test]
async fn forwards_with_neutrons_headers_and_ignores_the_vms() {
    let (nova_url, log) = start_nova().await;
    let (proxy, _served, _stop) = start_proxy(nova_url, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])]).await;
    let answer = vm_client()
        .get(format!("http://{proxy}/latest/meta-data/instance-id?x=1"))
        .header("X-Instance-ID", "other")
        .header("X-Tenant-ID", "other-project")
        .header("X-Forwarded-For", "10.9.9.9")
        .header("X-Instance-ID-Signature", sign_instance_id(SECRET, "other"))
        .header("X-Neutron-Network-ID", "other-network")
        .header("X-Neutron-Router-ID", "some-router")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.headers()["content-type"], "text/plain");
    assert_eq!(answer.text().await.expect("body"), INSTANCE);

    let seen = log.lock().expect("log").pop().expect("nova was asked");
    assert_eq!(seen.method, "GET");
    assert_eq!(seen.path_and_query, "/latest/meta-data/instance-id?x=1");
    assert_eq!(only(&seen.headers, "x-forwarded-for"), "127.0.0.1");
    assert_eq!(only(&seen.headers, "x-instance-id"), INSTANCE);
    assert_eq!(only(&seen.headers, "x-tenant-id"), PROJECT);
    assert_eq!(only(&seen.headers, "x-instance-id-signature"), sign_instance_id(SECRET, INSTANCE));
    assert!(!seen.headers.contains_key("x-neutron-network-id"));
    assert!(!seen.headers.contains_key("x-neutron-router-id"));
}

#[tokio::test]
async fn post_body_and_method_pass_through() {
    let (nova_url, log) = start_nova().await;
    let (proxy, _served, _stop) = start_proxy(nova_url, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])]).await;
    let answer = vm_client()
        .post(format!("http://{proxy}/openstack/latest/password"))
        .body("encrypted-password")
        .send()
        .await
        .expect("answer");
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.text().await.expect("body"), "encrypted-password");
    let seen = log.lock().expect("log").pop().expect("nova was asked");
    assert_eq!(seen.method, "POST");
    assert_eq!(&seen.body[..], b"encrypted-password");
}

#[tokio::test]
async fn unknown_or_deviceless_address_is_404_without_asking_nova() {
    let (nova_url, log) = start_nova().await;
    let (proxy, served, _stop) = start_proxy(nova_url, SECRET, vec![host("p1", INSTANCE, &["10.0.0.5"])]).await;
    let client = vm_client();
    let url = format!("http://{proxy}/latest/meta-data/instance-id");
    let answer = client.get(&url).header("X-Forwarded-For", "10.0.0.5").send().await.expect("answer");
    assert_eq!(answer.status(), 404);
    assert_eq!(answer.headers()["content-type"], "text/plain; charset=UTF-8");
    assert!(answer.text().await.expect("body").contains(&format!("Instance was not found on network {NET}.")));

    // A port without a device is known but has no instance to ask for.
    let (table, _) = InstanceTable::from_network(&network(vec![host("p2", "", &["127.0.0.1"])]));
    assert!(served.replace_table(table.clone()));
    assert!(!served.replace_table(table), "same table twice is no change");
    assert_eq!(client.get(&url).send().await.expect("answer").status(), 404);
    assert!(log.lock().expect("log").is_empty(), "nova must not be asked");

    // The next table takes effect on the next request, on the same keep-alive client.
    let (table, _) = InstanceTable::from_network(&network(vec![host("p1", INSTANCE, &["127.0.0.1"])]));
    assert!(served.replace_table(table));
    assert_eq!(client.get(&url).send().await.expect("answer").text().await.expect("body"), INSTANCE);
}

#[tokio::test]
async fn novas_statuses_map_as_in_neutron() {
    let (nova_url, _log) = start_nova().await;
    let (proxy, _served, _stop) = start_proxy(nova_url, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])]).await;
    let client = vm_client();
    for code in [400u16, 404, 409, 500, 502, 503, 504] {
        let answer = client.get(format!("http://{proxy}/status/{code}")).send().await.expect("answer");
        assert_eq!(answer.status(), code, "passed through");
        assert_eq!(answer.headers()["content-type"], "application/x-nova");
        assert!(answer.text().await.expect("body").starts_with("nova says"));
    }
    for code in [201u16, 401, 418] {
        let answer = client.get(format!("http://{proxy}/status/{code}")).send().await.expect("answer");
        assert_eq!(answer.status(), 500, "{code} is unexpected");
        assert!(answer.text().await.expect("body").contains("An unknown error has occurred."));
    }
    let answer = client.get(format!("http://{proxy}/moved")).send().await.expect("answer");
    assert_eq!(answer.status(), 200, "redirects are followed");
    assert_eq!(answer.text().await.expect("body"), INSTANCE);
}

#[tokio::test]
async fn wrong_secret_is_novas_403() {
    let (nova_url, _log) = start_nova().await;
    let (proxy, _served, _stop) =
        start_proxy(nova_url, "not-the-secret", vec![host("p1", INSTANCE, &["127.0.0.1"])]).await;
    let answer = vm_client().get(format!("http://{proxy}/latest/meta-data/instance-id")).send().await.expect("answer");
    assert_eq!(answer.status(), 403);
    assert_eq!(answer.text().await.expect("body"), "bad signature");
}

#[tokio::test]
async fn nova_unreachable_is_503() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let nova_url = Url::parse(&format!("http://{addr}")).expect("url");
    let (proxy, _served, _stop) = start_proxy(nova_url, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])]).await;
    let answer = vm_client().get(format!("http://{proxy}/latest/meta-data/")).send().await.expect("answer");
    assert_eq!(answer.status(), 503);
    assert!(answer.text().await.expect("body").contains("temporarily unavailable"));
}

#[tokio::test]
async fn nova_url_path_prefix_is_kept() {
    let (nova_url, log) = start_nova().await;
    let prefixed = nova_url.join("status/").expect("url");
    let (proxy, _served, _stop) = start_proxy(prefixed, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])]).await;
    let answer = vm_client().get(format!("http://{proxy}/409")).send().await.expect("answer");
    assert_eq!(answer.status(), 409);
    assert_eq!(log.lock().expect("log").pop().expect("asked").path_and_query, "/status/409");
}

#[test]
fn config_refuses_non_http_nova_and_hides_the_secret() {
    let cfg = MetadataConfig::new(Url::parse("unix:/run/nova.sock").expect("url"), SECRET);
    assert!(matches!(MetadataProxy::new(cfg.clone()), Err(MetadataError::NovaUrl { .. })));
    assert!(!format!("{cfg:?}").contains(SECRET));
    assert_eq!(cfg.listen_port, 80);
}

#[tokio::test]
async fn sync_reports_a_missing_namespace_and_serves_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = MetadataConfig::new(Url::parse("http://127.0.0.1:8775").expect("url"), SECRET);
    let mut proxy =
        MetadataProxy::new(cfg).expect("proxy").with_netns_naming(dir.path(), |ns| format!("t-{}", ns.id()));
    let report = proxy.sync(&[network(vec![host("p1", INSTANCE, &["10.0.0.5"])])]).await;
    assert!(report.applied.is_empty());
    assert_eq!(report.issues.len(), 1);
    assert!(report.issues[0].reason.contains(&format!("t-{NET}")), "{:?}", report.issues);
    assert_eq!(report.issues[0].object, crate::report::Object::Network(NET.into()));
    assert!(proxy.served_networks().is_empty());
    assert_eq!(proxy.sync(&[]).await, crate::report::Report::new(crate::report::SubsystemKind::Metadata));
}

const ROUTER: &str = "5d0c6f3a-1b2c-4d5e-8f90-a1b2c3d4e5f6";

fn router(hosts: Vec<MetadataHost>) -> RouterState {
    RouterState {
        id: ROUTER.into(),
        project_id: PROJECT.into(),
        admin_state_up: true,
        gateway: None,
        interfaces: vec![],
        routes: vec![],
        floating_ips: vec![],
        port_forwardings: vec![],
        metadata_hosts: hosts,
    }
}

fn metadata_host(port_id: &str, device_id: &str, mac: &str, ips: &[&str]) -> MetadataHost {
    MetadataHost {
        port_id: port_id.into(),
        device_id: device_id.into(),
        project_id: PROJECT.into(),
        ip_addresses: ips.iter().map(|ip| ip.parse().expect("test address")).collect(),
        mac_address: mac.into(),
    }
}

#[test]
fn link_local_sources_are_known_by_their_mac_as_in_neutron() {
    let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
    // oslo's get_mac_addr_by_ipv6: fe80::f816:3eff:fe12:3456 -> fa:16:3e:12:34:56.
    let mac = table::mac_of_link_local("fe80::f816:3eff:fe12:3456".parse().expect("ip"));
    assert_eq!(mac.to_string(), "fa:16:3e:12:34:56");

    let (t, _) = InstanceTable::from_router(&router(vec![
        metadata_host("p1", "vm-1", "fa:16:3e:12:34:56", &["10.0.0.5", "2001:db8::5"]),
        metadata_host("p2", "vm-2", "fa:16:3e:00:00:02", &["10.1.0.5"]),
        // The same MAC on another of the router's networks: nobody is trusted with it.
        metadata_host("p3", "vm-3", "fa:16:3e:00:00:03", &["10.0.0.7"]),
        metadata_host("p4", "vm-4", "FA:16:3E:00:00:03", &["10.1.0.7"]),
    ]));
    assert_eq!(t.lookup(ip("fe80::f816:3eff:fe12:3456")).map(|i| i.instance_id.as_str()), Some("vm-1"));
    assert_eq!(t.lookup(ip("2001:db8::5")).map(|i| i.instance_id.as_str()), Some("vm-1"));
    assert_eq!(t.lookup(ip("::ffff:10.1.0.5")).map(|i| i.instance_id.as_str()), Some("vm-2"));
    assert_eq!(t.lookup(ip("fe80::f816:3eff:fe00:3")), None, "a MAC on two ports");
    assert_eq!(t.lookup(ip("fe80::f816:3eff:fe00:99")), None, "an unknown MAC");
    // A global address is only ever looked up as an address, never by the MAC in it.
    assert_eq!(t.lookup(ip("2001:db8::f816:3eff:fe12:3456")), None);

    let (t, _) = InstanceTable::from_network(&network(vec![host("p1", "vm-1", &["10.0.0.5"])]));
    assert_eq!(t.lookup(ip("fe80::f816:3eff:fe00:1")).map(|i| i.port_id.as_str()), Some("p1"));
}

#[tokio::test]
async fn a_routers_listener_answers_for_its_ports_and_names_the_router() {
    let (nova_url, log) = start_nova().await;
    let upstream = Arc::new(Upstream::new(&MetadataConfig::new(nova_url, SECRET)).expect("upstream"));
    let (table, _) =
        InstanceTable::from_router(&router(vec![metadata_host("p1", INSTANCE, "fa:16:3e:00:00:01", &["10.0.0.5"])]));
    let served = Arc::new(Served::new(ServedNs::Router(ROUTER.into()), table, upstream));
    // A dual-stack listener, as in a router's namespace: IPv4 clients come as ::ffff:….
    let listener = tokio::net::TcpListener::bind("[::]:0").await.expect("bind proxy");
    let port = listener.local_addr().expect("proxy addr").port();
    let (_stop, stopped) = oneshot::channel();
    serve(vec![listener], served.clone(), DEFAULT_LIMITS, stopped, oneshot::channel().0);
    let url = format!("http://127.0.0.1:{port}/latest/meta-data/instance-id");

    let answer = vm_client().get(&url).send().await.expect("answer");
    assert_eq!(answer.status(), 404);
    assert!(answer.text().await.expect("body").contains(&format!("Instance was not found on router {ROUTER}.")));
    assert!(log.lock().expect("log").is_empty(), "nova must not be asked");

    let (table, _) =
        InstanceTable::from_router(&router(vec![metadata_host("p1", INSTANCE, "fa:16:3e:00:00:01", &["127.0.0.1"])]));
    assert!(served.replace_table(table));
    let answer = vm_client().get(&url).header("X-Neutron-Router-ID", "other").send().await.expect("answer");
    assert_eq!(answer.text().await.expect("body"), INSTANCE);
    let seen = log.lock().expect("log").pop().expect("nova was asked");
    assert_eq!(only(&seen.headers, "x-forwarded-for"), "127.0.0.1");
    assert_eq!(only(&seen.headers, "x-instance-id-signature"), sign_instance_id(SECRET, INSTANCE));
    assert!(!seen.headers.contains_key("x-neutron-router-id"), "Neutron's agent never sends it to Nova");
}

#[tokio::test]
async fn sync_routers_serves_enabled_routers_only_and_leaves_networks_alone() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = MetadataConfig::new(Url::parse("http://127.0.0.1:8775").expect("url"), SECRET);
    assert_eq!(cfg.router_port, 9697);
    let mut proxy =
        MetadataProxy::new(cfg).expect("proxy").with_netns_naming(dir.path(), |ns| format!("t-{}", ns.id()));
    let mut disabled = router(vec![]);
    disabled.id = "disabled".into();
    disabled.admin_state_up = false;
    let report = proxy.sync_routers(&[router(vec![]), disabled]).await;
    assert_eq!(report.issues.len(), 1, "{:?}", report.issues);
    assert_eq!(report.issues[0].object, crate::report::Object::Router(ROUTER.into()));
    assert!(report.issues[0].reason.starts_with(&format!("router {ROUTER}: no namespace")), "{:?}", report.issues);
    assert!(proxy.served_routers().is_empty());
}

/// The runner drives `sync` from a spawned task.
#[allow(dead_code)]
fn sync_future_is_send(proxy: &mut MetadataProxy, networks: &[DhcpNetwork]) {
    fn send<T: Send>(_: T) {}
    send(proxy.sync(networks));
    send(proxy.sync_routers(&[]));
}

/// File descriptors this process holds on accepted connections of the listener at `port`
/// (its sockets' inodes from `/proc/net/tcp`, where sockets still in the backlog have none).
fn server_connection_fds(port: u16) -> usize {
    let mut inodes = std::collections::HashSet::new();
    for table in ["/proc/thread-self/net/tcp", "/proc/thread-self/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (Some(local), Some(state), Some(inode)) = (cols.get(1), cols.get(3), cols.get(9)) else { continue };
            let local_port = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            let inode: u64 = inode.parse().unwrap_or(0);
            if local_port == Some(port) && *state != "0A" && inode != 0 {
                inodes.insert(inode);
            }
        }
    }
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else { return 0 };
    dir.filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().to_string();
            t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')).and_then(|n| n.parse::<u64>().ok())
        })
        .filter(|inode| inodes.contains(inode))
        .count()
}

fn short_limits() -> neutrino_http::Limits {
    neutrino_http::Limits {
        header_read_timeout: std::time::Duration::from_secs(1),
        keepalive_timeout: std::time::Duration::from_secs(1),
        request_timeout: std::time::Duration::from_secs(5),
        max_connections: 512,
        max_connections_per_address: 0,
    }
}

#[tokio::test]
async fn slow_vms_are_cut_after_the_header_timeout_while_others_are_served() {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (nova_url, _log) = start_nova().await;
    let (proxy, _served, _stop) =
        start_proxy_with(nova_url, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])], short_limits()).await;
    let slow: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(async move {
                let mut stream = tokio::net::TcpStream::connect(proxy).await.ok()?;
                let sent = Instant::now();
                stream.write_all(b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n").await.ok()?;
                let mut buf = [0u8; 256];
                tokio::time::timeout(Duration::from_secs(10), async {
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                    }
                })
                .await
                .ok()?;
                Some(sent.elapsed())
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(server_connection_fds(proxy.port()) >= 100, "the slow VMs are connected");
    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let answer =
            vm_client().get(format!("http://{proxy}/latest/meta-data/instance-id")).send().await.expect("answer");
        assert_eq!(answer.status(), 200);
        worst = worst.max(t.elapsed());
    }
    assert!(worst < Duration::from_secs(2), "a VM's request took {worst:?} during the flood");
    for h in slow {
        let cut = h.await.expect("join").expect("the proxy closed the slow connection");
        assert!(cut >= Duration::from_millis(900) && cut < Duration::from_secs(5), "cut after {cut:?}");
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server_connection_fds(proxy.port()) <= 2, "connections left: {}", server_connection_fds(proxy.port()));
}

#[tokio::test]
async fn connections_over_the_cap_cost_the_proxy_no_descriptor() {
    let (nova_url, _log) = start_nova().await;
    let limits = neutrino_http::Limits { max_connections: 4, ..short_limits() };
    let (proxy, _served, _stop) =
        start_proxy_with(nova_url, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])], limits).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        clients.push(tokio::net::TcpStream::connect(proxy).await.expect("the kernel completes the handshake"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let held = server_connection_fds(proxy.port());
    assert!((1..=4).contains(&held), "the proxy holds {held} connections, its cap is 4");
    drop(clients);
    let answer = vm_client().get(format!("http://{proxy}/latest/meta-data/instance-id")).send().await.expect("answer");
    assert_eq!(answer.status(), 200, "served again once the flood is gone");
}

#[tokio::test]
async fn a_request_nova_does_not_answer_in_time_is_504() {
    let (nova_url, _log) = start_nova().await;
    let limits = neutrino_http::Limits { request_timeout: std::time::Duration::from_secs(1), ..short_limits() };
    let (proxy, _served, _stop) =
        start_proxy_with(nova_url, SECRET, vec![host("p1", INSTANCE, &["127.0.0.1"])], limits).await;
    let t = std::time::Instant::now();
    let answer = vm_client().get(format!("http://{proxy}/slow")).send().await.expect("answer");
    assert_eq!(answer.status(), 504);
    assert!(t.elapsed() < std::time::Duration::from_millis(2500), "took {:?}", t.elapsed());
    assert!(answer.text().await.expect("body").contains("did not complete in time"));
}
