//! `starq demo`: a call center on simulated Asterisk nodes, run by the real engine over real
//! ARI (HTTP and WebSocket on loopback), with the embedded store, and its reports written to
//! SQLite and a `queue_log` file. It prints a line of live figures every second and a summary
//! at the end, checked against the simulator's ground truth and against the reports.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use starq_core::config::{Announcements, PositionAnnounce, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_core::strategy::Strategy;
use starq_core::{QueueId, Time};
use starq_engine::{Settings, ShellHandle};
use starq_report::sql::AnyPool;
use starq_report::{ReportConfig, queries};

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
    /// SQLite file the reports go to (call records, agent sessions, the queue_log table),
    /// replaced at each run; the queue_log file is written beside it (`.queue_log`).
    #[arg(long, default_value = "starq-demo.sqlite")]
    reports: PathBuf,
}

const QUEUE: &str = "support";
const SERVICE_LEVEL: Duration = Duration::from_secs(20);
/// The journal consumer group of the end-of-run summary.
const SUMMARY_GROUP: &str = "demo-summary";

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
    let agents = simulated::agents(args.agents, "agent-", QUEUE, |i| u32::from(i % 3 == 2));
    // The summary reads the journal too: its group exists from the start, so the reporter's
    // acknowledgements do not let the store drop what the summary has yet to read.
    store.read_journal(SUMMARY_GROUP, 1).await.context("cannot read the journal")?;
    let (report, queue_log) = report_settings(&args.reports)?;
    let routing_stopped = CancellationToken::new();
    let (report_status, reporter) = {
        let stopped = routing_stopped.clone();
        let shutdown = async move { stopped.cancelled().await };
        let reporter = crate::reports::reporter(&report, &agents, &args.reports)?;
        crate::reports::start(reporter, Arc::clone(&store), shutdown)
    };
    let started = wall_clock();
    let stop_engine = CancellationToken::new();
    let (shell, task) = {
        let stop = stop_engine.clone();
        starq_engine::start(
            Arc::clone(&store),
            vec![queue()],
            agents,
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
    outln!(
        "starq demo: 2 simulated Asterisk nodes, {} agents, {:.1} callers/s for {} s, {store_name}",
        args.agents,
        args.rate,
        args.duration
    )?;
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
        let open = live_line(second, &sim, store.as_ref(), &shell).await?;
        if (second >= args.duration && open == 0) || second >= drain_limit {
            break;
        }
    }
    stop_traffic.cancel();
    traffic.await.context("traffic task failed")?;
    stop_engine.cancel();
    task.await.context("engine task failed")??;
    routing_stopped.cancel();
    reporter.await.context("reporter task failed")?;
    let written = report_status.get();
    summary(&sim, store.as_ref(), &shell).await?;
    reports_summary(&sim, &report, &queue_log, started, written.records_written).await
}

/// The demo's report settings: SQLite at `path` (replaced) and a queue_log file beside it.
fn report_settings(path: &Path) -> anyhow::Result<(ReportConfig, PathBuf)> {
    let queue_log = path.with_extension("queue_log");
    for old in [path.to_path_buf(), queue_log.clone(), queue_log.with_extension("queue_log.pos")] {
        match std::fs::remove_file(&old) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("cannot replace {}", old.display()));
            }
            _ => {}
        }
    }
    let config = ReportConfig {
        sql_url: Some(format!("sqlite://{}", path.display())),
        queue_log_file: Some(queue_log.clone()),
        shutdown_grace_ms: 10_000,
        ..ReportConfig::default()
    };
    Ok((config, queue_log))
}

/// The wall clock, for the reports' time range.
#[allow(clippy::disallowed_methods)]
fn wall_clock() -> Time {
    let since =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    Time::from_millis(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
}

/// What the reports say, read back from SQLite with the documented queries, and whether they
/// agree with the simulator.
async fn reports_summary(
    sim: &Sim,
    report: &ReportConfig,
    queue_log: &Path,
    from: Time,
    written: u64,
) -> anyhow::Result<()> {
    let url = report.sql_url.as_deref().unwrap_or_default();
    let pool = AnyPool::connect_lazy(url).context("cannot open the demo's reports")?;
    let to = wall_clock() + Duration::from_secs(1);
    let whole = Duration::from_millis(to.since(from).as_millis() as u64 + 1);
    let stats = queries::interval_stats(&pool, from, to, whole, SERVICE_LEVEL)
        .await
        .context("cannot read the demo's reports")?;
    pool.close().await;
    let lines = std::fs::read_to_string(queue_log).map_or(0, |t| t.lines().count());
    let f = figures(&sim.truth().callers().cloned().collect::<Vec<_>>());
    // The range is one interval long but not aligned to the epoch as intervals are: it can
    // fall in two.
    let mut rows = stats.into_iter().filter(|s| s.queue == QUEUE);
    let first = rows.next().unwrap_or_default();
    let row = rows.fold(first, |total, later| total.and_then(&later));
    outln!()?;
    outln!(
        "reports: {written} journal records written to {} and {} ({lines} queue_log lines)",
        url,
        queue_log.display()
    )?;
    let pct = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{:.1}%", v * 100.0));
    let secs =
        |v: Option<Duration>| v.map_or("-".to_owned(), |v| format!("{:.1}s", v.as_secs_f64()));
    outln!("{:<34} {:>10}", "  callers (queue_calls)", row.offered)?;
    outln!("{:<34} {:>10}", "  answered", row.answered)?;
    outln!("{:<34} {:>10}", "  service level (SL)", pct(row.service_level()))?;
    outln!("{:<34} {:>10}", "  service level (SL2)", pct(row.service_level2()))?;
    outln!("{:<34} {:>10}", "  abandon rate", pct(row.abandon_rate()))?;
    outln!("{:<34} {:>10}", "  average speed of answer", secs(row.average_speed_of_answer()))?;
    outln!("{:<34} {:>10}", "  average handle time", secs(row.average_handle_time()))?;
    let agrees = row.answered as usize == f.answered && row.abandoned as usize == f.abandoned;
    outln!(
        "{:<34} {:>10}",
        "  reports agree with ground truth",
        if agrees { "yes" } else { "NO" }
    )?;
    anyhow::ensure!(
        agrees,
        "the reports count {} answered and {} abandoned; the simulator saw {} and {}",
        row.answered,
        row.abandoned,
        f.answered,
        f.abandoned
    );
    Ok(())
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
async fn live_line<S: Store>(
    second: u64,
    sim: &Sim,
    store: &S,
    shell: &ShellHandle,
) -> std::io::Result<usize> {
    let truth = sim.truth();
    let callers: Vec<CallerRecord> = truth.callers().cloned().collect();
    let f = figures(&callers);
    let view = store.queue(&QueueId::new(QUEUE)).await.ok().flatten().unwrap_or_default();
    let latency = shell
        .dispatch_latency()
        .map_or("-".to_owned(), |(p50, p99, _)| format!("{:.2}/{:.2} ms", ms(p50), ms(p99)));
    outln!(
        "{second:>4}s  waiting {:>3}  ringing {:>3}  talking {:>3}  | done {:>4}  abandoned {:>3}  | SL {:>5.1}%  dispatch p50/p99 {latency}",
        view.callers.saturating_sub(view.ringing),
        view.ringing,
        f.talking,
        f.completed,
        f.abandoned,
        percent(f.within_sl, f.answered + f.abandoned),
    )?;
    Ok(callers.iter().filter(|c| c.outcome.is_none()).count())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

async fn summary<S: Store>(sim: &Sim, store: &S, shell: &ShellHandle) -> anyhow::Result<()> {
    let callers: Vec<CallerRecord> = sim.truth().callers().cloned().collect();
    let f = figures(&callers);
    let journal = store.read_journal(SUMMARY_GROUP, 1_000_000).await?;
    let journaled_completions =
        journal.iter().filter(|e| matches!(e.event, JournalEvent::Completed { .. })).count();
    let journaled_abandons = journal
        .iter()
        .filter(|e| {
            matches!(e.event, JournalEvent::Left { outcome: starq_core::Outcome::Abandoned, .. })
        })
        .count();
    outln!()?;
    outln!("{:<34} {:>10}", "callers", f.arrived)?;
    outln!("{:<34} {:>10}", "answered by an agent", f.answered)?;
    outln!("{:<34} {:>10}", "completed", f.completed)?;
    outln!("{:<34} {:>10}", "abandoned while waiting", f.abandoned)?;
    outln!("{:<34} {:>10}", "sent back to the dialplan", f.back_to_dialplan)?;
    outln!(
        "{:<34} {:>9.1}%",
        format!("service level ({} s, SL2)", SERVICE_LEVEL.as_secs()),
        percent(f.within_sl, f.answered + f.abandoned)
    )?;
    let asa = if f.answered == 0 { 0.0 } else { f.answer_ms as f64 / f.answered as f64 / 1000.0 };
    outln!("{:<34} {:>9.1}s", "average speed of answer", asa)?;
    if let Some((p50, p99, n)) = shell.dispatch_latency() {
        outln!(
            "{:<34} {:>7.2} ms  (p99 {:.2} ms, {n} offers)",
            "dispatch latency p50",
            ms(p50),
            ms(p99)
        )?;
    }
    let agrees = journaled_completions == f.completed && journaled_abandons == f.abandoned;
    outln!("{:<34} {:>10}", "journal agrees with ground truth", if agrees { "yes" } else { "NO" })?;
    anyhow::ensure!(
        agrees,
        "starq journaled {journaled_completions} completions and {journaled_abandons} abandons; the simulator saw {} and {}",
        f.completed,
        f.abandoned
    );
    Ok(())
}
