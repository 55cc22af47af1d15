//! `neutrino subnet create|list|show|set|delete`, with OSC's options and columns.

use super::tags::{tag_created, TagChanges, TagFilters};
use super::{extended, flag_pair, id_of, put, query_bool, Ctx, Query};
use crate::kv::{AllocationPool, HostRoute};
use crate::output::{col, Cell, Column, View};
use clap::{Args, Subcommand, ValueEnum};
use neutrino_client::{Collection, Object};
use serde_json::Value;

const C: Collection = Collection::Subnets;

/// How OSC shows a subnet.
pub const VIEW: View = View {
    renames: &[],
    hidden: &["tenant_id", "location", "use_default_subnet_pool", "prefix_length"],
    cells: &[
        ("allocation_pools", Cell::AllocationPools),
        ("dns_nameservers", Cell::UnsortedList),
        ("host_routes", Cell::HostRoutes),
        ("service_types", Cell::List),
        ("tags", Cell::List),
    ],
};

const LIST_COLUMNS: &[Column] =
    &[col("ID", "id"), col("Name", "name"), col("Network", "network_id"), col("Subnet", "cidr")];

const LONG_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("Name", "name"),
    col("Network", "network_id"),
    col("Subnet", "cidr"),
    col("Project", "project_id"),
    col("DHCP", "enable_dhcp"),
    col("Name Servers", "dns_nameservers"),
    col("Allocation Pools", "allocation_pools"),
    col("Host Routes", "host_routes"),
    col("IP Version", "ip_version"),
    col("Gateway", "gateway_ip"),
    col("Service Types", "service_types"),
    col("Tags", "tags"),
];

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum IpVersion {
    #[value(name = "4")]
    V4,
    #[value(name = "6")]
    V6,
}

impl IpVersion {
    fn number(self) -> u8 {
        match self {
            IpVersion::V4 => 4,
            IpVersion::V6 => 6,
        }
    }
}

const IPV6_MODES: [&str; 3] = ["dhcpv6-stateful", "dhcpv6-stateless", "slaac"];

#[derive(Debug, Subcommand)]
pub enum SubnetCmd {
    /// Create a subnet.
    Create(CreateArgs),
    /// List subnets.
    List(ListArgs),
    /// Show a subnet's details.
    Show {
        /// Subnet (name or ID).
        subnet: String,
    },
    /// Change a subnet.
    Set(SetArgs),
    /// Delete subnets.
    Delete {
        /// Subnets (names or IDs).
        #[arg(required = true)]
        subnets: Vec<String>,
    },
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// New subnet name.
    name: String,
    /// Network the subnet belongs to (name or ID).
    #[arg(long)]
    network: String,
    /// Subnet range in CIDR notation, e.g. 10.0.0.0/24.
    #[arg(long, value_name = "CIDR")]
    subnet_range: String,
    /// IP version.
    #[arg(long, value_enum, default_value = "4")]
    ip_version: IpVersion,
    /// Gateway: an IP address, `auto` (the first address) or `none`.
    #[arg(long, default_value = "auto", value_name = "IP|auto|none")]
    gateway: String,
    /// Allocation pool, start=IP,end=IP (repeatable).
    #[arg(long = "allocation-pool", value_parser = AllocationPool::parse, value_name = "start=IP,end=IP")]
    allocation_pools: Vec<AllocationPool>,
    /// DNS server (repeatable).
    #[arg(long = "dns-nameserver", value_name = "IP")]
    dns_nameservers: Vec<String>,
    /// Host route, destination=CIDR,gateway=IP (repeatable).
    #[arg(long = "host-route", value_parser = HostRoute::parse, value_name = "destination=CIDR,gateway=IP")]
    host_routes: Vec<HostRoute>,
    /// Enable DHCP (default).
    #[arg(long, conflicts_with = "no_dhcp")]
    dhcp: bool,
    /// Disable DHCP.
    #[arg(long)]
    no_dhcp: bool,
    /// IPv6 router advertisement mode.
    #[arg(long, value_parser = IPV6_MODES)]
    ipv6_ra_mode: Option<String>,
    /// IPv6 address mode.
    #[arg(long, value_parser = IPV6_MODES)]
    ipv6_address_mode: Option<String>,
    /// Subnet description.
    #[arg(long)]
    description: Option<String>,
    /// Owner's project ID (admin).
    #[arg(long)]
    project: Option<String>,
    /// Tag for the subnet (repeatable).
    #[arg(long = "tag", value_name = "TAG")]
    tags: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only subnets of this network (name or ID).
    #[arg(long)]
    network: Option<String>,
    /// Only subnets with this name.
    #[arg(long)]
    name: Option<String>,
    /// Only subnets of this IP version.
    #[arg(long, value_enum)]
    ip_version: Option<IpVersion>,
    /// Only subnets of this project (ID).
    #[arg(long)]
    project: Option<String>,
    /// Only subnets with DHCP enabled.
    #[arg(long, conflicts_with = "no_dhcp")]
    dhcp: bool,
    /// Only subnets with DHCP disabled.
    #[arg(long)]
    no_dhcp: bool,
    /// Only subnets with this range (CIDR).
    #[arg(long, value_name = "CIDR")]
    subnet_range: Option<String>,
    /// Only subnets with this gateway IP.
    #[arg(long)]
    gateway: Option<String>,
    #[command(flatten)]
    tag_filters: TagFilters,
    /// More columns.
    #[arg(long)]
    long: bool,
}

#[derive(Debug, Args)]
pub struct SetArgs {
    /// Subnet to change (name or ID).
    subnet: String,
    /// New name.
    #[arg(long)]
    name: Option<String>,
    /// New description.
    #[arg(long)]
    description: Option<String>,
    /// New gateway IP, or `none`.
    #[arg(long, value_name = "IP|none")]
    gateway: Option<String>,
    /// Add an allocation pool, start=IP,end=IP (repeatable).
    #[arg(long = "allocation-pool", value_parser = AllocationPool::parse, value_name = "start=IP,end=IP")]
    allocation_pools: Vec<AllocationPool>,
    /// Remove every allocation pool first (with --allocation-pool: replace them).
    #[arg(long)]
    no_allocation_pool: bool,
    /// Add a DNS server (repeatable).
    #[arg(long = "dns-nameserver", value_name = "IP")]
    dns_nameservers: Vec<String>,
    /// Remove every DNS server first (with --dns-nameserver: replace them).
    #[arg(long)]
    no_dns_nameservers: bool,
    /// Add a host route, destination=CIDR,gateway=IP (repeatable).
    #[arg(long = "host-route", value_parser = HostRoute::parse, value_name = "destination=CIDR,gateway=IP")]
    host_routes: Vec<HostRoute>,
    /// Remove every host route first (with --host-route: replace them).
    #[arg(long)]
    no_host_route: bool,
    /// Enable DHCP.
    #[arg(long, conflicts_with = "no_dhcp")]
    dhcp: bool,
    /// Disable DHCP.
    #[arg(long)]
    no_dhcp: bool,
    #[command(flatten)]
    tags: TagChanges,
}

pub async fn run(ctx: &Ctx, cmd: SubnetCmd) -> anyhow::Result<()> {
    match cmd {
        SubnetCmd::Create(args) => create(ctx, args).await,
        SubnetCmd::List(args) => list(ctx, args).await,
        SubnetCmd::Show { subnet } => ctx.print_one(&ctx.find(C, &subnet).await?, &VIEW),
        SubnetCmd::Set(args) => set(ctx, args).await,
        SubnetCmd::Delete { subnets } => ctx.delete_all(C, &subnets).await,
    }
}

/// `--gateway` as the API takes it: `None` leaves the default (`auto`, create only).
fn gateway_ip(gateway: &str, creating: bool) -> anyhow::Result<Option<Value>> {
    match gateway.to_ascii_lowercase().as_str() {
        "auto" if creating => Ok(None),
        "auto" => anyhow::bail!("--gateway auto only applies to subnet create; give an IP address or 'none'"),
        "none" => Ok(Some(Value::Null)),
        _ => Ok(Some(gateway.into())),
    }
}

async fn create(ctx: &Ctx, args: CreateArgs) -> anyhow::Result<()> {
    let mut a = Object::new();
    a.insert("name".into(), args.name.into());
    a.insert("network_id".into(), ctx.find_id(Collection::Networks, &args.network).await?.into());
    a.insert("cidr".into(), args.subnet_range.into());
    a.insert("ip_version".into(), args.ip_version.number().into());
    put(&mut a, "gateway_ip", gateway_ip(&args.gateway, true)?);
    if !args.allocation_pools.is_empty() {
        a.insert("allocation_pools".into(), args.allocation_pools.iter().map(AllocationPool::to_json).collect());
    }
    if !args.dns_nameservers.is_empty() {
        a.insert("dns_nameservers".into(), args.dns_nameservers.into());
    }
    if !args.host_routes.is_empty() {
        a.insert("host_routes".into(), args.host_routes.iter().map(HostRoute::to_json).collect());
    }
    put(&mut a, "enable_dhcp", flag_pair(args.dhcp, args.no_dhcp));
    put(&mut a, "ipv6_ra_mode", args.ipv6_ra_mode);
    put(&mut a, "ipv6_address_mode", args.ipv6_address_mode);
    put(&mut a, "description", args.description);
    put(&mut a, "project_id", args.project);
    let created = ctx.client.create(C, a).await?;
    ctx.print_one(&tag_created(ctx, C, created, &args.tags).await?, &VIEW)
}

async fn list(ctx: &Ctx, args: ListArgs) -> anyhow::Result<()> {
    let mut q = Query::default();
    if let Some(network) = &args.network {
        q.push("network_id", ctx.find_id(Collection::Networks, network).await?);
    }
    q.push_opt("name", args.name);
    q.push_opt("ip_version", args.ip_version.map(|v| v.number().to_string()));
    q.push_opt("project_id", args.project);
    q.push_opt("enable_dhcp", flag_pair(args.dhcp, args.no_dhcp).map(query_bool));
    q.push_opt("cidr", args.subnet_range);
    q.push_opt("gateway_ip", args.gateway);
    args.tag_filters.add_to(&mut q);
    let items = ctx.client.list(C, &q.pairs()).await?;
    ctx.print_list(&items, if args.long { LONG_COLUMNS } else { LIST_COLUMNS }, &VIEW)
}

async fn set(ctx: &Ctx, args: SetArgs) -> anyhow::Result<()> {
    let current = ctx.find(C, &args.subnet).await?;
    let mut a = Object::new();
    put(&mut a, "name", args.name);
    put(&mut a, "description", args.description);
    if let Some(gateway) = &args.gateway {
        put(&mut a, "gateway_ip", gateway_ip(gateway, false)?);
    }
    if args.no_allocation_pool || !args.allocation_pools.is_empty() {
        let added = args.allocation_pools.iter().map(AllocationPool::to_json).collect();
        a.insert("allocation_pools".into(), extended(current.get("allocation_pools"), args.no_allocation_pool, added));
    }
    if args.no_dns_nameservers || !args.dns_nameservers.is_empty() {
        let added = args.dns_nameservers.into_iter().map(Value::from).collect();
        a.insert("dns_nameservers".into(), extended(current.get("dns_nameservers"), args.no_dns_nameservers, added));
    }
    if args.no_host_route || !args.host_routes.is_empty() {
        let added = args.host_routes.iter().map(HostRoute::to_json).collect();
        a.insert("host_routes".into(), extended(current.get("host_routes"), args.no_host_route, added));
    }
    put(&mut a, "enable_dhcp", flag_pair(args.dhcp, args.no_dhcp));
    if !a.is_empty() {
        ctx.client.update(C, &id_of(&current)?, a).await?;
    }
    args.tags.apply(ctx, C, &current).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn gateway_option() {
        assert_eq!(gateway_ip("auto", true).ok(), Some(None));
        assert_eq!(gateway_ip("None", true).ok(), Some(Some(Value::Null)));
        assert_eq!(gateway_ip("10.0.0.254", false).ok(), Some(Some(json!("10.0.0.254"))));
        assert!(gateway_ip("auto", false).is_err());
    }
}
