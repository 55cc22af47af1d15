//! `neutrino diagnose port <port>` and `neutrino diagnose between <port> <port|address>`: where
//! a port's packets stop, from the server's and the agents' view (`GET /v2.0/diagnose/ports/{id}`,
//! admin only), as a table of hops or as the API's JSON.

use super::Ctx;
use crate::output::{table, Format};
use neutrino_client::Collection;
use neutrino_model::diagnose::{Diagnosis, FlowProtocol, HopStatus};
use std::net::IpAddr;

#[derive(Debug, clap::Subcommand)]
pub enum DiagnoseCmd {
    /// Walk one port's path: binding, agent, tap, bridge, VXLAN forwarding, firewall chain,
    /// DHCP, routers and floating IPs.
    Port {
        /// Port name or ID.
        port: String,
        /// Also judge the path to this port (name or ID) or address.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Walk the path between a port and another port (name or ID) or an address.
    Between {
        /// Port name or ID the packets leave from.
        port: String,
        /// Port name or ID, or an IP address, they go to.
        to: String,
        #[command(flatten)]
        flow: FlowArgs,
    },
}

/// The flow judged against the security groups.
#[derive(Debug, clap::Args)]
pub struct FlowArgs {
    /// Protocol of the flow [server default: icmp].
    #[arg(long, value_enum)]
    protocol: Option<Protocol>,
    /// Destination port of a TCP or UDP flow.
    #[arg(long = "port", value_name = "PORT")]
    dst_port: Option<u16>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum Protocol {
    Icmp,
    Tcp,
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Icmp => "icmp",
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

pub async fn run(ctx: &Ctx, cmd: DiagnoseCmd) -> anyhow::Result<()> {
    let (port, to, flow) = match cmd {
        DiagnoseCmd::Port { port, to, flow } => (port, to, flow),
        DiagnoseCmd::Between { port, to, flow } => (port, Some(to), flow),
    };
    let port_id = ctx.find_id(Collection::Ports, &port).await?;
    let to = match to {
        Some(target) if target.parse::<IpAddr>().is_ok() => Some(target),
        Some(target) => Some(ctx.find_id(Collection::Ports, &target).await?),
        None => None,
    };
    let mut query = super::Query::default();
    query.push_opt("to", to);
    query.push_opt("protocol", flow.protocol.map(Protocol::as_str));
    query.push_opt("port", flow.dst_port.map(|p| p.to_string()));
    let answer = ctx.client.get_v2(&["diagnose", "ports", &port_id], &query.pairs(), "diagnosis").await?;
    let text = match ctx.output.format {
        Format::Json | Format::Value => serde_json::to_string_pretty(&answer)? + "\n",
        Format::Table => render(&serde_json::from_value(answer)?),
    };
    super::write_out(&text)
}

/// The hops as a table, the first wrong one marked, then the verdict.
fn render(d: &Diagnosis) -> String {
    let mut t = table();
    t.set_header(["#", "Check", "Host", "Object", "Status", "Evidence"]);
    for (i, hop) in d.hops.iter().enumerate() {
        let status = match hop.status {
            HopStatus::Ok => "ok",
            HopStatus::Wrong => "WRONG",
            HopStatus::Unknown => "unknown",
        };
        let marker = if d.first_wrong_hop == Some(i) { " <- first" } else { "" };
        t.add_row([
            (i + 1).to_string(),
            hop.check.clone(),
            hop.host.clone().unwrap_or_else(|| "-".into()),
            hop.object.clone(),
            format!("{status}{marker}"),
            hop.evidence.clone(),
        ]);
    }
    let flow = match (d.protocol, d.port) {
        (Some(p), Some(port)) => format!(" ({} {port})", protocol_name(p)),
        (Some(p), None) => format!(" ({})", protocol_name(p)),
        _ => String::new(),
    };
    let subject = match &d.to {
        Some(to) => format!("port {} -> {to}{flow}", d.port_id),
        None => format!("port {}", d.port_id),
    };
    format!("{subject}\n{t}\n{}\n", d.summary)
}

fn protocol_name(p: FlowProtocol) -> &'static str {
    match p {
        FlowProtocol::Icmp => "icmp",
        FlowProtocol::Tcp => "tcp",
        FlowProtocol::Udp => "udp",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use neutrino_model::diagnose::Hop;

    fn hop(check: &str, status: HopStatus, evidence: &str) -> Hop {
        Hop {
            check: check.into(),
            host: Some("compute-1".into()),
            object: "tap0c1b2a39-8e".into(),
            status,
            evidence: evidence.into(),
        }
    }

    #[test]
    fn the_table_marks_the_first_wrong_hop_and_ends_with_the_verdict() {
        let d = Diagnosis {
            port_id: "p1".into(),
            to: Some("10.0.0.7".into()),
            protocol: Some(FlowProtocol::Tcp),
            port: Some(22),
            healthy: false,
            first_wrong_hop: Some(1),
            summary: "hop 2 (tap on compute-1): tap0c1b2a39-8e: no such device".into(),
            hops: vec![
                hop("binding", HopStatus::Ok, "bound"),
                hop("tap", HopStatus::Wrong, "tap0c1b2a39-8e: no such device"),
                hop("tap_up", HopStatus::Unknown, "agent did not answer"),
            ],
        };
        let text = render(&d);
        assert!(text.starts_with("port p1 -> 10.0.0.7 (tcp 22)\n"), "{text}");
        assert!(text.contains("| WRONG <- first |"), "{text}");
        assert!(text.contains("| unknown        |"), "{text}");
        assert!(text.trim_end().ends_with("tap0c1b2a39-8e: no such device"), "{text}");
    }
}
