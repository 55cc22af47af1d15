//! The change feed, resolved once per server into what each change touches, so a watching
//! host rebuilds its state only for changes that concern it ([`super::host_deps`]).
//!
//! One resolver per server reads the feed's new rows after each commit and maps each to
//! the keys it touches: its own key, and the keys of the queries the resource, *as it is
//! now*, belongs to (a port: its network, its bound host and the hosts of its inactive
//! bindings, its security groups, its router; a network: the hosts of its DHCP agents; a
//! router: the hosts of its L3 agents; a floating IP: its router; a subnet: its network;
//! a rule: its group; an agent: its host). A resource's former memberships need no key:
//! every host that showed it recorded its own key. The newest `change_feed_retention`
//! resolutions are kept; a watcher asking about older ones, or any gap in the feed, gets
//! [`Touch::All`] and rebuilds.
//!
//! Resolution reads the resources after the fact, not as each change left them; that is
//! sound because a host needs a rebuild only when its current state differs from the one
//! it was built on: a resource it showed carries its own key, and a resource that newly
//! belongs to it does so as it is now.
//!
//! Each resolution also sweeps the networks' shared views ([`super::net_views`]): the
//! views its changes touch are dropped, and the rest declared valid through its sequence.

use super::host_deps::{Key, Touch};
use super::App;
use neutrino_model::types::{FloatingIp, Port, SecurityGroupRule, Subnet};
use neutrino_model::{ApiError, Resource};
use neutrino_store::{Assignment, Change, ChangeKind, Tx};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

/// Feed rows read per query while resolving.
const READ_BATCH: u64 = 10_000;

/// The server's resolved view of the change feed.
pub struct ChangeIndex {
    /// Serialises resolution (one feed read at a time); holds the host of each agent seen,
    /// so an agent's deletion still names its host.
    resolver: tokio::sync::Mutex<HashMap<String, String>>,
    /// What was resolved. Every watch reads it after every commit, so the read is a plain
    /// lock held for a scan of the new changes, never across the feed read.
    resolved: std::sync::RwLock<Resolved>,
}

struct Resolved {
    /// Every change with `floor < seq <= upto` is in `recent`.
    floor: u64,
    upto: u64,
    recent: VecDeque<(u64, Touch)>,
}

impl ChangeIndex {
    /// An index starting at the feed's current sequence `latest`.
    pub fn new(latest: u64) -> Self {
        Self {
            resolver: tokio::sync::Mutex::new(HashMap::new()),
            resolved: std::sync::RwLock::new(Resolved { floor: latest, upto: latest, recent: VecDeque::new() }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Resolved> {
        // Writers leave `Resolved` whole between statements; a panic cannot split it.
        self.resolved.read().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Resolves the changes this server has been told of, if another watch has not yet.
    pub async fn catch_up(&self, app: &Arc<App>) -> Result<(), ApiError> {
        let latest = *app.store.changes().borrow();
        if latest > self.read().upto {
            let mut agent_hosts = self.resolver.lock().await;
            // Another watch may have resolved it while this one waited.
            let upto = self.read().upto;
            if latest > upto {
                self.resolve(app, upto, &mut agent_hosts).await?;
            }
        }
        Ok(())
    }

    /// Whether any change after `since` passes `concerns`, and the sequence up to which
    /// that was decided (the caller's next `since`).
    pub async fn any_since(
        &self,
        app: &Arc<App>,
        since: u64,
        concerns: impl Fn(&Touch) -> bool,
    ) -> Result<(bool, u64), ApiError> {
        self.catch_up(app).await?;
        let resolved = self.read();
        if since < resolved.floor {
            return Ok((true, resolved.upto));
        }
        let first = resolved.recent.partition_point(|(seq, _)| *seq <= since);
        let hit = resolved.recent.range(first..).any(|(_, touch)| concerns(touch));
        Ok((hit, resolved.upto))
    }

    /// Reads and resolves the feed past `since` (the current `upto`).
    async fn resolve(
        &self,
        app: &Arc<App>,
        since: u64,
        agent_hosts: &mut HashMap<String, String>,
    ) -> Result<(), ApiError> {
        let retention = app.config.change_feed_retention;
        let mut hosts = std::mem::take(agent_hosts);
        let read = app
            .store
            .read(move |tx| -> Result<_, ApiError> {
                let latest = tx.change_latest()?;
                if latest.saturating_sub(since) >= retention {
                    // Rows we never read may be compacted away: start over from here.
                    return Ok((Vec::new(), latest, hosts, true));
                }
                let mut out = Vec::new();
                let mut cursor = since;
                let mut ctx = Lookups::default();
                loop {
                    let changes = tx.change_list_since(cursor, READ_BATCH)?;
                    for c in &changes {
                        out.push((c.seq, touches(tx, c, &mut ctx, &mut hosts)?));
                    }
                    match changes.last() {
                        Some(c) if changes.len() as u64 == READ_BATCH => cursor = c.seq,
                        _ => break,
                    }
                }
                let upto = out.last().map_or(since, |(seq, _)| *seq).max(latest);
                Ok((out, upto, hosts, false))
            })
            .await?;
        let (resolved, upto, hosts, gap) = read;
        *agent_hosts = hosts;
        app.net_views.sweep(resolved.iter().map(|(_, touch)| touch), upto, gap);
        let mut inner = self.resolved.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        if gap {
            inner.recent.clear();
            inner.floor = upto;
        }
        inner.recent.extend(resolved);
        inner.upto = upto;
        while inner.recent.len() as u64 > retention {
            if let Some((seq, _)) = inner.recent.pop_front() {
                inner.floor = seq;
            }
        }
        Ok(())
    }
}

/// What one resolution pass reads at most once.
#[derive(Default)]
struct Lookups {
    hosts_by_agent: Option<BTreeMap<String, String>>,
    dhcp: Option<Vec<(String, String)>>,
    l3: Option<Vec<(String, String)>>,
}

impl Lookups {
    /// The hosts of the agents `kind` assigns `resource` to.
    fn hosts_of(&mut self, tx: &mut dyn Tx, kind: Assignment, resource: &str) -> Result<Vec<Key>, ApiError> {
        if self.hosts_by_agent.is_none() {
            self.hosts_by_agent = Some(tx.agent_list()?.into_iter().map(|a| (a.id, a.host)).collect());
        }
        let list = match kind {
            Assignment::DhcpNetwork => &mut self.dhcp,
            Assignment::L3Router => &mut self.l3,
        };
        if list.is_none() {
            *list = Some(tx.assignment_list(kind)?);
        }
        let hosts = self.hosts_by_agent.as_ref();
        Ok(list
            .iter()
            .flatten()
            .filter(|(r, _)| r == resource)
            .filter_map(|(_, agent)| hosts.and_then(|h| h.get(agent)).map(|h| Key::host(h)))
            .collect())
    }
}

/// The keys one change touches, from the resource as it is now.
fn touches(
    tx: &mut dyn Tx,
    change: &Change,
    ctx: &mut Lookups,
    agent_hosts: &mut HashMap<String, String>,
) -> Result<Touch, ApiError> {
    let id = change.id.as_str();
    let mut keys = vec![Key::Resource(change.kind, change.id.clone())];
    match change.kind {
        ChangeKind::Port => {
            if let Some(p) = super::load::<Port>(tx, Resource::Port, id)? {
                keys.extend(port_keys(tx, &p)?);
            }
        }
        ChangeKind::Network => keys.extend(ctx.hosts_of(tx, Assignment::DhcpNetwork, id)?),
        ChangeKind::Router => keys.extend(ctx.hosts_of(tx, Assignment::L3Router, id)?),
        ChangeKind::FloatingIp => {
            let fip = super::load::<FloatingIp>(tx, Resource::FloatingIp, id)?;
            keys.extend(fip.and_then(|f| f.router_id).map(|r| Key::router(&r)));
        }
        ChangeKind::Subnet => {
            let subnet = super::load::<Subnet>(tx, Resource::Subnet, id)?;
            keys.extend(subnet.map(|s| Key::network(&s.network_id)));
        }
        ChangeKind::SecurityGroupRule => {
            let rule = super::load::<SecurityGroupRule>(tx, Resource::SecurityGroupRule, id)?;
            keys.extend(rule.map(|r| Key::security_group(&r.security_group_id)));
        }
        ChangeKind::Agent => match tx.agent_get(id)? {
            Some(agent) => {
                keys.push(Key::host(&agent.host));
                agent_hosts.insert(agent.id, agent.host);
            }
            None => match agent_hosts.remove(id) {
                Some(host) => keys.push(Key::host(&host)),
                None => return Ok(Touch::All),
            },
        },
        // Host states never read these; a host holds their keys only if it read them.
        // Revocations and key rotations concern no host at all. A question's own key
        // (`Resource(HostQuestion, host)`) is what that host's question poll waits for, and
        // an answer's (`Resource(HostAnswer, question)`) what its diagnosis waits for; no
        // host state holds either, so neither rebuilds one (`Key::host` would: every host
        // tunneling to that one holds it).
        ChangeKind::Revocation | ChangeKind::SigningKey | ChangeKind::HostQuestion | ChangeKind::HostAnswer => {}
        ChangeKind::SecurityGroup
        | ChangeKind::AddressGroup
        | ChangeKind::SubnetPool
        | ChangeKind::AddressScope
        | ChangeKind::Flavor
        | ChangeKind::ServiceProfile
        | ChangeKind::DefaultSecurityGroupRule => {}
    }
    Ok(Touch::Keys(keys))
}

/// The queries a port belongs to: its network's ports, its hosts' bindings, its groups'
/// members, its router's ports.
fn port_keys(tx: &mut dyn Tx, p: &Port) -> Result<Vec<Key>, ApiError> {
    let mut keys = vec![Key::network(&p.network_id)];
    if !p.binding_host_id.is_empty() {
        keys.push(Key::host(&p.binding_host_id));
    }
    keys.extend(tx.port_inactive_binding_list(&p.id)?.iter().map(|b| Key::host(&b.host)));
    keys.extend(p.security_groups.iter().map(|g| Key::members(g)));
    if !p.device_id.is_empty() {
        keys.push(Key::router(&p.device_id));
    }
    Ok(keys)
}
