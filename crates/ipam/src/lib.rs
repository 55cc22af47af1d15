//! IP address management as pure functions: CIDR and pool validation, default gateways and
//! pools, the allocator, SLAAC addresses and MAC addresses. No I/O, no clock, no randomness
//! of its own — the server calls it inside a store transaction, and the store's unique key
//! on (subnet, address) is the last word on "never twice".
//!
//! Semantics follow Neutron's `neutron/ipam/utils.py` and `ipam_backend_mixin.py`: IPv4
//! pools exclude the network and broadcast addresses (except /31 and /32), IPv6 pools
//! exclude the subnet-router anycast address, and the gateway is cut out of default pools.

mod error;
mod mac;
mod pools;

pub use error::IpamError;
pub use mac::{generate_mac, MacAddress};
pub use pools::{
    default_allocation_pools, default_gateway, eui64_address, first_free, free_count, validate_allocation_pools,
    validate_cidr, validate_gateway, validate_ip_for_subnet, AllocationPool,
};
