//! dns-integration as ML2's `dns_domain_ports` extension driver runs it without an external
//! DNS service: the server's `dns_domain`, whether ports keep the `dns_name`/`dns_domain`
//! they are given, and the `dns_assignment` (one name per fixed IP) a port shows.
//!
//! Neutron ignores a port's `dns_name` and `dns_domain` while its `dns_domain` option is
//! unset or the default `openstacklocal`: a port then answers `""` and every address is
//! named `host-<ip with dashes>`. With a real domain, a port keeps both and its addresses are
//! named after `dns_name`; the FQDN is always in the server's domain (the port's and the
//! network's `dns_domain` only say where an external DNS service would publish it).

use crate::error::ApiError;
use crate::types::{DnsAssignment, FixedIp};
use crate::validate::dns::FQDN_MAX;
use crate::validate::invalid_attr;
use serde_json::{Map, Value};

/// neutron-lib's `DNS_DOMAIN_DEFAULT`.
const DEFAULT_DOMAIN: &str = "openstacklocal.";

/// The server's `dns_domain` option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsDomain {
    /// As configured (Neutron's messages quote it so).
    raw: String,
    /// With its trailing dot; empty when unset.
    fqdn: String,
}

impl DnsDomain {
    /// The option as configured: the trailing dot is added when missing (Neutron's
    /// `_get_dns_domain`).
    pub fn new(raw: &str) -> Self {
        let fqdn = match raw {
            "" => String::new(),
            d if d.ends_with('.') => d.to_string(),
            d => format!("{d}."),
        };
        Self { raw: raw.to_string(), fqdn }
    }

    /// Refuses a domain no name could be built under (Neutron takes any string and would
    /// hand out broken FQDNs; the reason is `validate_dns_domain`'s).
    pub fn check(&self) -> Result<(), String> {
        crate::validate::dns::domain_reason(&self.fqdn)
    }

    /// The domain with its trailing dot (empty when unset).
    pub fn fqdn(&self) -> &str {
        &self.fqdn
    }

    /// Whether ports keep the `dns_name` and `dns_domain` they are given (Neutron's
    /// `_get_request_dns_name`: not under the default domain nor without one).
    pub fn takes_port_names(&self) -> bool {
        !self.fqdn.is_empty() && self.fqdn != DEFAULT_DOMAIN
    }

    /// The part of `validate_dns_name` that reads the server's domain: a relative name must
    /// fit under it, an absolute one must end in it with at least one label before.
    pub fn check_port_dns_name(&self, name: &str) -> Result<(), ApiError> {
        if name.is_empty() || !self.takes_port_names() {
            return Ok(());
        }
        let higher = format!(".{}", self.fqdn);
        let (name_len, higher_len) = (name.chars().count(), higher.chars().count());
        let reason = if !name.ends_with('.') {
            if name_len + higher_len <= FQDN_MAX {
                return Ok(());
            }
            format!(
                "The dns_name passed is a PQDN and its size is '{name_len}'. The dns_domain option in neutron.conf \
                 is set to {}, with a length of '{higher_len}'. When the two are concatenated to form a FQDN (with \
                 a '.' at the end), the resulting length exceeds the maximum size of '{FQDN_MAX}'",
                self.raw
            )
        } else if name_len > higher_len && name.ends_with(&higher) {
            return Ok(());
        } else {
            format!(
                "The dns_name passed is a FQDN. Its higher level labels must be equal to the dns_domain option in \
                 neutron.conf, that has been set to '{0}'. It must also include one or more valid DNS labels to the \
                 left of '{0}'",
                self.raw
            )
        };
        Err(invalid_attr("dns_name", &reason))
    }

    /// [`Self::check_port_dns_name`] on a prepared port body (create item or update), before
    /// the policy as in Neutron. (Neutron runs it in the attribute's turn: a body with another
    /// invalid attribute after `dns_name` in its map reports the `dns_name` first there.)
    pub fn check_port_body(&self, attrs: &Map<String, Value>) -> Result<(), ApiError> {
        match attrs.get("dns_name").and_then(Value::as_str) {
            Some(name) => self.check_port_dns_name(name),
            None => Ok(()),
        }
    }

    /// A port's `dns_assignment` (`_get_dns_names_for_port`): per fixed IP, the port's name
    /// (if the domain lets ports have one) or `host-<ip with dashes>`, and its FQDN.
    pub fn assignment(&self, dns_name: &str, fixed_ips: &[FixedIp]) -> Vec<DnsAssignment> {
        let name = if self.takes_port_names() { dns_name } else { "" };
        fixed_ips
            .iter()
            .map(|ip| {
                let hostname = match name {
                    "" => host_name(&ip.ip_address),
                    n => n.to_string(),
                };
                let fqdn = if hostname.ends_with('.') || self.fqdn.is_empty() {
                    hostname.clone()
                } else {
                    format!("{hostname}.{}", self.fqdn)
                };
                DnsAssignment { ip_address: ip.ip_address.clone(), hostname, fqdn }
            })
            .collect()
    }
}

impl Default for DnsDomain {
    /// Neutron's default, `openstacklocal`.
    fn default() -> Self {
        Self::new("openstacklocal")
    }
}

/// `host-<ip with dashes>`: the name of an address whose port has no `dns_name`.
pub fn host_name(ip: &str) -> String {
    format!("host-{}", ip.replace(['.', ':'], "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ips(addrs: &[&str]) -> Vec<FixedIp> {
        addrs.iter().map(|a| FixedIp { subnet_id: "s".into(), ip_address: (*a).into() }).collect()
    }

    fn pairs(a: &[DnsAssignment]) -> Vec<(&str, &str, &str)> {
        a.iter().map(|d| (d.ip_address.as_str(), d.hostname.as_str(), d.fqdn.as_str())).collect()
    }

    #[test]
    fn the_default_domain_names_every_address_after_itself() {
        let d = DnsDomain::default();
        assert!(!d.takes_port_names());
        let a = d.assignment("ignored", &ips(&["10.0.0.5", "fd00::1"]));
        assert_eq!(
            pairs(&a),
            [
                ("10.0.0.5", "host-10-0-0-5", "host-10-0-0-5.openstacklocal."),
                ("fd00::1", "host-fd00--1", "host-fd00--1.openstacklocal.")
            ]
        );
        assert!(DnsDomain::new("openstacklocal.").check_port_dns_name(&"a".repeat(250)).is_ok());
    }

    #[test]
    fn a_real_domain_names_addresses_after_the_port() {
        let d = DnsDomain::new("example.org");
        assert_eq!(d.fqdn(), "example.org.");
        assert!(d.takes_port_names());
        assert_eq!(pairs(&d.assignment("vm", &ips(&["10.0.0.5"]))), [("10.0.0.5", "vm", "vm.example.org.")]);
        assert_eq!(
            pairs(&d.assignment("vm.example.org.", &ips(&["10.0.0.5"]))),
            [("10.0.0.5", "vm.example.org.", "vm.example.org.")]
        );
        assert_eq!(
            pairs(&d.assignment("", &ips(&["10.0.0.5"]))),
            [("10.0.0.5", "host-10-0-0-5", "host-10-0-0-5.example.org.")]
        );
        assert!(d.assignment("vm", &[]).is_empty());
    }

    #[test]
    fn without_a_domain_names_stay_bare() {
        let d = DnsDomain::new("");
        assert!(!d.takes_port_names());
        assert_eq!(pairs(&d.assignment("vm", &ips(&["10.0.0.5"]))), [("10.0.0.5", "host-10-0-0-5", "host-10-0-0-5")]);
    }

    #[test]
    fn names_must_fit_the_servers_domain() {
        let d = DnsDomain::new("example.org.");
        assert!(d.check_port_dns_name("vm").is_ok());
        assert!(d.check_port_dns_name("a.vm.example.org.").is_ok());
        let fqdn_reason = "Invalid input for dns_name. Reason: The dns_name passed is a FQDN. Its higher level labels \
             must be equal to the dns_domain option in neutron.conf, that has been set to 'example.org.'. It must \
             also include one or more valid DNS labels to the left of 'example.org.'.";
        assert_eq!(d.check_port_dns_name("a.example.com.").unwrap_err().message, fqdn_reason);
        assert_eq!(d.check_port_dns_name("example.org.").unwrap_err().message, fqdn_reason);
        assert_eq!(d.check_port_dns_name("xexample.org.").unwrap_err().message, fqdn_reason);
        let long = vec!["a".repeat(60); 4].join(".");
        assert_eq!(
            d.check_port_dns_name(&long).unwrap_err().message,
            "Invalid input for dns_name. Reason: The dns_name passed is a PQDN and its size is '243'. The \
             dns_domain option in neutron.conf is set to example.org., with a length of '13'. When the two are \
             concatenated to form a FQDN (with a '.' at the end), the resulting length exceeds the maximum size \
             of '255'."
        );
        // The message quotes the option as configured.
        let bare = DnsDomain::new("example.org");
        assert!(bare.check_port_dns_name("x.example.com.").unwrap_err().message.contains("set to 'example.org'."));
    }

    #[test]
    fn a_configured_domain_must_be_usable() {
        assert!(DnsDomain::new("openstacklocal").check().is_ok());
        assert!(DnsDomain::new("").check().is_ok());
        assert!(DnsDomain::new("example.org").check().is_ok());
        assert!(DnsDomain::new("bad_domain").check().is_err());
        assert!(DnsDomain::new("a..b").check().is_err());
    }
}
