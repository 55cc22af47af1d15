//! `neutrino port ...`

use super::{add_tags, apply_tags, delete_many, flag_pair, print_list, print_one, put, Globals};
use crate::kv;
use clap::Subcommand;
use neutrino_client::{Client, Collection, Object};
use serde_json::{json, Value};

const C: Collection = Collection::Ports;

#[derive(Debug, Subcommand)]
pub enum PortCmd {
    /// Create a port.
    Create {
        name: String,
        /// Network name or id.
        #[arg(long)]
        network: String,
        /// subnet=SUBNET,ip-address=IP (repeatable; either key may be omitted).
        #[arg(long = "fixed-ip")]
        fixed_ips: Vec<String>,
        #[arg(long)]
        mac_address: Option<String>,
        /// Device id (e.g. the instance).
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        device_owner: Option<String>,
        /// Host to bind the port to (binding:host_id).
        #[arg(long)]
        host: Option<String>,
        #[arg(long)]
        vnic_type: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[arg(long, conflicts_with = "disable_port_security")]
        enable_port_security: bool,
        #[arg(long)]
        disable_port_security: bool,
        /// ip-address=IP[,mac-address=MAC] (repeatable).
        #[arg(long = "allowed-address")]
        allowed_addresses: Vec<String>,
        #[arg(long)]
        description: Option<String>,
        #[arg(long)]
        project: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// List ports.
    List {
        /// Only ports of this network (name or id).
        #[arg(long)]
        network: Option<String>,
        #[arg(long)]
        device_owner: Option<String>,
        #[arg(long)]
        device_id: Option<String>,
        #[arg(long)]
        name: Option<String>,
        /// subnet=SUBNET,ip-address=IP
        #[arg(long = "fixed-ip")]
        fixed_ip: Option<String>,
    },
    /// Show one port.
    Show { port: String },
    /// Change a port.
    Set {
        port: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        /// Replace the fixed IPs: subnet=SUBNET,ip-address=IP (repeatable).
        #[arg(long = "fixed-ip")]
        fixed_ips: Vec<String>,
        #[arg(long)]
        device: Option<String>,
        #[arg(long)]
        device_owner: Option<String>,
        #[arg(long)]
        host: Option<String>,
        #[arg(long, conflicts_with = "disable")]
        enable: bool,
        #[arg(long)]
        disable: bool,
        #[arg(long, conflicts_with = "disable_port_security")]
        enable_port_security: bool,
        #[arg(long)]
        disable_port_security: bool,
        #[arg(long = "tag")]
        tags: Vec<String>,
    },
    /// Delete ports.
    Delete {
        #[arg(required = true)]
        ports: Vec<String>,
    },
}

async fn fixed_ips(client: &Client, specs: &[String]) -> anyhow::Result<Vec<Value>> {
    let mut out = Vec::with_capacity(specs.len());
    for s in specs {
        let m = kv::parse("--fixed-ip", s, &["subnet", "ip-address"]).map_err(anyhow::Error::msg)?;
        let mut entry = Object::new();
        if let Some(sub) = m.get("subnet") {
            entry.insert("subnet_id".into(), client.find_id(Collection::Subnets, sub).await?.into());
        }
        if let Some(ip) = m.get("ip-address") {
            entry.insert("ip_address".into(), ip.clone().into());
        }
        out.push(Value::Object(entry));
    }
    Ok(out)
}

fn address_pairs(specs: &[String]) -> anyhow::Result<Vec<Value>> {
    specs
        .iter()
        .map(|s| {
            let m = kv::parse("--allowed-address", s, &["ip-address", "mac-address"]).map_err(anyhow::Error::msg)?;
            let ip = m.get("ip-address").ok_or_else(|| anyhow::anyhow!("--allowed-address needs ip-address=IP"))?;
            Ok(match m.get("mac-address") {
                Some(mac) => json!({"ip_address": ip, "mac_address": mac}),
                None => json!({"ip_address": ip}),
            })
        })
        .collect()
}

pub async fn run(g: &Globals, cmd: PortCmd) -> anyhow::Result<()> {
    let client = g.client().await?;
    match cmd {
        PortCmd::Create {
            name,
            network,
            fixed_ips: ips,
            mac_address,
            device,
            device_owner,
            host,
            vnic_type,
            enable,
            disable,
            enable_port_security,
            disable_port_security,
            allowed_addresses,
            description,
            project,
            tags,
        } => {
            let mut a = Object::new();
            a.insert("name".into(), name.into());
            a.insert("network_id".into(), client.find_id(Collection::Networks, &network).await?.into());
            a.insert("admin_state_up".into(), flag_pair(enable, disable).unwrap_or(true).into());
            if !ips.is_empty() {
                a.insert("fixed_ips".into(), fixed_ips(&client, &ips).await?.into());
            }
            if !allowed_addresses.is_empty() {
                a.insert("allowed_address_pairs".into(), address_pairs(&allowed_addresses)?.into());
            }
            put(&mut a, "mac_address", mac_address);
            put(&mut a, "device_id", device);
            put(&mut a, "device_owner", device_owner);
            put(&mut a, "binding:host_id", host);
            put(&mut a, "binding:vnic_type", vnic_type);
            put(&mut a, "port_security_enabled", flag_pair(enable_port_security, disable_port_security));
            put(&mut a, "description", description);
            put(&mut a, "project_id", project);
            let created = client.create(C, a).await?;
            print_one(g, &apply_tags(&client, C, created, &tags).await?);
        }
        PortCmd::List { network, device_owner, device_id, name, fixed_ip } => {
            let net_id = match &network {
                Some(n) => Some(client.find_id(Collection::Networks, n).await?),
                None => None,
            };
            let mut fixed: Vec<String> = Vec::new();
            if let Some(spec) = &fixed_ip {
                let m = kv::parse("--fixed-ip", spec, &["subnet", "ip-address"]).map_err(anyhow::Error::msg)?;
                if let Some(s) = m.get("subnet") {
                    fixed.push(format!("subnet_id={}", client.find_id(Collection::Subnets, s).await?));
                }
                if let Some(ip) = m.get("ip-address") {
                    fixed.push(format!("ip_address={ip}"));
                }
            }
            let mut q: Vec<(&str, &str)> = Vec::new();
            if let Some(id) = &net_id {
                q.push(("network_id", id));
            }
            if let Some(o) = &device_owner {
                q.push(("device_owner", o));
            }
            if let Some(d) = &device_id {
                q.push(("device_id", d));
            }
            if let Some(n) = &name {
                q.push(("name", n));
            }
            for f in &fixed {
                q.push(("fixed_ips", f));
            }
            let items = client.list(C, &q).await?;
            print_list(
                g,
                &items,
                &[
                    ("ID", "id"),
                    ("Name", "name"),
                    ("MAC Address", "mac_address"),
                    ("Fixed IP Addresses", "fixed_ips"),
                    ("Status", "status"),
                ],
            );
        }
        PortCmd::Show { port } => print_one(g, &client.find(C, &port).await?),
        PortCmd::Set {
            port,
            name,
            description,
            fixed_ips: ips,
            device,
            device_owner,
            host,
            enable,
            disable,
            enable_port_security,
            disable_port_security,
            tags,
        } => {
            let current = client.find(C, &port).await?;
            let id = current.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
            let mut a = Object::new();
            put(&mut a, "name", name);
            put(&mut a, "description", description);
            put(&mut a, "device_id", device);
            put(&mut a, "device_owner", device_owner);
            put(&mut a, "binding:host_id", host);
            put(&mut a, "admin_state_up", flag_pair(enable, disable));
            put(&mut a, "port_security_enabled", flag_pair(enable_port_security, disable_port_security));
            if !ips.is_empty() {
                a.insert("fixed_ips".into(), fixed_ips(&client, &ips).await?.into());
            }
            if !a.is_empty() {
                client.update(C, &id, a).await?;
            }
            add_tags(&client, C, &current, tags).await?;
        }
        PortCmd::Delete { ports } => delete_many(g, C, &ports).await?,
    }
    Ok(())
}
