//! `starq sim`: run simulated nodes standalone, with traffic and agent phones, until told to
//! stop; then write the ground truth.

use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::node::config::NodeConfig;
use crate::phones::PhoneScript;
use crate::rng::Dist;
use crate::sim::{Sim, SimConfig};
use crate::traffic::{TrafficProfile, run_traffic};

/// Arguments of `starq sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Number of simulated Asterisk nodes.
    #[arg(long, default_value_t = 1)]
    pub nodes: usize,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,
    /// Port of node 0 (node i listens on base-port + i); 0 for ephemeral ports.
    #[arg(long, default_value_t = 8088)]
    pub base_port: u16,
    /// ARI user name.
    #[arg(long, default_value = "starq", env = "STARQ_SIM_USER")]
    pub username: String,
    /// ARI password.
    #[arg(long, default_value = "starq", env = "STARQ_SIM_PASSWORD")]
    pub password: String,
    /// Stasis application the generated callers enter.
    #[arg(long, default_value = "starq")]
    pub app: String,
    /// Traffic: none, light, steady, busy, day, or a path to a JSON `TrafficProfile`.
    #[arg(long, default_value = "none")]
    pub traffic: String,
    /// Agent phones PJSIP/1001 … PJSIP/(1000+N), answering after 2-6 s, talking ~3 min.
    #[arg(long, default_value_t = 0)]
    pub agents: u32,
    /// A JSON file with a list of phone scripts (`PhoneScript`), added to `--agents`.
    #[arg(long)]
    pub phones: Option<PathBuf>,
    /// Seed of every random choice.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Where to write the ground truth (JSON lines) on exit.
    #[arg(long)]
    pub truth_out: Option<PathBuf>,
    /// Serve the fault-injection API (kill, restore, drop WebSockets, …) on this port of
    /// `--host`; see the `control` module.
    #[arg(long)]
    pub control_port: Option<u16>,
}

/// Runs the simulation until `shutdown` resolves.
pub async fn run(args: SimArgs, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let profile = load_profile(&args.traffic, &args.app)?;
    let mut phones: Vec<PhoneScript> = (1..=args.agents).map(|i| agent_phone(1000 + i)).collect();
    if let Some(path) = &args.phones {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("--phones {}", path.display()))?;
        let scripted: Vec<PhoneScript> = serde_json::from_str(&text).with_context(|| {
            format!("--phones {}: not a JSON list of phone scripts", path.display())
        })?;
        phones.extend(scripted);
    }
    let mut node = NodeConfig::for_index(0);
    node.username = args.username.clone();
    node.password = args.password.clone();
    let cfg = SimConfig {
        nodes: args.nodes,
        host: args.host,
        base_port: args.base_port,
        seed: args.seed,
        node,
        phones,
    };
    let sim = std::sync::Arc::new(Sim::start(cfg).await?);
    if let Some(port) = args.control_port {
        let addr = std::net::SocketAddr::new(args.host, port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("--control-port {port}"))?;
        say(format_args!("control http://{addr}"));
        let app = crate::control::router(std::sync::Arc::clone(&sim));
        tokio::spawn(async move { axum::serve(listener, app).await });
    }
    for n in sim.nodes() {
        let url = n.base_url();
        tracing::info!(node = n.index(), %url, asterisk_id = n.asterisk_id(), "node up");
        say(format_args!("node {} {} asterisk_id={}", n.index(), n.base_url(), n.asterisk_id()));
    }
    let stop = CancellationToken::new();
    let traffic = tokio::spawn(run_traffic(sim.nodes().to_vec(), profile, args.seed, stop.clone()));
    shutdown.await;
    stop.cancel();
    let _ = traffic.await;
    if let Some(path) = &args.truth_out {
        let file =
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
        sim.dump_truth(std::io::BufWriter::new(file))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    sim.shutdown();
    Ok(())
}

fn agent_phone(number: u32) -> PhoneScript {
    PhoneScript {
        answer_probability: 0.9,
        answer_delay: Dist::Uniform { min_ms: 2_000, max_ms: 6_000 },
        talk_time: Dist::Exp { mean_ms: 180_000 },
        ..PhoneScript::answering(format!("PJSIP/{number}"), 0, 0)
    }
}

fn load_profile(spec: &str, app: &str) -> anyhow::Result<TrafficProfile> {
    if let Some(p) = TrafficProfile::named(spec, app) {
        return Ok(p);
    }
    let text = std::fs::read_to_string(spec)
        .with_context(|| format!("--traffic {spec}: not a built-in profile nor a readable file"))?;
    serde_json::from_str(&text)
        .with_context(|| format!("--traffic {spec}: not a valid traffic profile"))
}

/// Prints a line for whoever started the simulator. A reader that went away (`starq sim | head`)
/// is no reason to stop serving: the line is dropped, where `println!` would panic.
fn say(line: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}
