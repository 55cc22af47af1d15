//! The error catalogue: each of Neutron's (and Keystone's) exceptions that we raise is one
//! named constructor on [`super::ApiError`], with neutron-lib's class name, status and
//! message, so a call site reads `ApiError::ip_address_already_allocated(ip, subnet)`
//! instead of a status, a type string and a format. One file per area.

mod address_groups;
mod auto_allocation;
mod common;
mod diagnose;
mod flavors;
mod floatingips;
mod identity;
mod networks;
mod ports;
mod routers;
mod security_groups;
mod segments;
mod store;
mod subnetpools;
mod subnets;
