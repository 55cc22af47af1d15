//! Processes (stop, restart, kill on drop) and cleanup: after a drop, a panic, or the death of the
//! test process, nothing of a testbed remains.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod common;

use std::path::Path;
use std::time::Duration;

use neutrino_testbed::{cleanup_stale, wait_until, Signal};

const T: Duration = Duration::from_secs(5);

fn alive(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would show state Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[test]
fn processes_stop_restart_and_die_with_the_testbed() {
    let Some(tb) = common::testbed("procs") else { return };
    let h1 = tb.add_host("h1").expect("h1");
    let script = "echo started in $(cat /proc/self/net/dev | grep -c eth0) $GREETING; exec sleep 1000";
    let p = tb.spawn_in(h1.netns(), "sh", ["-c", script], &[("GREETING", "hello")], None).expect("spawn");
    assert!(p.log_path().starts_with(tb.log_dir()));
    wait_until(T, Duration::from_millis(20), || p.read_log().contains("started in 1 hello")).expect("log");
    assert!(p.is_running());
    assert!(std::fs::read(format!("/proc/{}/environ", p.pid()))
        .expect("environ")
        .windows(11)
        .any(|w| w == b"NEUTRINO_TE"));

    // stop: SIGTERM kills sh/sleep at once.
    let status = p.stop(T).expect("stop");
    assert!(!status.success());
    assert!(!p.is_running());
    p.signal(Signal::Term).expect("signalling an exited process is a no-op");

    // restart: same program, same log (appended).
    let p2 = tb.restart(&p, T).expect("restart");
    assert_ne!(p2.pid(), p.pid());
    wait_until(T, Duration::from_millis(20), || p2.read_log().matches("hello").count() == 2).expect("second start");

    // A process that ignores SIGTERM is killed after the grace period.
    let stubborn = "trap '' TERM; echo ready; while true; do sleep 0.05; done";
    let p3 = tb.spawn_in(tb.controller().netns(), "sh", ["-c", stubborn], &[], None).expect("spawn stubborn");
    wait_until(T, Duration::from_millis(20), || p3.read_log().contains("ready")).expect("stubborn ready");
    let status = p3.stop(Duration::from_millis(200)).expect("stop stubborn");
    assert!(!status.success());

    // A process in a VM, and one left running: both die with the testbed.
    let vm = tb.add_vm(&h1, "vm1", "tap1", "fa:16:3e:00:00:01", 1500).expect("vm");
    let in_vm = tb.spawn_in(vm.netns(), "sleep", ["1000"], &[], Some(&tb.log_dir().join("vm.log"))).expect("vm proc");
    let pids = [p2.pid(), in_vm.pid()];
    let tag = tb.tag().to_string();
    let log_dir = tb.log_dir().to_path_buf();
    drop(tb);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived the testbed");
    }
    assert!(common::netns_with_tag(&tag).is_empty());
    assert!(!log_dir.exists(), "logs of a passing test are removed");
    assert!(!Path::new(neutrino_testbed::OWNERS_DIR).join(&tag).exists());
}

#[test]
fn drop_deletes_every_namespace_even_on_panic() {
    let Some(tb) = common::testbed("drop") else { return };
    let h1 = tb.add_host("h1").expect("h1");
    let h2 = tb.add_host("h2").expect("h2");
    tb.add_vm(&h1, "vm1", "tap1", "fa:16:3e:00:00:01", 1500).expect("vm1");
    tb.add_vm(&h2, "vm2", "tap2", "fa:16:3e:00:00:02", 1500).expect("vm2");
    let tag = tb.tag().to_string();
    assert_eq!(common::netns_with_tag(&tag).len(), 6, "fabric, ctl, 2 hosts, 2 VMs");
    drop(tb);
    assert_eq!(common::netns_with_tag(&tag), Vec::<String>::new());

    // A panicking test: the namespaces go, the logs stay for the post-mortem.
    let (tx, rx) = std::sync::mpsc::channel();
    let joined = std::thread::spawn(move || {
        let tb = common::testbed("panic").expect("preflight passed a moment ago");
        let h = tb.add_host("h1").expect("h1");
        tb.spawn_in(h.netns(), "sh", ["-c", "echo post-mortem; exec sleep 1000"], &[], None).expect("spawn");
        tx.send((tb.tag().to_string(), tb.log_dir().to_path_buf())).expect("send");
        std::thread::sleep(Duration::from_millis(200));
        panic!("deliberate failure");
    })
    .join();
    assert!(joined.is_err());
    let (tag, log_dir) = rx.recv().expect("tag");
    assert!(common::netns_with_tag(&tag).is_empty());
    let logs: Vec<_> = std::fs::read_dir(&log_dir).expect("kept log dir").flatten().collect();
    let text = std::fs::read_to_string(logs[0].path()).expect("log");
    assert!(text.contains("post-mortem"), "{text}");
    std::fs::remove_dir_all(&log_dir).expect("remove kept logs");
}

/// Not a test by itself: run by `stale_testbed_of_a_dead_process_is_swept` in a child process
/// that exits without dropping its testbed, as a test killed by a timeout would.
#[test]
#[ignore = "helper, does nothing unless run by stale_testbed_of_a_dead_process_is_swept"]
fn leak_helper() {
    if std::env::var_os("NEUTRINO_TESTBED_LEAK_HELPER").is_none() {
        return;
    }
    let tb = common::testbed("leak").expect("testbed");
    let h = tb.add_host("h1").expect("h1");
    tb.add_vm(&h, "vm1", "tap1", "fa:16:3e:00:00:01", 1500).expect("vm");
    tb.spawn_in(h.netns(), "sleep", ["1000"], &[], None).expect("spawn");
    println!("LEAKED-TAG={}", tb.tag());
    std::process::exit(0);
}

#[test]
fn stale_testbed_of_a_dead_process_is_swept() {
    if let Err(why) = neutrino_testbed::preflight() {
        assert!(std::env::var_os("CI").is_none(), "cannot run under CI: {why}");
        eprintln!("skipped: {why}");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args(["--exact", "leak_helper", "--ignored", "--nocapture", "--test-threads=1"])
        .env("NEUTRINO_TESTBED_LEAK_HELPER", "1")
        .output()
        .expect("run helper");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let tag = stdout
        .lines()
        .find_map(|l| l.split("LEAKED-TAG=").nth(1))
        .unwrap_or_else(|| panic!("helper printed no tag: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    // Another test's `Testbed::new` may sweep it first (tests run in parallel), hence no
    // assertion on what is left before the sweep.
    let left = common::netns_with_tag(tag);
    eprintln!("left behind: {left:?}");
    let removed = cleanup_stale().expect("sweep");
    eprintln!("swept: {removed:?}");
    assert!(common::netns_with_tag(tag).is_empty());
    assert!(neutrino_testbed::cmd::pids_with_tag(tag).is_empty());
    let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("neutrino-testbed-leak-{tag}")));
}
