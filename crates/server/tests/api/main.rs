//! HTTP tests of the API against an in-process server on a temporary store: one module per
//! resource or concern.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

mod address_groups;
mod agents;
mod app_creds;
mod auth;
mod auto_allocation;
mod change_feed;
mod common;
mod default_sg_rules;
mod diagnose;
mod dns;
mod external;
mod flavors;
mod floatingips;
mod floods;
mod health;
mod host_cache;
mod hostile_tenant;
mod keystone_admin;
mod keystone_scopes;
mod limits;
mod login;
mod mechanisms;
mod meta;
mod metrics;
mod networks;
mod nova;
mod openapi;
mod port_bindings;
mod ports;
mod postgres;
mod queries;
mod quotas;
mod rbac_pools;
mod rbac_security_groups;
mod replicas;
mod revocation;
mod routers;
mod security_groups;
mod subnetpools;
mod subnets;
mod zones;
