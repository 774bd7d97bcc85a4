//! `starq bench --saturate`: agents kept busy by a standing queue, and how close starq comes to
//! the zero-gap limit.
//!
//! A call center is saturated when callers wait for every agent. Then each agent's phone goes
//! from one call to the next, and the calls answered per second are bounded by the agents
//! divided by the time each agent leg lives (from its dial to its hang-up): the zero-gap limit,
//! reached only if the next leg rings the moment the last one ends. What starq adds is the gap:
//! the agent's hang-up reaching starq, the store's decision, the leg's creation, its entry into
//! the app, its dial. This scenario places all its callers at once on simulated Asterisk nodes
//! whose agents are `Local/<n>@agents` channels (answer at once, talk, hang up), as the live
//! comparison with `app_queue` did, and reads every leg from the simulator's ground truth:
//! lifetime, gap to the agent's next leg, and whether it rang at all.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use starq_core::config::{AgentConfig, Contact, Membership, QueueConfig};
use starq_core::engine::Input;
use starq_core::journal::JournalEvent;
use starq_core::shared::AgentAction;
use starq_core::strategy::Strategy;
use starq_engine::Settings;
use starq_sim::{CallSpec, Sim, SimConfig};
use starq_store::{MemoryStore, Store};
use tokio_util::sync::CancellationToken;

use crate::simulated;

const QUEUE: &str = "saturated";

/// One saturated call center: `agents` talking `talk` per call, `callers` placed at once.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scenario {
    pub(crate) agents: usize,
    pub(crate) talk: Duration,
    pub(crate) callers: usize,
}

/// The scenarios the live comparison with `app_queue` on Asterisk 22.10.1 ran.
pub(crate) const SCENARIOS: [Scenario; 2] = [
    Scenario { agents: 5, talk: Duration::from_secs(2), callers: 50 },
    Scenario { agents: 20, talk: Duration::from_secs(1), callers: 400 },
];

/// What one run measured.
struct Outcome {
    /// Mean agent-leg lifetime, dial to hang-up.
    lifetime_ms: f64,
    /// Mean time from an agent's leg hanging up to its next leg's dial.
    gap_ms: f64,
    gap_p99_ms: f64,
    /// Offers whose leg never rang (created, never dialed), and offers rung out unanswered.
    never_rang: usize,
    rang_out: usize,
    /// Callers answered.
    answered: usize,
}

impl Outcome {
    /// Calls per second if every next leg rang the moment the last one ended.
    fn zero_gap(&self, agents: usize) -> f64 {
        agents as f64 * 1000.0 / self.lifetime_ms
    }

    /// Calls per second the agents actually took, each cycle being a lifetime and a gap.
    fn achieved(&self, agents: usize) -> f64 {
        agents as f64 * 1000.0 / (self.lifetime_ms + self.gap_ms)
    }
}

/// Runs each scenario on its own simulated site and prints one line per scenario.
pub(crate) fn run(scenarios: &[Scenario], nodes: usize, seed: u64) -> anyhow::Result<()> {
    outln!("starq bench --saturate: {nodes} simulated node(s), callers placed at once")?;
    outln!(
        "{:>6} {:>6} {:>7} {:>9} {:>11} {:>9} {:>9} {:>11} {:>11} {:>7} {:>10} {:>9}",
        "agents",
        "talk",
        "callers",
        "answered",
        "leg life",
        "gap mean",
        "gap p99",
        "zero-gap/s",
        "achieved/s",
        "ratio",
        "never rang",
        "rang out"
    )?;
    for (i, scenario) in scenarios.iter().enumerate() {
        let o = measure(*scenario, nodes, seed + i as u64)?;
        outln!(
            "{:>6} {:>5.1}s {:>7} {:>9} {:>9.1}ms {:>7.1}ms {:>7.1}ms {:>11.2} {:>11.2} {:>6.1}% {:>10} {:>9}",
            scenario.agents,
            scenario.talk.as_secs_f64(),
            scenario.callers,
            o.answered,
            o.lifetime_ms,
            o.gap_ms,
            o.gap_p99_ms,
            o.zero_gap(scenario.agents),
            o.achieved(scenario.agents),
            100.0 * o.achieved(scenario.agents) / o.zero_gap(scenario.agents),
            o.never_rang,
            o.rang_out
        )?;
    }
    Ok(())
}

/// The bench is the outside observer: it may sleep on the wall clock.
#[allow(clippy::disallowed_methods)]
fn measure(scenario: Scenario, nodes: usize, seed: u64) -> anyhow::Result<Outcome> {
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name(name)
            .enable_all()
            .build()
    };
    let (sim_rt, starq_rt) = (runtime("sim")?, runtime("starq")?);
    let mut cfg = SimConfig::local(nodes, seed);
    cfg.node.agents_talk = scenario.talk;
    let sim = sim_rt.block_on(Sim::start(cfg)).context("cannot start the simulated nodes")?;
    let store = Arc::new(MemoryStore::new());
    let stop = CancellationToken::new();
    let agents = local_agents(scenario.agents);
    let ids: Vec<_> = agents.iter().map(|a| a.id.clone()).collect();
    let (shell, task) = starq_rt.block_on({
        let (store, stop) = (Arc::clone(&store), stop.clone());
        let settings = Settings { originates_per_sec: 1_000, ..Settings::new("saturation") };
        starq_engine::start(
            store,
            vec![queue()],
            agents,
            simulated::nodes(&sim),
            settings,
            async move { stop.cancelled().await },
        )
    })?;
    starq_rt.block_on(async {
        for agent in ids {
            shell.send(Input::Agent { agent, action: AgentAction::Login }).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    });
    for i in 0..scenario.callers {
        let node = sim.node(i % nodes).context("node")?;
        let spec =
            CallSpec::new("starq", &[&format!("queue={QUEUE}")], (5_000_000 + i).to_string());
        node.place_call(&spec).context("caller placed")?;
    }
    // Every caller is served in about callers ÷ agents rounds of one talk each.
    let rounds = scenario.callers.div_ceil(scenario.agents) as u32;
    let deadline =
        std::time::Instant::now() + scenario.talk * (rounds * 2) + Duration::from_secs(10);
    while sim.truth().callers().any(|c| c.outcome.is_none()) {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "callers still waiting at the deadline"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let journal = starq_rt.block_on(store.read_journal("saturation", 1_000_000))?;
    stop.cancel();
    starq_rt.block_on(task).context("engine task")??;
    let offers = journal.iter().filter(|e| matches!(e.event, JournalEvent::Offered { .. })).count();
    let rang_out =
        journal.iter().filter(|e| matches!(e.event, JournalEvent::Missed { .. })).count();
    let truth = sim.truth();
    let answered = truth.callers().filter(|c| c.connected_ms.is_some()).count();
    let mut by_agent: BTreeMap<&str, Vec<(u64, u64)>> = BTreeMap::new();
    for ring in truth.rings() {
        if let Some(ended) = ring.ended_ms {
            by_agent.entry(ring.agent.as_str()).or_default().push((ring.at_ms, ended));
        }
    }
    let (mut lifetimes, mut gaps) = (Vec::new(), Vec::new());
    for legs in by_agent.values_mut() {
        legs.sort_unstable();
        lifetimes.extend(legs.iter().map(|(at, ended)| ended.saturating_sub(*at) as f64));
        gaps.extend(legs.windows(2).map(|w| w[1].0.saturating_sub(w[0].1) as f64));
    }
    anyhow::ensure!(!gaps.is_empty(), "no agent took two calls: too few callers");
    gaps.sort_by(f64::total_cmp);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    Ok(Outcome {
        lifetime_ms: mean(&lifetimes),
        gap_ms: mean(&gaps),
        gap_p99_ms: gaps[(gaps.len() * 99 / 100).min(gaps.len() - 1)],
        never_rang: offers.saturating_sub(truth.rings().len()),
        rang_out,
        answered,
    })
}

/// Agents `s0…` reached at `Local/<n>@agents` on every node: they answer at once, talk the
/// node's `agents_talk`, and hang up.
fn local_agents(n: usize) -> Vec<AgentConfig> {
    (0..n)
        .map(|i| {
            let mut a = AgentConfig::new(format!("s{i}"));
            a.memberships.push(Membership { queue: QUEUE.into(), penalty: 0 });
            a.contacts.push(Contact {
                endpoint: format!("Local/{}@agents", 1001 + i),
                nodes: Vec::new(),
            });
            a
        })
        .collect()
}

fn queue() -> QueueConfig {
    let mut q = QueueConfig::new(QUEUE);
    q.strategy = Strategy::LeastRecent;
    q.ring_timeout = Duration::from_secs(15);
    q.retry = Duration::ZERO;
    q.max_wait = None;
    q
}
