//! Which networks get metadata from their DHCP namespace, and where each subnet's guests are
//! told to send `169.254.169.254`: Neutron's `enable_isolated_metadata` and
//! `force_metadata` (`Dnsmasq.should_enable_metadata`, `get_isolated_subnets` and the
//! metadata route of `_generate_opts_per_subnet` in `neutron/agent/linux/dhcp.py`).
//!
//! A subnet is isolated unless a router interface holds an address on it
//! ([`DhcpSubnet::router_attached`]): a router serves the metadata of the subnets it is
//! attached to, and the DHCP namespace that of the isolated ones (with
//! `enable_isolated_metadata`), or of all of them (with `force_metadata`).

use neutrino_agent_api::{DhcpNetwork, DhcpSubnet};

/// The agent's metadata options of its DHCP side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataMode {
    /// Serve metadata from the DHCP namespace of networks with an isolated subnet, and push
    /// those subnets a route to it (Neutron's default is false; ours true, so that guests on
    /// networks without a router get metadata out of the box).
    pub enable_isolated_metadata: bool,
    /// Serve metadata from every DHCP namespace and route every subnet's metadata there.
    pub force_metadata: bool,
}

impl Default for MetadataMode {
    fn default() -> Self {
        MetadataMode { enable_isolated_metadata: true, force_metadata: false }
    }
}

/// Where an IPv4 subnet's guests are told (option 121) to reach `169.254.169.254`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataRoute {
    /// Through the DHCP port's address on the subnet: this namespace serves it.
    DhcpPort,
    /// Through the subnet's gateway: the attached router serves it.
    Gateway,
    /// No metadata route.
    None,
}

/// Neutron's choice of the metadata route's next hop for `subnet`.
pub fn metadata_route(mode: MetadataMode, subnet: &DhcpSubnet) -> MetadataRoute {
    let isolated = !subnet.router_attached;
    if mode.force_metadata || (isolated && mode.enable_isolated_metadata) {
        MetadataRoute::DhcpPort
    } else if !isolated {
        MetadataRoute::Gateway
    } else {
        MetadataRoute::None
    }
}

/// Whether `net`'s DHCP namespace serves metadata (Neutron's `should_enable_metadata`):
/// never without a DHCP subnet; always with `force_metadata`; with
/// `enable_isolated_metadata` when one of its DHCP subnets is isolated.
pub fn serves_metadata(mode: MetadataMode, net: &DhcpNetwork) -> bool {
    if net.subnets.is_empty() {
        return false;
    }
    if mode.force_metadata {
        return true;
    }
    mode.enable_isolated_metadata && net.subnets.iter().any(|s| !s.router_attached)
}

/// The networks of `networks` whose DHCP namespace serves metadata.
pub fn metadata_networks(mode: MetadataMode, networks: &[DhcpNetwork]) -> Vec<&DhcpNetwork> {
    networks.iter().filter(|n| serves_metadata(mode, n)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dhcp::dnsmasq::tests::{dual_stack as network, subnet};

    const ISOLATED: MetadataMode = MetadataMode { enable_isolated_metadata: true, force_metadata: false };
    const FORCE: MetadataMode = MetadataMode { enable_isolated_metadata: false, force_metadata: true };
    const OFF: MetadataMode = MetadataMode { enable_isolated_metadata: false, force_metadata: false };

    fn routed(mut s: DhcpSubnet) -> DhcpSubnet {
        s.router_attached = true;
        s
    }

    #[test]
    fn routes_follow_isolation_and_the_two_options() {
        let isolated = subnet("a", "10.0.0.0/24", 4);
        let attached = routed(subnet("b", "10.0.1.0/24", 4));
        assert_eq!(metadata_route(ISOLATED, &isolated), MetadataRoute::DhcpPort);
        assert_eq!(metadata_route(ISOLATED, &attached), MetadataRoute::Gateway);
        assert_eq!(metadata_route(FORCE, &attached), MetadataRoute::DhcpPort);
        assert_eq!(metadata_route(OFF, &isolated), MetadataRoute::None);
        assert_eq!(metadata_route(OFF, &attached), MetadataRoute::Gateway);
    }

    #[test]
    fn a_namespace_serves_metadata_as_should_enable_metadata_says() {
        let mut isolated = network();
        isolated.network_id = "isolated".into();
        isolated.subnets = vec![subnet("a", "10.0.0.0/24", 4)];
        let mut routed_net = network();
        routed_net.network_id = "routed".into();
        routed_net.subnets = vec![routed(subnet("b", "10.0.1.0/24", 4))];
        let mut mixed = network();
        mixed.network_id = "mixed".into();
        mixed.subnets = vec![routed(subnet("c", "10.0.2.0/24", 4)), subnet("d", "2001:db8::/64", 6)];
        let mut empty = network();
        empty.network_id = "empty".into();
        empty.subnets.clear();
        let all = [isolated, routed_net, mixed, empty];
        let ids = |mode| metadata_networks(mode, &all).iter().map(|n| n.network_id.clone()).collect::<Vec<_>>();
        assert_eq!(ids(ISOLATED), ["isolated", "mixed"]);
        assert_eq!(ids(FORCE), ["isolated", "routed", "mixed"], "never a network without DHCP subnets");
        assert!(ids(OFF).is_empty());
    }
}
