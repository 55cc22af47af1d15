//! Policy rules as oslo.policy expressions, so operators override them the way they do for
//! Neutron: a policy file of `"rule": "expression"` lines (YAML) or a JSON object.
//!
//! Supported: `role:<name>`, `project_id:%(project_id)s` (the target's owner),
//! `project_id:%(network:project_id)s` (the owner of the target's network, as Neutron's
//! `OwnerCheck` resolves it), `field:networks:shared=True` (the target's network is shared
//! with the target's project, globally or by RBAC), `field:<resource>:<attr>=<value>` and
//! `=~^<prefix>` (an attribute of the target), `is_admin:True`, `rule:<name>`, `@` (always),
//! `!` (never), `and`, `or`, `not` and parentheses.

use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Neutron's network-owner and service checks, written once so the port rules read as
/// `neutron/conf/policies/port.py` does.
macro_rules! admin_or_service {
    () => {
        "rule:admin_only or rule:service_api"
    };
}
macro_rules! net_owner_member {
    () => {
        "(role:member and rule:network_owner)"
    };
}

/// The defaults, named as in `neutron/conf/policies/*` (2026.1 secure-RBAC defaults).
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    ("context_is_admin", "role:admin"),
    ("admin_only", "rule:context_is_admin"),
    ("project_member", "role:member and project_id:%(project_id)s"),
    ("project_reader", "role:reader and project_id:%(project_id)s"),
    ("service_api", "role:service"),
    ("network_owner", "project_id:%(network:project_id)s"),
    ("shared", "field:networks:shared=True"),
    ("network_device", "field:port:device_owner=~^network:"),
    // Not in Neutron: the owner neutrino's DHCP scheduler finds its own ports by (Neutron keeps
    // them in its own tables), so a network's owner may not hand it to a port of its own.
    ("server_managed_device", "field:port:device_owner=network:dhcp"),
    ("create_network", "rule:admin_only or rule:project_member"),
    ("update_network", "rule:admin_only or rule:project_member"),
    ("delete_network", "rule:admin_only or rule:project_member"),
    ("create_network:is_default", "rule:admin_only"),
    ("update_network:is_default", "rule:admin_only"),
    // auto-allocated-topology (reader: as `get_floatingip_pool` below).
    ("get_auto_allocated_topology", "rule:admin_only or rule:project_member or rule:project_reader"),
    ("delete_auto_allocated_topology", "rule:admin_only or rule:project_member"),
    // Neutron's `role:reader`; a member is a reader too (see `get_floatingip_pool`).
    ("get_availability_zone", "rule:admin_only or role:member or role:reader"),
    ("create_network:shared", "rule:admin_only"),
    ("update_network:shared", "rule:admin_only"),
    ("create_network:router:external", "rule:admin_only"),
    ("update_network:router:external", "rule:admin_only"),
    ("create_network:provider:network_type", "rule:admin_only"),
    ("update_network:provider:network_type", "rule:admin_only"),
    ("create_network:provider:physical_network", "rule:admin_only"),
    ("update_network:provider:physical_network", "rule:admin_only"),
    ("create_network:provider:segmentation_id", "rule:admin_only"),
    ("update_network:provider:segmentation_id", "rule:admin_only"),
    ("create_subnet", "rule:admin_only or rule:project_member"),
    ("update_subnet", "rule:admin_only or rule:project_member"),
    ("create_subnet:service_types", "rule:admin_only"),
    ("update_subnet:service_types", "rule:admin_only"),
    ("delete_subnet", "rule:admin_only or rule:project_member"),
    // Ports: what a caller may set depends on who owns the port's network.
    // Neutron's default ends in a bare `or rule:shared`, which lets a reader create ports on
    // a shared network; here the caller must also be a member of the port's project.
    (
        "create_port",
        concat!(admin_or_service!(), " or ", net_owner_member!(), " or (rule:project_member and rule:shared)"),
    ),
    ("create_port:device_id", "rule:admin_only or rule:project_member or rule:service_api"),
    (
        "create_port:device_owner",
        concat!(
            "not rule:network_device or ",
            admin_or_service!(),
            " or (",
            net_owner_member!(),
            " and not rule:server_managed_device)"
        ),
    ),
    ("create_port:mac_address", concat!(admin_or_service!(), " or ", net_owner_member!())),
    ("create_port:fixed_ips", concat!(admin_or_service!(), " or ", net_owner_member!(), " or rule:shared")),
    ("create_port:fixed_ips:ip_address", concat!(admin_or_service!(), " or ", net_owner_member!())),
    ("create_port:fixed_ips:subnet_id", concat!(admin_or_service!(), " or ", net_owner_member!(), " or rule:shared")),
    ("create_port:port_security_enabled", concat!(admin_or_service!(), " or ", net_owner_member!())),
    ("create_port:binding:host_id", admin_or_service!()),
    ("create_port:binding:profile", admin_or_service!()),
    ("create_port:binding:vnic_type", "rule:admin_only or rule:project_member or rule:service_api"),
    ("create_port:allowed_address_pairs", concat!("rule:admin_only or ", net_owner_member!(), " or rule:service_api")),
    (
        "create_port:allowed_address_pairs:mac_address",
        concat!("rule:admin_only or ", net_owner_member!(), " or rule:service_api"),
    ),
    (
        "create_port:allowed_address_pairs:ip_address",
        concat!("rule:admin_only or ", net_owner_member!(), " or rule:service_api"),
    ),
    ("update_port", concat!(admin_or_service!(), " or rule:project_member")),
    ("update_port:device_id", "rule:admin_only or rule:project_member or rule:service_api"),
    (
        "update_port:device_owner",
        concat!(
            "not rule:network_device or ",
            admin_or_service!(),
            " or (",
            net_owner_member!(),
            " and not rule:server_managed_device)"
        ),
    ),
    ("update_port:mac_address", concat!(admin_or_service!(), " or (role:manager and rule:network_owner)")),
    ("update_port:fixed_ips", concat!(admin_or_service!(), " or ", net_owner_member!())),
    ("update_port:fixed_ips:ip_address", concat!(admin_or_service!(), " or ", net_owner_member!())),
    ("update_port:fixed_ips:subnet_id", concat!(admin_or_service!(), " or ", net_owner_member!(), " or rule:shared")),
    ("update_port:port_security_enabled", concat!(admin_or_service!(), " or ", net_owner_member!())),
    ("update_port:binding:host_id", admin_or_service!()),
    ("update_port:binding:profile", admin_or_service!()),
    ("update_port:binding:vnic_type", concat!(admin_or_service!(), " or rule:project_member")),
    ("update_port:allowed_address_pairs", concat!("rule:admin_only or ", net_owner_member!(), " or rule:service_api")),
    (
        "update_port:allowed_address_pairs:mac_address",
        concat!("rule:admin_only or ", net_owner_member!(), " or rule:service_api"),
    ),
    (
        "update_port:allowed_address_pairs:ip_address",
        concat!("rule:admin_only or ", net_owner_member!(), " or rule:service_api"),
    ),
    ("delete_port", concat!(admin_or_service!(), " or ", net_owner_member!(), " or rule:project_member")),
    // binding-extended (neutron/conf/policies/port_bindings.py): Nova, as the service, moves
    // ports between hosts; an admin may only look.
    ("get_port_binding", admin_or_service!()),
    ("create_port_binding", "rule:service_api"),
    ("delete_port_binding", "rule:service_api"),
    ("activate", "rule:service_api"),
    ("create_floatingip", "rule:admin_only or rule:project_member"),
    ("create_floatingip:floating_ip_address", "rule:admin_only"),
    ("update_floatingip", "rule:admin_only or rule:project_member"),
    ("delete_floatingip", "rule:admin_only or rule:project_member"),
    ("create_router", "rule:admin_only or rule:project_member"),
    ("update_router", "rule:admin_only or rule:project_member"),
    ("delete_router", "rule:admin_only or rule:project_member"),
    ("create_security_group", "rule:admin_only or rule:project_member"),
    ("update_security_group", "rule:admin_only or rule:project_member"),
    ("delete_security_group", "rule:admin_only or rule:project_member"),
    ("create_security_group_rule", "rule:admin_only or rule:project_member"),
    ("delete_security_group_rule", "rule:admin_only or rule:project_member"),
    ("create_subnetpool", "rule:admin_only or rule:project_member"),
    ("create_subnetpool:shared", "rule:admin_only"),
    ("create_subnetpool:is_default", "rule:admin_only"),
    ("update_subnetpool", "rule:admin_only or rule:project_member"),
    ("update_subnetpool:is_default", "rule:admin_only"),
    ("delete_subnetpool", "rule:admin_only or rule:project_member"),
    ("add_prefixes", "rule:admin_only or rule:project_member"),
    ("remove_prefixes", "rule:admin_only or rule:project_member"),
    ("create_address_scope", "rule:admin_only or rule:project_member"),
    ("create_address_scope:shared", "rule:admin_only"),
    ("update_address_scope", "rule:admin_only or rule:project_member"),
    ("update_address_scope:shared", "rule:admin_only"),
    ("delete_address_scope", "rule:admin_only or rule:project_member"),
    // Address groups: Neutron registers only `get_address_group`; its writes and member
    // actions fall to its `default` rule, `rule:admin_or_owner`.
    ("admin_or_owner", "rule:context_is_admin or project_id:%(project_id)s"),
    ("create_address_group", "rule:admin_or_owner"),
    ("update_address_group", "rule:admin_or_owner"),
    ("delete_address_group", "rule:admin_or_owner"),
    ("add_addresses", "rule:admin_or_owner"),
    ("remove_addresses", "rule:admin_or_owner"),
    ("get_network_ip_availability", "rule:admin_only or rule:service_api"),
    // neutrino diagnose (`GET /v2.0/diagnose/ports/{id}`): what hosts hold is for admins.
    ("diagnose_port", "rule:admin_only"),
    // Neutron's `ADMIN_OR_PROJECT_READER`; Keystone's `member` implies `reader`, which
    // neutrino's tokens do not expand, so the member is named too.
    ("get_floatingip_pool", "rule:admin_only or rule:project_member or rule:project_reader"),
    // Flavors, service profiles and providers (`neutron/conf/policies/flavor.py`,
    // `service_type.py`): they belong to no project. Neutron's `role:reader` reads flavors
    // and providers; admin and member, which imply reader in Keystone, are named too.
    ("get_flavor", "role:reader or role:member or role:admin"),
    ("create_flavor", "rule:admin_only"),
    ("update_flavor", "rule:admin_only"),
    ("delete_flavor", "rule:admin_only"),
    ("get_service_profile", "rule:admin_only"),
    ("create_service_profile", "rule:admin_only"),
    ("update_service_profile", "rule:admin_only"),
    ("delete_service_profile", "rule:admin_only"),
    ("get_flavor_service_profile", "rule:admin_only or rule:project_member or rule:project_reader"),
    ("create_flavor_service_profile", "rule:admin_only"),
    ("delete_flavor_service_profile", "rule:admin_only"),
    ("get_service_provider", "role:reader or role:member or role:admin"),
    // `security-groups-default-rules`: templates belong to no project; Neutron reads them
    // with `role:reader` (which `member` implies in Keystone, not in neutrino's tokens).
    ("create_default_security_group_rule", "rule:admin_only"),
    ("get_default_security_group_rule", "rule:admin_only or role:reader or role:member"),
    ("delete_default_security_group_rule", "rule:admin_only"),
];

/// Why a policy file or rule is unusable.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("cannot read policy file {path}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("policy file {path}, line {line}: {reason}")]
    Syntax { path: String, line: usize, reason: String },
    #[error("rule '{rule}': {reason}")]
    Expression { rule: String, reason: String },
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Always,
    Never,
    Role(String),
    /// `project_id:%(<field>)s`: the caller's project is the owner that field names.
    Owner(OwnerOf),
    /// `field:<resource>:<attr>=<value>`: an attribute of the target.
    Field(FieldCheck),
    IsAdmin(bool),
    Rule(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// Whose project an owner check compares the caller's with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnerOf {
    /// The target itself (`%(project_id)s`, `%(tenant_id)s`).
    Target,
    /// The target's network (`%(network:project_id)s`, `%(network:tenant_id)s`).
    Network,
}

/// A `field:` check on the target.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldCheck {
    /// `field:networks:shared=True|False`: whether the target's network is shared with the
    /// target's project (globally or by an RBAC policy naming it).
    NetworkShared(bool),
    /// `field:<resource>:<attr>=<value>`: the attribute equals the value.
    Equals { attr: String, value: String },
    /// `field:<resource>:<attr>=~^<prefix>`: the attribute starts with the prefix (the only
    /// regular expressions Neutron's defaults use; others are refused when the file loads).
    Prefix { attr: String, prefix: String },
}

/// Characters that make a `~` pattern more than an anchored literal prefix.
const REGEX_META: &[char] = &['.', '[', ']', '(', ')', '*', '+', '?', '{', '}', '|', '\\', '$', '^'];

fn parse_field(value: &str) -> Result<FieldCheck, String> {
    let bad = || format!("'field:{value}' is not field:<resource>:<attribute>=<value>");
    let (resource, rest) = value.split_once(':').ok_or_else(bad)?;
    let (attr, wanted) = rest.split_once('=').ok_or_else(bad)?;
    if resource.is_empty() || attr.is_empty() {
        return Err(bad());
    }
    if resource == "networks" && attr == "shared" {
        return match wanted.to_ascii_lowercase().as_str() {
            "true" => Ok(FieldCheck::NetworkShared(true)),
            "false" => Ok(FieldCheck::NetworkShared(false)),
            _ => Err(format!("'field:{value}': shared is True or False")),
        };
    }
    if let Some(pattern) = wanted.strip_prefix('~') {
        let prefix = pattern
            .strip_prefix('^')
            .filter(|p| !p.contains(REGEX_META))
            .ok_or_else(|| format!("'field:{value}': only anchored literal prefixes (=~^text) are supported"))?;
        return Ok(FieldCheck::Prefix { attr: attr.into(), prefix: prefix.into() });
    }
    Ok(FieldCheck::Equals { attr: attr.into(), value: wanted.into() })
}

/// oslo.policy's tokenizer: whitespace-separated, with parentheses peeled off the ends of
/// each word (so `%(project_id)s` stays one token).
fn tokenize(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    for word in s.split_whitespace() {
        let mut w = word;
        while let Some(rest) = w.strip_prefix('(') {
            out.push("(".into());
            w = rest;
        }
        let mut closing = 0;
        while let Some(rest) = w.strip_suffix(')') {
            if rest.ends_with("%(project_id") || rest.ends_with("%(tenant_id") {
                break;
            }
            closing += 1;
            w = rest;
        }
        if !w.is_empty() {
            out.push(w.to_string());
        }
        out.extend(std::iter::repeat_n(")".to_string(), closing));
    }
    out
}

struct Parser {
    tokens: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.pos).map(String::as_str)
    }

    fn next(&mut self) -> Option<String> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.and()?];
        while self.peek() == Some("or") {
            self.pos += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::Or(parts) })
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut parts = vec![self.not()?];
        while self.peek() == Some("and") {
            self.pos += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { Expr::And(parts) })
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.peek() == Some("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Expr, String> {
        let t = self.next().ok_or("unexpected end of expression")?;
        match t.as_str() {
            "(" => {
                let e = self.or()?;
                if self.next().as_deref() != Some(")") {
                    return Err("missing ')'".into());
                }
                Ok(e)
            }
            "@" => Ok(Expr::Always),
            "!" => Ok(Expr::Never),
            check => {
                let (kind, value) = check.split_once(':').ok_or_else(|| format!("'{check}' is not kind:match"))?;
                match kind {
                    "role" => Ok(Expr::Role(value.to_lowercase())),
                    "rule" => Ok(Expr::Rule(value.into())),
                    "is_admin" => Ok(Expr::IsAdmin(value.eq_ignore_ascii_case("true"))),
                    "project_id" | "tenant_id" => match value {
                        "%(project_id)s" | "%(tenant_id)s" => Ok(Expr::Owner(OwnerOf::Target)),
                        "%(network:project_id)s" | "%(network:tenant_id)s" => Ok(Expr::Owner(OwnerOf::Network)),
                        _ => Err(format!("unsupported check '{check}'")),
                    },
                    "field" => parse_field(value).map(Expr::Field),
                    _ => Err(format!("unsupported check '{check}'")),
                }
            }
        }
    }
}

/// Parses one expression; an empty one is `@` (oslo.policy's meaning).
pub fn parse(text: &str) -> Result<Expr, String> {
    if text.trim().is_empty() {
        return Ok(Expr::Always);
    }
    let mut p = Parser { tokens: tokenize(text), pos: 0 };
    let e = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(format!("unexpected '{}'", p.tokens[p.pos]));
    }
    Ok(e)
}

/// Who asks.
pub struct Creds<'a> {
    pub roles: &'a [String],
    pub project_id: &'a str,
    pub is_admin: bool,
}

/// What a check looks at: the object (owner and, for field checks, its attributes as they
/// would be after the request) and, for ports, the network it is on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Target<'a> {
    /// The object's project.
    pub project_id: &'a str,
    /// The object's network: its owner, and whether it is shared with `project_id`.
    pub network: Option<NetworkFacts<'a>>,
    /// The object's attributes (`field:` checks), when known.
    pub attrs: Option<&'a Map<String, Value>>,
}

/// The facts about a port's network that Neutron's `network_owner` and `shared` checks read.
#[derive(Debug, Clone, Copy)]
pub struct NetworkFacts<'a> {
    pub project_id: &'a str,
    pub shared: bool,
}

impl<'a> Target<'a> {
    /// A target known only by its owner.
    pub fn owned_by(project_id: &'a str) -> Self {
        Self { project_id, network: None, attrs: None }
    }
}

/// How oslo.policy compares a target attribute with a check's text: strings as they are,
/// booleans as `True`/`False`, numbers in decimal.
fn field_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(if *b { "True".into() } else { "False".into() }),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The active rule set: defaults, overridden by a policy file.
#[derive(Debug, Clone)]
pub struct Rules {
    rules: BTreeMap<String, Expr>,
}

impl Default for Rules {
    fn default() -> Self {
        let rules = DEFAULT_RULES.iter().map(|(k, v)| ((*k).to_string(), parse(v).unwrap_or(Expr::Never))).collect();
        Self { rules }
    }
}

impl Rules {
    /// Defaults plus the overrides of a policy file (YAML `"name": "expr"` lines or JSON).
    pub fn load(path: &Path) -> Result<Self, RuleError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| RuleError::Read { path: p.clone(), source })?;
        let mut rules = Self::default();
        let pairs: Vec<(usize, String, String)> = if text.trim_start().starts_with('{') {
            let map: BTreeMap<String, String> = serde_json::from_str(&text).map_err(|e| RuleError::Syntax {
                path: p.clone(),
                line: e.line(),
                reason: e.to_string(),
            })?;
            map.into_iter().map(|(k, v)| (0, k, v)).collect()
        } else {
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let l = line.trim();
                if l.is_empty() || l.starts_with('#') {
                    continue;
                }
                let (k, v) = split_yaml_pair(l).ok_or_else(|| RuleError::Syntax {
                    path: p.clone(),
                    line: i + 1,
                    reason: "expected \"rule\": \"expression\"".into(),
                })?;
                out.push((i + 1, k, v));
            }
            out
        };
        for (line, name, expr) in pairs {
            let parsed = parse(&expr).map_err(|reason| RuleError::Syntax {
                path: p.clone(),
                line,
                reason: format!("{name}: {reason}"),
            })?;
            rules.rules.insert(name, parsed);
        }
        Ok(rules)
    }

    /// Evaluates a rule for the credentials against a target. An unknown rule denies (fail
    /// closed), and so does a check on something the target does not carry.
    pub fn check(&self, name: &str, creds: &Creds, target: &Target) -> bool {
        self.eval(&Expr::Rule(name.into()), creds, target, 0)
    }

    /// Whether a rule of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.rules.contains_key(name)
    }

    fn eval(&self, e: &Expr, c: &Creds, target: &Target, depth: usize) -> bool {
        if depth > 32 {
            return false;
        }
        match e {
            Expr::Always => true,
            Expr::Never => false,
            Expr::Role(r) => c.roles.iter().any(|x| x.eq_ignore_ascii_case(r)),
            Expr::Owner(OwnerOf::Target) => c.project_id == target.project_id,
            Expr::Owner(OwnerOf::Network) => target.network.is_some_and(|n| n.project_id == c.project_id),
            Expr::Field(FieldCheck::NetworkShared(wanted)) => target.network.is_some_and(|n| n.shared == *wanted),
            Expr::Field(FieldCheck::Equals { attr, value }) => {
                target.attrs.and_then(|a| a.get(attr)).and_then(field_text).is_some_and(|v| v == *value)
            }
            Expr::Field(FieldCheck::Prefix { attr, prefix }) => target
                .attrs
                .and_then(|a| a.get(attr))
                .and_then(Value::as_str)
                .is_some_and(|v| v.starts_with(prefix.as_str())),
            Expr::IsAdmin(v) => c.is_admin == *v,
            Expr::Rule(name) => self.rules.get(name).is_some_and(|r| self.eval(r, c, target, depth + 1)),
            Expr::Not(inner) => !self.eval(inner, c, target, depth + 1),
            Expr::And(parts) => parts.iter().all(|p| self.eval(p, c, target, depth + 1)),
            Expr::Or(parts) => parts.iter().any(|p| self.eval(p, c, target, depth + 1)),
        }
    }
}

fn unquote(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix('"')
        .and_then(|x| x.strip_suffix('"'))
        .or_else(|| s.strip_prefix('\'').and_then(|x| x.strip_suffix('\'')))
        .unwrap_or(s);
    s.to_string()
}

/// `"a:b": "expr"` — the key may itself contain colons, so split after a closing quote.
fn split_yaml_pair(l: &str) -> Option<(String, String)> {
    if let Some(rest) = l.strip_prefix('"') {
        let end = rest.find('"')?;
        let key = &rest[..end];
        let value = rest[end + 1..].trim_start().strip_prefix(':')?;
        return Some((key.to_string(), unquote(value)));
    }
    let (k, v) = l.split_once(": ")?;
    Some((unquote(k), unquote(v)))
}

#[cfg(test)]
mod tests;
