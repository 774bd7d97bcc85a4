//! Journal records as Asterisk `queue_log` lines, field for field as `app_queue` writes them.
//!
//! Third-party reporting tools parse `queue_log` by position, so every event keeps app_queue's
//! fields, order and units (see `docs/reports.md` for the full table):
//!
//! | journal record | event | data |
//! |---|---|---|
//! | `Entered` | `ENTERQUEUE` | url (empty) \| caller id \| original position |
//! | `Connected` | `CONNECT` | hold s \| agent leg's channel uniqueid \| ring s |
//! | `Completed` | `COMPLETECALLER` / `COMPLETEAGENT` | hold s \| talk s \| original position |
//! | `Left` abandoned | `ABANDON` | position \| original position \| wait s |
//! | `Left` timeout | `EXITWITHTIMEOUT` | position \| original position \| wait s |
//! | `Left` leave-empty / unavail | `EXITEMPTY` | position \| original position \| wait s |
//! | `Left` exit key | `EXITWITHKEY` | key \| position \| original position \| wait s |
//! | `Left` withdrawn | `WITHDRAW` | position \| original position \| wait s \| info (empty) |
//! | `Missed` | `RINGNOANSWER` | ring **ms** |
//! | `OfferCancelled`, caller left | `RINGCANCELED` | ring ms |
//! | `Paused` / `Unpaused` in one queue | `PAUSE` / `UNPAUSE` | reason / empty |
//! | `Paused` / `Unpaused` in all queues | `PAUSEALL` / `UNPAUSEALL`, then one per queue | reason / empty |
//! | `LoggedIn` | `AGENTLOGIN` | interface |
//! | `LoggedOut` | `AGENTLOGOFF` | interface \| logged-in s |
//! | `PenaltyChanged` | `PENALTY` | new penalty |
//!
//! A pause or unpause in all queues is followed by a `PAUSE` / `UNPAUSE` in each queue the agent
//! was a member of then, as app_queue's `set_member_paused` writes them.
//!
//! Durations in seconds are what app_queue computes, the difference of the two events'
//! whole-second epoch times (`time(NULL) - qe->start`), so that a line's time minus its
//! duration is the earlier line's time: hold and wait from entry, talk from the connect, the
//! login time from the login. `CONNECT`'s ring time is app_queue's milliseconds divided by 1000,
//! `RINGNOANSWER` and `RINGCANCELED` are milliseconds. `CONNECT`'s second field is the agent
//! leg's channel uniqueid, which starq chose when it created the leg
//! ([`leg_id`]). `AGENTLOGIN` and `AGENTLOGOFF` are
//! app_agent_pool's lines: starq agents log in with no channel of their own, so the interface
//! is the phone's endpoint (the first contact's, `PJSIP/1001`), or `Agent/<id>` when the
//! renderer was not given the agents' configuration.
//!
//! Not written, as app_queue writes nothing for them: offers (`Offered`; a member starting to
//! ring), phone reachability, the losing legs of a ring-all (`OfferCancelled` because another
//! agent answered), and memberships (`MemberAdded`, `MemberRemoved`): every starq membership
//! comes from configuration, like `queues.conf`'s static members, for which app_queue writes no
//! `ADDMEMBER` or `REMOVEMEMBER` (tools count those as a dynamic member's login and logout).
//!
//! What app_queue cannot express gets starq's own events, prefixed `STARQ_` so that parsers
//! which skip unknown events (all the common ones do) are not confused:
//! - `STARQ_FULL`, `STARQ_JOINEMPTY`, `STARQ_JOINUNAVAIL` (data: caller id): a caller refused
//!   at entry. app_queue logs nothing at all for these (no `ENTERQUEUE` either), so they are
//!   the caller's only line.
//! - `STARQ_NODELOST` (data: the lost node) and `STARQ_DRAINED`: written just before the
//!   caller's terminal event, which is `ABANDON` for a lost node (the caller's channel is gone)
//!   and `EXITEMPTY` for a drain (starq handed the caller back to the dialplan with no one to
//!   serve it). Tools that skip the `STARQ_` line still see every `ENTERQUEUE` end once.
//! - `STARQ_FAILOVER` (data: failover step): written just before the `ENTERQUEUE` of the
//!   second and later queues of a failover chain, as app_queue would log a caller sent from
//!   one `Queue()` to the next by the dialplan.
//!
//! ## Call id and agent
//! `callid` is `<node>~<uniqueid>` ([`callid()`]): the caller channel's uniqueid, which app_queue
//! writes, prefixed with the node, since two Asterisk nodes of one site can give two callers
//! the same uniqueid. A starq [`CallId`] is `<node>~<channel>` for the first queue of a failover
//! chain and `<node>~<channel>-q<step>` for the next ones; the step is stripped, as app_queue
//! keeps a channel's uniqueid across queues (the call records keep node and step). Ids too
//! long for the realtime table's `VARCHAR(80)` are cut with a hash that keeps them apart.
//! `agent` is the member name ([`AgentConfig::name`]) for every agent event, `NONE` for
//! caller-only events; `queuename` is `NONE` for events that are not about one queue
//! (`PAUSEALL`, `UNPAUSEALL`, `AGENTLOGIN`, `AGENTLOGOFF`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use starq_core::config::AgentConfig;
use starq_core::journal::{CancelCause, JournalEntry, JournalEvent};
use starq_core::shared::{Miss, Party, leg_id};
use starq_core::{AgentId, CallId, Outcome, QueueId, Time};

mod callid;

pub use callid::{CALLID_MAX, callid};

/// The placeholder Asterisk writes in `queuename`, `agent` or `callid` when there is none.
pub const NONE: &str = "NONE";

/// Events that end a caller's stay in a queue: every caller gets exactly one.
pub const TERMINAL_EVENTS: [&str; 10] = [
    "COMPLETECALLER",
    "COMPLETEAGENT",
    "ABANDON",
    "EXITWITHTIMEOUT",
    "EXITEMPTY",
    "EXITWITHKEY",
    "WITHDRAW",
    "STARQ_FULL",
    "STARQ_JOINEMPTY",
    "STARQ_JOINUNAVAIL",
];

/// The realtime table has this many data columns; the last one takes the remainder.
pub const DATA_COLUMNS: usize = 5;

/// One `queue_log` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLogLine {
    /// When it happened.
    pub time: Time,
    /// The caller's [`callid()`] (its node and channel uniqueid), or `NONE`.
    pub callid: String,
    /// The queue, or `NONE`.
    pub queue: String,
    /// The member name, or `NONE`.
    pub agent: String,
    /// The event name (`ENTERQUEUE`, `CONNECT`, …).
    pub event: &'static str,
    /// The event's data fields, in order.
    pub data: Vec<String>,
}

impl QueueLogLine {
    /// The data as the realtime table's `data1..data5`: one field per column, the fifth column
    /// taking every remaining field joined with `|` (as Asterisk's adaptive mode does), missing
    /// fields empty.
    pub fn data_columns(&self) -> [String; DATA_COLUMNS] {
        let mut columns: [String; DATA_COLUMNS] = Default::default();
        for (i, field) in self.data.iter().enumerate().take(DATA_COLUMNS - 1) {
            columns[i] = field.clone();
        }
        if self.data.len() >= DATA_COLUMNS {
            columns[DATA_COLUMNS - 1] = self.data[DATA_COLUMNS - 1..].join("|");
        }
        columns
    }

    /// Whether this line ends a caller's stay in a queue.
    pub fn is_terminal(&self) -> bool {
        TERMINAL_EVENTS.contains(&self.event)
    }
}

/// The file form: `epoch|callid|queue|agent|EVENT|data1|data2…`, without the newline. As in
/// Asterisk's `logger.c`, a `|` always follows the event, so an event without data ends in `|`.
impl fmt::Display for QueueLogLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}|{}|{}|{}|{}|{}",
            self.time.as_secs(),
            self.callid,
            self.queue,
            self.agent,
            self.event,
            self.data.join("|")
        )
    }
}

/// A call id's parts: node (empty if the id has none), channel, failover step
/// ([`CallId::parts`]).
pub fn split_call(call: &CallId) -> (&str, &str, u32) {
    call.parts()
}

/// Whole seconds from the event `d` before `time` to the one at `time`, as app_queue computes
/// them: the difference of the two events' whole-second epoch times (`time(NULL) - start`), so
/// that a line's time minus the duration is the earlier line's time. Whole seconds of `d`
/// itself would be up to a second short (100.9 s to 103.2 s is 3, not 2).
fn secs_since(time: Time, d: Duration) -> String {
    (time.as_secs() - (time - d).as_secs()).to_string()
}

/// Whole seconds of a duration rounded down: `CONNECT`'s ring time, which app_queue computes
/// from milliseconds (`(orig - to) / 1000`), not from two times.
fn secs(d: Duration) -> String {
    d.as_secs().to_string()
}

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

/// Turns journal records into `queue_log` lines, naming agents by their member names.
#[derive(Clone, Debug, Default)]
pub struct QueueLogRenderer {
    names: BTreeMap<AgentId, String>,
    interfaces: BTreeMap<AgentId, String>,
}

impl QueueLogRenderer {
    /// A renderer that writes agent ids as member names.
    pub fn new() -> Self {
        QueueLogRenderer::default()
    }

    /// Uses these member names (`AgentConfig::name`) for the agents they list; others are
    /// written by id.
    pub fn with_member_names(names: BTreeMap<AgentId, String>) -> Self {
        QueueLogRenderer { names, interfaces: BTreeMap::new() }
    }

    /// Takes from the agents' configuration their member names (when set) and interfaces (the
    /// endpoint of the first contact, e.g. `PJSIP/1001`) for `AGENTLOGIN` / `AGENTLOGOFF`.
    pub fn with_agents(agents: &[AgentConfig]) -> Self {
        let names = agents
            .iter()
            .filter(|a| !a.name.is_empty())
            .map(|a| (a.id.clone(), a.name.clone()))
            .collect();
        let interfaces = agents
            .iter()
            .filter_map(|a| Some((a.id.clone(), a.contacts.first()?.endpoint.clone())))
            .collect();
        QueueLogRenderer { names, interfaces }
    }

    fn member(&self, agent: &AgentId) -> String {
        self.names.get(agent).cloned().unwrap_or_else(|| agent.to_string())
    }

    /// The channel app_agent_pool names in `AGENTLOGIN` / `AGENTLOGOFF`: starq agents log in
    /// with no channel of their own, so their phone's interface, or `Agent/<id>` (the
    /// interface app_agent_pool agents have in queues) when none is configured.
    fn interface(&self, agent: &AgentId) -> String {
        self.interfaces.get(agent).cloned().unwrap_or_else(|| format!("Agent/{agent}"))
    }

    /// The lines one journal record produces, in order (none, one, or several: a `STARQ_` line
    /// followed by the app_queue one, or `PAUSEALL` followed by a `PAUSE` per queue). Text from
    /// outside (caller ids, pause reasons, names) has its `|` and line breaks replaced by
    /// spaces, so that it can neither shift the positional fields nor start a line of its own.
    pub fn render(&self, entry: &JournalEntry) -> Vec<QueueLogLine> {
        let mut lines = match entry.event.caller() {
            Some(call) => self.caller_lines(entry, &callid(call)),
            None => self.agent_lines(entry),
        };
        for line in &mut lines {
            for text in [&mut line.callid, &mut line.queue, &mut line.agent]
                .into_iter()
                .chain(line.data.iter_mut())
            {
                if text.contains(['|', '\n', '\r']) {
                    *text = text.replace(['|', '\n', '\r'], " ");
                }
            }
        }
        lines
    }

    /// The lines of a record about a caller, all with the caller's `callid`.
    fn caller_lines(&self, entry: &JournalEntry, callid: &str) -> Vec<QueueLogLine> {
        let time = entry.time;
        let line = |queue: &QueueId, agent: &str, event, data: Vec<String>| QueueLogLine {
            time,
            callid: callid.to_owned(),
            queue: queue.to_string(),
            agent: agent.to_owned(),
            event,
            data,
        };
        match &entry.event {
            // A resumed wait had its ENTERQUEUE written when it began (by the starq that lost
            // its store since): a second one would count the caller twice.
            JournalEvent::Entered { resumed: Some(_), .. } => Vec::new(),
            JournalEvent::Entered { call, queue, caller_id, position, .. } => {
                let data = vec![String::new(), caller_id.clone(), position.to_string()];
                let enter = line(queue, NONE, "ENTERQUEUE", data);
                match split_call(call).2 {
                    0 => vec![enter],
                    step => {
                        let failover = line(queue, NONE, "STARQ_FAILOVER", vec![step.to_string()]);
                        vec![failover, enter]
                    }
                }
            }
            // app_queue logs nothing when a member starts ringing.
            JournalEvent::Offered { .. } => Vec::new(),
            JournalEvent::Refused { queue, caller_id, outcome, .. } => {
                let event = match outcome {
                    Outcome::Full => "STARQ_FULL",
                    Outcome::JoinUnavail => "STARQ_JOINUNAVAIL",
                    _ => "STARQ_JOINEMPTY",
                };
                vec![line(queue, NONE, event, vec![caller_id.clone()])]
            }
            // app_queue logs RINGNOANSWER for every unanswered ring (busy and unreachable
            // included); an offer withdrawn for starq's own reasons is not the agent's.
            JournalEvent::Missed { miss: Miss::Failed, .. } => Vec::new(),
            JournalEvent::Missed { queue, agent, rang, .. } => {
                vec![line(queue, &self.member(agent), "RINGNOANSWER", vec![millis(*rang)])]
            }
            // app_queue writes RINGCANCELED only for members still ringing when the caller
            // leaves; the losing legs of a ring-all are hung up without a line.
            JournalEvent::OfferCancelled { queue, agent, rang, cause, .. } => match cause {
                CancelCause::CallerLeft => {
                    vec![line(queue, &self.member(agent), "RINGCANCELED", vec![millis(*rang)])]
                }
                CancelCause::AnsweredElsewhere => Vec::new(),
            },
            JournalEvent::Connected { call, queue, agent, reservation, hold, rang } => {
                // The member channel's uniqueid: the id starq gave the leg it created.
                let leg = leg_id(call, *reservation);
                let data = vec![secs_since(time, *hold), leg, secs(*rang)];
                vec![line(queue, &self.member(agent), "CONNECT", data)]
            }
            JournalEvent::Completed { queue, agent, by, hold, talk, original_position, .. } => {
                let event = match by {
                    Party::Caller => "COMPLETECALLER",
                    Party::Agent => "COMPLETEAGENT",
                };
                // Hold ended when the call connected, talk seconds before this line.
                let connected = time - *talk;
                let data = vec![
                    secs_since(connected, *hold),
                    secs_since(time, *talk),
                    original_position.to_string(),
                ];
                vec![line(queue, &self.member(agent), event, data)]
            }
            JournalEvent::Left { call, queue, outcome, position, original_position, hold } => {
                // A connected call lost with its node or drained (position 0) held until its
                // connect, not until this line: its wait may then be a second off, on a line
                // app_queue never writes.
                let wait = secs_since(time, *hold);
                left_lines(call, *outcome, *position, *original_position, wait)
                    .into_iter()
                    .map(|(event, data)| line(queue, NONE, event, data))
                    .collect()
            }
            // Not about a caller: `JournalEvent::caller` sends these to `agent_lines`.
            JournalEvent::LoggedIn { .. }
            | JournalEvent::LoggedOut { .. }
            | JournalEvent::Paused { .. }
            | JournalEvent::Unpaused { .. }
            | JournalEvent::PenaltyChanged { .. }
            | JournalEvent::Reachability { .. }
            | JournalEvent::MemberAdded { .. }
            | JournalEvent::MemberRemoved { .. } => Vec::new(),
        }
    }

    /// The lines of a record about an agent (callid `NONE`).
    fn agent_lines(&self, entry: &JournalEntry) -> Vec<QueueLogLine> {
        let time = entry.time;
        let line = |queue: &str, agent: &AgentId, event, data: Vec<String>| QueueLogLine {
            time,
            callid: NONE.to_owned(),
            queue: queue.to_owned(),
            agent: self.member(agent),
            event,
            data,
        };
        match &entry.event {
            // As app_agent_pool writes them: the agent's channel, and on logoff the seconds
            // logged in (`time(NULL) - login_start`).
            JournalEvent::LoggedIn { agent } => {
                vec![line(NONE, agent, "AGENTLOGIN", vec![self.interface(agent)])]
            }
            JournalEvent::LoggedOut { agent, session } => {
                let data = vec![self.interface(agent), secs_since(time, *session)];
                vec![line(NONE, agent, "AGENTLOGOFF", data)]
            }
            JournalEvent::Paused { agent, queue, reason, members, .. } => {
                let scope = ("PAUSEALL", "PAUSE");
                pause_lines(scope, queue.as_ref(), members, reason, |q, event, data| {
                    line(q, agent, event, data)
                })
            }
            JournalEvent::Unpaused { agent, queue, members } => {
                let scope = ("UNPAUSEALL", "UNPAUSE");
                pause_lines(scope, queue.as_ref(), members, "", |q, event, data| {
                    line(q, agent, event, data)
                })
            }
            JournalEvent::PenaltyChanged { agent, queue, penalty } => {
                vec![line(queue.as_str(), agent, "PENALTY", vec![penalty.to_string()])]
            }
            // Memberships all come from configuration: static members, for which app_queue
            // writes no ADDMEMBER / REMOVEMEMBER (tools read those as a dynamic member's
            // login and logout). Reachability has no app_queue line either.
            JournalEvent::MemberAdded { .. }
            | JournalEvent::MemberRemoved { .. }
            | JournalEvent::Reachability { .. } => Vec::new(),
            // About a caller: `JournalEvent::caller` sends these to `caller_lines`.
            JournalEvent::Entered { .. }
            | JournalEvent::Refused { .. }
            | JournalEvent::Offered { .. }
            | JournalEvent::Missed { .. }
            | JournalEvent::OfferCancelled { .. }
            | JournalEvent::Connected { .. }
            | JournalEvent::Completed { .. }
            | JournalEvent::Left { .. } => Vec::new(),
        }
    }
}

/// A pause or unpause as app_queue's `set_member_paused` logs it: in one queue, one `PAUSE`
/// line; in all queues, `PAUSEALL` (queue `NONE`) then a `PAUSE` in each of the agent's queues,
/// every line with the reason.
fn pause_lines(
    (all, one): (&'static str, &'static str),
    queue: Option<&QueueId>,
    members: &[QueueId],
    reason: &str,
    line: impl Fn(&str, &'static str, Vec<String>) -> QueueLogLine,
) -> Vec<QueueLogLine> {
    let data = || vec![reason.to_owned()];
    match queue {
        Some(q) => vec![line(q.as_str(), one, data())],
        None => std::iter::once(line(NONE, all, data()))
            .chain(members.iter().map(|q| line(q.as_str(), one, data())))
            .collect(),
    }
}

/// The events and data of a caller leaving unconnected: an optional `STARQ_` line, then the
/// terminal app_queue event.
fn left_lines(
    call: &CallId,
    outcome: Outcome,
    position: u32,
    original_position: u32,
    wait: String,
) -> Vec<(&'static str, Vec<String>)> {
    let standard = vec![position.to_string(), original_position.to_string(), wait];
    let exit = match outcome {
        Outcome::Timeout => ("EXITWITHTIMEOUT", standard),
        Outcome::LeaveEmpty | Outcome::LeaveUnavail => ("EXITEMPTY", standard),
        Outcome::ExitWithKey(key) => {
            let mut data = vec![key.to_string()];
            data.extend(standard);
            ("EXITWITHKEY", data)
        }
        Outcome::Withdrawn => {
            let mut data = standard;
            data.push(String::new());
            ("WITHDRAW", data)
        }
        Outcome::NodeLost => {
            let (node, _, _) = split_call(call);
            return vec![("STARQ_NODELOST", vec![node.to_owned()]), ("ABANDON", standard)];
        }
        Outcome::Drained => return vec![("STARQ_DRAINED", Vec::new()), ("EXITEMPTY", standard)],
        // Abandoned, and outcomes a `Left` never carries (completions, refusals) if a store
        // ever wrote one: the caller is gone unconnected either way.
        _ => ("ABANDON", standard),
    };
    vec![exit]
}

#[cfg(test)]
mod tests;
