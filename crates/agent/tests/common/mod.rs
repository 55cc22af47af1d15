//! The sandbox the agent's kernel tests run in: one thread with a private mount namespace
//! (a tmpfs for named namespaces, like a testbed host's private `/run/netns`) and a fresh
//! network namespace standing for the host, so nothing touches the machine's own, and the
//! kernel frees all of it when the thread ends.
#![allow(dead_code)] // each test file uses its own part

use std::path::{Path, PathBuf};
use std::process::Child;

/// Whether the test can run here: root and each of `binaries`. Under `CI` a test that
/// cannot run fails; elsewhere it prints why and skips (`false`).
pub fn runnable(binaries: &[&str], install: &str) -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let why = if unsafe { libc::geteuid() } != 0 {
        Some("needs root (namespaces, mounts)".to_string())
    } else {
        binaries.iter().find(|b| !Path::new(b).exists()).map(|b| format!("{b} missing (apt-get install {install})"))
    };
    let Some(why) = why else { return true };
    assert!(std::env::var_os("CI").is_none(), "cannot run under CI: {why}");
    eprintln!("skipped: {why}");
    false
}

fn check(rc: libc::c_int, what: &str) {
    assert_eq!(rc, 0, "{what}: {}", std::io::Error::last_os_error());
}

/// Runs `body` on a thread with a private mount namespace, a tmpfs at `<dir>/netns` and a
/// fresh network namespace (the "host"), with a current-thread runtime.
pub fn in_sandbox<F, Fut>(dir: &Path, body: F)
where
    F: FnOnce(PathBuf) -> Fut + Send,
    Fut: std::future::Future<Output = ()>,
{
    let netns_dir = dir.join("netns");
    std::fs::create_dir_all(&netns_dir).unwrap();
    std::thread::scope(|s| {
        let handle = s.spawn(move || {
            // SAFETY: these only change this thread's namespaces and its view of mounts.
            unsafe {
                check(libc::unshare(libc::CLONE_FS | libc::CLONE_NEWNS), "unshare mount namespace");
                let private = libc::MS_REC | libc::MS_PRIVATE;
                check(
                    libc::mount(std::ptr::null(), c"/".as_ptr(), std::ptr::null(), private, std::ptr::null()),
                    "make / private",
                );
                let target = std::ffi::CString::new(netns_dir.to_str().unwrap()).unwrap();
                check(
                    libc::mount(c"netns".as_ptr(), target.as_ptr(), c"tmpfs".as_ptr(), 0, c"mode=0755".as_ptr().cast()),
                    "mount tmpfs",
                );
                check(libc::unshare(libc::CLONE_NEWNET), "unshare network namespace");
            }
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(body(netns_dir));
        });
        if let Err(panic) = handle.join() {
            std::panic::resume_unwind(panic);
        }
    });
}

/// Processes started in the sandbox, killed when dropped (also on panic) so nothing keeps
/// its namespaces alive.
#[derive(Default)]
pub struct Children(pub Vec<Child>);

impl Drop for Children {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `argv` to run inside the namespace `ns` of `netns` (`ip netns exec`), stdin closed:
/// the agent's own [`neutrino_agent::netns::exec_in`], the namespace kept open by the
/// command until it is dropped.
pub fn command_in(netns: &neutrino_agent::netns::NetnsDir, ns: &str, argv: &[&str]) -> std::process::Command {
    use std::os::unix::process::CommandExt;
    let file: std::fs::File = netns.open(ns).unwrap();
    let mut cmd = std::process::Command::new(argv[0]);
    cmd.args(&argv[1..]).stdin(std::process::Stdio::null());
    neutrino_agent::netns::exec_in(&mut cmd, &file);
    // SAFETY: the closure does nothing in the child; it only owns `file`, so the descriptor
    // exec_in's closure enters stays open as long as the command.
    unsafe {
        cmd.pre_exec(move || {
            let _keep = &file;
            Ok(())
        });
    }
    cmd
}
