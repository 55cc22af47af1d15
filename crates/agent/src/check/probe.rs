//! VXLAN reachability probes, and the responder every agent runs to answer them.
//!
//! The kernel's vxlan devices own UDP 4789, so no program can listen there. A probe that
//! proves the way *into UDP 4789* of a peer must therefore be answered after the peer's
//! kernel took it in as VXLAN. Every agent keeps a probe device `nt-probe` (VXLAN, the
//! reserved VNI [`PROBE_VNI`], `nolearning`, bridged to nothing) and reads frames of the
//! experimental ethertype [`PROBE_ETHERTYPE`] from it with a packet socket. A prober sends a
//! VXLAN packet to the peer's UDP 4789 carrying such a frame, with a nonce and where to
//! answer; the peer's agent answers from its probe port (default 4790). It also sends a
//! plain echo to the probe port. Answers tell apart:
//!
//! * both: UDP 4789 from here reaches the peer's kernel (routing, ACLs on the way, the
//!   peer's own nftables input rules) and the way back reaches us;
//! * the echo only: the peer is there but UDP 4789 towards it is dropped;
//! * neither: the peer is unreachable, or the probe port is blocked, or its agent is down.
//!
//! What it does not prove: that the peer's answer *to our* UDP 4789 passes (that is what the
//! peer's own check proves), nor that a tenant network's VNI is configured on the peer. The
//! source port differs from the kernel's (which hashes flows over a range), as it does
//! between any two real VXLAN flows. The responder answers at most the request's size to
//! the address in it, so it amplifies nothing.

use super::remote::{ProbeResult, Prober};
use futures::future::BoxFuture;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

/// The probe device's VNI: the last of the 24-bit range, outside any default `vni_ranges`.
pub const PROBE_VNI: u32 = 0x00ff_ffff;
/// IEEE 802 "local experimental" ethertype 1.
pub const PROBE_ETHERTYPE: u16 = 0x88b5;
/// The probe device's name (no `vxlan-` prefix: the L2 reconciler leaves it alone).
pub const PROBE_DEVICE: &str = "nt-probe";
/// VXLAN's IANA port.
pub const VXLAN_PORT: u16 = 4789;

const MAGIC: &[u8; 8] = b"NTPROBE1";

/// A probe message's kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Echo = b'E' as isize,
    EchoReply = b'e' as isize,
    Vxlan = b'V' as isize,
    VxlanReply = b'v' as isize,
}

/// A probe message: its kind, nonce and (for [`Kind::Vxlan`]) where to answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Message {
    pub kind: Kind,
    pub nonce: u64,
    pub reply_to: Option<SocketAddr>,
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(self.kind as u8);
        out.extend(self.nonce.to_be_bytes());
        if let Some(addr) = self.reply_to {
            let (family, ip) = match addr.ip() {
                IpAddr::V4(v4) => (4u8, v4.to_ipv6_mapped().octets()),
                IpAddr::V6(v6) => (6u8, v6.octets()),
            };
            out.push(family);
            out.extend(ip);
            out.extend(addr.port().to_be_bytes());
        }
        out
    }

    pub fn decode(b: &[u8]) -> Option<Message> {
        if b.len() < 17 || &b[..8] != MAGIC {
            return None;
        }
        let kind = match b[8] {
            b'E' => Kind::Echo,
            b'e' => Kind::EchoReply,
            b'V' => Kind::Vxlan,
            b'v' => Kind::VxlanReply,
            _ => return None,
        };
        let nonce = u64::from_be_bytes(b[9..17].try_into().ok()?);
        let reply_to = (b.len() >= 36).then(|| {
            let ip: [u8; 16] = b[18..34].try_into().ok()?;
            let ip = Ipv6Addr::from(ip);
            let ip = if b[17] == 4 { IpAddr::V4(ip.to_ipv4_mapped()?) } else { IpAddr::V6(ip) };
            Some(SocketAddr::new(ip, u16::from_be_bytes([b[34], b[35]])))
        });
        Some(Message { kind, nonce, reply_to: reply_to.flatten() })
    }
}

/// A VXLAN packet (header, broadcast Ethernet frame of [`PROBE_ETHERTYPE`]) carrying `msg`.
pub fn vxlan_packet(msg: &Message) -> Vec<u8> {
    let vni = PROBE_VNI.to_be_bytes();
    let mut out = vec![0x08, 0, 0, 0, vni[1], vni[2], vni[3], 0];
    out.extend([0xff; 6]);
    out.extend([0x02, 0x6e, 0x74, 0x70, 0x72, 0x62]);
    out.extend(PROBE_ETHERTYPE.to_be_bytes());
    let mut payload = msg.encode();
    payload.resize(payload.len().max(46), 0);
    out.extend(payload);
    out
}

/// Starts answering probes on `local:port` and through the probe device, on threads for the
/// life of the process. The echo half works without the device; a device that cannot be
/// made is only logged (peers then see UDP 4789 to here as blocked, and say so).
pub fn start_responder(local: IpAddr, port: u16) -> io::Result<()> {
    let socket = UdpSocket::bind((local, port))?;
    let echo = socket.try_clone()?;
    std::thread::Builder::new().name("probe-echo".into()).spawn(move || echo_loop(&echo))?;
    let device = probe_device(local).and_then(|fd| {
        std::thread::Builder::new().name("probe-vxlan".into()).spawn(move || vxlan_loop(&fd, &socket)).map(|_| ())
    });
    if let Err(e) = device {
        tracing::warn!(error = %e, device = PROBE_DEVICE, "cannot answer VXLAN probes; peers will report UDP 4789 to here as blocked");
    }
    Ok(())
}

/// Answers echo requests on `socket`, forever.
pub fn echo_loop(socket: &UdpSocket) {
    let mut buf = [0u8; 128];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf) else { continue };
        if let Some(m) = Message::decode(&buf[..n]).filter(|m| m.kind == Kind::Echo) {
            let reply = Message { kind: Kind::EchoReply, nonce: m.nonce, reply_to: None };
            let _ = socket.send_to(&reply.encode(), from);
        }
    }
}

fn vxlan_loop(fd: &OwnedFd, socket: &UdpSocket) {
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: `buf` is valid for writes of its length for the duration of the call.
        let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let Ok(n) = usize::try_from(n) else { continue };
        answer_frame(&buf[..n], socket);
    }
}

/// Answers the probe in a decapsulated frame's payload, from `socket`, where it asks.
pub fn answer_frame(payload: &[u8], socket: &UdpSocket) {
    let Some(m) = Message::decode(payload).filter(|m| m.kind == Kind::Vxlan) else { return };
    if let Some(to) = m.reply_to {
        let reply = Message { kind: Kind::VxlanReply, nonce: m.nonce, reply_to: None };
        let _ = socket.send_to(&reply.encode(), to);
    }
}

/// Makes (or finds) the probe device and opens a packet socket on it.
fn probe_device(local: IpAddr) -> io::Result<OwnedFd> {
    let (vni, local) = (PROBE_VNI.to_string(), local.to_string());
    let add =
        ["link", "add", PROBE_DEVICE, "type", "vxlan", "id", &vni, "dstport", "4789", "local", &local, "nolearning"];
    // It may be there from a previous run: then only bring it up.
    let _ = std::process::Command::new("ip").args(add).output()?;
    let up = std::process::Command::new("ip").args(["link", "set", PROBE_DEVICE, "up"]).output()?;
    if !up.status.success() {
        return Err(io::Error::other(format!(
            "ip link set {PROBE_DEVICE} up: {}",
            String::from_utf8_lossy(&up.stderr).trim()
        )));
    }
    let index = std::fs::read_to_string(format!("/sys/class/net/{PROBE_DEVICE}/ifindex"))?;
    let index: i32 = index.trim().parse().map_err(io::Error::other)?;
    packet_socket(index)
}

/// An `AF_PACKET` datagram socket receiving [`PROBE_ETHERTYPE`] frames of interface `index`.
fn packet_socket(index: i32) -> io::Result<OwnedFd> {
    let proto = PROBE_ETHERTYPE.to_be();
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, i32::from(proto)) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh descriptor nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    // SAFETY: sockaddr_ll is plain data; all-zero is a valid value.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = index;
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: `addr` is a valid sockaddr_ll of `len` bytes that outlives the call.
    let rc = unsafe { libc::bind(fd.as_raw_fd(), std::ptr::from_ref(&addr).cast(), len) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

/// Probes over real UDP: three rounds, each sending to every peer not yet fully answered
/// and waiting `round` for answers.
#[derive(Debug, Clone, Copy)]
pub struct UdpProber {
    pub round: Duration,
    /// Where VXLAN probes go (4789; tests use another port for want of a kernel device).
    pub vxlan_port: u16,
}

impl Default for UdpProber {
    fn default() -> Self {
        UdpProber { round: Duration::from_millis(500), vxlan_port: VXLAN_PORT }
    }
}

impl Prober for UdpProber {
    fn probe<'a>(
        &'a self,
        local: IpAddr,
        peers: &'a [IpAddr],
        port: u16,
    ) -> BoxFuture<'a, BTreeMap<IpAddr, ProbeResult>> {
        Box::pin(async move {
            let mut out: BTreeMap<IpAddr, ProbeResult> = peers.iter().map(|p| (*p, ProbeResult::default())).collect();
            let Ok(socket) = tokio::net::UdpSocket::bind((local, 0)).await else { return out };
            let Ok(me) = socket.local_addr() else { return out };
            let nonce: u64 = rand::random();
            for _ in 0..3 {
                let pending: BTreeSet<IpAddr> =
                    out.iter().filter(|(_, r)| !(r.echo && r.vxlan)).map(|(p, _)| *p).collect();
                if pending.is_empty() {
                    break;
                }
                for peer in &pending {
                    let echo = Message { kind: Kind::Echo, nonce, reply_to: None };
                    let _ = socket.send_to(&echo.encode(), (*peer, port)).await;
                    let vxlan = Message { kind: Kind::Vxlan, nonce, reply_to: Some(me) };
                    let _ = socket.send_to(&vxlan_packet(&vxlan), (*peer, self.vxlan_port)).await;
                }
                let _ = tokio::time::timeout(self.round, receive(&socket, nonce, &mut out)).await;
            }
            out
        })
    }
}

/// Notes answers with `nonce` until every peer answered both (or the caller's timeout).
async fn receive(socket: &tokio::net::UdpSocket, nonce: u64, out: &mut BTreeMap<IpAddr, ProbeResult>) {
    let mut buf = [0u8; 128];
    while out.values().any(|r| !(r.echo && r.vxlan)) {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else { continue };
        let Some(m) = Message::decode(&buf[..n]).filter(|m| m.nonce == nonce) else { continue };
        let Some(r) = out.get_mut(&canonical(from.ip())) else { continue };
        match m.kind {
            Kind::EchoReply => r.echo = true,
            Kind::VxlanReply => r.vxlan = true,
            _ => {}
        }
    }
}

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}
