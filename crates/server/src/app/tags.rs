//! The tags sub-resource (`standard-attr-tag`): tags live in the resource document and
//! every change bumps the resource's revision.

use super::lookup;
use super::{save_update, App, RequestContext, Stored};
use neutrino_model::limits::{tags_exhausted, MAX_TAGS};
use neutrino_model::resources::def;
use neutrino_model::types::{FloatingIp, Network, Port, Router, SecurityGroup, Subnet, SubnetPool};
use neutrino_model::{ApiError, Resource};
use neutrino_store::Tx;
use std::sync::Arc;

const MAX_TAG_LEN: usize = 255;

/// A tag operation.
#[derive(Debug, Clone)]
pub enum TagOp {
    /// `PUT .../tags` with the full list.
    ReplaceAll(Vec<String>),
    /// `DELETE .../tags`.
    ClearAll,
    /// `PUT .../tags/{tag}`.
    Add(String),
    /// `POST .../tags` (`tag-creation`): adds those not there yet. Neutron checks only the
    /// request's count against the limit here, not the total.
    AddAll(Vec<String>),
    /// `DELETE .../tags/{tag}` (404 if absent).
    Remove(String),
}

/// Validates one tag as neutron's tagging extension does.
pub fn validate_tag(tag: &str) -> Result<(), ApiError> {
    if tag.is_empty() || tag.chars().count() > MAX_TAG_LEN || tag.contains(',') {
        return Err(ApiError::invalid_input(format!("'{tag}' is not a valid tag")));
    }
    Ok(())
}

/// Reads the tags of a visible resource.
pub async fn get(
    app: &Arc<App>,
    ctx: &RequestContext,
    resource: Resource,
    id: String,
) -> Result<Vec<String>, ApiError> {
    let ctx = ctx.clone();
    app.store
        .read(move |tx| {
            Ok(match resource {
                Resource::Network => lookup::visible::<Network>(tx, &ctx, &id)?.tags,
                Resource::Subnet => lookup::visible::<Subnet>(tx, &ctx, &id)?.tags,
                Resource::Port => lookup::visible::<Port>(tx, &ctx, &id)?.tags,
                Resource::SecurityGroup => lookup::visible::<SecurityGroup>(tx, &ctx, &id)?.tags,
                Resource::Router => lookup::visible::<Router>(tx, &ctx, &id)?.tags,
                Resource::FloatingIp => lookup::visible::<FloatingIp>(tx, &ctx, &id)?.tags,
                Resource::SubnetPool => lookup::visible::<SubnetPool>(tx, &ctx, &id)?.tags,
                Resource::SecurityGroupRule
                | Resource::AddressScope
                | Resource::Flavor
                | Resource::ServiceProfile
                | Resource::DefaultSecurityGroupRule
                | Resource::AddressGroup => return Err(ApiError::http_not_found("The resource could not be found.")),
            })
        })
        .await
}

/// Applies `op` to a tag list (kept sorted, at most [`MAX_TAGS`]).
fn edit(tags: &mut Vec<String>, op: &TagOp, resource: Resource, id: &str) -> Result<(), ApiError> {
    match op {
        TagOp::ReplaceAll(new) => *tags = super::sorted_tags(new.clone()),
        TagOp::ClearAll => tags.clear(),
        TagOp::Add(t) => {
            if !tags.contains(t) {
                tags.push(t.clone());
                tags.sort();
            }
        }
        TagOp::AddAll(new) => {
            tags.extend(new.iter().cloned());
            *tags = super::sorted_tags(std::mem::take(tags));
            return Ok(());
        }
        TagOp::Remove(t) => {
            let before = tags.len();
            tags.retain(|x| x != t);
            if tags.len() == before {
                return Err(ApiError::tag_not_found(t, id));
            }
        }
    }
    if tags.len() > MAX_TAGS {
        return Err(tags_exhausted(def(resource).plural, MAX_TAGS));
    }
    Ok(())
}

fn apply_to<T: Stored>(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    id: &str,
    op: &TagOp,
    now: String,
) -> Result<Vec<String>, ApiError> {
    let mut item = lookup::visible::<T>(tx, ctx, id)?;
    let owner = item.key().1.to_string();
    super::policy::authorize(ctx, T::RESOURCE, super::policy::Action::Update, &owner, None)?;
    edit(item.std_attrs().0, op, T::RESOURCE, id)?;
    save_update(tx, &mut item, now)?;
    Ok(item.std_attrs().0.clone())
}

/// Applies a tag operation; returns the resulting tags.
pub async fn apply(
    app: &Arc<App>,
    ctx: &RequestContext,
    resource: Resource,
    id: String,
    op: TagOp,
) -> Result<Vec<String>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            match resource {
                Resource::Network => apply_to::<Network>(tx, &ctx, &id, &op, now),
                Resource::Subnet => apply_to::<Subnet>(tx, &ctx, &id, &op, now),
                Resource::Port => apply_to::<Port>(tx, &ctx, &id, &op, now),
                Resource::SecurityGroup => apply_to::<SecurityGroup>(tx, &ctx, &id, &op, now),
                Resource::Router => apply_to::<Router>(tx, &ctx, &id, &op, now),
                Resource::FloatingIp => apply_to::<FloatingIp>(tx, &ctx, &id, &op, now),
                Resource::SubnetPool => apply_to::<SubnetPool>(tx, &ctx, &id, &op, now),
                Resource::SecurityGroupRule
                | Resource::AddressScope
                | Resource::Flavor
                | Resource::ServiceProfile
                | Resource::DefaultSecurityGroupRule
                | Resource::AddressGroup => Err(ApiError::http_not_found("The resource could not be found.")),
            }
        })
        .await
}

/// Whether a visible resource has `tag` (404 TagNotFound otherwise).
pub async fn check(
    app: &Arc<App>,
    ctx: &RequestContext,
    resource: Resource,
    id: String,
    tag: String,
) -> Result<(), ApiError> {
    let tags = get(app, ctx, resource, id.clone()).await?;
    if tags.contains(&tag) {
        Ok(())
    } else {
        Err(ApiError::tag_not_found(&tag, &id))
    }
}
