//! HTTP tests of the API against an in-process server on a temporary store: one module per
//! resource or concern.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod address_groups;
mod agents;
mod auth;
mod common;
mod external;
mod floatingips;
mod floods;
mod hostile_tenant;
mod limits;
mod login;
mod meta;
mod networks;
mod ports;
mod queries;
mod quotas;
mod rbac_pools;
mod revocation;
mod routers;
mod security_groups;
mod subnetpools;
mod subnets;
