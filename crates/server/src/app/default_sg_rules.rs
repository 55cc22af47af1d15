//! Default security group rules (`security-groups-default-rules`): the templates every new
//! security group's rules are made from, as Neutron's `securitygroups_db` keeps them. A
//! project's `default` group gets the templates `used_in_default_sg`, every other new group
//! those `used_in_non_default_sg`; a template's `remote_group_id` `PARENT` stands for the new
//! group itself. The store starts with Neutron's legacy set (egress anywhere for every group,
//! ingress from the group's members for `default` groups); only admins change it.
//!
//! The rule attributes' canonical forms and checks are the same for rules and templates, so
//! they live here, below both ([`normalize`]).

use super::policy::{self, Action};
use super::{decode, encode, load_required, App, RequestContext};
use ipnet::IpNet;
use neutrino_model::bodies::security_groups::DefaultSecurityGroupRuleCreate;
use neutrino_model::bodies::Body;
use neutrino_model::types::DefaultSecurityGroupRule;
use neutrino_model::validate::security_groups as rule_checks;
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Doc, IndexFilter, Tx};
use std::sync::Arc;

/// A template's `remote_group_id` for "the group made from it".
pub(crate) const PARENT: &str = "PARENT";

/// A rule's protocol, ports and remote prefix in their stored forms.
pub(crate) struct Normalized {
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    /// The network of `remote_ip_prefix` (`security-groups-normalized-cidr`).
    pub normalized_cidr: Option<String>,
}

/// Neutron's `_validate_base_security_group_rule_attributes` but for the remotes (whose
/// kinds differ between rules and templates), in its order: the canonical IPv6 ICMP protocol
/// and port range, the port range against the protocol, the prefix against the ethertype,
/// the ethertype against the protocol.
pub(crate) fn normalize(
    ethertype: &str,
    protocol: Option<String>,
    port_range_min: Option<u32>,
    port_range_max: Option<u32>,
    remote_ip_prefix: Option<&str>,
) -> Result<Normalized, ApiError> {
    let protocol = rule_checks::canonical_protocol(protocol, ethertype);
    let (min, max) = rule_checks::canonical_port_range(port_range_min, port_range_max);
    rule_checks::check_port_range(protocol.as_deref(), min, max)?;
    let normalized_cidr = match remote_ip_prefix {
        Some(p) => {
            let net: IpNet = p.parse().map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for remote_ip_prefix. Reason: '{p}' is not a valid IP subnet."
                ))
            })?;
            if (net.addr().is_ipv4() && ethertype == "IPv6") || (net.addr().is_ipv6() && ethertype == "IPv4") {
                return Err(ApiError::security_group_rule_parameter_conflict(ethertype, p));
            }
            Some(format!("{}/{}", net.network(), net.prefix_len()))
        }
        None => None,
    };
    rule_checks::check_ethertype_and_protocol(ethertype, protocol.as_deref())?;
    Ok(Normalized { protocol, port_range_min: min, port_range_max: max, normalized_cidr })
}

/// Neutron's `_rule_to_key` for templates: what makes two of them the same (a protocol by
/// its number, a prefix for "anywhere" as none).
fn key(t: &DefaultSecurityGroupRule) -> String {
    let protocol =
        t.protocol.as_deref().map(|p| rule_checks::protocol_number(p).map_or(p.to_string(), |n| n.to_string()));
    let prefix = t.remote_ip_prefix.as_deref().filter(|p| !matches!(*p, "0.0.0.0/0" | "::/0"));
    let part = |v: Option<String>| v.unwrap_or_else(|| "+".into());
    [
        t.direction.clone(),
        t.ethertype.clone(),
        part(t.port_range_max.map(|p| p.to_string())),
        part(t.port_range_min.map(|p| p.to_string())),
        part(protocol),
        part(t.remote_group_id.clone()),
        part(t.remote_address_group_id.clone()),
        part(prefix.map(str::to_string)),
    ]
    .join("_")
}

fn all(tx: &mut dyn Tx) -> Result<Vec<DefaultSecurityGroupRule>, ApiError> {
    tx.doc_list(Resource::DefaultSecurityGroupRule, &IndexFilter::default())?
        .iter()
        .map(|b| decode(Resource::DefaultSecurityGroupRule, "?", b))
        .collect()
}

/// The templates of a project's `default` group (`for_default`) or of any other new group.
pub(crate) fn templates(tx: &mut dyn Tx, for_default: bool) -> Result<Vec<DefaultSecurityGroupRule>, ApiError> {
    Ok(all(tx)?
        .into_iter()
        .filter(|t| if for_default { t.used_in_default_sg } else { t.used_in_non_default_sg })
        .collect())
}

/// Whether the caller may read the templates (`get_default_security_group_rule`).
pub(crate) fn may_read(ctx: &RequestContext) -> bool {
    policy::authorize_rule(ctx, "get_default_security_group_rule", &ctx.project_id).is_ok()
}

/// The template the new one repeats, if any. Neutron compares a new template with those
/// `used_in_non_default_sg` whatever its own flags; a template used in `default` groups is
/// also compared with the others used there, so no group is ever made with the same rule
/// twice.
fn existing_same(tx: &mut dyn Tx, new: &DefaultSecurityGroupRule) -> Result<Option<String>, ApiError> {
    let k = key(new);
    Ok(all(tx)?
        .into_iter()
        .find(|t| (t.used_in_non_default_sg || (new.used_in_default_sg && t.used_in_default_sg)) && key(t) == k)
        .map(|t| t.id))
}

fn build(a: &DefaultSecurityGroupRuleCreate) -> Result<DefaultSecurityGroupRule, ApiError> {
    let n =
        normalize(&a.ethertype, a.protocol.clone(), a.port_range_min, a.port_range_max, a.remote_ip_prefix.as_deref())?;
    if a.remote_ip_prefix.is_some() as u8
        + a.remote_group_id.is_some() as u8
        + a.remote_address_group_id.is_some() as u8
        > 1
    {
        return Err(ApiError::security_group_multiple_remote_entities());
    }
    if let Some(g) = a.remote_group_id.as_deref().filter(|g| *g != PARENT && !neutrino_model::validate::is_uuid_like(g))
    {
        return Err(ApiError::invalid_template_remote_group(g));
    }
    Ok(DefaultSecurityGroupRule {
        id: uuid::Uuid::new_v4().to_string(),
        ethertype: a.ethertype.clone(),
        direction: a.direction.clone(),
        protocol: n.protocol,
        port_range_min: n.port_range_min,
        port_range_max: n.port_range_max,
        remote_ip_prefix: a.remote_ip_prefix.clone(),
        remote_address_group_id: a.remote_address_group_id.clone(),
        remote_group_id: a.remote_group_id.clone(),
        description: a.description.clone(),
        used_in_default_sg: a.used_in_default_sg,
        used_in_non_default_sg: a.used_in_non_default_sg,
    })
}

/// `POST /v2.0/default-security-group-rules` (one template: Neutron has no bulk here).
pub async fn create(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<Body<DefaultSecurityGroupRuleCreate>>,
) -> Result<Vec<DefaultSecurityGroupRule>, ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let mut out = Vec::with_capacity(items.len());
            for body in &items {
                policy::authorize(&ctx, Resource::DefaultSecurityGroupRule, Action::Create, "", Some(&body.attrs))?;
                let t = build(&body.fields)?;
                if let Some(existing) = existing_same(tx, &t)? {
                    return Err(ApiError::default_security_group_rule_exists(&existing));
                }
                let doc = Doc { id: t.id.clone(), body: encode(&t)?, ..Doc::default() };
                tx.doc_insert(Resource::DefaultSecurityGroupRule, &doc)?;
                tx.change_record(Resource::DefaultSecurityGroupRule, &t.id, ChangeOp::Create, "")?;
                out.push(t);
            }
            Ok(out)
        })
        .await
}

/// `DELETE /v2.0/default-security-group-rules/{id}`: 404 for an unknown template, then the
/// policy (403 to those who may read it).
pub async fn delete(app: &Arc<App>, ctx: &RequestContext, id: String) -> Result<(), ApiError> {
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let _: DefaultSecurityGroupRule = load_required(tx, Resource::DefaultSecurityGroupRule, &id)?;
            if !may_read(&ctx) {
                return Err(ApiError::http_not_found("The resource could not be found."));
            }
            policy::authorize(&ctx, Resource::DefaultSecurityGroupRule, Action::Delete, "", None)?;
            tx.doc_delete(Resource::DefaultSecurityGroupRule, &id)?;
            tx.change_record(Resource::DefaultSecurityGroupRule, &id, ChangeOp::Delete, "")?;
            Ok(())
        })
        .await
}
