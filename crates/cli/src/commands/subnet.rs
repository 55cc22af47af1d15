//! `neutrino subnet ...`

use super::{add_tags, apply_tags, delete_many, flag_pair, print_list, print_one, put, Globals};
use crate::kv;
use clap::Subcommand;
use neutrino_client::{Collection, Object};
use serde_json::{json, Value};

const C: Collection = Collection::Subnets;

#[derive(Debug, Subcommand)]
pub enum SubnetCmd {
    /// Create a subnet.
    Create {
        name: String,
        /// Network name or id.
        #[arg(long)]
        network: String,
        /// CIDR, e.g. 10.0.0.0/24.
        #[arg(long)]
        subnet_range: String,
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(4..=6))]
        ip_version: u8,
        /// Gateway address, `auto` (first address) or `none`.
        #[arg(long, default_value = "auto")]
        gateway: String,
        /// start=IP,end=IP (repeatable).
        #[arg(long = "allocation-pool")]
        allocation_pools: Vec<String>,
        /// DNS server (repeatable).
        #[arg(long = "dns-nameserver")]
        dns_nameservers: Vec<String>,
        /// destination=CIDR,gateway=IP (repeatable).
        #[arg(long = "host-route")]
        host_routes: Vec<String>,
        #[arg(long, conflicts_with = "no_dhcp")]
        dhcp: bool,
        #[arg(long)]
        no_dhcp: bool,
        #[arg(long)]
        ipv6_ra_mode: Option<String>,
        #[arg(long)]
        ipv6_address_mode: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        project: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// List subnets.
    List {
        /// Only subnets of this network (name or id).
        #[arg(long)]
        network: Option<String>,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        ip_version: Option<u8>,
    },
    /// Show one subnet.
    Show { subnet: String },
    /// Change a subnet.
    Set {
        subnet: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// New gateway address or `none`.
        #[arg(long)]
        gateway: Option<String>,
        /// Add a DNS server (repeatable).
        #[arg(long = "dns-nameserver")]
        dns_nameservers: Vec<String>,
        /// Remove every DNS server first.
        #[arg(long)]
        no_dns_nameservers: bool,
        #[arg(long, conflicts_with = "no_dhcp")]
        dhcp: bool,
        #[arg(long)]
        no_dhcp: bool,
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Delete subnets.
    Delete {
        #[arg(required = true)]
        subnets: Vec<String>,
    },
}

fn pools(specs: &[String]) -> anyhow::Result<Vec<Value>> {
    specs
        .iter()
        .map(|s| {
            let m = kv::parse("--allocation-pool", s, &["start", "end"]).map_err(anyhow::Error::msg)?;
            match (m.get("start"), m.get("end")) {
                (Some(a), Some(b)) => Ok(json!({"start": a, "end": b})),
                _ => anyhow::bail!("--allocation-pool needs start=IP,end=IP"),
            }
        })
        .collect()
}

fn routes(specs: &[String]) -> anyhow::Result<Vec<Value>> {
    specs
        .iter()
        .map(|s| {
            let m = kv::parse("--host-route", s, &["destination", "gateway"]).map_err(anyhow::Error::msg)?;
            match (m.get("destination"), m.get("gateway")) {
                (Some(d), Some(gw)) => Ok(json!({"destination": d, "nexthop": gw})),
                _ => anyhow::bail!("--host-route needs destination=CIDR,gateway=IP"),
            }
        })
        .collect()
}

fn strings(items: &Option<&Value>) -> Vec<String> {
    items
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
        .unwrap_or_default()
}

pub async fn run(g: &Globals, cmd: SubnetCmd) -> anyhow::Result<()> {
    let client = g.client().await?;
    match cmd {
        SubnetCmd::Create {
            name,
            network,
            subnet_range,
            ip_version,
            gateway,
            allocation_pools,
            dns_nameservers,
            host_routes,
            dhcp,
            no_dhcp,
            ipv6_ra_mode,
            ipv6_address_mode,
            description,
            project,
            tags,
        } => {
            let network_id = client.find_id(Collection::Networks, &network).await?;
            let mut a = Object::new();
            a.insert("name".into(), name.into());
            a.insert("network_id".into(), network_id.into());
            a.insert("cidr".into(), subnet_range.into());
            a.insert("ip_version".into(), ip_version.into());
            match gateway.as_str() {
                "auto" => {}
                "none" => {
                    a.insert("gateway_ip".into(), Value::Null);
                }
                ip => {
                    a.insert("gateway_ip".into(), ip.into());
                }
            }
            if !allocation_pools.is_empty() {
                a.insert("allocation_pools".into(), pools(&allocation_pools)?.into());
            }
            if !dns_nameservers.is_empty() {
                a.insert("dns_nameservers".into(), dns_nameservers.into());
            }
            if !host_routes.is_empty() {
                a.insert("host_routes".into(), routes(&host_routes)?.into());
            }
            put(&mut a, "enable_dhcp", flag_pair(dhcp, no_dhcp));
            put(&mut a, "ipv6_ra_mode", ipv6_ra_mode);
            put(&mut a, "ipv6_address_mode", ipv6_address_mode);
            put(&mut a, "description", description);
            put(&mut a, "project_id", project);
            let created = client.create(C, a).await?;
            print_one(g, &apply_tags(&client, C, created, &tags).await?);
        }
        SubnetCmd::List { network, name, ip_version } => {
            let net_id = match &network {
                Some(n) => Some(client.find_id(Collection::Networks, n).await?),
                None => None,
            };
            let version = ip_version.map(|v| v.to_string());
            let mut q: Vec<(&str, &str)> = Vec::new();
            if let Some(id) = &net_id {
                q.push(("network_id", id));
            }
            if let Some(n) = &name {
                q.push(("name", n));
            }
            if let Some(v) = &version {
                q.push(("ip_version", v));
            }
            let items = client.list(C, &q).await?;
            print_list(g, &items, &[("ID", "id"), ("Name", "name"), ("Network", "network_id"), ("Subnet", "cidr")]);
        }
        SubnetCmd::Show { subnet } => print_one(g, &client.find(C, &subnet).await?),
        SubnetCmd::Set {
            subnet,
            name,
            description,
            gateway,
            dns_nameservers,
            no_dns_nameservers,
            dhcp,
            no_dhcp,
            tags,
        } => {
            let current = client.find(C, &subnet).await?;
            let id = current.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let mut a = Object::new();
            put(&mut a, "name", name);
            put(&mut a, "description", description);
            match gateway.as_deref() {
                Some("none") => {
                    a.insert("gateway_ip".into(), Value::Null);
                }
                Some(ip) => {
                    a.insert("gateway_ip".into(), ip.into());
                }
                None => {}
            }
            if no_dns_nameservers || !dns_nameservers.is_empty() {
                let mut all = if no_dns_nameservers { vec![] } else { strings(&current.get("dns_nameservers")) };
                all.extend(dns_nameservers);
                a.insert("dns_nameservers".into(), all.into());
            }
            put(&mut a, "enable_dhcp", flag_pair(dhcp, no_dhcp));
            if !a.is_empty() {
                client.update(C, &id, a).await?;
            }
            add_tags(&client, C, &current, tags).await?;
        }
        SubnetCmd::Delete { subnets } => delete_many(g, C, &subnets).await?,
    }
    Ok(())
}
