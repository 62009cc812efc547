//! `mock-server`: a vLLM-compatible mock inference server.

use std::net::SocketAddr;

use anyhow::Context;
use clap::Parser;
use mock_server::vllm_cli;
use mock_server::{Admin, App, Config, Identity};

/// A drop-in for vLLM's HTTP API and metrics, with knobs for latency,
/// queueing, CPU, memory and failures. Every flag has a MOCK_* variable.
/// `mock-server train --help`: a training process for Jobs instead;
/// `mock-server score --help`: one shard of a batch scoring Job;
/// `mock-server probe --help`: a client that reports what answered;
/// `mock-server devices --help`: the GPUs the container was given;
/// `mock-server load --help`: inferbench's in-cluster load generator.
#[derive(Debug, Parser)]
#[command(name = "mock-server", version, about, long_about = None)]
struct Cli {
    /// Address to listen on.
    #[arg(long, env = "MOCK_HOST", default_value = "0.0.0.0")]
    host: std::net::IpAddr,

    /// Port to listen on (vLLM's default is 8000).
    #[arg(long, env = "MOCK_PORT", default_value_t = 8000)]
    port: u16,

    /// Serve the admin API (`/admin/config`) on this port instead of the
    /// serving port, which then answers 404 under `/admin/`.
    #[arg(long, env = "MOCK_ADMIN_PORT", value_parser = clap::value_parser!(u16).range(1..))]
    admin_port: Option<u16>,

    /// No admin API at all: `/admin/*` answers 404 and the configuration
    /// stays what the flags and MOCK_* variables set.
    #[arg(long, env = "MOCK_NO_ADMIN", conflicts_with = "admin_port")]
    no_admin: bool,

    /// LoRA adapters loaded at start, as NAME=PATH (vLLM's `--lora-modules`);
    /// more load and unload at run time through `/v1/load_lora_adapter`.
    #[arg(
        long,
        env = "MOCK_LORA_MODULES",
        value_delimiter = ',',
        value_name = "NAME=PATH"
    )]
    lora_modules: Vec<String>,

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
    match rest.first().and_then(|a| a.to_str()) {
        Some("train") => return train(&rest).await,
        Some("score") => {
            let args = mock_server::score::ScoreArgs::parse_from(&rest);
            let summary = mock_server::score::run(&args)
                .await
                .with_context(|| format!("scoring into {}", args.out.display()))?;
            std::process::exit(mock_server::score::exit_code(&summary));
        }
        Some("score-check") => {
            let args = mock_server::score::CheckArgs::parse_from(&rest);
            mock_server::score::check(&args)
                .with_context(|| format!("reading the output in {}", args.out.display()))?;
            return Ok(());
        }
        Some("load") => {
            let args = mock_server::load::LoadArgs::parse_from(&rest);
            mock_server::load::run(&args)
                .await
                .map_err(|e| anyhow::anyhow!("load: {e}"))?;
            return Ok(());
        }
        Some("devices") => {
            let args = mock_server::devices::DevicesArgs::parse_from(&rest);
            mock_server::devices::run(&args)
                .with_context(|| format!("writing {}", args.summary.display()))?;
            return Ok(());
        }
        Some("probe") => {
            let args = mock_server::probe::ProbeArgs::parse_from(&rest);
            mock_server::probe::run(&args)
                .await
                .map_err(|e| anyhow::anyhow!("probing {}: {e}", args.url))?;
            return Ok(());
        }
        Some("train-ready") => {
            let args = mock_server::train::ReadyArgs::parse_from(&rest);
            match mock_server::train::ready(&args) {
                Ok(epoch) => {
                    println!("ready: a checkpoint of epoch {epoch}");
                    return Ok(());
                }
                Err(why) => {
                    eprintln!("not ready: {why}");
                    std::process::exit(1);
                }
            }
        }
        _ => {}
    }
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
    for spec in &cli.lora_modules {
        let (name, path) = mock_server::lora::parse_module(spec).map_err(anyhow::Error::msg)?;
        app.loras()
            .load(&name, &path, &app.config().served_model_names)
            .with_context(|| format!("--lora-modules {spec}"))?;
    }
    let addr = SocketAddr::new(cli.host, cli.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let local = listener
        .local_addr()
        .context("listener has no local address")?;
    let admin = match (cli.no_admin, cli.admin_port) {
        (true, _) => Admin::Off,
        (false, None) => Admin::OnServingPort,
        (false, Some(port)) => {
            let admin_addr = SocketAddr::new(cli.host, port);
            let l = tokio::net::TcpListener::bind(admin_addr)
                .await
                .with_context(|| format!("cannot listen on {admin_addr} for the admin API"))?;
            println!(
                "mock-server admin API on {}",
                l.local_addr()
                    .context("admin listener has no local address")?
            );
            Admin::Separate(l)
        }
    };
    // Tests and probes wait for this exact line.
    println!(
        "mock-server listening on {local} (pod {:?}, namespace {:?}, version {})",
        identity.pod,
        identity.namespace,
        app.config().version
    );
    mock_server::serve_with(listener, admin, app, shutdown_signal())
        .await
        .context("server failed")?;
    Ok(())
}

/// `mock-server train ...`: trains, then exits with the run's status.
async fn train(argv: &[std::ffi::OsString]) -> anyhow::Result<()> {
    let args = mock_server::train::TrainArgs::parse_from(argv);
    let summary = mock_server::train::train(&args, shutdown_signal())
        .await
        .with_context(|| {
            format!(
                "training with checkpoints in {}",
                args.checkpoint_dir
                    .as_deref()
                    .map_or("(none)".into(), |d| d.display().to_string())
            )
        })?;
    std::process::exit(mock_server::train::exit_code(&summary));
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

    #[test]
    fn the_admin_api_can_move_or_go() {
        use clap::Parser;
        let cli = super::Cli::try_parse_from(["mock-server", "--admin-port", "9000"])
            .expect("--admin-port parses");
        assert_eq!(cli.admin_port, Some(9000));
        let cli = super::Cli::try_parse_from(["mock-server", "--no-admin"]).expect("--no-admin");
        assert!(cli.no_admin);
        for bad in [
            vec!["mock-server", "--no-admin", "--admin-port", "9000"],
            vec!["mock-server", "--admin-port", "70000"],
            vec!["mock-server", "--admin-port", "0"],
        ] {
            assert!(super::Cli::try_parse_from(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn help_snapshot() {
        // A fixed width: clap wraps at the terminal's when another crate of
        // the build (goose) turns on its `wrap_help` feature.
        let help = super::Cli::command()
            .term_width(100)
            .render_help()
            .to_string();
        insta::assert_snapshot!("mock_server_help", help);
    }
}
