//! Server configuration: a TOML file (every key optional) overridden by command-line flags.

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid value for {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// The whole server configuration. See `docs/CONFIG.md` for every key.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the API listens on.
    pub listen: SocketAddr,
    /// Directory of the embedded store (and of the token keys, whichever store is used).
    pub data_dir: PathBuf,
    /// A PostgreSQL connection string or URL: the store lives there instead of in the
    /// embedded SQLite file, and several servers may share it. Empty: embedded SQLite.
    pub database_url: String,
    /// Development mode: no authentication, every caller is admin of `X-Project-Id`.
    pub noauth: bool,
    /// Project used in noauth mode when the request names none.
    pub noauth_default_project: String,
    /// Request bodies larger than this are refused with 413 before parsing.
    pub max_request_body_bytes: usize,
    /// Cap on `limit` (0 = no cap, Neutron's `pagination_max_limit = -1`).
    pub pagination_max_limit: usize,
    /// `full` (fsync every commit) or `normal`.
    pub store_durability: String,
    /// First three octets of generated MAC addresses (Neutron's `base_mac`).
    pub base_mac: String,
    /// Domain of the names ports get (Neutron's `dns_domain`; dns-integration). Under the
    /// default `openstacklocal` (or `""`) ports keep no `dns_name` and every address is
    /// named `host-<ip>`.
    pub dns_domain: String,
    /// Most DNS nameservers per subnet (`max_dns_nameservers`).
    pub max_dns_nameservers: usize,
    /// Most host routes per subnet (`max_subnet_host_routes`).
    pub max_subnet_host_routes: usize,
    /// Most fixed IPs per port (`max_fixed_ips_per_port`).
    pub max_fixed_ips_per_port: usize,
    /// Most allowed address pairs per port (Neutron's `max_allowed_address_pair`).
    pub max_allowed_address_pair: usize,
    /// Most extra DHCP options per port (Neutron has no cap).
    pub max_extra_dhcp_opts_per_port: usize,
    /// Most security groups per port (Neutron has no cap).
    pub max_security_groups_per_port: usize,
    /// Most allocation pools per subnet (Neutron has no cap).
    pub max_allocation_pools_per_subnet: usize,
    /// Most prefixes of a subnet pool, and in one prefix add/remove (Neutron has no cap).
    pub max_prefixes_per_subnetpool: usize,
    /// Most routes in one router update or extra-routes body (Neutron's `max_routes`).
    pub max_routes: usize,
    /// Most addresses in an address group, in a create body and in one
    /// `add_addresses`/`remove_addresses` request (Neutron has no cap).
    pub max_addresses_per_address_group: usize,
    /// Type drivers and segment ranges (ML2's options).
    pub ml2: Ml2Config,
    /// The embedded identity service.
    pub identity: IdentityConfig,
    /// oslo.policy-style overrides (YAML `"rule": "expression"` lines or JSON).
    pub policy_file: Option<PathBuf>,
    /// Seconds without a report after which an agent is not alive (Neutron's
    /// `agent_down_time`); dead agents bind no ports.
    pub agent_down_time: u64,
    /// Most conditions kept from one agent report (the rest are dropped), so a hostile or
    /// broken agent cannot bloat the agents table.
    pub agent_max_conditions: usize,
    /// Longest reason (in characters) kept of an agent's condition; longer ones are cut.
    pub agent_condition_max_length: usize,
    /// DHCP agents serving each network with a DHCP subnet (`dhcp_agents_per_network`).
    pub dhcp_agents_per_network: usize,
    /// Move networks off DHCP agents dead past `agent_down_time`
    /// (`allow_automatic_dhcp_failover`).
    pub dhcp_failover: bool,
    /// Move routers off L3 agents dead past `agent_down_time`
    /// (`allow_automatic_l3agent_failover`).
    pub l3_failover: bool,
    /// Newest change-feed entries kept; older ones are dropped every ten minutes.
    pub change_feed_retention: u64,
    /// Longest an agent's watch waits for a change before answering 304, in seconds.
    pub agent_watch_timeout: u64,
    /// Hosts whose last built state the server keeps for their agents' next watch, and
    /// networks whose shared view it keeps (`app::host_cache`, `app::net_views`); 0 keeps
    /// none (every watch and every concerned host rebuilds from the store).
    pub host_state_cache_entries: usize,
    /// Seconds the store may take to answer `/healthcheck`'s probe before the server says it
    /// cannot serve (503).
    pub healthcheck_timeout: u64,
    /// Seconds a `/healthcheck` verdict is reused, so probes reach the store at most once
    /// per period whatever their rate (the endpoint is unauthenticated).
    pub healthcheck_cache: u64,
    /// Address of the separate `/metrics` listener (Prometheus text format, no token); empty
    /// (the default) serves no metrics. Bind it to a management or loopback address: it is
    /// never on the API port, so what reaches the API cannot scrape it.
    pub metrics_listen: String,
    /// Connections the metrics listener serves at once (a scraper or two need one each).
    pub metrics_max_connections: usize,
    /// Milliseconds a diagnosis waits for the agents' answers; the hops of a host that did
    /// not answer by then are `unknown`.
    pub diagnose_answer_timeout_ms: u64,
    /// Unanswered questions one host may have; a diagnosis that would ask more is refused
    /// (503), so a host whose agent never answers cannot pile them up.
    pub diagnose_max_pending_questions: usize,
    /// Diagnoses this server runs at once; more are refused (503).
    pub diagnose_max_concurrent: usize,
    /// Seconds after which a question is deleted, answered or not (a server that stopped
    /// mid-diagnosis leaves nothing behind for longer).
    pub diagnose_question_ttl: u64,
    /// Remote ports whose FDB entries one question asks a host to check.
    pub diagnose_max_fdb_ports: usize,
    /// Largest answer body an agent may post, in bytes (413 beyond).
    pub diagnose_max_answer_bytes: usize,
    /// Timeouts and the connection cap of the API listener.
    pub http: HttpConfig,
    /// The embedded store's reader pool and queues.
    pub store: StoreConfig,
    /// Tell Nova when a compute port's status changes (`network-vif-plugged`/`-unplugged`;
    /// Neutron's key and default).
    pub notify_nova_on_port_status_changes: bool,
    /// Tell Nova when a compute port's addresses or floating IPs change (`network-changed`)
    /// or the port is deleted (`network-vif-deleted`; Neutron's key and default).
    pub notify_nova_on_port_data_changes: bool,
    /// Seconds between two batches of events sent to Nova (Neutron's key and default).
    pub send_events_interval: u64,
    /// How to reach Nova for its external events; not configured = no events are sent.
    pub nova: NovaConfig,
}

/// Nova's credentials and endpoint (`[nova]`, as Neutron's keystoneauth options). The
/// notifier is off unless `auth_url` or `token_file` is set.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NovaConfig {
    /// Keystone, e.g. `http://keystone:5000/v3` (the `/v3` is optional).
    pub auth_url: String,
    /// The service user Neutron talks to Nova as (Nova only accepts external events from an
    /// admin or the service role).
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// A file holding a token to use instead of the password; re-read when Nova refuses it
    /// and every five minutes.
    pub token_file: String,
    /// Region of the compute endpoint in the catalog ("" = any).
    pub region_name: String,
    /// Interface of the compute endpoint: `public`, `internal` or `admin`.
    pub endpoint_type: String,
    /// The compute API URL (e.g. `http://nova:8774/v2.1`) instead of the catalog's.
    pub endpoint_override: String,
    /// Seconds one request to Keystone or Nova may take.
    pub timeout: u64,
    /// Events waiting for Nova (while it is down or slow); beyond, the oldest are dropped
    /// and counted.
    pub max_queued_events: usize,
}

impl Default for NovaConfig {
    fn default() -> Self {
        Self {
            auth_url: String::new(),
            username: "nova".into(),
            password: String::new(),
            project_name: "service".into(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            token_file: String::new(),
            region_name: String::new(),
            endpoint_type: "public".into(),
            endpoint_override: String::new(),
            timeout: 10,
            max_queued_events: 10_000,
        }
    }
}

impl NovaConfig {
    /// Whether events are sent at all.
    pub fn enabled(&self) -> bool {
        !self.auth_url.is_empty() || !self.token_file.is_empty()
    }

    /// Refuses a configuration that could never reach Nova.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            return Ok(());
        }
        if !["public", "internal", "admin"].contains(&self.endpoint_type.as_str()) {
            return Err(ConfigError::Invalid {
                key: "nova.endpoint_type",
                reason: format!("'{}' is not public, internal or admin", self.endpoint_type),
            });
        }
        if self.auth_url.is_empty() && self.endpoint_override.is_empty() {
            return Err(ConfigError::Invalid {
                key: "nova.endpoint_override",
                reason: "a token file without auth_url has no catalog: name the compute endpoint".into(),
            });
        }
        if self.token_file.is_empty() && self.username.is_empty() {
            return Err(ConfigError::Invalid { key: "nova.username", reason: "needed without a token_file".into() });
        }
        if self.max_queued_events == 0 || self.timeout == 0 {
            return Err(ConfigError::Invalid {
                key: "nova.max_queued_events",
                reason: "max_queued_events and timeout must be at least 1".into(),
            });
        }
        Ok(())
    }
}

/// The API listener's limits (`[http]`): what keeps slow or many clients from holding the
/// server. hyper's header timer also runs while a keep-alive connection waits for its next
/// request, so an idle connection is closed after the smaller of the two timeouts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Seconds a client has to send a whole request head (from connecting, or from its
    /// previous answer).
    pub header_read_timeout: u64,
    /// Seconds a connection stays open with no request in flight.
    pub keepalive_timeout: u64,
    /// Seconds a request may take from its head to its answer (503 beyond). Must exceed
    /// `agent_watch_timeout`, the agents' long poll.
    pub request_timeout: u64,
    /// Connections served at once; more wait in the kernel's listen backlog. Keep it below
    /// the process's file descriptor limit.
    pub max_connections: usize,
    /// Connections one client address may hold at once (0 = no cap; set 0 behind a proxy,
    /// where every client shares the proxy's address).
    pub max_connections_per_address: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            header_read_timeout: 10,
            keepalive_timeout: 5,
            request_timeout: 60,
            max_connections: 512,
            max_connections_per_address: 256,
        }
    }
}

/// The embedded store's concurrency limits (`[store]`).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// Read connections (each on its own thread): reads running at once.
    pub readers: usize,
    /// Reads waiting for a reader; more are answered 503 with `Retry-After`.
    pub read_queue: usize,
    /// Writes waiting for the writer; more are answered 503 with `Retry-After`.
    pub write_queue: usize,
    /// PostgreSQL only: longest the change-feed listener goes without reading the latest
    /// change itself, in milliseconds: the most a lost notification delays another
    /// server's change here (one indexed `MAX(seq)` per period).
    pub change_poll_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self { readers: 4, read_queue: 2048, write_queue: 2048, change_poll_ms: 1000 }
    }
}

impl HttpConfig {
    /// The listener's limits, checked against the agents' long poll.
    pub fn limits(&self, agent_watch_timeout: u64) -> Result<neutrino_http::Limits, ConfigError> {
        let positive = |key: &'static str, v: u64| {
            if v == 0 {
                Err(ConfigError::Invalid { key, reason: "must be at least 1".into() })
            } else {
                Ok(std::time::Duration::from_secs(v))
            }
        };
        if self.request_timeout <= agent_watch_timeout {
            return Err(ConfigError::Invalid {
                key: "http.request_timeout",
                reason: format!(
                    "{} s would cut the agents' watch, which lasts up to agent_watch_timeout ({agent_watch_timeout} s)",
                    self.request_timeout
                ),
            });
        }
        if self.max_connections == 0 {
            return Err(ConfigError::Invalid { key: "http.max_connections", reason: "must be at least 1".into() });
        }
        Ok(neutrino_http::Limits {
            header_read_timeout: positive("http.header_read_timeout", self.header_read_timeout)?,
            keepalive_timeout: positive("http.keepalive_timeout", self.keepalive_timeout)?,
            request_timeout: positive("http.request_timeout", self.request_timeout)?,
            max_connections: self.max_connections,
            max_connections_per_address: self.max_connections_per_address,
        })
    }
}

/// Identity settings: token lifetime and what the service catalog says.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentityConfig {
    /// Token lifetime in seconds.
    pub token_ttl_seconds: i64,
    /// Region of the catalog endpoints.
    pub region: String,
    /// URL clients use for this server (catalog `network` and `identity` endpoints are
    /// derived from it). Empty = `http://<listen>`; set it when behind a proxy.
    pub public_url: String,
    /// Signing keys kept after a rotation (`neutrino keys rotate`).
    pub keys_kept: usize,
    /// Validate tokens against this external Keystone (e.g. `http://keystone:5000`) instead
    /// of issuing our own. Empty = the embedded identity service.
    pub external_keystone_url: String,
    /// Service credentials used to validate tokens with the external Keystone.
    pub service_username: String,
    pub service_password: String,
    pub service_project: String,
    pub service_domain: String,
    /// How long a validated external token is trusted before asking again (seconds;
    /// keystonemiddleware's `token_cache_time`). Never beyond the token's own expiry.
    pub token_cache_seconds: i64,
    /// Password hashes (Argon2id, 19 MiB each) computed at once; 0 = one per CPU core.
    pub max_concurrent_password_hashes: usize,
    /// Logins waiting for a hashing slot before more are refused with 503 and Retry-After.
    pub max_waiting_logins: usize,
    /// Failed logins per user name within `login_failure_window_seconds` before that user's
    /// logins are refused with 429 until the window ends; 0 = no per-user limit.
    pub login_failures_per_user: u32,
    /// Failed logins per client address (IPv6: per /64) within the window before that
    /// address's logins are refused with 429; 0 = no per-address limit.
    pub login_failures_per_address: u32,
    /// Length of the failed-login window, in seconds.
    pub login_failure_window_seconds: u64,
    /// Most users (and, separately, addresses) whose failures are tracked at once.
    pub login_throttle_max_entries: usize,
    /// How often revocation events written by other servers on the same store are read
    /// in, in seconds (this server's own take effect at once).
    pub revocation_refresh_seconds: u64,
    /// Application credentials one user may hold (Keystone's `[application_credential]
    /// user_limit`); beyond, creating one is 403.
    pub max_application_credentials_per_user: usize,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        Self {
            token_ttl_seconds: 3600,
            region: "RegionOne".into(),
            public_url: String::new(),
            keys_kept: 3,
            external_keystone_url: String::new(),
            service_username: "neutron".into(),
            service_password: String::new(),
            service_project: "service".into(),
            service_domain: "Default".into(),
            token_cache_seconds: 300,
            max_concurrent_password_hashes: 0,
            max_waiting_logins: 256,
            login_failures_per_user: 10,
            login_failures_per_address: 100,
            login_failure_window_seconds: 300,
            login_throttle_max_entries: 10_000,
            revocation_refresh_seconds: 30,
            max_application_credentials_per_user: 100,
        }
    }
}

/// ML2 type-driver settings, named as in Neutron's ml2_conf.ini.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Ml2Config {
    /// Network types tenants get, in order of preference.
    pub tenant_network_types: Vec<String>,
    /// VXLAN VNI ranges, `"min:max"`.
    pub vni_ranges: Vec<String>,
    /// VLAN physical networks with optional ranges, `"physnet"` or `"physnet:min:max"`.
    pub network_vlan_ranges: Vec<String>,
    /// Physical networks usable by flat networks (`"*"` = any).
    pub flat_networks: Vec<String>,
    /// MTU of the physical networks and the underlay.
    pub global_physnet_mtu: u32,
    /// Per-physnet MTU overrides, `"physnet:mtu"`.
    pub physical_network_mtus: Vec<String>,
    /// Underlay MTU for overlay networks (0 = global_physnet_mtu).
    pub path_mtu: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9696)),
            data_dir: PathBuf::from("/var/lib/neutrino"),
            database_url: String::new(),
            noauth: false,
            noauth_default_project: "default".into(),
            max_request_body_bytes: 1024 * 1024,
            pagination_max_limit: 0,
            store_durability: "full".into(),
            base_mac: "fa:16:3e:00:00:00".into(),
            dns_domain: "openstacklocal".into(),
            max_dns_nameservers: 5,
            max_subnet_host_routes: 20,
            max_fixed_ips_per_port: 5,
            max_allowed_address_pair: 10,
            max_extra_dhcp_opts_per_port: 64,
            max_security_groups_per_port: 64,
            max_allocation_pools_per_subnet: 64,
            max_prefixes_per_subnetpool: 64,
            max_routes: 30,
            max_addresses_per_address_group: 1024,
            ml2: Ml2Config::default(),
            identity: IdentityConfig::default(),
            policy_file: None,
            agent_down_time: 75,
            agent_max_conditions: 50,
            agent_condition_max_length: 512,
            agent_watch_timeout: 30,
            host_state_cache_entries: 10_000,
            healthcheck_timeout: 2,
            healthcheck_cache: 1,
            metrics_listen: String::new(),
            metrics_max_connections: 4,
            change_feed_retention: 100_000,
            dhcp_agents_per_network: 1,
            dhcp_failover: true,
            l3_failover: true,
            diagnose_answer_timeout_ms: 3000,
            diagnose_max_pending_questions: 16,
            diagnose_max_concurrent: 4,
            diagnose_question_ttl: 60,
            diagnose_max_fdb_ports: 256,
            diagnose_max_answer_bytes: 256 * 1024,
            http: HttpConfig::default(),
            store: StoreConfig::default(),
            notify_nova_on_port_status_changes: true,
            notify_nova_on_port_data_changes: true,
            send_events_interval: 2,
            nova: NovaConfig::default(),
        }
    }
}

impl Default for Ml2Config {
    fn default() -> Self {
        Self {
            tenant_network_types: vec!["vxlan".into()],
            vni_ranges: vec!["1:65535".into()],
            network_vlan_ranges: vec!["physnet1:100:4094".into()],
            flat_networks: vec!["*".into()],
            global_physnet_mtu: 1500,
            physical_network_mtus: vec![],
            path_mtu: 0,
        }
    }
}

impl Config {
    /// The URL clients reach this server at.
    pub fn public_url(&self) -> String {
        if self.identity.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.identity.public_url.trim_end_matches('/').to_string()
        }
    }

    /// The per-request caps on list attributes, counted before a body is validated.
    pub fn list_limits(&self) -> neutrino_model::limits::ListLimits {
        neutrino_model::limits::ListLimits {
            allowed_address_pairs: self.max_allowed_address_pair,
            fixed_ips: self.max_fixed_ips_per_port,
            extra_dhcp_opts: self.max_extra_dhcp_opts_per_port,
            security_groups: self.max_security_groups_per_port,
            allocation_pools: self.max_allocation_pools_per_subnet,
            subnetpool_prefixes: self.max_prefixes_per_subnetpool,
            tags: neutrino_model::limits::MAX_TAGS,
            routes: self.max_routes,
            address_group_addresses: self.max_addresses_per_address_group,
        }
    }

    /// Reads a TOML file; a missing key keeps its default.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.into(), source })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse { path: path.into(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_example_parses_and_matches_the_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../etc/neutrino.toml");
        let parsed = Config::from_file(&path).unwrap();
        let d = Config::default();
        // Every key the code has is in the example (an unset `Option` aside), with its default.
        let text = std::fs::read_to_string(&path).unwrap();
        let listed: toml::Table = toml::from_str(&text).unwrap();
        let defaults = toml::Table::try_from(&d).unwrap();
        assert_eq!(keys(&listed), keys(&defaults), "etc/neutrino.toml must list every key");
        assert_eq!(toml::Table::try_from(&parsed).unwrap(), defaults, "etc/neutrino.toml must show the defaults");
        assert_eq!(parsed.listen, d.listen);
        assert_eq!(parsed.data_dir, d.data_dir);
        assert_eq!(parsed.ml2.vni_ranges, d.ml2.vni_ranges);
        assert_eq!(parsed.max_request_body_bytes, d.max_request_body_bytes);
        assert_eq!(parsed.list_limits(), d.list_limits());
        assert_eq!(d.list_limits(), neutrino_model::limits::ListLimits::default());
        assert_eq!(parsed.http.max_connections, d.http.max_connections);
        assert_eq!(parsed.http.request_timeout, d.http.request_timeout);
        assert_eq!(parsed.store.write_queue, d.store.write_queue);
    }

    #[test]
    fn the_request_timeout_must_outlast_the_agents_watch() {
        let mut c = Config::default();
        assert!(c.http.limits(c.agent_watch_timeout).is_ok());
        c.http.request_timeout = c.agent_watch_timeout;
        let err = c.http.limits(c.agent_watch_timeout).unwrap_err();
        assert!(err.to_string().contains("http.request_timeout"), "{err}");
        c.http.request_timeout = 60;
        c.http.header_read_timeout = 0;
        assert!(c.http.limits(c.agent_watch_timeout).is_err());
    }

    /// Dotted key paths of a table (`identity.token_ttl_seconds`, ...).
    fn keys(table: &toml::Table) -> Vec<String> {
        let mut out = Vec::new();
        for (k, v) in table {
            match v {
                toml::Value::Table(t) => out.extend(keys(t).into_iter().map(|sub| format!("{k}.{sub}"))),
                _ => out.push(k.clone()),
            }
        }
        out.sort();
        out
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = toml::from_str::<Config>("lisen = \"x\"").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");
    }
}
