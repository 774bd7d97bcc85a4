//! The history checker: reads the simulator's ground truth (what callers and agent phones
//! lived through) and starq's journal (what starq decided), and lists every broken promise.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use starq_core::journal::{JournalEntry, JournalEvent};
use starq_core::shared::Party;
use starq_core::{CallId, NodeId, Outcome};
use starq_sim::truth::{Outcome as Truth, Truth as World};
use starq_store::{AgentStatus, AgentView};

/// What the run produced, in figures.
#[derive(Debug, Default)]
pub struct Tally {
    pub callers: usize,
    pub queued: usize,
    pub served: usize,
    pub abandoned: usize,
    pub node_lost: usize,
    /// Callers that hung up before any instance took them in (never queued).
    pub unqueued: usize,
    /// Rings of a phone already on a call: an agent offered twice.
    pub double_offers: usize,
    /// What each double offer looked like (its rings and the call's journal).
    pub double_offer_stories: Vec<String>,
}

/// How soon after its end a rest must be over in the store.
const REST_ENDED_WITHIN: Duration = Duration::from_secs(2);

/// A caller's call id in starq, from the node it arrived on.
pub fn call_of(node: usize, channel: &str) -> CallId {
    CallId::of_channel(&NodeId::new(format!("node{node}")), channel, 0)
}

/// Checks the history and the agents as read at `read_at` (wall-clock ms); returns the tally
/// and the violations, each said in a sentence.
pub fn check(
    world: &World,
    journal: &[JournalEntry],
    agents: &[(String, AgentView)],
    read_at: u64,
) -> (Tally, Vec<String>) {
    let mut tally = Tally::default();
    let mut broken = Vec::new();
    let mut entered: BTreeSet<&CallId> = BTreeSet::new();
    let mut ends: BTreeMap<&CallId, Vec<&JournalEvent>> = BTreeMap::new();
    let mut connected: BTreeMap<&CallId, usize> = BTreeMap::new();
    for entry in journal {
        match &entry.event {
            JournalEvent::Entered { call, .. } => _ = entered.insert(call),
            JournalEvent::Connected { call, .. } => *connected.entry(call).or_default() += 1,
            event => {
                if let Some(call) = event.terminal_call() {
                    ends.entry(call).or_default().push(event);
                }
            }
        }
    }
    for (call, n) in &connected {
        if *n > 1 {
            broken.push(format!("{call} was connected {n} times"));
        }
    }
    let mut known = BTreeSet::new();
    for caller in world.callers() {
        tally.callers += 1;
        let call = call_of(caller.node, &caller.channel_id);
        known.insert(call.clone());
        let outcome = caller.outcome.as_ref();
        let Some(outcome) = outcome else {
            broken.push(format!("{call} never ended: still in the system after the run"));
            continue;
        };
        match outcome {
            Truth::AgentHungUp | Truth::CallerHungUp => tally.served += 1,
            Truth::Abandoned => tally.abandoned += 1,
            Truth::NodeLost => tally.node_lost += 1,
            _ => {}
        }
        if !entered.contains(&call) {
            match outcome {
                Truth::Abandoned | Truth::NodeLost | Truth::StasisFailed => tally.unqueued += 1,
                other => broken.push(format!("{call} was never queued, yet ended {other:?}")),
            }
            continue;
        }
        tally.queued += 1;
        let terminal = ends.get(&call).map_or(0, Vec::len);
        if terminal != 1 {
            broken.push(format!(
                "{call} has {terminal} terminal journal records (exactly one expected); truth {:?} {:?}\n  {}",
                caller.outcome,
                caller.rang,
                story(journal, &call)
            ));
        }
        let bridged = caller.connected_ms.is_some();
        let journaled = connected.contains_key(&call);
        if bridged && !journaled {
            broken.push(format!(
                "{call} talked to {:?} but starq never journaled it connected",
                caller.agent
            ));
        }
        // Connected means an agent answered and the store confirmed it; the bridge may still
        // have come too late (slow REST, a node lost) for the two to talk.
        let answered = world
            .rings()
            .iter()
            .any(|r| r.caller == Some(caller.caller) && r.answered_ms.is_some());
        if journaled && !answered {
            broken.push(format!(
                "{call} is journaled connected but no agent answered it ({outcome:?})"
            ));
        }
        // A caller hanging up just as the agent answers is journaled connected, then completed
        // by the caller (as app_queue logs CONNECT then COMPLETECALLER); an agent cannot have
        // ended a call the caller left first. (An agent may end one the caller never heard:
        // answered, then hung up before a slow node made the bridge.)
        if let Some(ends) = ends.get(&call)
            && *outcome == Truth::Abandoned
            && ends.iter().any(|e| matches!(e, JournalEvent::Completed { by: Party::Agent, .. }))
        {
            let agent_left_first = world.rings().iter().any(|r| {
                r.caller == Some(caller.caller)
                    && r.answered_ms.is_some()
                    && r.ended_ms.zip(caller.ended_ms).is_some_and(|(leg, call)| leg <= call)
            });
            if !agent_left_first {
                broken.push(format!(
                    "{call} hung up unserved, first, but is journaled completed by the agent\n  {}",
                    story(journal, &call)
                ));
            }
        }
    }
    for call in &entered {
        if !known.contains(*call) {
            broken.push(format!("{call} is journaled but the simulator never had it"));
        }
    }
    let mut per_caller: BTreeMap<u64, Vec<(u64, u64, String)>> = BTreeMap::new();
    for ring in world.rings() {
        if ring.while_busy {
            tally.double_offers += 1;
            let others: Vec<String> = world
                .rings()
                .iter()
                .filter(|r| {
                    r.agent == ring.agent
                        && r.at_ms + 20_000 > ring.at_ms
                        && r.at_ms < ring.at_ms + 5_000
                })
                .map(|r| {
                    format!(
                        "{} at {} answered {:?} ended {:?} {:?}",
                        r.channel_id, r.at_ms, r.answered_ms, r.ended_ms, r.result
                    )
                })
                .collect();
            let call = starq_core::LegId::parse(&ring.channel_id).map(|leg| leg.call().clone());
            tally.double_offer_stories.push(format!(
                "{} was rung on {} at {} while already on a call; its rings:\n  {}\n  the call:\n  {}",
                ring.agent,
                ring.channel_id,
                ring.at_ms,
                others.join("\n  "),
                call.map(|c| story(journal, &c)).unwrap_or_default()
            ));
        }
        // A ring records the caller it was made for; answered, the agent was on the line.
        if let (Some(caller), Some(answered)) = (ring.caller, ring.answered_ms) {
            let ended = ring.ended_ms.unwrap_or(u64::MAX);
            per_caller.entry(caller).or_default().push((answered, ended, ring.agent.clone()));
        }
    }
    for (caller, mut legs) in per_caller {
        legs.sort();
        for pair in legs.windows(2) {
            if pair[1].0 < pair[0].1 {
                broken.push(format!(
                    "caller {caller} had {} and {} on the line at once",
                    pair[0].2, pair[1].2
                ));
            }
        }
    }
    for (agent, view) in agents {
        match &view.status {
            AgentStatus::Reserved(call) | AgentStatus::OnCall(call) => {
                broken.push(format!("{agent} is still held for {call} after everything ended"));
            }
            // A rest is ended by a timer of the instance that began it, or of the next owner
            // of its nodes: one left well past its end is one nobody ends.
            AgentStatus::WrapUp(until) | AgentStatus::Retry(until)
                if until.0 + REST_ENDED_WITHIN.as_millis() as u64 <= read_at =>
            {
                broken.push(format!(
                    "{agent} is still resting ({:?}), {} ms after its rest was over",
                    view.status,
                    read_at - until.0
                ));
            }
            _ => {}
        }
    }
    (tally, broken)
}

/// Callers waiting at journal time `at`: queued, not ringing an agent, not connected, not
/// ended; in the store's order: by entry time, then (callers entered in the same millisecond)
/// in the order the store queued them, which is the journal's.
pub fn waiting_at(journal: &[JournalEntry], at: u64) -> Vec<(CallId, u64)> {
    let mut waiting: BTreeMap<CallId, (u64, u64)> = BTreeMap::new();
    let mut ringing: BTreeMap<CallId, usize> = BTreeMap::new();
    for entry in journal.iter().filter(|e| e.time.0 < at) {
        match &entry.event {
            JournalEvent::Entered { call, .. } => {
                _ = waiting.insert(call.clone(), (entry.time.0, entry.seq));
            }
            JournalEvent::Offered { call, .. } => *ringing.entry(call.clone()).or_default() += 1,
            JournalEvent::Missed { call, .. } | JournalEvent::OfferCancelled { call, .. } => {
                if let Some(n) = ringing.get_mut(call) {
                    *n = n.saturating_sub(1);
                }
            }
            JournalEvent::Connected { call, .. } => _ = waiting.remove(call),
            event => {
                if let Some(call) = event.terminal_call() {
                    waiting.remove(call);
                }
            }
        }
    }
    let mut list: Vec<(CallId, (u64, u64))> = waiting
        .into_iter()
        .filter(|(call, _)| ringing.get(call).copied().unwrap_or(0) == 0)
        .collect();
    list.sort_by_key(|(_, entered)| *entered);
    list.into_iter().map(|(call, (time, _))| (call, time)).collect()
}

/// For callers that were waiting when an instance died: each must end served or by its own
/// hang-up (never lost with the instance), and those offered again must be offered in the
/// order they entered. Returns the violations.
pub fn served_in_order_after(
    journal: &[JournalEntry],
    waiting: &[(CallId, u64)],
    at: u64,
) -> Vec<String> {
    let mut broken = Vec::new();
    let rank: BTreeMap<&CallId, usize> =
        waiting.iter().enumerate().map(|(i, (c, _))| (c, i)).collect();
    let mut offered_after = Vec::new();
    let mut seen = BTreeSet::new();
    for entry in journal {
        match &entry.event {
            JournalEvent::Offered { call, .. } if entry.time.0 >= at => {
                if let Some(r) = rank.get(call)
                    && seen.insert(call.clone())
                {
                    offered_after.push((*r, call.clone()));
                }
            }
            JournalEvent::Left { call, outcome: Outcome::NodeLost | Outcome::Drained, .. }
                if rank.contains_key(call) =>
            {
                broken.push(format!(
                    "{call}, waiting when the instance died, was lost ({:?})",
                    entry.event
                ));
            }
            _ => {}
        }
    }
    for pair in offered_after.windows(2) {
        if pair[1].0 < pair[0].0 {
            broken.push(format!(
                "{} entered before {} but was offered after it once the instance died (at {at}); \
                 their stories:\n  {}\n  {}",
                pair[1].1,
                pair[0].1,
                story(journal, &pair[1].1),
                story(journal, &pair[0].1)
            ));
        }
    }
    broken
}

/// Every journal record about a call, one per line, for a violation's message.
fn story(journal: &[JournalEntry], call: &CallId) -> String {
    let lines: Vec<String> = journal
        .iter()
        .filter(|e| e.event.caller() == Some(call))
        .map(|e| format!("{} {:?}", e.time.0, e.event))
        .collect();
    lines.join("\n  ")
}

#[test]
fn callers_entered_in_the_same_millisecond_wait_in_the_order_the_store_queued_them() {
    use starq_core::{NodeId, QueueId, Time};
    let entered = |seq, call: &str| JournalEntry {
        seq,
        time: Time(1_000),
        event: JournalEvent::Entered {
            call: CallId::new(call),
            queue: QueueId::new("support"),
            node: NodeId::new("node0"),
            caller_id: String::new(),
            position: u32::try_from(seq).expect("small"),
            resumed: None,
        },
    };
    let journal = [entered(1, "node0~b"), entered(2, "node0~a")];
    let order: Vec<String> =
        waiting_at(&journal, 2_000).into_iter().map(|(call, _)| call.to_string()).collect();
    assert_eq!(order, ["node0~b", "node0~a"]);
}

#[test]
fn an_agent_resting_past_the_end_of_its_rest_is_reported() {
    use starq_core::Time;
    let view = |status| AgentView { status, paused_all: None, paused: Vec::new(), reachable: true };
    let agents = [
        ("agent0".to_owned(), view(AgentStatus::WrapUp(Time(10_000)))),
        ("agent1".to_owned(), view(AgentStatus::Retry(Time(19_000)))),
    ];
    let (_, broken) = check(&World::default(), &[], &agents, 20_000);
    assert_eq!(broken.len(), 1, "{broken:?}");
    assert!(broken[0].starts_with("agent0 is still resting"), "{broken:?}");
}
