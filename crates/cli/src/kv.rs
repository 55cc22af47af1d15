//! OSC-style `key=value,key=value` option values (`--fixed-ip subnet=s1,ip-address=10.0.0.5`),
//! parsed by clap as the options are read so that a typo is reported with the usage, before
//! any request is sent. The rules are osc-lib's `MultiKeyValueAction`'s, except that a key given
//! twice is refused rather than silently overwritten.

use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Splits `k=v,k=v`, checking the keys against `required` and `optional`.
pub fn parse_pairs(text: &str, required: &[&str], optional: &[&str]) -> Result<BTreeMap<String, String>, String> {
    let mut pairs = BTreeMap::new();
    for part in text.split(',') {
        let Some((key, value)) = part.split_once('=') else {
            return Err(format!("expected comma separated 'key=value' pairs, but got: '{part}'"));
        };
        if key.is_empty() {
            return Err(format!("each property key must be specified: '{part}'"));
        }
        if pairs.insert(key.to_string(), value.to_string()).is_some() {
            return Err(format!("key '{key}' is given twice"));
        }
    }
    let valid = || required.iter().chain(optional).copied().collect::<Vec<_>>().join(", ");
    let invalid: Vec<&str> =
        pairs.keys().map(String::as_str).filter(|k| !required.contains(k) && !optional.contains(k)).collect();
    if !invalid.is_empty() {
        return Err(format!("invalid keys {} specified; valid keys are: {}", invalid.join(", "), valid()));
    }
    let missing: Vec<&str> = required.iter().copied().filter(|k| !pairs.contains_key(*k)).collect();
    if !missing.is_empty() {
        return Err(format!(
            "missing required keys {}; required keys are: {}",
            missing.join(", "),
            required.join(", ")
        ));
    }
    Ok(pairs)
}

/// `--allocation-pool start=IP,end=IP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

impl AllocationPool {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = parse_pairs(text, &["start", "end"], &[])?;
        Ok(Self { start: p.remove("start").unwrap_or_default(), end: p.remove("end").unwrap_or_default() })
    }

    /// The API's `{"start", "end"}`.
    pub fn to_json(&self) -> Value {
        json!({"start": self.start, "end": self.end})
    }
}

/// `--host-route destination=CIDR,gateway=IP`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoute {
    pub destination: String,
    pub gateway: String,
}

impl HostRoute {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = parse_pairs(text, &["destination", "gateway"], &[])?;
        Ok(Self {
            destination: p.remove("destination").unwrap_or_default(),
            gateway: p.remove("gateway").unwrap_or_default(),
        })
    }

    /// The API's `{"destination", "nexthop"}`.
    pub fn to_json(&self) -> Value {
        json!({"destination": self.destination, "nexthop": self.gateway})
    }
}

/// `--fixed-ip subnet=SUBNET,ip-address=IP` (either key may be left out); the subnet is a name
/// or id still to be resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIp {
    pub subnet: Option<String>,
    pub ip_address: Option<String>,
}

impl FixedIp {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = parse_pairs(text, &[], &["subnet", "ip-address"])?;
        Ok(Self { subnet: p.remove("subnet"), ip_address: p.remove("ip-address") })
    }
}

/// `port list --fixed-ip subnet=SUBNET,ip-address=IP,ip-substring=TEXT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixedIpFilter {
    pub subnet: Option<String>,
    pub ip_address: Option<String>,
    pub ip_substring: Option<String>,
}

impl FixedIpFilter {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = parse_pairs(text, &[], &["subnet", "ip-address", "ip-substring"])?;
        Ok(Self {
            subnet: p.remove("subnet"),
            ip_address: p.remove("ip-address"),
            ip_substring: p.remove("ip-substring"),
        })
    }
}

/// `--allowed-address ip-address=IP[,mac-address=MAC]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllowedAddress {
    pub ip_address: String,
    pub mac_address: Option<String>,
}

impl AllowedAddress {
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut p = parse_pairs(text, &["ip-address"], &["mac-address"])?;
        Ok(Self { ip_address: p.remove("ip-address").unwrap_or_default(), mac_address: p.remove("mac-address") })
    }

    /// The API's `{"ip_address"[, "mac_address"]}`.
    pub fn to_json(&self) -> Value {
        match &self.mac_address {
            Some(mac) => json!({"ip_address": self.ip_address, "mac_address": mac}),
            None => json!({"ip_address": self.ip_address}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_are_split_and_checked() {
        let p = parse_pairs("subnet=s1,ip-address=10.0.0.5", &[], &["subnet", "ip-address"]);
        let p = p.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((p["subnet"].as_str(), p["ip-address"].as_str()), ("s1", "10.0.0.5"));
        let p = parse_pairs("k=a=b", &["k"], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p["k"], "a=b", "only the first '=' separates");
        let p = parse_pairs("k=", &["k"], &[]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p["k"], "");
    }

    #[test]
    fn malformed_values_get_clear_errors() {
        let err = |text: &str| parse_pairs(text, &["start"], &["end"]).unwrap_err();
        assert_eq!(err("start"), "expected comma separated 'key=value' pairs, but got: 'start'");
        assert_eq!(err(""), "expected comma separated 'key=value' pairs, but got: ''");
        assert_eq!(err("start=1,"), "expected comma separated 'key=value' pairs, but got: ''");
        assert_eq!(err("=1"), "each property key must be specified: '=1'");
        assert_eq!(err("start=1,start=2"), "key 'start' is given twice");
        assert_eq!(err("start=1,bogus=2"), "invalid keys bogus specified; valid keys are: start, end");
        assert_eq!(err("end=2"), "missing required keys start; required keys are: start");
    }

    #[test]
    fn typed_options() {
        let pool = AllocationPool::parse("start=10.0.0.2,end=10.0.0.9").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pool.to_json(), json!({"start": "10.0.0.2", "end": "10.0.0.9"}));
        assert!(AllocationPool::parse("start=10.0.0.2").unwrap_err().contains("missing required keys end"));

        let route = HostRoute::parse("destination=10.1.0.0/16,gateway=10.0.0.254").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(route.to_json(), json!({"destination": "10.1.0.0/16", "nexthop": "10.0.0.254"}));

        let ip = FixedIp::parse("ip-address=10.0.0.5").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ip, FixedIp { subnet: None, ip_address: Some("10.0.0.5".into()) });
        assert!(FixedIp::parse("subnet=s,ip=1").unwrap_err().contains("invalid keys ip"));

        let filter = FixedIpFilter::parse("ip-substring=10.0").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(filter.ip_substring.as_deref(), Some("10.0"));

        let pair = AllowedAddress::parse("ip-address=10.0.0.0/24").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(pair.to_json(), json!({"ip_address": "10.0.0.0/24"}));
        let pair = AllowedAddress::parse("ip-address=10.0.0.9,mac-address=fa:16:3e:00:00:01");
        assert_eq!(
            pair.unwrap_or_else(|e| panic!("{e}")).to_json(),
            json!({"ip_address": "10.0.0.9", "mac_address": "fa:16:3e:00:00:01"})
        );
        assert!(AllowedAddress::parse("mac-address=fa:16:3e:00:00:01").is_err());
    }
}
