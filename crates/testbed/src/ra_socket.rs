//! Router solicitation out, router advertisement in, on a raw ICMPv6 socket of the calling
//! thread's namespace (see [`crate::vm::Vm::router_advert`]), and the advertisement's parser
//! (RFC 4861 4.2, options 3 prefix, 5 MTU, 24 route, 25 RDNSS).

use std::io;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use crate::vm6::{RaPrefix, RouterAdvert};

const ROUTER_SOLICITATION: u8 = 133;
const ROUTER_ADVERTISEMENT: u8 = 134;

/// Sends a router solicitation to ff02::2 out of `eth0` and waits for an advertisement.
pub(crate) fn receive_ra(timeout: Duration) -> io::Result<Option<RouterAdvert>> {
    let check = |rc: libc::c_int| if rc < 0 { Err(io::Error::last_os_error()) } else { Ok(rc) };
    // SAFETY: plain socket calls on a descriptor this function owns and closes; every pointer
    // passed points at a live local of the size given.
    unsafe {
        let fd = check(libc::socket(libc::AF_INET6, libc::SOCK_RAW | libc::SOCK_CLOEXEC, libc::IPPROTO_ICMPV6))?;
        let result = (|| {
            let hops: libc::c_int = 255;
            check(libc::setsockopt(
                fd,
                libc::IPPROTO_IPV6,
                libc::IPV6_MULTICAST_HOPS,
                (&hops as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            ))?;
            let tv = libc::timeval { tv_sec: 0, tv_usec: 200_000 };
            check(libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_RCVTIMEO,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            ))?;
            let all_routers: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
            let to = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: 0,
                sin6_flowinfo: 0,
                sin6_addr: libc::in6_addr { s6_addr: all_routers.octets() },
                sin6_scope_id: libc::if_nametoindex(c"eth0".as_ptr()),
            };
            let len = std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            // Type, code, checksum (the kernel's), reserved.
            let rs = [ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0];
            let deadline = Instant::now() + timeout;
            let mut next_rs = Instant::now();
            let mut buf = [0u8; 1500];
            while Instant::now() < deadline {
                if Instant::now() >= next_rs {
                    let to_ptr = (&to as *const libc::sockaddr_in6).cast();
                    if libc::sendto(fd, rs.as_ptr().cast(), rs.len(), 0, to_ptr, len) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                    next_rs = Instant::now() + Duration::from_secs(2);
                }
                let mut from: libc::sockaddr_in6 = std::mem::zeroed();
                let mut from_len = len;
                let from_ptr = (&mut from as *mut libc::sockaddr_in6).cast();
                let n = libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), 0, from_ptr, &mut from_len);
                if n < 0 {
                    let e = io::Error::last_os_error();
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) {
                        continue;
                    }
                    return Err(e);
                }
                let source = Ipv6Addr::from(from.sin6_addr.s6_addr);
                if let Some(ra) = parse_ra(source, &buf[..n as usize]) {
                    return Ok(Some(ra));
                }
            }
            Ok(None)
        })();
        libc::close(fd);
        result
    }
}

/// A router advertisement's ICMPv6 message (from its type on); `None` for anything else.
pub(crate) fn parse_ra(source: Ipv6Addr, msg: &[u8]) -> Option<RouterAdvert> {
    if msg.len() < 16 || msg[0] != ROUTER_ADVERTISEMENT {
        return None;
    }
    let mut ra = RouterAdvert {
        source,
        managed: msg[5] & 0x80 != 0,
        other: msg[5] & 0x40 != 0,
        lifetime: u16::from_be_bytes([msg[6], msg[7]]),
        prefixes: Vec::new(),
        dns: Vec::new(),
        mtu: None,
        routes: Vec::new(),
    };
    let mut opts = &msg[16..];
    while opts.len() >= 8 {
        let len = usize::from(opts[1]) * 8;
        if len == 0 || len > opts.len() {
            break;
        }
        let opt = &opts[..len];
        let addr = |at: usize| opt.get(at..at + 16).and_then(|b| <[u8; 16]>::try_from(b).ok()).map(Ipv6Addr::from);
        match opt[0] {
            3 if len == 32 => {
                let prefix = addr(16)?;
                ra.prefixes.push(RaPrefix {
                    prefix: format!("{prefix}/{}", opt[2]),
                    on_link: opt[3] & 0x80 != 0,
                    autonomous: opt[3] & 0x40 != 0,
                });
            }
            5 => ra.mtu = Some(u32::from_be_bytes([opt[4], opt[5], opt[6], opt[7]])),
            24 => {
                let mut octets = [0u8; 16];
                let known = &opt[8..];
                octets[..known.len().min(16)].copy_from_slice(&known[..known.len().min(16)]);
                ra.routes.push(format!("{}/{}", Ipv6Addr::from(octets), opt[2]));
            }
            25 => ra.dns.extend((8..len).step_by(16).filter_map(addr)),
            _ => {}
        }
        opts = &opts[len..];
    }
    Some(ra)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_flags_prefix_mtu_route_and_rdnss() {
        let mut msg = vec![134, 0, 0, 0, 64, 0xc0, 0x07, 0x08, 0, 0, 0, 0, 0, 0, 0, 0];
        // Prefix 2001:db8::/64, L and A.
        msg.extend([3, 4, 64, 0xc0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]);
        msg.extend("2001:db8::".parse::<Ipv6Addr>().unwrap().octets());
        msg.extend([5, 1, 0, 0, 0, 0, 5, 0xaa]);
        // Route fe80::a9fe:a9fe/128 (length 3: the whole prefix).
        msg.extend([24, 3, 128, 0, 0, 0, 0, 1]);
        msg.extend("fe80::a9fe:a9fe".parse::<Ipv6Addr>().unwrap().octets());
        msg.extend([25, 3, 0, 0, 0, 0, 0, 1]);
        msg.extend("2001:db8::53".parse::<Ipv6Addr>().unwrap().octets());
        let ra = parse_ra(Ipv6Addr::LOCALHOST, &msg).unwrap();
        assert!(ra.managed && ra.other);
        assert_eq!(ra.lifetime, 0x0708);
        assert_eq!(ra.prefixes, vec![RaPrefix { prefix: "2001:db8::/64".into(), on_link: true, autonomous: true }]);
        assert_eq!(ra.mtu, Some(1450));
        assert_eq!(ra.routes, vec!["fe80::a9fe:a9fe/128".to_string()]);
        assert_eq!(ra.dns, vec!["2001:db8::53".parse::<Ipv6Addr>().unwrap()]);
        assert_eq!(parse_ra(Ipv6Addr::LOCALHOST, &[133, 0, 0, 0, 0, 0, 0, 0]), None);
    }
}
