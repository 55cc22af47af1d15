//! `neutrino port create|list|show|set|delete`, with OSC's options and columns.

use super::tags::{tag_created, TagChanges, TagFilters};
use super::{extended, flag_pair, id_of, put, Ctx, Query};
use crate::kv::{AllowedAddress, FixedIp, FixedIpFilter};
use crate::output::{col, Cell, Column, View};
use clap::{Args, Subcommand};
use neutrino_client::{Collection, Object};
use serde_json::Value;

const C: Collection = Collection::Ports;

/// How OSC shows a port: binding attributes and security groups under openstacksdk's names.
pub const VIEW: View = View {
    renames: &[
        ("binding:host_id", "binding_host_id"),
        ("binding:profile", "binding_profile"),
        ("binding:vif_details", "binding_vif_details"),
        ("binding:vif_type", "binding_vif_type"),
        ("binding:vnic_type", "binding_vnic_type"),
        ("security_groups", "security_group_ids"),
    ],
    hidden: &["tenant_id", "location"],
    cells: &[
        ("admin_state_up", Cell::AdminState),
        ("allowed_address_pairs", Cell::ListOfDicts),
        ("binding:profile", Cell::Dict),
        ("binding:vif_details", Cell::Dict),
        ("dns_assignment", Cell::ListOfDicts),
        ("extra_dhcp_opts", Cell::ListOfDicts),
        ("fixed_ips", Cell::ListOfDicts),
        ("security_groups", Cell::List),
        ("tags", Cell::List),
        ("trunk_details", Cell::SubPorts),
    ],
};

const LIST_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("Name", "name"),
    col("MAC Address", "mac_address"),
    col("Fixed IP Addresses", "fixed_ips"),
    col("Status", "status"),
];

const LONG_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("Name", "name"),
    col("MAC Address", "mac_address"),
    col("Fixed IP Addresses", "fixed_ips"),
    col("Status", "status"),
    col("Security Groups", "security_groups"),
    col("Device Owner", "device_owner"),
    col("Tags", "tags"),
    col("Trunk subports", "trunk_details"),
];

#[derive(Debug, Subcommand)]
pub enum PortCmd {
    /// Create a port.
    Create(CreateArgs),
    /// List ports.
    List(ListArgs),
    /// Show a port's details.
    Show {
        /// Port (name or ID).
        port: String,
    },
    /// Change a port.
    Set(SetArgs),
    /// Delete ports.
    Delete {
        /// Ports (names or IDs).
        #[arg(required = true)]
        ports: Vec<String>,
    },
}

/// What create and set both change.
#[derive(Debug, Args)]
pub struct PortAttrs {
    /// Port description.
    #[arg(long)]
    description: Option<String>,
    /// Device ID (e.g. the instance using the port).
    #[arg(long, value_name = "DEVICE_ID")]
    device: Option<String>,
    /// Device owner (e.g. compute:nova).
    #[arg(long)]
    device_owner: Option<String>,
    /// Host to bind the port on (binding:host_id).
    #[arg(long, value_name = "HOST_ID")]
    host: Option<String>,
    /// VNIC type (binding:vnic_type): normal, direct, macvtap...
    #[arg(long)]
    vnic_type: Option<String>,
    /// MAC address (admin).
    #[arg(long)]
    mac_address: Option<String>,
    /// Enable the port.
    #[arg(long, conflicts_with = "disable")]
    enable: bool,
    /// Disable the port.
    #[arg(long)]
    disable: bool,
    /// Enable port security (anti-spoofing and security groups).
    #[arg(long, conflicts_with = "disable_port_security")]
    enable_port_security: bool,
    /// Disable port security.
    #[arg(long)]
    disable_port_security: bool,
}

impl PortAttrs {
    fn add_to(self, a: &mut Object) {
        put(a, "description", self.description);
        put(a, "device_id", self.device);
        put(a, "device_owner", self.device_owner);
        put(a, "binding:host_id", self.host);
        put(a, "binding:vnic_type", self.vnic_type);
        put(a, "mac_address", self.mac_address);
        put(a, "port_security_enabled", flag_pair(self.enable_port_security, self.disable_port_security));
    }
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// New port name.
    name: String,
    /// Network the port belongs to (name or ID).
    #[arg(long)]
    network: String,
    /// Fixed IP, subnet=SUBNET,ip-address=IP; either key may be left out (repeatable).
    #[arg(long = "fixed-ip", value_parser = FixedIp::parse, value_name = "subnet=SUBNET,ip-address=IP")]
    fixed_ips: Vec<FixedIp>,
    /// No fixed IP at all (rather than one from each subnet).
    #[arg(long, conflicts_with = "fixed_ips")]
    no_fixed_ip: bool,
    /// Allowed address pair, ip-address=IP[,mac-address=MAC] (repeatable).
    #[arg(long = "allowed-address", value_parser = AllowedAddress::parse, value_name = "ip-address=IP[,mac-address=MAC]")]
    allowed_addresses: Vec<AllowedAddress>,
    #[command(flatten)]
    attrs: PortAttrs,
    /// Owner's project ID (admin).
    #[arg(long)]
    project: Option<String>,
    /// Tag for the port (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only ports on this network (name or ID).
    #[arg(long)]
    network: Option<String>,
    /// Only ports with this device owner.
    #[arg(long)]
    device_owner: Option<String>,
    /// Only ports of this device.
    #[arg(long)]
    device_id: Option<String>,
    /// Only ports bound on this host.
    #[arg(long, value_name = "HOST_ID")]
    host: Option<String>,
    /// Only the port with this MAC address.
    #[arg(long)]
    mac_address: Option<String>,
    /// Only ports with this fixed IP: subnet=SUBNET,ip-address=IP,ip-substring=TEXT (repeatable).
    #[arg(long = "fixed-ip", value_parser = FixedIpFilter::parse, value_name = "subnet=SUBNET,ip-address=IP")]
    fixed_ips: Vec<FixedIpFilter>,
    /// Only ports of this project (ID).
    #[arg(long)]
    project: Option<String>,
    /// Only ports with this name.
    #[arg(long)]
    name: Option<String>,
    /// Only ports in this status (ACTIVE, BUILD, DOWN, ERROR).
    #[arg(long)]
    status: Option<String>,
    #[command(flatten)]
    tag_filters: TagFilters,
    /// More columns.
    #[arg(long)]
    long: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Port to change (name or ID).
    port: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// Add a fixed IP, subnet=SUBNET,ip-address=IP (repeatable).
    #[arg(long = "fixed-ip", value_parser = FixedIp::parse, value_name = "subnet=SUBNET,ip-address=IP")]
    fixed_ips: Vec<FixedIp>,
    /// Remove every fixed IP first (with --fixed-ip: replace them).
    #[arg(long)]
    no_fixed_ip: bool,
    /// Add an allowed address pair, ip-address=IP[,mac-address=MAC] (repeatable).
    #[arg(long = "allowed-address", value_parser = AllowedAddress::parse, value_name = "ip-address=IP[,mac-address=MAC]")]
    allowed_addresses: Vec<AllowedAddress>,
    /// Remove every allowed address pair first (with --allowed-address: replace them).
    #[arg(long)]
    no_allowed_address: bool,
    #[command(flatten)]
    attrs: PortAttrs,
    #[command(flatten)]
    tags: TagChanges,
}

pub async fn run(ctx: &Ctx, cmd: PortCmd) -> anyhow::Result<()> {
    match cmd {
        PortCmd::Create(args) => create(ctx, args).await,
        PortCmd::List(args) => list(ctx, args).await,
        PortCmd::Show { port } => ctx.print_one(&ctx.find(C, &port).await?, &VIEW),
        PortCmd::Set(args) => set(ctx, args).await,
        PortCmd::Delete { ports } => ctx.delete_all(C, &ports).await,
    }
}

/// `--fixed-ip` values as the API takes them, subnet names resolved to ids.
async fn fixed_ips(ctx: &Ctx, specs: &[FixedIp]) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        let mut entry = Object::new();
        if let Some(subnet) = &spec.subnet {
            entry.insert("subnet_id".into(), ctx.find_id(Collection::Subnets, subnet).await?.into());
        }
        put(&mut entry, "ip_address", spec.ip_address.clone());
        out.push(Value::Object(entry));
    }
    Ok(out)
}

async fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let mut a = Object::new();
    a.insert("name".into(), args.name.into());
    a.insert("network_id".into(), ctx.find_id(Collection::Networks, &args.network).await?.into());
    // OSC always sends the administrative state, enabled unless --disable.
    a.insert("admin_state_up".into(), (!args.attrs.disable).into());
    if args.no_fixed_ip {
        a.insert("fixed_ips".into(), Value::Array(Vec::new()));
    } else if !args.fixed_ips.is_empty() {
        a.insert("fixed_ips".into(), fixed_ips(ctx, &args.fixed_ips).await?.into());
    }
    if !args.allowed_addresses.is_empty() {
        a.insert("allowed_address_pairs".into(), args.allowed_addresses.iter().map(AllowedAddress::to_json).collect());
    }
    args.attrs.add_to(&mut a);
    put(&mut a, "project_id", args.project);
    let created = ctx.client.create(C, a).await?;
    ctx.print_one(&tag_created(ctx, C, created, &args.tags).await?, &VIEW)
}

async fn list(ctx: &Ctx, args: ListArgs) -> anyhow::Result<()> {
    let mut q = Query::default();
    if let Some(network) = &args.network {
        q.push("network_id", ctx.find_id(Collection::Networks, network).await?);
    }
    q.push_opt("device_owner", args.device_owner);
    q.push_opt("device_id", args.device_id);
    q.push_opt("binding:host_id", args.host);
    q.push_opt("mac_address", args.mac_address);
    for filter in &args.fixed_ips {
        if let Some(subnet) = &filter.subnet {
            q.push("fixed_ips", format!("subnet_id={}", ctx.find_id(Collection::Subnets, subnet).await?));
        }
        q.push_opt("fixed_ips", filter.ip_address.as_ref().map(|ip| format!("ip_address={ip}")));
        q.push_opt("fixed_ips", filter.ip_substring.as_ref().map(|s| format!("ip_address_substr={s}")));
    }
    q.push_opt("project_id", args.project);
    q.push_opt("name", args.name);
    q.push_opt("status", args.status);
    args.tag_filters.add_to(&mut q);
    let items = ctx.client.list(C, &q.pairs()).await?;
    ctx.print_list(&items, if args.long { LONG_COLUMNS } else { LIST_COLUMNS }, &VIEW)
}

async fn set(ctx: &Ctx, args: SetArgs) -> anyhow::Result<()> {
    let current = ctx.find(C, &args.port).await?;
    let mut a = Object::new();
    put(&mut a, "name", args.name);
    put(&mut a, "admin_state_up", flag_pair(args.attrs.enable, args.attrs.disable));
    if args.no_fixed_ip || !args.fixed_ips.is_empty() {
        let added = fixed_ips(ctx, &args.fixed_ips).await?;
        a.insert("fixed_ips".into(), extended(current.get("fixed_ips"), args.no_fixed_ip, added));
    }
    if args.no_allowed_address || !args.allowed_addresses.is_empty() {
        let added = args.allowed_addresses.iter().map(AllowedAddress::to_json).collect();
        let pairs = extended(current.get("allowed_address_pairs"), args.no_allowed_address, added);
        a.insert("allowed_address_pairs".into(), pairs);
    }
    args.attrs.add_to(&mut a);
    if !a.is_empty() {
        ctx.client.update(C, &id_of(&current)?, a).await?;
    }
    args.tags.apply(ctx, C, &current).await
}
