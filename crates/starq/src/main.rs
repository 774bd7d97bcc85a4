//! `starq`: the command line. It parses arguments, sets up logging and hands over to the
//! crates that do the work.

#![forbid(unsafe_code)]

/// `println!` that returns the write's `io::Result` instead of panicking when stdout is gone
/// (`starq check-config starq.toml | head`): callers pass the error up with `?`, and `main`
/// ends quietly on a broken pipe, as a filter's reader closing early is no failure.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod bench;
mod catalog;
mod catalog_cli;
mod demo;
mod import;
mod reports;
mod saturation;
mod simulated;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use starq_engine::config::{self, StoreChoice};
use starq_report::{ReportConfig, Reporter};
use starq_store::{MemoryStore, RedisOptions, RedisStore, Store};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A distributed call-center queue for Asterisk.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// Log as JSON lines instead of human-readable text.
    #[arg(long, global = true)]
    log_json: bool,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run a call center on simulated Asterisk nodes, with live figures (needs nothing installed).
    Demo(demo::DemoArgs),
    /// Serve the queues of a configuration file.
    Serve {
        /// The configuration (see docs/starq.example.toml).
        #[arg(long, short)]
        config: PathBuf,
    },
    /// Check a configuration file and say what it holds, or what is wrong with it.
    CheckConfig {
        /// The configuration file.
        file: PathBuf,
    },
    /// Measure dispatch latency, throughput and CPU under a load ramp on simulated nodes.
    Bench(bench::BenchArgs),
    /// Run simulated Asterisk nodes speaking ARI (for development and load tests).
    Sim(starq_sim::cli::SimArgs),
    /// Show and change the queues of the SQL catalog (--config starq.toml or --sql URL).
    Queues(catalog_cli::QueuesArgs),
    /// Show and change the agents of the SQL catalog (--config starq.toml or --sql URL).
    Agents(catalog_cli::AgentsArgs),
    /// Convert an app_queue configuration (queues.conf, queuerules.conf) into starq.toml,
    /// printing on stderr each line that could not be mapped (docs/import.md).
    Import {
        /// queues.conf (its #include files are read from its directory).
        file: PathBuf,
        /// queuerules.conf, for the queues' defaultrule.
        rules: Option<PathBuf>,
        /// Write the configuration to this file instead of stdout.
        #[arg(long, short, conflicts_with_all = ["sql", "config"])]
        out: Option<PathBuf>,
        /// Write it into this catalog instead (--sql URL, or --config starq.toml's [catalog]).
        #[command(flatten)]
        target: catalog_cli::Target,
        /// Replace the queues and agents the catalog holds (without it, only an empty catalog
        /// is written).
        #[arg(long)]
        replace: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.log_json, matches!(cli.command, Cmd::Demo(_) | Cmd::Bench(_)));
    let result = match cli.command {
        Cmd::CheckConfig { file } => check_config(&file),
        Cmd::Serve { config } => runtime().and_then(|rt| rt.block_on(serve(&config))),
        Cmd::Demo(args) => runtime().and_then(|rt| rt.block_on(demo::run(args))),
        Cmd::Bench(args) => bench::run(args),
        Cmd::Sim(args) => runtime().and_then(|rt| rt.block_on(starq_sim::cli::run(args, ctrl_c()))),
        Cmd::Queues(args) => runtime().and_then(|rt| rt.block_on(catalog_cli::queues(args))),
        Cmd::Agents(args) => runtime().and_then(|rt| rt.block_on(catalog_cli::agents(args))),
        Cmd::Import { file, rules, out, target, replace } => {
            let into = import::Into { out: out.as_deref(), catalog: &target, replace };
            import::run(&file, rules.as_deref(), into)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // Whoever read stdout stopped reading: nothing left to say, and nobody to say it to.
        Err(error) if broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("starq: {error:#}");
            // 64 (EX_USAGE) for configuration mistakes, as sysexits has it.
            if error.downcast_ref::<config::ConfigError>().is_some() {
                ExitCode::from(64)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// Whether `error` comes from writing to a stdout whose reader is gone.
fn broken_pipe(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn init_logging(json: bool, quiet: bool) {
    let default = if quiet { "warn" } else { "info" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().context("cannot start the async runtime")
}

/// Completes on Ctrl-C, or on SIGTERM.
async fn ctrl_c() {
    _ = signals().recv().await;
}

/// Forwards every Ctrl-C (SIGINT) and SIGTERM (what a supervisor sends to stop a service) to
/// the engine: the first drains, the second exits at once.
fn signals() -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            let term = async {
                match terminate.as_mut() {
                    Some(signal) => _ = signal.recv().await,
                    None => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                result = tokio::signal::ctrl_c() => {
                    if result.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                () = term => {}
            }
            if tx.send(()).await.is_err() {
                return;
            }
        }
    });
    rx
}

/// A configuration that passed every check short of connecting: the file's, the Redis URL's
/// (read as the Redis store reads it), the `[report]` section's and the reporter's (its
/// database URL parsed, the database not contacted). `check-config` and `serve` both start
/// here, so a file one accepts is a file the other runs.
struct Checked {
    config: config::Config,
    report: Option<(ReportConfig, Reporter)>,
}

/// Checks `path`; runs inside a tokio runtime (the reporter's lazy pool is built, not opened).
fn check(path: &Path) -> anyhow::Result<Checked> {
    let config = config::load(path)?;
    let report = match reports::settings(config.report.as_ref(), path, env)? {
        Some(settings) => {
            let reporter = reports::reporter(&settings, &config.agents, path)?;
            Some((settings, reporter))
        }
        None => None,
    };
    Ok(Checked { config, report })
}

fn check_config(file: &Path) -> anyhow::Result<()> {
    // The same checks as `serve`, in a runtime that never runs a task: nothing is contacted.
    let Checked { config, report } = runtime()?.block_on(async { check(file) })?;
    outln!("{}: ok", file.display())?;
    outln!(
        "  instance {} (lease {} s)",
        config.settings.instance,
        config.settings.lease_ttl.as_secs()
    )?;
    match &config.store {
        StoreChoice::Embedded => outln!("  store: embedded (one instance)")?,
        StoreChoice::Redis { site, .. } => outln!("  store: Redis, site {site}")?,
    }
    for node in &config.nodes {
        outln!("  node {} at {} (app {})", node.id, node.ari.ari_url, node.ari.app)?;
    }
    for queue in &config.queues {
        let members = config
            .agents
            .iter()
            .filter(|a| a.memberships.iter().any(|m| m.queue == queue.id))
            .count();
        outln!("  queue {}: {}, {} agents", queue.id, queue.strategy, members)?;
    }
    outln!("  {} agents", config.agents.len())?;
    match report {
        Some((report, _)) => {
            // The scheme only: the rest of a database URL may hold a password.
            let sql = report.sql_url.as_deref().map_or("no SQL".to_owned(), |url| {
                format!("SQL {}", url.split_once(':').map_or("(unknown)", |(scheme, _)| scheme))
            });
            let file = report
                .queue_log_file
                .as_ref()
                .map_or("no file".to_owned(), |f| format!("queue_log file {}", f.display()));
            outln!("  reports: {sql}, {file}")?;
        }
        None => outln!("  reports: none")?,
    }
    Ok(())
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

async fn serve(path: &Path) -> anyhow::Result<()> {
    let checked = check(path)?;
    match &checked.config.store {
        StoreChoice::Embedded => serve_on(Arc::new(MemoryStore::new()), checked, path).await,
        StoreChoice::Redis { url, site } => {
            let store = RedisStore::connect(RedisOptions::new(url.expose(), site.as_str()))
                .await
                .with_context(|| {
                format!("{}: store.redis_url: cannot use Redis", path.display())
            })?;
            serve_on(Arc::new(store), checked, path).await
        }
    }
}

async fn serve_on<S: Store>(store: Arc<S>, checked: Checked, path: &Path) -> anyhow::Result<()> {
    let Checked { config, report } = checked;
    tracing::info!(
        nodes = config.nodes.len(),
        queues = config.queues.len(),
        agents = config.agents.len(),
        "starting"
    );
    // Queues and agents from the catalog, followed while starq runs, or the file's for good.
    let stop_watching = CancellationToken::new();
    let (configuration, watcher) = match &config.catalog {
        Some(settings) => {
            let (rx, task) =
                catalog::follow(settings, path, &config, stop_watching.clone()).await?;
            (starq_engine::Configuration::Catalog(rx), Some(task))
        }
        None => {
            let (queues, agents) = (config.queues.clone(), config.agents.clone());
            (starq_engine::Configuration::File { queues, agents }, None)
        }
    };
    // The reporter outlives routing: once the engine has stopped, it writes what the journal
    // still holds.
    let routing_stopped = CancellationToken::new();
    let presence = report.as_ref().and_then(|(_, reporter)| reports::presence_record(reporter));
    let (report_status, reporter) = match report {
        Some((_, reporter)) => {
            let stopped = routing_stopped.clone();
            let shutdown = async move { stopped.cancelled().await };
            let (status, task) = reports::start(reporter, Arc::clone(&store), shutdown);
            (Some(status), Some(task))
        }
        None => (None, None),
    };
    let (shell, task) = starq_engine::start_configured(
        store,
        configuration,
        config.nodes,
        config.settings,
        signals(),
        presence,
    )
    .await?;
    if let Some(listen) = config.http_listen {
        starq_api::serve(listen, shell, report_status)
            .await
            .with_context(|| format!("http.listen: cannot listen on {listen}"))?;
    }
    let routed = task.await.context("the engine task failed");
    stop_watching.cancel();
    if let Some(watcher) = watcher {
        watcher.await.context("the catalog's watcher failed")?;
    }
    routing_stopped.cancel();
    if let Some(reporter) = reporter {
        reporter.await.context("the reporter task failed")?;
    }
    routed??;
    tracing::info!("stopped");
    Ok(())
}
