//! Runs the server without the CLI, for profiling: `cargo run --release -p neutrino-server
//! --example devserver -- 127.0.0.1:9797 /tmp/neutrino-dev`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests and benches may unwrap

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:9797".into()).parse()?;
    let data_dir = args.next().unwrap_or_else(|| "/tmp/neutrino-dev".into()).into();
    let serve = neutrino_server::ServeArgs {
        listen: Some(listen),
        data_dir: Some(data_dir),
        noauth: true,
        ..Default::default()
    };
    neutrino_server::run(serve).await?;
    Ok(())
}
