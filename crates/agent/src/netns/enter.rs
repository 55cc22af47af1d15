//! Entering a network namespace: the one place that calls `setns(2)`.
//!
//! A namespace is per thread, so it is entered only by a thread that ends right after its
//! work (see [`super::NetnsDir::run_in`] and [`super::listen_in`]) or by a child process
//! between fork and exec ([`exec_in`]); the agent's runtime threads never change namespace.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::Command;

/// Moves the calling thread into the network namespace `ns`.
#[allow(clippy::disallowed_methods)] // the one place allowed to call setns(2)
pub fn setns(ns: &File) -> io::Result<()> {
    // SAFETY: setns(2) on a descriptor we hold open only changes the calling thread's
    // network namespace; it touches no memory of ours.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Makes `cmd`'s child enter the namespace `ns` between fork and exec. `ns` must stay open
/// until the child has been spawned (it is close-on-exec, so the program does not keep it).
#[allow(clippy::disallowed_methods)] // the one place allowed to call setns(2)
pub fn exec_in(cmd: &mut Command, ns: &File) {
    let fd = ns.as_raw_fd();
    // SAFETY: the closure runs in the child between fork and exec, where only
    // async-signal-safe calls are allowed: it makes one, setns(2), on a descriptor opened
    // (close-on-exec) before the fork, reads errno and allocates nothing.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}
