//! `neutrino floating ip create|list|show|set|unset|delete`.

use super::{put, Ctx, Query};
use crate::output::{col, Cell, Column, View};
use clap::Subcommand;
use neutrino_client::{Collection, Object};
use serde_json::Value;

const C: Collection = Collection::FloatingIps;

/// How OSC shows a floating IP.
pub const VIEW: View = View {
    renames: &[],
    hidden: &["tenant_id", "location"],
    cells: &[("tags", Cell::List), ("port_forwardings", Cell::ListOfDicts)],
};

const LIST_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("Floating IP Address", "floating_ip_address"),
    col("Fixed IP Address", "fixed_ip_address"),
    col("Port", "port_id"),
    col("Floating Network", "floating_network_id"),
    col("Project", "project_id"),
];

#[derive(Debug, Subcommand)]
pub enum FloatingIpCmd {
    /// Allocate a floating IP on an external network.
    Create {
        /// External network (name or ID).
        network: String,
        #[arg(long)]
        subnet: Option<String>,
        /// The address (admin).
        #[arg(long)]
        floating_ip_address: Option<String>,
        /// Associate with this port right away.
        #[arg(long)]
        port: Option<String>,
        #[arg(long)]
        fixed_ip_address: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        project: Option<String>,
    },
    /// List floating IPs.
    List {
        #[arg(long)]
        network: Option<String>,
        #[arg(long)]
        port: Option<String>,
    },
    /// Show a floating IP (ID or address).
    Show { floating_ip: String },
    /// Associate with a port.
    Set {
        floating_ip: String,
        #[arg(long)]
        port: String,
        #[arg(long)]
        fixed_ip_address: Option<String>,
    },
    /// Dissociate from its port.
    Unset {
        floating_ip: String,
        #[arg(long)]
        port: bool,
    },
    /// Release floating IPs (IDs or addresses).
    Delete {
        #[arg(required = true)]
        floating_ips: Vec<String>,
    },
}

/// A floating IP by id or address (OSC accepts either).
async fn resolve(ctx: &Ctx, key: &str) -> anyhow::Result<Object> {
    if key.parse::<std::net::IpAddr>().is_ok() {
        let mut hits = ctx.client.list(C, &[("floating_ip_address", key)]).await?;
        anyhow::ensure!(hits.len() == 1, "No FloatingIP found for {key}");
        return Ok(hits.remove(0));
    }
    Ok(ctx.client.show(C, key).await?)
}

fn id(obj: &Object) -> String {
    obj.get("id").and_then(Value::as_str).unwrap_or_default().to_string()
}

pub async fn run(ctx: &Ctx, cmd: FloatingIpCmd) -> anyhow::Result<()> {
    match cmd {
        FloatingIpCmd::Create {
            network,
            subnet,
            floating_ip_address,
            port,
            fixed_ip_address,
            description,
            project,
        } => {
            let mut a = Object::new();
            a.insert("floating_network_id".into(), ctx.find_id(Collection::Networks, &network).await?.into());
            if let Some(s) = subnet {
                a.insert("subnet_id".into(), ctx.find_id(Collection::Subnets, &s).await?.into());
            }
            if let Some(p) = port {
                a.insert("port_id".into(), ctx.find_id(Collection::Ports, &p).await?.into());
            }
            put(&mut a, "floating_ip_address", floating_ip_address);
            put(&mut a, "fixed_ip_address", fixed_ip_address);
            put(&mut a, "description", description);
            put(&mut a, "project_id", project);
            ctx.print_one(&ctx.client.create(C, a).await?, &VIEW)
        }
        FloatingIpCmd::List { network, port } => {
            let mut q = Query::default();
            if let Some(n) = network {
                q.push("floating_network_id", ctx.find_id(Collection::Networks, &n).await?);
            }
            if let Some(p) = port {
                q.push("port_id", ctx.find_id(Collection::Ports, &p).await?);
            }
            let items = ctx.client.list(C, &q.pairs()).await?;
            ctx.print_list(&items, LIST_COLUMNS, &VIEW)
        }
        FloatingIpCmd::Show { floating_ip } => ctx.print_one(&resolve(ctx, &floating_ip).await?, &VIEW),
        FloatingIpCmd::Set { floating_ip, port, fixed_ip_address } => {
            let f = resolve(ctx, &floating_ip).await?;
            let mut a = Object::new();
            a.insert("port_id".into(), ctx.find_id(Collection::Ports, &port).await?.into());
            put(&mut a, "fixed_ip_address", fixed_ip_address);
            ctx.client.update(C, &id(&f), a).await?;
            Ok(())
        }
        FloatingIpCmd::Unset { floating_ip, port } => {
            if port {
                let f = resolve(ctx, &floating_ip).await?;
                let mut a = Object::new();
                a.insert("port_id".into(), Value::Null);
                ctx.client.update(C, &id(&f), a).await?;
            }
            Ok(())
        }
        FloatingIpCmd::Delete { floating_ips } => {
            let mut ids = Vec::new();
            for f in &floating_ips {
                ids.push(id(&resolve(ctx, f).await?));
            }
            ctx.delete_all(C, &ids).await
        }
    }
}
