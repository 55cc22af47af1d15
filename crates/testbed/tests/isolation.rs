//! What runs on a host is confined to it: a private `/run/netns` per host, and code of the test
//! process reaches the controller namespace through `in_netns`/`block_on_in`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod common;

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use neutrino_testbed::wait_until;

const T: Duration = Duration::from_secs(5);

#[test]
fn spawned_processes_see_a_private_run_netns_per_host() {
    let Some(tb) = common::testbed("mntns") else { return };
    let a = tb.add_host("ha").expect("ha");
    let b = tb.add_host("hb").expect("hb");
    // As an agent would: create a named namespace from a process spawned on host A.
    let p = tb.spawn_in(a.netns(), "ip", ["netns", "add", "qdhcp-foo"], &[], None).expect("spawn");
    let status = p.wait_timeout(T).expect("wait").expect("ip netns add finished");
    assert!(status.success(), "{}", p.read_log());

    let on_a = a.exec_ok(["ip", "netns", "list"]).expect("list on a");
    assert!(on_a.contains("qdhcp-foo"), "{on_a}");
    assert!(!on_a.contains(&tb.netns_name("")), "host A must not see the machine's namespaces: {on_a}");
    let on_b = b.exec_ok(["ip", "netns", "list"]).expect("list on b");
    assert!(!on_b.contains("qdhcp-foo"), "{on_b}");
    let in_root = neutrino_testbed::list_netns().expect("root list");
    assert!(!in_root.iter().any(|n| n == "qdhcp-foo"), "{in_root:?}");

    // The host's namespaces are usable from the host, and its /sys shows its own devices.
    let inside = a.exec_ok(["ip", "netns", "exec", "qdhcp-foo", "ip", "-o", "link"]).expect("exec in qdhcp-foo");
    assert!(inside.contains("lo:"), "{inside}");
    let sys = a.exec_ok(["ls", "/sys/class/net"]).expect("ls /sys/class/net");
    let mut devs: Vec<&str> = sys.split_whitespace().collect();
    devs.sort();
    assert_eq!(devs, ["eth0", "lo"]);
    // A second process on the same host shares the host's mount namespace.
    let p = tb.spawn_in(a.netns(), "ip", ["netns", "del", "qdhcp-foo"], &[], None).expect("spawn del");
    assert!(p.wait_timeout(T).expect("wait").is_some_and(|s| s.success()), "{}", p.read_log());
    assert!(!a.exec_ok(["ip", "netns", "list"]).expect("list").contains("qdhcp-foo"));
}

#[test]
fn code_of_the_test_runs_in_the_controller_namespace() {
    let Some(tb) = common::testbed("innetns") else { return };
    let h1 = tb.add_host("h1").expect("h1");
    let ctl = tb.controller_ip();

    // A std listener bound inside the controller namespace, used from this thread afterwards.
    let listener = tb.in_netns(tb.controller().netns(), || TcpListener::bind((ctl, 0))).expect("setns").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let script = format!("echo hello-from-h1 > /dev/tcp/{ctl}/{port}");
    let out = h1.exec(["bash", "-c", &script]).expect("bash");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (mut conn, peer) = listener.accept().expect("accept");
    assert_eq!(peer.ip(), std::net::IpAddr::V4(h1.underlay_ip()));
    let mut got = String::new();
    conn.read_to_string(&mut got).expect("read");
    assert_eq!(got.trim(), "hello-from-h1");
    // The controller address does not exist in this (root) namespace.
    assert!(TcpListener::bind((ctl, 0)).is_err());

    // A tokio server in a background thread of the controller namespace, reached from host h1.
    let (tx, rx) = std::sync::mpsc::channel();
    let server = tb
        .thread_in(tb.controller().netns(), "ctl-server", move || -> std::io::Result<String> {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            rt.block_on(async move {
                let l = tokio::net::TcpListener::bind((ctl, 0)).await?;
                let _ = tx.send(l.local_addr()?.port());
                let (mut s, _) = l.accept().await?;
                let mut buf = String::new();
                tokio::io::AsyncReadExt::read_to_string(&mut s, &mut buf).await?;
                Ok(buf)
            })
        })
        .expect("thread_in");
    let port = rx.recv_timeout(T).expect("server port");
    // A client in h1's namespace, run from this process with block_on_in.
    let sent = tb
        .block_on_in(h1.netns(), move || async move {
            let mut s = tokio::net::TcpStream::connect((ctl, port)).await?;
            tokio::io::AsyncWriteExt::write_all(&mut s, b"over the underlay").await?;
            std::io::Result::Ok(())
        })
        .expect("setns");
    sent.expect("client");
    let got = server.join().expect("server thread").expect("server");
    assert_eq!(got, "over the underlay");

    // Entering a namespace that does not exist is an error, not a panic.
    assert!(tb.in_netns("nt-no-such-namespace", || ()).is_err());
    assert!(tb.thread_in("nt-no-such-namespace", "x", || ()).is_err());
    // std sockets from in_netns work with the wait helper too.
    wait_until(T, Duration::from_millis(20), || {
        tb.in_netns(h1.netns(), || TcpStream::connect_timeout(&(ctl, 9).into(), Duration::from_millis(200)).is_err())
            .unwrap_or(false)
    })
    .expect("nothing listens on port 9");
}
