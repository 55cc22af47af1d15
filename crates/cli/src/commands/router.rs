//! `neutrino router create|list|show|set|unset|delete|add subnet|remove subnet`.

use super::{flag_pair, put, Ctx, Query};
use crate::output::{col, Cell, Column, View};
use clap::{Args, Subcommand};
use neutrino_client::{Collection, Object};
use serde_json::{json, Value};

const C: Collection = Collection::Routers;

/// How OSC shows a router.
pub const VIEW: View = View {
    renames: &[],
    hidden: &["tenant_id", "location"],
    cells: &[
        ("admin_state_up", Cell::AdminState),
        ("external_gateway_info", Cell::Dict),
        ("routes", Cell::HostRoutes),
        ("tags", Cell::List),
    ],
};

const LIST_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("Name", "name"),
    col("Status", "status"),
    col("State", "admin_state_up"),
    col("Project", "project_id"),
];

#[derive(Debug, Subcommand)]
pub enum RouterCmd {
    /// Create a router.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// External network for the gateway (name or ID).
        #[arg(long)]
        external_gateway: Option<String>,
        #[arg(long)]
        project: Option<String>,
    },
    /// List routers.
    List {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        project: Option<String>,
    },
    /// Show a router's details.
    Show { router: String },
    /// Change a router.
    Set(SetArgs),
    /// Clear a router's gateway or routes.
    Unset {
        router: String,
        #[arg(long)]
        external_gateway: bool,
        #[arg(long)]
        route: bool,
    },
    /// Delete routers.
    Delete {
        #[arg(required = true)]
        routers: Vec<String>,
    },
    /// Attach a subnet or port.
    #[command(subcommand)]
    Add(Attach),
    /// Detach a subnet or port.
    #[command(subcommand)]
    Remove(Attach),
}

#[derive(Debug, Args)]
pub struct SetArgs {
    router: String,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    description: Option<String>,
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    #[arg(long)]
    disable: bool,
    /// External network for the gateway (name or ID).
    #[arg(long)]
    external_gateway: Option<String>,
    /// Turn SNAT on the gateway on or off (admin).
    #[arg(long, conflicts_with = "disable_snat")]
    enable_snat: bool,
    #[arg(long)]
    disable_snat: bool,
    /// Extra route `destination=CIDR,gateway=IP` (repeatable; replaces the routes).
    #[arg(long = "route", value_name = "destination=CIDR,gateway=IP")]
    routes: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum Attach {
    /// A subnet (the interface takes its gateway address).
    Subnet { router: String, subnet: String },
    /// An existing port.
    Port { router: String, port: String },
}

fn route(spec: &str) -> anyhow::Result<Value> {
    crate::kv::HostRoute::parse(spec).map(|r| r.to_json()).map_err(|e| anyhow::anyhow!("--route: {e}"))
}

pub async fn run(ctx: &Ctx, cmd: RouterCmd) -> anyhow::Result<()> {
    match cmd {
        RouterCmd::Create { name, description, enable, disable, external_gateway, project } => {
            let mut a = Object::new();
            a.insert("name".into(), name.into());
            a.insert("admin_state_up".into(), flag_pair(enable, disable).unwrap_or(true).into());
            put(&mut a, "description", description);
            put(&mut a, "project_id", project);
            if let Some(net) = external_gateway {
                a.insert(
                    "external_gateway_info".into(),
                    json!({"network_id": ctx.find_id(Collection::Networks, &net).await?}),
                );
            }
            ctx.print_one(&ctx.client.create(C, a).await?, &VIEW)
        }
        RouterCmd::List { name, project } => {
            let mut q = Query::default();
            q.push_opt("name", name);
            q.push_opt("project_id", project);
            let items = ctx.client.list(C, &q.pairs()).await?;
            ctx.print_list(&items, LIST_COLUMNS, &VIEW)
        }
        RouterCmd::Show { router } => ctx.print_one(&ctx.find(C, &router).await?, &VIEW),
        RouterCmd::Set(args) => {
            let id = ctx.find_id(C, &args.router).await?;
            let mut a = Object::new();
            put(&mut a, "name", args.name);
            put(&mut a, "description", args.description);
            put(&mut a, "admin_state_up", flag_pair(args.enable, args.disable));
            if let Some(net) = args.external_gateway {
                let mut info = json!({"network_id": ctx.find_id(Collection::Networks, &net).await?});
                if let Some(snat) = flag_pair(args.enable_snat, args.disable_snat) {
                    info["enable_snat"] = snat.into();
                }
                a.insert("external_gateway_info".into(), info);
            }
            if !args.routes.is_empty() {
                let routes = args.routes.iter().map(|r| route(r)).collect::<anyhow::Result<Vec<_>>>()?;
                a.insert("routes".into(), routes.into());
            }
            if !a.is_empty() {
                ctx.client.update(C, &id, a).await?;
            }
            Ok(())
        }
        RouterCmd::Unset { router, external_gateway, route } => {
            let id = ctx.find_id(C, &router).await?;
            let mut a = Object::new();
            if external_gateway {
                a.insert("external_gateway_info".into(), json!({}));
            }
            if route {
                a.insert("routes".into(), json!([]));
            }
            if !a.is_empty() {
                ctx.client.update(C, &id, a).await?;
            }
            Ok(())
        }
        RouterCmd::Delete { routers } => ctx.delete_all(C, &routers).await,
        RouterCmd::Add(attach) => interface(ctx, attach, "add_router_interface").await,
        RouterCmd::Remove(attach) => interface(ctx, attach, "remove_router_interface").await,
    }
}

async fn interface(ctx: &Ctx, attach: Attach, action: &str) -> anyhow::Result<()> {
    let (router, body) = match attach {
        Attach::Subnet { router, subnet } => {
            (router, json!({"subnet_id": ctx.find_id(Collection::Subnets, &subnet).await?}))
        }
        Attach::Port { router, port } => (router, json!({"port_id": ctx.find_id(Collection::Ports, &port).await?})),
    };
    let id = ctx.find_id(C, &router).await?;
    ctx.client.action(C, &id, action, body).await?;
    Ok(())
}
