//! Type drivers: which segment a network gets, and its MTU (ML2's flat, vlan and vxlan
//! drivers). Pure logic over the ids already in use; the store's unique key on
//! (type, physnet, id) is what finally guarantees an id is never handed out twice.

use crate::config::{ConfigError, Ml2Config};
use neutrino_model::ApiError;
use neutrino_store::Segment;
use std::collections::BTreeMap;

/// VXLAN header overhead over IPv4 (Neutron's `VXLAN_ENCAP_OVERHEAD`).
const VXLAN_OVERHEAD: u32 = 50;
const MAX_VNI: u32 = 16_777_215;
const MAX_VLAN: u32 = 4094;

/// Parsed type-driver configuration.
#[derive(Debug, Clone)]
pub struct TypeDrivers {
    tenant_types: Vec<String>,
    vni_ranges: Vec<(u32, u32)>,
    vlan_ranges: BTreeMap<String, Vec<(u32, u32)>>,
    flat_networks: Vec<String>,
    global_mtu: u32,
    physnet_mtus: BTreeMap<String, u32>,
    path_mtu: u32,
}

/// A segment request after validation: what to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentPlan {
    pub network_type: String,
    /// `None` for vxlan.
    pub physical_network: Option<String>,
    /// `None` = allocate from the configured ranges; `Some(0)` for flat, which has none.
    pub segmentation_id: Option<u32>,
}

impl SegmentPlan {
    /// The segment of `network_id` this plan records, once its id is known (flat has none).
    pub fn segment(&self, network_id: &str, segmentation_id: u32) -> Segment {
        Segment {
            id: uuid::Uuid::new_v4().to_string(),
            network_id: network_id.into(),
            network_type: self.network_type.clone(),
            physical_network: self.physical_network.clone(),
            segmentation_id: (self.network_type != "flat").then_some(segmentation_id),
        }
    }
}

fn parse_range(text: &str, key: &'static str) -> Result<(u32, u32), ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { key, reason };
    let (a, b) = text.split_once(':').ok_or_else(|| invalid(format!("'{text}' is not MIN:MAX")))?;
    let min: u32 = a.trim().parse().map_err(|_| invalid(format!("'{a}' is not a number")))?;
    let max: u32 = b.trim().parse().map_err(|_| invalid(format!("'{b}' is not a number")))?;
    if min > max {
        return Err(invalid(format!("range {min}:{max} is empty")));
    }
    Ok((min, max))
}

impl TypeDrivers {
    /// Validates and parses the `[ml2]` section.
    pub fn from_config(c: &Ml2Config) -> Result<Self, ConfigError> {
        for t in &c.tenant_network_types {
            if !matches!(t.as_str(), "vxlan" | "vlan" | "flat") {
                return Err(ConfigError::Invalid {
                    key: "ml2.tenant_network_types",
                    reason: format!("unsupported type '{t}'"),
                });
            }
        }
        let vni_ranges =
            c.vni_ranges.iter().map(|r| parse_range(r, "ml2.vni_ranges")).collect::<Result<Vec<_>, _>>()?;
        if vni_ranges.iter().any(|(a, b)| *a == 0 || *b > MAX_VNI) {
            return Err(ConfigError::Invalid {
                key: "ml2.vni_ranges",
                reason: format!("VNIs must be within 1..{MAX_VNI}"),
            });
        }
        let mut vlan_ranges: BTreeMap<String, Vec<(u32, u32)>> = BTreeMap::new();
        for entry in &c.network_vlan_ranges {
            let (physnet, range) = match entry.split_once(':') {
                Some((p, r)) => (p.to_string(), Some(parse_range(r, "ml2.network_vlan_ranges")?)),
                None => (entry.clone(), None),
            };
            let ranges = vlan_ranges.entry(physnet).or_default();
            if let Some((a, b)) = range {
                if a == 0 || b > MAX_VLAN {
                    return Err(ConfigError::Invalid {
                        key: "ml2.network_vlan_ranges",
                        reason: format!("VLAN ids must be within 1..{MAX_VLAN}"),
                    });
                }
                ranges.push((a, b));
            }
        }
        let mut physnet_mtus = BTreeMap::new();
        for entry in &c.physical_network_mtus {
            let (p, m) = entry.split_once(':').ok_or_else(|| ConfigError::Invalid {
                key: "ml2.physical_network_mtus",
                reason: format!("'{entry}' is not PHYSNET:MTU"),
            })?;
            let mtu: u32 = m.parse().map_err(|_| ConfigError::Invalid {
                key: "ml2.physical_network_mtus",
                reason: format!("'{m}' is not a number"),
            })?;
            physnet_mtus.insert(p.to_string(), mtu);
        }
        Ok(Self {
            tenant_types: c.tenant_network_types.clone(),
            vni_ranges,
            vlan_ranges,
            flat_networks: c.flat_networks.clone(),
            global_mtu: c.global_physnet_mtu,
            physnet_mtus,
            path_mtu: c.path_mtu,
        })
    }

    /// The segment a tenant network gets: the first tenant type that has ranges.
    pub fn tenant_plan(&self) -> Result<SegmentPlan, ApiError> {
        for t in &self.tenant_types {
            match t.as_str() {
                "vxlan" if !self.vni_ranges.is_empty() => {
                    return Ok(SegmentPlan {
                        network_type: "vxlan".into(),
                        physical_network: None,
                        segmentation_id: None,
                    });
                }
                "vlan" => {
                    if let Some((physnet, _)) = self.vlan_ranges.iter().find(|(_, r)| !r.is_empty()) {
                        return Ok(SegmentPlan {
                            network_type: "vlan".into(),
                            physical_network: Some(physnet.clone()),
                            segmentation_id: None,
                        });
                    }
                }
                _ => {}
            }
        }
        Err(ApiError::no_network_available())
    }

    /// Validates an admin's provider request (`provider:*`), as the type drivers do.
    pub fn provider_plan(
        &self,
        network_type: &str,
        physnet: Option<&str>,
        seg_id: Option<i64>,
    ) -> Result<SegmentPlan, ApiError> {
        let invalid = |m: String| ApiError::invalid_input(m);
        match network_type {
            "vxlan" => {
                if physnet.is_some() {
                    return Err(invalid("provider:physical_network specified for vxlan network".into()));
                }
                let id = match seg_id {
                    Some(id) if id < 1 || id > i64::from(MAX_VNI) => {
                        return Err(invalid(format!("segmentation_id out of range (1 through {MAX_VNI})")));
                    }
                    Some(id) => Some(id as u32),
                    None => None,
                };
                if id.is_none() && self.vni_ranges.is_empty() {
                    return Err(ApiError::no_network_available());
                }
                Ok(SegmentPlan { network_type: "vxlan".into(), physical_network: None, segmentation_id: id })
            }
            "vlan" => {
                let Some(physnet) = physnet else {
                    return Err(invalid("physical_network required for VLAN provider network".into()));
                };
                let Some(ranges) = self.vlan_ranges.get(physnet) else {
                    return Err(invalid(format!("physical_network '{physnet}' unknown for VLAN provider network")));
                };
                let id = match seg_id {
                    Some(id) if id < 1 || id > i64::from(MAX_VLAN) => {
                        return Err(invalid(format!("segmentation_id out of range (1 through {MAX_VLAN})")));
                    }
                    Some(id) => Some(id as u32),
                    None if ranges.is_empty() => return Err(ApiError::no_network_available()),
                    None => None,
                };
                Ok(SegmentPlan {
                    network_type: "vlan".into(),
                    physical_network: Some(physnet.into()),
                    segmentation_id: id,
                })
            }
            "flat" => {
                let Some(physnet) = physnet else {
                    return Err(invalid("physical_network required for flat provider network".into()));
                };
                if seg_id.is_some() {
                    return Err(invalid("segmentation_id prohibited for flat provider network".into()));
                }
                if !self.flat_networks.iter().any(|f| f == "*" || f == physnet) {
                    return Err(invalid(format!("physical_network '{physnet}' unknown for flat provider network")));
                }
                Ok(SegmentPlan {
                    network_type: "flat".into(),
                    physical_network: Some(physnet.into()),
                    segmentation_id: Some(0),
                })
            }
            other => Err(invalid(format!("network_type value '{other}' not supported"))),
        }
    }

    /// Picks the lowest free id of the plan's ranges, given the ids in use (sorted).
    pub fn allocate(&self, plan: &SegmentPlan, in_use: &[u32]) -> Result<u32, ApiError> {
        let ranges: &[(u32, u32)] = match plan.network_type.as_str() {
            "vxlan" => &self.vni_ranges,
            "vlan" => plan.physical_network.as_ref().and_then(|p| self.vlan_ranges.get(p)).map_or(&[], Vec::as_slice),
            _ => &[],
        };
        let mut sorted_ranges = ranges.to_vec();
        sorted_ranges.sort_unstable();
        for (min, max) in sorted_ranges {
            let mut candidate = min;
            for &used in in_use.iter().filter(|u| **u >= min && **u <= max) {
                if used > candidate {
                    break;
                }
                if used == candidate {
                    candidate += 1;
                }
            }
            if candidate <= max {
                return Ok(candidate);
            }
        }
        Err(ApiError::no_network_available())
    }

    /// The error for an id already taken, as each type driver reports it.
    pub fn in_use_error(plan: &SegmentPlan, id: u32) -> ApiError {
        let physical_network = plan.physical_network.as_deref().unwrap_or_default();
        match plan.network_type.as_str() {
            "vlan" => ApiError::vlan_id_in_use(id, physical_network),
            "flat" => ApiError::flat_network_in_use(physical_network),
            _ => ApiError::tunnel_id_in_use(id),
        }
    }

    /// The largest MTU a network of this segment can carry.
    pub fn max_mtu(&self, plan: &SegmentPlan) -> u32 {
        match plan.network_type.as_str() {
            "vxlan" => {
                let underlay = if self.path_mtu > 0 { self.path_mtu.min(self.global_mtu) } else { self.global_mtu };
                underlay.saturating_sub(VXLAN_OVERHEAD)
            }
            _ => plan
                .physical_network
                .as_ref()
                .and_then(|p| self.physnet_mtus.get(p))
                .copied()
                .unwrap_or(self.global_mtu),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drivers() -> TypeDrivers {
        TypeDrivers::from_config(&Ml2Config {
            vni_ranges: vec!["10:12".into()],
            network_vlan_ranges: vec!["physnet1:100:101".into(), "physnet2".into()],
            physical_network_mtus: vec!["physnet2:9000".into()],
            ..Ml2Config::default()
        })
        .unwrap()
    }

    #[test]
    fn allocates_lowest_free_and_exhausts() {
        let d = drivers();
        let plan = d.tenant_plan().unwrap();
        assert_eq!(d.allocate(&plan, &[]).unwrap(), 10);
        assert_eq!(d.allocate(&plan, &[10, 12]).unwrap(), 11);
        assert_eq!(d.allocate(&plan, &[5, 10, 11, 12]).unwrap_err().status, 503);
    }

    #[test]
    fn provider_validation() {
        let d = drivers();
        assert_eq!(d.provider_plan("vlan", None, None).unwrap_err().status, 400);
        assert_eq!(d.provider_plan("vlan", Some("nope"), Some(5)).unwrap_err().status, 400);
        assert_eq!(d.provider_plan("vlan", Some("physnet1"), Some(4095)).unwrap_err().status, 400);
        assert_eq!(d.provider_plan("vlan", Some("physnet2"), None).unwrap_err().status, 503);
        assert!(d.provider_plan("vlan", Some("physnet2"), Some(7)).is_ok());
        assert_eq!(d.provider_plan("flat", Some("x"), Some(1)).unwrap_err().status, 400);
        assert_eq!(
            d.provider_plan("gre", None, None).unwrap_err().message,
            "Invalid input for operation: network_type value 'gre' not supported."
        );
    }

    #[test]
    fn each_type_reports_a_taken_id_its_own_way() {
        let d = drivers();
        let kind = |plan: &SegmentPlan, id| TypeDrivers::in_use_error(plan, id).kind;
        assert_eq!(kind(&d.provider_plan("vxlan", None, Some(5)).unwrap(), 5), "TunnelIdInUse");
        let vlan = d.provider_plan("vlan", Some("physnet1"), Some(101)).unwrap();
        assert_eq!(
            TypeDrivers::in_use_error(&vlan, 101).message,
            "Unable to create the network. The VLAN 101 on physical network physnet1 is in use."
        );
        assert_eq!(kind(&d.provider_plan("flat", Some("ext"), None).unwrap(), 0), "FlatNetworkInUse");
    }

    #[test]
    fn a_plan_records_a_segment_with_what_its_type_has() {
        let d = drivers();
        let vxlan = d.tenant_plan().unwrap().segment("n1", 10);
        assert_eq!((vxlan.physical_network, vxlan.segmentation_id), (None, Some(10)));
        let vlan = d.provider_plan("vlan", Some("physnet2"), Some(7)).unwrap().segment("n1", 7);
        assert_eq!((vlan.physical_network.as_deref(), vlan.segmentation_id), (Some("physnet2"), Some(7)));
        let flat = d.provider_plan("flat", Some("ext"), None).unwrap().segment("n1", 0);
        assert_eq!((flat.network_id.as_str(), flat.physical_network.as_deref()), ("n1", Some("ext")));
        assert_eq!(flat.segmentation_id, None);
    }

    #[test]
    fn mtu_per_type() {
        let d = drivers();
        let vx = d.tenant_plan().unwrap();
        assert_eq!(d.max_mtu(&vx), 1450);
        let flat = d.provider_plan("flat", Some("physnet2"), None).unwrap();
        assert_eq!(d.max_mtu(&flat), 9000);
    }
}
