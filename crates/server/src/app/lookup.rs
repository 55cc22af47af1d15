//! One way to fetch a stored resource by id for a caller: load it, then ask whether the
//! caller may see it; an object the caller may not see answers 404, exactly like one that
//! does not exist (Neutron never tells an outsider that an id is taken).
//!
//! The visibility rule of each resource is written once here, so the resource modules, the
//! listing and the tags API all fetch through [`visible`] and never import each other to
//! do it.

use super::{load_required, policy, sharing, RequestContext};
use neutrino_model::types::{
    AddressGroup, AddressScope, FloatingIp, Network, Port, Router, SecurityGroup, Subnet, SubnetPool,
};
use neutrino_model::{ApiError, Resource};
use neutrino_store::Tx;
use serde::de::DeserializeOwned;

/// A stored resource with a rule for who may see it.
pub(crate) trait Visible: DeserializeOwned {
    /// Which resource this is.
    const RESOURCE: Resource;
    /// Whether the caller may see this item.
    fn visible_to(&self, tx: &mut dyn Tx, ctx: &RequestContext) -> Result<bool, ApiError>;
}

/// Loads the item with this id that the caller may see, or its NotFound.
pub(crate) fn visible<T: Visible>(tx: &mut dyn Tx, ctx: &RequestContext, id: &str) -> Result<T, ApiError> {
    let item: T = load_required(tx, T::RESOURCE, id)?;
    if !item.visible_to(tx, ctx)? {
        return Err(ApiError::not_found(T::RESOURCE, id));
    }
    Ok(item)
}

impl Visible for Network {
    const RESOURCE: Resource = Resource::Network;
    fn visible_to(&self, tx: &mut dyn Tx, ctx: &RequestContext) -> Result<bool, ApiError> {
        sharing::network_visible(tx, ctx, self)
    }
}

impl Visible for Subnet {
    const RESOURCE: Resource = Resource::Subnet;
    /// A subnet of a shared network is as visible as its network.
    fn visible_to(&self, tx: &mut dyn Tx, ctx: &RequestContext) -> Result<bool, ApiError> {
        if policy::can_see(ctx, &self.project_id, false) {
            return Ok(true);
        }
        match super::load::<Network>(tx, Resource::Network, &self.network_id)? {
            Some(n) => sharing::network_visible(tx, ctx, &n),
            None => Ok(false),
        }
    }
}

/// The resources seen by their owner (and admins) only, or also by everyone when shared.
macro_rules! owned {
    ($ty:ty, $res:expr, |$item:ident| $shared:expr) => {
        impl Visible for $ty {
            const RESOURCE: Resource = $res;
            fn visible_to(&self, _tx: &mut dyn Tx, ctx: &RequestContext) -> Result<bool, ApiError> {
                let $item = self;
                Ok(policy::can_see(ctx, &$item.project_id, $shared))
            }
        }
    };
}

owned!(Port, Resource::Port, |_p| false);
owned!(Router, Resource::Router, |_r| false);
owned!(FloatingIp, Resource::FloatingIp, |_f| false);

/// Subnet pools, address scopes and security groups are also seen by the projects an
/// `access_as_shared` policy names (`rbac-subnetpool`, `rbac-address-scope`,
/// `rbac-security-groups`).
macro_rules! rbac_shared {
    ($ty:ty, $res:expr) => {
        impl Visible for $ty {
            const RESOURCE: Resource = $res;
            fn visible_to(&self, tx: &mut dyn Tx, ctx: &RequestContext) -> Result<bool, ApiError> {
                if policy::can_see(ctx, &self.project_id, self.shared) {
                    return Ok(true);
                }
                sharing::object_shared_with(tx, &self.id, &ctx.project_id)
            }
        }
    };
}

rbac_shared!(SubnetPool, Resource::SubnetPool);
rbac_shared!(AddressScope, Resource::AddressScope);
rbac_shared!(SecurityGroup, Resource::SecurityGroup);

/// Address groups keep no `shared` flag: only the policies (`*` or naming the caller's
/// project) share them (`rbac-address-group`).
impl Visible for AddressGroup {
    const RESOURCE: Resource = Resource::AddressGroup;
    fn visible_to(&self, tx: &mut dyn Tx, ctx: &RequestContext) -> Result<bool, ApiError> {
        if policy::can_see(ctx, &self.project_id, false) {
            return Ok(true);
        }
        sharing::object_shared_with(tx, &self.id, &ctx.project_id)
    }
}
