//! The DNS and metadata keys of the agent's DHCP side as given (flag or config file),
//! checked and applied to a [`DhcpConfig`]. `neutrino agent`'s start-up maps an
//! [`InvalidKey`] to its own error, naming the key.

use super::dns::{DnsForwarder, MAX_CACHE_SIZE};
use super::DhcpConfig;

/// Keys as given; `None` keeps the default.
#[derive(Debug, Clone, Default)]
pub struct DnsKeys {
    pub dns_domain: Option<String>,
    pub dnsmasq_dns_servers: Vec<String>,
    pub dnsmasq_local_resolv: bool,
    pub dnsmasq_dns_forward_max: Option<u32>,
    pub dnsmasq_cache_size: Option<u32>,
    pub dns_query_rate_per_client: Option<u32>,
    pub dns_query_rate_per_network: Option<u32>,
    pub enable_isolated_metadata: Option<bool>,
    pub force_metadata: bool,
}

/// A key whose value cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid {key}: {reason}")]
pub struct InvalidKey {
    pub key: &'static str,
    pub reason: String,
}

fn invalid(key: &'static str, reason: impl Into<String>) -> InvalidKey {
    InvalidKey { key, reason: reason.into() }
}

/// Limits of the bounds themselves: a rate in queries per second, dnsmasq's own maximum of
/// queries in flight.
const MAX_RATE: u32 = 1_000_000;
const MAX_FORWARD: u32 = 10_000;

impl DnsKeys {
    /// Checks every key and sets it in `cfg`.
    pub fn apply(self, cfg: &mut DhcpConfig) -> Result<(), InvalidKey> {
        if let Some(domain) = self.dns_domain {
            let domain = domain.trim_end_matches('.').to_owned();
            if !domain.is_empty() && !is_dns_domain(&domain) {
                return Err(invalid("dns_domain", format!("'{domain}' is not a DNS domain name")));
            }
            cfg.dns_domain = domain;
        }
        cfg.dns_servers = self
            .dnsmasq_dns_servers
            .iter()
            .flat_map(|s| s.split(','))
            .filter(|s| !s.trim().is_empty())
            .map(|s| s.parse::<DnsForwarder>().map_err(|e| invalid("dnsmasq_dns_servers", e.to_string())))
            .collect::<Result<_, _>>()?;
        cfg.local_resolv = self.dnsmasq_local_resolv;
        let limits = &mut cfg.dns_limits;
        if let Some(n) = self.dnsmasq_dns_forward_max {
            if !(1..=MAX_FORWARD).contains(&n) {
                return Err(invalid("dnsmasq_dns_forward_max", format!("{n} is not between 1 and {MAX_FORWARD}")));
            }
            limits.forward_max = n;
        }
        if let Some(n) = self.dnsmasq_cache_size {
            if n > MAX_CACHE_SIZE {
                return Err(invalid(
                    "dnsmasq_cache_size",
                    format!("{n} is above dnsmasq's maximum of {MAX_CACHE_SIZE}"),
                ));
            }
            limits.cache_size = n;
        }
        for (key, given, slot) in [
            ("dns_query_rate_per_client", self.dns_query_rate_per_client, &mut limits.query_rate_per_client),
            ("dns_query_rate_per_network", self.dns_query_rate_per_network, &mut limits.query_rate_per_network),
        ] {
            if let Some(n) = given {
                if n > MAX_RATE {
                    return Err(invalid(key, format!("{n} is above {MAX_RATE} queries per second")));
                }
                *slot = n;
            }
        }
        if let Some(on) = self.enable_isolated_metadata {
            cfg.metadata.enable_isolated_metadata = on;
        }
        cfg.metadata.force_metadata = self.force_metadata;
        Ok(())
    }
}

/// Labels of letters, digits and inner hyphens, 1 to 63 characters each, 253 in all: a name
/// that stands safely on dnsmasq's command line and in its hosts files.
fn is_dns_domain(domain: &str) -> bool {
    domain.len() <= 253
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_apply_with_their_defaults_kept() {
        let mut cfg = DhcpConfig::default();
        DnsKeys::default().apply(&mut cfg).unwrap();
        assert_eq!(cfg, DhcpConfig::default());
        let keys = DnsKeys {
            dns_domain: Some("cloud.example.".into()),
            dnsmasq_dns_servers: vec!["192.0.2.53,2001:db8::53#5353".into(), "198.51.100.53".into()],
            dnsmasq_cache_size: Some(1000),
            dns_query_rate_per_client: Some(0),
            enable_isolated_metadata: Some(false),
            force_metadata: true,
            ..DnsKeys::default()
        };
        keys.apply(&mut cfg).unwrap();
        assert_eq!(cfg.dns_domain, "cloud.example");
        let servers: Vec<String> = cfg.dns_servers.iter().map(ToString::to_string).collect();
        assert_eq!(servers, ["192.0.2.53", "2001:db8::53#5353", "198.51.100.53"]);
        assert_eq!((cfg.dns_limits.cache_size, cfg.dns_limits.query_rate_per_client), (1000, 0));
        assert_eq!(cfg.dns_limits.query_rate_per_network, 1000, "default kept");
        assert!(!cfg.metadata.enable_isolated_metadata && cfg.metadata.force_metadata);
    }

    #[test]
    fn bad_values_name_their_key() {
        let cases = [
            DnsKeys { dns_domain: Some("bad domain".into()), ..DnsKeys::default() },
            DnsKeys { dns_domain: Some("x\n--conf-file=/etc/passwd".into()), ..DnsKeys::default() },
            DnsKeys { dnsmasq_dns_servers: vec!["resolver.example".into()], ..DnsKeys::default() },
            DnsKeys { dnsmasq_dns_forward_max: Some(0), ..DnsKeys::default() },
            DnsKeys { dnsmasq_cache_size: Some(10001), ..DnsKeys::default() },
            DnsKeys { dns_query_rate_per_network: Some(MAX_RATE + 1), ..DnsKeys::default() },
        ];
        let keys = [
            "dns_domain",
            "dns_domain",
            "dnsmasq_dns_servers",
            "dnsmasq_dns_forward_max",
            "dnsmasq_cache_size",
            "dns_query_rate_per_network",
        ];
        for (case, key) in cases.into_iter().zip(keys) {
            let e = case.apply(&mut DhcpConfig::default()).unwrap_err();
            assert_eq!(e.key, key, "{e}");
        }
        let mut cfg = DhcpConfig::default();
        DnsKeys { dns_domain: Some(String::new()), ..DnsKeys::default() }.apply(&mut cfg).unwrap();
        assert_eq!(cfg.dns_domain, "", "an empty domain: no --domain, as Neutron");
    }
}
