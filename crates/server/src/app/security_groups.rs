//! Security groups and their rules (`security-group`, `stateful-security-group`): each
//! project's `default` group created on first use, every new group's rules made from the
//! default rule templates ([`super::default_sg_rules`]), rule validation with Neutron's
//! errors, duplicates refused, groups in use kept.
//!
//! Rules are rows of their own; a group's stored document holds none and its
//! `security_group_rules` are joined in when it is read ([`with_rules`]), so a rule change
//! never rewrites the whole rule set. A rule's signature (what makes two rules the same) is
//! a unique key of its row: the database refuses duplicates.

use super::default_sg_rules::{self, PARENT};
use super::lookup;
use super::policy::{self, Action};
use super::{check_revision, decode, encode, load_required, App, RequestContext};
use neutrino_model::bodies::security_groups::{SecurityGroupCreate, SecurityGroupRuleCreate, SecurityGroupUpdate};
use neutrino_model::bodies::{Body, Update};
use neutrino_model::query::ListQuery;
use neutrino_model::types::{AddressGroup, DefaultSecurityGroupRule, SecurityGroup, SecurityGroupRule};
use neutrino_model::validate::security_groups as rule_checks;
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, Tx};
use std::sync::Arc;

const DEFAULT: &str = "default";

/// The stored group: its rules live in their own rows.
pub(crate) fn doc(g: &SecurityGroup) -> Result<Doc, ApiError> {
    let mut stored = g.clone();
    stored.security_group_rules.clear();
    Ok(Doc {
        id: g.id.clone(),
        project_id: g.project_id.clone(),
        name: g.name.clone(),
        body: encode(&stored)?,
        ..Doc::default()
    })
}

/// What makes two rules of a group the same, as Neutron's `_rule_to_key`: the protocol by
/// name (`6` is `tcp`), and any of `0.0.0.0/0`, `::/0` or no prefix alike. A remote address
/// group is appended only when the rule names one. Rows stored before this normalisation keep
/// their older signature (the raw protocol and prefix): one stored as `6` or with `0.0.0.0/0`
/// is not recognised as the twin of a new spelling, which costs a redundant rule, not access.
fn signature(r: &SecurityGroupRule) -> String {
    let prefix = r.normalized_cidr.as_deref().filter(|c| !matches!(*c, "0.0.0.0/0" | "::/0"));
    let mut sig = format!(
        "{}|{}|{}|{}|{}|{}|{}",
        r.direction,
        r.ethertype,
        rule_checks::protocol_key(r.protocol.as_deref(), &r.ethertype).unwrap_or_default(),
        r.port_range_min.map(|p| p.to_string()).unwrap_or_default(),
        r.port_range_max.map(|p| p.to_string()).unwrap_or_default(),
        prefix.unwrap_or(""),
        r.remote_group_id.as_deref().unwrap_or("")
    );
    if let Some(group) = r.remote_address_group_id.as_deref().filter(|g| !g.is_empty()) {
        sig.push_str("|ag:");
        sig.push_str(group);
    }
    sig
}

fn rule_doc(r: &SecurityGroupRule) -> Result<Doc, ApiError> {
    Ok(Doc {
        id: r.id.clone(),
        project_id: r.project_id.clone(),
        name: signature(r),
        security_group_id: Some(r.security_group_id.clone()),
        remote_address_group_id: r.remote_address_group_id.clone(),
        body: encode(r)?,
        ..Doc::default()
    })
}

/// The rules of the given groups, by group.
pub(crate) fn rules_of(
    tx: &mut dyn Tx,
    group_ids: &[String],
) -> Result<std::collections::HashMap<String, Vec<SecurityGroupRule>>, ApiError> {
    let mut out: std::collections::HashMap<String, Vec<SecurityGroupRule>> = std::collections::HashMap::new();
    if group_ids.is_empty() {
        return Ok(out);
    }
    let filter = IndexFilter { security_group_ids: Some(group_ids.to_vec()), ..Default::default() };
    for body in tx.doc_list(Resource::SecurityGroupRule, &filter)? {
        let r: SecurityGroupRule = decode(Resource::SecurityGroupRule, "?", &body)?;
        out.entry(r.security_group_id.clone()).or_default().push(r);
    }
    Ok(out)
}

/// The group as clients see it: with its rules.
pub(crate) fn with_rules(tx: &mut dyn Tx, mut g: SecurityGroup) -> Result<SecurityGroup, ApiError> {
    g.security_group_rules = rules_of(tx, std::slice::from_ref(&g.id))?.remove(&g.id).unwrap_or_default();
    Ok(g)
}

fn new_rule(
    g: &SecurityGroup,
    direction: &str,
    ethertype: &str,
    remote_group: Option<String>,
    now: &str,
) -> SecurityGroupRule {
    SecurityGroupRule {
        id: uuid::Uuid::new_v4().to_string(),
        tenant_id: g.project_id.clone(),
        project_id: g.project_id.clone(),
        security_group_id: g.id.clone(),
        direction: direction.into(),
        ethertype: ethertype.into(),
        protocol: None,
        port_range_min: None,
        port_range_max: None,
        remote_ip_prefix: None,
        normalized_cidr: None,
        remote_group_id: remote_group,
        remote_address_group_id: None,
        belongs_to_default_sg: g.name == DEFAULT,
        description: String::new(),
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    }
}

/// The rule a template makes in `g` (`_create_rules_from_template`: `PARENT` is `g`; the
/// template's description stays the template's).
fn from_template(g: &SecurityGroup, t: DefaultSecurityGroupRule, now: &str) -> Result<SecurityGroupRule, ApiError> {
    let remote_group = t.remote_group_id.map(|r| if r == PARENT { g.id.clone() } else { r });
    let n = default_sg_rules::normalize(
        &t.ethertype,
        t.protocol,
        t.port_range_min,
        t.port_range_max,
        t.remote_ip_prefix.as_deref(),
    )?;
    let mut rule = new_rule(g, &t.direction, &t.ethertype, remote_group, now);
    rule.protocol = n.protocol;
    rule.port_range_min = n.port_range_min;
    rule.port_range_max = n.port_range_max;
    rule.remote_ip_prefix = t.remote_ip_prefix;
    rule.normalized_cidr = n.normalized_cidr;
    rule.remote_address_group_id = t.remote_address_group_id;
    Ok(rule)
}

/// The rules of a new group from the templates for its kind, once the project's rule quota
/// has room for them all (Neutron counts the templates before it makes the group). Templates
/// that come out the same for this group (two remote groups both naming it) make one rule.
fn template_rules(tx: &mut dyn Tx, g: &SecurityGroup, now: &str) -> Result<Vec<SecurityGroupRule>, ApiError> {
    let templates = default_sg_rules::templates(tx, g.name == DEFAULT)?;
    super::quotas::check_n(tx, Resource::SecurityGroupRule, &g.project_id, templates.len() as u64)?;
    let mut rules: Vec<SecurityGroupRule> = Vec::with_capacity(templates.len());
    for t in templates {
        let rule = from_template(g, t, now)?;
        if !rules.iter().any(|r| signature(r) == signature(&rule)) {
            rules.push(rule);
        }
    }
    Ok(rules)
}

fn insert_group(tx: &mut dyn Tx, g: &SecurityGroup) -> Result<(), ApiError> {
    tx.doc_insert(Resource::SecurityGroup, &doc(g)?)?;
    for r in &g.security_group_rules {
        tx.doc_insert(Resource::SecurityGroupRule, &rule_doc(r)?)?;
    }
    tx.change_record(Resource::SecurityGroup, &g.id, ChangeOp::Create, &g.project_id)?;
    Ok(())
}

fn find_default(tx: &mut dyn Tx, project: &str) -> Result<Option<String>, ApiError> {
    let filter = IndexFilter {
        project_ids: Some(vec![project.into()]),
        names: Some(vec![DEFAULT.into()]),
        ..Default::default()
    };
    let bodies = tx.doc_list(Resource::SecurityGroup, &filter)?;
    Ok(match bodies.first() {
        Some(b) => Some(decode::<SecurityGroup>(Resource::SecurityGroup, "default", b)?.id),
        None => None,
    })
}

/// The project's `default` group, created on first use with the templates' rules.
pub(crate) fn ensure_default(tx: &mut dyn Tx, project: &str, now: &str) -> Result<String, ApiError> {
    if let Some(id) = find_default(tx, project)? {
        return Ok(id);
    }
    let mut g = SecurityGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name: DEFAULT.into(),
        tenant_id: project.into(),
        project_id: project.into(),
        stateful: true,
        shared: false,
        security_group_rules: vec![],
        description: "Default security group".into(),
        tags: vec![],
        created_at: now.into(),
        updated_at: now.into(),
        revision_number: 0,
    };
    g.security_group_rules = template_rules(tx, &g, now)?;
    insert_group(tx, &g)?;
    Ok(g.id)
}

/// Makes sure the listed project has its default group, as Neutron does on listing: the
/// project a `project_id` (or `tenant_id`) filter names, else the caller's; never one of
/// another project unless the caller is admin.
pub async fn ensure_default_for(app: &Arc<App>, ctx: &RequestContext, q: &ListQuery) -> Result<(), ApiError> {
    let named = q.eq_values("project_id").or_else(|| q.eq_values("tenant_id")).and_then(|v| v.first());
    let project = match named {
        Some(v) => neutrino_model::pystr::py_str(v),
        None => ctx.project_id.clone(),
    };
    if ctx.project_id.is_empty() || (project != ctx.project_id && !ctx.is_admin) {
        return Ok(());
    }
    let app2 = app.clone();
    let exists = app.store.read({
        let project = project.clone();
        move |tx| find_default(tx, &project)
    });
    if exists.await?.is_some() {
        return Ok(());
    }
    app.store.write(move |tx| ensure_default(tx, &project, &app2.clock.now()).map(|_| ())).await
}

/// Creates groups (bulk is atomic); each gets the rules of the templates for new groups.
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<SecurityGroupCreate>>,
) -> Result<Vec<SecurityGroup>, ApiError> {
    super::bulk_create(app, ctx, items, create_one).await
}

fn create_one(
    tx: &mut dyn Tx,
    _app: &App,
    ctx: &RequestContext,
    body: &Body<SecurityGroupCreate>,
    now: &str,
) -> Result<SecurityGroup, ApiError> {
    let a = &body.fields;
    let project = a.project_id.clone();
    // The name's validator (`name_not_default`) runs with the body's, before anything else.
    if a.name.to_lowercase() == DEFAULT {
        return Err(ApiError::security_group_default_already_exists());
    }
    policy::authorize(ctx, Resource::SecurityGroup, Action::Create, &project, Some(&body.attrs))?;
    // Neutron's API layer counts the groups before its plugin makes the default one; the
    // plugin then checks that the new groups' rules fit the rule quota.
    super::quotas::check(tx, Resource::SecurityGroup, &project)?;
    ensure_default(tx, &project, now)?;
    let name = a.name.clone();
    let mut g = SecurityGroup {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        tenant_id: project.clone(),
        project_id: project.clone(),
        stateful: a.stateful,
        shared: false,
        security_group_rules: vec![],
        description: a.description.clone(),
        tags: super::sorted_tags(a.tags.clone()),
        created_at: now.to_string(),
        updated_at: now.to_string(),
        revision_number: 0,
    };
    g.security_group_rules = template_rules(tx, &g, now)?;
    insert_group(tx, &g)?;
    Ok(g)
}

/// Updates a group's name, description or `stateful`.
pub async fn update(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    change: Update<SecurityGroupUpdate>,
) -> Result<SecurityGroup, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut g = lookup::visible::<SecurityGroup>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::SecurityGroup, Action::Update, &g.project_id, Some(&change.body.attrs))?;
            check_revision(change.if_match, g.revision_number)?;
            let a = change.body.fields;
            if let Some(name) = a.name {
                if g.name == DEFAULT && name != DEFAULT {
                    return Err(ApiError::security_group_cannot_update_default());
                }
                if name == DEFAULT && g.name != DEFAULT {
                    return Err(ApiError::security_group_default_already_exists());
                }
                g.name = name;
            }
            if let Some(v) = a.description {
                g.description = v;
            }
            if let Some(v) = a.stateful {
                if v != g.stateful && tx.port_security_group_count(&g.id)? > 0 {
                    return Err(ApiError::security_group_in_use(&g.id));
                }
                g.stateful = v;
            }
            super::save_update(tx, &mut g, app2.clock.now())?;
            with_rules(tx, g)
        })
        .await
}

/// Deletes a group: not while ports use it, and the default one only as admin.
pub async fn delete(
    app: &Arc<App>,
    ctx: &RequestContext,
    id: String,
    if_match: Option<super::IfMatch>,
) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let g = lookup::visible::<SecurityGroup>(tx, &ctx, &id)?;
            policy::authorize(&ctx, Resource::SecurityGroup, Action::Delete, &g.project_id, None)?;
            check_revision(if_match, g.revision_number)?;
            if g.name == DEFAULT && !ctx.is_admin {
                return Err(ApiError::security_group_cannot_remove_default());
            }
            if tx.port_security_group_count(&id)? > 0 {
                return Err(ApiError::security_group_in_use(&id));
            }
            // Rules go with the group (ON DELETE CASCADE), and so do its RBAC policies.
            tx.doc_delete(Resource::SecurityGroup, &id)?;
            tx.rbac_policy_delete_by_object(&id)?;
            tx.change_record(Resource::SecurityGroup, &id, ChangeOp::Delete, &g.project_id)?;
            Ok(())
        })
        .await
}

/// Validates one converted rule request into a rule of `g`, in Neutron's order: the
/// canonical forms, port range, prefix, ethertype against protocol, one remote, the remote
/// group and the remote address group (which the rule's project must see). An empty
/// remote counts as none, as Python's truth test does.
fn build_rule(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    g: &SecurityGroup,
    a: &SecurityGroupRuleCreate,
    now: &str,
) -> Result<SecurityGroupRule, ApiError> {
    let ethertype = a.ethertype.as_str();
    let prefix = a.remote_ip_prefix.clone();
    let n = default_sg_rules::normalize(
        ethertype,
        a.protocol.clone(),
        a.port_range_min,
        a.port_range_max,
        prefix.as_deref(),
    )?;
    let remote_group = a.remote_group_id.clone();
    let remote_address_group = a.remote_address_group_id.as_deref().filter(|id| !id.is_empty());
    let remotes = [prefix.is_some(), remote_group.is_some(), remote_address_group.is_some()];
    if remotes.into_iter().filter(|given| *given).count() > 1 {
        return Err(ApiError::security_group_multiple_remote_entities());
    }
    if let Some(rg) = &remote_group {
        lookup::visible::<SecurityGroup>(tx, ctx, rg)?;
    }
    if let Some(ag) = remote_address_group {
        lookup::visible::<AddressGroup>(tx, ctx, ag)?;
    }
    let mut rule = new_rule(g, &a.direction, ethertype, remote_group, now);
    // An empty id is kept: like Neutron's, the database refuses it (no such group).
    rule.remote_address_group_id = a.remote_address_group_id.clone();
    rule.protocol = n.protocol;
    rule.port_range_min = n.port_range_min;
    rule.port_range_max = n.port_range_max;
    rule.remote_ip_prefix = prefix;
    rule.normalized_cidr = n.normalized_cidr;
    rule.description = a.description.clone();
    Ok(rule)
}

/// Creates rules (bulk is atomic).
pub async fn rule_create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<SecurityGroupRuleCreate>>,
) -> Result<Vec<SecurityGroupRule>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            let mut out: Vec<SecurityGroupRule> = Vec::new();
            for body in &items {
                let mut g = lookup::visible::<SecurityGroup>(tx, &ctx, &body.fields.security_group_id)?;
                policy::authorize(&ctx, Resource::SecurityGroupRule, Action::Create, &g.project_id, Some(&body.attrs))?;
                super::quotas::check(tx, Resource::SecurityGroupRule, &g.project_id)?;
                let rule = build_rule(tx, &ctx, &g, &body.fields, &now)?;
                if out.iter().any(|r| r.security_group_id == rule.security_group_id && signature(r) == signature(&rule))
                {
                    return Err(ApiError::duplicate_security_group_rule_in_post());
                }
                // The unique key on (group, signature) finds the duplicate in the index, so a
                // create costs the same in a group of 1000 rules as in an empty one; the
                // group's rules are read only to name the one it duplicates.
                match tx.doc_insert(Resource::SecurityGroupRule, &rule_doc(&rule)?) {
                    Ok(()) => {}
                    Err(neutrino_store::StoreError::UniqueViolation { .. }) => {
                        let rules = rules_of(tx, std::slice::from_ref(&g.id))?.remove(&g.id).unwrap_or_default();
                        let existing = rules.into_iter().find(|r| signature(r) == signature(&rule)).map(|r| r.id);
                        return Err(ApiError::security_group_rule_exists(&existing.unwrap_or_default()));
                    }
                    Err(e) => return Err(e.into()),
                }
                tx.change_record(Resource::SecurityGroupRule, &rule.id, ChangeOp::Create, &rule.project_id)?;
                super::save_update(tx, &mut g, now.clone())?;
                out.push(rule);
            }
            Ok(out)
        })
        .await
}

/// Deletes one rule.
pub async fn rule_delete(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let rule: SecurityGroupRule = load_required(tx, Resource::SecurityGroupRule, &id)?;
            // Only the group's owner sees its rules, not the projects it is shared with.
            let mut g = lookup::visible::<SecurityGroup>(tx, &ctx, &rule.security_group_id)
                .ok()
                .filter(|g| policy::can_see(&ctx, &g.project_id, false))
                .ok_or_else(|| ApiError::not_found(Resource::SecurityGroupRule, &id))?;
            policy::authorize(&ctx, Resource::SecurityGroupRule, Action::Delete, &g.project_id, None)?;
            tx.doc_delete(Resource::SecurityGroupRule, &id)?;
            tx.change_record(Resource::SecurityGroupRule, &id, ChangeOp::Delete, &rule.project_id)?;
            super::save_update(tx, &mut g, app2.clock.now())?;
            Ok(())
        })
        .await
}

/// Resolves the groups a port asks for (404 for unknown ones), or its project's default.
pub(crate) fn port_groups(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    requested: Option<Vec<String>>,
    port_project: &str,
    port_security: bool,
    server_service_port: bool,
    now: &str,
) -> Result<Vec<String>, ApiError> {
    match requested {
        Some(groups) => {
            if !groups.is_empty() && !port_security {
                return Err(ApiError::port_security_and_ip_required_for_security_groups());
            }
            let mut stateful = Vec::with_capacity(groups.len());
            for g in &groups {
                stateful.push(lookup::visible::<SecurityGroup>(tx, ctx, g)?.stateful);
            }
            if stateful.contains(&true) && stateful.contains(&false) {
                return Err(ApiError::security_group_conflict(
                    "Cannot apply both stateful and stateless security groups on the same port at the same time",
                ));
            }
            Ok(groups)
        }
        // Only the ports the server makes for its own services (DHCP, routers, floating
        // IPs) go without the default group: a `network:*` owner an API caller chose does not.
        None if port_security && !server_service_port => Ok(vec![ensure_default(tx, port_project, now)?]),
        None => Ok(vec![]),
    }
}
