//! Address group bodies (`ADDRESS_GROUP` in [`crate::resources`]) and the body of its
//! member actions, `add_addresses` / `remove_addresses`.

use crate::error::ApiError;
use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;
use std::net::{IpAddr, Ipv4Addr};

/// `POST /v2.0/address-groups`, one item. Addresses are validated subnets (host bits
/// allowed); the group logic normalises them.
#[derive(Debug, Clone, Deserialize)]
pub struct AddressGroupCreate {
    pub project_id: String,
    pub name: String,
    pub description: String,
    /// Absent: none (`null` was converted to `[]`).
    pub addresses: Option<Vec<String>>,
}

/// `PUT /v2.0/address-groups/{id}`: addresses change only through the member actions.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddressGroupUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
}

/// The items of an `add_addresses` / `remove_addresses` body (`{"addresses": [...]}`), read
/// as Neutron's plugin iterates `body['addresses']`: a string is taken character by
/// character and an object by its keys. Neutron has no validator here, so what it cannot
/// iterate (no `addresses`, `null`, a number, an item that is not a string) fails in the
/// plugin with its generic 500; that is kept, so a client sees what Neutron answers.
pub fn address_ops_items(body: &Value) -> Result<Vec<String>, ApiError> {
    let items: Vec<&Value> = match body.get("addresses") {
        Some(Value::Array(list)) => list.iter().collect(),
        Some(Value::String(text)) => return Ok(text.chars().map(String::from).collect()),
        Some(Value::Object(map)) => return Ok(map.keys().cloned().collect()),
        _ => return Err(ApiError::internal()),
    };
    items.into_iter().map(|v| v.as_str().map(str::to_string).ok_or_else(ApiError::internal)).collect()
}

/// netaddr's `IPNetwork(text)` written back as `network/prefixlen` (host bits cleared), as
/// `_process_requested_addresses` normalises; netaddr's `AddrFormatError` otherwise. A bare
/// address is a host network; an IPv4 prefix may be a netmask or a hostmask.
pub fn normalize_address(text: &str) -> Result<String, ApiError> {
    let bad = || ApiError::addr_format_error(text);
    let (addr, len) = match text.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text, None),
    };
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match len {
        None => max,
        Some(l) => prefix_len(l, ip.is_ipv4()).filter(|p| *p <= max).ok_or_else(bad)?,
    };
    let net = IpNet::new(ip, prefix).map_err(|_| bad())?.trunc();
    Ok(format!("{}/{}", net.addr(), net.prefix_len()))
}

/// A prefix length as Python's `int()` reads it, or an IPv4 netmask / hostmask.
fn prefix_len(text: &str, v4: bool) -> Option<u8> {
    let digits = text.trim();
    let digits = digits.strip_prefix('+').unwrap_or(digits);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return digits.parse::<u8>().ok();
    }
    let mask: Ipv4Addr = text.parse().ok().filter(|_| v4)?;
    let bits = u32::from(mask);
    // A netmask is ones then zeros; a hostmask zeros then ones.
    if bits.leading_ones() + bits.trailing_zeros() == 32 {
        return Some(bits.leading_ones() as u8);
    }
    (bits.leading_zeros() + bits.trailing_ones() == 32).then(|| bits.leading_zeros() as u8)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::ADDRESS_GROUP;
    use serde_json::json;

    fn caller() -> Caller<'static> {
        Caller { project_id: "p1", can_set_project_id: false }
    }

    #[test]
    fn addresses_normalise_as_netaddr_writes_them() {
        let ok = |t| normalize_address(t).unwrap();
        assert_eq!(ok("10.1.1.1"), "10.1.1.1/32");
        assert_eq!(ok("192.168.0.10/24"), "192.168.0.0/24");
        assert_eq!(ok("10.1.1.1/255.255.0.0"), "10.1.0.0/16");
        assert_eq!(ok("10.1.1.1/0.0.0.255"), "10.1.1.0/24");
        assert_eq!(ok("10.1.1.1/+24"), "10.1.1.0/24");
        assert_eq!(ok("2001:DB8::f00/64"), "2001:db8::/64");
        assert_eq!(ok("2001:db8::1"), "2001:db8::1/128");
        for bad in ["bad", "10/8", "10.1", "10.1.1.1/33", " 10.1.1.1/24", "010.1.1.1/24", "2001:db8::/129"] {
            let e = normalize_address(bad).unwrap_err();
            assert_eq!((e.status, e.kind.as_ref()), (400, "AddrFormatError"), "{bad}");
            assert_eq!(e.message, format!("invalid IPNetwork {bad}"));
        }
    }

    #[test]
    fn action_bodies_are_iterated_as_python_does() {
        assert_eq!(address_ops_items(&json!({"addresses": ["10.0.0.0/8"]})).unwrap(), ["10.0.0.0/8"]);
        assert_eq!(address_ops_items(&json!({"addresses": "10"})).unwrap(), ["1", "0"]);
        for v in [json!({}), json!({"addresses": null}), json!({"addresses": [5]}), json!([])] {
            assert_eq!(address_ops_items(&v).unwrap_err().status, 500, "{v}");
        }
    }

    #[test]
    fn a_create_types_with_its_defaults_and_null_addresses_are_none() {
        let make = |b| {
            let (items, _) = prepare_create(&ADDRESS_GROUP, &b, &caller(), &ListLimits::default()).unwrap();
            Body::<AddressGroupCreate>::from_validated_all(items).unwrap().remove(0).fields
        };
        let g = make(json!({"address_group": {"name": "g"}}));
        assert_eq!((g.name.as_str(), g.description.as_str(), g.addresses), ("g", "", None));
        assert_eq!(make(json!({"address_group": {"addresses": null}})).addresses, Some(vec![]));
        let err = |b| prepare_create(&ADDRESS_GROUP, &b, &caller(), &ListLimits::default()).unwrap_err().message;
        assert_eq!(
            err(json!({"address_group": {"addresses": ["10.20.30.40"]}})),
            "Invalid input for addresses. Reason: '10.20.30.40' is not a valid IP subnet."
        );
        assert_eq!(err(json!({"address_group": {"shared": true}})), "Attribute 'shared' not allowed in POST");
        assert_eq!(err(json!({"address_group": {"tags": ["a"]}})), "Unrecognized attribute(s) 'tags'");
        let up = prepare_update(
            &ADDRESS_GROUP,
            &json!({"address_group": {"addresses": []}}),
            &caller(),
            &ListLimits::default(),
        );
        assert_eq!(up.unwrap_err().message, "Cannot update read-only attribute addresses");
    }
}
