//! `neutrino security group create|list|show|set|delete` and `neutrino security group rule
//! create|list|show|delete`.

use super::{put, Ctx, Query};
use crate::output::{col, Cell, Column, View};
use clap::Subcommand;
use neutrino_client::{Collection, Object};

const C: Collection = Collection::SecurityGroups;
const R: Collection = Collection::SecurityGroupRules;

/// How OSC shows a security group.
pub const VIEW: View = View {
    renames: &[("security_group_rules", "rules")],
    hidden: &["tenant_id", "location"],
    cells: &[("security_group_rules", Cell::ListOfDicts), ("tags", Cell::List)],
};

/// How OSC shows a rule.
pub const RULE_VIEW: View = View { renames: &[], hidden: &["tenant_id", "location"], cells: &[] };

const LIST_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("Name", "name"),
    col("Description", "description"),
    col("Project", "project_id"),
    col("Tags", "tags"),
];

const RULE_COLUMNS: &[Column] = &[
    col("ID", "id"),
    col("IP Protocol", "protocol"),
    col("Ethertype", "ethertype"),
    col("IP Range", "remote_ip_prefix"),
    col("Port Range Min", "port_range_min"),
    col("Port Range Max", "port_range_max"),
    col("Direction", "direction"),
    col("Remote Security Group", "remote_group_id"),
];

#[derive(Debug, Subcommand)]
pub enum SecurityGroupCmd {
    /// Create a security group.
    Create {
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Stateless (no connection tracking).
        #[arg(long)]
        stateless: bool,
        #[arg(long)]
        project: Option<String>,
    },
    /// List security groups.
    List {
        #[arg(long)]
        project: Option<String>,
    },
    /// Show a security group and its rules.
    Show { group: String },
    /// Change a security group.
    Set {
        group: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
    },
    /// Delete security groups.
    Delete {
        #[arg(required = true)]
        groups: Vec<String>,
    },
    /// Rules of security groups.
    #[command(subcommand)]
    Rule(RuleCmd),
}

#[derive(Debug, Subcommand)]
pub enum RuleCmd {
    /// Create a rule.
    Create {
        /// The group (name or ID).
        group: String,
        /// tcp, udp, icmp, ... or a number; `any` for all.
        #[arg(long)]
        protocol: Option<String>,
        /// Destination port or `MIN:MAX` (TCP/UDP); ICMP uses --icmp-type/--icmp-code.
        #[arg(long)]
        dst_port: Option<String>,
        #[arg(long)]
        icmp_type: Option<u32>,
        #[arg(long)]
        icmp_code: Option<u32>,
        #[arg(long, conflicts_with = "remote_group")]
        remote_ip: Option<String>,
        /// Remote group (name or ID).
        #[arg(long)]
        remote_group: Option<String>,
        #[arg(long, conflicts_with = "egress")]
        ingress: bool,
        #[arg(long)]
        egress: bool,
        #[arg(long, default_value = "IPv4")]
        ethertype: String,
        #[arg(long)]
        description: Option<String>,
    },
    /// List rules (of one group).
    List { group: Option<String> },
    /// Show a rule.
    Show { rule: String },
    /// Delete rules.
    Delete {
        #[arg(required = true)]
        rules: Vec<String>,
    },
}

pub async fn run(ctx: &Ctx, cmd: SecurityGroupCmd) -> anyhow::Result<()> {
    match cmd {
        SecurityGroupCmd::Create { name, description, stateless, project } => {
            let mut a = Object::new();
            a.insert("name".into(), name.clone().into());
            // OSC uses the name as the description when none is given.
            a.insert("description".into(), description.unwrap_or(name).into());
            if stateless {
                a.insert("stateful".into(), false.into());
            }
            put(&mut a, "project_id", project);
            ctx.print_one(&ctx.client.create(C, a).await?, &VIEW)
        }
        SecurityGroupCmd::List { project } => {
            let mut q = Query::default();
            q.push_opt("project_id", project);
            let items = ctx.client.list(C, &q.pairs()).await?;
            ctx.print_list(&items, LIST_COLUMNS, &VIEW)
        }
        SecurityGroupCmd::Show { group } => ctx.print_one(&ctx.find(C, &group).await?, &VIEW),
        SecurityGroupCmd::Set { group, name, description } => {
            let gid = ctx.find_id(C, &group).await?;
            let mut a = Object::new();
            put(&mut a, "name", name);
            put(&mut a, "description", description);
            if !a.is_empty() {
                ctx.client.update(C, &gid, a).await?;
            }
            Ok(())
        }
        SecurityGroupCmd::Delete { groups } => ctx.delete_all(C, &groups).await,
        SecurityGroupCmd::Rule(rule) => run_rule(ctx, rule).await,
    }
}

async fn run_rule(ctx: &Ctx, cmd: RuleCmd) -> anyhow::Result<()> {
    match cmd {
        RuleCmd::Create {
            group,
            protocol,
            dst_port,
            icmp_type,
            icmp_code,
            remote_ip,
            remote_group,
            ingress: _,
            egress,
            ethertype,
            description,
        } => {
            let mut a = Object::new();
            a.insert("security_group_id".into(), ctx.find_id(C, &group).await?.into());
            a.insert("direction".into(), if egress { "egress" } else { "ingress" }.into());
            a.insert("ethertype".into(), ethertype.into());
            if let Some(p) = protocol.filter(|p| p != "any") {
                a.insert("protocol".into(), p.into());
            }
            if let Some(range) = dst_port {
                let (lo, hi) = range.split_once(':').unwrap_or((&range, &range));
                let lo: u32 =
                    lo.parse().map_err(|_| anyhow::anyhow!("--dst-port: '{range}' is not PORT or MIN:MAX"))?;
                let hi: u32 =
                    hi.parse().map_err(|_| anyhow::anyhow!("--dst-port: '{range}' is not PORT or MIN:MAX"))?;
                a.insert("port_range_min".into(), lo.into());
                a.insert("port_range_max".into(), hi.into());
            }
            put(&mut a, "port_range_min", icmp_type);
            put(&mut a, "port_range_max", icmp_code);
            put(&mut a, "remote_ip_prefix", remote_ip);
            if let Some(g) = remote_group {
                a.insert("remote_group_id".into(), ctx.find_id(C, &g).await?.into());
            }
            put(&mut a, "description", description);
            ctx.print_one(&ctx.client.create(R, a).await?, &RULE_VIEW)
        }
        RuleCmd::List { group } => {
            let mut q = Query::default();
            if let Some(g) = group {
                q.push("security_group_id", ctx.find_id(C, &g).await?);
            }
            let items = ctx.client.list(R, &q.pairs()).await?;
            ctx.print_list(&items, RULE_COLUMNS, &RULE_VIEW)
        }
        RuleCmd::Show { rule } => ctx.print_one(&ctx.client.show(R, &rule).await?, &RULE_VIEW),
        RuleCmd::Delete { rules } => ctx.delete_all(R, &rules).await,
    }
}
