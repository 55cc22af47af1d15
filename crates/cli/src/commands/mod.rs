//! Client commands shared plumbing: connection options, output, multi-delete.

pub mod network;
pub mod port;
pub mod subnet;

use crate::output::{render_list, render_one, Format};
use anyhow::Context;
use neutrino_client::{Client, Collection, Object};
use serde_json::Value;

/// Options every client command takes (also from the environment, like OSC's `OS_*`).
#[derive(Debug, clap::Args)]
pub struct Globals {
    /// Networking API endpoint (unversioned); default: the catalog's, or http://127.0.0.1:9696.
    #[arg(long, env = "OS_NETWORK_URL", global = true)]
    pub os_url: Option<String>,
    /// Keystone URL for a password login (with --os-username/--os-password/--os-project-name).
    #[arg(long, env = "OS_AUTH_URL", global = true)]
    pub os_auth_url: Option<String>,
    #[arg(long, env = "OS_USERNAME", global = true)]
    pub os_username: Option<String>,
    #[arg(long, env = "OS_PASSWORD", global = true, hide_env_values = true)]
    pub os_password: Option<String>,
    #[arg(long, env = "OS_PROJECT_NAME", global = true)]
    pub os_project_name: Option<String>,
    #[arg(long, env = "OS_USER_DOMAIN_NAME", default_value = "Default", global = true)]
    pub os_user_domain_name: String,
    #[arg(long, env = "OS_PROJECT_DOMAIN_NAME", default_value = "Default", global = true)]
    pub os_project_domain_name: String,
    /// Keystone token sent as X-Auth-Token.
    #[arg(long, env = "OS_TOKEN", global = true, hide_env_values = true)]
    pub os_token: Option<String>,
    /// Project for no-auth servers (sent as X-Project-Id).
    #[arg(long, env = "OS_PROJECT_ID", global = true)]
    pub os_project_id: Option<String>,
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value = "table", global = true)]
    pub format: Format,
}

impl Globals {
    /// A client: with a token given, or after a password login when an auth URL is set.
    pub async fn client(&self) -> anyhow::Result<Client> {
        let mut token = self.os_token.clone();
        let mut url = self.os_url.clone();
        if let (None, Some(auth_url)) = (&token, &self.os_auth_url) {
            let user =
                self.os_username.as_deref().context("--os-username (OS_USERNAME) is required with --os-auth-url")?;
            let password =
                self.os_password.as_deref().context("--os-password (OS_PASSWORD) is required with --os-auth-url")?;
            let project = self.os_project_name.as_deref().context("--os-project-name (OS_PROJECT_NAME) is required")?;
            let login = neutrino_client::password_login(
                auth_url,
                user,
                password,
                project,
                &self.os_user_domain_name,
                &self.os_project_domain_name,
            )
            .await?;
            token = Some(login.token);
            url = url.or(login.network_url);
        }
        let url = url.unwrap_or_else(|| "http://127.0.0.1:9696".into());
        Ok(Client::new(&url).with_token(token).with_project(self.os_project_id.clone()))
    }
}

/// Prints one object.
pub fn print_one(g: &Globals, obj: &Object) {
    println!("{}", render_one(obj, g.format));
}

/// Prints a list with the given columns.
pub fn print_list(g: &Globals, items: &[Object], columns: &[(&str, &str)]) {
    println!("{}", render_list(items, columns, g.format));
}

/// Deletes each named resource, reporting every failure like OSC and failing at the end.
pub async fn delete_many(g: &Globals, c: Collection, names: &[String]) -> anyhow::Result<()> {
    let client = g.client().await?;
    let mut failed = 0;
    for name in names {
        let result = async {
            let id = client.find_id(c, name).await?;
            client.delete(c, &id).await
        }
        .await;
        if let Err(e) = result {
            eprintln!("Failed to delete {} with name or ID '{name}': {e}", c.singular());
            failed += 1;
        }
    }
    if failed > 0 {
        anyhow::bail!("{failed} of {} {}s failed to delete.", names.len(), c.singular());
    }
    Ok(())
}

/// Sets tags after a create, as OSC does (`PUT .../tags`), and returns the fresh object.
pub async fn apply_tags(client: &Client, c: Collection, mut obj: Object, tags: &[String]) -> anyhow::Result<Object> {
    if tags.is_empty() {
        return Ok(obj);
    }
    let id = obj.get("id").and_then(Value::as_str).context("created object has no id")?.to_string();
    let tags = client.tags_replace(c, &id, tags).await?;
    obj.insert("tags".into(), Value::from(tags));
    Ok(obj)
}

/// `set --tag`: adds tags to those the resource already has.
pub async fn add_tags(client: &Client, c: Collection, current: &Object, tags: Vec<String>) -> anyhow::Result<()> {
    if tags.is_empty() {
        return Ok(());
    }
    let id = current.get("id").and_then(Value::as_str).context("object has no id")?;
    let mut all: Vec<String> = current
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    all.extend(tags);
    client.tags_replace(c, id, &all).await?;
    Ok(())
}

/// Inserts `key` when the option was given.
pub fn put<T: Into<Value>>(attrs: &mut Object, key: &str, value: Option<T>) {
    if let Some(v) = value {
        attrs.insert(key.into(), v.into());
    }
}

/// `--enable/--disable`-style pairs: Some(true), Some(false) or None.
pub fn flag_pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}
