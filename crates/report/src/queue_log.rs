//! Journal records as Asterisk `queue_log` lines, field for field as `app_queue` writes them.
//!
//! Third-party reporting tools parse `queue_log` by position, so every event keeps app_queue's
//! fields, order and units (see `docs/reports.md` for the full table):
//!
//! | journal record | event | data |
//! |---|---|---|
//! | `Entered` | `ENTERQUEUE` | url (empty) \| caller id \| original position |
//! | `Connected` | `CONNECT` | hold s \| agent leg channel id \| ring s |
//! | `Completed` | `COMPLETECALLER` / `COMPLETEAGENT` | hold s \| talk s \| original position |
//! | `Left` abandoned | `ABANDON` | position \| original position \| wait s |
//! | `Left` timeout | `EXITWITHTIMEOUT` | position \| original position \| wait s |
//! | `Left` leave-empty / unavail | `EXITEMPTY` | position \| original position \| wait s |
//! | `Left` exit key | `EXITWITHKEY` | key \| position \| original position \| wait s |
//! | `Left` withdrawn | `WITHDRAW` | position \| original position \| wait s \| info (empty) |
//! | `Missed` | `RINGNOANSWER` | ring **ms** |
//! | `OfferCancelled` | `RINGCANCELED` | ring ms |
//! | `MemberAdded` / `MemberRemoved` | `ADDMEMBER` / `REMOVEMEMBER` | empty / none |
//! | `Paused` / `Unpaused` in one queue | `PAUSE` / `UNPAUSE` | reason / empty |
//! | `Paused` / `Unpaused` in all queues | `PAUSEALL` / `UNPAUSEALL` | reason / empty |
//! | `LoggedIn` / `LoggedOut` | `AGENTLOGIN` / `AGENTLOGOFF` | agent \| (session s) |
//! | `PenaltyChanged` | `PENALTY` | new penalty |
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
//! Not written: offers (`Offered`, app_queue logs nothing when a member starts ringing) and
//! phone reachability (no app_queue equivalent a report needs).
//!
//! ## Call id and agent
//! `callid` is what Asterisk writes: the caller channel's uniqueid. A starq [`CallId`] is
//! `<node>~<channel>` for the first queue of a failover chain and `<node>~<channel>-q<step>`
//! for the next ones; the same channel keeps its uniqueid across queues in app_queue, so both
//! the node prefix and the step suffix are stripped (the call records keep node and step).
//! `agent` is the member name ([`AgentConfig::name`](starq_core::config::AgentConfig::name))
//! for every agent event, `NONE` for caller-only events; `queuename` is `NONE` for events that
//! are not about one queue (`PAUSEALL`, `UNPAUSEALL`, `AGENTLOGIN`, `AGENTLOGOFF`).

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use starq_core::journal::{JournalEntry, JournalEvent};
use starq_core::shared::{Miss, Party};
use starq_core::{AgentId, CallId, Outcome, Time};

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
    /// The caller channel's uniqueid, or `NONE`.
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

/// The channel uniqueid Asterisk would log for a starq caller: the [`CallId`] without its
/// `<node>~` prefix and its `-q<step>` failover suffix.
pub fn channel_of(call: &CallId) -> &str {
    split_call(call).1
}

/// A call id's parts: node (empty if the id has none), channel, failover step.
pub fn split_call(call: &CallId) -> (&str, &str, u32) {
    let (node, rest) = call.as_str().split_once('~').unwrap_or(("", call.as_str()));
    // Only a suffix starq writes counts as a step: digits without a leading zero.
    if let Some((channel, digits)) = rest.rsplit_once("-q")
        && !digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit())
        && let Ok(step) = digits.parse::<u32>()
    {
        return (node, channel, step);
    }
    (node, rest, 0)
}

/// Whole seconds, rounded down, as app_queue computes them from `time()` differences.
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
}

impl QueueLogRenderer {
    /// A renderer that writes agent ids as member names.
    pub fn new() -> Self {
        QueueLogRenderer::default()
    }

    /// Uses these member names (`AgentConfig::name`) for the agents they list; others are
    /// written by id.
    pub fn with_member_names(names: BTreeMap<AgentId, String>) -> Self {
        QueueLogRenderer { names }
    }

    fn member(&self, agent: &AgentId) -> String {
        self.names.get(agent).cloned().unwrap_or_else(|| agent.to_string())
    }

    /// The lines one journal record produces, in order (none, one, or a `STARQ_` line followed
    /// by the app_queue one). Text from outside (caller ids, pause reasons, names) has its `|`
    /// and line breaks replaced by spaces, so that it can neither shift the positional fields
    /// nor start a line of its own.
    pub fn render(&self, entry: &JournalEntry) -> Vec<QueueLogLine> {
        let mut lines = self.render_fields(entry);
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

    fn render_fields(&self, entry: &JournalEntry) -> Vec<QueueLogLine> {
        let time = entry.time;
        let line =
            |callid: &str, queue: &str, agent: &str, event, data: Vec<String>| QueueLogLine {
                time,
                callid: callid.to_owned(),
                queue: queue.to_owned(),
                agent: agent.to_owned(),
                event,
                data,
            };
        match &entry.event {
            JournalEvent::Entered { call, queue, caller_id, position, .. } => {
                let (_, channel, step) = split_call(call);
                let enter = line(
                    channel,
                    queue.as_str(),
                    NONE,
                    "ENTERQUEUE",
                    vec![String::new(), caller_id.clone(), position.to_string()],
                );
                if step == 0 {
                    vec![enter]
                } else {
                    let failover = line(
                        channel,
                        queue.as_str(),
                        NONE,
                        "STARQ_FAILOVER",
                        vec![step.to_string()],
                    );
                    vec![failover, enter]
                }
            }
            JournalEvent::Refused { call, queue, caller_id, outcome, .. } => {
                let event = match outcome {
                    Outcome::Full => "STARQ_FULL",
                    Outcome::JoinUnavail => "STARQ_JOINUNAVAIL",
                    _ => "STARQ_JOINEMPTY",
                };
                vec![line(channel_of(call), queue.as_str(), NONE, event, vec![caller_id.clone()])]
            }
            JournalEvent::Offered { .. } | JournalEvent::Reachability { .. } => Vec::new(),
            JournalEvent::Missed { call, queue, agent, miss, rang } => {
                // app_queue logs RINGNOANSWER for every unanswered ring (busy and unreachable
                // included); an offer withdrawn for starq's own reasons is not the agent's.
                if *miss == Miss::Failed {
                    return Vec::new();
                }
                let agent = self.member(agent);
                vec![line(
                    channel_of(call),
                    queue.as_str(),
                    &agent,
                    "RINGNOANSWER",
                    vec![millis(*rang)],
                )]
            }
            JournalEvent::OfferCancelled { call, queue, agent, rang } => {
                let agent = self.member(agent);
                vec![line(
                    channel_of(call),
                    queue.as_str(),
                    &agent,
                    "RINGCANCELED",
                    vec![millis(*rang)],
                )]
            }
            JournalEvent::Connected { call, queue, agent, reservation, hold, rang } => {
                let leg = format!("{call}-r{}", reservation.0);
                let agent = self.member(agent);
                let data = vec![secs(*hold), leg, secs(*rang)];
                vec![line(channel_of(call), queue.as_str(), &agent, "CONNECT", data)]
            }
            JournalEvent::Completed { call, queue, agent, by, hold, talk, original_position } => {
                let event = match by {
                    Party::Caller => "COMPLETECALLER",
                    Party::Agent => "COMPLETEAGENT",
                };
                let agent = self.member(agent);
                let data = vec![secs(*hold), secs(*talk), original_position.to_string()];
                vec![line(channel_of(call), queue.as_str(), &agent, event, data)]
            }
            JournalEvent::Left { call, queue, outcome, position, original_position, hold } => {
                left_lines(call, *outcome, *position, *original_position, *hold)
                    .into_iter()
                    .map(|(event, data)| line(channel_of(call), queue.as_str(), NONE, event, data))
                    .collect()
            }
            JournalEvent::LoggedIn { agent } => {
                let member = self.member(agent);
                vec![line(NONE, NONE, &member, "AGENTLOGIN", vec![agent.to_string()])]
            }
            JournalEvent::LoggedOut { agent, session } => {
                let member = self.member(agent);
                let data = vec![agent.to_string(), secs(*session)];
                vec![line(NONE, NONE, &member, "AGENTLOGOFF", data)]
            }
            JournalEvent::Paused { agent, queue, reason, .. } => {
                let member = self.member(agent);
                let (queue, event) = match queue {
                    Some(q) => (q.as_str(), "PAUSE"),
                    None => (NONE, "PAUSEALL"),
                };
                vec![line(NONE, queue, &member, event, vec![reason.clone()])]
            }
            JournalEvent::Unpaused { agent, queue } => {
                let member = self.member(agent);
                let (queue, event) = match queue {
                    Some(q) => (q.as_str(), "UNPAUSE"),
                    None => (NONE, "UNPAUSEALL"),
                };
                vec![line(NONE, queue, &member, event, vec![String::new()])]
            }
            JournalEvent::PenaltyChanged { agent, queue, penalty } => {
                let member = self.member(agent);
                vec![line(NONE, queue.as_str(), &member, "PENALTY", vec![penalty.to_string()])]
            }
            JournalEvent::MemberAdded { agent, queue, .. } => {
                let member = self.member(agent);
                vec![line(NONE, queue.as_str(), &member, "ADDMEMBER", vec![String::new()])]
            }
            JournalEvent::MemberRemoved { agent, queue } => {
                let member = self.member(agent);
                vec![line(NONE, queue.as_str(), &member, "REMOVEMEMBER", Vec::new())]
            }
        }
    }
}

/// The events and data of a caller leaving unconnected: an optional `STARQ_` line, then the
/// terminal app_queue event.
fn left_lines(
    call: &CallId,
    outcome: Outcome,
    position: u32,
    original_position: u32,
    hold: Duration,
) -> Vec<(&'static str, Vec<String>)> {
    let standard = vec![position.to_string(), original_position.to_string(), secs(hold)];
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
mod tests {
    use super::*;
    use starq_core::{NodeId, QueueId, ReservationId};

    const T: Time = Time(1_700_000_123_456);

    fn call(step: u32) -> CallId {
        CallId::of_channel(&NodeId::new("pbx1"), "1700000000.42", step)
    }

    fn entry(event: JournalEvent) -> JournalEntry {
        JournalEntry { seq: 7, time: T, event }
    }

    fn q() -> QueueId {
        QueueId::new("support")
    }

    fn a() -> AgentId {
        AgentId::new("a1")
    }

    fn secs(s: u64) -> Duration {
        Duration::from_millis(s * 1000 + 999)
    }

    fn left(outcome: Outcome) -> JournalEvent {
        JournalEvent::Left {
            call: call(0),
            queue: q(),
            outcome,
            position: 2,
            original_position: 5,
            hold: secs(31),
        }
    }

    /// One row per event: the record, the lines in file form, and the data field count of the
    /// last line (app_queue's count for that event).
    #[test]
    fn every_event_has_app_queue_fields_and_units() {
        let cases: Vec<(JournalEvent, Vec<&str>, usize)> = vec![
            (
                JournalEvent::Entered {
                    call: call(0),
                    queue: q(),
                    node: NodeId::new("pbx1"),
                    caller_id: "5551234".into(),
                    position: 3,
                },
                vec!["1700000123|1700000000.42|support|NONE|ENTERQUEUE||5551234|3"],
                3,
            ),
            (
                JournalEvent::Entered {
                    call: call(2),
                    queue: q(),
                    node: NodeId::new("pbx1"),
                    caller_id: "5551234".into(),
                    position: 1,
                },
                vec![
                    "1700000123|1700000000.42|support|NONE|STARQ_FAILOVER|2",
                    "1700000123|1700000000.42|support|NONE|ENTERQUEUE||5551234|1",
                ],
                3,
            ),
            (
                JournalEvent::Connected {
                    call: call(0),
                    queue: q(),
                    agent: a(),
                    reservation: ReservationId(9),
                    hold: secs(12),
                    rang: secs(4),
                },
                vec!["1700000123|1700000000.42|support|Alice|CONNECT|12|pbx1~1700000000.42-r9|4"],
                3,
            ),
            (
                JournalEvent::Completed {
                    call: call(1),
                    queue: q(),
                    agent: a(),
                    by: Party::Caller,
                    hold: secs(12),
                    talk: secs(95),
                    original_position: 3,
                },
                vec!["1700000123|1700000000.42|support|Alice|COMPLETECALLER|12|95|3"],
                3,
            ),
            (
                JournalEvent::Completed {
                    call: call(0),
                    queue: q(),
                    agent: a(),
                    by: Party::Agent,
                    hold: secs(0),
                    talk: secs(7),
                    original_position: 1,
                },
                vec!["1700000123|1700000000.42|support|Alice|COMPLETEAGENT|0|7|1"],
                3,
            ),
            (
                left(Outcome::Abandoned),
                vec!["1700000123|1700000000.42|support|NONE|ABANDON|2|5|31"],
                3,
            ),
            (
                left(Outcome::Timeout),
                vec!["1700000123|1700000000.42|support|NONE|EXITWITHTIMEOUT|2|5|31"],
                3,
            ),
            (
                left(Outcome::LeaveEmpty),
                vec!["1700000123|1700000000.42|support|NONE|EXITEMPTY|2|5|31"],
                3,
            ),
            (
                left(Outcome::LeaveUnavail),
                vec!["1700000123|1700000000.42|support|NONE|EXITEMPTY|2|5|31"],
                3,
            ),
            (
                left(Outcome::ExitWithKey('5')),
                vec!["1700000123|1700000000.42|support|NONE|EXITWITHKEY|5|2|5|31"],
                4,
            ),
            (
                left(Outcome::Withdrawn),
                vec!["1700000123|1700000000.42|support|NONE|WITHDRAW|2|5|31|"],
                4,
            ),
            (
                left(Outcome::NodeLost),
                vec![
                    "1700000123|1700000000.42|support|NONE|STARQ_NODELOST|pbx1",
                    "1700000123|1700000000.42|support|NONE|ABANDON|2|5|31",
                ],
                3,
            ),
            (
                left(Outcome::Drained),
                vec![
                    "1700000123|1700000000.42|support|NONE|STARQ_DRAINED|",
                    "1700000123|1700000000.42|support|NONE|EXITEMPTY|2|5|31",
                ],
                3,
            ),
            (
                JournalEvent::Refused {
                    call: call(0),
                    queue: q(),
                    node: NodeId::new("pbx1"),
                    caller_id: "5551234".into(),
                    outcome: Outcome::Full,
                },
                vec!["1700000123|1700000000.42|support|NONE|STARQ_FULL|5551234"],
                1,
            ),
            (
                JournalEvent::Refused {
                    call: call(0),
                    queue: q(),
                    node: NodeId::new("pbx1"),
                    caller_id: "".into(),
                    outcome: Outcome::JoinEmpty,
                },
                vec!["1700000123|1700000000.42|support|NONE|STARQ_JOINEMPTY|"],
                1,
            ),
            (
                JournalEvent::Missed {
                    call: call(0),
                    queue: q(),
                    agent: a(),
                    miss: Miss::NoAnswer,
                    rang: Duration::from_millis(15_250),
                },
                vec!["1700000123|1700000000.42|support|Alice|RINGNOANSWER|15250"],
                1,
            ),
            (
                JournalEvent::Missed {
                    call: call(0),
                    queue: q(),
                    agent: a(),
                    miss: Miss::Busy,
                    rang: Duration::from_millis(80),
                },
                vec!["1700000123|1700000000.42|support|Alice|RINGNOANSWER|80"],
                1,
            ),
            (
                JournalEvent::OfferCancelled {
                    call: call(0),
                    queue: q(),
                    agent: a(),
                    rang: Duration::from_millis(3_400),
                },
                vec!["1700000123|1700000000.42|support|Alice|RINGCANCELED|3400"],
                1,
            ),
            (
                JournalEvent::MemberAdded { agent: a(), queue: q(), penalty: 2 },
                vec!["1700000123|NONE|support|Alice|ADDMEMBER|"],
                1,
            ),
            (
                JournalEvent::MemberRemoved { agent: a(), queue: q() },
                vec!["1700000123|NONE|support|Alice|REMOVEMEMBER|"],
                0,
            ),
            (
                JournalEvent::Paused {
                    agent: a(),
                    queue: Some(q()),
                    reason: "lunch".into(),
                    auto: false,
                },
                vec!["1700000123|NONE|support|Alice|PAUSE|lunch"],
                1,
            ),
            (
                JournalEvent::Unpaused { agent: a(), queue: Some(q()) },
                vec!["1700000123|NONE|support|Alice|UNPAUSE|"],
                1,
            ),
            (
                JournalEvent::Paused {
                    agent: a(),
                    queue: None,
                    reason: "break".into(),
                    auto: true,
                },
                vec!["1700000123|NONE|NONE|Alice|PAUSEALL|break"],
                1,
            ),
            (
                JournalEvent::Unpaused { agent: a(), queue: None },
                vec!["1700000123|NONE|NONE|Alice|UNPAUSEALL|"],
                1,
            ),
            (
                JournalEvent::LoggedIn { agent: a() },
                vec!["1700000123|NONE|NONE|Alice|AGENTLOGIN|a1"],
                1,
            ),
            (
                JournalEvent::LoggedOut { agent: a(), session: secs(3600) },
                vec!["1700000123|NONE|NONE|Alice|AGENTLOGOFF|a1|3600"],
                2,
            ),
            (
                JournalEvent::PenaltyChanged { agent: a(), queue: q(), penalty: 4 },
                vec!["1700000123|NONE|support|Alice|PENALTY|4"],
                1,
            ),
            (
                JournalEvent::Offered {
                    call: call(0),
                    queue: q(),
                    agent: a(),
                    reservation: ReservationId(1),
                },
                vec![],
                0,
            ),
            (JournalEvent::Reachability { agent: a(), reachable: false }, vec![], 0),
        ];
        let renderer =
            QueueLogRenderer::with_member_names([(a(), "Alice".to_owned())].into_iter().collect());
        for (event, expected, fields) in cases {
            let lines = renderer.render(&entry(event.clone()));
            let text: Vec<String> = lines.iter().map(ToString::to_string).collect();
            assert_eq!(text, expected, "{event:?}");
            if let Some(last) = lines.last() {
                assert_eq!(last.data.len(), fields, "{event:?}");
                // The file form has the five fixed fields, then the data (one empty field
                // when there is none).
                let count = text.last().unwrap().split('|').count();
                assert_eq!(count, 5 + fields.max(1), "{event:?}");
                assert_eq!(last.is_terminal(), event.terminal_call().is_some(), "{event:?}");
            }
        }
    }

    #[test]
    fn outside_text_cannot_shift_fields_or_start_lines() {
        let reason = "lunch|then\nmeeting\r".to_owned();
        let paused = JournalEvent::Paused { agent: a(), queue: None, reason, auto: false };
        let names = [(a(), "Al|ice".to_owned())].into_iter().collect();
        let lines = QueueLogRenderer::with_member_names(names).render(&entry(paused));
        assert_eq!(
            lines[0].to_string(),
            "1700000123|NONE|NONE|Al ice|PAUSEALL|lunch then meeting "
        );
    }

    #[test]
    fn the_fifth_data_column_takes_the_remainder() {
        let line = |n: usize| QueueLogLine {
            time: T,
            callid: "c".into(),
            queue: "q".into(),
            agent: NONE.into(),
            event: "X",
            data: (1..=n).map(|i| format!("d{i}")).collect(),
        };
        assert_eq!(line(3).data_columns(), ["d1", "d2", "d3", "", ""].map(String::from));
        assert_eq!(line(5).data_columns(), ["d1", "d2", "d3", "d4", "d5"].map(String::from));
        assert_eq!(line(7).data_columns(), ["d1", "d2", "d3", "d4", "d5|d6|d7"].map(String::from));
        assert_eq!(line(0).data_columns(), ["", "", "", "", ""].map(String::from));
    }

    #[test]
    fn call_ids_lose_node_and_failover_step() {
        let id = |s: &str| CallId::new(s);
        assert_eq!(split_call(&id("pbx1~1700.1")), ("pbx1", "1700.1", 0));
        assert_eq!(split_call(&id("pbx1~1700.1-q3")), ("pbx1", "1700.1", 3));
        assert_eq!(split_call(&id("pbx1~a-quiet")), ("pbx1", "a-quiet", 0));
        assert_eq!(split_call(&id("pbx1~a-q0")), ("pbx1", "a-q0", 0));
        assert_eq!(split_call(&id("bare")), ("", "bare", 0));
        assert_eq!(channel_of(&call(4)), "1700000000.42");
    }
}
