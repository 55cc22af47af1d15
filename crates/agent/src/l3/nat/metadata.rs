//! The metadata rules of a router's table: Neutron's `metadata_nat_rules` (a redirect of
//! `tcp dport 80` to 169.254.169.254 and to fe80::a9fe:a9fe arriving on a `qr-` device, to
//! the proxy's port) and `metadata_filter_rules` (only those redirected connections may
//! reach that port), and the `scope` drop of metadata requests no redirect took. See the
//! module docs of [`super`].

use std::net::IpAddr;

use nftables::expr::{Expression, MetaKey, NamedExpression, CT};
use nftables::stmt::{Match, Operator, Statement, NAT};

use super::{eq, meta, payload, INTERNAL_DEVICES};
use crate::metadata::{DEFAULT_LISTEN_PORT, METADATA_ADDRESS, METADATA_V6_ADDRESS};

/// One compiled rule: (chain, comment, statements).
type MetadataRule = (&'static str, String, Vec<Statement<'static>>);

/// The two metadata addresses, with the payload family that matches each.
const ADDRESSES: [(&str, IpAddr); 2] = [("ip", IpAddr::V4(METADATA_ADDRESS)), ("ip6", IpAddr::V6(METADATA_V6_ADDRESS))];

/// `iifname "qr-*" <family> daddr <address> tcp dport 80`: a VM's metadata request.
fn request(family: &'static str, address: IpAddr) -> Vec<Statement<'static>> {
    vec![
        eq(meta(MetaKey::Iifname), Expression::String(INTERNAL_DEVICES.into())),
        eq(payload(family, "daddr"), Expression::String(address.to_string().into())),
        eq(payload("tcp", "dport"), Expression::Number(DEFAULT_LISTEN_PORT.into())),
    ]
}

/// `169.254.169.254:80` or `[fe80::a9fe:a9fe]:80`, for comments.
fn shown(address: IpAddr) -> String {
    match address {
        IpAddr::V4(a) => format!("{a}:{DEFAULT_LISTEN_PORT}"),
        IpAddr::V6(a) => format!("[{a}]:{DEFAULT_LISTEN_PORT}"),
    }
}

/// The rules for a proxy on `port`, in order: the redirects (`prerouting`), then the filter
/// of the port (`input`).
pub(super) fn rules(port: u16) -> Vec<MetadataRule> {
    let mut out = Vec::new();
    for (family, address) in ADDRESSES {
        let mut expr = request(family, address);
        expr.push(Statement::Redirect(Some(NAT {
            addr: None,
            family: None,
            port: Some(Expression::Number(port.into())),
            flags: None,
        })));
        let comment = format!("metadata {} in {INTERNAL_DEVICES} -> redirect :{port}", shown(address));
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

/// The `forward` rules every router has: a metadata request from a `qr-` device that no
/// redirect took is dropped, never routed on.
pub(super) fn never_forwarded() -> Vec<MetadataRule> {
    ADDRESSES
        .into_iter()
        .map(|(family, address)| {
            let mut expr = request(family, address);
            expr.push(Statement::Drop(None));
            ("forward", format!("metadata {} in {INTERNAL_DEVICES} not redirected -> drop", shown(address)), expr)
        })
        .collect()
}
