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

use super::policy_rules::Creds;
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
        Resource::SecurityGroup => "security_group",
        Resource::SecurityGroupRule => "security_group_rule",
        Resource::Router => "router",
        Resource::FloatingIp => "floatingip",
    }
}

/// Attributes hidden from non-admins in responses.
fn hidden_attrs(resource: Resource) -> &'static [&'static str] {
    match resource {
        Resource::Network => &["provider:network_type", "provider:physical_network", "provider:segmentation_id"],
        Resource::Subnet => &[],
        Resource::Port => &["binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"],
        Resource::SecurityGroup | Resource::SecurityGroupRule | Resource::Router | Resource::FloatingIp => &[],
    }
}

fn denied(rule: String) -> ApiError {
    ApiError::new(403, "PolicyNotAuthorized", format!("{rule} is disallowed by policy"))
}

/// Whether the caller may see an object owned by `owner` (shared networks are public).
/// Everything that loads an object for a caller goes through this; an object it hides is
/// reported as not found.
pub fn can_see(ctx: &RequestContext, owner: &str, shared: bool) -> bool {
    ctx.is_admin || shared || ctx.project_id == owner
}

/// Checks a create/update/delete of a resource owned by `owner`, with the attributes the
/// request sets, against the rules (`<action>_<resource>` and, for every attribute set to
/// something other than its default, `<action>_<resource>:<attribute>` when such a rule
/// exists).
pub fn authorize(
    ctx: &RequestContext,
    resource: Resource,
    action: Action,
    owner: &str,
    attrs: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    let creds = Creds { roles: &ctx.roles, project_id: &ctx.project_id, is_admin: ctx.is_admin };
    let rule = format!("{}_{}", action.verb(), name(resource));
    if !ctx.rules.check(&rule, &creds, owner) {
        return Err(denied(format!("rule:{rule}")));
    }
    if let Some(attrs) = attrs {
        // Like Neutron's `_is_attribute_explicitly_set`: a value equal to the default is not
        // a request to change anything.
        let spec = neutrino_model::resources::def(resource);
        for (attr, value) in attrs {
            if spec.attr(attr).and_then(|s| s.default_value()).as_ref() == Some(value) {
                continue;
            }
            let attr_rule = format!("{rule}:{attr}");
            if ctx.rules.has(&attr_rule) && !ctx.rules.check(&attr_rule, &creds, owner) {
                return Err(denied(format!("((rule:{rule} and rule:{attr_rule}))")));
            }
        }
    }
    Ok(())
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

#[cfg(test)]
mod matrix {
    //! Prints the policy as a role × action × object table and compares it with the
    //! checked-in `tests/output/policy-matrix.txt` (`NEUTRINO_UPDATE_GOLDEN=1` rewrites it).

    use super::*;
    use serde_json::json;
    use std::fmt::Write;

    fn ctx(project: &str, role: &str) -> RequestContext {
        RequestContext {
            project_id: project.into(),
            is_admin: role == "admin",
            roles: vec![role.into()],
            user_id: format!("{role}-user"),
            rules: std::sync::Arc::new(crate::app::policy_rules::Rules::default()),
        }
    }

    /// The outcome for a caller: what the API answers.
    fn outcome(
        ctx: &RequestContext,
        resource: Resource,
        action: &str,
        owner: &str,
        shared: bool,
        attr: Option<&str>,
    ) -> &'static str {
        // Subnets are created on a network, which must be visible and the caller's.
        let creates_in_place = action == "create" && resource == Resource::Subnet;
        if (action != "create" || creates_in_place) && !can_see(ctx, owner, shared) {
            return "404";
        }
        if action == "read" {
            return "allow";
        }
        let act = match action {
            "create" => Action::Create,
            "update" => Action::Update,
            _ => Action::Delete,
        };
        let body = attr.map(|a| {
            let mut m = Map::new();
            m.insert(
                a.into(),
                if a.starts_with("provider:") || a == "binding:host_id" { json!("x") } else { json!(true) },
            );
            m
        });
        // A create acts in the caller's own project (the body parser refuses others).
        let owner = if act == Action::Create && !creates_in_place { ctx.project_id.as_str() } else { owner };
        match authorize(ctx, resource, act, owner, body.as_ref()) {
            Ok(()) => "allow",
            Err(_) => "403",
        }
    }

    #[test]
    fn policy_matrix_is_checked_in() {
        let callers = [
            ("admin@A", ctx("A", "admin")),
            ("member@A", ctx("A", "member")),
            ("reader@A", ctx("A", "reader")),
            ("service@A", ctx("A", "service")),
            ("member@B", ctx("B", "member")),
        ];
        let objects: &[(&str, Resource, &str, bool, Option<&str>)] = &[
            ("network (A)", Resource::Network, "A", false, None),
            ("network (A) shared", Resource::Network, "A", true, None),
            ("network (A) +shared", Resource::Network, "A", false, Some("shared")),
            ("network (A) +router:external", Resource::Network, "A", false, Some("router:external")),
            ("network (A) +provider:network_type", Resource::Network, "A", false, Some("provider:network_type")),
            ("subnet (A)", Resource::Subnet, "A", false, None),
            ("subnet on network (A) shared", Resource::Subnet, "A", true, None),
            ("port (A)", Resource::Port, "A", false, None),
            ("port (A) +binding:host_id", Resource::Port, "A", false, Some("binding:host_id")),
        ];
        let actions = ["create", "read", "update", "delete"];
        let mut out = String::from("# role@project x object x action -> allow | 403 (forbidden) | 404 (hidden)\n");
        let _ = write!(out, "{:<44}", "object / action");
        for (name, _) in &callers {
            let _ = write!(out, "{name:<12}");
        }
        out = out.trim_end().to_string();
        out.push('\n');
        for (label, resource, owner, shared, attr) in objects {
            for action in actions {
                if attr.is_some() && (action == "read" || action == "delete") {
                    continue;
                }
                let _ = write!(out, "{:<44}", format!("{label} {action}"));
                for (_, c) in &callers {
                    let _ = write!(out, "{:<12}", outcome(c, *resource, action, owner, *shared, *attr));
                }
                out = out.trim_end().to_string();
                out.push('\n');
            }
        }
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/output/policy-matrix.txt");
        if std::env::var_os("NEUTRINO_UPDATE_GOLDEN").is_some() {
            std::fs::create_dir_all(path.parent().unwrap_or(&path)).unwrap_or_default();
            std::fs::write(&path, &out).unwrap_or_default();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(expected, out, "policy changed: review and regenerate with NEUTRINO_UPDATE_GOLDEN=1 cargo test -p neutrino-server policy_matrix");
    }
}
