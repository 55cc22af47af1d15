//! Tags as OSC handles them: `--tag` on create is applied with `PUT .../tags` once the resource
//! exists; on set, `--tag` adds and `--no-tag` clears first; lists filter with `--tags`,
//! `--any-tags`, `--not-tags` and `--not-any-tags` (comma-separated).

use super::{id_of, Ctx, Query};
use neutrino_client::{Collection, Object};
use serde_json::Value;

/// The tag filters of `list`.
#[derive(Debug, clap::Args)]
pub struct TagFilters {
    /// Only resources with all these tags.
    #[arg(long, value_delimiter = ',', value_name = "TAG[,TAG...]")]
    tags: Vec<String>,
    /// Only resources with any of these tags.
    #[arg(long, value_delimiter = ',', value_name = "TAG[,TAG...]")]
    any_tags: Vec<String>,
    /// Leave out resources with all these tags.
    #[arg(long, value_delimiter = ',', value_name = "TAG[,TAG...]")]
    not_tags: Vec<String>,
    /// Leave out resources with any of these tags.
    #[arg(long, value_delimiter = ',', value_name = "TAG[,TAG...]")]
    not_any_tags: Vec<String>,
}

impl TagFilters {
    /// Adds the API's `tags`, `tags-any`, `not-tags` and `not-tags-any` filters.
    pub fn add_to(&self, q: &mut Query) {
        for (key, tags) in [
            ("tags", &self.tags),
            ("tags-any", &self.any_tags),
            ("not-tags", &self.not_tags),
            ("not-tags-any", &self.not_any_tags),
        ] {
            if !tags.is_empty() {
                q.push(key, tags.join(","));
            }
        }
    }
}

/// The tag options of `set`.
#[derive(Debug, clap::Args)]
pub struct TagChanges {
    /// Tag to add (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
    /// Remove every tag first (with --tag: replace them).
    #[arg(long)]
    no_tag: bool,
}

impl TagChanges {
    /// The tags after the change, or `None` when they stay as they are.
    fn result(&self, current: &[String]) -> Option<Vec<String>> {
        let mut tags: Vec<String> = if self.no_tag { Vec::new() } else { current.to_vec() };
        for t in &self.tags {
            if !tags.contains(t) {
                tags.push(t.clone());
            }
        }
        let same = tags.len() == current.len() && tags.iter().all(|t| current.contains(t));
        (!same).then_some(tags)
    }

    /// Applies the change to `current` (an object as shown before the set).
    pub async fn apply(&self, ctx: &Ctx, c: Collection, current: &Object) -> anyhow::Result<()> {
        if let Some(tags) = self.result(&tags_of(current)) {
            ctx.client.tags_replace(c, &id_of(current)?, &tags).await?;
        }
        Ok(())
    }
}

/// Sets the tags of a resource just created, and returns it with them, as OSC shows it.
pub async fn tag_created(ctx: &Ctx, c: Collection, mut created: Object, tags: &[String]) -> anyhow::Result<Object> {
    if tags.is_empty() {
        return Ok(created);
    }
    let tags = ctx.client.tags_replace(c, &id_of(&created)?, tags).await?;
    created.insert("tags".into(), Value::from(tags));
    Ok(created)
}

fn tags_of(obj: &Object) -> Vec<String> {
    obj.get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(tags: &[&str], no_tag: bool) -> TagChanges {
        TagChanges { tags: tags.iter().map(|t| t.to_string()).collect(), no_tag }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn set_adds_clears_or_replaces() {
        let current = strings(&["a", "b"]);
        assert_eq!(changes(&["c", "a"], false).result(&current), Some(strings(&["a", "b", "c"])));
        assert_eq!(changes(&["a"], false).result(&current), None, "nothing new: no request");
        assert_eq!(changes(&[], false).result(&current), None);
        assert_eq!(changes(&[], true).result(&current), Some(vec![]));
        assert_eq!(changes(&["z"], true).result(&current), Some(strings(&["z"])));
        assert_eq!(changes(&["b", "a"], true).result(&current), None, "same set in another order");
        assert_eq!(changes(&[], true).result(&[]), None);
    }

    #[test]
    fn filters_use_the_api_names() {
        let f = TagFilters {
            tags: strings(&["a", "b"]),
            any_tags: vec![],
            not_tags: strings(&["c"]),
            not_any_tags: strings(&["d"]),
        };
        let mut q = Query::default();
        f.add_to(&mut q);
        assert_eq!(q.pairs(), [("tags", "a,b"), ("not-tags", "c"), ("not-tags-any", "d")]);
    }
}
