//! Policy rules as oslo.policy expressions, so operators override them the way they do for
//! Neutron: a policy file of `"rule": "expression"` lines (YAML) or a JSON object.
//!
//! Supported: `role:<name>`, `project_id:%(project_id)s`, `is_admin:True`, `rule:<name>`,
//! `@` (always), `!` (never), `and`, `or`, `not` and parentheses.

use std::collections::BTreeMap;
use std::path::Path;

/// The defaults, named as in `neutron/conf/policies/*`.
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    ("admin_only", "role:admin"),
    ("project_member", "role:member and project_id:%(project_id)s"),
    ("project_reader", "role:reader and project_id:%(project_id)s"),
    ("service_api", "role:service"),
    ("create_network", "rule:admin_only or rule:project_member"),
    ("update_network", "rule:admin_only or rule:project_member"),
    ("delete_network", "rule:admin_only or rule:project_member"),
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
    ("delete_subnet", "rule:admin_only or rule:project_member"),
    ("create_port", "rule:admin_only or rule:project_member or rule:service_api"),
    ("update_port", "rule:admin_only or rule:project_member or rule:service_api"),
    ("delete_port", "rule:admin_only or rule:project_member or rule:service_api"),
    ("create_port:binding:host_id", "rule:admin_only or rule:service_api"),
    ("update_port:binding:host_id", "rule:admin_only or rule:service_api"),
    ("create_port:binding:profile", "rule:admin_only or rule:service_api"),
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
    ("update_port:binding:profile", "rule:admin_only or rule:service_api"),
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
    ProjectIsTarget,
    IsAdmin(bool),
    Rule(String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
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
                    "project_id" | "tenant_id" if value == "%(project_id)s" || value == "%(tenant_id)s" => {
                        Ok(Expr::ProjectIsTarget)
                    }
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

/// Who asks and about what.
pub struct Creds<'a> {
    pub roles: &'a [String],
    pub project_id: &'a str,
    pub is_admin: bool,
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

    /// Evaluates a rule for the credentials against a target owned by `target_project`.
    /// An unknown rule denies (fail closed).
    pub fn check(&self, name: &str, creds: &Creds, target_project: &str) -> bool {
        self.eval(&Expr::Rule(name.into()), creds, target_project, 0)
    }

    /// Whether a rule of that name exists.
    pub fn has(&self, name: &str) -> bool {
        self.rules.contains_key(name)
    }

    fn eval(&self, e: &Expr, c: &Creds, target: &str, depth: usize) -> bool {
        if depth > 32 {
            return false;
        }
        match e {
            Expr::Always => true,
            Expr::Never => false,
            Expr::Role(r) => c.roles.iter().any(|x| x.eq_ignore_ascii_case(r)),
            Expr::ProjectIsTarget => c.project_id == target,
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
mod tests {
    use super::*;

    fn creds<'a>(roles: &'a [String], project: &'a str) -> Creds<'a> {
        Creds { roles, project_id: project, is_admin: roles.iter().any(|r| r == "admin") }
    }

    #[test]
    fn expressions_parse_and_evaluate() {
        let r = Rules::default();
        let member = vec!["member".to_string()];
        assert!(r.check("create_network", &creds(&member, "A"), "A"));
        assert!(!r.check("create_network", &creds(&member, "A"), "B"));
        assert!(!r.check("create_network:shared", &creds(&member, "A"), "A"));
        assert!(!r.check("no_such_rule", &creds(&member, "A"), "A"));
        assert_eq!(
            parse("not (role:a or !) and @").unwrap(),
            Expr::And(vec![Expr::Not(Box::new(Expr::Or(vec![Expr::Role("a".into()), Expr::Never]))), Expr::Always])
        );
        assert!(parse("role:a or").is_err());
        assert!(parse("field:networks:shared=True").is_err());
    }

    #[test]
    fn policy_files_override_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let yaml = dir.path().join("policy.yaml");
        std::fs::write(
            &yaml,
            "# let members share networks\n\"create_network:shared\": \"rule:admin_only or rule:project_member\"\n",
        )
        .unwrap();
        let r = Rules::load(&yaml).unwrap();
        let member = vec!["member".to_string()];
        assert!(r.check("create_network:shared", &creds(&member, "A"), "A"));
        let json = dir.path().join("policy.json");
        std::fs::write(&json, r#"{"create_network": "!"}"#).unwrap();
        let r = Rules::load(&json).unwrap();
        assert!(!r.check("create_network", &creds(&["admin".to_string()], "A"), "A"));
        std::fs::write(&yaml, "\"create_network\": \"role:\"\n\"x\" \"y\"\n").unwrap();
        assert!(Rules::load(&yaml).is_err());
    }
}
