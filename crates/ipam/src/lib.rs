//! IP address management for neutrino as pure functions: subnet CIDR and gateway rules,
//! default and requested allocation pools, fixed-IP checks, the address allocator, SLAAC
//! addresses, MAC addresses and the prefix sets of subnet pools ([`prefixes`]).
//!
//! # Design
//!
//! * **No I/O, no clock, no randomness of its own.** The server calls these functions inside
//!   a store write transaction, so they must be fast and deterministic: the allocator takes
//!   the allocated set as an argument, and MAC generation takes the random bytes. "Never hand
//!   out an address twice" is finally enforced by the store's unique key on
//!   (subnet, address); this crate only picks a candidate.
//! * **Cost independent of subnet size.** Addresses are handled as `u128` (IPv4 in the low
//!   32 bits) so one implementation serves both families, and nothing iterates over a pool:
//!   an IPv6 pool routinely holds 2^64 addresses. [`first_free`] walks only the allocated
//!   addresses.
//! * **Neutron's behaviour, including its corners.** Every rule follows current Neutron
//!   and neutron-lib, read from their source, including the surprising parts that clients
//!   can observe:
//!   - a CIDR with host bits set is accepted and stored as its network (`10.0.0.5/24` is
//!     `10.0.0.0/24`);
//!   - the default IPv6 gateway is the subnet-router anycast address (the network address),
//!     and IPv6 pools start after it;
//!   - an IPv4 /31 keeps both addresses in its pools, has a network address but no
//!     broadcast address for fixed IPs, and refuses its default gateway (409
//!     `IpamValueInvalid`, see [`validate_ipam_gateway`]);
//!   - a requested gateway outside the subnet is accepted, one on the IPv4 network or last
//!     address is not, and on IPv6 any address is.
//! * **One error type, mapped once.** [`IpamError`] has one variant per Neutron exception;
//!   its `Display` is Neutron's message and it reports the exception's class name and HTTP
//!   status, so the API layer converts it in a single `From` impl.

mod addr;
mod allocator;
mod cidr;
mod error;
mod fixed_ip;
mod gateway;
mod mac;
mod pool;
mod pools;
pub mod prefixes;
mod slaac;

pub use allocator::{first_free, free_count};
pub use cidr::{validate_cidr, validate_dhcp_cidr};
pub use error::IpamError;
pub use fixed_ip::{validate_ip_for_port, validate_ip_for_subnet, ROUTER_PORT_OWNERS};
pub use gateway::{default_gateway, validate_gateway, validate_ipam_gateway};
pub use mac::{generate_mac, validate_mac_address, validate_unicast_mac_address, BaseMac, MacAddress, MacError};
pub use pool::AllocationPool;
pub use pools::{default_allocation_pools, validate_allocation_pools};
pub use slaac::eui64_address;
