//! The application layer: resource logic between the HTTP handlers and the store.
//!
//! Every mutating operation is one closure run by [`Store::write`] inside one transaction:
//! it reads what it needs, validates, allocates (addresses, MACs, segment ids) and writes,
//! so a failure at any step leaves the store exactly as it was.

pub mod address_groups;
pub mod address_scopes;
pub(crate) mod agent_conditions;
pub mod agents;
pub mod assignments;
pub mod auto_allocate;
pub mod binding;
pub mod change_index;
pub mod default_sg_rules;
pub mod dhcp;
pub mod diagnose;
pub mod external;
pub mod firewall;
pub mod flavors;
pub mod floatingip_pools;
pub mod floatingips;
pub mod health;
pub mod host_cache;
pub mod host_deps;
pub mod host_state;
pub mod host_watch;
pub mod identity;
pub mod ip_availability;
pub mod l3;
pub mod listing;
pub mod lookup;
pub mod metrics;
pub mod net_views;
pub mod networks;
pub mod nova_events;
pub mod policy;
pub mod policy_rules;
pub mod port_alloc;
pub mod port_bindings;
pub mod port_forwardings;
pub mod ports;
pub mod questions;
pub mod quotas;
pub mod rbac;
pub mod rbac_pools;
pub mod routers;
pub mod scheduler;
pub mod security_groups;
pub mod segments;
pub mod sharing;
pub mod subnet_alloc;
pub mod subnetpools;
pub mod subnets;
pub mod tags;
pub mod zones;

use crate::config::Config;
pub(crate) use neutrino_model::if_match::IfMatch;
use neutrino_model::{ApiError, Resource};
use neutrino_store::{ChangeOp, Store, Tx};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::sync::Arc;

/// Where "now" comes from, so tests can pin time.
pub trait Clock: Send + Sync {
    /// Current time as Neutron renders it: `YYYY-MM-DDTHH:MM:SSZ`.
    fn now(&self) -> String;
    /// Current Unix time in seconds (agent heartbeats).
    fn unix(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> String {
        chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
    }
}

/// Who is calling, as resolved by authentication.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The project the request acts in.
    pub project_id: String,
    /// Cloud admin: sees and may change every project's resources.
    pub is_admin: bool,
    /// Role names in the project (admin, member, reader, service, ...).
    pub roles: Vec<String>,
    /// The authenticated user (empty in noauth mode).
    pub user_id: String,
    /// The policy rules in force.
    pub rules: Arc<policy_rules::Rules>,
}

impl RequestContext {
    /// A noauth caller: admin of `project_id`.
    pub fn noauth(project_id: String, rules: Arc<policy_rules::Rules>) -> Self {
        Self { project_id, is_admin: true, roles: vec!["admin".into()], user_id: String::new(), rules }
    }

    /// Whether the caller holds the role.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

impl RequestContext {
    /// Body-parsing view of the caller.
    pub fn caller(&self) -> neutrino_model::body::Caller<'_> {
        neutrino_model::body::Caller { project_id: &self.project_id, can_set_project_id: self.is_admin }
    }
}

/// Shared state of the application.
pub struct App {
    pub store: Store,
    pub config: Config,
    pub drivers: segments::TypeDrivers,
    pub clock: Arc<dyn Clock>,
    /// Three fixed leading octets of generated MACs.
    pub base_mac: [u8; 3],
    /// The `dns_domain` option: which names ports keep and the domain of their FQDNs.
    pub dns_domain: neutrino_model::dns::DnsDomain,
    /// Token signing and validation.
    pub identity: identity::Identity,
    /// Policy rules (defaults plus the operator's policy file).
    pub rules: Arc<policy_rules::Rules>,
    /// Events for Nova, queued after their transaction commits (`app::nova_events`).
    pub nova: crate::nova::Notifier,
    /// The last health verdict, shared by every `/healthcheck` probe (`app::health`).
    pub health: health::Health,
    /// The change feed resolved into what each change touches, for the agents' watches.
    pub change_index: change_index::ChangeIndex,
    /// Host states built since start (watch answers and their rechecks): the work the
    /// change index saves shows here.
    pub host_state_builds: std::sync::atomic::AtomicU64,
    /// Each watched host's last state, current through the change index.
    pub host_cache: host_cache::HostCache,
    /// What the hosts spanning a network read of it, read once per change of it.
    pub net_views: net_views::NetViews,
    /// Requests, latencies and open watches, for `/metrics` (`app::metrics`).
    pub metrics: Arc<metrics::Metrics>,
    /// Permits for the diagnoses running at once (`diagnose_max_concurrent`).
    pub diagnoses: tokio::sync::Semaphore,
}

impl App {
    /// Builds the application over an opened store.
    pub fn new(
        store: Store,
        config: Config,
        clock: Arc<dyn Clock>,
        identity: identity::Identity,
    ) -> Result<Arc<Self>, crate::config::ConfigError> {
        let rules = match &config.policy_file {
            Some(path) => policy_rules::Rules::load(path)
                .map_err(|e| crate::config::ConfigError::Invalid { key: "policy_file", reason: e.to_string() })?,
            None => policy_rules::Rules::default(),
        };
        let drivers = segments::TypeDrivers::from_config(&config.ml2)?;
        config.nova.validate()?;
        let nova = crate::nova::Notifier::new(config.nova.enabled(), config.nova.max_queued_events);
        let mac: neutrino_ipam::MacAddress =
            config.base_mac.parse().map_err(|_| crate::config::ConfigError::Invalid {
                key: "base_mac",
                reason: format!("'{}' is not a MAC address", config.base_mac),
            })?;
        let o = mac.octets();
        let dns_domain = neutrino_model::dns::DnsDomain::new(&config.dns_domain);
        dns_domain.check().map_err(|reason| crate::config::ConfigError::Invalid { key: "dns_domain", reason })?;
        if config.healthcheck_timeout == 0 || config.healthcheck_cache == 0 {
            return Err(crate::config::ConfigError::Invalid {
                key: "healthcheck_timeout",
                reason: "healthcheck_timeout and healthcheck_cache must be at least 1 second".into(),
            });
        }
        let health = health::Health::new(
            std::time::Duration::from_secs(config.healthcheck_timeout),
            std::time::Duration::from_secs(config.healthcheck_cache),
        );
        let latest = *store.changes().borrow();
        let change_index = change_index::ChangeIndex::new(latest);
        let cache_entries = config.host_state_cache_entries;
        Ok(Arc::new(Self {
            change_index,
            host_cache: host_cache::HostCache::new(cache_entries),
            net_views: net_views::NetViews::new(latest, cache_entries),
            host_state_builds: std::sync::atomic::AtomicU64::new(0),
            metrics: Arc::default(),
            diagnoses: tokio::sync::Semaphore::new(config.diagnose_max_concurrent),
            store,
            config,
            drivers,
            clock,
            base_mac: [o[0], o[1], o[2]],
            dns_domain,
            identity,
            rules: Arc::new(rules),
            nova,
            health,
        }))
    }
}

/// Reads and decodes one resource document.
pub(crate) fn load<T: DeserializeOwned>(tx: &mut dyn Tx, resource: Resource, id: &str) -> Result<Option<T>, ApiError> {
    match tx.doc_get(resource, id)? {
        None => Ok(None),
        Some(body) => decode(resource, id, &body).map(Some),
    }
}

/// Reads one resource or fails with its NotFound error.
pub(crate) fn load_required<T: DeserializeOwned>(tx: &mut dyn Tx, resource: Resource, id: &str) -> Result<T, ApiError> {
    load(tx, resource, id)?.ok_or_else(|| ApiError::not_found(resource, id))
}

pub(crate) fn decode<T: DeserializeOwned>(resource: Resource, id: &str, body: &str) -> Result<T, ApiError> {
    serde_json::from_str(body).map_err(|source| {
        tracing::error!(?resource, id, error = %source, "stored document is corrupt");
        ApiError::internal()
    })
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(|e| {
        tracing::error!(error = %e, "cannot encode document");
        ApiError::internal()
    })
}

/// The `If-Match: revision_number=N` precondition of a write.
pub(crate) fn check_revision(expected: Option<IfMatch>, current: u64) -> Result<(), ApiError> {
    match expected {
        Some(n) if !n.matches(current) => Err(ApiError::revision_number_constraint_failed(n, current)),
        _ => Ok(()),
    }
}

/// What every stored resource shares: standard attributes and its store row. Lets the
/// revision/timestamp bookkeeping and the tags API be written once.
pub(crate) trait Stored: lookup::Visible {
    /// The store row.
    fn to_doc(&self) -> Result<neutrino_store::Doc, ApiError>;
    /// Tags, revision number and updated_at, for in-place edits.
    fn std_attrs(&mut self) -> (&mut Vec<String>, &mut u64, &mut String);
    /// Id and owner, for the change feed.
    fn key(&self) -> (&str, &str);
}

/// Bumps the revision, stamps `updated_at`, writes the row and records the change.
/// Creates one item (`B`: its body, typed or not) of a (bulk) create inside the request's
/// transaction; `&str` is "now".
pub(crate) type CreateOne<B, T> = fn(&mut dyn Tx, &App, &RequestContext, &B, &str) -> Result<T, ApiError>;

/// A (bulk) create: `create_one` for every item in one write transaction, so a bulk
/// request is all or nothing.
pub(crate) async fn bulk_create<B: Send + 'static, T: Send + 'static>(
    app: &Arc<App>,
    ctx: &RequestContext,
    items: Vec<B>,
    create_one: CreateOne<B, T>,
) -> Result<Vec<T>, ApiError> {
    let app2 = app.clone();
    let ctx = ctx.clone();
    app.store
        .write(move |tx| {
            let now = app2.clock.now();
            items.iter().map(|a| create_one(tx, &app2, &ctx, a, &now)).collect()
        })
        .await
}

pub(crate) fn save_update<T: Stored>(tx: &mut dyn Tx, item: &mut T, now: String) -> Result<(), ApiError> {
    let (_, revision, updated_at) = item.std_attrs();
    *revision += 1;
    *updated_at = now;
    tx.doc_update(T::RESOURCE, &item.to_doc()?)?;
    let (id, project) = item.key();
    tx.change_record(T::RESOURCE, id, ChangeOp::Update, project)?;
    Ok(())
}

macro_rules! stored {
    ($ty:ty, $module:ident) => {
        impl Stored for $ty {
            fn to_doc(&self) -> Result<neutrino_store::Doc, ApiError> {
                $module::doc(self)
            }
            fn std_attrs(&mut self) -> (&mut Vec<String>, &mut u64, &mut String) {
                (&mut self.tags, &mut self.revision_number, &mut self.updated_at)
            }
            fn key(&self) -> (&str, &str) {
                (&self.id, &self.project_id)
            }
        }
    };
}

stored!(neutrino_model::types::Network, networks);
stored!(neutrino_model::types::Subnet, subnets);
stored!(neutrino_model::types::Port, port_alloc);
stored!(neutrino_model::types::SecurityGroup, security_groups);
stored!(neutrino_model::types::Router, routers);
stored!(neutrino_model::types::FloatingIp, floatingips);
stored!(neutrino_model::types::SubnetPool, subnetpools);

/// Tags as stored: sorted, without duplicates.
pub(crate) fn sorted_tags(mut tags: Vec<String>) -> Vec<String> {
    tags.sort();
    tags.dedup();
    tags
}
