//! The tags sub-resource (`standard-attr-tag`): tags live in the resource document and
//! every change bumps the resource's revision.

use super::{App, RequestContext};
use neutrino_model::types::{Network, Port, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::Tx;
use std::sync::Arc;

/// Most tags on one resource, Neutron's `MAX_TAGS`.
pub const MAX_TAGS: usize = 50;
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

fn tag_not_found(resource: Resource, id: &str, tag: &str) -> ApiError {
    let _ = resource;
    ApiError::new(404, "TagNotFound", format!("Tag {tag} could not be found for resource {id}."))
}

/// Reads the tags of a visible resource.
pub async fn get(
    app: &Arc<App>,
    ctx: &RequestContext,
    resource: Resource,
    id: String,
) -> Result<Vec<String>, ApiError> {
    let ctx = ctx.clone();
    app.store.read(move |tx| Ok(current(tx, &ctx, resource, &id)?.0)).await
}

fn current(
    tx: &mut dyn Tx,
    ctx: &RequestContext,
    resource: Resource,
    id: &str,
) -> Result<(Vec<String>, u64), ApiError> {
    Ok(match resource {
        Resource::Network => {
            let n = super::networks::load_visible(tx, ctx, id)?;
            (n.tags, n.revision_number)
        }
        Resource::Subnet => {
            let s = super::subnets::load_visible(tx, ctx, id)?;
            (s.tags, s.revision_number)
        }
        Resource::Port => {
            let p = super::ports::load_visible(tx, ctx, id)?;
            (p.tags, p.revision_number)
        }
    })
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
            let edit = |tags: &mut Vec<String>| -> Result<(), ApiError> {
                match &op {
                    TagOp::ReplaceAll(new) => {
                        *tags = super::networks::sorted_tags(new.clone());
                    }
                    TagOp::ClearAll => tags.clear(),
                    TagOp::Add(t) => {
                        if !tags.contains(t) {
                            tags.push(t.clone());
                            tags.sort();
                        }
                    }
                    TagOp::Remove(t) => {
                        let before = tags.len();
                        tags.retain(|x| x != t);
                        if tags.len() == before {
                            return Err(tag_not_found(resource, &id, t));
                        }
                    }
                }
                if tags.len() > MAX_TAGS {
                    return Err(ApiError::bad_request(format!(
                        "The number of tags exceed the per-resource limit {MAX_TAGS}"
                    )));
                }
                Ok(())
            };
            match resource {
                Resource::Network => {
                    let mut n: Network = super::networks::load_visible(tx, &ctx, &id)?;
                    edit(&mut n.tags)?;
                    n.revision_number += 1;
                    n.updated_at = now;
                    tx.doc_update(resource, &super::networks::doc(&n)?)?;
                    tx.change_record(resource, &id, "update", &n.project_id)?;
                    Ok(n.tags)
                }
                Resource::Subnet => {
                    let mut s: Subnet = super::subnets::load_visible(tx, &ctx, &id)?;
                    edit(&mut s.tags)?;
                    s.revision_number += 1;
                    s.updated_at = now;
                    tx.doc_update(resource, &super::subnets::doc(&s)?)?;
                    tx.change_record(resource, &id, "update", &s.project_id)?;
                    Ok(s.tags)
                }
                Resource::Port => {
                    let mut p: Port = super::ports::load_visible(tx, &ctx, &id)?;
                    edit(&mut p.tags)?;
                    p.revision_number += 1;
                    p.updated_at = now;
                    tx.doc_update(resource, &super::ports::doc(&p)?)?;
                    tx.change_record(resource, &id, "update", &p.project_id)?;
                    Ok(p.tags)
                }
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
        Err(tag_not_found(resource, &id, &tag))
    }
}
