//! `mock-server`: a vLLM-compatible mock inference server.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use mock_server::vllm_cli;
use mock_server::{App, Config, Identity};

/// A drop-in for vLLM's HTTP API and metrics, with knobs for latency,
/// queueing, CPU, memory and failures. Every flag has a MOCK_* variable.
#[derive(Debug, Parser)]
#[command(name = "mock-server", version, about, long_about = None)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "MOCK_HOST", default_value = "0.0.0.0")]
    host: std::net::IpAddr,

    /// Port to listen on (vLLM's default is 8000).
    #[arg(long, env = "MOCK_PORT", default_value_t = 8000)]
    port: u16,

    /// Log filter (tracing's EnvFilter syntax).
    #[arg(long, env = "MOCK_LOG", default_value = "info")]
    log: String,

    #[command(flatten)]
    config: Config,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut argv = std::env::args_os();
    let program = argv
        .next()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rest: Vec<std::ffi::OsString> = argv.collect();
    let vllm = if vllm_cli::is_vllm_invocation(&program, &rest) {
        Some(vllm_cli::translate(&rest).map_err(|e| anyhow::anyhow!("vllm: {e}"))?)
    } else {
        None
    };
    let mut cli = match &vllm {
        Some(t) => Cli::parse_from(std::iter::once("mock-server".into()).chain(t.args.clone())),
        None => Cli::parse_from(std::iter::once(std::ffi::OsString::from(&program)).chain(rest)),
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_new(&cli.log).context("invalid --log filter")?,
        )
        .with_ansi(false)
        .init();
    if let Some(t) = &vllm {
        // vLLM opens its port only once the model is loaded; do the same.
        let load = std::mem::take(&mut cli.config.model_load_ms);
        tracing::info!(
            model = t.model.as_deref().unwrap_or("(none)"),
            ignored = ?t.ignored,
            "vllm serve: the mock stands in for vLLM; loading for {load} ms before listening"
        );
        tokio::time::sleep(std::time::Duration::from_millis(load)).await;
    }
    let identity = Identity::from_env();
    let app = App::new(cli.config, identity.clone()).context("invalid configuration")?;
    let addr = SocketAddr::new(cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .context("listener has no local address")?;
    // Tests and probes wait for this exact line.
    println!(
        "mock-server listening on {local} (pod {:?}, namespace {:?}, version {})",
        identity.pod,
        identity.namespace,
        app.config().version
    );
    mock_server::serve(listener, app, shutdown_signal())
        .await
        .context("server failed")?;
    Ok(())
}

/// Resolves on SIGTERM (Kubernetes) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod cli_tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        // clap's debug assertions: no two arguments share a flag (the
        // served version once clashed with clap's own --version).
        super::Cli::command().debug_assert();
    }
}
