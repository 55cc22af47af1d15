//! The neutrino API server (stub: being written).
use std::path::PathBuf;

/// Command-line arguments of `neutrino server`; each overrides the config file.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address and port to listen on (default 127.0.0.1:9696).
    #[arg(long)]
    pub listen: Option<String>,
    /// Directory of the embedded store.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// TOML config file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Treat every request as admin of the project in X-Project-Id (development only).
    #[arg(long)]
    pub noauth: bool,
}

/// Failures that stop the server.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("not implemented yet")]
    Unimplemented,
}

/// Runs the server until interrupted.
pub async fn run(_args: ServeArgs) -> Result<(), ServerError> {
    Err(ServerError::Unimplemented)
}
