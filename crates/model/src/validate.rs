//! neutron-lib's validators and converters, with Neutron's messages.
//!
//! Each function takes the decoded JSON value and either returns the converted value or
//! the reason text Neutron would give. The caller wraps reasons as
//! `Invalid input for <attr>. Reason: <reason>.` (see [`crate::attrs`]).

use crate::error::ApiError;
use crate::pystr::{py_repr, py_str};
use ipnet::IpNet;
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::net::IpAddr;

/// A validator outcome: the reason text when invalid.
pub type Reason = String;

/// `convert_to_boolean`: Python's strutils.bool_from_string(strict=True).
pub fn to_bool(v: &Value) -> Result<bool, ApiError> {
    let parsed = match v {
        Value::Bool(b) => Some(*b),
        Value::Number(n) => match n.as_i64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        Value::String(s) => parse_bool_str(s),
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::invalid_input(format!("'{}' cannot be converted to boolean", py_str(v))))
}

/// The string forms oslo's bool_from_string accepts.
pub fn parse_bool_str(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "on" | "y" | "yes" => Some(true),
        "0" | "f" | "false" | "off" | "n" | "no" => Some(false),
        _ => None,
    }
}

/// `convert_to_int`: accepts integers and integer strings.
pub fn to_int(v: &Value) -> Result<i64, ApiError> {
    let parsed = match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.trunc() as i64)),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        Value::Bool(b) => Some(i64::from(*b)),
        _ => None,
    };
    parsed.ok_or_else(|| ApiError::invalid_input(format!("'{}' is not an integer", py_str(v))))
}

/// `validate_string` with an optional maximum length.
pub fn string(v: &Value, max_len: Option<usize>) -> Result<(), Reason> {
    let Value::String(s) = v else { return Err(format!("'{}' is not a valid string", py_str(v))) };
    if let Some(max) = max_len {
        if s.chars().count() > max {
            return Err(format!("'{s}' exceeds maximum length of {max}"));
        }
    }
    Ok(())
}

/// `validate_uuid`: a canonical or unhyphenated UUID.
pub fn uuid(v: &Value) -> Result<(), Reason> {
    match v {
        Value::String(s) if is_uuid_like(s) => Ok(()),
        _ => Err(format!("'{}' is not a valid UUID", py_str(v))),
    }
}

/// oslo's `is_uuid_like`.
pub fn is_uuid_like(s: &str) -> bool {
    uuid::Uuid::parse_str(s).is_ok() && (s.len() == 36 || s.len() == 32)
}

/// `validate_values`.
pub fn one_of(v: &Value, valid: &[&str]) -> Result<(), Reason> {
    match v {
        Value::String(s) if valid.contains(&s.as_str()) => Ok(()),
        _ => {
            let shown: Vec<Value> = valid.iter().map(|s| Value::String((*s).into())).collect();
            Err(format!("{} is not in {}", py_str(v), py_repr(&Value::Array(shown))))
        }
    }
}

/// `validate_ip_address`, returning the parsed address.
pub fn ip_address(v: &Value) -> Result<IpAddr, Reason> {
    let bad = || format!("'{}' is not a valid IP address", py_str(v));
    let Value::String(s) = v else { return Err(bad()) };
    if s.chars().any(char::is_whitespace) {
        return Err(bad());
    }
    match s.parse::<IpAddr>() {
        Ok(ip) => Ok(ip),
        Err(_) => {
            // IPv4 with leading zeros: Neutron suggests the canonical form.
            if !s.contains(':') && s.split('.').count() == 4 {
                let octets: Option<Vec<u8>> = s.split('.').map(|o| o.parse::<u8>().ok()).collect();
                if let Some(o) = octets {
                    let ip = format!("{}.{}.{}.{}", o[0], o[1], o[2], o[3]);
                    return Err(format!("'{s}' is not an accepted IP address, '{ip}' is recommended"));
                }
            }
            Err(bad())
        }
    }
}

/// `convert_ip_to_canonical_format`: IPv6 in compact form; anything else unchanged.
pub fn canonical_ip(v: Value) -> Value {
    if let Value::String(s) = &v {
        if let Ok(IpAddr::V6(ip)) = s.parse::<IpAddr>() {
            return Value::String(ip.to_string());
        }
    }
    v
}

/// `convert_cidr_to_canonical_format` followed by `validate_subnet`.
pub fn subnet_cidr(v: &Value) -> Result<Value, ApiError> {
    let Value::String(s) = v else {
        return Err(ApiError::invalid_input(format!("{} is not in a CIDR format", py_str(v))));
    };
    let Some((addr, len)) = s.split_once('/') else {
        // netaddr reads a bare address as a host route, which validate_subnet then rejects.
        if s.parse::<IpAddr>().is_ok() {
            return Err(invalid_attr("cidr", &format!("'{s}' is not a valid IP subnet")));
        }
        return Err(ApiError::invalid_input(format!("{s} is not in a CIDR format")));
    };
    let ip: IpAddr = addr.parse().map_err(|_| ApiError::invalid_input(format!("{s} is not in a CIDR format")))?;
    let prefix: u8 = len.parse().map_err(|_| ApiError::invalid_input(format!("{s} is not in a CIDR format")))?;
    let net = IpNet::new(ip, prefix).map_err(|_| ApiError::invalid_input(format!("{s} is not in a CIDR format")))?;
    Ok(Value::String(format!("{}/{}", net.addr(), net.prefix_len())))
}

/// `validate_not_empty_string`: a string that is not blank.
pub fn not_empty_string(v: &Value, max_len: Option<usize>) -> Result<(), Reason> {
    string(v, max_len)?;
    match v {
        Value::String(s) if s.trim().is_empty() => Err(format!("'{s}' Blank strings are not permitted")),
        _ => Ok(()),
    }
}

/// `validate_subnet_list`: a list of distinct subnets (`addr/len`, an IPv4 one written as
/// netaddr writes it back), host bits allowed.
pub fn subnet_list(v: &Value) -> Result<(), Reason> {
    let Value::Array(items) = v else { return Err(format!("'{}' is not a list", py_str(v))) };
    let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
    let mut dups: Vec<String> = Vec::new();
    for text in items.iter().map(py_str) {
        if !seen.insert(text.clone()) && !dups.contains(&text) {
            dups.push(text);
        }
    }
    if !dups.is_empty() {
        return Err(format!("Duplicate items in the list: '{}'", dups.join(", ")));
    }
    for item in items {
        let net = item.as_str().and_then(|s| s.parse::<IpNet>().ok().map(|n| (s, n)));
        match net {
            Some((s, IpNet::V4(n))) if n.to_string() == s => {}
            Some((_, IpNet::V6(_))) => {}
            _ => return Err(format!("'{}' is not a valid IP subnet", py_str(item))),
        }
    }
    Ok(())
}

/// `validate_route_cidr` for host route destinations.
pub fn route_cidr(v: &Value) -> Result<IpNet, Reason> {
    let bad = || format!("'{}' is not a valid CIDR", py_str(v));
    let Value::String(s) = v else { return Err(bad()) };
    let net: IpNet = s.parse().map_err(|_| bad())?;
    if net.addr() != net.network() {
        return Err(bad());
    }
    if net.addr().is_loopback() {
        return Err(format!("'{s}' is not a routable CIDR"));
    }
    Ok(net)
}

/// `validate_mac_address`: unicast-or-not, but never all-zero or broadcast.
pub fn mac_address(v: &Value) -> Result<Value, Reason> {
    let bad = || format!("'{}' is not a valid MAC address", py_str(v));
    let Value::String(s) = v else { return Err(bad()) };
    let mac: neutrino_ipam::MacAddress = s.parse().map_err(|_| bad())?;
    let bytes = mac.octets();
    if bytes == [0; 6] || bytes == [0xff; 6] {
        return Err(bad());
    }
    Ok(Value::String(mac.to_string()))
}

/// `_verify_dict_keys` (strict or subset).
pub fn dict_keys(v: &Value, expected: &[&str], strict: bool) -> Result<(), Reason> {
    let expected_set = py_set(expected.iter().copied());
    let Value::Object(map) = v else {
        return Err(format!(
            "Invalid input. '{}' must be a dictionary with keys: {}",
            py_str(v),
            py_repr(&Value::Array(expected.iter().map(|s| Value::String((*s).into())).collect()))
        ));
    };
    let ok = if strict {
        map.len() == expected.len() && expected.iter().all(|k| map.contains_key(*k))
    } else {
        expected.iter().all(|k| map.contains_key(*k))
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "Validation of dictionary's keys failed. Expected keys: {} Provided keys: {}",
            expected_set,
            py_set(map.keys().map(String::as_str))
        ))
    }
}

fn py_set<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let inner: Vec<String> = items.map(|s| format!("'{s}'")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// `validate_ip_pools` + canonical conversion.
pub fn ip_pools(v: &Value) -> Result<Value, Reason> {
    let Value::Array(pools) = v else {
        return Err(format!("Invalid data format for IP pool: '{}'", py_str(v)));
    };
    let mut out = Vec::with_capacity(pools.len());
    for pool in pools {
        dict_keys(pool, &["start", "end"], true)?;
        let mut canon = Map::new();
        for key in ["start", "end"] {
            let value = &pool[key];
            ip_address(value)?;
            canon.insert(key.into(), canonical_ip(value.clone()));
        }
        out.push(Value::Object(canon));
    }
    Ok(Value::Array(out))
}

/// `validate_nameservers`.
pub fn nameservers(v: &Value) -> Result<Value, Reason> {
    let items = match v {
        Value::Null => return Ok(Value::Array(vec![])),
        Value::Array(items) => items,
        _ => return Err(format!("Invalid data format for nameserver: '{}'", py_str(v))),
    };
    let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
    for host in items {
        if let Err(msg) = ip_address(host) {
            return Err(format!("'{}' is not a valid nameserver. {}", py_str(host), msg));
        }
        // ip_address accepted it, so it is a string.
        if host.as_str().is_some_and(|text| !seen.insert(text)) {
            return Err(format!("Duplicate nameserver '{}'", py_str(host)));
        }
    }
    Ok(Value::Array(items.iter().cloned().map(canonical_ip).collect()))
}

/// Prefixes neutron-lib's `validate_subnet_service_types` accepts. It adds the compute prefix
/// to a list of strings with `+=`, which appends its characters one by one: a type that
/// starts with any of `compute:`'s letters passes, and Neutron's clients rely on that
/// (`test:type_1` is a valid service type there).
const SERVICE_TYPE_PREFIXES: &[&str] = &["network:", "neutron:", "c", "o", "m", "p", "u", "t", "e", ":"];

/// `validate_subnet_service_types`, which raises its own errors rather than returning a
/// reason. A falsy value (Python's `if service_types`) passes and means "none".
pub fn subnet_service_types(v: &Value) -> Result<Value, ApiError> {
    let items = match v {
        Value::Array(items) => items,
        Value::Null | Value::Bool(false) => return Ok(Value::Array(vec![])),
        Value::String(s) if s.is_empty() => return Ok(Value::Array(vec![])),
        Value::Number(n) if n.as_f64() == Some(0.0) => return Ok(Value::Array(vec![])),
        Value::Object(m) if m.is_empty() => return Ok(Value::Array(vec![])),
        _ => return Err(ApiError::bad_request("Subnet service types must be a list.")),
    };
    for item in items {
        let Value::String(t) = item else {
            return Err(ApiError::invalid_input_subnet_service_type(&crate::pystr::py_str(item)));
        };
        if !SERVICE_TYPE_PREFIXES.iter().any(|p| t.starts_with(p)) {
            return Err(ApiError::invalid_subnet_service_type(t));
        }
    }
    Ok(v.clone())
}

/// `validate_hostroutes`.
pub fn host_routes(v: &Value) -> Result<Value, Reason> {
    let items = match v {
        Value::Null => return Ok(Value::Array(vec![])),
        Value::Array(items) => items,
        _ => return Err(format!("Invalid data format for hostroute: '{}'", py_str(v))),
    };
    // After the checks below a route is exactly two strings, so the pair is its identity.
    let mut seen: HashSet<(&str, &str)> = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for route in items {
        dict_keys(route, &["destination", "nexthop"], true)?;
        let dest = route_cidr(&route["destination"])?;
        ip_address(&route["nexthop"])?;
        let key = (route["destination"].as_str().unwrap_or_default(), route["nexthop"].as_str().unwrap_or_default());
        if !seen.insert(key) {
            return Err(format!("Duplicate hostroute '{}'", py_str(route)));
        }
        out.push(
            serde_json::json!({"destination": dest.to_string(), "nexthop": canonical_ip(route["nexthop"].clone())}),
        );
    }
    Ok(Value::Array(out))
}

/// `validate_fixed_ips` (each entry may carry `subnet_id` and/or `ip_address`).
pub fn fixed_ips(v: &Value) -> Result<Value, Reason> {
    let Value::Array(items) = v else {
        return Err(format!("Invalid data format for fixed IP: '{}'", py_str(v)));
    };
    // Only addresses that passed validation are remembered, so every one is a string
    // (Neutron's list of seen addresses, as a set).
    let mut ips: HashSet<&str> = HashSet::with_capacity(items.len());
    let mut out = Vec::with_capacity(items.len());
    for entry in items {
        let Value::Object(map) = entry else {
            return Err(format!("Invalid data format for fixed IP: '{}'", py_str(entry)));
        };
        let mut canon = Map::new();
        if let Some(ip) = map.get("ip_address") {
            if ip.as_str().is_some_and(|text| ips.contains(text)) {
                return Err(format!("Duplicate IP address '{}'", py_str(ip)));
            }
            ip_address(ip)?;
            if let Some(text) = ip.as_str() {
                ips.insert(text);
            }
            canon.insert("ip_address".into(), canonical_ip(ip.clone()));
        }
        if let Some(subnet) = map.get("subnet_id") {
            uuid(subnet)?;
            canon.insert("subnet_id".into(), subnet.clone());
        }
        for key in map.keys() {
            if key != "ip_address" && key != "subnet_id" {
                return Err(format!("Invalid data format for fixed IP: '{}'", py_str(entry)));
            }
        }
        out.push(Value::Object(canon));
    }
    Ok(Value::Array(out))
}

/// `validate_allowed_address_pairs` (allowed-address-pairs extension).
pub fn allowed_address_pairs(v: &Value) -> Result<Value, ApiError> {
    let Value::Array(items) = v else {
        return Err(ApiError::bad_request("Allowed address pairs must be a list."));
    };
    let mut seen: HashSet<(Option<String>, String)> = HashSet::with_capacity(items.len());
    let mut out: Vec<Value> = Vec::with_capacity(items.len());
    for pair in items {
        let Value::Object(map) = pair else {
            return Err(ApiError::bad_request(format!(
                "Invalid input for allowed_address_pairs. Reason: '{}' is not a dictionary.",
                py_str(pair)
            )));
        };
        for key in map.keys() {
            if key != "ip_address" && key != "mac_address" {
                return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{key}'")));
            }
        }
        let Some(ip) = map.get("ip_address") else {
            return Err(ApiError::allowed_address_pairs_missing_ip());
        };
        let ip_text = match ip {
            Value::String(s) => s.clone(),
            other => py_str(other),
        };
        let canon_ip = if ip_text.contains('/') {
            match ip_text.parse::<IpNet>() {
                Ok(net) => format!("{}/{}", net.addr(), net.prefix_len()),
                Err(_) => {
                    return Err(invalid_attr(
                        "allowed_address_pairs",
                        &format!("'{ip_text}' is neither a valid IP address, nor is it a valid IP subnet"),
                    ))
                }
            }
        } else {
            match ip_text.parse::<IpAddr>() {
                Ok(addr) => addr.to_string(),
                Err(_) => {
                    return Err(invalid_attr(
                        "allowed_address_pairs",
                        &format!("'{ip_text}' is neither a valid IP address, nor is it a valid IP subnet"),
                    ))
                }
            }
        };
        let canon_mac = match map.get("mac_address") {
            Some(mac) => Some(mac_address(mac).map_err(|r| invalid_attr("allowed_address_pairs", &r))?),
            None => None,
        };
        let mac_text = canon_mac.as_ref().and_then(Value::as_str).map(str::to_owned);
        if !seen.insert((mac_text.clone(), canon_ip.clone())) {
            return Err(ApiError::duplicate_address_pair_in_request(mac_text.as_deref(), &canon_ip));
        }
        let mut canon = Map::new();
        canon.insert("ip_address".into(), Value::String(canon_ip));
        if let Some(mac) = canon_mac {
            canon.insert("mac_address".into(), mac);
        }
        out.push(Value::Object(canon));
    }
    Ok(Value::Array(out))
}

/// Options whose value may be blank (neutron-lib's `VALID_BLANK_EXTRA_DHCP_OPTS`).
const BLANK_DHCP_OPTS: &[&str] = &["router", "classless-static-route"];

/// `oneline_not_empty_string`: one line, because the value is written into dnsmasq's
/// option file — a newline would inject a second option (the upstream advisory).
fn oneline(v: &Value, max: usize, allow_empty: bool) -> Result<(), Reason> {
    string(v, Some(max))?;
    let s = v.as_str().unwrap_or_default();
    if !allow_empty && s.trim().is_empty() {
        return Err(format!("'{s}' Blank strings are not permitted"));
    }
    if s.contains('\n') || s.contains('\r') || s.contains('\0') {
        return Err(format!("Multi-line string is not allowed: '{s}'"));
    }
    Ok(())
}

/// An option name is a dnsmasq option name or number: nothing that could close the
/// option and start another one in the agent's options file.
fn dhcp_opt_name(name: &str) -> Result<(), Reason> {
    let ok = name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid DHCP option name"))
    }
}

/// dnsmasq reads `tag:...,option:...,value,...` lines: a value whose comma-separated parts
/// start a new keyword would add an option (or a tag) of the tenant's choosing.
const DNSMASQ_KEYWORDS: &[&str] = &["option:", "option6:", "tag:", "set:", "vendor:", "encap:", "vi-encap:", "net:"];

fn dhcp_opt_value(value: &str) -> Result<(), Reason> {
    let injected = value.split(',').any(|part| {
        let p = part.trim_start().to_ascii_lowercase();
        DNSMASQ_KEYWORDS.iter().any(|k| p.starts_with(k))
    });
    if injected {
        Err(format!("'{value}' holds a DHCP option keyword after a comma"))
    } else {
        Ok(())
    }
}

/// Option names the DHCP agent writes into the host's line of dnsmasq's `--dhcp-hostsfile`
/// (`<mac>,id:<client-id>,<name>,<ip>,...`) instead of the options file.
const CLIENT_ID_OPTS: &[&str] = &["client-id", "61"];

/// A client identifier becomes one comma-separated field of the host's dnsmasq line: a comma
/// would add fields of the tenant's choosing (another address, `set:` tag, `ignore`, a lease
/// time), and quotes, backslashes or whitespace change how dnsmasq splits the line.
fn dhcp_client_id(value: &str) -> Result<(), Reason> {
    let field_safe = |c: char| c.is_ascii_graphic() && !matches!(c, ',' | '"' | '\\' | '\'');
    if value.chars().all(field_safe) {
        Ok(())
    } else {
        Err(format!(
            "'{value}' is not a valid client-id: only printable characters without spaces, commas, quotes or backslashes are allowed"
        ))
    }
}

/// `validate_extra_dhcp_opts` (extra_dhcp_opt extension): neutron-lib's two key specs.
pub fn extra_dhcp_opts(v: &Value) -> Result<Value, Reason> {
    let items = match v {
        Value::Null => return Ok(Value::Array(vec![])),
        Value::Array(items) => items,
        _ => return Err(format!("'{}' is not a list", py_str(v))),
    };
    let mut out = Vec::new();
    for opt in items {
        let Value::Object(map) = opt else {
            return Err(format!("'{}' is not a dictionary", py_str(opt)));
        };
        for key in map.keys() {
            if !matches!(key.as_str(), "opt_name" | "opt_value" | "ip_version") {
                return Err(format!("No valid key specs matched for: {}", py_str(opt)));
            }
        }
        let (Some(name), Some(value)) = (map.get("opt_name"), map.get("opt_value")) else {
            return Err(format!("No valid key specs matched for: {}", py_str(opt)));
        };
        let blank_ok = name.as_str().is_some_and(|n| BLANK_DHCP_OPTS.contains(&n));
        oneline(name, 64, false)?;
        if let Some(n) = name.as_str() {
            dhcp_opt_name(n)?;
        }
        let is_client_id = name.as_str().is_some_and(|n| CLIENT_ID_OPTS.iter().any(|c| n.eq_ignore_ascii_case(c)));
        if !value.is_null() {
            oneline(value, 255, blank_ok)?;
            if let Some(v) = value.as_str() {
                if is_client_id {
                    dhcp_client_id(v)?;
                }
                dhcp_opt_value(v)?;
            }
        }
        let version = match map.get("ip_version") {
            None | Some(Value::Null) => 4,
            Some(val) => match to_int(val) {
                Ok(4) => 4,
                Ok(6) => 6,
                _ => return Err(format!("{} is not in [4, 6]", py_str(val))),
            },
        };
        out.push(serde_json::json!({"opt_name": name, "opt_value": value, "ip_version": version}));
    }
    Ok(Value::Array(out))
}

/// A `Invalid input for <attr>. Reason: <reason>.` error (webob HTTPBadRequest).
pub fn invalid_attr(attr: &str, reason: &str) -> ApiError {
    ApiError::bad_request(format!("Invalid input for {attr}. Reason: {reason}."))
}

mod availability_zones;
pub mod dns;
pub mod security_groups;
pub use availability_zones::availability_zone_hints_fit;

#[cfg(test)]
mod tests;
