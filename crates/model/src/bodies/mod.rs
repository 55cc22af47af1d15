//! Typed create and update bodies: what the resource logic reads.
//!
//! [`crate::body`] prepares a request as Neutron does (defaults, converters, validators)
//! and yields an attribute map. That map stays the policy engine's view of the request
//! (oslo.policy checks a target dict: which attributes were given, with which values), and
//! [`Body::from_validated`] turns it into the resource's typed struct for everything else,
//! so app code reads fields, not string keys.
//!
//! Conventions, the same for every resource:
//! - a create struct has the attributes after defaults were filled: a field is plain `T`
//!   when it always has a value, `Option<T>` when the attribute may be `null` (or is only
//!   sometimes present, such as an extension's);
//! - an update struct has `Option<T>` for every attribute, `None` meaning "not given";
//!   an attribute that may be set to `null` is `Option<Option<T>>` read with
//!   [`double_option`], so "not given" (`None`) and "set to null" (`Some(None)`) differ.
//!
//! A validated body that does not fit its struct is a bug in the attribute map, not in
//! the request: it answers 500 and logs which field.

pub mod address_groups;
pub mod flavors;
pub mod floatingips;
pub mod networks;
pub mod port_bindings;
pub mod port_forwardings;
pub mod ports;
pub mod rbac;
pub mod routers;
pub mod security_groups;
pub mod subnetpools;
pub mod subnets;

use crate::error::ApiError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Value};

/// A validated request body in its two views.
#[derive(Debug, Clone)]
pub struct Body<T> {
    /// The typed fields the resource logic reads.
    pub fields: T,
    /// The prepared attributes, as the policy engine checks them.
    pub attrs: Map<String, Value>,
}

impl<T: DeserializeOwned> Body<T> {
    /// Types a body [`crate::body::prepare_create`] or [`crate::body::prepare_update`]
    /// prepared.
    pub fn from_validated(attrs: Map<String, Value>) -> Result<Self, ApiError> {
        let fields = T::deserialize(&Value::Object(attrs.clone())).map_err(|e| {
            tracing::error!(body = std::any::type_name::<T>(), error = %e, "validated body does not fit its type");
            ApiError::internal()
        })?;
        Ok(Self { fields, attrs })
    }

    /// Types every item of a (bulk) create.
    pub fn from_validated_all(items: Vec<Map<String, Value>>) -> Result<Vec<Self>, ApiError> {
        items.into_iter().map(Self::from_validated).collect()
    }
}

/// An update: the typed body and the `If-Match` revision the caller expects.
#[derive(Debug, Clone)]
pub struct Update<T> {
    pub body: Body<T>,
    pub if_match: Option<crate::if_match::IfMatch>,
}

impl<T: DeserializeOwned> Update<T> {
    /// Types a prepared update body.
    pub fn from_validated(
        attrs: Map<String, Value>,
        if_match: Option<crate::if_match::IfMatch>,
    ) -> Result<Self, ApiError> {
        Ok(Self { body: Body::from_validated(attrs)?, if_match })
    }
}

/// Reads an attribute that may be given as `null`: absent is `None` (with
/// `#[serde(default)]`), `null` is `Some(None)`, a value is `Some(Some(v))`.
pub fn double_option<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Debug, Deserialize, PartialEq)]
    struct ThingUpdate {
        name: Option<String>,
        #[serde(default, deserialize_with = "double_option")]
        gateway_ip: Option<Option<String>>,
    }

    fn update(v: Value) -> ThingUpdate {
        let Value::Object(m) = v else { panic!("object") };
        Body::<ThingUpdate>::from_validated(m).unwrap().fields
    }

    #[test]
    fn absent_null_and_value_differ() {
        assert_eq!(update(json!({})), ThingUpdate { name: None, gateway_ip: None });
        assert_eq!(update(json!({"gateway_ip": null})), ThingUpdate { name: None, gateway_ip: Some(None) });
        assert_eq!(
            update(json!({"name": "a", "gateway_ip": "10.0.0.1"})),
            ThingUpdate { name: Some("a".into()), gateway_ip: Some(Some("10.0.0.1".into())) }
        );
    }

    #[test]
    fn a_body_that_does_not_fit_is_a_500() {
        let Value::Object(m) = json!({"name": 3}) else { panic!("object") };
        assert_eq!(Body::<ThingUpdate>::from_validated(m).unwrap_err().status, 500);
    }
}
