//! Policy: who may do what, in one place, with Neutron's current defaults
//! (`neutron/conf/policies/*`, 2023+ "secure RBAC" roles).
//!
//! * `admin` may do anything, for any project.
//! * `member` of a project creates, updates and deletes that project's resources; `reader`
//!   only reads them. `service` (Nova) may also set port binding attributes.
//! * Shared networks are readable by everyone; members may create ports on networks shared
//!   with their project. What only a network's owner chooses for a port on it (`network:*`
//!   device owners, MAC, fixed IP addresses, port security, allowed address pairs) is checked
//!   against the owner of the port's network (`rule:network_owner`), as Neutron does; binding
//!   attributes are admin's and the service's, and so is changing a port's MAC.
//! * Some attributes are admin-only: setting them is 403, and non-admins never see them.
//! * An object the caller may not see is 404 (see [`super::lookup::visible`]), so
//!   nobody learns it exists; a visible object the caller may not change is 403.
//!
//! `tests/output/policy-matrix.txt` is this module printed as a table by a test: a policy
//! change shows up there as a diff.

use super::policy_rules::Creds;
pub use super::policy_rules::{NetworkFacts, Target};
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
        Resource::SubnetPool => "subnetpool",
        Resource::AddressScope => "address_scope",
        Resource::Flavor => "flavor",
        Resource::ServiceProfile => "service_profile",
        Resource::DefaultSecurityGroupRule => "default_security_group_rule",
        Resource::AddressGroup => "address_group",
    }
}

/// Attributes hidden from non-admins in responses.
fn hidden_attrs(resource: Resource) -> &'static [&'static str] {
    match resource {
        Resource::Network => &["provider:network_type", "provider:physical_network", "provider:segmentation_id"],
        Resource::Subnet => &[],
        Resource::Port => &["binding:host_id", "binding:profile", "binding:vif_type", "binding:vif_details"],
        Resource::SecurityGroup
        | Resource::SecurityGroupRule
        | Resource::Router
        | Resource::FloatingIp
        | Resource::SubnetPool
        | Resource::AddressScope
        | Resource::Flavor
        | Resource::ServiceProfile
        | Resource::DefaultSecurityGroupRule => &[],
        Resource::AddressGroup => &[],
    }
}

fn denied(rule: String) -> ApiError {
    ApiError::policy_not_authorized(rule)
}

/// Whether the caller may see an object owned by `owner` (shared networks are public).
/// Everything that loads an object for a caller goes through this; an object it hides is
/// reported as not found.
pub fn can_see(ctx: &RequestContext, owner: &str, shared: bool) -> bool {
    ctx.is_admin || shared || ctx.project_id == owner
}

/// Checks a create/update/delete of a resource owned by `owner` (see [`authorize_target`]);
/// for resources whose rules look no further than their owner (their `field:` checks see
/// the request's attributes only).
pub fn authorize(
    ctx: &RequestContext,
    resource: Resource,
    action: Action,
    owner: &str,
    attrs: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    authorize_target(ctx, resource, action, &Target { project_id: owner, network: None, attrs }, attrs)
}

/// Checks one named rule (an action such as `add_prefixes`) against an object owned by
/// `owner`.
pub fn authorize_rule(ctx: &RequestContext, rule: &str, owner: &str) -> Result<(), ApiError> {
    let creds = Creds { roles: &ctx.roles, project_id: &ctx.project_id, is_admin: ctx.is_admin };
    let target = Target { project_id: owner, network: None, attrs: None };
    if ctx.rules.check(rule, &creds, &target) {
        Ok(())
    } else {
        Err(denied(format!("rule:{rule}")))
    }
}

/// Checks a create/update/delete against the rules as Neutron's `policy.enforce` builds
/// them: `<action>_<resource>`, and for every attribute the request sets that has a rule,
/// `<action>_<resource>:<attribute>`, and for the keys of list-of-object attributes
/// (`fixed_ips`, `allowed_address_pairs`) `<action>_<resource>:<attribute>:<key>`. A create
/// counts an attribute only when it differs from its default; an update counts every
/// attribute it names (Neutron's `ATTRIBUTES_TO_UPDATE`). A refusal is 403 naming the whole
/// expression, as oslo.policy renders it.
pub fn authorize_target(
    ctx: &RequestContext,
    resource: Resource,
    action: Action,
    target: &Target,
    requested: Option<&Map<String, Value>>,
) -> Result<(), ApiError> {
    let creds = Creds { roles: &ctx.roles, project_id: &ctx.project_id, is_admin: ctx.is_admin };
    let rule = format!("{}_{}", action.verb(), name(resource));
    let mut allowed = ctx.rules.check(&rule, &creds, target);
    let mut shown = format!("rule:{rule}");
    if let Some(attrs) = requested {
        for spec in neutrino_model::resources::def(resource).attrs {
            let Some(value) = attrs.get(spec.name) else { continue };
            // Like Neutron's `_is_attribute_explicitly_set`: on create, a value equal to the
            // default is not a request to set anything.
            if action == Action::Create && spec.default_value().as_ref() == Some(value) {
                continue;
            }
            let attr_rule = format!("{rule}:{}", spec.name);
            if !ctx.rules.has(&attr_rule) {
                continue;
            }
            let mut part_allowed = ctx.rules.check(&attr_rule, &creds, target);
            let mut part = format!("rule:{attr_rule}");
            let sub_rules: Vec<String> = sub_attribute_keys(value)
                .into_iter()
                .map(|key| format!("{attr_rule}:{key}"))
                .filter(|r| ctx.rules.has(r))
                .collect();
            if !sub_rules.is_empty() {
                part_allowed &= sub_rules.iter().all(|r| ctx.rules.check(r, &creds, target));
                let listed: Vec<String> = sub_rules.iter().map(|r| format!("rule:{r}")).collect();
                part = format!("({part} and ({}))", listed.join(" and "));
            }
            allowed &= part_allowed;
            shown = format!("({shown} and {part})");
        }
    }
    if allowed {
        Ok(())
    } else {
        Err(denied(shown))
    }
}

/// The keys used in a list of objects (`[{"ip_address": ...}, {"subnet_id": ...}]`), each
/// once, in the order they first appear.
fn sub_attribute_keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = Vec::new();
    for item in value.as_array().into_iter().flatten() {
        for key in item.as_object().into_iter().flat_map(|o| o.keys()) {
            if !keys.contains(&key.as_str()) {
                keys.push(key);
            }
        }
    }
    keys
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

    /// A row of the table: an object, who owns it, the network it is on (ports) and the
    /// attribute the request sets.
    struct Row {
        label: &'static str,
        resource: Resource,
        owner: &'static str,
        shared: bool,
        /// Ports: the network's owner, whether it is shared, whether it is external.
        network: Option<(&'static str, bool, bool)>,
        attr: Option<(&'static str, Value)>,
    }

    fn row(label: &'static str, resource: Resource, owner: &'static str, shared: bool) -> Row {
        Row { label, resource, owner, shared, network: None, attr: None }
    }

    fn port_row(
        label: &'static str,
        owner: &'static str,
        network: (&'static str, bool, bool),
        attr: Option<(&'static str, Value)>,
    ) -> Row {
        Row { label, resource: Resource::Port, owner, shared: false, network: Some(network), attr }
    }

    /// Flavors and profiles have no owner: their `get_*` rule hides them, and a refused
    /// write is a 403 only to a caller who may read them (`app::flavors`).
    fn ownerless_outcome(ctx: &RequestContext, resource: Resource, action: &str) -> &'static str {
        let readable = crate::app::flavors::readable(ctx, resource);
        let act = match action {
            "read" => return if readable { "allow" } else { "404" },
            "create" => Action::Create,
            "update" => Action::Update,
            _ => Action::Delete,
        };
        match authorize(ctx, resource, act, "", None) {
            Ok(()) => "allow",
            Err(_) if readable || act == Action::Create => "403",
            Err(_) => "404",
        }
    }

    /// The outcome for a caller: what the API answers.
    fn outcome(ctx: &RequestContext, r: &Row, action: &str) -> &'static str {
        if matches!(r.resource, Resource::Flavor | Resource::ServiceProfile) {
            return ownerless_outcome(ctx, r.resource, action);
        }
        // Subnets are created on a network, which must be visible and the caller's.
        let creates_in_place = action == "create" && r.resource == Resource::Subnet;
        // The service role updates any port (`ports::load_for_update`).
        let service_update = action == "update" && r.resource == Resource::Port && ctx.has_role("service");
        if (action != "create" || creates_in_place) && !service_update && !can_see(ctx, r.owner, r.shared) {
            return "404";
        }
        // A port is created on a network the caller must see (shared and external ones are
        // visible to all).
        if let (Some((net_owner, shared, external)), "create") = (r.network, action) {
            if !can_see(ctx, net_owner, shared || external) {
                return "404";
            }
        }
        if action == "read" {
            return "allow";
        }
        let act = match action {
            "create" => Action::Create,
            "update" => Action::Update,
            _ => Action::Delete,
        };
        let body = r.attr.as_ref().map(|(a, v)| {
            let mut m = Map::new();
            m.insert((*a).into(), v.clone());
            m
        });
        // A create acts in the caller's own project (the body parser refuses others).
        let owner = if act == Action::Create && !creates_in_place { ctx.project_id.as_str() } else { r.owner };
        let target = Target {
            project_id: owner,
            network: r.network.map(|(project_id, shared, _)| NetworkFacts { project_id, shared }),
            attrs: body.as_ref(),
        };
        match authorize_target(ctx, r.resource, act, &target, body.as_ref()) {
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
        let flag = |a: &'static str| Some((a, json!(true)));
        let text = |a: &'static str| Some((a, json!("x")));
        let own = ("A", false, false);
        let shared = ("A", true, false);
        let external = ("A", false, true);
        let rows = vec![
            row("network (A)", Resource::Network, "A", false),
            row("network (A) shared", Resource::Network, "A", true),
            Row { attr: flag("shared"), ..row("network (A) +shared", Resource::Network, "A", false) },
            Row { attr: flag("router:external"), ..row("network (A) +router:external", Resource::Network, "A", false) },
            Row {
                attr: text("provider:network_type"),
                ..row("network (A) +provider:network_type", Resource::Network, "A", false)
            },
            row("subnet (A)", Resource::Subnet, "A", false),
            row("subnet on network (A) shared", Resource::Subnet, "A", true),
            port_row("port (A)", "A", own, None),
            port_row("port (A) +binding:host_id", "A", own, text("binding:host_id")),
            port_row("port (A) +device_owner=network:dhcp", "A", own, Some(("device_owner", json!("network:dhcp")))),
            port_row("port (A) +mac_address", "A", own, Some(("mac_address", json!("fa:16:3e:00:00:01")))),
            port_row("port on net (A) shared", "B", shared, None),
            port_row(
                "port on net (A) shared +fixed_ips:subnet_id",
                "B",
                shared,
                Some(("fixed_ips", json!([{"subnet_id": "s"}]))),
            ),
            port_row(
                "port on net (A) shared +fixed_ips:ip_address",
                "B",
                shared,
                Some(("fixed_ips", json!([{"ip_address": "10.0.0.5"}]))),
            ),
            port_row(
                "port on net (A) shared +mac_address",
                "B",
                shared,
                Some(("mac_address", json!("fa:16:3e:00:00:01"))),
            ),
            port_row(
                "port on net (A) shared +device_owner=network:x",
                "B",
                shared,
                Some(("device_owner", json!("network:x"))),
            ),
            port_row(
                "port on net (A) shared +device_owner=compute:x",
                "B",
                shared,
                Some(("device_owner", json!("compute:x"))),
            ),
            port_row(
                "port on net (A) shared +port_security_enabled",
                "B",
                shared,
                Some(("port_security_enabled", json!(false))),
            ),
            port_row(
                "port on net (A) shared +allowed_address_pairs",
                "B",
                shared,
                Some(("allowed_address_pairs", json!([{"ip_address": "10.0.0.9"}]))),
            ),
            port_row(
                "port on net (A) shared +binding:profile",
                "B",
                shared,
                Some(("binding:profile", json!({"a": 1}))),
            ),
            port_row("port on net (A) external", "B", external, None),
            row("flavor", Resource::Flavor, "", false),
            row("service profile", Resource::ServiceProfile, "", false),
        ];
        let actions = ["create", "read", "update", "delete"];
        let mut out = String::from("# role@project x object x action -> allow | 403 (forbidden) | 404 (hidden)\n");
        let _ = write!(out, "{:<56}", "object / action");
        for (name, _) in &callers {
            let _ = write!(out, "{name:<12}");
        }
        out = out.trim_end().to_string();
        out.push('\n');
        for r in &rows {
            for action in actions {
                if r.attr.is_some() && (action == "read" || action == "delete") {
                    continue;
                }
                let _ = write!(out, "{:<56}", format!("{} {action}", r.label));
                for (_, c) in &callers {
                    let _ = write!(out, "{:<12}", outcome(c, r, action));
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
