//! Configurations at the edges: every numeric setting of queues and agents at its least, at
//! the largest `starq.toml` accepts (`starq_core::config::limits`), or at the largest its type
//! holds (what a configuration built in code, or parsed elsewhere, could still hand the core),
//! driven through arrivals, offers, answers, missed offers, hang-ups by either side, exit keys,
//! agents pausing and logging out, and wrap-up, with time jumping to every deadline, however
//! far. The engine and the memory store must neither panic nor break an invariant, and every
//! call returns (a timer re-armed for the instant it fired must not spin).

use std::collections::BTreeMap;
use std::ops::RangeInclusive;
use std::time::Duration;

use proptest::prelude::*;
use starq_core::config::limits::{self, DAY};
use starq_core::config::{
    AgentConfig, Announcements, AnswerMode, AutoPause, AutoPauseScope, Contact, Destination,
    EmptyConditions, HoldtimeAnnounce, MemberCondition, Membership, Overflow, PenaltyChange,
    PenaltyRule, PenaltyStep, PositionAnnounce, QueueConfig,
};
use starq_core::engine::{Arrival, ChannelAction, Command, Engine, Input};
use starq_core::shared::{AgentAction, Miss};
use starq_core::strategy::Strategy as Routing;
use starq_core::{AgentId, Epoch, Fence, NodeId, QueueId, ReservationId, Time};
use starq_store::MemoryStore;

const QUEUES: usize = 2;
const AGENTS: usize = 3;

/// A duration setting: its least, its largest accepted, one in between, or far beyond.
fn secs(range: RangeInclusive<u64>) -> BoxedStrategy<Duration> {
    let (min, max) = (*range.start(), *range.end());
    prop_oneof![
        Just(Duration::from_secs(min)),
        Just(Duration::from_secs(max)),
        range.prop_map(Duration::from_secs),
        Just(Duration::ZERO),
        Just(Duration::from_secs(u64::MAX)),
        Just(Duration::MAX),
    ]
    .boxed()
}

/// A count setting: its least, its largest accepted, one in between, or the type's extremes.
fn count(range: RangeInclusive<u32>) -> BoxedStrategy<u32> {
    let (min, max) = (*range.start(), *range.end());
    prop_oneof![Just(min), Just(max), range, Just(0), Just(u32::MAX)].boxed()
}

fn optional<T: std::fmt::Debug + Clone + 'static>(s: BoxedStrategy<T>) -> BoxedStrategy<Option<T>> {
    prop_oneof![Just(None), s.prop_map(Some)].boxed()
}

fn penalty_change() -> BoxedStrategy<PenaltyChange> {
    prop_oneof![
        count(limits::PENALTY).prop_map(PenaltyChange::Absolute),
        prop_oneof![Just(i64::MIN), Just(i64::MAX), -3i64..3].prop_map(PenaltyChange::Relative),
    ]
    .boxed()
}

fn rule() -> BoxedStrategy<PenaltyRule> {
    let step = (secs(limits::PENALTY_STEP_SECS), penalty_change(), optional(penalty_change()))
        .prop_map(|(after, max, min)| PenaltyStep { after, max, min });
    prop::collection::vec(step, 0..3).prop_map(PenaltyRule::new).boxed()
}

fn announcements() -> BoxedStrategy<Announcements> {
    let position = prop_oneof![
        Just(PositionAnnounce::No),
        Just(PositionAnnounce::Yes),
        Just(PositionAnnounce::Limit),
        Just(PositionAnnounce::More),
    ];
    let holdtime = prop_oneof![
        Just(HoldtimeAnnounce::No),
        Just(HoldtimeAnnounce::Yes),
        Just(HoldtimeAnnounce::Once)
    ];
    (
        (optional(secs(limits::ANNOUNCE_SECS)), secs(limits::ANNOUNCE_SECS), position),
        (count(limits::CALLERS_OR_MEMBERS), holdtime, count(limits::ROUND_SECONDS), any::<bool>()),
        (
            prop_oneof![Just(Vec::new()), Just(vec!["a".to_owned(), "b".to_owned()])],
            optional(secs(limits::ANNOUNCE_SECS)),
            optional(secs(limits::ANNOUNCE_SECS)),
            any::<bool>(),
        ),
    )
        .prop_map(|(a, b, c)| Announcements {
            frequency: a.0,
            min_frequency: a.1,
            position: a.2,
            position_limit: b.0,
            holdtime: b.1,
            round_seconds: b.2,
            to_first_user: b.3,
            periodic: c.0,
            periodic_frequency: c.1,
            periodic_start_delay: c.2,
            random_periodic: c.3,
        })
        .boxed()
}

/// The join or leave conditions whose bits are set in `bits`.
fn conditions(bits: u8) -> EmptyConditions {
    let all = [
        MemberCondition::Paused,
        MemberCondition::Penalty,
        MemberCondition::InUse,
        MemberCondition::Ringing,
        MemberCondition::Unavailable,
        MemberCondition::Invalid,
        MemberCondition::Unknown,
        MemberCondition::WrapUp,
    ];
    let picked: Vec<MemberCondition> =
        all.into_iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, c)| c).collect();
    EmptyConditions::of(&picked)
}

fn queue(index: usize) -> BoxedStrategy<QueueConfig> {
    let timing = (
        secs(limits::RING_PROGRESSIVELY_DELAY_SECS),
        secs(limits::RING_TIMEOUT_SECS),
        secs(limits::RETRY_SECS),
        secs(limits::WRAPUP_SECS),
        optional(secs(limits::MAX_WAIT_SECS)),
        secs(limits::SERVICE_LEVEL_SECS),
    );
    let autopause = (
        prop_oneof![
            Just(None),
            Just(Some(AutoPauseScope::ThisQueue)),
            Just(Some(AutoPauseScope::AllQueues))
        ],
        count(limits::AUTOPAUSE_AFTER),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(scope, after_misses, on_busy, on_unavailable)| AutoPause {
            scope,
            after_misses,
            on_busy,
            on_unavailable,
        });
    let counting = (
        count(limits::WEIGHT),
        any::<bool>(),
        optional(count(limits::CALLERS_OR_MEMBERS)),
        count(limits::CALLERS_OR_MEMBERS),
        any::<u8>(),
        any::<u8>(),
    );
    let routing = (
        prop::sample::select(Routing::ALL.to_vec()),
        any::<bool>(),
        count(limits::DIALPLAN_PRIORITY),
        any::<bool>(),
        rule(),
        announcements(),
    );
    (timing, autopause, counting, routing)
        .prop_map(move |(t, autopause, c, r)| {
            let mut q = QueueConfig::new(format!("q{index}"));
            (q.ring_progressively_delay, q.ring_timeout, q.retry, q.wrapup) = (t.0, t.1, t.2, t.3);
            (q.max_wait, q.service_level, q.autopause) = (t.4, t.5, autopause);
            (q.weight, q.autofill, q.max_len, q.penalty_members_limit) = (c.0, c.1, c.2, c.3);
            (q.join_empty, q.leave_empty) = (conditions(c.4), conditions(c.5));
            q.strategy = r.0;
            q.answer = if r.1 { AnswerMode::Answer } else { AnswerMode::Ring };
            q.on_timeout = if r.3 && index + 1 < QUEUES {
                Overflow::Queue(QueueId::new(format!("q{}", index + 1)))
            } else {
                let destination =
                    Destination { context: "out".into(), extension: "s".into(), priority: r.2 };
                Overflow::Dialplan(Some(destination))
            };
            q.exit_context = Some("exits".into());
            (q.rule, q.announce) = (r.4, r.5);
            q
        })
        .boxed()
}

fn agent(index: usize) -> BoxedStrategy<AgentConfig> {
    (optional(secs(limits::WRAPUP_SECS)), count(limits::PENALTY), count(limits::PENALTY))
        .prop_map(move |(wrapup, p0, p1)| {
            let mut a = AgentConfig::new(format!("a{index}"));
            a.wrapup = wrapup;
            for (queue, penalty) in [("q0", p0), ("q1", p1)] {
                a.memberships.push(Membership { queue: QueueId::new(queue), penalty });
            }
            a.contacts.push(Contact { endpoint: format!("PJSIP/{index}"), nodes: Vec::new() });
            a
        })
        .boxed()
}

/// What happens next in the world; indexes pick among what exists then.
#[derive(Clone, Debug)]
enum Step {
    Arrive {
        queue: usize,
        priority: i32,
        max_wait: Option<Duration>,
    },
    Answer(usize),
    Miss(usize, Miss),
    CallerHangsUp(usize),
    AgentHangsUp(usize),
    Key(usize, char),
    Agent(usize, AgentAction),
    /// Jump to the engine's next deadline, however far, and fire what is due.
    NextDeadline,
    Wait(Duration),
}

fn step() -> impl Strategy<Value = Step> {
    let agent_action = prop_oneof![
        Just(AgentAction::Login),
        Just(AgentAction::Logout),
        Just(AgentAction::Pause { queue: None, reason: "break".into() }),
        Just(AgentAction::Unpause { queue: None }),
        count(limits::PENALTY)
            .prop_map(|penalty| AgentAction::SetPenalty { queue: QueueId::new("q0"), penalty }),
    ];
    let miss = prop_oneof![
        Just(Miss::NoAnswer),
        Just(Miss::Busy),
        Just(Miss::Unreachable),
        Just(Miss::Failed)
    ];
    prop_oneof![
        4 => (0..QUEUES, prop_oneof![Just(i32::MIN), Just(i32::MAX), Just(0)], optional(secs(0..=DAY)))
            .prop_map(|(queue, priority, max_wait)| Step::Arrive { queue, priority, max_wait }),
        4 => (0..4usize).prop_map(Step::Answer),
        2 => (0..4usize, miss).prop_map(|(i, m)| Step::Miss(i, m)),
        2 => (0..4usize).prop_map(Step::CallerHangsUp),
        2 => (0..4usize).prop_map(Step::AgentHangsUp),
        1 => (0..4usize, prop::sample::select(vec!['1', '#'])).prop_map(|(i, k)| Step::Key(i, k)),
        1 => (0..AGENTS, agent_action).prop_map(|(i, a)| Step::Agent(i, a)),
        4 => Just(Step::NextDeadline),
        2 => prop_oneof![Just(Duration::ZERO), Just(Duration::from_secs(1)), Just(Duration::from_secs(DAY))]
            .prop_map(Step::Wait),
    ]
}

/// One engine owning one node, the memory store, and the phones and callers around them.
struct Site {
    engine: Engine,
    store: MemoryStore,
    node: NodeId,
    now: Time,
    next_channel: u64,
    /// Callers' channels still in Stasis, with the agent leg they talk on.
    callers: BTreeMap<String, Option<String>>,
    /// Agent legs: (reservation, answered).
    legs: BTreeMap<String, (ReservationId, bool)>,
}

impl Site {
    fn new(queues: &[QueueConfig], agents: &[AgentConfig]) -> Self {
        let store = MemoryStore::new();
        store.configure_now(queues, agents);
        let node = NodeId::new("n1");
        let mut site = Site {
            engine: Engine::new(queues, agents, 7),
            store,
            node: node.clone(),
            now: Time(1_700_000_000_000),
            next_channel: 0,
            callers: BTreeMap::new(),
            legs: BTreeMap::new(),
        };
        let fence = Fence { node: node.clone(), epoch: Epoch(0) };
        site.input(Input::NodeOwned { fence });
        site.input(Input::Adopt { node, calls: Vec::new(), present: Default::default() });
        for a in agents {
            site.input(Input::Agent { agent: a.id.clone(), action: AgentAction::Login });
        }
        site
    }

    fn input(&mut self, input: Input) {
        self.engine.handle(self.now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(command) = self.engine.poll_command() {
            match command {
                Command::Store(request) => {
                    let reply = self.store.apply_now(request);
                    self.engine.handle(self.now, Input::Reply(reply));
                }
                Command::QueryPosition { call } => {
                    let position = self.store.position_now(&call);
                    self.engine.handle(self.now, Input::Position { call, position });
                }
                Command::Channel { channel, action, .. } => {
                    if matches!(action, ChannelAction::Continue { .. } | ChannelAction::Hangup) {
                        self.callers.remove(&channel);
                    }
                }
                Command::Dial { leg, reservation, .. } => {
                    self.legs.insert(leg, (reservation, false));
                }
                Command::Bridge { channel, leg, .. } => {
                    if let Some(talking) = self.callers.get_mut(&channel) {
                        *talking = Some(leg);
                    }
                }
                Command::HangupLeg { leg, .. } => {
                    self.legs.remove(&leg);
                }
                Command::Route(_) | Command::NodeFenced { .. } => {}
            }
        }
        self.store.check_invariants();
        self.engine.check_invariants();
    }

    fn nth<T: Clone>(items: impl Iterator<Item = T>, i: usize) -> Option<T> {
        let items: Vec<T> = items.collect();
        (!items.is_empty()).then(|| items[i % items.len()].clone())
    }

    /// The `i`-th ringing leg (modulo their number), if any: (leg, reservation).
    fn ringing(&self, i: usize) -> Option<(String, ReservationId)> {
        let ringing = self.legs.iter().filter(|(_, (_, answered))| !answered);
        Self::nth(ringing.map(|(leg, (reservation, _))| (leg.clone(), *reservation)), i)
    }

    fn run(&mut self, step: Step) {
        let node = self.node.clone();
        match step {
            Step::Arrive { queue, priority, max_wait } => {
                self.next_channel += 1;
                let channel = format!("c{}", self.next_channel);
                self.callers.insert(channel.clone(), None);
                self.input(Input::CallerArrived(Arrival {
                    node,
                    channel,
                    queue: QueueId::new(format!("q{queue}")),
                    caller_id: "100".into(),
                    priority,
                    max_wait,
                    resumed: None,
                    connected: None,
                }));
            }
            Step::Answer(i) => {
                if let Some((leg, reservation)) = self.ringing(i) {
                    self.legs.insert(leg.clone(), (reservation, true));
                    self.input(Input::LegAnswered { reservation });
                }
            }
            Step::Miss(i, miss) => {
                if let Some((leg, reservation)) = self.ringing(i) {
                    self.legs.remove(&leg);
                    self.input(Input::LegFailed { reservation, miss });
                }
            }
            Step::CallerHangsUp(i) => {
                if let Some(channel) = Self::nth(self.callers.keys().cloned(), i) {
                    self.callers.remove(&channel);
                    self.input(Input::CallerHungUp { node, channel });
                }
            }
            Step::AgentHangsUp(i) => {
                let talking = self.callers.values().flatten().cloned();
                let leg = Self::nth(talking, i);
                if let Some((reservation, _)) = leg.and_then(|leg| self.legs.remove(&leg)) {
                    self.input(Input::LegHungUp { reservation });
                }
            }
            Step::Key(i, digit) => {
                if let Some(channel) = Self::nth(self.callers.keys().cloned(), i) {
                    self.input(Input::CallerDtmf { node, channel, digit });
                }
            }
            Step::Agent(i, action) => {
                self.input(Input::Agent { agent: AgentId::new(format!("a{i}")), action });
            }
            Step::NextDeadline => {
                if let Some(due) = self.engine.poll_timeout() {
                    self.now = self.now.max(due);
                    self.engine.handle_timeout(self.now);
                    self.drain();
                }
            }
            Step::Wait(pause) => {
                self.now = self.now + pause;
                if self.engine.poll_timeout().is_some_and(|due| due <= self.now) {
                    self.engine.handle_timeout(self.now);
                    self.drain();
                }
            }
        }
    }
}

fn site() -> impl Strategy<Value = (Vec<QueueConfig>, Vec<AgentConfig>)> {
    let queues = (queue(0), queue(1)).prop_map(|(a, b)| vec![a, b]);
    let agents = (agent(0), agent(1), agent(2)).prop_map(|(a, b, c)| vec![a, b, c]);
    (queues, agents)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn extreme_settings_never_panic_the_core(
        (queues, agents) in site(),
        steps in prop::collection::vec(step(), 1..60),
    ) {
        let mut site = Site::new(&queues, &agents);
        for step in steps {
            site.run(step);
        }
        // Then every call ends and every timer runs out: wrap-ups end, however long.
        for channel in site.callers.keys().cloned().collect::<Vec<_>>() {
            let node = site.node.clone();
            site.input(Input::CallerHungUp { node, channel });
        }
        for _ in 0..200 {
            site.run(Step::NextDeadline);
        }
    }
}

/// The finding this test was written for: `wrapuptime = 18446744073709551615` made the first
/// call that ended overflow a `Duration` addition (talk + wrap-up, the handle-time sample).
#[test]
fn the_largest_wrapup_ends_a_call_without_panicking() {
    let mut queue = QueueConfig::new("q0");
    queue.wrapup = Duration::from_secs(u64::MAX);
    let mut other = QueueConfig::new("q1");
    other.announce.holdtime = HoldtimeAnnounce::Yes;
    let agents: Vec<AgentConfig> = (0..AGENTS)
        .map(|i| {
            let mut a = AgentConfig::new(format!("a{i}"));
            a.memberships.push(Membership { queue: QueueId::new("q0"), penalty: 0 });
            a.contacts.push(Contact { endpoint: format!("PJSIP/{i}"), nodes: Vec::new() });
            a
        })
        .collect();
    let mut site = Site::new(&[queue, other], &agents);
    site.run(Step::Arrive { queue: 0, priority: 0, max_wait: None });
    site.run(Step::Answer(0));
    site.run(Step::Wait(Duration::from_secs(30)));
    site.run(Step::CallerHangsUp(0));
    site.run(Step::NextDeadline);
}
