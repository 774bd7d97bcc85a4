//! Scenario tests of the engine with the memory store: one feature each, commands checked
//! exactly.

use std::time::Duration;

use starq_core::config::{
    AgentConfig, Announcements, Contact, Destination, HoldtimeAnnounce, Membership, Overflow,
    PositionAnnounce, QueueConfig,
};
use starq_core::engine::{Arrival, ChannelAction, Command, Engine, Input, LegHangup};
use starq_core::journal::JournalEvent;
use starq_core::shared::{
    AgentAction, Miss, Notice, Offer, Party, Reply, Request, Verdict, leg_id,
};
use starq_core::strategy::Strategy;
use starq_core::{CallId, Epoch, Fence, NodeId, Outcome, QueueId, ReservationId, Time};
use starq_store::MemoryStore;

struct Harness {
    engine: Engine,
    queues: Vec<QueueConfig>,
    agents: Vec<AgentConfig>,
    store: MemoryStore,
    now: Time,
    /// Every non-store command, in order.
    seen: Vec<Command>,
    /// Whether the store refuses give-backs (`Missed`) as from a node lease that moved on.
    fence_give_backs: bool,
}

fn agent(id: &str, queue: &str, contacts: &[(&str, &[&str])]) -> AgentConfig {
    let mut a = AgentConfig::new(id);
    a.memberships.push(Membership { queue: QueueId::new(queue), penalty: 0 });
    for (endpoint, nodes) in contacts {
        a.contacts.push(Contact {
            endpoint: endpoint.to_string(),
            nodes: nodes.iter().copied().map(NodeId::new).collect(),
        });
    }
    a
}

impl Harness {
    fn new(queues: &[QueueConfig], agents: &[AgentConfig]) -> Self {
        let store = MemoryStore::new();
        store.configure_now(queues, agents);
        let mut engine = Engine::new(queues, agents, 9);
        engine.handle(
            Time(0),
            Input::NodeOwned { fence: Fence { node: NodeId::new("main"), epoch: Epoch(0) } },
        );
        let (node, calls, present) = (NodeId::new("main"), Vec::new(), Default::default());
        engine.handle(Time(0), Input::Adopt { node, calls, present });
        let mut h = Harness {
            engine,
            queues: queues.to_vec(),
            agents: agents.to_vec(),
            store,
            now: Time(1_000_000),
            seen: Vec::new(),
            fence_give_backs: false,
        };
        for a in agents {
            h.input(Input::Agent { agent: a.id.clone(), action: AgentAction::Login });
        }
        h.seen.clear();
        h
    }

    fn input(&mut self, input: Input) {
        self.engine.handle(self.now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(command) = self.engine.poll_command() {
            match command {
                Command::Store(Request::Missed { .. }) if self.fence_give_backs => {
                    let fenced = Reply { result: Verdict::Fenced, notices: Vec::new() };
                    self.engine.handle(self.now, Input::Reply(fenced));
                }
                Command::Store(request) => {
                    let reply = self.store.apply_now(request);
                    self.engine.handle(self.now, Input::Reply(reply));
                }
                Command::QueryPosition { call } => {
                    let position = self.store.position_now(&call);
                    self.engine.handle(self.now, Input::Position { call, position });
                }
                other => self.seen.push(other),
            }
        }
        self.store.check_invariants();
        self.engine.check_invariants();
    }

    /// Advances time to `secs` after the start, firing due timers on the way.
    fn wait(&mut self, secs: u64) {
        let until = Time(1_000_000 + secs * 1000);
        while let Some(due) = self.engine.poll_timeout().filter(|t| *t <= until) {
            self.now = due.max(self.now);
            self.engine.handle_timeout(self.now);
            self.drain();
        }
        self.now = until;
    }

    fn arrive(&mut self, channel: &str, queue: &str) {
        let arrival = Arrival {
            node: NodeId::new("main"),
            channel: channel.into(),
            queue: QueueId::new(queue),
            caller_id: "555".into(),
            priority: 0,
            max_wait: None,
            resumed: None,
            connected: None,
        };
        self.input(Input::CallerArrived(arrival));
    }

    /// The engine dies without a word and a fresh one owns the node: it is told the node is
    /// its own, may act on the store before it adopts (`before`), then adopts what the store
    /// holds for the node with the channels `present` in Asterisk.
    fn take_over(&mut self, before: impl FnOnce(&mut Self), present: &[String]) {
        self.engine = Engine::new(&self.queues, &self.agents, 77);
        let node = NodeId::new("main");
        self.input(Input::NodeOwned { fence: Fence { node: node.clone(), epoch: Epoch(0) } });
        before(self);
        let calls = self.store.node_calls_now(&node);
        let present = present.iter().cloned().collect();
        self.input(Input::Adopt { node, calls, present });
    }

    fn take(&mut self) -> Vec<Command> {
        std::mem::take(&mut self.seen)
    }

    fn dials(&self) -> Vec<(ReservationId, String)> {
        self.seen
            .iter()
            .filter_map(|c| match c {
                Command::Dial { reservation, endpoint, .. } => {
                    Some((*reservation, endpoint.clone()))
                }
                _ => None,
            })
            .collect()
    }
}

/// The legs the commands ring, with their reservations.
fn legs_rung(commands: &[Command]) -> Vec<(ReservationId, String)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Dial { reservation, leg, .. } => Some((*reservation, leg.clone())),
            _ => None,
        })
        .collect()
}

fn continued(commands: &[Command]) -> Vec<(String, Option<Destination>, &'static str)> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::Channel {
                channel,
                action: ChannelAction::Continue { destination, status },
                ..
            } => Some((channel.clone(), destination.clone(), *status)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_caller_is_answered_held_rung_through_bridged_and_completed() {
    let mut q = QueueConfig::new("support");
    q.wrapup = Duration::from_secs(5);
    let mut h = Harness::new(&[q], &[agent("alice", "support", &[("PJSIP/alice", &[])])]);
    h.arrive("ch1", "support");
    let dials = h.dials();
    assert_eq!(dials.len(), 1);
    let out = h.take();
    assert!(matches!(&out[0], Command::Channel { action: ChannelAction::Answer, .. }));
    assert!(
        matches!(&out[1], Command::Channel { action: ChannelAction::StartMoh(class), .. } if class == "default")
    );
    assert!(
        matches!(&out[2], Command::Dial { leg, endpoint, .. } if leg == &leg_id(&CallId::new("main~ch1"), dials[0].0) && endpoint == "PJSIP/alice")
    );
    h.input(Input::LegAnswered { reservation: dials[0].0 });
    let out = h.take();
    assert!(matches!(&out[0], Command::Channel { action: ChannelAction::StopMoh, .. }));
    assert!(matches!(&out[1], Command::Bridge { channel, .. } if channel == "ch1"));
    h.input(Input::LegHungUp { reservation: dials[0].0 });
    let out = h.take();
    assert!(matches!(&out[0], Command::Channel { action: ChannelAction::Hangup, .. }), "{out:?}");
    // Wrap-up: the next caller waits 5 s for alice.
    h.arrive("ch2", "support");
    assert!(h.dials().is_empty());
    h.wait(6);
    assert_eq!(h.dials().len(), 1, "offered after wrap-up");
}

#[test]
fn ringall_first_answer_wins_and_the_others_are_hung_up() {
    let mut q = QueueConfig::new("sales");
    q.strategy = Strategy::RingAll;
    let agents =
        [agent("a", "sales", &[("PJSIP/a", &[])]), agent("b", "sales", &[("PJSIP/b", &[])])];
    let mut h = Harness::new(&[q], &agents);
    h.arrive("ch1", "sales");
    let dials = h.dials();
    assert_eq!(dials.len(), 2);
    h.take();
    h.input(Input::LegAnswered { reservation: dials[1].0 });
    let out = h.take();
    let hung: Vec<LegHangup> = out
        .iter()
        .filter_map(|c| match c {
            Command::HangupLeg { reason, .. } => Some(*reason),
            _ => None,
        })
        .collect();
    assert_eq!(hung, [LegHangup::AnsweredElsewhere]);
    assert!(out.iter().any(|c| matches!(c, Command::Bridge { .. })));
    // The loser's late answer changes nothing.
    h.input(Input::LegAnswered { reservation: dials[0].0 });
    assert!(h.take().iter().all(|c| !matches!(c, Command::Bridge { .. })));
    // The loser takes the next caller once its leg is down (LEG_TEARDOWN).
    h.arrive("ch2", "sales");
    assert!(h.dials().is_empty(), "not while its leg is being hung up");
    h.wait(1);
    assert_eq!(h.dials().len(), 1);
}

/// The caller hangs up while alice's phone rings: starq hangs her leg up, and the next caller
/// rings her only once that hang-up can have reached the phone (`LEG_TEARDOWN`), never while
/// the old leg may still be up. The engine that cancelled the offer ends her rest.
#[test]
fn a_cancelled_offer_rings_the_phone_again_only_once_its_leg_is_down() {
    let mut h = Harness::new(&[QueueConfig::new("s")], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    h.arrive("ch1", "s");
    assert_eq!(h.dials().len(), 1);
    h.take();
    h.input(Input::CallerHungUp { node: NodeId::new("main"), channel: "ch1".into() });
    let out = h.take();
    assert!(
        out.iter().any(|c| matches!(c, Command::HangupLeg { reason: LegHangup::Cancelled, .. }))
    );
    h.arrive("ch2", "s");
    assert!(h.dials().is_empty(), "not while the cancelled leg is being hung up");
    h.wait(1); // LEG_TEARDOWN
    assert_eq!(h.dials().len(), 1, "rung for ch2 once the leg is down");
}

#[test]
fn no_answer_rings_out_and_retries_after_the_back_off() {
    let mut q = QueueConfig::new("s");
    q.ring_timeout = Duration::from_secs(10);
    q.retry = Duration::from_secs(4);
    let mut h = Harness::new(&[q], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    h.arrive("ch1", "s");
    h.take();
    h.wait(10);
    let out = h.take();
    assert!(out.iter().any(|c| matches!(c, Command::HangupLeg { reason: LegHangup::Timeout, .. })));
    assert!(!out.iter().any(|c| matches!(c, Command::Dial { .. })), "not before the retry");
    h.wait(14);
    assert_eq!(h.dials().len(), 1, "rung again after retry");
}

#[test]
fn an_agent_is_reached_through_the_account_its_callers_node_can_dial() {
    let q = QueueConfig::new("s");
    let contacts: &[(&str, &[&str])] =
        &[("PJSIP/a-backup", &["backup"]), ("PJSIP/a-main", &["main"])];
    let mut h = Harness::new(&[q], &[agent("a", "s", contacts)]);
    h.arrive("ch1", "s");
    assert_eq!(h.dials()[0].1, "PJSIP/a-main");
}

#[test]
fn an_agent_no_contact_reaches_is_skipped_as_unreachable() {
    let mut q = QueueConfig::new("s");
    q.retry = Duration::ZERO;
    let agents =
        [agent("a", "s", &[("PJSIP/a", &["backup"])]), agent("b", "s", &[("PJSIP/b", &[])])];
    let mut h = Harness::new(&[q], &agents);
    h.arrive("ch1", "s");
    assert_eq!(h.dials().iter().map(|d| d.1.as_str()).collect::<Vec<_>>(), ["PJSIP/b"]);
}

#[test]
fn timeout_moves_the_caller_to_the_next_queue_then_to_voicemail() {
    let mut main = QueueConfig::new("main");
    main.max_wait = Some(Duration::from_secs(20));
    main.on_timeout = Overflow::Queue(QueueId::new("backup"));
    let mut backup = QueueConfig::new("backup");
    backup.max_wait = Some(Duration::from_secs(20));
    let voicemail =
        Destination { context: "voicemail".into(), extension: "100".into(), priority: 1 };
    backup.on_timeout = Overflow::Dialplan(Some(voicemail.clone()));
    let mut h = Harness::new(&[main, backup], &[]);
    h.arrive("ch1", "main");
    h.wait(19);
    assert!(continued(&h.take()).is_empty());
    h.wait(21);
    assert!(continued(&h.take()).is_empty(), "moved to backup, not out");
    let backup_step = starq_core::CallId::of_channel(&NodeId::new("main"), "ch1", 1);
    assert_eq!(h.store.position_now(&backup_step), Some(1));
    h.wait(41);
    assert_eq!(continued(&h.take()), [("ch1".to_owned(), Some(voicemail), "TIMEOUT")]);
}

#[test]
fn an_exit_key_continues_in_the_exit_context() {
    let mut q = QueueConfig::new("s");
    q.exit_context = Some("exits".into());
    let mut h = Harness::new(&[q], &[]);
    h.arrive("ch1", "s");
    h.take();
    h.input(Input::CallerDtmf { node: NodeId::new("main"), channel: "ch1".into(), digit: '5' });
    let dest = Destination { context: "exits".into(), extension: "5".into(), priority: 1 };
    assert_eq!(continued(&h.take()), [("ch1".to_owned(), Some(dest), "EXITWITHKEY")]);
}

#[test]
fn unknown_queue_and_full_queue_go_back_to_the_dialplan_with_a_reason() {
    let mut q = QueueConfig::new("s");
    q.max_len = Some(1);
    let mut h = Harness::new(&[q], &[]);
    h.arrive("ch0", "nope");
    h.arrive("ch1", "s");
    h.arrive("ch2", "s");
    let out = continued(&h.take());
    assert_eq!(out, [("ch0".to_owned(), None, "UNKNOWNQUEUE"), ("ch2".to_owned(), None, "FULL")]);
}

/// The media played to the channel `who` among `out`'s commands, one list per play.
fn played(out: &[Command], who: &str) -> Vec<Vec<String>> {
    out.iter()
        .filter_map(|c| match c {
            Command::Channel { channel, action: ChannelAction::Play(media), .. }
                if channel == who =>
            {
                Some(media.clone())
            }
            _ => None,
        })
        .collect()
}

#[test]
fn announcements_say_position_and_estimated_wait() {
    let mut q = QueueConfig::new("s");
    q.announce = Announcements {
        frequency: Some(Duration::from_secs(30)),
        position: PositionAnnounce::Yes,
        holdtime: HoldtimeAnnounce::Yes,
        periodic: vec!["custom/promo".into()],
        periodic_frequency: Some(Duration::from_secs(45)),
        ..Announcements::default()
    };
    let mut h = Harness::new(&[q], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    // One call completes (talk 120 s) so the queue has a handle time to estimate from.
    h.arrive("ch0", "s");
    let r = h.dials()[0].0;
    h.input(Input::LegAnswered { reservation: r });
    h.arrive("ch1", "s");
    h.arrive("ch2", "s");
    h.arrive("ch3", "s");
    h.wait(120);
    h.take();
    h.input(Input::CallerHungUp { node: NodeId::new("main"), channel: "ch0".into() });
    h.wait(121); // the agent's leg is hung up first (LEG_TEARDOWN)
    let r = h.dials()[0].0;
    h.input(Input::LegAnswered { reservation: r });
    h.take();
    h.wait(200);
    let out = h.take();
    let plays = |who: &str| played(&out, who);
    // ch2 is next (position 1) with no agent ringing for it: as in app_queue, it hears that it
    // is next (and no wait estimate), besides the periodic prompts.
    assert!(plays("ch2").iter().any(|m| m == &["sound:custom/promo"]), "{:?}", plays("ch2"));
    let next = ["sound:queue-youarenext", "sound:queue-thankyou"].map(String::from).to_vec();
    assert!(plays("ch2").contains(&next), "{:?}", plays("ch2"));
    assert!(plays("ch2").iter().all(|m| !m.contains(&"sound:queue-holdtime".to_owned())));
    // ch3 is second, one agent serves, calls take 120 s: about 4 minutes (2 × 120 s, rounded up).
    let expected: Vec<String> = [
        "sound:queue-thereare",
        "number:2",
        "sound:queue-callswaiting",
        "sound:queue-holdtime",
        "number:4",
        "sound:queue-minutes",
        "sound:queue-thankyou",
    ]
    .map(String::from)
    .to_vec();
    assert!(plays("ch3").contains(&expected), "{:?}", plays("ch3"));
}

#[test]
fn the_position_is_said_at_entry_then_when_it_changes_or_the_frequency_passes() {
    let mut q = QueueConfig::new("s");
    q.announce = Announcements {
        frequency: Some(Duration::from_secs(60)),
        min_frequency: Duration::from_secs(15),
        position: PositionAnnounce::Yes,
        ..Announcements::default()
    };
    let mut h = Harness::new(&[q], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    h.arrive("ch0", "s");
    let r = h.dials()[0].0;
    h.input(Input::LegAnswered { reservation: r });
    h.arrive("ch1", "s");
    h.arrive("ch2", "s");
    h.take();
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    h.wait(1);
    let out = h.take();
    assert_eq!(
        played(&out, "ch2"),
        [words(&[
            "sound:queue-thereare",
            "number:2",
            "sound:queue-callswaiting",
            "sound:queue-thankyou"
        ])],
        "said at entry, not a frequency later"
    );
    assert_eq!(played(&out, "ch1"), [words(&["sound:queue-youarenext", "sound:queue-thankyou"])]);
    // Nothing changes until 59 s (the harness's times are from the start): nothing more is
    // said…
    h.wait(59);
    assert!(played(&h.take(), "ch2").is_empty());
    // …and at 60 s the frequency has passed: said again.
    h.wait(61);
    assert_eq!(played(&h.take(), "ch2").len(), 1);
    // ch1 hangs up: ch2 moves up and hears it at the next look (within min-announce-frequency).
    h.input(Input::CallerHungUp { node: NodeId::new("main"), channel: "ch1".into() });
    h.wait(61 + 16);
    assert_eq!(
        played(&h.take(), "ch2"),
        [words(&["sound:queue-youarenext", "sound:queue-thankyou"])],
        "a new position is said without waiting for the frequency"
    );
}

#[test]
fn losing_the_node_ends_its_calls_and_frees_their_agents() {
    let mut q = QueueConfig::new("s");
    q.wrapup = Duration::ZERO;
    let mut h = Harness::new(&[q], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    h.arrive("ch1", "s");
    let r = h.dials()[0].0;
    h.input(Input::LegAnswered { reservation: r });
    h.arrive("ch2", "s");
    h.take();
    h.input(Input::NodeDown { node: NodeId::new("main") });
    assert_eq!(h.engine.callers(), 0);
    let view = h.store.describe();
    assert!(view.contains("status: Available"), "{view}");
    assert!(h.take().is_empty(), "nothing is sent to a dead node");
}

#[test]
fn draining_refuses_new_callers_and_still_serves_those_waiting() {
    let q = QueueConfig::new("s");
    let mut h = Harness::new(&[q], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    h.input(Input::Agent {
        agent: "a".into(),
        action: AgentAction::Pause { queue: None, reason: "x".into() },
    });
    h.arrive("ch1", "s");
    h.take();
    h.input(Input::Drain);
    h.arrive("ch2", "s");
    assert_eq!(continued(&h.take()), [("ch2".to_owned(), None, "DRAINED")]);
    h.input(Input::Agent { agent: "a".into(), action: AgentAction::Unpause { queue: None } });
    assert_eq!(h.dials().len(), 1, "the caller already waiting is still served during the grace");
}

fn leg_of(channel: &str, reservation: ReservationId) -> String {
    leg_id(&CallId::new(format!("main~{channel}")), reservation)
}

fn journaled_outcomes(h: &Harness) -> Vec<Outcome> {
    let events = h.store.journal_now().into_iter().map(|e| e.event);
    events
        .filter_map(|e| match e {
            JournalEvent::Left { outcome, .. } => Some(outcome),
            JournalEvent::Completed { by: Party::Caller, .. } => Some(Outcome::CompletedByCaller),
            JournalEvent::Completed { by: Party::Agent, .. } => Some(Outcome::CompletedByAgent),
            _ => None,
        })
        .collect()
}

#[test]
fn a_waiting_caller_is_adopted_with_its_music_and_its_original_deadline() {
    let mut q = QueueConfig::new("support");
    q.max_wait = Some(Duration::from_secs(60));
    let mut h = Harness::new(&[q], &[]);
    h.arrive("ch1", "support");
    h.wait(20);
    h.take();
    h.take_over(|_| {}, &["ch1".to_owned()]);
    let out = h.take();
    assert!(
        matches!(&out[..], [
            Command::Channel { channel: answered, action: ChannelAction::Answer, .. },
            Command::Channel { channel, action: ChannelAction::StartMoh(class), .. },
        ] if answered == "ch1" && channel == "ch1" && class == "default"),
        "answered (in case the earlier owner died before it did) and music on hold again, \
         nothing else: {out:?}"
    );
    h.wait(59);
    assert!(continued(&h.take()).is_empty(), "the wait still runs from the first entry");
    h.wait(61);
    assert_eq!(continued(&h.take()), [("ch1".to_owned(), None, "TIMEOUT")]);
    assert_eq!(journaled_outcomes(&h), [Outcome::Timeout]);
}

#[test]
fn offers_made_before_adoption_are_held_then_rung() {
    let q = QueueConfig::new("support");
    let mut h = Harness::new(&[q], &[agent("alice", "support", &[("PJSIP/alice", &[])])]);
    h.input(Input::Agent { agent: "alice".into(), action: AgentAction::Logout });
    h.arrive("ch1", "support");
    h.take();
    h.take_over(
        |h| {
            // Alice logs in through the new engine before it adopted ch1: the store offers ch1.
            h.input(Input::Agent { agent: "alice".into(), action: AgentAction::Login });
            assert!(h.dials().is_empty(), "held, not given up: {:?}", h.seen);
        },
        &["ch1".to_owned()],
    );
    assert_eq!(h.dials().len(), 1, "rung once adopted: {:?}", h.seen);
    assert!(journaled_outcomes(&h).is_empty(), "nobody ended: {:?}", h.store.journal_now());
}

#[test]
fn a_phone_still_ringing_at_takeover_is_followed_and_can_be_answered() {
    let mut q = QueueConfig::new("support");
    q.ring_timeout = Duration::from_secs(15);
    let mut h = Harness::new(&[q], &[agent("alice", "support", &[("PJSIP/alice", &[])])]);
    h.arrive("ch1", "support");
    let first = h.dials()[0].0;
    h.take();
    h.wait(10);
    h.take_over(|_| {}, &["ch1".to_owned(), leg_of("ch1", first)]);
    let out = h.take();
    assert!(
        !out.iter().any(|c| matches!(c, Command::HangupLeg { .. })),
        "the ring goes on: {out:?}"
    );
    assert_eq!(
        legs_rung(&out),
        [(first, leg_of("ch1", first))],
        "rung again under its own reservation and leg, which Asterisk refuses to make or dial \
         twice: the phone rings once"
    );
    h.wait(14);
    assert!(h.take().is_empty(), "a full ring timeout from the takeover");
    h.input(Input::LegAnswered { reservation: first });
    let out = h.take();
    assert!(
        out.iter().any(|c| matches!(c, Command::Bridge { .. })),
        "answered and bridged: {out:?}"
    );
}

#[test]
fn an_offer_whose_leg_is_missing_at_takeover_is_rung_under_the_same_leg() {
    let q = QueueConfig::new("support");
    let mut h = Harness::new(&[q], &[agent("alice", "support", &[("PJSIP/alice", &[])])]);
    h.arrive("ch1", "support");
    let first = h.dials()[0].0;
    h.take();
    // The earlier owner's leg request may still be on its way: the same leg meets it.
    h.take_over(|_| {}, &["ch1".to_owned()]);
    let out = h.take();
    assert_eq!(legs_rung(&out), [(first, leg_of("ch1", first))], "{out:?}");
    h.input(Input::LegFailed { reservation: first, miss: Miss::Busy });
    h.wait(20);
    let again = h.dials();
    assert!(!again.is_empty(), "a miss gives it back and alice is offered afresh: {:?}", h.seen);
    assert_ne!(again[0].0, first, "under a new reservation");
}

#[test]
fn a_connected_call_is_followed_to_its_end_after_takeover() {
    let mut q = QueueConfig::new("support");
    q.wrapup = Duration::from_secs(5);
    let mut h = Harness::new(&[q], &[agent("alice", "support", &[("PJSIP/alice", &[])])]);
    h.arrive("ch1", "support");
    let r = h.dials()[0].0;
    h.input(Input::LegAnswered { reservation: r });
    h.take();
    h.wait(30);
    h.take_over(|_| {}, &["ch1".to_owned(), leg_of("ch1", r)]);
    assert!(h.take().is_empty(), "a call in progress is left alone");
    h.input(Input::CallerHungUp { node: NodeId::new("main"), channel: "ch1".into() });
    let out = h.take();
    assert!(
        matches!(&out[..], [Command::HangupLeg { leg, .. }] if *leg == leg_of("ch1", r)),
        "{out:?}"
    );
    assert_eq!(journaled_outcomes(&h), [Outcome::CompletedByCaller]);
    let talk = h.store.journal_now().into_iter().find_map(|e| match e.event {
        JournalEvent::Completed { talk, .. } => Some(talk),
        _ => None,
    });
    assert_eq!(talk, Some(Duration::from_secs(30)), "talk runs from the first connection");
    h.arrive("ch2", "support");
    assert!(h.dials().is_empty(), "alice wraps up first");
    h.wait(36);
    assert_eq!(h.dials().len(), 1, "then takes the next caller");
}

#[test]
fn callers_that_left_while_no_one_watched_end_on_adoption() {
    let q = QueueConfig::new("support");
    let mut h = Harness::new(&[q], &[agent("alice", "support", &[("PJSIP/alice", &[])])]);
    h.arrive("ch1", "support");
    let r = h.dials()[0].0;
    h.input(Input::LegAnswered { reservation: r });
    h.arrive("ch2", "support");
    h.take();
    // ch1's agent hung up, and ch2 hung up, while no engine owned the node.
    h.take_over(|_| {}, &["ch1".to_owned()]);
    let out = h.take();
    assert!(
        out.iter().any(|c| matches!(c, Command::Channel { channel, action: ChannelAction::Hangup, .. } if channel == "ch1")),
        "the agent's side ended: the caller is hung up: {out:?}"
    );
    let mut outcomes = journaled_outcomes(&h);
    outcomes.sort_by_key(|o| o.queue_status());
    assert_eq!(outcomes, [Outcome::Abandoned, Outcome::CompletedByAgent]);
    assert!(h.store.node_calls_now(&NodeId::new("main")).is_empty(), "nothing left behind");
}

#[test]
fn an_offer_whose_notice_was_lost_is_rung_at_the_next_look() {
    let q = QueueConfig::new("support");
    let mut h = Harness::new(&[q], &[agent("alice", "support", &[("PJSIP/alice", &[])])]);
    h.input(Input::Agent { agent: "alice".into(), action: AgentAction::Logout });
    h.arrive("ch1", "support");
    h.take();
    // Another instance logs alice in and dies before handing the offer over: nobody rings.
    let login = starq_core::shared::Request::Agent {
        agent: "alice".into(),
        action: AgentAction::Login,
        now: h.now,
        draw: 1,
    };
    let lost = h.store.apply_now(login);
    assert_eq!(lost.notices.len(), 1, "the store offered ch1 to alice");
    let node = NodeId::new("main");
    let calls = h.store.node_calls_now(&node);
    let present = ["ch1".to_owned()].into_iter().collect();
    h.input(Input::Adopt { node: node.clone(), calls, present });
    let rung = legs_rung(&h.take());
    assert_eq!(rung.len(), 1, "the next look rings alice: {rung:?}");
    // Were the notice only late, it arrives now as a repeat and rings nothing more.
    h.input(Input::Notices(lost.notices));
    assert!(legs_rung(&h.take()).is_empty());
}

/// A cancelled offer's leg is hung up by its id even when this engine does not follow it (an
/// earlier owner rang it, or its tracking went with a node given up meanwhile): its agent is
/// offered again once the teardown rest ends, and the phone must not be ringing then.
#[test]
fn a_cancelled_offer_is_hung_up_even_when_its_leg_is_not_followed() {
    let mut h = Harness::new(&[QueueConfig::new("s")], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    h.arrive("ch1", "s");
    h.take();
    let call = starq_core::CallId::of_channel(&NodeId::new("main"), "ch1", 0);
    let untracked = Offer {
        reservation: ReservationId(99),
        call: call.clone(),
        node: NodeId::new("main"),
        queue: QueueId::new("s"),
        agent: "a".into(),
        ring_timeout: Duration::from_secs(15),
    };
    h.input(Input::Notices(vec![Notice::Cancelled(untracked)]));
    let hung: Vec<String> = h
        .take()
        .into_iter()
        .filter_map(|c| match c {
            Command::HangupLeg { leg, reason: LegHangup::Cancelled, .. } => Some(leg),
            _ => None,
        })
        .collect();
    assert_eq!(hung, [leg_id(&call, ReservationId(99))]);
}

/// A missed offer whose give-back the store refused (the node's lease had moved on, e.g. while
/// Redis was away) is still held by the store: the engine must not take it as given back, and
/// rings it again, under its own leg, at its next look at the node.
#[test]
fn an_offer_whose_give_back_was_fenced_is_rung_again_at_the_next_look() {
    let mut q = QueueConfig::new("s");
    q.ring_timeout = Duration::from_secs(10);
    let mut h = Harness::new(&[q], &[agent("a", "s", &[("PJSIP/a", &[])])]);
    h.arrive("ch1", "s");
    let r = h.dials()[0].0;
    h.take();
    h.fence_give_backs = true;
    h.wait(10);
    assert!(
        h.take().iter().any(|c| matches!(c, Command::HangupLeg { reason: LegHangup::Timeout, .. }))
    );
    h.fence_give_backs = false;
    let node = NodeId::new("main");
    let calls = h.store.node_calls_now(&node);
    let present = ["ch1".to_owned()].into_iter().collect();
    h.input(Input::Adopt { node, calls, present });
    assert_eq!(legs_rung(&h.take()), [(r, leg_of("ch1", r))]);
}
