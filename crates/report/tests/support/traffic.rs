//! Seeded traffic through a [`Store`], with every outcome, and its ground truth: for each
//! caller, when the driver made it enter, get answered and end, and how. Times are simulated
//! (the driver passes `now`), so wait and talk are known exactly.
//!
//! Queues: `sales` and `support` (served), `tiny` (`maxlen` 2: `FULL`), `closed` (no member:
//! `JOINEMPTY`), `evening` (its one member stays paused: `JOINUNAVAIL`). Waiting callers leave
//! by every other outcome, some fail over from `sales` to `support` (a `-q1` step), agents
//! miss, answer, pause and log out and in.

use std::collections::BTreeMap;
use std::time::Duration;

use starq_core::config::{AgentConfig, Membership, QueueConfig, Window};
use starq_core::rng::Rng;
use starq_core::shared::{AgentAction, Enqueue, Miss, Notice, Party, Reply, Request, Verdict};
use starq_core::{AgentId, CallId, Fence, NodeId, Outcome, QueueId, ReservationId, Time};
use starq_store::Store;

/// One caller as the driver lived it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallerTruth {
    pub queue: String,
    pub entered: Time,
    pub answered: Option<Time>,
    pub ended: Option<Time>,
    pub outcome: Option<Outcome>,
}

impl CallerTruth {
    /// Time waited: until answered, or until the end when never answered.
    pub fn wait(&self) -> Duration {
        self.answered.or(self.ended).unwrap_or(self.entered).since(self.entered)
    }

    /// Talk time of an answered call.
    pub fn talk(&self) -> Duration {
        match (self.answered, self.ended) {
            (Some(a), Some(e)) => e.since(a),
            _ => Duration::ZERO,
        }
    }
}

/// Every caller, by call id.
pub type Truth = BTreeMap<String, CallerTruth>;

#[derive(Clone, Debug)]
enum Ev {
    Arrive,
    Leave(String, Outcome),
    Ring(ReservationId, String),
    Hangup(String, bool),
    Mood(usize),
    Ready,
}

const SERVED: [&str; 2] = ["sales", "support"];
const AGENTS: usize = 6;
/// Agent `a5` is the `evening` queue's only member and stays paused everywhere.
const EVENING_AGENT: &str = "a5";

/// The configuration the traffic runs on.
pub fn config() -> (Vec<QueueConfig>, Vec<AgentConfig>) {
    let queue = |id: &str| {
        let mut q = QueueConfig::new(id);
        q.retry = Duration::from_secs(2);
        q.wrapup = Duration::from_secs(3);
        q.ring_timeout = Duration::from_secs(60);
        q
    };
    let mut tiny = queue("tiny");
    tiny.max_len = Some(2);
    let mut closed = queue("closed");
    closed.join_empty = "paused,unavailable".parse().expect("conditions");
    let mut evening = queue("evening");
    evening.join_empty = "paused,unavailable".parse().expect("conditions");
    let queues = vec![queue("sales"), queue("support"), tiny, closed, evening];
    let agents = (0..AGENTS)
        .map(|i| {
            let mut a = AgentConfig::new(format!("a{i}"));
            a.name = format!("Agent {i}");
            let member = |q: &str, penalty| Membership { queue: QueueId::new(q), penalty };
            a.memberships = if a.id.as_str() == EVENING_AGENT {
                vec![member("evening", 0)]
            } else {
                vec![member("sales", (i % 2) as u32), member("support", 0), member("tiny", 0)]
            };
            a
        })
        .collect();
    (queues, agents)
}

/// Drives `callers` arrivals through `store`, then ends every caller still in a queue.
/// `pace` is slept every step (a yield when zero) so a reporter running beside it gets turns.
pub async fn drive<S: Store>(store: &S, seed: u64, callers: usize, pace: Duration) -> Truth {
    let (queues, agents) = config();
    let start = Time(1_700_000_000_000);
    store.reconfigure(&queues, &agents, start).await.expect("configure");
    let node = NodeId::new("pbx1");
    let lease = store
        .acquire_lease(&node, "traffic", start, Duration::from_secs(1_000_000))
        .await
        .expect("store")
        .expect("lease");
    let mut d = Driver {
        store,
        fence: lease.fence(),
        node,
        rng: Rng::seeded(seed),
        now: start,
        agenda: BTreeMap::new(),
        seq: 0,
        truth: Truth::new(),
        waiting: BTreeMap::new(),
        arrived: 0,
    };
    for i in 0..AGENTS {
        d.agent(i, AgentAction::Login).await;
        let first = Duration::from_secs(30 + d.rng.below(300));
        d.at(first, Ev::Mood(i));
    }
    let evening_pause = AgentAction::Pause { queue: None, reason: "off shift".into() };
    d.agent(AGENTS - 1, evening_pause).await;
    d.at(Duration::ZERO, Ev::Arrive);
    d.at(Duration::from_secs(1), Ev::Ready);
    while let Some(((t, _), ev)) = d.agenda.pop_first() {
        d.now = t;
        if d.arrived >= callers && !matches!(ev, Ev::Hangup(..) | Ev::Ring(..)) {
            continue; // past the busy phase: only calls in progress finish
        }
        d.step(ev, callers).await;
        if pace.is_zero() {
            tokio::task::yield_now().await;
        } else {
            tokio::time::sleep(pace).await;
        }
    }
    // Whoever still waits hangs up.
    let left: Vec<String> = d.waiting.keys().cloned().collect();
    for call in left {
        d.tick(1);
        d.leave(&call, Outcome::Abandoned).await;
    }
    d.truth
}

struct Driver<'s, S> {
    store: &'s S,
    fence: Fence,
    node: NodeId,
    rng: Rng,
    now: Time,
    agenda: BTreeMap<(Time, u64), Ev>,
    seq: u64,
    truth: Truth,
    /// Callers not yet answered or ended, with the channel and step of their chain.
    waiting: BTreeMap<String, (String, u32)>,
    arrived: usize,
}

impl<S: Store> Driver<'_, S> {
    fn at(&mut self, after: Duration, ev: Ev) {
        self.seq += 1;
        self.agenda.insert((self.now + after, self.seq), ev);
    }

    fn tick(&mut self, ms: u64) {
        self.now = self.now + Duration::from_millis(ms);
    }

    async fn apply(&mut self, request: Request) -> Reply {
        let reply = self.store.apply(request).await.expect("store available");
        for notice in reply.notices.clone() {
            match notice {
                Notice::Offer(o) => {
                    let ring = Duration::from_millis(500 + self.rng.below(15_000));
                    self.at(ring, Ev::Ring(o.reservation, o.call.to_string()));
                }
                Notice::Cancelled(_) => {}
                Notice::Evict { call, outcome, .. } => {
                    self.at(Duration::ZERO, Ev::Leave(call.to_string(), outcome))
                }
            }
        }
        reply
    }

    async fn agent(&mut self, i: usize, action: AgentAction) -> Reply {
        let draw = self.rng.next_u64();
        let agent = AgentId::new(format!("a{i}"));
        self.apply(Request::Agent { agent, action, now: self.now, draw }).await
    }

    async fn step(&mut self, ev: Ev, callers: usize) {
        match ev {
            Ev::Arrive => {
                self.arrived += 1;
                let channel = format!("1700000000.{}", self.arrived);
                let queue = match self.rng.below(20) {
                    0 => "closed",
                    1 => "evening",
                    2..=4 => "tiny",
                    n => SERVED[(n % 2) as usize],
                };
                self.enter(&channel, 0, queue).await;
                if self.arrived < callers {
                    let gap = Duration::from_millis(200 + self.rng.below(6_000));
                    self.at(gap, Ev::Arrive);
                }
            }
            Ev::Leave(call, outcome) => {
                if let Some((channel, step)) = self.waiting.get(&call).cloned() {
                    self.leave(&call, outcome).await;
                    // Some timeouts fail over from sales to support, as a chain's next step.
                    let queue = self.truth[&call].queue.clone();
                    if outcome == Outcome::Timeout && queue == "sales" && self.rng.below(2) == 0 {
                        self.tick(10);
                        self.enter(&channel, step + 1, "support").await;
                    }
                }
            }
            Ev::Ring(reservation, call) => {
                if !self.waiting.contains_key(&call) {
                    return; // the offer was cancelled when the caller left or was answered
                }
                let fence = self.fence.clone();
                let answer = self.rng.below(10) < 7;
                if answer {
                    let r = Request::Answered { fence, reservation, now: self.now };
                    if let Verdict::Confirmed { .. } = self.apply(r).await.result {
                        self.waiting.remove(&call);
                        self.truth.get_mut(&call).expect("known caller").answered = Some(self.now);
                        let talk = Duration::from_millis(2_000 + self.rng.below(300_000));
                        let agent_hangs_up = self.rng.below(2) == 0;
                        self.at(talk, Ev::Hangup(call, agent_hangs_up));
                    }
                } else {
                    let miss = if self.rng.below(3) == 0 { Miss::Busy } else { Miss::NoAnswer };
                    let draw = self.rng.next_u64();
                    self.apply(Request::Missed { fence, reservation, miss, now: self.now, draw })
                        .await;
                }
            }
            Ev::Hangup(call, agent_hangs_up) => {
                let by = if agent_hangs_up { Party::Agent } else { Party::Caller };
                let draw = self.rng.next_u64();
                let fence = self.fence.clone();
                let r =
                    Request::Hangup { fence, call: CallId::new(&call), by, now: self.now, draw };
                assert_eq!(self.apply(r).await.result, Verdict::Done, "hangup of {call}");
                let t = self.truth.get_mut(&call).expect("known caller");
                t.ended = Some(self.now);
                t.outcome = Some(match by {
                    Party::Agent => Outcome::CompletedByAgent,
                    Party::Caller => Outcome::CompletedByCaller,
                });
            }
            Ev::Mood(i) => {
                let action = match self.rng.below(6) {
                    0 => AgentAction::Pause { queue: None, reason: "break".into() },
                    1 => AgentAction::Pause {
                        queue: Some("sales".into()),
                        reason: "training".into(),
                    },
                    2 => AgentAction::Unpause { queue: Some("sales".into()) },
                    3 => AgentAction::Logout,
                    4 => AgentAction::Login,
                    _ => AgentAction::Unpause { queue: None },
                };
                if i != AGENTS - 1 {
                    // Refusals (logout during a call, pause in a queue not joined) are fine.
                    self.agent(i, action).await;
                }
                let next = Duration::from_secs(20 + self.rng.below(200));
                self.at(next, Ev::Mood(i));
            }
            Ev::Ready => {
                for i in 0..AGENTS {
                    let draw = self.rng.next_u64();
                    let agent = AgentId::new(format!("a{i}"));
                    self.apply(Request::AgentReady { agent, now: self.now, draw }).await;
                }
                self.at(Duration::from_secs(3), Ev::Ready);
            }
        }
    }

    async fn enter(&mut self, channel: &str, step: u32, queue: &str) {
        let call = CallId::of_channel(&self.node, channel, step);
        let id = call.to_string();
        self.truth.insert(
            id.clone(),
            CallerTruth {
                queue: queue.to_owned(),
                entered: self.now,
                answered: None,
                ended: None,
                outcome: None,
            },
        );
        let request = Request::Enqueue(Enqueue {
            fence: self.fence.clone(),
            call,
            queue: QueueId::new(queue),
            caller_id: format!("555{:04}", self.rng.below(10_000)),
            priority: self.rng.below(3) as i32,
            window: Window::ANY,
            now: self.now,
            resumed: None,
        });
        match self.apply(request).await.result {
            Verdict::Joined { .. } => {
                self.waiting.insert(id.clone(), (channel.to_owned(), step));
                let outcome = match self.rng.below(12) {
                    0..=4 => Outcome::Abandoned,
                    5 | 6 => Outcome::Timeout,
                    7 => Outcome::ExitWithKey('1'),
                    8 => Outcome::Withdrawn,
                    9 => Outcome::LeaveEmpty,
                    10 => Outcome::NodeLost,
                    _ => Outcome::Drained,
                };
                let patience = Duration::from_millis(1_000 + self.rng.below(90_000));
                self.at(patience, Ev::Leave(id, outcome));
            }
            Verdict::Refused(outcome) => {
                let t = self.truth.get_mut(&id).expect("just inserted");
                t.ended = Some(self.now);
                t.outcome = Some(outcome);
            }
            other => panic!("enqueue {id} in {queue}: {other:?}"),
        }
    }

    async fn leave(&mut self, call: &str, outcome: Outcome) {
        let fence = self.fence.clone();
        let r = Request::Leave { fence, call: CallId::new(call), outcome, now: self.now };
        assert_eq!(self.apply(r).await.result, Verdict::Done, "leave of {call}");
        self.waiting.remove(call);
        let t = self.truth.get_mut(call).expect("known caller");
        t.ended = Some(self.now);
        t.outcome = Some(outcome);
    }
}
