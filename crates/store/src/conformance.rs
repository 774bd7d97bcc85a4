//! The conformance suite every [`Store`] implementation passes, unchanged.
//!
//! Each case starts from a fresh store made by the caller's factory, so the Redis store's tests
//! run the very same cases as the memory store's:
//!
//! ```ignore
//! starq_store::conformance::run_all(|| async { MyStore::connect(..).await }).await;
//! ```
//!
//! A case panics with its name and what differed.

use std::future::Future;
use std::time::Duration;

use starq_core::config::{
    AgentConfig, AutoPause, AutoPauseScope, EmptyConditions, Membership, QueueConfig, Window,
};
use starq_core::journal::{CancelCause, JournalEvent, JournalId};
use starq_core::shared::{
    AgentAction, Enqueue, LEG_TEARDOWN, Miss, Notice, Offer, Party, Reconnect, Reply, Request,
    StoredState, Verdict,
};
use starq_core::strategy::Strategy;
use starq_core::{AgentId, CallId, Epoch, Fence, NodeId, Outcome, QueueId, ReservationId, Time};

use crate::{AgentStatus, Store, StoreError};

/// Runs every case, each on a fresh store from `make`.
pub async fn run_all<S, F, Fut>(make: F)
where
    S: Store,
    F: Fn() -> Fut,
    Fut: Future<Output = S>,
{
    macro_rules! cases {
        ($($case:ident),* $(,)?) => {$(
            $case(Site::new(make().await).await).await;
        )*};
    }
    cases!(
        unknown_queue_and_agent_are_named,
        join_rules_refuse_full_and_empty_queues,
        a_call_goes_through_its_whole_life,
        an_agent_whose_caller_hung_up_is_free_after_the_leg_is_down,
        priority_then_entry_time_decide_who_is_served,
        a_resumed_wait_keeps_its_place_and_says_so,
        a_conversation_the_store_lost_is_taken_back_as_connected,
        lower_penalty_tiers_are_exhausted_first,
        windows_widen_and_bring_higher_tiers_in,
        least_recent_and_fewest_calls_pick_the_right_agent,
        round_robin_remembers_and_linear_does_not,
        ringall_rings_the_best_tier_and_the_first_answer_wins,
        ring_progressively_adds_agents_one_at_a_time,
        missed_offers_rest_then_auto_pause,
        an_unanswered_phone_rests_while_its_leg_is_hung_up,
        leaving_cancels_offers_and_frees_agents_once_their_legs_are_down,
        leave_when_empty_evicts_waiting_callers,
        heavier_queues_are_served_first,
        a_new_configuration_applies_at_once,
        reconfiguring_offers_what_became_matchable,
        reconfiguring_journals_membership_changes,
        an_agent_left_out_leaves_its_queues_and_finishes_its_call,
        without_autofill_only_the_head_rings,
        pauses_apply_per_queue_or_everywhere,
        stale_epochs_are_fenced,
        journal_is_read_and_acknowledged_by_group,
        a_nodes_callers_are_read_back_for_adoption,
        an_ended_call_never_enters_again,
        instances_live_while_they_beat_and_inboxes_hand_notices_to_owners,
    );
}

/// A small site: queues `q1`, `q2` and agents `a1..a4`, helpers to drive requests.
struct Site<S> {
    store: S,
    fence: Fence,
    now: Time,
}

fn agent(id: &str, memberships: &[(&str, u32)]) -> AgentConfig {
    let mut a = AgentConfig::new(id);
    a.memberships = memberships
        .iter()
        .map(|(q, penalty)| Membership { queue: QueueId::new(q), penalty: *penalty })
        .collect();
    a
}

fn offers(reply: &Reply) -> Vec<&Offer> {
    reply
        .notices
        .iter()
        .filter_map(|n| if let Notice::Offer(o) = n { Some(o) } else { None })
        .collect()
}

fn offered_agents(reply: &Reply) -> Vec<String> {
    offers(reply).iter().map(|o| o.agent.to_string()).collect()
}

impl<S: Store> Site<S> {
    async fn new(store: S) -> Self {
        let node = NodeId::new("n1");
        let lease = store
            .acquire_lease(&node, "conformance", Time(1_000), Duration::from_secs(3600))
            .await
            .expect("lease")
            .expect("free lease");
        Site { store, fence: lease.fence(), now: Time(1_000_000) }
    }

    async fn setup(&self, queues: &[QueueConfig], agents: &[AgentConfig]) {
        self.store.configure(queues, agents).await.expect("configure");
    }

    fn tick(&mut self, secs: u64) -> Time {
        self.now = self.now + Duration::from_secs(secs);
        self.now
    }

    async fn apply(&self, request: Request) -> Reply {
        self.store.apply(request).await.expect("store available")
    }

    async fn act(&self, id: &str, action: AgentAction) -> Reply {
        self.apply(Request::Agent { agent: AgentId::new(id), action, now: self.now, draw: 7 }).await
    }

    async fn login(&self, id: &str) -> Reply {
        self.act(id, AgentAction::Login).await
    }

    async fn enqueue(&mut self, call: &str, queue: &str, priority: i32, window: Window) -> Reply {
        self.tick(1);
        self.apply(Request::Enqueue(Enqueue {
            fence: self.fence.clone(),
            call: CallId::new(call),
            queue: QueueId::new(queue),
            caller_id: "100".into(),
            priority,
            window,
            now: self.now,
            resumed: None,
        }))
        .await
    }

    async fn answer(&mut self, offer: &Offer) -> Reply {
        self.tick(1);
        self.apply(Request::Answered {
            fence: self.fence.clone(),
            reservation: offer.reservation,
            now: self.now,
        })
        .await
    }

    async fn miss(&mut self, offer: &Offer, miss: Miss) -> Reply {
        self.tick(1);
        self.apply(Request::Missed {
            fence: self.fence.clone(),
            reservation: offer.reservation,
            miss,
            now: self.now,
            draw: 3,
        })
        .await
    }

    /// The caller leaves (or is made to) now, however it was placed.
    async fn leave(&mut self, call: &str, outcome: Outcome) -> Reply {
        let request = Request::Leave {
            fence: self.fence.clone(),
            call: CallId::new(call),
            outcome,
            now: self.now,
        };
        self.apply(request).await
    }

    /// The agent ends the call after `secs`.
    async fn hangup(&mut self, call: &str, secs: u64) -> Reply {
        self.hangup_by(call, secs, Party::Agent).await
    }

    async fn hangup_by(&mut self, call: &str, secs: u64, by: Party) -> Reply {
        self.tick(secs);
        self.apply(Request::Hangup {
            fence: self.fence.clone(),
            call: CallId::new(call),
            by,
            now: self.now,
            draw: 5,
        })
        .await
    }

    /// The agent's leg is down ([`LEG_TEARDOWN`] later): its rest is over.
    async fn leg_down(&mut self, id: &str) -> Reply {
        self.now = self.now + LEG_TEARDOWN;
        self.apply(Request::AgentReady { agent: AgentId::new(id), now: self.now, draw: 1 }).await
    }

    async fn status(&self, id: &str) -> AgentStatus {
        self.store.agent(&AgentId::new(id)).await.expect("available").expect("known agent").status
    }

    async fn journal(&self) -> Vec<JournalEvent> {
        let entries = self.store.read_journal("conformance", 10_000).await.expect("journal");
        entries.into_iter().map(|e| e.event).collect()
    }
}

fn queue(id: &str, strategy: Strategy) -> QueueConfig {
    let mut q = QueueConfig::new(id);
    q.strategy = strategy;
    q.retry = Duration::ZERO;
    q
}

async fn unknown_queue_and_agent_are_named<S: Store>(mut s: Site<S>) {
    s.setup(&[queue("q1", Strategy::Linear)], &[]).await;
    let r = s.enqueue("c1", "nope", 0, Window::ANY).await;
    assert!(matches!(&r.result, Verdict::Invalid(m) if m.contains("nope")), "{r:?}");
    let r = s.login("ghost").await;
    assert!(matches!(&r.result, Verdict::Invalid(m) if m.contains("ghost")), "{r:?}");
}

async fn join_rules_refuse_full_and_empty_queues<S: Store>(mut s: Site<S>) {
    let mut full = queue("q1", Strategy::Linear);
    full.max_len = Some(1);
    let mut strict = queue("q2", Strategy::Linear);
    strict.join_empty = "paused,unavailable".parse().expect("valid");
    s.setup(&[full, strict], &[agent("a1", &[("q2", 0)])]).await;
    assert!(matches!(
        s.enqueue("c1", "q1", 0, Window::ANY).await.result,
        Verdict::Joined { position: 1, .. }
    ));
    assert_eq!(s.enqueue("c2", "q1", 0, Window::ANY).await.result, Verdict::Refused(Outcome::Full));
    assert_eq!(
        s.enqueue("c3", "q2", 0, Window::ANY).await.result,
        Verdict::Refused(Outcome::JoinEmpty)
    );
    s.login("a1").await;
    s.act("a1", AgentAction::Pause { queue: None, reason: "lunch".into() }).await;
    assert_eq!(
        s.enqueue("c4", "q2", 0, Window::ANY).await.result,
        Verdict::Refused(Outcome::JoinUnavail)
    );
    let refused: Vec<Outcome> = s
        .journal()
        .await
        .into_iter()
        .filter_map(|e| match e {
            JournalEvent::Refused { outcome, .. } => Some(outcome),
            _ => None,
        })
        .collect();
    assert_eq!(refused, [Outcome::Full, Outcome::JoinEmpty, Outcome::JoinUnavail]);
}

async fn a_call_goes_through_its_whole_life<S: Store>(mut s: Site<S>) {
    let mut q = queue("q1", Strategy::Linear);
    q.wrapup = Duration::from_secs(10);
    s.setup(&[q], &[agent("a1", &[("q1", 0)])]).await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    assert!(offers(&r).is_empty(), "nobody logged in yet");
    let r = s.login("a1").await;
    let offer = offers(&r)[0].clone();
    assert_eq!(
        (offer.call.as_str(), offer.agent.as_str(), offer.node.as_str()),
        ("c1", "a1", "n1")
    );
    assert_eq!(s.status("a1").await, AgentStatus::Reserved(CallId::new("c1")));
    assert_eq!(s.answer(&offer).await.result, Verdict::Confirmed { agent: "a1".into() });
    assert_eq!(s.answer(&offer).await.result, Verdict::Stale, "a reservation confirms once");
    assert_eq!(s.status("a1").await, AgentStatus::OnCall(CallId::new("c1")));
    assert_eq!(s.store.position(&CallId::new("c1")).await.expect("ok"), None);
    assert_eq!(s.hangup_by("c1", 30, Party::Caller).await.result, Verdict::Done);
    let until = s.now + Duration::from_secs(10);
    assert_eq!(s.status("a1").await, AgentStatus::WrapUp(until));
    let early = s.apply(Request::AgentReady { agent: "a1".into(), now: s.now, draw: 1 }).await;
    assert_eq!(early.result, Verdict::Stale, "wrap-up is not over");
    let r = s.enqueue("c2", "q1", 0, Window::ANY).await;
    assert!(offers(&r).is_empty(), "agent in wrap-up");
    s.tick(10);
    let r = s.apply(Request::AgentReady { agent: "a1".into(), now: s.now, draw: 1 }).await;
    assert_eq!(offered_agents(&r), ["a1"], "wrap-up over: the waiting caller is offered");
    let journal = s.journal().await;
    let talk = journal.iter().find_map(|e| match e {
        JournalEvent::Completed { talk, hold, by, .. } => Some((*talk, *hold, *by)),
        _ => None,
    });
    // Talk runs from the answer: 30 s of call plus the 1 s tick of the refused second answer.
    assert_eq!(talk, Some((Duration::from_secs(31), Duration::from_secs(1), Party::Caller)));
}

/// A call the caller ended leaves the agent's leg for starq to hang up: however short the
/// queue's wrap-up, the agent is not offered the next caller before that hang-up can have
/// reached the phone (`LEG_TEARDOWN`). An agent who hung up is free at once.
async fn an_agent_whose_caller_hung_up_is_free_after_the_leg_is_down<S: Store>(mut s: Site<S>) {
    let mut q1 = QueueConfig::new("q1");
    q1.wrapup = Duration::ZERO;
    s.setup(&[q1], &[agent("a1", &[("q1", 0)])]).await;
    s.login("a1").await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    s.answer(&offers(&r)[0].clone()).await;
    s.hangup_by("c1", 10, Party::Caller).await;
    let r = s.enqueue("c2", "q1", 0, Window::ANY).await;
    assert!(offers(&r).is_empty(), "a1's leg is still being hung up");
    let r = s.leg_down("a1").await;
    assert_eq!(offered_agents(&r), ["a1"], "then a1 takes the waiting caller");
    s.answer(&offers(&r)[0].clone()).await;
    s.hangup("c2", 10).await;
    let r = s.enqueue("c3", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a1"], "a1 hung up: no leg left, free at once");
}

async fn priority_then_entry_time_decide_who_is_served<S: Store>(mut s: Site<S>) {
    s.setup(
        &[queue("q1", Strategy::Linear)],
        &[agent("a1", &[("q1", 0)]), agent("a2", &[("q1", 0)]), agent("a3", &[("q1", 0)])],
    )
    .await;
    s.enqueue("old", "q1", 0, Window::ANY).await;
    s.enqueue("young", "q1", 0, Window::ANY).await;
    let r = s.enqueue("vip", "q1", 5, Window::ANY).await;
    assert!(matches!(r.result, Verdict::Joined { position: 1, .. }), "priority goes first: {r:?}");
    assert_eq!(s.store.position(&CallId::new("young")).await.expect("ok"), Some(3));
    s.apply(Request::SetPriority {
        fence: s.fence.clone(),
        call: "young".into(),
        priority: 1,
        now: s.now,
    })
    .await;
    assert_eq!(s.store.position(&CallId::new("young")).await.expect("ok"), Some(2));
    let mut served = Vec::new();
    for a in ["a1", "a2", "a3"] {
        served.extend(offers(&s.login(a).await).iter().map(|o| o.call.to_string()));
    }
    assert_eq!(served, ["vip", "young", "old"]);
}

/// A caller whose wait a lost store forgot (a restarted single box) resumes it: it ranks by
/// its first entry, ahead of callers who came after it, and its record says it resumed.
async fn a_resumed_wait_keeps_its_place_and_says_so<S: Store>(mut s: Site<S>) {
    s.setup(&[queue("q1", Strategy::Linear)], &[agent("a1", &[("q1", 0)])]).await;
    let first_entry = s.now;
    s.tick(30);
    s.enqueue("later", "q1", 0, Window::ANY).await;
    s.tick(1);
    let resumed = Enqueue {
        fence: s.fence.clone(),
        call: CallId::new("earlier"),
        queue: QueueId::new("q1"),
        caller_id: "100".into(),
        priority: 0,
        window: Window::ANY,
        now: s.now,
        resumed: Some(first_entry),
    };
    let r = s.apply(Request::Enqueue(resumed)).await;
    assert_eq!(r.result, Verdict::Joined { position: 1, serving: 0 }, "ahead of `later`");
    let journal = s.journal().await;
    let entered: Vec<_> = journal
        .iter()
        .filter_map(|e| match e {
            JournalEvent::Entered { call, resumed, .. } => Some((call.as_str(), *resumed)),
            _ => None,
        })
        .collect();
    assert_eq!(entered, [("later", None), ("earlier", Some(first_entry))]);
    let r = s.login("a1").await;
    assert_eq!(offers(&r)[0].call.as_str(), "earlier", "served first");
}

/// A store that lost its state (Redis back empty) is given back a conversation Asterisk still
/// bridges: held as connected, its agent on the call (logged in again) and offered nothing
/// else, its end journaled with its hold and talk from before the loss, and no reservation
/// made afterwards reusing its id.
async fn a_conversation_the_store_lost_is_taken_back_as_connected<S: Store>(mut s: Site<S>) {
    let mut q = queue("q1", Strategy::Linear);
    q.wrapup = Duration::from_secs(10);
    s.setup(&[q], &[agent("a1", &[("q1", 0)]), agent("a2", &[("q1", 0)])]).await;
    let (entered, since) = (Time(s.now.0 - 40_000), Time(s.now.0 - 30_000));
    let reconnect = |agent: &str, call: &str, reservation: u64, now: Time| {
        Request::Reconnect(Reconnect {
            fence: s.fence.clone(),
            call: CallId::new(call),
            queue: "q1".into(),
            caller_id: "100".into(),
            entered,
            agent: agent.into(),
            reservation: ReservationId(reservation),
            since,
            now,
        })
    };
    let r = s.apply(reconnect("a1", "c1", 41, s.now)).await;
    assert_eq!(r.result, Verdict::Confirmed { agent: "a1".into() });
    assert!(r.notices.is_empty());
    assert_eq!(s.status("a1").await, AgentStatus::OnCall(CallId::new("c1")));
    let again = s.apply(reconnect("a1", "c1", 41, s.now)).await;
    assert_eq!(again.result, Verdict::Stale, "a call the store holds is not taken twice");
    let busy = s.apply(reconnect("a1", "c9", 42, s.now)).await;
    assert!(matches!(busy.result, Verdict::Invalid(_)), "{busy:?}: a1 is on a call");
    let calls = s.store.node_calls(&NodeId::new("n1")).await.expect("available");
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].state,
        StoredState::Connected { reservation: ReservationId(41), agent: "a1".into(), since }
    );
    assert_eq!(calls[0].entered, entered);
    // The agent on the call is offered nothing; another is, under a newer reservation.
    s.login("a2").await;
    let r = s.enqueue("c2", "q1", 0, Window::ANY).await;
    let offer = offers(&r).into_iter().next().cloned().expect("a2 is offered the new caller");
    assert_eq!(offer.agent.as_str(), "a2");
    assert!(offer.reservation.0 > 41, "reservations go on above: {:?}", offer.reservation);
    assert_eq!(s.hangup("c1", 5).await.result, Verdict::Done);
    let completed = s.journal().await.into_iter().find_map(|e| match e {
        JournalEvent::Completed { call, hold, talk, .. } if call.as_str() == "c1" => {
            Some((hold, talk))
        }
        _ => None,
    });
    // Talk runs from the connection before the loss: 30 s, the new caller's 1 s, then 5 s.
    assert_eq!(completed, Some((Duration::from_secs(10), Duration::from_secs(36))));
    assert_eq!(s.status("a1").await, AgentStatus::WrapUp(s.now + Duration::from_secs(10)));
}

async fn lower_penalty_tiers_are_exhausted_first<S: Store>(mut s: Site<S>) {
    s.setup(
        &[queue("q1", Strategy::Linear)],
        &[agent("hi", &[("q1", 5)]), agent("lo", &[("q1", 1)])],
    )
    .await;
    s.login("hi").await;
    s.login("lo").await;
    assert_eq!(
        offered_agents(&s.enqueue("c1", "q1", 0, Window::ANY).await),
        ["lo"],
        "penalty 1 before 5"
    );
    assert_eq!(offered_agents(&s.enqueue("c2", "q1", 0, Window::ANY).await), ["hi"]);
}

async fn windows_widen_and_bring_higher_tiers_in<S: Store>(mut s: Site<S>) {
    s.setup(&[queue("q1", Strategy::Linear)], &[agent("a1", &[("q1", 3)])]).await;
    s.login("a1").await;
    let narrow = Window { min: 0, max: 1 };
    assert!(offers(&s.enqueue("c1", "q1", 0, narrow).await).is_empty(), "penalty 3 outside 0..=1");
    let r = s
        .apply(Request::SetWindow {
            fence: s.fence.clone(),
            call: "c1".into(),
            window: Window { min: 0, max: 3 },
            now: s.now,
        })
        .await;
    assert_eq!(offered_agents(&r), ["a1"]);
}

async fn least_recent_and_fewest_calls_pick_the_right_agent<S: Store>(mut s: Site<S>) {
    s.setup(
        &[queue("q1", Strategy::LeastRecent), queue("q2", Strategy::FewestCalls)],
        &[agent("a1", &[("q1", 0), ("q2", 0)]), agent("a2", &[("q1", 0), ("q2", 0)])],
    )
    .await;
    s.login("a1").await;
    // a1 takes two calls from q2, ending after a2's only call from q1 and q2.
    for (call, q) in [("c1", "q2"), ("c2", "q2")] {
        let r = s.enqueue(call, q, 0, Window::ANY).await;
        let o = offers(&r)[0].clone();
        s.answer(&o).await;
        s.hangup(call, 5).await;
    }
    s.login("a2").await;
    let r = s.enqueue("c3", "q2", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a2"], "fewestcalls: a2 took none");
    let o = offers(&r)[0].clone();
    s.answer(&o).await;
    s.hangup("c3", 5).await;
    // In q1 neither took a call: tie broken by id. Then a1 took its q1 call earlier than a2.
    let r = s.enqueue("c4", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a1"]);
    let o = offers(&r)[0].clone();
    s.answer(&o).await;
    s.hangup("c4", 5).await;
    let r = s.enqueue("c5", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a2"], "leastrecent: a2 never took a q1 call");
}

async fn round_robin_remembers_and_linear_does_not<S: Store>(mut s: Site<S>) {
    let agents = [
        agent("a1", &[("q1", 0), ("q2", 0)]),
        agent("a2", &[("q1", 0), ("q2", 0)]),
        agent("a3", &[("q1", 0), ("q2", 0)]),
    ];
    s.setup(&[queue("q1", Strategy::RrMemory), queue("q2", Strategy::Linear)], &agents).await;
    for a in ["a1", "a2", "a3"] {
        s.login(a).await;
    }
    let mut rr = Vec::new();
    let mut linear = Vec::new();
    for i in 0..4 {
        for (q, out) in [("q1", &mut rr), ("q2", &mut linear)] {
            let call = format!("{q}-{i}");
            let r = s.enqueue(&call, q, 0, Window::ANY).await;
            let o = offers(&r)[0].clone();
            out.push(o.agent.to_string());
            s.leave(&call, Outcome::Abandoned).await;
            s.leg_down(o.agent.as_str()).await;
        }
    }
    assert_eq!(rr, ["a1", "a2", "a3", "a1"]);
    assert_eq!(linear, ["a1", "a1", "a1", "a1"]);
}

async fn ringall_rings_the_best_tier_and_the_first_answer_wins<S: Store>(mut s: Site<S>) {
    s.setup(
        &[queue("q1", Strategy::RingAll)],
        &[agent("a1", &[("q1", 0)]), agent("a2", &[("q1", 0)]), agent("a3", &[("q1", 2)])],
    )
    .await;
    for a in ["a1", "a2", "a3"] {
        s.login(a).await;
    }
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a1", "a2"], "the best tier only");
    let second = offers(&r)[1].clone();
    let first = offers(&r)[0].clone();
    let r = s.answer(&second).await;
    assert_eq!(r.result, Verdict::Confirmed { agent: "a2".into() });
    let cancelled: Vec<&str> = r
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::Cancelled(o) => Some(o.agent.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(cancelled, ["a1"]);
    assert_eq!(cancel_causes(&s.journal().await), [("a1".into(), CancelCause::AnsweredElsewhere)]);
    let hung_up = s.now + LEG_TEARDOWN;
    assert_eq!(s.answer(&first).await.result, Verdict::Stale, "the loser cannot confirm");
    assert_eq!(s.status("a1").await, AgentStatus::Retry(hung_up), "while its leg is hung up");
    s.leg_down("a1").await;
    assert_eq!(s.status("a1").await, AgentStatus::Available);
}

async fn ring_progressively_adds_agents_one_at_a_time<S: Store>(mut s: Site<S>) {
    s.setup(
        &[queue("q1", Strategy::RingProgressively)],
        &[agent("a1", &[("q1", 0)]), agent("a2", &[("q1", 0)])],
    )
    .await;
    s.login("a1").await;
    s.login("a2").await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a1"]);
    let r =
        s.apply(Request::Extend { fence: s.fence.clone(), call: "c1".into(), now: s.now }).await;
    assert_eq!(offered_agents(&r), ["a2"]);
    let r =
        s.apply(Request::Extend { fence: s.fence.clone(), call: "c1".into(), now: s.now }).await;
    assert!(offers(&r).is_empty(), "nobody left to add");
}

/// Without a retry rest, a phone that rang unanswered or said busy is offered again only once
/// starq's hang-up of its leg can have reached it (`LEG_TEARDOWN`): Asterisk leaves a leg that
/// said busy up until the dial timeout, and a busy phone offered again at once would be rung in
/// a loop.
async fn an_unanswered_phone_rests_while_its_leg_is_hung_up<S: Store>(mut s: Site<S>) {
    s.setup(&[queue("q1", Strategy::Linear)], &[agent("a1", &[("q1", 0)])]).await;
    s.login("a1").await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    let r = s.miss(&offers(&r)[0].clone(), Miss::NoAnswer).await;
    assert!(offers(&r).is_empty(), "a1's ringing leg is still being hung up");
    assert_eq!(s.status("a1").await, AgentStatus::Retry(s.now + LEG_TEARDOWN));
    let r = s.leg_down("a1").await;
    assert_eq!(offered_agents(&r), ["a1"], "then c1 rings a1 again");
    let r = s.miss(&offers(&r)[0].clone(), Miss::Busy).await;
    assert!(offers(&r).is_empty(), "a1's busy leg is still being hung up");
    assert_eq!(s.status("a1").await, AgentStatus::Retry(s.now + LEG_TEARDOWN));
    let r = s.leg_down("a1").await;
    assert_eq!(offered_agents(&r), ["a1"], "then c1 rings a1 again");
}

async fn missed_offers_rest_then_auto_pause<S: Store>(mut s: Site<S>) {
    let mut q = queue("q1", Strategy::Linear);
    q.retry = Duration::from_secs(5);
    q.autopause = AutoPause {
        scope: Some(AutoPauseScope::AllQueues),
        after_misses: 2,
        on_busy: false,
        on_unavailable: true,
    };
    s.setup(&[q], &[agent("a1", &[("q1", 0)])]).await;
    s.login("a1").await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    let o = offers(&r)[0].clone();
    let r = s.miss(&o, Miss::Busy).await;
    assert!(offers(&r).is_empty());
    assert_eq!(s.status("a1").await, AgentStatus::Retry(s.now + Duration::from_secs(5)));
    s.tick(5);
    let r = s.apply(Request::AgentReady { agent: "a1".into(), now: s.now, draw: 0 }).await;
    assert_eq!(r.result, Verdict::Done, "retry over");
    let o = offers(&r)[0].clone();
    s.miss(&o, Miss::NoAnswer).await;
    s.tick(5);
    s.apply(Request::AgentReady { agent: "a1".into(), now: s.now, draw: 0 }).await;
    let o = offers(&s.enqueue("c2", "q1", 0, Window::ANY).await).first().map(|o| (*o).clone());
    assert!(o.is_none(), "busy does not count: one miss so far, but c1 was offered first");
    let view = s.store.agent(&"a1".into()).await.expect("ok").expect("known");
    assert!(view.paused_all.is_none());
    let journal = s.journal().await;
    let last_offer = journal.iter().rev().find_map(|e| match e {
        JournalEvent::Offered { reservation, call, .. } => Some((*reservation, call.clone())),
        _ => None,
    });
    let (reservation, call) = last_offer.expect("c1 offered again");
    let offer = Offer {
        reservation,
        call,
        node: "n1".into(),
        queue: "q1".into(),
        agent: "a1".into(),
        ring_timeout: Duration::ZERO,
    };
    s.miss(&offer, Miss::Unreachable).await;
    let view = s.store.agent(&"a1".into()).await.expect("ok").expect("known");
    assert_eq!(view.paused_all.as_deref(), Some("auto"), "second counted miss pauses everywhere");
    let auto = s.journal().await.into_iter().find_map(|e| match e {
        JournalEvent::Paused { auto: true, queue, members, .. } => Some((queue, members)),
        _ => None,
    });
    assert_eq!(auto, Some((None, vec![QueueId::new("q1")])), "journaled with a1's queues");
}

async fn leaving_cancels_offers_and_frees_agents_once_their_legs_are_down<S: Store>(
    mut s: Site<S>,
) {
    s.setup(
        &[queue("q1", Strategy::RingAll)],
        &[agent("a1", &[("q1", 0)]), agent("a2", &[("q1", 0)])],
    )
    .await;
    s.login("a1").await;
    s.login("a2").await;
    s.enqueue("c1", "q1", 0, Window::ANY).await;
    s.tick(4);
    let r = s.leave("c1", Outcome::Abandoned).await;
    let cancelled = r.notices.iter().filter(|n| matches!(n, Notice::Cancelled(_))).count();
    assert_eq!(cancelled, 2);
    let hung_up = s.now + LEG_TEARDOWN;
    assert_eq!(s.status("a1").await, AgentStatus::Retry(hung_up), "while its leg is hung up");
    let left = s.journal().await.into_iter().find_map(|e| match e {
        JournalEvent::Left { outcome, hold, position, .. } => Some((outcome, hold, position)),
        _ => None,
    });
    assert_eq!(left, Some((Outcome::Abandoned, Duration::from_secs(4), 1)));
    let causes = cancel_causes(&s.journal().await);
    let left = CancelCause::CallerLeft;
    assert_eq!(causes, [("a1".into(), left), ("a2".into(), left)], "RINGCANCELED for both");
    let again = s.leave("c1", Outcome::Abandoned).await;
    assert_eq!(again.result, Verdict::Stale, "a caller ends once");
    for a in ["a1", "a2"] {
        s.leg_down(a).await;
        assert_eq!(s.status(a).await, AgentStatus::Available, "{a}'s leg is down");
    }
    // A lost node took its legs with it: the agents it was ringing are free at once.
    let r = s.enqueue("c2", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a1", "a2"]);
    s.leave("c2", Outcome::NodeLost).await;
    assert_eq!(s.status("a1").await, AgentStatus::Available, "no leg left to hang up");
}

async fn leave_when_empty_evicts_waiting_callers<S: Store>(mut s: Site<S>) {
    let mut q = queue("q1", Strategy::Linear);
    q.leave_empty = EmptyConditions::of(&[starq_core::config::MemberCondition::Paused]);
    s.setup(&[q], &[agent("a1", &[("q1", 0)])]).await;
    s.login("a1").await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    let o = offers(&r)[0].clone();
    s.answer(&o).await;
    s.enqueue("c2", "q1", 0, Window::ANY).await;
    let r =
        s.act("a1", AgentAction::Pause { queue: Some("q1".into()), reason: "break".into() }).await;
    let evicted: Vec<(&str, Outcome)> = r
        .notices
        .iter()
        .filter_map(|n| match n {
            Notice::Evict { call, outcome, .. } => Some((call.as_str(), *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(evicted, [("c2", Outcome::LeaveUnavail)]);
    assert_eq!(s.store.position(&"c2".into()).await.expect("ok"), None);
}

async fn heavier_queues_are_served_first<S: Store>(mut s: Site<S>) {
    let light = queue("q1", Strategy::Linear);
    let mut heavy = queue("q2", Strategy::Linear);
    heavy.weight = 10;
    s.setup(&[light, heavy], &[agent("a1", &[("q1", 0), ("q2", 0)])]).await;
    s.enqueue("light", "q1", 9, Window::ANY).await;
    s.enqueue("heavy", "q2", 0, Window::ANY).await;
    let r = s.login("a1").await;
    assert_eq!(offers(&r)[0].call.as_str(), "heavy");
}

/// Configuring a running site again: the next requests see the new queue settings and the new
/// memberships (the Redis store keeps parsed configurations between calls).
async fn a_new_configuration_applies_at_once<S: Store>(mut s: Site<S>) {
    let mut q2 = queue("q2", Strategy::Linear);
    q2.ring_timeout = Duration::from_secs(5);
    let q1 = queue("q1", Strategy::Linear);
    s.setup(&[q1.clone(), q2.clone()], &[agent("a1", &[("q1", 0), ("q2", 0)])]).await;
    s.login("a1").await;
    let r = s.enqueue("c0", "q2", 0, Window::ANY).await;
    assert_eq!(offers(&r)[0].ring_timeout, Duration::from_secs(5), "{r:?}");
    s.leave("c0", Outcome::Abandoned).await;
    s.leg_down("a1").await;
    q2.ring_timeout = Duration::from_secs(7);
    s.setup(&[q1, q2], &[agent("a1", &[("q2", 0)])]).await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    assert!(offers(&r).is_empty(), "a1 left q1: {r:?}");
    let r = s.enqueue("c2", "q2", 0, Window::ANY).await;
    let offered = offers(&r);
    assert_eq!(offered.len(), 1, "a1 is still in q2: {r:?}");
    assert_eq!(
        (offered[0].agent.as_str(), offered[0].ring_timeout),
        ("a1", Duration::from_secs(7))
    );
}

/// A reload that lowers a penalty (or adds a membership) lets an idle agent take a waiting
/// caller: `reconfigure` offers it at once, journaled, and a later request finds a consistent
/// state. Agents with nothing to take are left alone.
async fn reconfiguring_offers_what_became_matchable<S: Store>(mut s: Site<S>) {
    let q1 = queue("q1", Strategy::Linear);
    let q2 = queue("q2", Strategy::Linear);
    let agents = [agent("a1", &[("q1", 5)]), agent("a2", &[("q2", 0)])];
    s.setup(&[q1.clone(), q2.clone()], &agents).await;
    s.login("a1").await;
    s.login("a2").await;
    let r = s.enqueue("c1", "q1", 0, Window { min: 0, max: 0 }).await;
    assert!(offers(&r).is_empty(), "penalty 5 is outside the window: {r:?}");
    let t = s.tick(1);
    let agents = [agent("a1", &[("q1", 0)]), agent("a2", &[("q2", 0)])];
    let notices = s.store.reconfigure(&[q1, q2], &agents, t).await.expect("reconfigure");
    let offered: Vec<(&str, &str)> = notices
        .iter()
        .filter_map(|n| if let Notice::Offer(o) = n { Some(o) } else { None })
        .map(|o| (o.call.as_str(), o.agent.as_str()))
        .collect();
    assert_eq!(offered, [("c1", "a1")], "{notices:?}");
    assert_eq!(notices.len(), 1, "{notices:?}");
    assert_eq!(s.status("a1").await, AgentStatus::Reserved(CallId::new("c1")));
    assert_eq!(s.status("a2").await, AgentStatus::Available);
    let offered_in_journal =
        s.journal().await.into_iter().filter(|e| matches!(e, JournalEvent::Offered { .. })).count();
    assert_eq!(offered_in_journal, 1);
    let r = s.enqueue("c2", "q2", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a2"]);
}

/// `reconfigure` journals the memberships it adds and removes (for `ADDMEMBER` /
/// `REMOVEMEMBER`), at its time, per agent in configuration order; `configure` has no time and
/// journals none, and an unchanged membership is not journaled again.
async fn reconfiguring_journals_membership_changes<S: Store>(mut s: Site<S>) {
    let queues = [queue("q1", Strategy::Linear), queue("q2", Strategy::Linear)];
    s.setup(&queues, &[agent("a1", &[("q1", 0)])]).await;
    let t = s.tick(5);
    let agents = [agent("a1", &[("q2", 3)]), agent("a2", &[("q2", 1), ("q1", 0)])];
    s.store.reconfigure(&queues, &agents, t).await.expect("reconfigure");
    let later = s.tick(5);
    s.store.reconfigure(&queues, &agents, later).await.expect("reconfigure");
    let entries = s.store.read_journal("conformance", 100).await.expect("journal");
    assert!(entries.iter().all(|e| e.time == t), "stamped with the reconfigure's time");
    let a = |id: &str| AgentId::new(id);
    let q = |id: &str| QueueId::new(id);
    let events: Vec<JournalEvent> = entries.into_iter().map(|e| e.event).collect();
    assert_eq!(
        events,
        [
            JournalEvent::MemberAdded { agent: a("a1"), queue: q("q2"), penalty: 3 },
            JournalEvent::MemberRemoved { agent: a("a1"), queue: q("q1") },
            JournalEvent::MemberAdded { agent: a("a2"), queue: q("q2"), penalty: 1 },
            JournalEvent::MemberAdded { agent: a("a2"), queue: q("q1"), penalty: 0 },
        ]
    );
}

/// An agent left out of a new configuration leaves every queue (journaled, after the others)
/// and is offered nothing more; the call it is on goes on to its end, and it is free after.
async fn an_agent_left_out_leaves_its_queues_and_finishes_its_call<S: Store>(mut s: Site<S>) {
    let queues = [queue("q1", Strategy::Linear), queue("q2", Strategy::Linear)];
    let both = [agent("a1", &[("q1", 0), ("q2", 0)]), agent("a2", &[("q1", 0)])];
    s.setup(&queues, &both).await;
    s.login("a1").await;
    s.login("a2").await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a1"]);
    s.answer(offers(&r)[0]).await;
    let t = s.tick(1);
    let only_a2 = [agent("a2", &[("q1", 0)])];
    s.store.reconfigure(&queues, &only_a2, t).await.expect("reconfigure");
    assert_eq!(s.status("a1").await, AgentStatus::OnCall(CallId::new("c1")), "call goes on");
    let removed: Vec<JournalEvent> = s
        .journal()
        .await
        .into_iter()
        .filter(|e| matches!(e, JournalEvent::MemberRemoved { .. }))
        .collect();
    let a1 = AgentId::new("a1");
    assert_eq!(
        removed,
        [
            JournalEvent::MemberRemoved { agent: a1.clone(), queue: QueueId::new("q1") },
            JournalEvent::MemberRemoved { agent: a1, queue: QueueId::new("q2") },
        ]
    );
    s.hangup_by("c1", 1, Party::Agent).await;
    let r = s.enqueue("c2", "q2", 0, Window::ANY).await;
    assert!(offers(&r).is_empty(), "a1 is in no queue: {r:?}");
    let r = s.enqueue("c3", "q1", 0, Window::ANY).await;
    assert_eq!(offered_agents(&r), ["a2"]);
}

async fn without_autofill_only_the_head_rings<S: Store>(mut s: Site<S>) {
    let mut q = queue("q1", Strategy::Linear);
    q.autofill = false;
    s.setup(&[q], &[agent("a1", &[("q1", 0)]), agent("a2", &[("q1", 0)])]).await;
    s.enqueue("c1", "q1", 0, Window::ANY).await;
    s.enqueue("c2", "q1", 0, Window::ANY).await;
    s.login("a1").await;
    let r = s.login("a2").await;
    assert!(offers(&r).is_empty(), "c2 waits while the head rings");
    let o = s
        .journal()
        .await
        .into_iter()
        .find_map(|e| match e {
            JournalEvent::Offered { reservation, .. } => Some(reservation),
            _ => None,
        })
        .expect("c1 offered");
    let r = s.apply(Request::Answered { fence: s.fence.clone(), reservation: o, now: s.now }).await;
    assert_eq!(offered_agents(&r), ["a2"], "c2 is head now");
}

async fn pauses_apply_per_queue_or_everywhere<S: Store>(mut s: Site<S>) {
    s.setup(
        &[queue("q1", Strategy::Linear), queue("q2", Strategy::Linear)],
        &[agent("a1", &[("q2", 0), ("q1", 0)])],
    )
    .await;
    s.login("a1").await;
    let pause = |queue: Option<&str>| AgentAction::Pause {
        queue: queue.map(QueueId::new),
        reason: "r".into(),
    };
    s.act("a1", pause(Some("q1"))).await;
    assert!(offers(&s.enqueue("c1", "q1", 0, Window::ANY).await).is_empty());
    let r = s.enqueue("c2", "q2", 0, Window::ANY).await;
    let o = offers(&r)[0].clone();
    s.answer(&o).await;
    assert!(
        matches!(s.act("a1", AgentAction::Logout).await.result, Verdict::Invalid(_)),
        "not during a call"
    );
    s.hangup("c2", 3).await;
    s.act("a1", pause(None)).await;
    let r = s.act("a1", AgentAction::Unpause { queue: Some("q1".into()) }).await;
    assert!(offers(&r).is_empty(), "still paused everywhere");
    let r = s.act("a1", AgentAction::Unpause { queue: None }).await;
    assert_eq!(offers(&r)[0].call.as_str(), "c1");
    let r = s.act("a1", pause(Some("nope"))).await;
    assert!(matches!(r.result, Verdict::Invalid(m) if m.contains("nope")));
    // A pause or unpause everywhere names the agent's queues then, in id order (queue_log
    // writes a PAUSE / UNPAUSE in each); one in one queue names none.
    let scopes: Vec<(bool, Option<QueueId>, Vec<QueueId>)> = s
        .journal()
        .await
        .into_iter()
        .filter_map(|e| match e {
            JournalEvent::Paused { queue, members, .. } => Some((true, queue, members)),
            JournalEvent::Unpaused { queue, members, .. } => Some((false, queue, members)),
            _ => None,
        })
        .collect();
    let both = vec![QueueId::new("q1"), QueueId::new("q2")];
    let expected = [
        (true, Some(QueueId::new("q1")), vec![]),
        (true, None, both.clone()),
        (false, Some(QueueId::new("q1")), vec![]),
        (false, None, both),
    ];
    assert_eq!(scopes, expected);
}

/// The agent and cause of every cancelled offer, in journal order.
fn cancel_causes(journal: &[JournalEvent]) -> Vec<(AgentId, CancelCause)> {
    journal
        .iter()
        .filter_map(|e| match e {
            JournalEvent::OfferCancelled { agent, cause, .. } => Some((agent.clone(), *cause)),
            _ => None,
        })
        .collect()
}

async fn stale_epochs_are_fenced<S: Store>(s: Site<S>) {
    s.setup(&[queue("q1", Strategy::Linear)], &[]).await;
    let node = NodeId::new("n2");
    let ttl = Duration::from_secs(3);
    let first = s.store.acquire_lease(&node, "i1", Time(0), ttl).await.expect("ok").expect("free");
    assert!(
        s.store.acquire_lease(&node, "i2", Time(1_000), ttl).await.expect("ok").is_none(),
        "held"
    );
    let renewed =
        s.store.renew_lease(&first, Time(2_000), ttl).await.expect("ok").expect("still held");
    assert_eq!(renewed.epoch, first.epoch);
    let second =
        s.store.acquire_lease(&node, "i2", Time(5_001), ttl).await.expect("ok").expect("lapsed");
    assert!(second.epoch > first.epoch, "a new tenure has a greater epoch");
    assert!(s.store.renew_lease(&first, Time(5_002), ttl).await.expect("ok").is_none());
    let stale = Enqueue {
        fence: first.fence(),
        call: "c1".into(),
        queue: "q1".into(),
        caller_id: String::new(),
        priority: 0,
        window: Window::ANY,
        now: Time(5_003),
        resumed: None,
    };
    assert_eq!(s.apply(Request::Enqueue(stale)).await.result, Verdict::Fenced);
    let err = s.store.take_notices(&first.fence(), 1).await.unwrap_err();
    assert_eq!(err, StoreError::Fenced { node: node.clone(), epoch: first.epoch });
    s.store.release_lease(&second).await.expect("ok");
    let third =
        s.store.acquire_lease(&node, "i1", Time(5_004), ttl).await.expect("ok").expect("released");
    assert!(third.epoch > second.epoch);
    assert!(third.epoch > Epoch(0));
}

async fn journal_is_read_and_acknowledged_by_group<S: Store>(mut s: Site<S>) {
    s.setup(&[queue("q1", Strategy::Linear)], &[agent("a1", &[("q1", 0)])]).await;
    // Both groups exist before anything is acknowledged: records are kept until all have.
    assert!(s.store.read_journal("g2", 100).await.expect("ok").is_empty());
    assert_eq!(s.store.journal_id().await.expect("ok"), None, "no record, no identity yet");
    s.login("a1").await;
    let began = Some(JournalId(s.now.as_millis()));
    assert_eq!(s.store.journal_id().await.expect("ok"), began, "the first record's time");
    s.tick(1);
    s.enqueue("c1", "q1", 0, Window::ANY).await;
    assert_eq!(s.store.journal_id().await.expect("ok"), began, "kept while the journal lasts");
    let first = s.store.read_journal("g1", 2).await.expect("ok");
    assert_eq!(first.len(), 2);
    assert!(first[0].seq < first[1].seq);
    let again = s.store.read_journal("g1", 2).await.expect("ok");
    assert_eq!(first, again, "unacknowledged records are delivered again");
    let total = s.store.journal_backlog("g1").await.expect("ok");
    assert!(total >= 2, "reading acknowledges nothing: {total}");
    s.store.ack_journal("g1", first[1].seq).await.expect("ok");
    let rest = s.store.read_journal("g1", 100).await.expect("ok");
    assert!(rest.iter().all(|e| e.seq > first[1].seq) && !rest.is_empty());
    let other = s.store.read_journal("g2", 100).await.expect("ok");
    assert_eq!(other.len(), 2 + rest.len(), "groups read independently");
    assert_eq!(s.store.journal_backlog("g1").await.expect("ok"), rest.len() as u64);
    assert_eq!(s.store.journal_backlog("g2").await.expect("ok"), other.len() as u64);
    assert_eq!(total, other.len() as u64);
    s.store.ack_journal("g1", rest[rest.len() - 1].seq).await.expect("ok");
    assert_eq!(s.store.journal_backlog("g1").await.expect("ok"), 0, "caught up");
}

async fn an_ended_call_never_enters_again<S: Store>(mut s: Site<S>) {
    let mut full = queue("q1", Strategy::Linear);
    full.max_len = Some(0);
    s.setup(&[queue("q2", Strategy::Linear), full], &[agent("a1", &[("q2", 0)])]).await;
    s.enqueue("c1", "q2", 0, Window::ANY).await;
    s.tick(1);
    assert_eq!(s.leave("c1", Outcome::Abandoned).await.result, Verdict::Done);
    let again = s.enqueue("c1", "q2", 0, Window::ANY).await.result;
    assert_eq!(again, Verdict::Ended(Outcome::Abandoned), "left: once, and how it ended");
    assert_eq!(s.enqueue("c2", "q1", 0, Window::ANY).await.result, Verdict::Refused(Outcome::Full));
    let again = s.enqueue("c2", "q1", 0, Window::ANY).await.result;
    assert_eq!(again, Verdict::Ended(Outcome::Full), "refused: once");
    let ends = s.journal().await.into_iter().filter(|e| e.terminal_call().is_some()).count();
    assert_eq!(ends, 2, "one end each");
}

async fn a_nodes_callers_are_read_back_for_adoption<S: Store>(mut s: Site<S>) {
    s.setup(
        &[queue("q1", Strategy::RingAll)],
        &[agent("a1", &[("q1", 0)]), agent("a2", &[("q1", 0)])],
    )
    .await;
    let node = s.fence.node.clone();
    assert!(s.store.node_calls(&node).await.expect("ok").is_empty());
    s.login("a1").await;
    s.login("a2").await;
    let r = s.enqueue("c1", "q1", 0, Window::ANY).await;
    let entered = s.now;
    let ringing = offers(&r)[0].clone();
    let calls = s.store.node_calls(&node).await.expect("ok");
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!((calls[0].call.as_str(), calls[0].queue.as_str()), ("c1", "q1"));
    assert_eq!((calls[0].caller_id.as_str(), calls[0].entered), ("100", entered));
    let StoredState::Waiting { offers: held } = &calls[0].state else {
        panic!("c1 rings its agents: {calls:?}")
    };
    let mut agents: Vec<&str> = held.iter().map(|(_, a)| a.as_str()).collect();
    agents.sort_unstable();
    assert_eq!(agents, ["a1", "a2"], "ringall holds both");
    s.answer(&ringing).await;
    let since = s.now;
    s.leg_down("a2").await;
    s.enqueue("c2", "q1", 0, Window::ANY).await;
    let mut calls = s.store.node_calls(&node).await.expect("ok");
    calls.sort_by(|a, b| a.call.cmp(&b.call));
    assert_eq!(
        calls[0].state,
        StoredState::Connected {
            reservation: ringing.reservation,
            agent: ringing.agent.clone(),
            since
        }
    );
    let StoredState::Waiting { offers: held } = &calls[1].state else { panic!("{calls:?}") };
    let agents: Vec<&str> = held.iter().map(|(_, a)| a.as_str()).collect();
    assert_eq!(agents, ["a2"], "a2, freed by a1's answer (once its leg is down), rings for c2");
    assert!(s.store.node_calls(&NodeId::new("n2")).await.expect("ok").is_empty());
    s.hangup("c1", 5).await;
    let calls = s.store.node_calls(&node).await.expect("ok");
    let left: Vec<&str> = calls.iter().map(|c| c.call.as_str()).collect();
    assert_eq!(left, ["c2"], "ended callers are gone");
}

async fn instances_live_while_they_beat_and_inboxes_hand_notices_to_owners<S: Store>(s: Site<S>) {
    let ttl = Duration::from_secs(3);
    let at = |ms: u64| Time(1_000_000 + ms);
    let beat =
        async |instance, ms, ttl| s.store.heartbeat(instance, at(ms), ttl).await.expect("ok");
    let first = beat("b", 0, ttl).await;
    assert_eq!(first.live, ["b"]);
    assert!(!first.configured, "a store never configured says so");
    s.setup(&[QueueConfig::new("q1")], &[]).await;
    let second = beat("a", 1_000, ttl).await;
    assert_eq!(second.live, ["a", "b"]);
    assert!(second.configured, "a configured store says so");
    assert_eq!(beat("a", 3_500, ttl).await.live, ["a"], "b lapsed");
    assert!(beat("a", 3_600, Duration::ZERO).await.live.is_empty());

    let offer = |reservation, node: &str| Offer {
        reservation: starq_core::ReservationId(reservation),
        call: CallId::new(format!("{node}~c{reservation}")),
        node: NodeId::new(node),
        queue: QueueId::new("q1"),
        agent: AgentId::new("a1"),
        ring_timeout: Duration::from_secs(15),
    };
    let evict = Notice::Evict {
        call: CallId::new("n1~c9"),
        node: NodeId::new("n1"),
        queue: QueueId::new("q1"),
        outcome: Outcome::LeaveEmpty,
    };
    let posted = vec![
        Notice::Offer(offer(1, "n1")),
        Notice::Offer(offer(2, "n2")),
        Notice::Cancelled(offer(1, "n1")),
        evict.clone(),
    ];
    s.store.post_notices(posted).await.expect("posted");
    let first = s.store.take_notices(&s.fence, 2).await.expect("owner takes");
    assert_eq!(first, [Notice::Offer(offer(1, "n1")), Notice::Cancelled(offer(1, "n1"))]);
    assert_eq!(s.store.take_notices(&s.fence, 10).await.expect("ok"), [evict], "in order");
    assert!(s.store.take_notices(&s.fence, 10).await.expect("ok").is_empty(), "taken once");
    let stale = Fence { node: s.fence.node.clone(), epoch: Epoch(s.fence.epoch.0 + 1) };
    assert!(matches!(s.store.take_notices(&stale, 10).await, Err(StoreError::Fenced { .. })));
}
