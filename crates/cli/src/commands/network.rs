//! `neutrino network ...`

use super::{add_tags, apply_tags, delete_many, flag_pair, print_list, print_one, put, Globals};
use clap::Subcommand;
use neutrino_client::{Collection, Object};

const C: Collection = Collection::Networks;

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[arg(long, conflicts_with = "no_share")]
        share: bool,
        #[arg(long)]
        no_share: bool,
        #[arg(long, conflicts_with = "internal")]
        external: bool,
        #[arg(long)]
        internal: bool,
        #[arg(long)]
        mtu: Option<u32>,
        #[arg(long)]
        provider_network_type: Option<String>,
        #[arg(long)]
        provider_physical_network: Option<String>,
        #[arg(long)]
        provider_segment: Option<u32>,
        #[arg(long, conflicts_with = "disable_port_security")]
        enable_port_security: bool,
        #[arg(long)]
        disable_port_security: bool,
        /// Project to own the network (admin).
        #[arg(long)]
        project: Option<String>,
        /// Tag (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// List networks.
    List {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        external: bool,
        /// Only networks with all these tags.
        #[arg(long = "tags")]
        tags: Option<String>,
        /// Show more columns.
        #[arg(long)]
        long: bool,
    },
    /// Show one network.
    Show { network: String },
    /// Change a network.
    Set {
        network: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[arg(long, conflicts_with = "no_share")]
        share: bool,
        #[arg(long)]
        no_share: bool,
        #[arg(long, conflicts_with = "internal")]
        external: bool,
        #[arg(long)]
        internal: bool,
        #[arg(long)]
        mtu: Option<u32>,
        /// Add a tag (repeatable).
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Delete networks.
    Delete {
        #[arg(required = true)]
        networks: Vec<String>,
    },
}

pub async fn run(g: &Globals, cmd: NetworkCmd) -> anyhow::Result<()> {
    let client = g.client().await?;
    match cmd {
        NetworkCmd::Create {
            name,
            description,
            enable,
            disable,
            share,
            no_share,
            external,
            internal,
            mtu,
            provider_network_type,
            provider_physical_network,
            provider_segment,
            enable_port_security,
            disable_port_security,
            project,
            tags,
        } => {
            let mut a = Object::new();
            a.insert("name".into(), name.into());
            a.insert("admin_state_up".into(), flag_pair(enable, disable).unwrap_or(true).into());
            put(&mut a, "description", description);
            put(&mut a, "shared", flag_pair(share, no_share));
            put(&mut a, "router:external", flag_pair(external, internal));
            put(&mut a, "mtu", mtu);
            put(&mut a, "provider:network_type", provider_network_type);
            put(&mut a, "provider:physical_network", provider_physical_network);
            put(&mut a, "provider:segmentation_id", provider_segment);
            put(&mut a, "port_security_enabled", flag_pair(enable_port_security, disable_port_security));
            put(&mut a, "project_id", project);
            let created = client.create(C, a).await?;
            print_one(g, &apply_tags(&client, C, created, &tags).await?);
        }
        NetworkCmd::List { name, project, external, tags, long } => {
            let mut q: Vec<(&str, &str)> = Vec::new();
            if let Some(n) = &name {
                q.push(("name", n));
            }
            if let Some(p) = &project {
                q.push(("project_id", p));
            }
            if external {
                q.push(("router:external", "True"));
            }
            if let Some(t) = &tags {
                q.push(("tags", t));
            }
            let items = client.list(C, &q).await?;
            let mut cols = vec![("ID", "id"), ("Name", "name"), ("Subnets", "subnets")];
            if long {
                cols.extend([
                    ("Project", "project_id"),
                    ("State", "admin_state_up"),
                    ("Shared", "shared"),
                    ("Network Type", "provider:network_type"),
                    ("Tags", "tags"),
                ]);
            }
            print_list(g, &items, &cols);
        }
        NetworkCmd::Show { network } => print_one(g, &client.find(C, &network).await?),
        NetworkCmd::Set {
            network,
            name,
            description,
            enable,
            disable,
            share,
            no_share,
            external,
            internal,
            mtu,
            tags,
        } => {
            let current = client.find(C, &network).await?;
            let id = current.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let mut a = Object::new();
            put(&mut a, "name", name);
            put(&mut a, "description", description);
            put(&mut a, "admin_state_up", flag_pair(enable, disable));
            put(&mut a, "shared", flag_pair(share, no_share));
            put(&mut a, "router:external", flag_pair(external, internal));
            put(&mut a, "mtu", mtu);
            if !a.is_empty() {
                client.update(C, &id, a).await?;
            }
            add_tags(&client, C, &current, tags).await?;
        }
        NetworkCmd::Delete { networks } => delete_many(g, C, &networks).await?,
    }
    Ok(())
}
