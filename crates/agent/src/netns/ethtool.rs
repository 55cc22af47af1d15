//! `ethtool -K <dev> tx off` on a namespace's device, over the `SIOCETHTOOL` ioctl.
//!
//! Why: a veth hands its peer packets whose TCP/UDP checksum is left partial (checksum
//! offload), which the kernel's own forwarding completes. Open vSwitch's userspace datapath
//! (`datapath_type=netdev`) reads the peer raw over `AF_PACKET` and sends the packet on as
//! it is, so a guest gets a DHCP offer with a bad UDP checksum and drops it. Neutron's
//! interface driver turns the offload off on such hosts for the same reason.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `struct ethtool_value` of `<linux/ethtool.h>`.
#[repr(C)]
struct EthtoolValue {
    cmd: u32,
    data: u32,
}

/// `ETHTOOL_STXCSUM`: set transmit checksum offload.
const ETHTOOL_STXCSUM: u32 = 0x0000_0017;

/// Turns the transmit checksum offload of `dev` (in the calling thread's network namespace)
/// off: its packets leave with complete checksums.
pub fn disable_tx_checksum(dev: &str) -> io::Result<()> {
    let name = dev.as_bytes();
    // SAFETY: `ifreq` is plain old data; all-zeroes is a valid value.
    let mut ifr: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= ifr.ifr_name.len() || name.contains(&0) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("device name {dev:?}")));
    }
    for (slot, byte) in ifr.ifr_name.iter_mut().zip(name) {
        *slot = *byte as libc::c_char;
    }
    let mut value = EthtoolValue { cmd: ETHTOOL_STXCSUM, data: 0 };
    ifr.ifr_ifru.ifru_data = (&mut value as *mut EthtoolValue).cast();
    // SAFETY: a plain socket call; the descriptor is owned (and closed) below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by socket(2) and is owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: SIOCETHTOOL reads `ifr` and the `ethtool_value` its data points to, both alive
    // for the call.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCETHTOOL, &mut ifr) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_too_long_for_the_kernel_is_refused_before_any_call() {
        let err = disable_tx_checksum("a-name-far-too-long").unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_missing_device_is_the_kernels_error() {
        let err = disable_tx_checksum("nt-no-such-0").unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ENODEV), "{err}");
    }
}
