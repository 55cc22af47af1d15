//! JSON Schemas (OpenAPI 3.0 dialect) of the resources, read off their attribute maps: what a
//! create or update body may carry comes from `post`/`put`, the types from each attribute's
//! [`Kind`] (the validator the server runs), what a response shows from
//! [`resources::is_visible`].

use crate::attrs::{AttrSpec, Default as D, Kind};
use crate::resources::{self, ResourceDef, IP_PROTOCOLS};
use serde_json::{json, Map, Value};

/// A string of at most `max` characters.
fn string(max: usize) -> Value {
    json!({"type": "string", "maxLength": max})
}

/// `schema` that also admits `null` (OpenAPI 3.0's `nullable`; an enum lists `null` too, as
/// the 3.0.3 specification asks).
fn nullable(mut schema: Value) -> Value {
    if let Value::Object(m) = &mut schema {
        m.insert("nullable".into(), Value::Bool(true));
        if let Some(Value::Array(values)) = m.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    schema
}

fn uuid() -> Value {
    json!({"type": "string", "format": "uuid"})
}

fn ip() -> Value {
    json!({"type": "string", "format": "ip-address", "description": "An IPv4 or IPv6 address."})
}

fn cidr() -> Value {
    json!({"type": "string", "format": "cidr", "description": "An IPv4 or IPv6 prefix, address/length."})
}

fn fixed_ips() -> Value {
    json!({"type": "array", "items": {"type": "object", "properties": {
        "subnet_id": uuid(), "ip_address": ip()}}})
}

/// `external_gateway_info`.
fn gateway_info() -> Value {
    nullable(json!({"type": "object", "required": ["network_id"], "additionalProperties": false, "properties": {
        "network_id": uuid(),
        "enable_snat": {"type": "boolean"},
        "external_fixed_ips": fixed_ips(),
        "qos_policy_id": nullable(uuid()),
    }}))
}

/// `protocol`: a name neutron-lib knows, a number 0-255 (or its decimal string), or `null`.
fn protocol() -> Value {
    let names: Vec<Value> = IP_PROTOCOLS.iter().map(|(n, _)| Value::from(*n)).collect();
    json!({"anyOf": [
        nullable(json!({"type": "string", "enum": names})),
        {"type": "integer", "minimum": 0, "maximum": 255},
        {"type": "string", "pattern": "^[0-9]{1,3}$"},
    ]})
}

/// The schema of the values [`AttrSpec::check`] accepts for `kind`.
pub fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Uuid => uuid(),
        Kind::UuidOrNone => nullable(uuid()),
        Kind::UuidList => json!({"type": "array", "uniqueItems": true, "items": uuid()}),
        Kind::CidrOrNone | Kind::Cidr => nullable(cidr()),
        Kind::GatewayInfo => gateway_info(),
        Kind::Str(max) => string(max),
        Kind::NotEmptyStr => json!({"type": "string", "minLength": 1}),
        Kind::SubnetList => json!({"type": "array", "items": cidr()}),
        Kind::SubnetListOrNone => nullable(json!({"type": "array", "items": cidr()})),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::BoolOrNone => nullable(json!({"type": "boolean"})),
        Kind::IntOneOf(values) => json!({"type": "integer", "enum": values}),
        Kind::OneOf(values, null) => {
            let schema = json!({"type": "string", "enum": values});
            if null {
                nullable(schema)
            } else {
                schema
            }
        }
        Kind::IntRangeOrNone(min, max) => nullable(json!({"type": "integer", "minimum": min, "maximum": max})),
        Kind::NonNegative => json!({"type": "integer", "minimum": 0}),
        Kind::IpOrNone => nullable(ip()),
        Kind::IpPools => nullable(json!({"type": "array", "items": {"type": "object", "required": ["start", "end"],
            "properties": {"start": ip(), "end": ip()}}})),
        Kind::Nameservers => json!({"type": "array", "uniqueItems": true, "items": ip()}),
        Kind::HostRoutes => json!({"type": "array", "items": {"type": "object", "required": ["destination", "nexthop"],
            "properties": {"destination": cidr(), "nexthop": ip()}}}),
        Kind::SubnetServiceTypes => json!({"type": "array", "items": {"type": "string"}}),
        Kind::FixedIps => fixed_ips(),
        Kind::Mac => nullable(json!({"type": "string", "format": "mac-address"})),
        Kind::AddressPairs => nullable(json!({"type": "array", "items": {"type": "object", "required": ["ip_address"],
            "properties": {"ip_address": {"type": "string"}, "mac_address": {"type": "string", "format": "mac-address"}}}})),
        Kind::ExtraDhcpOpts => {
            json!({"type": "array", "items": {"type": "object", "required": ["opt_name"], "properties": {
            "opt_name": {"type": "string"}, "opt_value": {"type": "string", "nullable": true},
            "ip_version": {"type": "integer", "enum": [4, 6]}}}})
        }
        Kind::DictOrNone => nullable(json!({"type": "object", "additionalProperties": true})),
        Kind::StringList(max) => json!({"type": "array", "uniqueItems": true, "items": string(max)}),
        Kind::AzHints => json!({"type": "array", "uniqueItems": true, "items": {"type": "string"}}),
        Kind::Protocol => protocol(),
        Kind::Port => json!({"anyOf": [
            nullable(json!({"type": "integer", "minimum": 0, "maximum": 65535})),
            {"type": "string", "pattern": "^[0-9]{1,5}$"},
        ]}),
        Kind::Ethertype => json!({"type": "string", "pattern": "^[iI][pP][vV][46]$"}),
        Kind::Unvalidated => json!({"description": "Any value; checked when used."}),
        Kind::StrOrNone(max) => nullable(string(max)),
        Kind::ServicePluginType => {
            json!({"type": "string", "description": "The plugin type of a service plugin the server runs, e.g. L3_ROUTER_NAT."})
        }
        Kind::Metainfo(max) => nullable(string(max)),
        Kind::DnsName | Kind::FipDnsName => json!({"type": "string", "maxLength": 255}),
        Kind::DnsDomain => json!({"type": "string", "maxLength": 255}),
        Kind::ReadOnly => json!({}),
    }
}

/// The type of a read-only attribute, known by its name (the validator never sees them).
fn read_only_schema(name: &str) -> Value {
    match name {
        "id" | "router_id" => uuid(),
        "created_at" | "updated_at" => json!({"type": "string", "format": "date-time"}),
        "revision_number" | "ip_version" => json!({"type": "integer"}),
        "shared" | "belongs_to_default_sg" => json!({"type": "boolean"}),
        "status" | "ip_allocation" | "binding:vif_type" | "normalized_cidr" => json!({"type": "string"}),
        "subnets" => json!({"type": "array", "items": uuid()}),
        "ipv4_address_scope" | "ipv6_address_scope" => nullable(uuid()),
        "availability_zones" => json!({"type": "array", "items": {"type": "string"}}),
        "binding:vif_details" => json!({"type": "object", "additionalProperties": true}),
        _ => json!({"type": "array", "items": {"type": "object", "additionalProperties": true}}),
    }
}

/// An attribute's schema in a response.
fn shown_schema(a: &AttrSpec) -> Value {
    match a.kind {
        Kind::ReadOnly => read_only_schema(a.name),
        kind => kind_schema(kind),
    }
}

/// An attribute's schema in a request, with its default.
fn given_schema(a: &AttrSpec) -> Value {
    let mut schema = kind_schema(a.kind);
    if let (Some(default), Value::Object(m)) = (a.default_value(), &mut schema) {
        m.insert("default".into(), default);
    }
    schema
}

/// The body object of a create (`post`) or update (`put`): unknown and read-only keys are
/// refused with 400, so `additionalProperties` is false.
pub fn request_object(def: &ResourceDef, create: bool) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for a in def.attrs.iter().filter(|a| if create { a.post } else { a.put }) {
        props.insert(a.name.into(), given_schema(a));
        if create && a.default == D::Required {
            required.push(Value::from(a.name));
        }
    }
    let mut schema = json!({"type": "object", "additionalProperties": false, "properties": props});
    if !required.is_empty() {
        schema["required"] = Value::Array(required);
    }
    schema
}

/// A resource as responses show it.
pub fn response_object(def: &ResourceDef) -> Value {
    let props: Map<String, Value> = def
        .attrs
        .iter()
        .filter(|a| resources::is_visible(def.resource, a.name))
        .map(|a| (a.name.to_string(), shown_schema(a)))
        .collect();
    json!({"type": "object", "properties": props})
}

/// `{key: schema}` with `key` required.
pub fn wrapped(key: &str, schema: Value) -> Value {
    json!({"type": "object", "required": [key], "properties": {key: schema}})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::AttrSpec;
    use crate::error::Resource;

    const COLOURS: &[&str] = &["red", "green"];
    const MORE_COLOURS: &[&str] = &["red", "green", "blue"];

    fn def_with(kind: Kind) -> ResourceDef {
        let attrs: &'static [AttrSpec] = Box::leak(Box::new([
            AttrSpec::read_only("id", true, true),
            AttrSpec { name: "colour", post: true, put: false, default: D::Required, kind, filter: true, sort: true },
        ]));
        ResourceDef { resource: Resource::Network, singular: "thing", plural: "things", attrs }
    }

    #[test]
    fn a_schema_follows_its_attribute_map() {
        let before = request_object(&def_with(Kind::OneOf(COLOURS, false)), true);
        assert_eq!(before["properties"]["colour"]["enum"], json!(["red", "green"]));
        assert_eq!(before["required"], json!(["colour"]));
        let after = request_object(&def_with(Kind::OneOf(MORE_COLOURS, true)), true);
        assert_eq!(after["properties"]["colour"]["enum"], json!(["red", "green", "blue", null]));
        assert_eq!(after["properties"]["colour"]["nullable"], json!(true));
        // Not `put`: absent from the update body, which refuses unknown keys.
        let update = request_object(&def_with(Kind::OneOf(COLOURS, false)), false);
        assert_eq!(update["properties"], json!({}));
        assert_eq!(update["additionalProperties"], json!(false));
        let ranged = request_object(&def_with(Kind::IntRangeOrNone(2, 9)), true);
        assert_eq!(ranged["properties"]["colour"]["minimum"], json!(2));
        assert_eq!(ranged["properties"]["colour"]["maximum"], json!(9));
    }

    #[test]
    fn responses_leave_out_attributes_never_shown() {
        let subnet = response_object(&resources::SUBNET);
        assert!(subnet["properties"].get("cidr").is_some());
        assert!(subnet["properties"].get("prefixlen").is_none());
        assert!(request_object(&resources::SUBNET, true)["properties"].get("prefixlen").is_some());
        assert_eq!(subnet["properties"]["id"]["format"], json!("uuid"));
    }

    #[test]
    fn the_port_vnic_type_lists_every_value_the_validator_accepts() {
        let port = request_object(&resources::PORT, true);
        let got = port["properties"]["binding:vnic_type"]["enum"].as_array().cloned().unwrap_or_default();
        assert_eq!(got.len(), resources::VNIC_TYPES.len());
        assert_eq!(port["properties"]["binding:vnic_type"]["default"], json!("normal"));
    }
}
