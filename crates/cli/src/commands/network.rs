//! `neutrino network create|list|show|set|delete`, with OSC's options and columns.

use super::tags::{tag_created, TagChanges, TagFilters};
use super::{flag_pair, id_of, put, query_bool, Ctx, Query};
use crate::output::{col, Cell, Column, View};
use clap::{Args, Subcommand};
use neutrino_client::{Collection, Object};

const C: Collection = Collection::Networks;

/// How OSC shows a network.
pub const VIEW: View = View {
    renames: &[],
    hidden: &["tenant_id", "location"],
    cells: &[
        ("admin_state_up", Cell::AdminState),
        ("router:external", Cell::RouterExternal),
        ("subnets", Cell::List),
        ("availability_zones", Cell::List),
        ("availability_zone_hints", Cell::List),
        ("tags", Cell::List),
    ],
};

const LIST_COLUMNS: &[Column] = &[col("ID", "id"), col("Name", "name"), col("Subnets", "subnets")];

const LONG_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("Name", "name"),
    col("Status", "status"),
    col("Project", "project_id"),
    col("State", "admin_state_up"),
    col("Shared", "shared"),
    col("Subnets", "subnets"),
    col("Network Type", "provider:network_type"),
    col("Router Type", "router:external"),
    col("Availability Zones", "availability_zones"),
    col("Tags", "tags"),
];

#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create a network.
    Create(CreateArgs),
    /// List networks.
    List(ListArgs),
    /// Show a network's details.
    Show {
        /// Network (name or ID).
        network: String,
    },
    /// Change a network.
    Set(SetArgs),
    /// Delete networks.
    Delete {
        /// Networks (names or IDs).
        #[arg(required = true)]
        networks: Vec<String>,
    },
}

/// Administrative state, sharing, external and port security switches shared by create and set.
#[derive(Debug, Args)]
pub struct Switches {
    /// Enable the network.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disable the network.
    #[arg(long)]
    disable: bool,
    /// Share the network between projects.
    #[arg(long, conflicts_with = "no_share")]
    share: bool,
    /// Do not share the network between projects.
    #[arg(long)]
    no_share: bool,
    /// Make the network external (router gateways, floating IPs).
    #[arg(long, conflicts_with = "internal")]
    external: bool,
    /// Make the network internal.
    #[arg(long)]
    internal: bool,
    /// Enable port security by default for ports on the network.
    #[arg(long, conflicts_with = "disable_port_security")]
    enable_port_security: bool,
    /// Disable port security by default for ports on the network.
    #[arg(long)]
    disable_port_security: bool,
}

impl Switches {
    fn add_to(&self, attrs: &mut Object) {
        put(attrs, "shared", flag_pair(self.share, self.no_share));
        put(attrs, "router:external", flag_pair(self.external, self.internal));
        put(attrs, "port_security_enabled", flag_pair(self.enable_port_security, self.disable_port_security));
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// New network name.
    name: String,
    /// Network description.
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    switches: Switches,
    /// MTU of the network.
    #[arg(long)]
    mtu: Option<u32>,
    /// Physical mechanism of the network: flat, vlan, vxlan... (admin).
    #[arg(long)]
    provider_network_type: Option<String>,
    /// Physical network the network is implemented on (admin).
    #[arg(long)]
    provider_physical_network: Option<String>,
    /// VLAN ID or tunnel ID of the network (admin).
    #[arg(long)]
    provider_segment: Option<u32>,
    /// Owner's project ID (admin).
    #[arg(long)]
    project: Option<String>,
    /// Tag for the network (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only networks with this name.
    #[arg(long)]
    name: Option<String>,
    /// Only networks of this project (ID).
    #[arg(long)]
    project: Option<String>,
    /// Only external networks.
    #[arg(long, conflicts_with = "internal")]
    external: bool,
    /// Only internal networks.
    #[arg(long)]
    internal: bool,
    /// Only enabled networks.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Only disabled networks.
    #[arg(long)]
    disable: bool,
    /// Only shared networks.
    #[arg(long, conflicts_with = "no_share")]
    share: bool,
    /// Only networks that are not shared.
    #[arg(long)]
    no_share: bool,
    /// Only networks in this status (ACTIVE, BUILD, DOWN, ERROR).
    #[arg(long)]
    status: Option<String>,
    /// Only networks of this physical mechanism.
    #[arg(long)]
    provider_network_type: Option<String>,
    /// Only networks on this physical network.
    #[arg(long)]
    provider_physical_network: Option<String>,
    /// Only networks with this VLAN or tunnel ID.
    #[arg(long)]
    provider_segment: Option<u32>,
    #[command(flatten)]
    tag_filters: TagFilters,
    /// More columns.
    #[arg(long)]
    long: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Network to change (name or ID).
    network: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
    #[command(flatten)]
    switches: Switches,
    /// New MTU.
    #[arg(long)]
    mtu: Option<u32>,
    #[command(flatten)]
    tags: TagChanges,
}

pub async fn run(ctx: &Ctx, cmd: NetworkCmd) -> anyhow::Result<()> {
    match cmd {
        NetworkCmd::Create(args) => create(ctx, args).await,
        NetworkCmd::List(args) => list(ctx, args).await,
        NetworkCmd::Show { network } => ctx.print_one(&ctx.find(C, &network).await?, &VIEW),
        NetworkCmd::Set(args) => set(ctx, args).await,
        NetworkCmd::Delete { networks } => ctx.delete_all(C, &networks).await,
    }
}

async fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let mut a = Object::new();
    a.insert("name".into(), args.name.into());
    // OSC always sends the administrative state, enabled unless --disable.
    a.insert("admin_state_up".into(), (!args.switches.disable).into());
    put(&mut a, "description", args.description);
    args.switches.add_to(&mut a);
    put(&mut a, "mtu", args.mtu);
    put(&mut a, "provider:network_type", args.provider_network_type);
    put(&mut a, "provider:physical_network", args.provider_physical_network);
    put(&mut a, "provider:segmentation_id", args.provider_segment);
    put(&mut a, "project_id", args.project);
    let created = ctx.client.create(C, a).await?;
    ctx.print_one(&tag_created(ctx, C, created, &args.tags).await?, &VIEW)
}

async fn list(ctx: &Ctx, args: ListArgs) -> anyhow::Result<()> {
    let mut q = Query::default();
    q.push_opt("name", args.name);
    q.push_opt("project_id", args.project);
    q.push_opt("router:external", flag_pair(args.external, args.internal).map(query_bool));
    q.push_opt("admin_state_up", flag_pair(args.enable, args.disable).map(query_bool));
    q.push_opt("shared", flag_pair(args.share, args.no_share).map(query_bool));
    q.push_opt("status", args.status);
    q.push_opt("provider:network_type", args.provider_network_type);
    q.push_opt("provider:physical_network", args.provider_physical_network);
    q.push_opt("provider:segmentation_id", args.provider_segment.map(|s| s.to_string()));
    args.tag_filters.add_to(&mut q);
    let items = ctx.client.list(C, &q.pairs()).await?;
    ctx.print_list(&items, if args.long { LONG_COLUMNS } else { LIST_COLUMNS }, &VIEW)
}

async fn set(ctx: &Ctx, args: SetArgs) -> anyhow::Result<()> {
    let current = ctx.find(C, &args.network).await?;
    let mut a = Object::new();
    put(&mut a, "name", args.name);
    put(&mut a, "description", args.description);
    put(&mut a, "admin_state_up", flag_pair(args.switches.enable, args.switches.disable));
    args.switches.add_to(&mut a);
    put(&mut a, "mtu", args.mtu);
    if !a.is_empty() {
        ctx.client.update(C, &id_of(&current)?, a).await?;
    }
    args.tags.apply(ctx, C, &current).await
}
