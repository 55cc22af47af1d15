//! The metadata rules of a router's table: Neutron's `metadata_nat_rules` (a redirect of
//! `tcp dport 80` to 169.254.169.254 and to fe80::a9fe:a9fe arriving on a `qr-` device, to
//! the proxy's port) and `metadata_filter_rules` (only those redirected connections may
//! reach that port). See the module docs of [`super`].

use std::net::IpAddr;

use nftables::expr::{Expression, MetaKey, NamedExpression, CT};
use nftables::stmt::{Match, Operator, Statement, NAT};

use super::{eq, meta, payload, INTERNAL_DEVICES};
use crate::metadata::{DEFAULT_LISTEN_PORT, METADATA_ADDRESS, METADATA_V6_ADDRESS};

/// The rules for a proxy on `port`, as (chain, comment, statements), in order.
pub(super) fn rules(port: u16) -> Vec<(&'static str, String, Vec<Statement<'static>>)> {
    let mut out = Vec::new();
    for (family, address) in [("ip", IpAddr::V4(METADATA_ADDRESS)), ("ip6", IpAddr::V6(METADATA_V6_ADDRESS))] {
        let expr = vec![
            eq(meta(MetaKey::Iifname), Expression::String(INTERNAL_DEVICES.into())),
            eq(payload(family, "daddr"), Expression::String(address.to_string().into())),
            eq(payload("tcp", "dport"), Expression::Number(DEFAULT_LISTEN_PORT.into())),
            Statement::Redirect(Some(NAT {
                addr: None,
                family: None,
                port: Some(Expression::Number(port.into())),
                flags: None,
            })),
        ];
        let shown = match address {
            IpAddr::V4(a) => a.to_string(),
            IpAddr::V6(a) => format!("[{a}]"),
        };
        let comment = format!("metadata {shown}:{DEFAULT_LISTEN_PORT} in {INTERNAL_DEVICES} -> redirect :{port}");
        out.push(("prerouting", comment, expr));
    }
    let dport = || eq(payload("tcp", "dport"), Expression::Number(port.into()));
    let redirected = Statement::Match(Match {
        left: Expression::Named(NamedExpression::CT(CT { key: "status".into(), family: None, dir: None })),
        right: Expression::String("dnat".into()),
        op: Operator::IN,
    });
    let accept = vec![
        dport(),
        eq(meta(MetaKey::Iifname), Expression::String(INTERNAL_DEVICES.into())),
        redirected,
        Statement::Accept(None),
    ];
    out.push(("input", format!("metadata :{port} redirected in {INTERNAL_DEVICES} -> accept"), accept));
    out.push(("input", format!("metadata :{port} otherwise -> drop"), vec![dport(), Statement::Drop(None)]));
    out
}
