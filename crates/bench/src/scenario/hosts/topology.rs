//! Who is where: which networks each simulated host spans, which host each measured port is
//! bound to, and therefore which hosts a port create concerns. Plain functions of the
//! sizes, so the bench and its tests agree on the expected fan-out.

use std::collections::BTreeSet;

/// The simulated cloud's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Topology {
    pub hosts: usize,
    pub networks: usize,
    /// Networks each host has a port on (capped at `networks`).
    pub span: usize,
}

impl Topology {
    /// Networks (indexes) host `h` spans: `span` consecutive ones from `h * span`, wrapping,
    /// so every network gets about `hosts * span / networks` hosts.
    pub fn networks_of(&self, h: usize) -> Vec<usize> {
        let span = self.span.min(self.networks);
        (0..span).map(|j| (h * span + j) % self.networks).collect()
    }

    /// Hosts (indexes) spanning network `n`, ascending.
    pub fn hosts_of(&self, n: usize) -> Vec<usize> {
        (0..self.hosts).filter(|&h| self.networks_of(h).contains(&n)).collect()
    }

    /// Network and host of the `k`-th measured port: networks round-robin, and on each
    /// network the hosts spanning it in turn (a VM starting where its network already is).
    /// A network no host spans (more networks than `hosts * span`) gets host `k % hosts`.
    pub fn change_target(&self, k: usize, hosts_of: &[Vec<usize>]) -> (usize, usize) {
        let n = k % self.networks;
        let on_n = &hosts_of[n];
        let host = if on_n.is_empty() { k % self.hosts } else { on_n[(k / self.networks) % on_n.len()] };
        (n, host)
    }

    /// Hosts that must learn of a port on network `n` bound to `host`: the hosts spanning
    /// `n` (l2population: its MAC and IP behind `host`'s endpoint) and `host` itself.
    pub fn concerned(&self, hosts_of_n: &[usize], host: usize) -> BTreeSet<usize> {
        hosts_of_n.iter().copied().chain([host]).collect()
    }
}

/// The host name of simulated host `h` (its `binding:host_id`).
pub fn host_name(tag: &str, h: usize) -> String {
    format!("{tag}-host-{h}")
}

/// Host `h`'s VXLAN endpoint, distinct per host: 100.64.0.0/10 (shared address space, never
/// routed on the bench machine; nothing is wired).
pub fn tunneling_ip(h: usize) -> std::net::Ipv4Addr {
    let h = h as u32 & 0x003f_ffff;
    std::net::Ipv4Addr::from(0x6440_0000u32 | h)
}

/// The MAC of the `k`-th measured port: `fa:16:3e` (OpenStack's prefix), the run's byte,
/// then `k`. Chosen by the bench so a watcher can recognise the port before the create's
/// answer is back; `k` is below 65536 (checked with the arguments).
pub fn change_mac(run_byte: u8, k: usize) -> String {
    format!("fa:16:3e:{run_byte:02x}:{:02x}:{:02x}", (k >> 8) & 0xff, k & 0xff)
}

/// Most measured ports a run can name with [`change_mac`].
pub const MAX_CHANGES: usize = 1 << 16;

#[cfg(test)]
mod tests {
    use super::*;

    fn topo(hosts: usize, networks: usize, span: usize) -> Topology {
        Topology { hosts, networks, span }
    }

    #[test]
    fn hosts_spread_evenly_over_networks() {
        let t = topo(1000, 100, 3);
        assert_eq!(t.networks_of(0), [0, 1, 2]);
        assert_eq!(t.networks_of(34), [2, 3, 4]);
        for n in 0..100 {
            assert_eq!(t.hosts_of(n).len(), 30, "network {n}");
        }
        assert_eq!(&t.hosts_of(2)[..3], &[0, 34, 67]);
    }

    #[test]
    fn span_is_capped_by_the_networks() {
        let t = topo(4, 2, 3);
        assert_eq!(t.networks_of(1), [0, 1]);
        assert_eq!(t.hosts_of(0), [0, 1, 2, 3]);
    }

    #[test]
    fn changes_land_on_hosts_of_their_network() {
        let t = topo(10, 5, 2);
        let hosts_of: Vec<Vec<usize>> = (0..5).map(|n| t.hosts_of(n)).collect();
        for k in 0..50 {
            let (n, h) = t.change_target(k, &hosts_of);
            assert_eq!(n, k % 5);
            assert!(t.networks_of(h).contains(&n), "change {k}: host {h} does not span {n}");
            assert_eq!(t.concerned(&hosts_of[n], h), hosts_of[n].iter().copied().collect());
        }
        // Hosts of one network take their turns.
        let on_0: BTreeSet<usize> = (0..20).step_by(5).map(|k| t.change_target(k, &hosts_of).1).collect();
        assert_eq!(on_0.len(), hosts_of[0].len().min(4));
    }

    #[test]
    fn an_empty_network_concerns_only_the_bound_host() {
        let t = topo(2, 10, 1);
        let hosts_of: Vec<Vec<usize>> = (0..10).map(|n| t.hosts_of(n)).collect();
        assert!(hosts_of[7].is_empty());
        let (n, h) = t.change_target(7, &hosts_of);
        assert_eq!((n, h), (7, 1));
        assert_eq!(t.concerned(&hosts_of[n], h), BTreeSet::from([1]));
    }

    #[test]
    fn names_endpoints_and_macs_are_distinct() {
        assert_eq!(host_name("lg", 7), "lg-host-7");
        assert_eq!(tunneling_ip(0).to_string(), "100.64.0.0");
        assert_eq!(tunneling_ip(999).to_string(), "100.64.3.231");
        assert_eq!(change_mac(0xab, 0x1234), "fa:16:3e:ab:12:34");
        assert_eq!(change_mac(1, MAX_CHANGES - 1), "fa:16:3e:01:ff:ff");
    }
}
