//! The metadata proxy under a VM's flood, against the real kernel: a DHCP-like namespace
//! holding 169.254.169.254 and a "VM" namespace routed to it, as in `metadata_netns.rs`.
//! The flooding VM's sockets are opened inside its namespace from a helper thread; the
//! proxy's descriptors are counted from the DHCP namespace's socket table. Needs root, `ip`
//! and `curl`; skips with a reason otherwise, and fails instead under `CI=true`.

use std::collections::HashSet;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::Router;
use neutrino_agent::metadata::{MetadataConfig, MetadataProxy};
use neutrino_model::agent_api::{DhcpFixedIp, DhcpHost, DhcpNetwork, DhcpPort};
use tokio::io::AsyncReadExt;
use url::Url;

const SECRET: &str = "metadata-secret";
const NET: &str = "cccccccc-0000-4000-8000-000000000003";
const VM_IP: &str = "10.0.0.5";

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A named network namespace (`ip netns add`), deleted on drop, also when a test panics.
struct Netns {
    name: String,
}

impl Netns {
    fn create() -> Netns {
        let name = format!("nt-mdf-{}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::SeqCst));
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

    /// Runs `f` on a helper thread that entered this namespace (sockets it opens stay in it).
    fn enter<T: Send + 'static>(&self, f: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{}", self.name);
        std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap_or_else(|e| panic!("open {path}: {e}"));
            // SAFETY: setns on this thread only, with a namespace file descriptor we hold open.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns {path}: {}", std::io::Error::last_os_error());
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

fn wire(dhcp: &Netns, vm: &Netns) {
    dhcp.ip(&["link", "add", "ns-md", "type", "veth", "peer", "name", "eth0", "netns", &vm.name]);
    dhcp.ip(&["addr", "add", "10.0.0.2/24", "dev", "ns-md"]);
    dhcp.ip(&["addr", "add", "169.254.169.254/32", "dev", "ns-md"]);
    dhcp.ip(&["link", "set", "ns-md", "up"]);
    vm.ip(&["addr", "add", &format!("{VM_IP}/24"), "dev", "eth0"]);
    vm.ip(&["link", "set", "eth0", "up"]);
    vm.ip(&["route", "add", "169.254.169.254/32", "via", "10.0.0.2"]);
}

fn network() -> DhcpNetwork {
    DhcpNetwork {
        network_id: NET.into(),
        project_id: "project".into(),
        mtu: 1500,
        port: DhcpPort { id: "dhcp".into(), mac_address: "fa:16:3e:00:00:02".into(), fixed_ips: vec![] },
        subnets: vec![],
        hosts: vec![DhcpHost {
            port_id: "port".into(),
            mac_address: "fa:16:3e:00:00:05".into(),
            fixed_ips: vec![DhcpFixedIp { subnet_id: "subnet".into(), ip_address: VM_IP.parse().expect("ip") }],
            hostname: "host-10-0-0-5".into(),
            device_id: "instance".into(),
            device_owner: "compute:nova".into(),
            project_id: "project".into(),
            extra_dhcp_opts: vec![],
        }],
    }
}

/// Nova: the instance id for any path.
async fn nova(request: Request) -> Response {
    request.headers().get("x-instance-id").and_then(|v| v.to_str().ok()).unwrap_or("").to_string().into_response()
}

/// Whether the test can run; under `CI=true` it must.
fn root_with_tools() -> bool {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    let skip = |why: &str| {
        assert!(!ci, "CI=true: cannot run the metadata flood test: {why}");
        eprintln!("skipped: {why}");
        false
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return skip("needs root to make network namespaces");
    }
    for tool in ["ip", "curl"] {
        if Command::new(tool).arg("-V").output().is_err() {
            return skip(&format!("{tool} is not installed"));
        }
    }
    true
}

/// A VM namespace, its DHCP namespace and a proxy listening there under `limits`.
async fn setup(limits: neutrino_http::Limits) -> (Netns, Netns, MetadataProxy) {
    let nova_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind nova");
    let nova_url = Url::parse(&format!("http://{}", nova_listener.local_addr().expect("addr"))).expect("url");
    tokio::spawn(async move { axum::serve(nova_listener, Router::new().fallback(nova)).await });
    let (dhcp, vm) = (Netns::create(), Netns::create());
    wire(&dhcp, &vm);
    let mut cfg = MetadataConfig::new(nova_url, SECRET);
    cfg.limits = limits;
    let name = dhcp.name.clone();
    let mut proxy = MetadataProxy::new(cfg).expect("proxy").with_netns_naming("/run/netns", move |_| name.clone());
    let report = proxy.sync(&[network()]).await;
    assert_eq!(report.issues, Vec::<String>::new());
    (dhcp, vm, proxy)
}

/// The VM's instance id through the proxy, asked with curl from its namespace.
async fn ask(vm: &Netns) -> Result<String, String> {
    let name = vm.name.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("ip")
            .args(["netns", "exec", &name, "curl", "-sS", "--fail", "--max-time", "5"])
            .arg("http://169.254.169.254/latest/meta-data/instance-id")
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
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vms_slow_requests_are_cut_after_the_header_timeout_while_it_is_served() {
    if !root_with_tools() {
        return;
    }
    let (dhcp, vm, _proxy) = setup(limits(512)).await;
    assert_eq!(ask(&vm).await.as_deref(), Ok("instance"));
    let sent = Instant::now();
    let slow = flood(&vm, 200, b"GET /latest/meta-data/ HTTP/1.1\r\nHost: 169.254.169.254\r\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(proxy_connection_fds(&dhcp) >= 150, "the slow requests are accepted");
    let t = Instant::now();
    assert_eq!(ask(&vm).await.as_deref(), Ok("instance"), "served during the flood");
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
    assert_eq!(ask(&vm).await.as_deref(), Ok("instance"), "served once the flood is gone");
    assert!(t.elapsed() < Duration::from_secs(5), "took {:?}", t.elapsed());
}
