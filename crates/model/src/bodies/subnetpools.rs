//! Subnet pool and address scope bodies (`SUBNETPOOL`, `ADDRESS_SCOPE` in
//! [`crate::resources`]).

use serde::Deserialize;

use super::double_option;

/// `POST /v2.0/subnetpools`, one item. Prefixes are validated subnets (host bits allowed);
/// the pool logic merges them.
#[derive(Debug, Clone, Deserialize)]
pub struct SubnetPoolCreate {
    pub project_id: String,
    pub name: String,
    pub description: String,
    pub tags: Vec<String>,
    pub prefixes: Vec<String>,
    pub default_quota: Option<u64>,
    pub default_prefixlen: Option<u64>,
    pub min_prefixlen: Option<u64>,
    pub max_prefixlen: Option<u64>,
    pub is_default: bool,
    pub shared: bool,
    /// `null` and absent both mean "no scope".
    pub address_scope_id: Option<String>,
}

/// `PUT /v2.0/subnetpools/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SubnetPoolUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub prefixes: Option<Vec<String>>,
    pub default_quota: Option<u64>,
    pub default_prefixlen: Option<u64>,
    pub min_prefixlen: Option<u64>,
    pub max_prefixlen: Option<u64>,
    pub is_default: Option<bool>,
    /// `Some(None)`: leave the address scope.
    #[serde(default, deserialize_with = "double_option")]
    pub address_scope_id: Option<Option<String>>,
}

/// `POST /v2.0/address-scopes`, one item.
#[derive(Debug, Clone, Deserialize)]
pub struct AddressScopeCreate {
    pub project_id: String,
    pub name: String,
    pub shared: bool,
    pub ip_version: u8,
}

/// `PUT /v2.0/address-scopes/{id}`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddressScopeUpdate {
    pub name: Option<String>,
    pub shared: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bodies::Body;
    use crate::body::{prepare_create, prepare_update, Caller};
    use crate::limits::ListLimits;
    use crate::resources::SUBNETPOOL;
    use serde_json::json;

    fn caller() -> Caller<'static> {
        Caller { project_id: "p1", can_set_project_id: false }
    }

    #[test]
    fn a_create_types_with_its_defaults() {
        let body = json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/8"], "min_prefixlen": "29"}});
        let (items, _) = prepare_create(&SUBNETPOOL, &body, &caller(), &ListLimits::default()).unwrap();
        let p = Body::<SubnetPoolCreate>::from_validated_all(items).unwrap().remove(0).fields;
        assert_eq!((p.min_prefixlen, p.default_prefixlen, p.default_quota), (Some(29), None, None));
        assert!(!p.shared && !p.is_default);
        assert_eq!(p.address_scope_id, None);
    }

    #[test]
    fn names_and_prefixes_are_validated_as_neutron_does() {
        let err = |body| prepare_create(&SUBNETPOOL, &body, &caller(), &ListLimits::default()).unwrap_err().message;
        assert_eq!(
            err(json!({"subnetpool": {"prefixes": ["10.0.0.0/8"]}})),
            "Failed to parse request. Required attribute 'name' not specified"
        );
        assert_eq!(
            err(json!({"subnetpool": {"name": " ", "prefixes": ["10.0.0.0/8"]}})),
            "Invalid input for name. Reason: ' ' Blank strings are not permitted."
        );
        assert_eq!(
            err(json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0"]}})),
            "Invalid input for prefixes. Reason: '10.0.0.0' is not a valid IP subnet."
        );
        assert_eq!(
            err(json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/8", "10.0.0.0/8"]}})),
            "Invalid input for prefixes. Reason: Duplicate items in the list: '10.0.0.0/8'."
        );
        assert_eq!(
            err(json!({"subnetpool": {"name": "p", "prefixes": ["10.0.0.0/8"], "min_prefixlen": -1}})),
            "Invalid input for min_prefixlen. Reason: '-1' should be non-negative."
        );
    }

    #[test]
    fn an_update_tells_absent_from_null_scope() {
        let up = |b| {
            let m = prepare_update(&SUBNETPOOL, &b, &caller(), &ListLimits::default()).unwrap();
            Body::<SubnetPoolUpdate>::from_validated(m).unwrap().fields
        };
        assert_eq!(up(json!({"subnetpool": {"name": "a"}})).address_scope_id, None);
        assert_eq!(up(json!({"subnetpool": {"address_scope_id": null}})).address_scope_id, Some(None));
        let err =
            prepare_update(&SUBNETPOOL, &json!({"subnetpool": {"shared": true}}), &caller(), &ListLimits::default())
                .unwrap_err();
        assert_eq!(err.message, "Cannot update read-only attribute shared");
    }
}
