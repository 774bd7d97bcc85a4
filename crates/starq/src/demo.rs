//! `starq demo`: a call center on simulated Asterisk nodes, run by the real engine over real
//! ARI (HTTP and WebSocket on loopback), with the embedded store. It prints a line of live
//! figures every second and a summary at the end, checked against the simulator's ground truth.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use starq_core::QueueId;
use starq_core::config::{Announcements, PositionAnnounce, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_core::strategy::Strategy;
use starq_engine::{Settings, ShellHandle};

use crate::simulated;
use starq_sim::phones::PhoneScript;
use starq_sim::rng::Dist;
use starq_sim::traffic::{QueueLoad, TrafficProfile, run_traffic};
use starq_sim::truth::{CallerRecord, Outcome as Truth};
use starq_sim::{Sim, SimConfig};
use starq_store::{MemoryStore, RedisOptions, RedisStore, Store};
use tokio_util::sync::CancellationToken;

/// Options of `starq demo`.
#[derive(Debug, clap::Args)]
pub(crate) struct DemoArgs {
    /// Seconds during which callers keep arriving (calls in progress then finish).
    #[arg(long, default_value_t = 60)]
    duration: u64,
    /// Agents.
    #[arg(long, default_value_t = 12)]
    agents: usize,
    /// Mean new callers per second (Poisson).
    #[arg(long, default_value_t = 1.0)]
    rate: f64,
    /// Seed of the simulated callers and phones.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Keep shared state in Redis at this URL (e.g. redis://127.0.0.1:6379) instead of the
    /// embedded store.
    #[arg(long)]
    redis: Option<String>,
}

const QUEUE: &str = "support";
const SERVICE_LEVEL: Duration = Duration::from_secs(20);

pub(crate) async fn run(args: DemoArgs) -> anyhow::Result<()> {
    match args.redis.clone() {
        None => run_on(args, Arc::new(MemoryStore::new()), "embedded store").await,
        Some(url) => {
            // A fresh site per run, so an earlier demo's state never mixes in.
            let site = format!("demo-{}", std::process::id());
            let store = RedisStore::connect(RedisOptions::new(url.clone(), site))
                .await
                .with_context(|| format!("--redis {url}: cannot use Redis"))?;
            run_on(args, Arc::new(store), "Redis store").await
        }
    }
}

async fn run_on<S: Store>(args: DemoArgs, store: Arc<S>, store_name: &str) -> anyhow::Result<()> {
    anyhow::ensure!(args.agents > 0, "--agents must be at least 1");
    anyhow::ensure!(args.rate > 0.0 && args.rate.is_finite(), "--rate must be a positive number");
    let mut cfg = SimConfig::local(2, args.seed);
    cfg.phones = (0..args.agents).map(phone).collect();
    let sim = Sim::start(cfg).await.context("cannot start the simulated nodes")?;
    let stop_engine = CancellationToken::new();
    let (shell, task) = {
        let stop = stop_engine.clone();
        starq_engine::start(
            Arc::clone(&store),
            vec![queue()],
            simulated::agents(args.agents, "agent-", QUEUE, |i| u32::from(i % 3 == 2)),
            simulated::nodes(&sim),
            settings(args.seed),
            async move {
                stop.cancelled().await;
            },
        )
        .await?
    };
    for i in 0..args.agents {
        shell
            .send(Input::Agent { agent: format!("agent-{i}").into(), action: AgentAction::Login })
            .await;
    }
    println!(
        "starq demo: 2 simulated Asterisk nodes, {} agents, {:.1} callers/s for {} s, {store_name}",
        args.agents, args.rate, args.duration
    );
    let stop_traffic = CancellationToken::new();
    let mut load = QueueLoad::steady("starq", QUEUE, args.rate);
    load.patience = Some(Dist::Uniform { min_ms: 20_000, max_ms: 120_000 });
    let traffic = tokio::spawn(run_traffic(
        sim.nodes().to_vec(),
        TrafficProfile { queues: vec![load] },
        args.seed,
        stop_traffic.clone(),
    ));
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    let mut second = 0u64;
    let drain_limit = args.duration + 150;
    loop {
        ticker.tick().await;
        second += 1;
        if second == args.duration {
            stop_traffic.cancel();
        }
        let open = live_line(second, &sim, store.as_ref(), &shell).await;
        if (second >= args.duration && open == 0) || second >= drain_limit {
            break;
        }
    }
    stop_traffic.cancel();
    traffic.await.context("traffic task failed")?;
    stop_engine.cancel();
    task.await.context("engine task failed")??;
    summary(&sim, store.as_ref(), &shell).await
}

fn phone(i: usize) -> PhoneScript {
    PhoneScript {
        answer_probability: 0.9,
        answer_delay: Dist::Uniform { min_ms: 1_000, max_ms: 4_000 },
        talk_time: Dist::Uniform { min_ms: 5_000, max_ms: 25_000 },
        ..PhoneScript::answering(format!("PJSIP/agent-{i}"), 0, 0)
    }
}

fn queue() -> QueueConfig {
    let mut q = QueueConfig::new(QUEUE);
    q.strategy = Strategy::LeastRecent;
    q.ring_timeout = Duration::from_secs(10);
    q.retry = Duration::from_secs(2);
    q.wrapup = Duration::from_secs(2);
    q.max_wait = Some(Duration::from_secs(90));
    q.service_level = SERVICE_LEVEL;
    q.announce = Announcements {
        frequency: Some(Duration::from_secs(20)),
        position: PositionAnnounce::Yes,
        ..Announcements::default()
    };
    q
}

fn settings(seed: u64) -> Settings {
    Settings {
        seed,
        node_down_after: Duration::from_secs(5),
        drain_grace: Duration::from_secs(2),
        ..Settings::new("demo")
    }
}

/// Figures over the callers the simulator saw.
#[derive(Default)]
struct Figures {
    arrived: usize,
    talking: usize,
    completed: usize,
    abandoned: usize,
    back_to_dialplan: usize,
    within_sl: usize,
    answered: usize,
    answer_ms: u64,
}

fn figures(callers: &[CallerRecord]) -> Figures {
    let mut f = Figures { arrived: callers.len(), ..Figures::default() };
    for c in callers {
        if let Some(connected) = c.connected_ms {
            f.answered += 1;
            let wait = connected.saturating_sub(c.entered_ms);
            f.answer_ms += wait;
            f.within_sl += usize::from(wait <= SERVICE_LEVEL.as_millis() as u64);
        }
        match &c.outcome {
            None if c.connected_ms.is_some() => f.talking += 1,
            Some(Truth::CallerHungUp | Truth::AgentHungUp) => f.completed += 1,
            Some(Truth::Abandoned) => f.abandoned += 1,
            Some(Truth::Continued { .. }) => f.back_to_dialplan += 1,
            _ => {}
        }
    }
    f
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 100.0 } else { 100.0 * part as f64 / whole as f64 }
}

/// Prints one line of live figures; returns how many callers are still in the system.
async fn live_line<S: Store>(second: u64, sim: &Sim, store: &S, shell: &ShellHandle) -> usize {
    let truth = sim.truth();
    let callers: Vec<CallerRecord> = truth.callers().cloned().collect();
    let f = figures(&callers);
    let view = store.queue(&QueueId::new(QUEUE)).await.ok().flatten().unwrap_or_default();
    let latency = shell
        .dispatch_latency()
        .map_or("-".to_owned(), |(p50, p99, _)| format!("{:.2}/{:.2} ms", ms(p50), ms(p99)));
    println!(
        "{second:>4}s  waiting {:>3}  ringing {:>3}  talking {:>3}  | done {:>4}  abandoned {:>3}  | SL {:>5.1}%  dispatch p50/p99 {latency}",
        view.callers.saturating_sub(view.ringing),
        view.ringing,
        f.talking,
        f.completed,
        f.abandoned,
        percent(f.within_sl, f.answered + f.abandoned),
    );
    callers.iter().filter(|c| c.outcome.is_none()).count()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn summary<S: Store>(sim: &Sim, store: &S, shell: &ShellHandle) -> anyhow::Result<()> {
    let callers: Vec<CallerRecord> = sim.truth().callers().cloned().collect();
    let f = figures(&callers);
    let journal = store.read_journal("demo", 1_000_000).await?;
    let journaled_completions =
        journal.iter().filter(|e| matches!(e.event, JournalEvent::Completed { .. })).count();
    let journaled_abandons = journal
        .iter()
        .filter(|e| {
            matches!(e.event, JournalEvent::Left { outcome: starq_core::Outcome::Abandoned, .. })
        })
        .count();
    println!();
    println!("{:<34} {:>10}", "callers", f.arrived);
    println!("{:<34} {:>10}", "answered by an agent", f.answered);
    println!("{:<34} {:>10}", "completed", f.completed);
    println!("{:<34} {:>10}", "abandoned while waiting", f.abandoned);
    println!("{:<34} {:>10}", "sent back to the dialplan", f.back_to_dialplan);
    println!(
        "{:<34} {:>9.1}%",
        format!("service level ({} s, SL2)", SERVICE_LEVEL.as_secs()),
        percent(f.within_sl, f.answered + f.abandoned)
    );
    let asa = if f.answered == 0 { 0.0 } else { f.answer_ms as f64 / f.answered as f64 / 1000.0 };
    println!("{:<34} {:>9.1}s", "average speed of answer", asa);
    if let Some((p50, p99, n)) = shell.dispatch_latency() {
        println!(
            "{:<34} {:>7.2} ms  (p99 {:.2} ms, {n} offers)",
            "dispatch latency p50",
            ms(p50),
            ms(p99)
        );
    }
    let agrees = journaled_completions == f.completed && journaled_abandons == f.abandoned;
    println!(
        "{:<34} {:>10}",
        "journal agrees with ground truth",
        if agrees { "yes" } else { "NO" }
    );
    anyhow::ensure!(
        agrees,
        "starq journaled {journaled_completions} completions and {journaled_abandons} abandons; the simulator saw {} and {}",
        f.completed,
        f.abandoned
    );
    Ok(())
}
