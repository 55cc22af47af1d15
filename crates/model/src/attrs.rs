//! Attribute maps: the per-resource table that drives request parsing, filtering and sorting,
//! as neutron-lib's `RESOURCE_ATTRIBUTE_MAP` does.
//!
//! Keeping the table declarative means the rules every client relies on (unknown attribute →
//! 400, read-only attribute → 400, defaults, which keys filter and sort) are written once
//! for all resources instead of per handler.

use crate::error::ApiError;
use crate::validate::{self, invalid_attr};
use serde_json::Value;
use std::collections::HashSet;

/// How an attribute is converted and validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `type:uuid`.
    Uuid,
    /// `type:uuid_or_none`.
    UuidOrNone,
    /// `type:uuid_list` (security group ids).
    UuidList,
    /// A CIDR or address, normalised (`remote_ip_prefix`), `null` allowed.
    CidrOrNone,
    /// `external_gateway_info`: a dict with `network_id` (and optional `enable_snat`,
    /// `external_fixed_ips`), or `null` to clear.
    GatewayInfo,
    /// `type:name_string` / `type:string` with a maximum length.
    Str(usize),
    /// `type:not_empty_name_string` (a subnet pool's name).
    NotEmptyStr,
    /// `type:subnet_list` (a subnet pool's prefixes).
    SubnetList,
    /// `convert_none_to_empty_list` + `type:subnet_list` (an address group's addresses).
    SubnetListOrNone,
    /// `convert_to_boolean`.
    Bool,
    /// `convert_to_int` + `type:values`.
    IntOneOf(&'static [i64]),
    /// `type:values` over strings; `null` allowed when the flag is set.
    OneOf(&'static [&'static str], bool),
    /// Integer range (inclusive), `null` allowed.
    IntRangeOrNone(i64, i64),
    /// Non-negative integer.
    NonNegative,
    /// `convert_cidr_to_canonical_format` + `type:subnet_or_none`.
    Cidr,
    /// `type:ip_address_or_none`, canonicalised.
    IpOrNone,
    /// `type:ip_pools`.
    IpPools,
    /// `type:nameservers`.
    Nameservers,
    /// `type:hostroutes`.
    HostRoutes,
    /// `type:list_of_subnet_service_types`.
    SubnetServiceTypes,
    /// `type:fixed_ips`.
    FixedIps,
    /// `type:mac_address`, sanitised to lower-case colon form.
    Mac,
    /// allowed-address-pairs validator.
    AddressPairs,
    /// extra_dhcp_opt validator.
    ExtraDhcpOpts,
    /// `type:dict_or_none` (binding:profile).
    DictOrNone,
    /// `type:list_of_unique_strings` with a per-item maximum length (tags).
    StringList(usize),
    /// `type:availability_zone_hint_list`: unique strings whose JSON form fits the
    /// database column (`AZ_HINTS_DB_LEN`).
    AzHints,
    /// A rule's `convert_protocol`.
    Protocol,
    /// A rule's `convert_validate_port_value`.
    Port,
    /// A rule's `convert_ethertype_to_case_insensitive`.
    Ethertype,
    /// No converter and no validator (a rule's `remote_group_id`).
    Unvalidated,
    /// `type:string_or_none` with a maximum length (a flavor's or profile's description).
    StrOrNone(usize),
    /// `convert_to_boolean_if_not_none` (a flavor's or profile's `enabled`).
    BoolOrNone,
    /// `type:service_plugin_type`: a loaded service plugin's type (a flavor's).
    ServicePluginType,
    /// A service profile's `metainfo`: no validator in Neutron, kept as its string column
    /// keeps it (a number or boolean as Python's `str`), at most the column's length.
    Metainfo(usize),
    /// dns-integration's port `dns_name`: `convert_string_to_case_insensitive` +
    /// `type:dns_host_name` (the format; the server's domain is checked after).
    DnsName,
    /// A floating IP's `dns_name`: lower-cased, `type:fip_dns_host_name`.
    FipDnsName,
    /// A network's, port's or floating IP's `dns_domain`: lower-cased,
    /// `type:dns_domain_name`.
    DnsDomain,
    /// Read-only attributes never validated.
    ReadOnly,
}

/// A default value, or why there is none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Default {
    /// No default: the attribute must be given on create.
    Required,
    /// `ATTR_NOT_SPECIFIED`: optional; the plugin decides.
    NotSpecified,
    /// A JSON literal default.
    Bool(bool),
    /// A string default.
    Str(&'static str),
    /// `[]`.
    EmptyList,
    /// `{}`.
    EmptyMap,
}

impl Default {
    fn value(self) -> Option<Value> {
        match self {
            Default::Required | Default::NotSpecified => None,
            Default::Bool(b) => Some(Value::Bool(b)),
            Default::Str(s) => Some(Value::String(s.into())),
            Default::EmptyList => Some(Value::Array(vec![])),
            Default::EmptyMap => Some(Value::Object(Default::empty_map())),
        }
    }

    fn empty_map() -> serde_json::Map<String, Value> {
        serde_json::Map::new()
    }
}

/// One attribute of a resource.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    /// Wire name, e.g. `provider:network_type`.
    pub name: &'static str,
    /// May be given on create.
    pub post: bool,
    /// May be given on update.
    pub put: bool,
    /// Default on create.
    pub default: Default,
    /// Conversion and validation.
    pub kind: Kind,
    /// Usable as a list filter (`is_filter`).
    pub filter: bool,
    /// Usable as a sort key (`is_sort_key`).
    pub sort: bool,
}

impl AttrSpec {
    /// A read-only attribute (shown, optionally filterable/sortable).
    pub const fn read_only(name: &'static str, filter: bool, sort: bool) -> Self {
        Self { name, post: false, put: false, default: Default::NotSpecified, kind: Kind::ReadOnly, filter, sort }
    }

    /// Converts and validates one value given for this attribute.
    pub fn check(&self, value: &Value) -> Result<Value, ApiError> {
        let reason = |r: String| invalid_attr(self.name, &r);
        match self.kind {
            Kind::ReadOnly => Ok(value.clone()),
            Kind::Uuid => validate::uuid(value).map(|_| value.clone()).map_err(reason),
            Kind::UuidOrNone if value.is_null() => Ok(Value::Null),
            Kind::UuidOrNone => validate::uuid(value).map(|_| value.clone()).map_err(reason),
            Kind::UuidList => self.uuid_list(value),
            Kind::GatewayInfo => self.gateway_info(value),
            Kind::CidrOrNone => self.cidr_or_none(value),
            Kind::Str(max) => validate::string(value, Some(max)).map(|_| value.clone()).map_err(reason),
            Kind::NotEmptyStr => validate::not_empty_string(value, None).map(|_| value.clone()).map_err(reason),
            Kind::SubnetList => validate::subnet_list(value).map(|_| value.clone()).map_err(reason),
            Kind::SubnetListOrNone if value.is_null() => Ok(Value::Array(vec![])),
            Kind::SubnetListOrNone => validate::subnet_list(value).map(|_| value.clone()).map_err(reason),
            Kind::Bool => validate::to_bool(value).map(Value::Bool),
            Kind::IntOneOf(valid) => self.int_one_of(value, valid),
            Kind::OneOf(_, true) if value.is_null() => Ok(Value::Null),
            Kind::OneOf(valid, _) => validate::one_of(value, valid).map(|_| value.clone()).map_err(reason),
            Kind::IntRangeOrNone(..) if value.is_null() => Ok(Value::Null),
            Kind::IntRangeOrNone(min, max) => self.int_range(value, min, max),
            Kind::NonNegative => self.non_negative(value),
            Kind::Cidr if value.is_null() => Ok(Value::Null),
            Kind::Cidr => validate::subnet_cidr(value),
            Kind::IpOrNone if value.is_null() => Ok(Value::Null),
            Kind::IpOrNone => {
                validate::ip_address(value).map_err(reason)?;
                Ok(validate::canonical_ip(value.clone()))
            }
            Kind::IpPools if value.is_null() => Ok(Value::Array(vec![])),
            Kind::IpPools => validate::ip_pools(value).map_err(reason),
            Kind::Nameservers => validate::nameservers(value).map_err(reason),
            Kind::HostRoutes => validate::host_routes(value).map_err(reason),
            Kind::SubnetServiceTypes => validate::subnet_service_types(value),
            Kind::FixedIps => validate::fixed_ips(value).map_err(reason),
            // `convert_to_mac_if_none`: null is a MAC the server generates.
            Kind::Mac if value.is_null() => Ok(Value::Null),
            Kind::Mac => validate::mac_address(value).map_err(reason),
            Kind::AddressPairs if value.is_null() => Ok(Value::Array(vec![])),
            Kind::AddressPairs => validate::allowed_address_pairs(value),
            Kind::ExtraDhcpOpts => validate::extra_dhcp_opts(value).map_err(reason),
            Kind::DictOrNone => match value {
                Value::Null => Ok(Value::Object(serde_json::Map::new())),
                Value::Object(_) => Ok(value.clone()),
                other => Err(reason(format!("'{}' is not a dictionary", crate::pystr::py_str(other)))),
            },
            Kind::StringList(max) => self.string_list(value, max),
            Kind::AzHints => {
                let hints = self.string_list(value, usize::MAX)?;
                validate::availability_zone_hints_fit(&hints)?;
                Ok(hints)
            }
            Kind::Protocol => validate::security_groups::protocol(value),
            Kind::Port => validate::security_groups::port(value),
            Kind::Ethertype => validate::security_groups::ethertype(value),
            Kind::Unvalidated => Ok(validate::security_groups::unvalidated_id(value)),
            Kind::StrOrNone(_) if value.is_null() => Ok(Value::Null),
            Kind::StrOrNone(max) => validate::string(value, Some(max)).map(|_| value.clone()).map_err(reason),
            Kind::BoolOrNone if value.is_null() => Ok(Value::Null),
            Kind::BoolOrNone => validate::to_bool(value).map(Value::Bool),
            Kind::ServicePluginType => match value {
                Value::String(t) if crate::servicetype::is_loaded_plugin_type(t) => Ok(value.clone()),
                other => Err(ApiError::invalid_service_type(crate::pystr::py_str(other))),
            },
            Kind::Metainfo(max) => self.metainfo(value, max),
            Kind::DnsName => validate::dns::dns_name(value),
            Kind::FipDnsName => validate::dns::fip_dns_name(value),
            Kind::DnsDomain => validate::dns::dns_domain(value),
        }
    }

    /// `invalid_attr` for this attribute: "Invalid input for <name>. Reason: ...".
    fn invalid(&self, reason: String) -> ApiError {
        invalid_attr(self.name, &reason)
    }

    /// [`Kind::UuidList`]: `_validate_list_of_items`, duplicates first (every repeated item
    /// named once, in order), then each item; a set keeps it linear.
    fn uuid_list(&self, value: &Value) -> Result<Value, ApiError> {
        let Value::Array(items) = value else {
            return Err(self.invalid(format!("'{}' is not a list", crate::pystr::py_str(value))));
        };
        let mut seen: HashSet<String> = HashSet::with_capacity(items.len());
        let mut dups: Vec<String> = Vec::new();
        for item in items {
            let shown = crate::pystr::py_str(item);
            if !seen.insert(item.to_string()) && !dups.contains(&shown) {
                dups.push(shown);
            }
        }
        if !dups.is_empty() {
            return Err(self.invalid(format!("Duplicate items in the list: '{}'", dups.join(", "))));
        }
        for item in items {
            validate::uuid(item).map_err(|r| self.invalid(r))?;
        }
        Ok(value.clone())
    }

    /// [`Kind::GatewayInfo`]. `{}` clears the gateway, as `openstack router unset
    /// --external-gateway` sends; only the keys given are kept.
    fn gateway_info(&self, value: &Value) -> Result<Value, ApiError> {
        let m = match value {
            Value::Null => return Ok(Value::Null),
            Value::Object(m) if m.is_empty() => return Ok(Value::Null),
            Value::Object(m) => m,
            other => return Err(self.invalid(format!("'{}' is not a dictionary", crate::pystr::py_str(other)))),
        };
        for k in m.keys() {
            if !matches!(k.as_str(), "network_id" | "enable_snat" | "external_fixed_ips" | "qos_policy_id") {
                return Err(self.invalid(format!("Unexpected keys supplied: {k}")));
            }
        }
        let mut out = serde_json::Map::new();
        let net = m.get("network_id").ok_or_else(|| {
            self.invalid("Validation of dictionary's keys failed. Expected keys: {'network_id'}".into())
        })?;
        validate::uuid(net).map_err(|r| self.invalid(r))?;
        out.insert("network_id".into(), net.clone());
        if let Some(v) = m.get("enable_snat") {
            out.insert("enable_snat".into(), Value::Bool(validate::to_bool(v)?));
        }
        if let Some(v) = m.get("external_fixed_ips") {
            out.insert("external_fixed_ips".into(), validate::fixed_ips(v).map_err(|r| self.invalid(r))?);
        }
        Ok(Value::Object(out))
    }

    /// [`Kind::CidrOrNone`]: a CIDR or a bare address, as `addr/len`.
    fn cidr_or_none(&self, value: &Value) -> Result<Value, ApiError> {
        if value.is_null() {
            return Ok(Value::Null);
        }
        let text = value.as_str().unwrap_or_default();
        let net = text
            .parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| self.invalid(format!("'{}' is not a valid IP subnet", crate::pystr::py_str(value))))?;
        Ok(Value::String(format!("{}/{}", net.addr(), net.prefix_len())))
    }

    /// [`Kind::IntOneOf`].
    fn int_one_of(&self, value: &Value, valid: &[i64]) -> Result<Value, ApiError> {
        let n = validate::to_int(value)?;
        if valid.contains(&n) {
            return Ok(Value::from(n));
        }
        let shown: Vec<String> = valid.iter().map(i64::to_string).collect();
        Err(self.invalid(format!("{n} is not in [{}]", shown.join(", "))))
    }

    /// [`Kind::IntRangeOrNone`], once `null` is handled.
    fn int_range(&self, value: &Value, min: i64, max: i64) -> Result<Value, ApiError> {
        let n = validate::to_int(value)?;
        if n < min {
            Err(self.invalid(format!("'{n}' is too small - must be at least '{min}'")))
        } else if n > max {
            Err(self.invalid(format!("'{n}' is too large - must be no larger than '{max}'")))
        } else {
            Ok(Value::from(n))
        }
    }

    /// [`Kind::NonNegative`].
    fn non_negative(&self, value: &Value) -> Result<Value, ApiError> {
        let n = validate::to_int(value)?;
        if n < 0 {
            return Err(self.invalid(format!("'{n}' should be non-negative")));
        }
        Ok(Value::from(n))
    }

    /// [`Kind::StringList`]: unique strings of at most `max` characters.
    fn string_list(&self, value: &Value, max: usize) -> Result<Value, ApiError> {
        let Value::Array(items) = value else {
            return Err(self.invalid(format!("'{}' is not a list", crate::pystr::py_str(value))));
        };
        let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
        for item in items {
            validate::string(item, Some(max)).map_err(|r| self.invalid(r))?;
            if item.as_str().is_some_and(|text| !seen.insert(text)) {
                return Err(self.invalid(format!("Duplicate items in the list: '{}'", crate::pystr::py_str(item))));
            }
        }
        Ok(value.clone())
    }

    /// [`Kind::Metainfo`]: OVO's `StringField` coercion (strings, numbers and booleans; `null`
    /// stays `null`). Neutron answers a list, an object or an over-long value with a 500
    /// from the database; here they are the validator's 400.
    fn metainfo(&self, value: &Value, max: usize) -> Result<Value, ApiError> {
        let text = match value {
            Value::Null => return Ok(Value::Null),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => crate::pystr::py_str(value),
            other => return Err(self.invalid(format!("'{}' is not a valid string", crate::pystr::py_str(other)))),
        };
        if text.chars().count() > max {
            return Err(self.invalid(format!("'{text}' exceeds maximum length of {max}")));
        }
        Ok(Value::String(text))
    }

    /// The default value to fill on create, if any.
    pub fn default_value(&self) -> Option<Value> {
        self.default.value()
    }

    /// Parses a query-string filter value into the attribute's JSON type.
    pub fn filter_value(&self, raw: &str) -> Result<Value, ApiError> {
        match self.kind {
            Kind::Bool | Kind::BoolOrNone => validate::to_bool(&Value::String(raw.into())).map(Value::Bool),
            Kind::IntOneOf(_) | Kind::IntRangeOrNone(..) | Kind::NonNegative | Kind::Port => {
                validate::to_int(&Value::String(raw.into())).map(Value::from)
            }
            // A subnet's or security group's `shared`, and a rule's `belongs_to_default_sg`,
            // which neutron-lib converts to booleans.
            Kind::ReadOnly if matches!(self.name, "shared" | "belongs_to_default_sg") => {
                validate::to_bool(&Value::String(raw.into())).map(Value::Bool)
            }
            Kind::ReadOnly if self.name == "revision_number" => {
                validate::to_int(&Value::String(raw.into())).map(Value::from)
            }
            Kind::IpOrNone => Ok(validate::canonical_ip(Value::String(raw.into()))),
            _ => Ok(Value::String(raw.into())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec(kind: Kind) -> AttrSpec {
        AttrSpec { name: "x", post: true, put: true, default: Default::NotSpecified, kind, filter: false, sort: false }
    }

    #[test]
    fn uuid_lists_refuse_duplicates_before_checking_items() {
        let a = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";
        let b = "0b7e6d2a-9f3c-4e8b-8d1a-2c3b4a5d6e7f";
        let err = spec(Kind::UuidList).check(&json!([b, a, b, a, b, "x", "x"])).unwrap_err();
        assert_eq!(err.message, format!("Invalid input for x. Reason: Duplicate items in the list: '{b}, {a}, x'."));
        assert_eq!(spec(Kind::UuidList).check(&json!([b, a])).unwrap(), json!([b, a]));
        let err = spec(Kind::UuidList).check(&json!([a, "nope"])).unwrap_err();
        assert_eq!(err.message, "Invalid input for x. Reason: 'nope' is not a valid UUID.");
    }

    #[test]
    fn string_lists_refuse_a_duplicate_anywhere() {
        let mut tags: Vec<Value> = (0..10_000).map(|i| json!(format!("tag-{i}"))).collect();
        assert!(spec(Kind::StringList(255)).check(&Value::Array(tags.clone())).is_ok());
        tags.push(json!("tag-9876"));
        let err = spec(Kind::StringList(255)).check(&Value::Array(tags)).unwrap_err();
        assert_eq!(err.message, "Invalid input for x. Reason: Duplicate items in the list: 'tag-9876'.");
        let err = spec(Kind::StringList(255)).check(&json!(["a", 1])).unwrap_err();
        assert_eq!(err.message, "Invalid input for x. Reason: '1' is not a valid string.");
    }
}
