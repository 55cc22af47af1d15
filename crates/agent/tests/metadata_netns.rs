//! The metadata proxy against the real kernel: DHCP-like namespaces holding
//! 169.254.169.254, "VM" namespaces routed to it, and a stand-in Nova on 127.0.0.1 of the
//! test's own namespace (where the proxy's connections to Nova leave from, as in production
//! from the host's). Also the proxy under a VM's flood (slow requests, connections over the
//! cap). Needs root, `ip` and `curl`; skips with a reason otherwise, and fails instead under
//! `CI`.
//!
//! The harness sets the stage with `ip` and asks as a VM with `curl`/`busybox wget`; the
//! code under test only opens sockets inside the namespaces.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Router;
use neutrino_agent::metadata::{sign_instance_id, MetadataConfig, MetadataProxy};
use neutrino_agent_api::{DhcpFixedIp, DhcpHost, DhcpNetwork, DhcpPort, DhcpSubnet};
use tokio::io::AsyncReadExt;
use url::Url;

const SECRET: &str = "metadata-secret";
const NET_A: &str = "aaaaaaaa-0000-4000-8000-000000000001";
const NET_B: &str = "bbbbbbbb-0000-4000-8000-000000000002";
const NET_C: &str = "cccccccc-0000-4000-8000-000000000003";
const VM_IP: &str = "10.0.0.5";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace (`ip netns add`), deleted on drop, also when a test panics.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let name = format!("nt-md-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
        run("ip", &["netns", "add", &name]);
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"]);
        ns
    }

    fn ip(&self, args: &[&str]) {
        let mut full = vec!["-n", self.name.as_str()];
        full.extend_from_slice(args);
        run("ip", &full);
    }

    fn exec(&self, cmd: &[&str]) -> Output {
        Command::new("ip")
            .args(["netns", "exec", &self.name])
            .args(cmd)
            .output()
            .unwrap_or_else(|e| panic!("ip netns exec {} {cmd:?}: {e}", self.name))
    }

    /// Runs `f` on a helper thread that entered this namespace (sockets it opens stay in it).
    fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            neutrino_agent::netns::setns(&ns).unwrap_or_else(|e| panic!("setns {path}: {e}"));
            f()
        })
        .join()
        .expect("namespace thread")
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.name]).status();
    }
}

fn run(cmd: &str, args: &[&str]) {
    let status = Command::new(cmd).args(args).status().unwrap_or_else(|e| panic!("{cmd} {args:?}: {e}"));
    assert!(status.success(), "{cmd} {args:?} failed: {status}");
}

/// Wires `vm` to `dhcp` as the DHCP side and Nova would: a veth `ns-md` / `eth0`, the DHCP
/// port at 10.0.0.2 plus 169.254.169.254/32, the VM at 10.0.0.5 with a host route to the
/// metadata address via the DHCP port.
fn wire(dhcp: &Netns, vm: &Netns) {
    dhcp.ip(&["link", "add", "ns-md", "type", "veth", "peer", "name", "eth0", "netns", &vm.name]);
    dhcp.ip(&["addr", "add", "10.0.0.2/24", "dev", "ns-md"]);
    dhcp.ip(&["addr", "add", "169.254.169.254/32", "dev", "ns-md"]);
    dhcp.ip(&["link", "set", "ns-md", "up"]);
    vm.ip(&["addr", "add", &format!("{VM_IP}/24"), "dev", "eth0"]);
    vm.ip(&["link", "set", "eth0", "up"]);
    vm.ip(&["route", "add", "169.254.169.254/32", "via", "10.0.0.2"]);
}

fn network(id: &str, instance: &str) -> DhcpNetwork {
    DhcpNetwork {
        network_id: id.into(),
        project_id: "project".into(),
        mtu: 1500,
        port: DhcpPort { id: format!("dhcp-{id}"), mac_address: "fa:16:3e:00:00:02".into(), fixed_ips: vec![] },
        subnets: vec![],
        hosts: vec![DhcpHost {
            dns_assignment: vec![],
            port_id: format!("port-{id}"),
            mac_address: "fa:16:3e:00:00:05".into(),
            fixed_ips: vec![DhcpFixedIp { subnet_id: "subnet".into(), ip_address: VM_IP.parse().expect("ip") }],
            hostname: "host-10-0-0-5".into(),
            device_id: instance.into(),
            device_owner: "compute:nova".into(),
            project_id: "project".into(),
            extra_dhcp_opts: vec![],
        }],
    }
}

/// `(x-forwarded-for, x-instance-id)` of each request Nova accepted.
type Log = Arc<Mutex<Vec<(String, String)>>>;

/// Nova: 403 on a bad signature, else the instance id for any path.
async fn nova(State(log): State<Log>, request: Request) -> Response {
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let instance = header("x-instance-id");
    if header("x-instance-id-signature") != sign_instance_id(SECRET, &instance) {
        return (StatusCode::FORBIDDEN, "bad signature").into_response();
    }
    log.lock().expect("log").push((header("x-forwarded-for"), instance.clone()));
    instance.into_response()
}

/// What the VM gets for its instance id, or the tool's error. Runs off the runtime, which
/// must keep serving meanwhile.
async fn ask(vm: &Netns, extra: &[&str]) -> Result<String, String> {
    let mut cmd: Vec<String> = ["curl", "-sS", "--fail", "--max-time", "5"].map(String::from).to_vec();
    for header in extra {
        cmd.extend(["-H".to_string(), header.to_string()]);
    }
    cmd.push("http://169.254.169.254/latest/meta-data/instance-id".into());
    let name = vm.name.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ip").args(["netns", "exec", &name]).args(&cmd).output().expect("curl runs")
    })
    .await
    .expect("join");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn root_with_tools() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        assert!(std::env::var_os("CI").is_none(), "cannot run under CI: needs root to make network namespaces");
        eprintln!("skipped: needs root to make network namespaces");
        return false;
    }
    for tool in ["ip", "curl"] {
        if Command::new(tool).arg("-V").output().is_err() {
            assert!(std::env::var_os("CI").is_none(), "cannot run under CI: {tool} is not installed");
            eprintln!("skipped: {tool} is not installed");
            return false;
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vms_get_their_own_instance_id_per_namespace() {
    if !root_with_tools() {
        return;
    }
    let log = Log::default();
    let nova_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind nova");
    let nova_url = Url::parse(&format!("http://{}", nova_listener.local_addr().expect("addr"))).expect("url");
    let app = Router::new().fallback(nova).with_state(log.clone());
    tokio::spawn(async move { axum::serve(nova_listener, app).await });

    let (dhcp_a, vm_a, dhcp_b, vm_b) = (Netns::create(), Netns::create(), Netns::create(), Netns::create());
    let names: BTreeMap<String, String> =
        [(NET_A.to_string(), dhcp_a.name.clone()), (NET_B.to_string(), dhcp_b.name.clone())].into();
    let mut proxy = MetadataProxy::new(MetadataConfig::new(nova_url, SECRET))
        .expect("proxy")
        .with_netns_naming("/run/netns", move |ns| {
            names.get(ns.id()).cloned().unwrap_or_else(|| format!("nt-md-none-{}", ns.id()))
        });
    let networks = [network(NET_A, "instance-a"), network(NET_B, "instance-b")];

    // Listeners open before 169.254.169.254 is configured (IP_FREEBIND).
    let report = proxy.sync(&networks).await;
    assert_eq!(report.issues, vec![]);
    assert_eq!(report.applied.len(), 2, "{:?}", report.applied);
    wire(&dhcp_a, &vm_a);
    wire(&dhcp_b, &vm_b);

    // Same address, two networks: each VM is its own instance, whatever it claims.
    assert_eq!(ask(&vm_a, &[]).await.as_deref(), Ok("instance-a"));
    assert_eq!(ask(&vm_b, &[]).await.as_deref(), Ok("instance-b"));
    let spoof = ["X-Instance-ID: instance-b", "X-Forwarded-For: 10.0.0.9", "X-Neutron-Network-ID: other"];
    assert_eq!(ask(&vm_a, &spoof).await.as_deref(), Ok("instance-a"));
    let out = vm_b.exec(&["busybox", "wget", "-q", "-O", "-", "http://169.254.169.254/latest/meta-data/instance-id"]);
    if out.status.code() != Some(127) {
        assert_eq!(String::from_utf8_lossy(&out.stdout), "instance-b", "busybox wget: {out:?}");
    }
    assert!(log.lock().expect("log").iter().all(|(xff, _)| xff == VM_IP), "{:?}", log.lock());

    // Idempotent.
    assert_eq!(proxy.sync(&networks).await.applied, Vec::<String>::new());

    // A changed port is served from the next sync on.
    let changed = [network(NET_A, "instance-a2"), network(NET_B, "instance-b")];
    let report = proxy.sync(&changed).await;
    assert_eq!(report.applied, vec![format!("update instance table of {}", dhcp_a.name)]);
    assert_eq!(ask(&vm_a, &[]).await.as_deref(), Ok("instance-a2"));

    // A namespace deleted and made again gets a new listener.
    dhcp_a.ip(&["link", "del", "ns-md"]);
    run("ip", &["netns", "del", &dhcp_a.name]);
    run("ip", &["netns", "add", &dhcp_a.name]);
    dhcp_a.ip(&["link", "set", "lo", "up"]);
    wire(&dhcp_a, &vm_a);
    assert!(ask(&vm_a, &[]).await.is_err(), "nothing listens in the new namespace yet");
    let report = proxy.sync(&changed).await;
    assert_eq!(report.applied.len(), 2, "stop + listen: {:?}, issues {:?}", report.applied, report.issues);
    assert!(report.applied[0].contains("namespace recreated"), "{:?}", report.applied);
    assert_eq!(ask(&vm_a, &[]).await.as_deref(), Ok("instance-a2"));

    // A network no longer served loses its listener; the other keeps its own.
    let report = proxy.sync(&changed[1..]).await;
    assert_eq!(report.applied, vec![format!("stop listening in {}", dhcp_a.name)]);
    assert!(ask(&vm_a, &[]).await.is_err(), "network A is not served any more");
    assert_eq!(ask(&vm_b, &[]).await.as_deref(), Ok("instance-b"));
    assert_eq!(proxy.served_networks(), vec![NET_B.to_string()]);

    // Served again: the address is free for a new listener at once.
    let report = proxy.sync(&changed).await;
    assert_eq!(report.issues, vec![]);
    assert_eq!(ask(&vm_a, &[]).await.as_deref(), Ok("instance-a2"));
}

/// What a VM asking `fe80::a9fe:a9fe` on its `eth0` gets, or curl's error.
async fn ask_v6(vm: &Netns) -> Result<String, String> {
    let name = vm.name.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ip")
            .args(["netns", "exec", &name, "curl", "-sS", "-g", "--fail", "--max-time", "3"])
            .arg("http://[fe80::a9fe:a9fe%eth0]/latest/meta-data/instance-id")
            .output()
            .expect("curl runs")
    })
    .await
    .expect("join");
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Wires `vm` to `dhcp` over IPv6 as the DHCP side does for a network with an IPv6 subnet:
/// `ns-md` holds fe80::a9fe:a9fe/128 (nodad), the VM's `eth0` has the port's MAC and only
/// its link-local address; returns once that address is usable.
fn wire_v6(dhcp: &Netns, vm: &Netns) {
    dhcp.ip(&["link", "add", "ns-md", "type", "veth", "peer", "name", "eth0", "netns", &vm.name]);
    dhcp.ip(&["addr", "add", "fe80::a9fe:a9fe/128", "dev", "ns-md", "nodad"]);
    dhcp.ip(&["link", "set", "ns-md", "up"]);
    vm.ip(&["link", "set", "eth0", "address", "fa:16:3e:00:00:05", "up"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = vm.exec(&["ip", "-6", "addr", "show", "dev", "eth0", "scope", "link"]);
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("fe80::f816:3eff:fe00:5") && !text.contains("tentative") {
            return;
        }
        assert!(Instant::now() < deadline, "no link-local address: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_vms_ask_fe80_a9fe_a9fe_on_the_dhcp_device_and_are_known_by_mac() {
    if !root_with_tools() {
        return;
    }
    let log = Log::default();
    let nova_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind nova");
    let nova_url = Url::parse(&format!("http://{}", nova_listener.local_addr().expect("addr"))).expect("url");
    let app = Router::new().fallback(nova).with_state(log.clone());
    tokio::spawn(async move { axum::serve(nova_listener, app).await });

    let (dhcp, vm) = (Netns::create(), Netns::create());
    wire_v6(&dhcp, &vm);
    let name = dhcp.name.clone();
    let mut proxy = MetadataProxy::new(MetadataConfig::new(nova_url, SECRET))
        .expect("proxy")
        .with_netns_naming("/run/netns", move |_| name.clone());
    let mut net = network(NET_A, "instance-6");
    // The DHCP port `md`: its device is ns-md. An IPv6 subnet makes the IPv6 listener.
    net.port.id = "md".into();
    net.subnets.push(DhcpSubnet {
        id: "subnet6".into(),
        cidr: "2001:db8::/64".into(),
        ip_version: 6,
        gateway_ip: None,
        dns_nameservers: vec![],
        host_routes: vec![],
        ipv6_address_mode: Some("dhcpv6-stateful".into()),
        ipv6_ra_mode: None,
        router_attached: false,
    });
    let report = proxy.sync(std::slice::from_ref(&net)).await;
    assert_eq!(report.issues, vec![]);
    assert_eq!(
        report.applied,
        vec![format!("listen on 169.254.169.254:80 and [fe80::a9fe:a9fe%ns-md]:80 in {}", dhcp.name)]
    );
    // The VM asks from fe80::f816:3eff:fe00:5, no fixed IP of anyone: known by its MAC.
    assert_eq!(ask_v6(&vm).await.as_deref(), Ok("instance-6"));
    assert_eq!(log.lock().expect("log").last().cloned(), Some(("fe80::f816:3eff:fe00:5".into(), "instance-6".into())));
    assert_eq!(proxy.sync(std::slice::from_ref(&net)).await.applied, Vec::<String>::new(), "idempotent");

    // The DHCP side recreates the port's veth pair: a new device index, the old socket is
    // bound to a device that is gone. The next sync reopens it.
    dhcp.ip(&["link", "del", "ns-md"]);
    wire_v6(&dhcp, &vm);
    assert!(ask_v6(&vm).await.is_err(), "nothing listens on the new device yet");
    let report = proxy.sync(std::slice::from_ref(&net)).await;
    assert_eq!(report.applied.len(), 2, "stop + listen: {:?}, issues {:?}", report.applied, report.issues);
    assert!(report.applied[0].ends_with("device recreated"), "{:?}", report.applied);
    assert_eq!(ask_v6(&vm).await.as_deref(), Ok("instance-6"));

    // A network without IPv6 subnets any more: the IPv6 listener goes.
    net.subnets.clear();
    let report = proxy.sync(std::slice::from_ref(&net)).await;
    assert!(report.applied[0].ends_with("addresses changed"), "{:?}", report.applied);
    assert!(ask_v6(&vm).await.is_err(), "fe80::a9fe:a9fe still served");
}

// The proxy under a VM's flood: the flooding VM's sockets are opened inside its namespace
// from a helper thread; the proxy's descriptors are counted from the DHCP namespace's
// socket table.

/// A VM namespace, its DHCP namespace and a proxy listening there under `limits`.
async fn setup(limits: neutrino_http::Limits) -> (Netns, Netns, MetadataProxy) {
    let nova_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind nova");
    let nova_url = Url::parse(&format!("http://{}", nova_listener.local_addr().expect("addr"))).expect("url");
    let app = Router::new().fallback(nova).with_state(Log::default());
    tokio::spawn(async move { axum::serve(nova_listener, app).await });
    let (dhcp, vm) = (Netns::create(), Netns::create());
    wire(&dhcp, &vm);
    let mut cfg = MetadataConfig::new(nova_url, SECRET);
    cfg.limits = limits;
    let name = dhcp.name.clone();
    let mut proxy = MetadataProxy::new(cfg).expect("proxy").with_netns_naming("/run/netns", move |_| name.clone());
    let report = proxy.sync(&[network(NET_C, "instance")]).await;
    assert_eq!(report.issues, vec![]);
    (dhcp, vm, proxy)
}

/// `n` connections from inside the VM's namespace, each having sent `head`.
fn flood(vm: &Netns, n: usize, head: &'static [u8]) -> Vec<tokio::net::TcpStream> {
    let streams = vm.enter(move || {
        (0..n)
            .map(|_| {
                let mut s = std::net::TcpStream::connect("169.254.169.254:80").expect("connect from the VM");
                s.write_all(head).expect("send");
                s.set_nonblocking(true).expect("nonblocking");
                s
            })
            .collect::<Vec<_>>()
    });
    streams.into_iter().map(|s| tokio::net::TcpStream::from_std(s).expect("register")).collect()
}

/// Descriptors this process holds on connections accepted by the proxy in `dhcp`.
fn proxy_connection_fds(dhcp: &Netns) -> usize {
    let inodes: HashSet<u64> = dhcp.enter(|| {
        let text = std::fs::read_to_string("/proc/thread-self/net/tcp").expect("socket table");
        text.lines()
            .skip(1)
            .filter_map(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                let port = cols.get(1)?.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok())?;
                let inode: u64 = cols.get(9)?.parse().ok()?;
                (port == 80 && *cols.get(3)? != "0A" && inode != 0).then_some(inode)
            })
            .collect()
    });
    std::fs::read_dir("/proc/self/fd")
        .expect("fds")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|t| {
            let t = t.to_string_lossy().to_string();
            t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')).and_then(|n| n.parse::<u64>().ok())
        })
        .filter(|inode| inodes.contains(inode))
        .count()
}

fn limits(max_connections: usize) -> neutrino_http::Limits {
    neutrino_http::Limits {
        header_read_timeout: Duration::from_secs(1),
        keepalive_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(5),
        max_connections,
        max_connections_per_address: 0,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vms_slow_requests_are_cut_after_the_header_timeout_while_it_is_served() {
    if !root_with_tools() {
        return;
    }
    let (dhcp, vm, _proxy) = setup(limits(512)).await;
    assert_eq!(ask(&vm, &[]).await.as_deref(), Ok("instance"));
    let sent = Instant::now();
    let slow = flood(&vm, 200, b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(proxy_connection_fds(&dhcp) >= 150, "the slow requests are accepted");
    let t = Instant::now();
    assert_eq!(ask(&vm, &[]).await.as_deref(), Ok("instance"), "served during the flood");
    assert!(t.elapsed() < Duration::from_secs(3), "took {:?}", t.elapsed());
    for mut stream in slow {
        let mut buf = [0u8; 256];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a slow connection was not closed");
    }
    let cut = sent.elapsed();
    assert!(cut >= Duration::from_millis(900) && cut < Duration::from_secs(5), "cut after {cut:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(proxy_connection_fds(&dhcp) <= 1, "connections left: {}", proxy_connection_fds(&dhcp));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vms_connections_over_the_cap_cost_the_proxy_no_descriptor() {
    if !root_with_tools() {
        return;
    }
    let (dhcp, vm, _proxy) = setup(limits(8)).await;
    let idle = flood(&vm, 150, b"");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let held = proxy_connection_fds(&dhcp);
    assert!((1..=8).contains(&held), "the proxy holds {held} connections, its cap is 8");
    drop(idle);
    let t = Instant::now();
    assert_eq!(ask(&vm, &[]).await.as_deref(), Ok("instance"), "served once the flood is gone");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
}
