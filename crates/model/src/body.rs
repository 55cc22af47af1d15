//! Request body preparation, as Neutron's `Controller.prepare_request_body` does it:
//! envelope checks, bulk unpacking, project ownership, unknown and read-only attributes,
//! defaults, conversion and validation — in that order, with Neutron's messages.

use crate::attrs::AttrSpec;
use crate::error::ApiError;
use crate::limits::ListLimits;
use crate::resources::ResourceDef;
use serde_json::{Map, Value};

/// Who is asking, as far as body preparation cares.
#[derive(Debug, Clone)]
pub struct Caller<'a> {
    /// The project the request acts in (token scope or `X-Project-Id`).
    pub project_id: &'a str,
    /// Whether the caller may set another project's id (admin).
    pub can_set_project_id: bool,
}

/// Parses a create body: one object, or a list for bulk create.
///
/// Returns the prepared attribute maps (defaults filled, values converted) and whether the
/// request was a bulk request (the response envelope differs). Every list is counted against
/// `limits` before its items are validated.
pub fn prepare_create(
    def: &ResourceDef,
    body: &Value,
    caller: &Caller,
    limits: &ListLimits,
) -> Result<(Vec<Map<String, Value>>, bool), ApiError> {
    let Value::Object(obj) = body else {
        return Err(ApiError::bad_request("Body contains invalid data"));
    };
    if obj.is_empty() {
        return Err(ApiError::bad_request("Resource body required"));
    }
    if let Some(items) = obj.get(def.plural) {
        let Value::Array(items) = items else {
            return Err(ApiError::bad_request("Body contains invalid data"));
        };
        if items.is_empty() {
            return Err(ApiError::bad_request("Resources required"));
        }
        let prepared = items
            .iter()
            .map(|item| {
                let inner = match item {
                    Value::Object(m) if m.contains_key(def.singular) => &m[def.singular],
                    other => other,
                };
                prepare_one(def, inner, true, caller, limits)
            })
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((prepared, true));
    }
    let res = unwrap_single(def, obj)?;
    Ok((vec![prepare_one(def, res, true, caller, limits)?], false))
}

/// Parses an update body.
pub fn prepare_update(
    def: &ResourceDef,
    body: &Value,
    caller: &Caller,
    limits: &ListLimits,
) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(obj) = body else {
        return Err(ApiError::bad_request("Body contains invalid data"));
    };
    if obj.is_empty() {
        return Err(ApiError::bad_request("Resource body required"));
    }
    if obj.contains_key(def.plural) {
        return Err(ApiError::bad_request("Bulk operation not supported"));
    }
    let res = unwrap_single(def, obj)?;
    prepare_one(def, res, false, caller, limits)
}

fn unwrap_single<'b>(def: &ResourceDef, obj: &'b Map<String, Value>) -> Result<&'b Value, ApiError> {
    obj.get(def.singular)
        .filter(|v| !v.is_null())
        .ok_or_else(|| ApiError::bad_request(format!("Unable to find '{}' in request body", def.singular)))
}

fn prepare_one(
    def: &ResourceDef,
    res: &Value,
    is_create: bool,
    caller: &Caller,
    limits: &ListLimits,
) -> Result<Map<String, Value>, ApiError> {
    let Value::Object(given) = res else {
        return Err(ApiError::bad_request(format!("Object '{}' contains invalid data", def.singular)));
    };
    let mut res = given.clone();
    // A resource without an owner (flavors, service profiles) gets no project filled in: one
    // given is then an unrecognized attribute, as in Neutron.
    let owned = def.attr("tenant_id").is_some();
    populate_project(&mut res, is_create && owned, caller)?;
    let unknown: Vec<&str> = res.keys().filter(|k| def.attr(k).is_none()).map(String::as_str).collect();
    if !unknown.is_empty() {
        return Err(ApiError::bad_request(format!("Unrecognized attribute(s) '{}'", unknown.join(", "))));
    }
    if is_create {
        fill_post_defaults(def, &mut res)?;
    } else if let Some(attr) = def.attrs.iter().find(|a| res.contains_key(a.name) && !a.put) {
        return Err(ApiError::bad_request(format!("Cannot update read-only attribute {}", attr.name)));
    }
    // Every list is counted before any item of it is validated (the validators below are
    // linear too), so a hostile list costs its copy and its count.
    limits.check_body(def, &res)?;
    convert_values(def.attrs, &mut res)?;
    Ok(res)
}

/// `populate_project_id`: tenant_id/project_id agree, the caller may set them, and a create
/// gets the caller's project when none is given.
fn populate_project(res: &mut Map<String, Value>, is_create: bool, caller: &Caller) -> Result<(), ApiError> {
    match (res.get("tenant_id").cloned(), res.get("project_id").cloned()) {
        (Some(t), None) => {
            res.insert("project_id".into(), t);
        }
        (None, Some(p)) => {
            res.insert("tenant_id".into(), p);
        }
        (Some(t), Some(p)) if t != p => {
            return Err(ApiError::bad_request("'project_id' and 'tenant_id' do not match"));
        }
        _ => {}
    }
    if let Some(p) = res.get("project_id") {
        if p.as_str() != Some(caller.project_id) && !caller.can_set_project_id {
            return Err(ApiError::bad_request(
                "Specifying 'project_id' other than the authenticated project in request is not allowed for the current user.",
            ));
        }
    }
    if is_create && !res.contains_key("project_id") {
        res.insert("project_id".into(), Value::String(caller.project_id.into()));
        res.insert("tenant_id".into(), Value::String(caller.project_id.into()));
    }
    Ok(())
}

fn fill_post_defaults(def: &ResourceDef, res: &mut Map<String, Value>) -> Result<(), ApiError> {
    for attr in def.attrs {
        if attr.post {
            if !res.contains_key(attr.name) {
                match attr.default {
                    crate::attrs::Default::Required => {
                        return Err(ApiError::bad_request(format!(
                            "Failed to parse request. Required attribute '{}' not specified",
                            attr.name
                        )));
                    }
                    _ => {
                        if let Some(v) = attr.default_value() {
                            res.insert(attr.name.into(), v);
                        }
                    }
                }
            }
        } else if res.contains_key(attr.name) {
            return Err(ApiError::bad_request(format!("Attribute '{}' not allowed in POST", attr.name)));
        }
    }
    Ok(())
}

fn convert_values(attrs: &[AttrSpec], res: &mut Map<String, Value>) -> Result<(), ApiError> {
    for attr in attrs {
        if let Some(value) = res.get(attr.name) {
            let converted = attr.check(value)?;
            res.insert(attr.name.into(), converted);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::{NETWORK, SUBNET};
    use serde_json::json;

    fn caller() -> Caller<'static> {
        Caller { project_id: "p1", can_set_project_id: false }
    }

    #[test]
    fn defaults_and_project_are_filled() {
        let (items, bulk) =
            prepare_create(&NETWORK, &json!({"network": {"name": "n"}}), &caller(), &ListLimits::default()).unwrap();
        assert!(!bulk);
        let n = &items[0];
        assert_eq!(n["admin_state_up"], json!(true));
        assert_eq!(n["project_id"], json!("p1"));
        assert_eq!(n["tenant_id"], json!("p1"));
        assert_eq!(n["description"], json!(""));
    }

    #[test]
    fn unknown_and_read_only_attributes_are_rejected() {
        let err =
            prepare_create(&NETWORK, &json!({"network": {"bogus": 1}}), &caller(), &ListLimits::default()).unwrap_err();
        assert_eq!((err.status, err.message.as_str()), (400, "Unrecognized attribute(s) 'bogus'"));
        let err =
            prepare_create(&NETWORK, &json!({"network": {"status": "ACTIVE"}}), &caller(), &ListLimits::default())
                .unwrap_err();
        assert_eq!(err.message, "Attribute 'status' not allowed in POST");
        let err =
            prepare_update(&SUBNET, &json!({"subnet": {"cidr": "10.0.0.0/24"}}), &caller(), &ListLimits::default())
                .unwrap_err();
        assert_eq!(err.message, "Cannot update read-only attribute cidr");
    }

    #[test]
    fn required_attribute_and_envelope_errors() {
        let err = prepare_create(&SUBNET, &json!({"subnet": {"ip_version": 4}}), &caller(), &ListLimits::default())
            .unwrap_err();
        assert_eq!(err.message, "Failed to parse request. Required attribute 'network_id' not specified");
        let err = prepare_create(&SUBNET, &json!({"net": {}}), &caller(), &ListLimits::default()).unwrap_err();
        assert_eq!(err.message, "Unable to find 'subnet' in request body");
        let err = prepare_create(&SUBNET, &json!({"subnets": []}), &caller(), &ListLimits::default()).unwrap_err();
        assert_eq!(err.message, "Resources required");
    }

    #[test]
    fn other_project_needs_privilege() {
        let err =
            prepare_create(&NETWORK, &json!({"network": {"project_id": "p2"}}), &caller(), &ListLimits::default())
                .unwrap_err();
        assert_eq!(err.status, 400);
        let admin = Caller { project_id: "p1", can_set_project_id: true };
        let (items, _) =
            prepare_create(&NETWORK, &json!({"network": {"tenant_id": "p2"}}), &admin, &ListLimits::default()).unwrap();
        assert_eq!(items[0]["project_id"], json!("p2"));
        let err = prepare_create(
            &NETWORK,
            &json!({"network": {"tenant_id": "p2", "project_id": "p3"}}),
            &admin,
            &ListLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.message, "'project_id' and 'tenant_id' do not match");
    }

    #[test]
    fn caps_come_after_the_attribute_checks_and_cover_bulk_items() {
        use crate::resources::PORT;
        let limits = ListLimits::default();
        let tags: Vec<String> = (0..51).map(|i| format!("t{i}")).collect();
        let err = prepare_update(&NETWORK, &json!({"network": {"tags": tags}}), &caller(), &limits).unwrap_err();
        assert_eq!(err.message, "Cannot update read-only attribute tags");
        let err = prepare_create(&NETWORK, &json!({"network": {"tags": tags}}), &caller(), &limits).unwrap_err();
        assert_eq!(err.kind, "BadRequest");
        let pairs: Vec<Value> = (0..11).map(|i| json!({"ip_address": format!("10.0.0.{i}")})).collect();
        let net = "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f";
        let bulk = json!({"ports": [{"port": {"network_id": net}}, {"port": {"network_id": net, "allowed_address_pairs": pairs}}]});
        let err = prepare_create(&PORT, &bulk, &caller(), &limits).unwrap_err();
        assert_eq!(err.kind, "AllowedAddressPairExhausted");
    }

    #[test]
    fn values_are_validated() {
        let err =
            prepare_create(&NETWORK, &json!({"network": {"name": 5}}), &caller(), &ListLimits::default()).unwrap_err();
        assert_eq!(err.message, "Invalid input for name. Reason: '5' is not a valid string.");
        let err = prepare_create(
            &SUBNET,
            &json!({"subnet": {"network_id": "x", "ip_version": 4}}),
            &caller(),
            &ListLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.message, "Invalid input for network_id. Reason: 'x' is not a valid UUID.");
        let err = prepare_create(
            &SUBNET,
            &json!({"subnet": {"network_id": "8a5f2c5e-2b59-4bcd-9a0f-7b5a0c1d2e3f", "ip_version": 5}}),
            &caller(),
            &ListLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.message, "Invalid input for ip_version. Reason: 5 is not in [4, 6].");
    }
}
