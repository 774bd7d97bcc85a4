//! Property tests that pin what each strategy means, on random agent sets and histories.

use std::time::Duration;

use proptest::prelude::*;
use starq_core::config::{AgentConfig, Membership, QueueConfig, Window};
use starq_core::shared::{AgentAction, Enqueue, Notice, Party, Reply, Request};
use starq_core::strategy::Strategy as Ring;
use starq_core::{AgentId, CallId, Epoch, Fence, NodeId, QueueId, Time};
use starq_store::MemoryStore;

struct Site {
    store: MemoryStore,
    now: Time,
    calls: u64,
}

fn fence() -> Fence {
    Fence { node: NodeId::new("n1"), epoch: Epoch(0) }
}

impl Site {
    /// One queue with `strategy` and agents `a0..` with the given penalties, configured in
    /// `order` (a permutation of agent indexes).
    fn new(strategy: Ring, penalties: &[u32], order: &[usize]) -> Self {
        let mut q = QueueConfig::new("q");
        q.strategy = strategy;
        q.retry = Duration::ZERO;
        let agents: Vec<AgentConfig> = order
            .iter()
            .map(|&i| {
                let mut a = AgentConfig::new(format!("a{i}"));
                a.memberships.push(Membership { queue: QueueId::new("q"), penalty: penalties[i] });
                a
            })
            .collect();
        let store = MemoryStore::new();
        store.configure_now(&[q], &agents);
        Site { store, now: Time(1_000_000), calls: 0 }
    }

    fn tick(&mut self) -> Time {
        self.now = self.now + Duration::from_secs(1);
        self.now
    }

    fn agent(&mut self, i: usize, action: AgentAction) -> Reply {
        let now = self.tick();
        self.store.apply_now(Request::Agent {
            agent: AgentId::new(format!("a{i}")),
            action,
            now,
            draw: 0,
        })
    }

    fn enqueue(&mut self, priority: i32) -> (CallId, Reply) {
        self.calls += 1;
        let call = CallId::new(format!("c{}", self.calls));
        let now = self.tick();
        let e = Enqueue {
            fence: fence(),
            call: call.clone(),
            queue: QueueId::new("q"),
            caller_id: String::new(),
            priority,
            window: Window::ANY,
            now,
            resumed: None,
        };
        (call, self.store.apply_now(Request::Enqueue(e)))
    }

    /// Runs a call to whichever agent is offered, ending it at once.
    fn call_through(&mut self) -> String {
        let (call, reply) = self.enqueue(0);
        let offer = first_offer(&reply).expect("an agent is available");
        let now = self.tick();
        self.store.apply_now(Request::Answered { fence: fence(), reservation: offer.0, now });
        let now = self.tick();
        self.store.apply_now(Request::Hangup {
            fence: fence(),
            call,
            by: Party::Agent,
            now,
            draw: 0,
        });
        offer.1
    }
}

fn first_offer(reply: &Reply) -> Option<(starq_core::ReservationId, String)> {
    reply.notices.iter().find_map(|n| match n {
        Notice::Offer(o) => Some((o.reservation, o.agent.to_string())),
        _ => None,
    })
}

fn permutation(n: usize) -> impl proptest::strategy::Strategy<Value = Vec<usize>> {
    Just((0..n).collect::<Vec<_>>()).prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// `leastrecent` offers the agent whose last call ended longest ago.
    #[test]
    fn leastrecent_offers_the_agent_idle_longest(hangup_order in (2usize..7).prop_flat_map(permutation)) {
        let n = hangup_order.len();
        let mut site = Site::new(Ring::LeastRecent, &vec![0; n], &(0..n).collect::<Vec<_>>());
        let mut calls = Vec::new();
        for i in 0..n {
            site.agent(i, AgentAction::Login);
            let (call, reply) = site.enqueue(0);
            let (reservation, agent) = first_offer(&reply).expect("the only free agent");
            prop_assert_eq!(agent, format!("a{i}"));
            let now = site.tick();
            site.store.apply_now(Request::Answered { fence: fence(), reservation, now });
            calls.push(call);
        }
        for &i in &hangup_order {
            let now = site.tick();
            site.store.apply_now(Request::Hangup { fence: fence(), call: calls[i].clone(), by: Party::Agent, now, draw: 0 });
        }
        let (_, reply) = site.enqueue(0);
        prop_assert_eq!(first_offer(&reply).map(|o| o.1), Some(format!("a{}", hangup_order[0])));
    }

    /// `fewestcalls` offers the agent with the fewest calls taken (ties: lowest id).
    #[test]
    fn fewestcalls_offers_the_least_busy_agent(taken in prop::collection::vec(0usize..4, 2..6)) {
        let n = taken.len();
        let mut site = Site::new(Ring::FewestCalls, &vec![0; n], &(0..n).collect::<Vec<_>>());
        for (i, &k) in taken.iter().enumerate() {
            site.agent(i, AgentAction::Login);
            for _ in 0..k {
                // Only agent i is logged in and unpaused while it takes its calls.
                prop_assert_eq!(site.call_through(), format!("a{i}"));
            }
            site.agent(i, AgentAction::Pause { queue: None, reason: "setup".into() });
        }
        for i in 0..n {
            site.agent(i, AgentAction::Unpause { queue: None });
        }
        let fewest = (0..n).min_by_key(|&i| (taken[i], format!("a{i}"))).expect("agents");
        prop_assert_eq!(site.call_through(), format!("a{fewest}"));
    }

    /// `linear` offers the first available agent in configured order, whatever the ids.
    #[test]
    fn linear_offers_the_first_available_in_order(
        order in (2usize..7).prop_flat_map(permutation),
        available in prop::collection::vec(any::<bool>(), 7),
    ) {
        let n = order.len();
        prop_assume!(available[..n].iter().any(|a| *a));
        let mut site = Site::new(Ring::Linear, &vec![0; n], &order);
        for i in (0..n).filter(|&i| available[i]) {
            site.agent(i, AgentAction::Login);
        }
        let first = order.iter().copied().find(|&i| available[i]).expect("one available");
        prop_assert_eq!(site.call_through(), format!("a{first}"));
        prop_assert_eq!(site.call_through(), format!("a{first}"), "linear does not rotate");
    }

    /// Lower penalty tiers are exhausted first, whatever the strategy picks within a tier.
    #[test]
    fn lower_penalty_tiers_go_first(
        penalties in prop::collection::vec(0u32..4, 2..7),
        strategy in prop::sample::select(vec![Ring::LeastRecent, Ring::FewestCalls, Ring::Linear, Ring::Random, Ring::RrMemory]),
    ) {
        let n = penalties.len();
        let mut site = Site::new(strategy, &penalties, &(0..n).collect::<Vec<_>>());
        for i in 0..n {
            site.agent(i, AgentAction::Login);
        }
        let mut offered = Vec::new();
        for _ in 0..n {
            let (_, reply) = site.enqueue(0);
            let (_, agent) = first_offer(&reply).expect("agents left");
            offered.push(penalties[agent[1..].parse::<usize>().expect("a<i>")]);
        }
        let mut sorted = offered.clone();
        sorted.sort();
        prop_assert_eq!(offered, sorted, "offers must go through tiers in penalty order");
    }

    /// Higher-priority callers first, then by entry time.
    #[test]
    fn callers_are_served_by_priority_then_entry(priorities in prop::collection::vec(0i32..3, 1..10)) {
        let mut site = Site::new(Ring::Linear, &[0], &[0]);
        let mut expected: Vec<(i32, usize, CallId)> = Vec::new();
        for (entry, &p) in priorities.iter().enumerate() {
            let (call, _) = site.enqueue(p);
            expected.push((-p, entry, call));
        }
        expected.sort();
        // The login offers the first caller; each hang-up frees the agent for the next one.
        let mut reply = site.agent(0, AgentAction::Login);
        let mut served = Vec::new();
        while let Some((reservation, _)) = first_offer(&reply) {
            let call = reply.notices.iter().find_map(|n| match n {
                Notice::Offer(o) => Some(o.call.clone()),
                _ => None,
            }).expect("offer");
            served.push(call.clone());
            let now = site.tick();
            site.store.apply_now(Request::Answered { fence: fence(), reservation, now });
            let now = site.tick();
            reply = site.store.apply_now(Request::Hangup { fence: fence(), call, by: Party::Agent, now, draw: 0 });
        }
        let expected: Vec<CallId> = expected.into_iter().map(|(_, _, c)| c).collect();
        prop_assert_eq!(served, expected);
    }
}
