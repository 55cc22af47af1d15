//! Small constructors over the `nftables` crate's schema, so the compiler reads like the
//! rules it writes (`eq(payload("ip", "saddr"), addr)` is `ip saddr <addr>`).

use std::borrow::Cow;
use std::net::IpAddr;

use ipnet::IpNet;
pub(crate) use nftables::expr::Expression;
use nftables::expr::{BinaryOperation, Meta, MetaKey, NamedExpression, PayloadField, Prefix, Range, SetItem};
use nftables::schema::{Chain, NfCmd, NfListObject, NfObject, Rule, Table};
pub(crate) use nftables::stmt::Statement;
use nftables::stmt::{JumpTarget, Mangle, Match, Operator, VerdictMap};
use nftables::types::NfFamily;

pub(crate) type Expr = Expression<'static>;
pub(crate) type Stmt = Statement<'static>;

pub(crate) fn s(text: impl Into<String>) -> Expr {
    Expression::String(Cow::Owned(text.into()))
}

pub(crate) fn n(value: u32) -> Expr {
    Expression::Number(value)
}

/// `<protocol> <field>`, e.g. `ip saddr`.
pub(crate) fn payload(protocol: &'static str, field: &'static str) -> Expr {
    Expression::Named(NamedExpression::Payload(nftables::expr::Payload::PayloadField(PayloadField {
        protocol: Cow::Borrowed(protocol),
        field: Cow::Borrowed(field),
    })))
}

/// `meta <key>`.
pub(crate) fn meta(key: MetaKey) -> Expr {
    Expression::Named(NamedExpression::Meta(Meta { key }))
}

/// `ct state`.
pub(crate) fn ct_state() -> Expr {
    Expression::Named(NamedExpression::CT(nftables::expr::CT { key: Cow::Borrowed("state"), family: None, dir: None }))
}

/// An anonymous set `{ a, b }`.
pub(crate) fn set(items: Vec<Expr>) -> Expr {
    Expression::Named(NamedExpression::Set(items.into_iter().map(SetItem::Element).collect()))
}

/// `a . b`.
pub(crate) fn concat(items: Vec<Expr>) -> Expr {
    Expression::Named(NamedExpression::Concat(items))
}

/// `@th,<offset>,<len>`: bits of the transport header (for fields nft 1.0.6 has no name
/// for, such as the ICMPv6 neighbour discovery target).
pub(crate) fn transport_bits(offset: u32, len: u32) -> Expr {
    Expression::Named(NamedExpression::Payload(nftables::expr::Payload::PayloadRaw(nftables::expr::PayloadRaw {
        base: nftables::expr::PayloadBase::TH,
        offset,
        len,
    })))
}

/// `<key> map { k : v, … }` (a value looked up by key; no match ends the rule).
pub(crate) fn map(key: Expr, pairs: Vec<(Expr, Expr)>) -> Expr {
    let data = pairs.into_iter().map(|(k, v)| SetItem::Mapping(k, v)).collect();
    Expression::Named(NamedExpression::Map(Box::new(nftables::expr::Map {
        key,
        data: Expression::Named(NamedExpression::Set(data)),
    })))
}

/// `ct zone set <value>`.
pub(crate) fn set_ct_zone(value: Expr) -> Stmt {
    let zone = Expression::Named(NamedExpression::CT(nftables::expr::CT {
        key: Cow::Borrowed("zone"),
        family: None,
        dir: None,
    }));
    Statement::Mangle(Mangle { key: zone, value })
}

/// `a-b`.
pub(crate) fn range(low: u32, high: u32) -> Expr {
    Expression::Range(Box::new(Range { range: [n(low), n(high)] }))
}

/// A host address as itself, a network as `addr/len`.
pub(crate) fn net(net: &IpNet) -> Expr {
    if net.prefix_len() == net.max_prefix_len() {
        addr(net.addr())
    } else {
        Expression::Named(NamedExpression::Prefix(Prefix {
            addr: Box::new(addr(net.network())),
            len: u32::from(net.prefix_len()),
        }))
    }
}

/// `addr/len`.
pub(crate) fn prefix(addr: &str, len: u32) -> Expr {
    Expression::Named(NamedExpression::Prefix(Prefix { addr: Box::new(s(addr)), len }))
}

pub(crate) fn addr(ip: IpAddr) -> Expr {
    s(ip.to_string())
}

/// `@<name>`: a reference to a named set.
pub(crate) fn set_ref(name: &str) -> Expr {
    s(format!("@{name}"))
}

/// `<a> & <b>`.
pub(crate) fn and(a: Expr, b: Expr) -> Expr {
    Expression::BinaryOperation(Box::new(BinaryOperation::AND(a, b)))
}

/// `<a> | <b>`.
pub(crate) fn or(a: Expr, b: Expr) -> Expr {
    Expression::BinaryOperation(Box::new(BinaryOperation::OR(vec![a, b])))
}

fn matches(left: Expr, op: Operator, right: Expr) -> Stmt {
    Statement::Match(Match { left, right, op })
}

/// `<left> <right>` (equality, or membership when `right` is a set).
pub(crate) fn eq(left: Expr, right: Expr) -> Stmt {
    matches(left, Operator::EQ, right)
}

/// `<left> != <right>`.
pub(crate) fn ne(left: Expr, right: Expr) -> Stmt {
    matches(left, Operator::NEQ, right)
}

/// `<left> <flags>` for bitmask matches such as `ct state established,related`.
pub(crate) fn has(left: Expr, right: Expr) -> Stmt {
    matches(left, Operator::IN, right)
}

/// `meta mark set <value>`.
pub(crate) fn set_mark(value: Expr) -> Stmt {
    Statement::Mangle(Mangle { key: meta(MetaKey::Mark), value })
}

/// `<key> vmap @<map>`: a jump through a named verdict map.
pub(crate) fn vmap_ref(key: Expr, map: &str) -> Stmt {
    Statement::VerdictMap(VerdictMap { key, data: set_ref(map) })
}

/// `jump <chain>`.
pub(crate) fn jump(chain: &str) -> Stmt {
    Statement::Jump(JumpTarget { target: Cow::Owned(chain.to_owned()) })
}

pub(crate) fn accept() -> Stmt {
    Statement::Accept(None)
}

pub(crate) fn drop() -> Stmt {
    Statement::Drop(None)
}

pub(crate) fn ret() -> Stmt {
    Statement::Return(None)
}

pub(crate) fn add(object: NfListObject<'static>) -> NfObject<'static> {
    NfObject::CmdObject(NfCmd::Add(object))
}

pub(crate) fn table(family: NfFamily, name: &str) -> NfListObject<'static> {
    NfListObject::Table(Table { family, name: Cow::Owned(name.to_owned()), handle: None })
}

/// A regular chain (a jump target).
pub(crate) fn chain(family: NfFamily, table: &str, name: &str) -> NfListObject<'static> {
    NfListObject::Chain(Chain {
        family,
        table: Cow::Owned(table.to_owned()),
        name: Cow::Owned(name.to_owned()),
        ..Chain::default()
    })
}

pub(crate) fn rule(family: NfFamily, table: &str, chain: &str, expr: Vec<Stmt>) -> NfListObject<'static> {
    NfListObject::Rule(Rule {
        family,
        table: Cow::Owned(table.to_owned()),
        chain: Cow::Owned(chain.to_owned()),
        expr: Cow::Owned(expr),
        ..Rule::default()
    })
}
