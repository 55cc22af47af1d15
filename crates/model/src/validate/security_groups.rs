//! A security group rule's checks: the converters of its attributes
//! (`neutron/extensions/securitygroup.py`: `convert_protocol`, `convert_validate_port_value`,
//! `convert_ethertype_to_case_insensitive`), which raise the security group exceptions
//! themselves rather than a validator's "Invalid input for <attr>", and the checks between
//! attributes the plugin makes afterwards (`securitygroups_db.py`:
//! `_make_canonical_ipv6_icmp_protocol`, `_make_canonical_port_range`, `_validate_port_range`,
//! `_validate_ethertype_and_protocol`).

use crate::error::ApiError;
use crate::pystr::py_str;
use crate::resources::IP_PROTOCOLS;
use serde_json::Value;

/// The ethertypes a rule may name, in Neutron's spelling.
pub const ETHERTYPES: [&str; 2] = ["IPv4", "IPv6"];

/// Python's `int(value)` for the JSON values a converter may see: integers, floats
/// (truncated), booleans and integer strings (surrounding blanks allowed).
fn python_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.trunc() as i64)),
        Value::Bool(b) => Some(i64::from(*b)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    }
}

/// `convert_protocol`: `null` and `any` are "every protocol"; a number 0-255 is kept as
/// given, as text; a known name (any case) is lower-cased.
pub fn protocol(v: &Value) -> Result<Value, ApiError> {
    let refused = || ApiError::security_group_rule_invalid_protocol(py_str(v));
    match v {
        Value::Null => Ok(Value::Null),
        Value::String(s) if s == "any" => Ok(Value::Null),
        // `int(True)` is 1 in Python, but "True" is no protocol a firewall knows.
        Value::Bool(_) => Err(refused()),
        Value::Number(_) | Value::String(_) => match python_int(v) {
            Some(n) if (0..=255).contains(&n) => Ok(Value::String(py_str(v))),
            Some(_) => Err(refused()),
            None => {
                let lower = py_str(v).to_lowercase();
                if lower == "any" || IP_PROTOCOLS.iter().any(|(name, _)| *name == lower) {
                    Ok(Value::String(lower))
                } else {
                    Err(refused())
                }
            }
        },
        _ => Err(refused()),
    }
}

/// `convert_validate_port_value`: `null`, or a port number 0-65535 (Python's `int()` of
/// what was given).
pub fn port(v: &Value) -> Result<Value, ApiError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    match python_int(v) {
        Some(n) if (0..=65535).contains(&n) => Ok(Value::from(n)),
        _ => Err(ApiError::security_group_invalid_port_value(py_str(v))),
    }
}

/// `convert_ethertype_to_case_insensitive`: `IPv4` or `IPv6` in any case.
pub fn ethertype(v: &Value) -> Result<Value, ApiError> {
    if let Value::String(s) = v {
        if let Some(e) = ETHERTYPES.iter().find(|e| e.eq_ignore_ascii_case(s)) {
            return Ok(Value::String((*e).to_string()));
        }
    }
    Err(ApiError::security_group_rule_invalid_ethertype(py_str(v)))
}

/// `remote_group_id` has no validator: whatever is given is looked up (and is not found).
/// Kept a string (or `null`) so the typed body can hold it.
pub fn unvalidated_id(v: &Value) -> Value {
    match v {
        Value::Null | Value::String(_) => v.clone(),
        other => Value::String(py_str(other)),
    }
}

/// Protocols that take a port range (`SG_PORT_PROTO_NUMS`: tcp, udp, dccp, sctp, udplite).
const PORT_PROTOCOLS: [u8; 5] = [6, 17, 33, 132, 136];
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// Protocols (names and numbers, as stored) that only exist over IPv6.
const IPV6_ONLY_PROTOCOLS: [&str; 13] = [
    "ipv6-encap",
    "ipv6-frag",
    "ipv6-icmp",
    "icmpv6",
    "ipv6-nonxt",
    "ipv6-opts",
    "ipv6-route",
    "41",
    "44",
    "58",
    "59",
    "60",
    "43",
];

/// `_get_ip_proto_number`: the number of a converted protocol; none for `any`.
pub fn protocol_number(protocol: &str) -> Option<u8> {
    match IP_PROTOCOLS.iter().find(|(name, _)| *name == protocol) {
        Some((_, number)) => Some(*number),
        None => protocol.trim().parse::<u8>().ok(),
    }
}

/// `_get_ip_proto_name_and_num(...)[0]`, the protocol as Neutron's duplicate check compares
/// it: a known number by its name (`58` is `ipv6-icmp`), anything else as given; the IPv6
/// ICMP spellings made one first.
pub fn protocol_key(protocol: Option<&str>, ethertype: &str) -> Option<String> {
    let p = canonical_protocol(protocol.map(str::to_string), ethertype)?;
    if IP_PROTOCOLS.iter().any(|(name, _)| *name == p) {
        return Some(p);
    }
    let by_number = p.parse::<u8>().ok().and_then(|n| IP_PROTOCOLS.iter().find(|(_, num)| *num == n));
    Some(by_number.map_or(p, |(name, _)| (*name).to_string()))
}

/// `_make_canonical_ipv6_icmp_protocol`: in an IPv6 rule, `icmp` and `icmpv6` are stored
/// as `ipv6-icmp` and protocol `1` as `58`.
pub fn canonical_protocol(protocol: Option<String>, ethertype: &str) -> Option<String> {
    match protocol.as_deref() {
        Some("icmp" | "icmpv6") if ethertype == "IPv6" => Some("ipv6-icmp".into()),
        Some("1") if ethertype == "IPv6" => Some("58".into()),
        _ => protocol,
    }
}

/// `_make_canonical_port_range`: the whole range 1-65535 is stored as no range.
pub fn canonical_port_range(min: Option<u32>, max: Option<u32>) -> (Option<u32>, Option<u32>) {
    match (min, max) {
        (Some(1), Some(65535)) => (None, None),
        other => other,
    }
}

/// `_validate_port_range`: the port range (ICMP type and code) against the protocol.
pub fn check_port_range(protocol: Option<&str>, min: Option<u32>, max: Option<u32>) -> Result<(), ApiError> {
    if min.is_none() && max.is_none() {
        return Ok(());
    }
    let Some(protocol) = protocol else { return Err(ApiError::security_group_protocol_required_with_ports()) };
    let number = protocol_number(protocol);
    match number {
        Some(n) if PORT_PROTOCOLS.contains(&n) => {
            if min == Some(0) || max == Some(0) {
                return Err(ApiError::security_group_invalid_port_value(0));
            }
            match (min, max) {
                (Some(lo), Some(hi)) if lo <= hi => Ok(()),
                _ => Err(ApiError::security_group_invalid_port_range()),
            }
        }
        Some(ICMP | ICMPV6) => {
            for (field, attr, value) in [("type", "port_range_min", min), ("code", "port_range_max", max)] {
                if let Some(v) = value.filter(|v| *v > 255) {
                    return Err(ApiError::security_group_invalid_icmp_value(field, attr, v));
                }
            }
            match (min, max) {
                (None, Some(code)) => Err(ApiError::security_group_missing_icmp_type(code)),
                _ => Ok(()),
            }
        }
        _ => Err(ApiError::security_group_invalid_protocol_for_port(number)),
    }
}

/// `_validate_ethertype_and_protocol`: an IPv6-only protocol in an IPv4 rule is refused.
pub fn check_ethertype_and_protocol(ethertype: &str, protocol: Option<&str>) -> Result<(), ApiError> {
    match protocol {
        Some(p) if ethertype == "IPv4" && IPV6_ONLY_PROTOCOLS.contains(&p) => {
            Err(ApiError::security_group_ethertype_conflict_with_protocol(ethertype, p))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn protocols_convert_as_neutron_does() {
        assert_eq!(protocol(&json!(17)).unwrap(), json!("17"));
        assert_eq!(protocol(&json!("017")).unwrap(), json!("017"));
        assert_eq!(protocol(&json!("TCP")).unwrap(), json!("tcp"));
        assert_eq!(protocol(&json!("any")).unwrap(), json!(null));
        assert_eq!(protocol(&json!(null)).unwrap(), json!(null));
        let err = protocol(&json!(256)).unwrap_err();
        assert_eq!(err.kind, "SecurityGroupRuleInvalidProtocol");
        assert!(
            err.message.starts_with(
                "Security group rule protocol 256 not supported. Only protocol values (None, 'any', 'ah', 'dccp',"
            ),
            "{}",
            err.message
        );
        assert!(err.message.ends_with("'vrrp') and integer representations [0 to 255] are supported."));
        assert!(protocol(&json!("-1")).is_err());
        assert!(protocol(&json!("Bogus")).unwrap_err().message.contains("protocol Bogus not"));
    }

    #[test]
    fn ports_convert_as_neutron_does() {
        assert_eq!(port(&json!("22")).unwrap(), json!(22));
        assert_eq!(port(&json!(0)).unwrap(), json!(0));
        let err = port(&json!(-16)).unwrap_err();
        assert_eq!(
            (err.status, err.kind.as_ref(), err.message.as_str()),
            (400, "SecurityGroupInvalidPortValue", "Invalid value for port -16")
        );
        assert_eq!(port(&json!(65536)).unwrap_err().message, "Invalid value for port 65536");
        assert_eq!(port(&json!("x")).unwrap_err().message, "Invalid value for port x");
    }

    #[test]
    fn port_ranges_are_checked_against_the_protocol() {
        let kind = |p: Option<&str>, min, max| check_port_range(p, min, max).unwrap_err().kind;
        assert_eq!(kind(Some("tcp"), None, Some(6)), "SecurityGroupInvalidPortRange");
        assert_eq!(kind(Some("6"), Some(22), None), "SecurityGroupInvalidPortRange");
        assert_eq!(kind(Some("udp"), Some(0), Some(5)), "SecurityGroupInvalidPortValue");
        assert!(check_port_range(Some("017"), Some(53), Some(53)).is_ok());
        assert_eq!(kind(Some("ipv6-icmp"), Some(1), Some(256)), "SecurityGroupInvalidIcmpValue");
        assert_eq!(kind(Some("icmp"), None, Some(6)), "SecurityGroupMissingIcmpType");
        assert_eq!(kind(None, Some(1), None), "SecurityGroupProtocolRequiredWithPorts");
        let err = check_port_range(Some("gre"), Some(1), None).unwrap_err();
        assert_eq!(
            err.message,
            "Ports cannot be specified for protocol 47. Ports are only supported for DCCP, SCTP, TCP, UDP, UDPLITE."
        );
        let err = check_port_range(Some("any"), Some(1), None).unwrap_err();
        assert!(err.message.starts_with("Ports cannot be specified for protocol None."), "{}", err.message);
    }

    #[test]
    fn icmp_in_an_ipv6_rule_is_ipv6_icmp() {
        assert_eq!(canonical_protocol(Some("icmp".into()), "IPv6").as_deref(), Some("ipv6-icmp"));
        assert_eq!(canonical_protocol(Some("icmpv6".into()), "IPv6").as_deref(), Some("ipv6-icmp"));
        assert_eq!(canonical_protocol(Some("1".into()), "IPv6").as_deref(), Some("58"));
        assert_eq!(canonical_protocol(Some("icmp".into()), "IPv4").as_deref(), Some("icmp"));
        assert!(check_ethertype_and_protocol("IPv4", Some("icmpv6")).is_err());
        assert!(check_ethertype_and_protocol("IPv4", Some("43")).is_err());
        assert!(check_ethertype_and_protocol("IPv6", Some("ipv6-route")).is_ok());
        assert_eq!(canonical_port_range(Some(1), Some(65535)), (None, None));
    }

    #[test]
    fn ethertypes_are_case_insensitive() {
        assert_eq!(ethertype(&json!("ipv6")).unwrap(), json!("IPv6"));
        let err = ethertype(&json!("bad")).unwrap_err();
        assert_eq!(err.kind, "SecurityGroupRuleInvalidEtherType");
        assert_eq!(
            err.message,
            "Security group rule for ethertype 'bad' not supported. Allowed values are ['IPv4', 'IPv6']."
        );
    }
}
