//! Named network namespaces, made the way `ip netns` makes them, without running `ip`.
//!
//! A named namespace is a file `<dir>/<name>` (`/run/netns/<name>`) onto which a thread's
//! `/proc/thread-self/ns/net` is bind-mounted: the mount keeps the namespace alive with no
//! process in it, and opening the file gives a descriptor to `setns` into. Like iproute2,
//! [`NetnsDir::create`] first makes the directory a shared mount (binding it onto itself if
//! it is not a mount point yet), so that a namespace deleted here is unmounted in every
//! mount namespace that copied it meanwhile, and the kernel can free it.
//!
//! Everything here acts in the *calling thread's* mount namespace: the agent runs in a host
//! whose `/run/netns` may be private to it (the testbed gives each host its own), and its
//! `qdhcp-` namespaces must stay there.
//!
//! Network namespaces are per thread: [`NetnsDir::create`] unshares on a short-lived helper
//! thread, and [`NetnsDir::run_in`]/[`NetnsDir::block_on_in`] run the caller's code on a
//! fresh thread that has `setns`'d into the namespace, so the caller's thread (and the
//! agent's runtime) never change namespace. Threads inherit the namespaces of the thread
//! that spawns them, so the caller's mount namespace is kept.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::future::Future;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::enter::setns;
use super::NetnsError;

/// Where iproute2 keeps named network namespaces.
pub const SYSTEM_NETNS_DIR: &str = "/run/netns";

/// `statfs` magic of nsfs, the file system of `/proc/<pid>/ns/*`.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// A directory of named network namespaces (`/run/netns` unless told otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetnsDir {
    dir: PathBuf,
}

impl Default for NetnsDir {
    fn default() -> Self {
        NetnsDir::new(SYSTEM_NETNS_DIR)
    }
}

impl NetnsDir {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        NetnsDir { dir: dir.into() }
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of the namespace `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn checked_path(&self, name: &str) -> Result<PathBuf, NetnsError> {
        let ok = !name.is_empty()
            && name != "."
            && name != ".."
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !ok {
            return Err(NetnsError::InvalidName(name.to_owned()));
        }
        Ok(self.path(name))
    }

    /// Whether `name` exists and is a live namespace (its file is an nsfs mount), not a
    /// file left behind by a crash between creating and mounting it.
    pub fn exists(&self, name: &str) -> Result<bool, NetnsError> {
        let path = self.checked_path(name)?;
        match File::open(&path) {
            Ok(file) => is_nsfs(&file).map_err(|e| NetnsError::io(name, "statfs its file", e)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(NetnsError::io(name, "open its file", e)),
        }
    }

    /// `ip netns add <name>`; `Ok(false)` when it already exists (a stale, unmounted file of
    /// that name is replaced).
    pub fn create(&self, name: &str) -> Result<bool, NetnsError> {
        let path = self.checked_path(name)?;
        if self.exists(name)? {
            return Ok(false);
        }
        self.make_shared_dir(name)?;
        match std::fs::remove_file(&path) {
            Ok(()) => tracing::debug!(netns = name, "removed a stale namespace file"),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(NetnsError::io(name, "remove a stale namespace file", e)),
        }
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o000)
            .open(&path)
            .map_err(|e| NetnsError::io(name, "create its file", e))?;
        let target = path.clone();
        let mounted = std::thread::Builder::new()
            .name("netns-create".into())
            .spawn(move || -> io::Result<()> {
                // SAFETY: unshare only changes this helper thread's namespaces; it ends right after.
                if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                mount(Path::new("/proc/thread-self/ns/net"), &target, libc::MS_BIND)
            })
            .map_err(|e| NetnsError::io(name, "spawn a thread", e))?
            .join()
            .map_err(|_| NetnsError::Panicked { name: name.to_owned() })?;
        if let Err(e) = mounted {
            let _ = std::fs::remove_file(&path);
            return Err(NetnsError::io(name, "bind-mount a new namespace onto its file", e));
        }
        Ok(true)
    }

    /// Makes the directory exist and be a shared mount point, as iproute2 does.
    fn make_shared_dir(&self, name: &str) -> Result<(), NetnsError> {
        std::fs::create_dir_all(&self.dir).map_err(|e| NetnsError::io(name, "create the namespace directory", e))?;
        let shared = libc::MS_SHARED | libc::MS_REC;
        match mount_flags(&self.dir, shared) {
            Ok(()) => Ok(()),
            // Not a mount point yet: bind it onto itself, then share it.
            Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                mount(&self.dir, &self.dir, libc::MS_BIND | libc::MS_REC)
                    .and_then(|()| mount_flags(&self.dir, shared))
                    .map_err(|e| NetnsError::io(name, "make the namespace directory a shared mount", e))
            }
            Err(e) => Err(NetnsError::io(name, "make the namespace directory a shared mount", e)),
        }
    }

    /// `ip netns delete <name>`: unmounts and removes its file; the kernel frees the
    /// namespace (and destroys its devices, veth peers included) once no process is left in
    /// it. `Ok(false)` when there was nothing to delete.
    pub fn delete(&self, name: &str) -> Result<bool, NetnsError> {
        let path = self.checked_path(name)?;
        let c = cpath(&path).map_err(|e| NetnsError::io(name, "name its file", e))?;
        // SAFETY: a valid NUL-terminated path; MNT_DETACH has no other precondition.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } != 0 {
            let e = io::Error::last_os_error();
            // EINVAL: not mounted (a stale file); ENOENT: no file at all.
            if !matches!(e.raw_os_error(), Some(libc::EINVAL) | Some(libc::ENOENT)) {
                return Err(NetnsError::io(name, "unmount its file", e));
            }
        }
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(NetnsError::io(name, "remove its file", e)),
        }
    }

    /// Names of the namespaces starting with `prefix` (`qdhcp-`), sorted. A missing
    /// directory has none.
    pub fn list(&self, prefix: &str) -> io::Result<Vec<String>> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        for entry in entries {
            if let Some(name) = entry?.file_name().to_str() {
                if name.starts_with(prefix) {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Opens the namespace for `setns` (the descriptor is close-on-exec).
    pub fn open(&self, name: &str) -> Result<File, NetnsError> {
        let path = self.checked_path(name)?;
        let file = File::open(&path).map_err(|e| NetnsError::io(name, "open its file", e))?;
        match is_nsfs(&file) {
            Ok(true) => Ok(file),
            Ok(false) => Err(NetnsError::io(name, "open it", io::Error::other("its file is not a namespace"))),
            Err(e) => Err(NetnsError::io(name, "statfs its file", e)),
        }
    }

    /// Runs `f` on a fresh thread inside the namespace and returns its result (a panic in
    /// `f` is propagated).
    pub fn run_in<R, F>(&self, name: &str, f: F) -> Result<R, NetnsError>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let ns = self.open(name)?;
        std::thread::scope(|s| {
            let handle = std::thread::Builder::new()
                .name("netns-run".into())
                .spawn_scoped(s, move || {
                    setns(&ns).map_err(|e| NetnsError::io(name, "enter it (setns)", e))?;
                    drop(ns);
                    Ok(f())
                })
                .map_err(|e| NetnsError::io(name, "spawn a thread", e))?;
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Runs the future `make` returns on a current-thread tokio runtime, on a fresh thread
    /// inside the namespace: rtnetlink connections it opens live in that namespace.
    ///
    /// Blocks the calling thread; from async code, call it inside `spawn_blocking`.
    pub fn block_on_in<F, Fut>(&self, name: &str, make: F) -> Result<Fut::Output, NetnsError>
    where
        F: FnOnce() -> Fut + Send,
        Fut: Future,
        Fut::Output: Send,
    {
        self.run_in(name, move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| NetnsError::io(name, "build a runtime inside it", e))?;
            Ok(rt.block_on(make()))
        })?
    }
}

fn is_nsfs(file: &File) -> io::Result<bool> {
    // SAFETY: statfs is plain old data, filled in by the kernel.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid descriptor and a valid out-pointer.
    if unsafe { libc::fstatfs(file.as_raw_fd(), &mut st) } != 0 {
        return Err(io::Error::last_os_error());
    }
    #[allow(clippy::unnecessary_cast)] // f_type is i64 on x86_64, other widths elsewhere
    Ok(st.f_type as i64 == NSFS_MAGIC)
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))
}

/// `mount --bind <source> <target>` (with `flags`).
fn mount(source: &Path, target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    let (s, t, none) = (cpath(source)?, cpath(target)?, c"none");
    // SAFETY: valid NUL-terminated strings; no data argument.
    if unsafe { libc::mount(s.as_ptr(), t.as_ptr(), none.as_ptr(), flags, std::ptr::null()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `mount --make-<flags> <target>`: changes the propagation of an existing mount.
fn mount_flags(target: &Path, flags: libc::c_ulong) -> io::Result<()> {
    let (t, none) = (cpath(target)?, c"none");
    // SAFETY: valid NUL-terminated strings; no data argument.
    if unsafe { libc::mount(none.as_ptr(), t.as_ptr(), none.as_ptr(), flags, std::ptr::null()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
