//! The OpenStack-style client commands (`neutrino network|subnet|port ...`) and what they
//! share: connection and output options, printing, multi-delete, tags.
//!
//! Each resource module mirrors python-openstackclient's options and requests for that
//! resource: names are resolved with openstacksdk's find, tags are set after a create with
//! `PUT .../tags`, `set --tag` adds to the current tags, and a delete of several names reports
//! every failure before failing.

pub mod diagnose;
pub mod floating_ip;
pub mod network;
pub mod port;
pub mod router;
pub mod security_group;
pub mod subnet;
pub mod tags;

use crate::output::{render_list, render_one, Column, Format, View};
use anyhow::Context;
use neutrino_client::{object_id, Client, Collection, Object, PasswordAuth};
use serde_json::Value;
use std::io::Write;

/// Where the API is and who is calling, as OSC reads it from `OS_*` variables.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Connection options")]
pub struct ClientOptions {
    /// Networking API endpoint (unversioned) [default: the catalog's after a password login,
    /// else http://127.0.0.1:9696]
    #[arg(long, env = "OS_NETWORK_URL", global = true, value_name = "URL")]
    pub os_url: Option<String>,
    /// Keystone token, sent as X-Auth-Token.
    #[arg(long, env = "OS_TOKEN", global = true, hide_env_values = true)]
    pub os_token: Option<String>,
    /// Project for no-auth servers, sent as X-Project-Id.
    #[arg(long, env = "OS_PROJECT_ID", global = true)]
    pub os_project_id: Option<String>,
    /// Keystone URL for a password login (without --os-token).
    #[arg(long, env = "OS_AUTH_URL", global = true, value_name = "URL")]
    pub os_auth_url: Option<String>,
    /// User of the password login.
    #[arg(long, env = "OS_USERNAME", global = true)]
    pub os_username: Option<String>,
    /// Password of the password login.
    #[arg(long, env = "OS_PASSWORD", global = true, hide_env_values = true)]
    pub os_password: Option<String>,
    /// Project the password login is scoped to.
    #[arg(long, env = "OS_PROJECT_NAME", global = true)]
    pub os_project_name: Option<String>,
    /// Domain of the login's user.
    #[arg(long, env = "OS_USER_DOMAIN_NAME", default_value = "Default", global = true)]
    pub os_user_domain_name: String,
    /// Domain of the login's project.
    #[arg(long, env = "OS_PROJECT_DOMAIN_NAME", default_value = "Default", global = true)]
    pub os_project_domain_name: String,
}

/// The endpoint when neither `--os-url` nor a catalog names one.
const DEFAULT_NETWORK_URL: &str = "http://127.0.0.1:9696";

impl ClientOptions {
    /// A client: with the token given, or after a password login when an auth URL is set.
    pub async fn connect(&self) -> anyhow::Result<Client> {
        let mut token = self.os_token.clone();
        let mut url = self.os_url.clone();
        if let (None, Some(auth_url)) = (&token, &self.os_auth_url) {
            let required = |value: &Option<String>, option: &str| {
                value.clone().with_context(|| format!("{option} is required for a password login with --os-auth-url"))
            };
            let username = required(&self.os_username, "--os-username (OS_USERNAME)")?;
            let password = required(&self.os_password, "--os-password (OS_PASSWORD)")?;
            let project_name = required(&self.os_project_name, "--os-project-name (OS_PROJECT_NAME)")?;
            let login = PasswordAuth {
                auth_url,
                username: &username,
                password: &password,
                project_name: &project_name,
                user_domain: &self.os_user_domain_name,
                project_domain: &self.os_project_domain_name,
            }
            .login()
            .await
            .context("password login failed")?;
            token = Some(login.token);
            url = url.or(login.network_url);
        }
        let url = url.unwrap_or_else(|| DEFAULT_NETWORK_URL.to_string());
        Ok(Client::new(&url)?.with_token(token).with_project(self.os_project_id.clone()))
    }
}

/// `-f` and `-c`, as cliff offers them on every command that prints.
#[derive(Debug, clap::Args)]
#[command(next_help_heading = "Output options")]
pub struct OutputOptions {
    /// Output format.
    #[arg(short = 'f', long, value_enum, default_value = "table", global = true)]
    pub format: Format,
    /// Only this field (show) or column (list); repeatable.
    #[arg(short = 'c', long = "column", global = true, value_name = "COLUMN")]
    pub columns: Vec<String>,
}

/// The options and subcommand of one resource (`neutrino network [options] <command>`).
#[derive(Debug, clap::Args)]
pub struct ResourceArgs<C: clap::Subcommand> {
    #[command(flatten)]
    pub client: ClientOptions,
    #[command(flatten)]
    pub output: OutputOptions,
    #[command(subcommand)]
    pub command: C,
}

impl<C: clap::Subcommand> ResourceArgs<C> {
    /// Connects, and hands back the subcommand with what it runs with.
    pub async fn connect(self) -> anyhow::Result<(Ctx, C)> {
        let client = self.client.connect().await?;
        Ok((Ctx { client, output: self.output }, self.command))
    }
}

/// What a resource command runs with.
pub struct Ctx {
    pub client: Client,
    pub output: OutputOptions,
}

impl Ctx {
    /// Prints one object.
    pub fn print_one(&self, obj: &Object, view: &View) -> anyhow::Result<()> {
        write_out(&render_one(obj, view, self.output.format, &self.output.columns)?)
    }

    /// Prints a list with the given columns.
    pub fn print_list(&self, items: &[Object], columns: &[Column], view: &View) -> anyhow::Result<()> {
        write_out(&render_list(items, columns, view, self.output.format, &self.output.columns)?)
    }

    /// Finds a resource by name or id, as openstacksdk does.
    pub async fn find(&self, c: Collection, name_or_id: &str) -> anyhow::Result<Object> {
        Ok(self.client.find(c, name_or_id).await?)
    }

    /// The id of a resource named or identified by `name_or_id`.
    pub async fn find_id(&self, c: Collection, name_or_id: &str) -> anyhow::Result<String> {
        Ok(self.client.find_id(c, name_or_id).await?)
    }

    /// Deletes each named resource; every failure is reported as OSC words it, then the count.
    pub async fn delete_all(&self, c: Collection, names: &[String]) -> anyhow::Result<()> {
        let mut failed = 0;
        for name in names {
            let deleted = async {
                let id = self.client.find_id(c, name).await?;
                self.client.delete(c, &id).await
            }
            .await;
            if let Err(e) = deleted {
                eprintln!("Failed to delete {} with name or ID '{name}': {}", c.singular(), error_chain(&e));
                failed += 1;
            }
        }
        if failed > 0 {
            anyhow::bail!("{failed} of {} {} failed to delete.", names.len(), c.plural());
        }
        Ok(())
    }
}

/// Writes to stdout; a closed pipe (`| head`) is not an error worth a message.
pub fn write_out(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other.context("cannot write to stdout")?),
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Query parameters built from options (owned values, borrowed when sent).
#[derive(Debug, Default)]
pub struct Query(Vec<(&'static str, String)>);

impl Query {
    /// Adds `key=value`.
    pub fn push(&mut self, key: &'static str, value: impl Into<String>) {
        self.0.push((key, value.into()));
    }

    /// Adds `key=value` when the option was given.
    pub fn push_opt(&mut self, key: &'static str, value: Option<impl Into<String>>) {
        if let Some(v) = value {
            self.push(key, v);
        }
    }

    /// The pairs, as the client takes them.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        self.0.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }
}

/// The id of an object the API returned.
pub fn id_of(obj: &Object) -> anyhow::Result<String> {
    object_id(obj).map(str::to_string).context("the API returned an object without an id")
}

/// A list attribute after `set`: the current entries (unless cleared) followed by the new ones.
pub fn extended(current: Option<&Value>, clear: bool, added: Vec<Value>) -> Value {
    let mut all = match current {
        Some(Value::Array(items)) if !clear => items.clone(),
        _ => Vec::new(),
    };
    all.extend(added);
    Value::Array(all)
}

/// Inserts `key` when the option was given.
pub fn put<T: Into<Value>>(attrs: &mut Object, key: &str, value: Option<T>) {
    if let Some(v) = value {
        attrs.insert(key.into(), v.into());
    }
}

/// An `--enable/--disable`-style pair: `Some(true)`, `Some(false)` or not given.
pub fn flag_pair(on: bool, off: bool) -> Option<bool> {
    match (on, off) {
        (true, _) => Some(true),
        (_, true) => Some(false),
        _ => None,
    }
}

/// A boolean as a query filter value, spelled as OSC sends it.
pub fn query_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flag_pairs_and_query_booleans() {
        assert_eq!(flag_pair(true, false), Some(true));
        assert_eq!(flag_pair(false, true), Some(false));
        assert_eq!(flag_pair(false, false), None);
        assert_eq!((query_bool(true), query_bool(false)), ("True", "False"));
    }

    #[test]
    fn set_extends_or_replaces_lists() {
        let current = json!(["8.8.8.8"]);
        assert_eq!(extended(Some(&current), false, vec![json!("1.1.1.1")]), json!(["8.8.8.8", "1.1.1.1"]));
        assert_eq!(extended(Some(&current), true, vec![json!("1.1.1.1")]), json!(["1.1.1.1"]));
        assert_eq!(extended(Some(&current), true, vec![]), json!([]));
        assert_eq!(extended(None, false, vec![json!("1.1.1.1")]), json!(["1.1.1.1"]));
    }

    #[test]
    fn error_chain_joins_causes() {
        let e = anyhow::anyhow!("inner").context("outer");
        assert_eq!(error_chain(e.as_ref()), "outer: inner");
    }
}
