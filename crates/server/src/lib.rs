//! The neutrino API server: the OpenStack Networking API v2.0 over the embedded store.
//!
//! [`run`] is `neutrino server`: it loads the configuration, opens (and migrates) the store,
//! and serves until interrupted. [`build`] assembles the same service for in-process tests.

pub mod api;
pub mod app;
pub mod config;

use app::{App, SystemClock};
use axum::extract::Request;
use config::{Config, ConfigError};
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
    /// TOML config file (see docs/CONFIG.md).
    #[arg(long, value_name = "FILE", env = "NEUTRINO_CONFIG")]
    pub config: Option<PathBuf>,
    /// Development mode: every request is admin of the project in X-Project-Id.
    #[arg(long)]
    pub noauth: bool,
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
    #[error("server failed")]
    Serve(#[source] std::io::Error),
    #[error(
        "authentication is not available yet in this build: start the server with --noauth \
         (every request then acts as admin of the project in X-Project-Id)"
    )]
    AuthUnavailable,
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
    if args.noauth {
        config.noauth = true;
    }
    Ok(config)
}

/// Opens the store under `config.data_dir` and builds the application.
pub fn build(config: Config) -> Result<Arc<App>, ServerError> {
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
    let mut opts = SqliteOptions::new(config.data_dir.join("neutrino.db"));
    opts.durability = durability;
    let backend = SqliteBackend::open(&opts)?;
    Ok(App::new(Store::new(backend), config, Arc::new(SystemClock))?)
}

/// Serves the API on an already bound listener until `shutdown` resolves.
pub async fn serve(
    app: Arc<App>,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let router = api::router(app);
    let service = tower::service_fn(move |req: Request| {
        let router = router.clone();
        async move { router.oneshot(api::strip_json_suffix(req)).await }
    });
    axum::serve(listener, tower::make::Shared::new(service))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServerError::Serve)
}

/// `neutrino server`: runs until SIGINT/SIGTERM.
pub async fn run(args: ServeArgs) -> Result<(), ServerError> {
    let config = load_config(&args)?;
    if !config.noauth {
        return Err(ServerError::AuthUnavailable);
    }
    if !config.listen.ip().is_loopback() {
        tracing::warn!(listen = %config.listen, "noauth mode on a non-loopback address: anyone who can reach it is admin");
    }
    let listen = config.listen;
    let app = build(config)?;
    let listener =
        tokio::net::TcpListener::bind(listen).await.map_err(|source| ServerError::Listen { addr: listen, source })?;
    tracing::info!(%listen, "neutrino server listening");
    serve(app, listener, shutdown_signal()).await
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
