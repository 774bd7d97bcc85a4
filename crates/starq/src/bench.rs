//! `starq bench`: a load ramp through the real engine over real ARI against simulated nodes.
//!
//! The simulator and its traffic run on their own runtime (threads named `sim`), starq on the
//! main one (threads named `starq`), so the CPU each uses is read apart from
//! `/proc/self/task/*/stat`. For each step of the ramp: callers offered and answered, callers
//! lost (entered and never connected nor ended by their own patience), setups per second,
//! dispatch latency (input in hand → agent leg request sent) p50/p99, and starq's CPU per call
//! beside the simulated Asterisk's for the same calls, measured in the same run: the baseline.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use starq_core::config::QueueConfig;
use starq_core::engine::Input;
use starq_core::shared::AgentAction;
use starq_core::strategy::Strategy;
use starq_engine::Settings;

use crate::simulated;
use starq_sim::phones::PhoneScript;
use starq_sim::rng::Dist;
use starq_sim::traffic::{QueueLoad, TrafficProfile, run_traffic};
use starq_sim::truth::Outcome as Truth;
use starq_sim::{Sim, SimConfig};
use starq_store::MemoryStore;
use tokio_util::sync::CancellationToken;

/// Options of `starq bench`.
#[derive(Debug, clap::Args)]
pub(crate) struct BenchArgs {
    /// Offered calls per second at each step of the ramp, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,100,200,300")]
    rates: Vec<f64>,
    /// Seconds each step lasts.
    #[arg(long, default_value_t = 10)]
    step: u64,
    /// Simulated Asterisk nodes.
    #[arg(long, default_value_t = 4)]
    nodes: usize,
    /// Seed of the simulated traffic.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Instead of the ramp, keep agents busy with callers placed at once (5 agents talking
    /// 2 s with 50 callers, 20 agents talking 1 s with 400) and compare the calls answered
    /// per second with the zero-gap limit.
    #[arg(long)]
    saturate: bool,
}

const QUEUE: &str = "bench";
/// Longest a simulated call lasts (answer delay + talk): the grace before a step is judged.
const CALL_MAX: Duration = Duration::from_millis(1_800);

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.saturate {
        return crate::saturation::run(&crate::saturation::SCENARIOS, args.nodes, args.seed);
    }
    anyhow::ensure!(
        !args.rates.is_empty() && args.rates.iter().all(|r| *r > 0.0),
        "--rates must be positive"
    );
    let max_rate = args.rates.iter().copied().fold(0.0, f64::max);
    // Enough agents that nobody waits for lack of one: rate × call length, with headroom.
    let agents = ((max_rate * CALL_MAX.as_secs_f64() * 1.5).ceil() as usize).max(10);
    let sim_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("sim")
        .enable_all()
        .build()
        .context("simulator runtime")?;
    let starq_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("starq")
        .enable_all()
        .build()
        .context("starq runtime")?;
    let mut cfg = SimConfig::local(args.nodes, args.seed);
    cfg.phones = (0..agents).map(phone).collect();
    let sim = sim_rt.block_on(Sim::start(cfg)).context("cannot start the simulated nodes")?;
    let stop = CancellationToken::new();
    let (shell, task) = starq_rt.block_on(async {
        let stop = stop.clone();
        let store = Arc::new(MemoryStore::new());
        let settings = Settings {
            originates_per_sec: 1_000,
            drain_grace: Duration::from_secs(2),
            ..Settings::new("bench")
        };
        starq_engine::start(
            store,
            vec![queue()],
            simulated::agents(agents, "a", QUEUE, |_| 0),
            simulated::nodes(&sim),
            settings,
            async move { stop.cancelled().await },
        )
        .await
    })?;
    starq_rt.block_on(async {
        for i in 0..agents {
            shell
                .send(Input::Agent { agent: format!("a{i}").into(), action: AgentAction::Login })
                .await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    outln!(
        "starq bench: {} simulated nodes, {agents} agents, steps of {} s",
        args.nodes,
        args.step
    )?;
    outln!(
        "{:>8} {:>8} {:>8} {:>6} {:>10} {:>12} {:>12} {:>14} {:>12} {:>10}",
        "rate/s",
        "offered",
        "answered",
        "lost",
        "setups/s",
        "dispatch p50",
        "dispatch p99",
        "starq CPU/call",
        "sim CPU/call",
        "starq/sim"
    )?;
    for rate in &args.rates {
        let step = measure_step(&sim, &sim_rt, &shell, *rate, args.step, args.seed)?;
        outln!(
            "{rate:>8.0} {:>8} {:>8} {:>6} {:>10.1} {:>10.2}ms {:>10.2}ms {:>12.0}µs {:>10.0}µs {:>9.2}x",
            step.offered,
            step.answered,
            step.lost,
            step.setups_per_s,
            step.p50_ms,
            step.p99_ms,
            step.cpu_per_call_us,
            step.sim_cpu_per_call_us,
            step.cpu_per_call_us / step.sim_cpu_per_call_us.max(1.0)
        )?;
    }
    outln!(
        "peak memory (starq and simulator, one process): {} MiB",
        peak_rss_kib().unwrap_or(0) / 1024
    )?;
    stop.cancel();
    starq_rt.block_on(task).context("engine task")??;
    Ok(())
}

struct Step {
    offered: usize,
    answered: usize,
    lost: usize,
    setups_per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_per_call_us: f64,
    /// The simulated Asterisk's CPU for the same calls, in the same process: the baseline.
    sim_cpu_per_call_us: f64,
}

/// Timing and CPU readings are the bench's own business: it is the outside observer.
#[allow(clippy::disallowed_methods)]
fn measure_step(
    sim: &Sim,
    sim_rt: &tokio::runtime::Runtime,
    shell: &starq_engine::ShellHandle,
    rate: f64,
    secs: u64,
    seed: u64,
) -> anyhow::Result<Step> {
    let before: std::collections::BTreeSet<u64> = sim.truth().callers().map(|c| c.caller).collect();
    shell.take_dispatch_latency();
    let (starq_cpu0, sim_cpu0) = thread_cpu();
    let stop = CancellationToken::new();
    // One arrival process per node: a single generator's millisecond timer caps its rate.
    let loads = (0..sim.nodes().len())
        .map(|node| {
            let mut load = QueueLoad::steady("starq", QUEUE, rate / sim.nodes().len() as f64);
            load.nodes = Some(vec![node]);
            load.number_base = 1_000_000 * (node as u64 + 1);
            // Callers never give up: every one of them must be answered, or starq lost it.
            load.patience = None;
            load
        })
        .collect();
    let traffic = sim_rt.spawn(run_traffic(
        sim.nodes().to_vec(),
        TrafficProfile { queues: loads },
        seed,
        stop.clone(),
    ));
    std::thread::sleep(Duration::from_secs(secs));
    stop.cancel();
    sim_rt.block_on(traffic).context("traffic")?;
    std::thread::sleep(CALL_MAX + Duration::from_secs(2));
    let (starq_cpu1, sim_cpu1) = thread_cpu();
    let truth = sim.truth();
    let callers: Vec<_> = truth.callers().filter(|c| !before.contains(&c.caller)).collect();
    let answered = callers.iter().filter(|c| c.connected_ms.is_some()).count();
    let lost = callers
        .iter()
        .filter(|c| {
            c.connected_ms.is_none()
                || !matches!(c.outcome, Some(Truth::CallerHungUp | Truth::AgentHungUp))
        })
        .count();
    let (p50, p99, _) = shell.take_dispatch_latency().unwrap_or_default();
    Ok(Step {
        offered: callers.len(),
        answered,
        lost,
        setups_per_s: answered as f64 / secs as f64,
        p50_ms: p50.as_secs_f64() * 1000.0,
        p99_ms: p99.as_secs_f64() * 1000.0,
        cpu_per_call_us: (starq_cpu1 - starq_cpu0) * 1e6 / answered.max(1) as f64,
        sim_cpu_per_call_us: (sim_cpu1 - sim_cpu0) * 1e6 / answered.max(1) as f64,
    })
}

/// CPU seconds used so far by starq's threads and by the simulator's.
fn thread_cpu() -> (f64, f64) {
    let ticks = 100.0; // USER_HZ on Linux
    let (mut starq, mut sim) = (0.0, 0.0);
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return (0.0, 0.0) };
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        // `pid (comm) state ...`: comm may hold spaces, so split after the last ')'.
        let Some((head, rest)) = stat.rsplit_once(')') else { continue };
        let name = head.split_once('(').map_or("", |(_, n)| n);
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let cpu = fields
            .get(11..13)
            .map_or(0.0, |f| f.iter().filter_map(|v| v.parse::<f64>().ok()).sum::<f64>() / ticks);
        if name.starts_with("sim") {
            sim += cpu;
        } else {
            starq += cpu;
        }
    }
    (starq, sim)
}

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn phone(i: usize) -> PhoneScript {
    PhoneScript {
        answer_delay: Dist::Uniform { min_ms: 50, max_ms: 300 },
        talk_time: Dist::Uniform { min_ms: 500, max_ms: 1_500 },
        ..PhoneScript::answering(format!("PJSIP/a{i}"), 0, 0)
    }
}

fn queue() -> QueueConfig {
    let mut q = QueueConfig::new(QUEUE);
    q.strategy = Strategy::LeastRecent;
    q.ring_timeout = Duration::from_secs(5);
    q.retry = Duration::ZERO;
    q
}
