//! Catalogue: subnet pools, subnet allocation from them, and address scopes.

use crate::error::ApiError;
use std::fmt::Display;

impl ApiError {
    /// `EmptySubnetPoolPrefixList` (400).
    pub fn empty_subnet_pool_prefix_list() -> Self {
        Self::new(400, "EmptySubnetPoolPrefixList", "Empty subnet pool prefix list.")
    }

    /// `PrefixVersionMismatch` (400): IPv4 and IPv6 prefixes in one pool.
    pub fn prefix_version_mismatch() -> Self {
        Self::new(400, "PrefixVersionMismatch", "Cannot mix IPv4 and IPv6 prefixes in a subnet pool.")
    }

    /// `IllegalSubnetPoolPrefixBounds` (400): one prefix length outside what another allows.
    pub fn illegal_subnet_pool_prefix_bounds(
        prefix_type: &str,
        prefixlen: impl Display,
        base_prefix_type: &str,
        base_prefixlen: impl Display,
    ) -> Self {
        Self::new(
            400,
            "IllegalSubnetPoolPrefixBounds",
            format!("Illegal prefix bounds: {prefix_type}={prefixlen}, {base_prefix_type}={base_prefixlen}."),
        )
    }

    /// `IllegalSubnetPoolPrefixUpdate` (400).
    pub fn illegal_subnet_pool_prefix_update(msg: impl Display) -> Self {
        Self::new(400, "IllegalSubnetPoolPrefixUpdate", format!("Illegal update to prefixes: {msg}."))
    }

    /// `IllegalSubnetPoolUpdate` (400).
    pub fn illegal_subnet_pool_update(reason: impl Display) -> Self {
        Self::new(400, "IllegalSubnetPoolUpdate", format!("Illegal subnetpool update : {reason}."))
    }

    /// `SubnetPoolDeleteError` (400): subnets were allocated from the pool.
    pub fn subnet_pool_delete_error(reason: impl Display) -> Self {
        Self::new(400, "SubnetPoolDeleteError", format!("Unable to delete subnet pool: {reason}."))
    }

    /// `SubnetAllocationError`: a plain `NeutronException`, which no fault maps, so 500.
    pub fn subnet_allocation_error(reason: impl Display) -> Self {
        Self::new(500, "SubnetAllocationError", format!("Failed to allocate subnet: {reason}."))
    }

    /// `MinPrefixSubnetAllocationError` (400).
    pub fn min_prefix_subnet_allocation_error(prefixlen: impl Display, min_prefixlen: impl Display) -> Self {
        Self::new(
            400,
            "MinPrefixSubnetAllocationError",
            format!(
                "Unable to allocate subnet with prefix length {prefixlen}, minimum allowed prefix is {min_prefixlen}."
            ),
        )
    }

    /// `MaxPrefixSubnetAllocationError` (400).
    pub fn max_prefix_subnet_allocation_error(prefixlen: impl Display, max_prefixlen: impl Display) -> Self {
        Self::new(
            400,
            "MaxPrefixSubnetAllocationError",
            format!(
                "Unable to allocate subnet with prefix length {prefixlen}, maximum allowed prefix is {max_prefixlen}."
            ),
        )
    }

    /// `SubnetPoolQuotaExceeded` (an `OverQuota`, 409).
    pub fn subnet_pool_quota_exceeded() -> Self {
        Self::conflict("SubnetPoolQuotaExceeded", "Per-project subnet pool prefix quota exceeded.")
    }

    /// `NetworkSubnetPoolAffinityError` (400).
    pub fn network_subnet_pool_affinity_error() -> Self {
        Self::new(
            400,
            "NetworkSubnetPoolAffinityError",
            "Subnets hosted on the same network must be allocated from the same subnet pool.",
        )
    }

    /// `AddressScopePrefixConflict` (409).
    pub fn address_scope_prefix_conflict() -> Self {
        Self::conflict(
            "AddressScopePrefixConflict",
            "Failed to associate address scope: subnetpools within an address scope must have unique prefixes.",
        )
    }

    /// `IllegalSubnetPoolAssociationToAddressScope` (400).
    pub fn illegal_subnet_pool_association_to_address_scope(subnetpool_id: &str, address_scope_id: &str) -> Self {
        Self::new(
            400,
            "IllegalSubnetPoolAssociationToAddressScope",
            format!(
                "Illegal subnetpool association: subnetpool {subnetpool_id} cannot be associated with address scope {address_scope_id}."
            ),
        )
    }

    /// `IllegalSubnetPoolIpVersionAssociationToAddressScope` (400).
    pub fn illegal_subnet_pool_ip_version_association(
        subnetpool_id: &str,
        address_scope_id: &str,
        ip_version: u8,
    ) -> Self {
        Self::new(
            400,
            "IllegalSubnetPoolIpVersionAssociationToAddressScope",
            format!(
                "Illegal subnetpool association: subnetpool {subnetpool_id} cannot associate with address scope {address_scope_id} because subnetpool ip_version is not {ip_version}."
            ),
        )
    }

    /// `AddressScopeInUse` (409): subnet pools still belong to the scope.
    pub fn address_scope_in_use(id: &str) -> Self {
        Self::conflict(
            "AddressScopeInUse",
            format!(
                "Unable to complete operation on address scope {id}. There are one or more subnet pools in use on the address scope."
            ),
        )
    }

    /// `AddressScopeUpdateError` (400).
    pub fn address_scope_update_error(id: &str, reason: impl Display) -> Self {
        Self::new(400, "AddressScopeUpdateError", format!("Unable to update address scope {id} : {reason}."))
    }

    /// `NetworkAddressScopeAffinityError` (400).
    pub fn network_address_scope_affinity_error() -> Self {
        Self::new(
            400,
            "NetworkAddressScopeAffinityError",
            "Subnets of the same address family hosted on the same network must all participate in the same address scope.",
        )
    }
}
