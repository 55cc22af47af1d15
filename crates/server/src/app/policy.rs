//! Policy: who may do what, in one place, with Neutron's current defaults
//! (`neutron/conf/policies/*`, 2023+ "secure RBAC" roles).
//!
//! * `admin` may do anything, for any project.
//! * `member` of a project creates, updates and deletes that project's resources; `reader`
//!   only reads them. `service` (Nova) may also set port binding attributes.
//! * Shared networks are readable by everyone, and anyone may create ports on them.
//! * Some attributes are admin-only: setting them is 403, and non-admins never see them.
//! * An object the caller may not see is 404 (see the `load_visible` functions), so
//!   nobody learns it exists; a visible object the caller may not change is 403.
//!
//! `tests/output/policy-matrix.txt` is this module printed as a table by a test: a policy
//! change shows up there as a diff.

use super::RequestContext;
use neutrino_model::{ApiError, Resource};
use serde_json::{Map, Value};

/// What a request does to a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl Action {
    fn verb(self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        }
    }
}

fn name(resource: Resource) -> &'static str {
    match resource {
        Resource::Network => "network",
        Resource::Subnet => "subnet",
        Resource::Port => "port",
    }
}

/// Attributes only an admin may set (and only an admin sees).
pub fn admin_only_attrs(resource: Resource) -> &'static [&'static str] {
    match resource {
        Resource::Network => &[
            "shared",
            "router:external",
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
        ],
        Resource::Subnet => &[],
        Resource::Port => &["binding:host_id", "binding:profile"],
    }
}

/// Attributes hidden from non-admins in responses.
fn hidden_attrs(resource: Resource) -> &'static [&'static str] {
    match resource {
        Resource::Network => &["provider:network_type", "provider:physical_network", "provider:segmentation_id"],
        Resource::Subnet => &[],
        Resource::Port => &["binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"],
    }
}

fn denied(rule: String) -> ApiError {
    ApiError::new(403, "PolicyNotAuthorized", format!("{rule} is disallowed by policy"))
}

/// Whether the caller may write resources owned by `owner` at all.
fn may_write(ctx: &RequestContext, owner: &str) -> bool {
    ctx.is_admin || (ctx.project_id == owner && (ctx.has_role("member") || ctx.has_role("service")))
}

/// Checks a create/update/delete of a resource owned by `owner`, with the attributes the
/// request sets. `on_shared_network`: the port goes on a shared network of another project.
pub fn authorize(
    ctx: &RequestContext,
    resource: Resource,
    action: Action,
    owner: &str,
    attrs: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    let rule = format!("rule:{}_{}", action.verb(), name(resource));
    if !may_write(ctx, owner) {
        return Err(denied(rule));
    }
    if ctx.is_admin {
        return Ok(());
    }
    if let Some(attrs) = attrs {
        // Like Neutron's `_is_attribute_explicitly_set`: a value equal to the default is not
        // a request to change anything.
        let spec = neutrino_model::resources::def(resource);
        let explicitly_set = |a: &&&str| {
            attrs.get(**a).is_some_and(|v| spec.attr(a).and_then(|s| s.default_value()).as_ref() != Some(v))
        };
        for attr in admin_only_attrs(resource).iter().filter(explicitly_set) {
            let service_binding = resource == Resource::Port && attr.starts_with("binding:") && ctx.has_role("service");
            if !service_binding {
                return Err(denied(format!("(({rule} and {rule}:{attr}))")));
            }
        }
    }
    Ok(())
}

/// Whether a non-owner may create a port on a network it can see (shared networks).
pub fn may_use_network(ctx: &RequestContext, network_owner: &str, shared: bool) -> bool {
    ctx.is_admin || network_owner == ctx.project_id || shared
}

/// Removes what the caller may not see from a rendered object.
pub fn strip_hidden(ctx: &RequestContext, resource: Resource, item: &mut Map<String, Value>) {
    if ctx.is_admin {
        return;
    }
    for attr in hidden_attrs(resource) {
        item.remove(*attr);
    }
}
