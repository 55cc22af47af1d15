//! [`MetadataProxy`]: the listeners of every served namespace, kept in line with the host
//! state (see the module docs of [`super`]).

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddrV4};
use std::path::PathBuf;
use std::sync::Arc;

use neutrino_agent_api::{DhcpNetwork, RouterState};
use tokio::sync::oneshot;
use tracing::{info, warn};

use super::proxy::{self, Served, Upstream};
use super::{InstanceTable, MetadataConfig, MetadataError, ServedNs, METADATA_ADDRESS, METADATA_V6_ADDRESS};
use crate::dhcp::ns_device_name;
use crate::error_chain;
use crate::netns::{ifindex_in, listen_in, ns_id, ListenAddr, NetnsError, NsId, Opened};
use crate::report::{Object, Report, SubsystemKind};

/// Where the namespace of a served network or router is (injectable so tests use names of
/// their own).
type NetnsNamer = Box<dyn Fn(&ServedNs) -> String + Send + Sync>;

/// The metadata proxies of every network this host serves DHCP for and every router it
/// runs; see the module docs.
pub struct MetadataProxy {
    upstream: Arc<Upstream>,
    listen_port: u16,
    router_port: u16,
    limits: neutrino_http::Limits,
    netns_dir: PathBuf,
    netns_name: NetnsNamer,
    listeners: BTreeMap<ServedNs, Listener>,
}

/// One namespace's listeners. Dropping it stops accepting at once and closes each open
/// connection after its current request.
struct Listener {
    netns: String,
    /// The namespace the sockets live in, to notice when the name points to a new one.
    ns_id: NsId,
    addrs: Vec<ListenAddr>,
    /// The device index of a link-local bind, to notice when the device is recreated.
    ifindex: Option<u32>,
    served: Arc<Served>,
    shutdown: oneshot::Sender<()>,
    /// Told when the sockets are closed, so a reopen in the same namespace can bind again.
    closed: oneshot::Receiver<()>,
}

impl Listener {
    /// Stops accepting and waits (bounded) until the sockets are closed: binding the same
    /// address in the same namespace before that fails with "address in use".
    async fn close(self) {
        let Listener { shutdown, closed, .. } = self;
        drop(shutdown);
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), closed).await;
    }
}

/// What one namespace should have.
struct Wanted {
    key: ServedNs,
    addrs: Vec<ListenAddr>,
    table: InstanceTable,
    duplicates: Vec<IpAddr>,
}

impl MetadataProxy {
    /// A proxy with no listener yet, naming namespaces as Neutron does in `/run/netns`.
    pub fn new(cfg: MetadataConfig) -> Result<Self, MetadataError> {
        Ok(Self {
            upstream: Arc::new(Upstream::new(&cfg)?),
            listen_port: cfg.listen_port,
            router_port: cfg.router_port,
            limits: cfg.limits,
            netns_dir: PathBuf::from(super::NETNS_RUN_DIR),
            netns_name: Box::new(ServedNs::netns_name),
            listeners: BTreeMap::new(),
        })
    }

    /// Looks for namespaces in `dir` under the name `name(served)` instead.
    pub fn with_netns_naming(
        mut self,
        dir: impl Into<PathBuf>,
        name: impl Fn(&ServedNs) -> String + Send + Sync + 'static,
    ) -> Self {
        self.netns_dir = dir.into();
        self.netns_name = Box::new(name);
        self
    }

    /// Networks with a listener, by id.
    pub fn served_networks(&self) -> Vec<String> {
        self.served(|key| matches!(key, ServedNs::Network(_)))
    }

    /// Routers with a listener, by id.
    pub fn served_routers(&self) -> Vec<String> {
        self.served(|key| matches!(key, ServedNs::Router(_)))
    }

    fn served(&self, kind: impl Fn(&ServedNs) -> bool) -> Vec<String> {
        self.listeners.keys().filter(|k| kind(k)).map(|k| k.id().to_owned()).collect()
    }

    /// Makes the DHCP namespaces' listeners match `networks` (the whole list this host
    /// serves): `169.254.169.254:80`, and `[fe80::a9fe:a9fe%ns-…]:80` when the network has
    /// an IPv6 subnet (Neutron's DHCP agent binds it then). A network whose namespace is not
    /// there yet is reported and retried on the next sync.
    pub async fn sync(&mut self, networks: &[DhcpNetwork]) -> Report {
        let v4 = ListenAddr::V4(SocketAddrV4::new(METADATA_ADDRESS, self.listen_port));
        let wanted = networks.iter().map(|network| {
            let mut addrs = vec![v4.clone()];
            if network.subnets.iter().any(|s| s.ip_version == 6) {
                let dev = ns_device_name(&network.port.id);
                addrs.push(ListenAddr::LinkLocal { addr: METADATA_V6_ADDRESS, dev, port: self.listen_port });
            }
            let (table, duplicates) = InstanceTable::from_network(network);
            Wanted { key: ServedNs::Network(network.network_id.clone()), addrs, table, duplicates }
        });
        let wanted: Vec<Wanted> = wanted.collect();
        self.sync_kind(|key| matches!(key, ServedNs::Network(_)), wanted).await
    }

    /// Makes the router namespaces' listeners match `routers` (the whole list this host
    /// runs): `[::]:<metadata_port>` in each enabled router's namespace, where its NAT table
    /// redirects the VMs' requests (a disabled router is inert and serves nothing).
    pub async fn sync_routers(&mut self, routers: &[RouterState]) -> Report {
        let wanted = routers.iter().filter(|r| r.admin_state_up).map(|router| {
            let (table, duplicates) = InstanceTable::from_router(router);
            let addrs = vec![ListenAddr::DualStack(self.router_port)];
            Wanted { key: ServedNs::Router(router.id.clone()), addrs, table, duplicates }
        });
        let wanted: Vec<Wanted> = wanted.collect();
        self.sync_kind(|key| matches!(key, ServedNs::Router(_)), wanted).await
    }

    /// Converges the listeners of one kind (`kind` picks them) to `wanted`.
    async fn sync_kind(&mut self, kind: impl Fn(&ServedNs) -> bool, wanted: Vec<Wanted>) -> Report {
        let mut report = Report::new(SubsystemKind::Metadata);
        let leaving: Vec<ServedNs> =
            self.listeners.keys().filter(|key| kind(key) && !wanted.iter().any(|w| &w.key == *key)).cloned().collect();
        for key in leaving {
            if let Some(old) = self.listeners.remove(&key) {
                info!(served = %key, netns = %old.netns, "metadata proxy stopped: no longer served");
                report.change(format!("stop listening in {}", old.netns));
            }
        }
        for w in wanted {
            for ip in &w.duplicates {
                let reason = format!("{}: address {ip} belongs to several ports, its requests are refused", w.key);
                report.issue(object(&w.key), reason);
            }
            self.sync_one(w, &mut report).await;
        }
        report
    }

    async fn sync_one(&mut self, wanted: Wanted, report: &mut Report) {
        let Wanted { key, addrs, table, .. } = wanted;
        let netns = (self.netns_name)(&key);
        let path = self.netns_dir.join(&netns);
        let current = match ns_id(&path) {
            Ok(ns_id) => ns_id,
            Err(e) => {
                if self.listeners.remove(&key).is_some() {
                    report.change(format!("stop listening in {netns}: namespace gone"));
                }
                let reason = format!("{key}: no namespace {} ({e}), metadata not served", path.display());
                report.issue(object(&key), reason);
                return;
            }
        };

        if let Some(listener) = self.listeners.get(&key) {
            let why = if listener.ns_id != current {
                Some("namespace recreated")
            } else if listener.addrs != addrs {
                Some("addresses changed")
            } else if !self.same_device(&path, listener).await {
                Some("device recreated")
            } else {
                None
            };
            let Some(why) = why else {
                if listener.served.replace_table(table) {
                    report.change(format!("update instance table of {netns}"));
                }
                return;
            };
            info!(served = %key, %netns, why, "reopening the metadata listener");
            if let Some(old) = self.listeners.remove(&key) {
                old.close().await;
            }
            report.change(format!("stop listening in {netns}: {why}"));
        }

        match self.open(&key, &netns, path, addrs, table).await {
            Ok(listener) => {
                let on: Vec<String> = listener.addrs.iter().map(ToString::to_string).collect();
                info!(served = %key, %netns, listen = ?on, "metadata proxy listening");
                report.change(format!("listen on {} in {netns}", on.join(" and ")));
                self.listeners.insert(key, listener);
            }
            Err(e) => {
                warn!(served = %key, %netns, error = &e as &dyn std::error::Error, "metadata proxy not started");
                report.issue(object(&key), format!("{key}: {}", error_chain(&e)));
            }
        }
    }

    /// Whether the device of the listener's link-local bind is still the one it bound to
    /// (the DHCP side recreates a port's veth pair when an end went missing).
    async fn same_device(&self, path: &std::path::Path, listener: &Listener) -> bool {
        let dev = listener.addrs.iter().find_map(|a| match a {
            ListenAddr::LinkLocal { dev, .. } => Some(dev.clone()),
            _ => None,
        });
        match dev {
            None => true,
            Some(dev) => matches!(ifindex_in(path.to_owned(), dev).await, Ok(index) if index == listener.ifindex),
        }
    }

    async fn open(
        &self,
        key: &ServedNs,
        netns: &str,
        path: PathBuf,
        addrs: Vec<ListenAddr>,
        table: InstanceTable,
    ) -> Result<Listener, NetnsError> {
        let mut sockets = Vec::new();
        let mut ns = None;
        let mut ifindex = None;
        for addr in &addrs {
            let Opened { listener, ns_id, ifindex: index } = listen_in(path.clone(), addr.clone()).await?;
            let listener = tokio::net::TcpListener::from_std(listener).map_err(|source| NetnsError::Register {
                path: path.clone(),
                addr: addr.clone(),
                source,
            })?;
            sockets.push(listener);
            ns = ns.or(Some(ns_id));
            ifindex = ifindex.or(index);
        }
        let Some(ns_id) = ns else {
            // Every served namespace has at least one address.
            return Err(NetnsError::InvalidName(netns.to_owned()));
        };
        let served = Arc::new(Served::new(key.clone(), table, self.upstream.clone()));
        let (shutdown, stopped) = oneshot::channel();
        let (on_closed, closed) = oneshot::channel();
        proxy::serve(sockets, served.clone(), self.limits, stopped, on_closed);
        Ok(Listener { netns: netns.to_string(), ns_id, addrs, ifindex, served, shutdown, closed })
    }
}

/// What a served namespace's issues are about.
fn object(key: &ServedNs) -> Object {
    match key {
        ServedNs::Network(id) => Object::Network(id.clone()),
        ServedNs::Router(id) => Object::Router(id.clone()),
    }
}
