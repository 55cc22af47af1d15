//! Flavor and service profile bodies (`FLAVOR`, `SERVICE_PROFILE` and
//! `FLAVOR_SERVICE_PROFILE` in [`crate::resources`]).
//!
//! `enabled` is `convert_to_boolean_if_not_none`: `null` passes the API and the object's
//! non-nullable boolean then stores its default, `true`; the typed bodies say so once.

use serde::{Deserialize, Deserializer};

use super::double_option;

/// `null` read as `true` (the `enabled` columns' default).
fn enabled_or_default<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    Ok(Option::<bool>::deserialize(d)?.unwrap_or(true))
}

/// On update: absent is `None`, `null` is `Some(true)`.
fn enabled_update<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(Some(Option::<bool>::deserialize(d)?.unwrap_or(true)))
}

/// `POST /v2.0/flavors`, one item (`service_profiles` is accepted and ignored, as Neutron
/// does).
#[derive(Debug, Clone, Deserialize)]
pub struct FlavorCreate {
    pub name: String,
    pub description: Option<String>,
    pub service_type: String,
    #[serde(deserialize_with = "enabled_or_default")]
    pub enabled: bool,
}

/// `PUT /v2.0/flavors/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FlavorUpdate {
    pub name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "enabled_update")]
    pub enabled: Option<bool>,
}

/// `POST /v2.0/service_profiles`, one item.
#[derive(Debug, Clone, Deserialize)]
pub struct ServiceProfileCreate {
    pub description: Option<String>,
    pub driver: String,
    pub metainfo: Option<String>,
    #[serde(deserialize_with = "enabled_or_default")]
    pub enabled: bool,
}

/// `PUT /v2.0/service_profiles/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ServiceProfileUpdate {
    #[serde(default, deserialize_with = "double_option")]
    pub description: Option<Option<String>>,
    pub driver: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    pub metainfo: Option<Option<String>>,
    #[serde(default, deserialize_with = "enabled_update")]
    pub enabled: Option<bool>,
}

/// `POST /v2.0/flavors/{id}/service_profiles`: the profile to associate.
#[derive(Debug, Clone, Deserialize)]
pub struct FlavorServiceProfile {
    pub id: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::{FLAVOR, SERVICE_PROFILE};
    use serde_json::json;

    fn caller() -> Caller<'static> {
        Caller { project_id: "p1", can_set_project_id: true }
    }

    #[test]
    fn a_flavor_gets_defaults_and_no_project() {
        let (items, _) = prepare_create(
            &FLAVOR,
            &json!({"flavor": {"service_type": "L3_ROUTER_NAT", "enabled": null}}),
            &caller(),
            &ListLimits::default(),
        )
        .unwrap();
        assert!(!items[0].contains_key("project_id"));
        let f = Body::<FlavorCreate>::from_validated(items[0].clone()).unwrap().fields;
        assert_eq!((f.name.as_str(), f.description.as_deref(), f.enabled), ("", Some(""), true));
        let err = prepare_create(
            &FLAVOR,
            &json!({"flavor": {"service_type": "CORE", "project_id": "p1"}}),
            &caller(),
            &ListLimits::default(),
        )
        .unwrap_err();
        assert_eq!(err.message, "Unrecognized attribute(s) 'project_id, tenant_id'");
    }

    #[test]
    fn service_types_must_be_loaded() {
        for (given, shown) in [(json!("QOSX"), "QOSX"), (json!(null), "None"), (json!(5), "5")] {
            let err =
                prepare_create(&FLAVOR, &json!({"flavor": {"service_type": given}}), &caller(), &ListLimits::default())
                    .unwrap_err();
            assert_eq!(
                (err.kind.as_ref(), err.message),
                ("InvalidServiceType", format!("Invalid service type: {shown}."))
            );
        }
    }

    #[test]
    fn metainfo_is_coerced_to_a_string_and_bounded() {
        let prep = |m: serde_json::Value| {
            prepare_create(
                &SERVICE_PROFILE,
                &json!({"service_profile": {"metainfo": m}}),
                &caller(),
                &ListLimits::default(),
            )
        };
        assert_eq!(prep(json!(true)).unwrap().0[0]["metainfo"], json!("True"));
        assert_eq!(prep(json!(1.5)).unwrap().0[0]["metainfo"], json!("1.5"));
        assert_eq!(
            prep(json!({"a": 1})).unwrap_err().message,
            "Invalid input for metainfo. Reason: '{'a': 1}' is not a valid string."
        );
        assert_eq!(prep(json!("x".repeat(4097))).unwrap_err().status, 400);
    }

    #[test]
    fn null_enabled_on_update_is_true() {
        let attrs =
            prepare_update(&FLAVOR, &json!({"flavor": {"enabled": null}}), &caller(), &ListLimits::default()).unwrap();
        let u = Body::<FlavorUpdate>::from_validated(attrs).unwrap().fields;
        assert_eq!(u.enabled, Some(true));
        let attrs =
            prepare_update(&FLAVOR, &json!({"flavor": {"name": "n"}}), &caller(), &ListLimits::default()).unwrap();
        assert_eq!(Body::<FlavorUpdate>::from_validated(attrs).unwrap().fields.enabled, None);
    }
}
