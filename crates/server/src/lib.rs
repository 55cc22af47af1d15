//! The neutrino API server: the OpenStack Networking API v2.0 over the embedded store.
//!
//! [`run`] is `neutrino server`: it loads the configuration, opens (and migrates) the store,
//! and serves until interrupted. [`build`] assembles the same service for in-process tests.

pub mod api;
pub mod app;
pub mod config;
pub mod nova;

use app::{App, SystemClock};
use axum::extract::Request;
use config::{Config, ConfigError};
use neutrino_store::postgres::{PgBackend, PgOptions};
use neutrino_store::sqlite::{Durability, SqliteBackend, SqliteOptions};
use neutrino_store::{Store, StoreError};
use std::path::PathBuf;
use std::sync::Arc;
use tower::ServiceExt;

/// Command-line arguments of `neutrino server`; each overrides the config file.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on [default: 127.0.0.1:9696].
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Directory of the embedded store [default: /var/lib/neutrino].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL connection string or URL of the store [default: the embedded SQLite store].
    #[arg(long, value_name = "URL", env = "NEUTRINO_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// TOML config file (see docs/CONFIG.md).
    #[arg(long, value_name = "FILE", env = "NEUTRINO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Development mode: every request is admin of the project in X-Project-Id.
    #[arg(long)]
    pub noauth: bool,
    /// Allow --noauth on a non-loopback address (anyone who can reach it is admin).
    #[arg(long, requires = "noauth")]
    pub force_noauth: bool,
}

/// Arguments of `neutrino bootstrap`.
#[derive(Debug, Clone, clap::Args)]
pub struct BootstrapArgs {
    /// Password of the `admin` user (created if missing; an existing admin keeps its password).
    #[arg(long, env = "NEUTRINO_BOOTSTRAP_PASSWORD", hide_env_values = true)]
    pub password: String,
    /// TOML config file.
    #[arg(long, value_name = "FILE", env = "NEUTRINO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded store.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// Arguments of `neutrino keys rotate`.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateArgs {
    /// TOML config file.
    #[arg(long, value_name = "FILE", env = "NEUTRINO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded store (keys live in DIR/keys).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// PostgreSQL connection string or URL: rotate the keys the servers on it share.
    #[arg(long, value_name = "URL", env = "NEUTRINO_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
}

/// Failures that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot create data directory {path}")]
    DataDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("identity setup failed: {0}")]
    Identity(String),
    #[error("--noauth on the non-loopback address {0} makes everyone who can reach it admin; add --force-noauth to do it anyway")]
    NoauthNotLoopback(std::net::SocketAddr),
    #[error("cannot write {path}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Api(#[from] neutrino_model::ApiError),
    /// `neutrino bootstrap` found the store held, by a running server most likely.
    #[error("neutrino bootstrap opens the store itself and cannot run while a server uses it: stop the server first, or start the server with NEUTRINO_BOOTSTRAP_PASSWORD set, which bootstraps it the same way")]
    BootstrapWhileServing(#[source] StoreError),
}

/// Merges the config file (if any) with the flags.
pub fn load_config(args: &ServeArgs) -> Result<Config, ConfigError> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &args.database_url {
        config.database_url = url.clone();
    }
    if args.noauth {
        config.noauth = true;
    }
    Ok(config)
}

/// Opens the store (under `config.data_dir`, or at `config.database_url`) and builds the
/// application.
pub async fn build(config: Config) -> Result<Arc<App>, ServerError> {
    std::fs::create_dir_all(&config.data_dir)
        .map_err(|source| ServerError::DataDir { path: config.data_dir.clone(), source })?;
    let durability = match config.store_durability.as_str() {
        "full" => Durability::Full,
        "normal" => Durability::Normal,
        other => {
            return Err(ConfigError::Invalid {
                key: "store_durability",
                reason: format!("'{other}' is not full or normal"),
            }
            .into());
        }
    };
    // Refuse HTTP limits that would cut the agents' watch before anything is opened.
    config.http.limits(config.agent_watch_timeout)?;
    let store = open_store(&config, durability).await?;
    let revoked = app::identity::load_revoked(&store)
        .await
        .map_err(|_| ServerError::Identity("cannot load revoked tokens".into()))?;
    let mut identity = if config.database_url.is_empty() {
        app::identity::Identity::open(&config.data_dir, revoked).map_err(|e| ServerError::Identity(e.to_string()))?
    } else {
        // Servers sharing the database share its keys.
        let keys = app::identity::stored_keys::open(&store)
            .await
            .map_err(|_| ServerError::Identity("cannot load the signing keys from the database".into()))?;
        app::identity::Identity::with_keys(keys, revoked)
    };
    if !config.identity.external_keystone_url.is_empty() {
        identity.external = Some(app::external::ExternalKeystone::new(&config.identity));
    }
    let app = App::new(store, config, Arc::new(SystemClock), identity)?;
    let renamed = app::port_alloc::refresh_dns_assignments(&app).await?;
    if renamed > 0 {
        tracing::info!(ports = renamed, domain = %app.dns_domain.fqdn(), "ports' dns_assignment renamed");
    }
    Ok(app)
}

/// The embedded SQLite store under `data_dir`, or PostgreSQL when `database_url` is set.
async fn open_store(config: &Config, durability: Durability) -> Result<Store, ServerError> {
    if config.database_url.is_empty() {
        let mut opts = SqliteOptions::new(config.data_dir.join("neutrino.db"));
        opts.durability = durability;
        opts.readers = config.store.readers.max(1);
        opts.read_queue = config.store.read_queue.max(1);
        opts.write_queue = config.store.write_queue.max(1);
        return Ok(Store::new(SqliteBackend::open(&opts)?));
    }
    let mut opts = PgOptions::new(config.database_url.clone());
    opts.readers = config.store.readers.max(1);
    opts.read_queue = config.store.read_queue.max(1);
    opts.write_queue = config.store.write_queue.max(1);
    opts.change_poll = std::time::Duration::from_millis(config.store.change_poll_ms.max(10));
    // Connecting blocks (and the blocking client must not run on a runtime thread).
    let backend =
        tokio::task::spawn_blocking(move || PgBackend::open(&opts)).await.map_err(|_| StoreError::Closed)??;
    Ok(Store::new(backend))
}

/// Serves the API on an already bound listener until `shutdown` resolves, under the
/// `[http]` limits (timeouts, connection cap: see `neutrino_http`).
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let limits = app.config.http.limits(app.config.agent_watch_timeout)?;
    let passes = app::scheduler::spawn_scheduling(app.clone());
    nova::spawn(&app);
    let router = api::router(app);
    let service = tower::service_fn(move |req: Request| {
        let router = router.clone();
        async move {
            let mut res = router.oneshot(api::strip_json_suffix(req)).await?;
            with_retry_after(&mut res);
            Ok::<_, std::convert::Infallible>(res)
        }
    });
    let on_timeout: neutrino_http::TimeoutAnswer = Arc::new(|timeout: std::time::Duration| {
        let error = neutrino_model::ApiError::request_timed_out(timeout);
        let mut res = axum::response::IntoResponse::into_response(api::ApiErrorResponse(error));
        with_retry_after(&mut res);
        res
    });
    neutrino_http::serve(listener, limits, service, on_timeout, shutdown).await;
    // A stopped server lets go of the app, so the store (and its lock) closes once the last
    // handle is gone: an in-process restart on the same data dir can open it again.
    passes.iter().for_each(tokio::task::JoinHandle::abort);
    Ok(())
}

/// Serves `GET /metrics` on its own listener (`metrics_listen`) until `shutdown` resolves,
/// under the API's `[http]` timeouts and `metrics_max_connections` (two per address).
pub async fn serve_metrics(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let mut limits = app.config.http.limits(app.config.agent_watch_timeout)?;
    limits.max_connections = app.config.metrics_max_connections.max(1);
    limits.max_connections_per_address = 2;
    let router = api::metrics::router(app);
    let on_timeout: neutrino_http::TimeoutAnswer = Arc::new(|_| {
        let mut res = axum::response::Response::new(axum::body::Body::empty());
        *res.status_mut() = axum::http::StatusCode::SERVICE_UNAVAILABLE;
        res
    });
    neutrino_http::serve(listener, limits, router, on_timeout, shutdown).await;
    Ok(())
}

/// Binds `metrics_listen` (when set) and serves `/metrics` there in the background.
async fn spawn_metrics(app: &Arc<App>) -> Result<(), ServerError> {
    if app.config.metrics_listen.is_empty() {
        return Ok(());
    }
    let addr: std::net::SocketAddr = app.config.metrics_listen.parse().map_err(|_| ConfigError::Invalid {
        key: "metrics_listen",
        reason: format!("'{}' is not ADDR:PORT", app.config.metrics_listen),
    })?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|source| ServerError::Listen { addr, source })?;
    tracing::info!(%addr, "metrics listening");
    tokio::spawn(serve_metrics(app.clone(), listener, std::future::pending()));
    Ok(())
}

/// Seconds a client is told to wait after a 503 (a full store queue, a timed-out request,
/// an unreachable identity service): long enough to let a queue drain.
const RETRY_AFTER_SECONDS: &str = "1";

/// Every 503 says when to retry, so clients back off instead of hammering a busy server.
fn with_retry_after(res: &mut axum::response::Response) {
    if res.status() == axum::http::StatusCode::SERVICE_UNAVAILABLE && !res.headers().contains_key("retry-after") {
        res.headers_mut().insert("retry-after", axum::http::HeaderValue::from_static(RETRY_AFTER_SECONDS));
    }
}

/// `neutrino server`: runs until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), ServerError> {
    let config = load_config(&args)?;
    if config.noauth && !config.listen.ip().is_loopback() {
        if !args.force_noauth {
            return Err(ServerError::NoauthNotLoopback(config.listen));
        }
        tracing::warn!(listen = %config.listen, "noauth mode on a non-loopback address: anyone who can reach it is admin");
    }
    let listen = config.listen;
    let app = build(config).await?;
    if !app.config.noauth && app.identity.external.is_none() {
        ensure_bootstrapped(&app, std::env::var("NEUTRINO_BOOTSTRAP_PASSWORD").ok()).await?;
    }
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|source| ServerError::Listen { addr: listen, source })?;
    tracing::info!(%listen, "neutrino server listening");
    spawn_metrics(&app).await?;
    app::scheduler::spawn_periodic(app.clone());
    serve(app, listener, shutdown_signal()).await
}

/// Makes sure an admin exists. With a password (flag or `NEUTRINO_BOOTSTRAP_PASSWORD`) the
/// bootstrap runs (idempotently); without one, a first start generates a password, prints
/// it once and writes `<data_dir>/clouds.yaml`.
pub async fn ensure_bootstrapped(app: &Arc<App>, password: Option<String>) -> Result<(), ServerError> {
    let generated = password.is_none();
    let region = app.config.identity.region.clone();
    app.store
        .write(move |tx| -> Result<(), neutrino_model::ApiError> { Ok(app::identity::seed_catalog(tx, &region)?) })
        .await?;
    let has_users =
        app.store.read(|tx| -> Result<bool, neutrino_model::ApiError> { Ok(!tx.user_list(None)?.is_empty()) }).await?;
    if has_users && generated {
        return Ok(());
    }
    let password = password.unwrap_or_else(|| {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..24)
            .map(|_| char::from(b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"[rng.random_range(0..57)]))
            .collect()
    });
    let pw = password.clone();
    let outcome = app.store.write(move |tx| app::identity::bootstrap(tx, &pw)).await?;
    let path = app.config.data_dir.join("clouds.yaml");
    if outcome.created_admin {
        let yaml = app::identity::clouds_yaml(&app.config.public_url(), &app.config.identity.region, &password);
        write_private(&path, &yaml).map_err(|source| ServerError::Write { path: path.clone(), source })?;
        if generated {
            println!("neutrino bootstrap: created user 'admin' with password {password}");
        }
        println!("neutrino bootstrap: clouds.yaml for it written to {}", path.display());
    }
    Ok(())
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(text.as_bytes())
}

/// `neutrino bootstrap`: creates the admin user, project and roles in the store.
pub async fn bootstrap(args: BootstrapArgs) -> Result<(), ServerError> {
    let serve = ServeArgs { config: args.config, data_dir: args.data_dir, ..ServeArgs::default() };
    let app = build(load_config(&serve)?).await.map_err(|e| match e {
        ServerError::Store(locked @ StoreError::Locked { .. }) => ServerError::BootstrapWhileServing(locked),
        other => other,
    })?;
    ensure_bootstrapped(&app, Some(args.password)).await
}

/// `neutrino keys rotate`: adds a new signing key and drops the oldest beyond `keys_kept`.
///
/// With a `database_url` the keys live in the database: the staged key becomes primary, a
/// new one is staged, and every server on it re-reads them within seconds (the rotation is a
/// change on the feed). Otherwise the keys are `<data_dir>/keys`: running servers re-read
/// them within a minute (copy the key to every replica first). It then never opens the
/// store, so it takes no store lock and is safe while a server runs: each key file is
/// written aside and renamed into place, so a server reads whole keys only.
pub async fn rotate_keys(args: RotateArgs) -> Result<(), ServerError> {
    let serve = ServeArgs {
        config: args.config,
        data_dir: args.data_dir,
        database_url: args.database_url,
        ..ServeArgs::default()
    };
    let config = load_config(&serve)?;
    if !config.database_url.is_empty() {
        let store = open_store(&config, Durability::Full).await?;
        let keep = config.identity.keys_kept;
        let keys = store.write(move |tx| app::identity::stored_keys::rotate(tx, keep)).await?;
        let ids: Vec<u32> = keys.iter().map(|k| k.id).collect();
        let primary = keys.iter().rev().find(|k| !k.staged).map_or(0, |k| k.id);
        println!("key {primary} is now primary in the database, the next one staged; keys kept: {ids:?}");
        return Ok(());
    }
    let dir = config.data_dir.join("keys");
    let mut keys =
        neutrino_identity::KeyRepository::open_or_create(&dir).map_err(|e| ServerError::Identity(e.to_string()))?;
    let id = keys.rotate(config.identity.keys_kept).map_err(|e| ServerError::Identity(e.to_string()))?;
    println!("key {id} is now primary in {}; keys kept: {:?}", dir.display(), keys.ids());
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
