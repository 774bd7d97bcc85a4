//! The wire format between [`RedisStore`](super::RedisStore) and its Lua library: requests and
//! configuration as flat argument lists, replies, views and journal records decoded from Redis
//! values. Anything unexpected from Redis is a [`StoreError::Protocol`], never a panic.
//!
//! Numbers travel as decimal strings (exact whatever their size); the Lua side turns them into
//! doubles, exact below 2^53, which times in milliseconds, epochs and sequences stay under.

use std::time::Duration;

use ::redis::Value;
use starq_core::config::QueueConfig;
use starq_core::config::{AgentConfig, AutoPauseScope, EmptyConditions, MemberCondition};
use starq_core::journal::{CancelCause, JournalEntry, JournalEvent, JournalId};
use starq_core::shared::{
    AgentAction, Miss, Notice, Offer, Party, Reply, Request, StoredCall, StoredState, Verdict,
};
use starq_core::{AgentId, CallId, NodeId, Outcome, QueueId, ReservationId, Time};

use crate::{AgentStatus, AgentView, QueueView, StoreError};

fn protocol(what: impl std::fmt::Display) -> StoreError {
    StoreError::Protocol(what.to_string())
}

// === encoding ===

/// The Lua bit of each empty-rule condition (`COND` in core.lua).
fn conditions(set: EmptyConditions) -> u32 {
    use MemberCondition as C;
    let bits = [
        (C::Paused, 1),
        (C::Penalty, 2),
        (C::InUse, 4),
        (C::Ringing, 8),
        (C::Unavailable, 16),
        (C::Invalid, 32),
        (C::Unknown, 64),
        (C::WrapUp, 128),
    ];
    bits.iter().filter(|(c, _)| set.contains(*c)).map(|(_, b)| b).sum()
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

fn flag(b: bool) -> String {
    if b { "1" } else { "0" }.to_owned()
}

/// `configure`'s arguments: see `configure` in admin.lua.
pub(super) fn configure_args(queues: &[QueueConfig], agents: &[AgentConfig]) -> Vec<String> {
    let mut args = vec![queues.len().to_string()];
    for q in queues {
        let scope = match q.autopause.scope {
            None => "",
            Some(AutoPauseScope::ThisQueue) => "queue",
            Some(AutoPauseScope::AllQueues) => "all",
        };
        args.extend([
            q.id.to_string(),
            q.strategy.as_str().to_owned(),
            q.weight.to_string(),
            flag(q.autofill),
            ms(q.ring_timeout),
            ms(q.retry),
            ms(q.wrapup),
            scope.to_owned(),
            q.autopause.after_misses.to_string(),
            flag(q.autopause.on_busy),
            flag(q.autopause.on_unavailable),
            q.max_len.map_or("-1".to_owned(), |m| m.to_string()),
            conditions(q.join_empty).to_string(),
            conditions(q.leave_empty).to_string(),
            q.penalty_members_limit.to_string(),
        ]);
    }
    args.push(agents.len().to_string());
    for a in agents {
        args.push(a.id.to_string());
        args.push(a.wrapup.map_or(String::new(), ms));
        args.push(a.memberships.len().to_string());
        for m in &a.memberships {
            args.push(m.queue.to_string());
            args.push(m.penalty.to_string());
        }
    }
    args
}

/// How an outcome travels (and is stored in the journal).
pub(super) fn outcome_str(o: Outcome) -> String {
    match o {
        Outcome::CompletedByCaller => "completed-caller".into(),
        Outcome::CompletedByAgent => "completed-agent".into(),
        Outcome::Abandoned => "abandoned".into(),
        Outcome::Timeout => "timeout".into(),
        Outcome::JoinEmpty => "joinempty".into(),
        Outcome::JoinUnavail => "joinunavail".into(),
        Outcome::LeaveEmpty => "leaveempty".into(),
        Outcome::LeaveUnavail => "leaveunavail".into(),
        Outcome::Full => "full".into(),
        Outcome::ExitWithKey(c) => format!("key:{c}"),
        Outcome::Withdrawn => "withdrawn".into(),
        Outcome::NodeLost => "nodelost".into(),
        Outcome::Drained => "drained".into(),
    }
}

fn parse_outcome(s: &str) -> Result<Outcome, StoreError> {
    Ok(match s {
        "completed-caller" => Outcome::CompletedByCaller,
        "completed-agent" => Outcome::CompletedByAgent,
        "abandoned" => Outcome::Abandoned,
        "timeout" => Outcome::Timeout,
        "joinempty" => Outcome::JoinEmpty,
        "joinunavail" => Outcome::JoinUnavail,
        "leaveempty" => Outcome::LeaveEmpty,
        "leaveunavail" => Outcome::LeaveUnavail,
        "full" => Outcome::Full,
        "withdrawn" => Outcome::Withdrawn,
        "nodelost" => Outcome::NodeLost,
        "drained" => Outcome::Drained,
        _ => {
            let key = s.strip_prefix("key:").and_then(|k| {
                let mut chars = k.chars();
                chars.next().filter(|_| chars.next().is_none())
            });
            Outcome::ExitWithKey(key.ok_or_else(|| protocol(format!("outcome {s:?}")))?)
        }
    })
}

fn miss_str(m: Miss) -> &'static str {
    match m {
        Miss::NoAnswer => "noanswer",
        Miss::Busy => "busy",
        Miss::Unreachable => "unreachable",
        Miss::Failed => "failed",
    }
}

fn party_str(p: Party) -> &'static str {
    match p {
        Party::Caller => "caller",
        Party::Agent => "agent",
    }
}

/// `apply`'s arguments: kind, now, fence (flag, node, epoch), then the request's fields.
pub(super) fn request_args(request: &Request) -> Vec<String> {
    let fenced = |kind: &str, f: &starq_core::Fence, now: Time| {
        vec![
            kind.to_owned(),
            now.0.to_string(),
            "1".to_owned(),
            f.node.to_string(),
            f.epoch.0.to_string(),
        ]
    };
    let open = |kind: &str, now: Time| {
        vec![kind.to_owned(), now.0.to_string(), "0".to_owned(), String::new(), String::new()]
    };
    let (mut head, tail): (Vec<String>, Vec<String>) = match request {
        Request::Enqueue(e) => (
            fenced("enq", &e.fence, e.now),
            vec![
                e.call.to_string(),
                e.queue.to_string(),
                e.caller_id.clone(),
                e.priority.to_string(),
                e.window.min.to_string(),
                e.window.max.to_string(),
                e.resumed.map_or_else(String::new, |t| t.0.to_string()),
            ],
        ),
        Request::Reconnect(r) => (
            fenced("recon", &r.fence, r.now),
            vec![
                r.call.to_string(),
                r.queue.to_string(),
                r.caller_id.clone(),
                r.entered.0.to_string(),
                r.agent.to_string(),
                r.reservation.0.to_string(),
                r.since.0.to_string(),
            ],
        ),
        Request::SetWindow { fence, call, window, now } => (
            fenced("win", fence, *now),
            vec![call.to_string(), window.min.to_string(), window.max.to_string()],
        ),
        Request::SetPriority { fence, call, priority, now } => {
            (fenced("prio", fence, *now), vec![call.to_string(), priority.to_string()])
        }
        Request::Leave { fence, call, outcome, now } => {
            (fenced("leave", fence, *now), vec![call.to_string(), outcome_str(*outcome)])
        }
        Request::Answered { fence, reservation, now } => {
            (fenced("ans", fence, *now), vec![reservation.0.to_string()])
        }
        Request::Missed { fence, reservation, miss, now, draw } => (
            fenced("miss", fence, *now),
            vec![reservation.0.to_string(), miss_str(*miss).to_owned(), draw.to_string()],
        ),
        Request::Extend { fence, call, now } => {
            (fenced("ext", fence, *now), vec![call.to_string()])
        }
        Request::Hangup { fence, call, by, now, draw } => (
            fenced("hang", fence, *now),
            vec![call.to_string(), party_str(*by).to_owned(), draw.to_string()],
        ),
        Request::AgentReady { agent, now, draw } => {
            (open("ready", *now), vec![agent.to_string(), draw.to_string()])
        }
        Request::Agent { agent, action, now, draw } => {
            let queue_args = |q: &Option<QueueId>| match q {
                Some(q) => vec!["1".to_owned(), q.to_string()],
                None => vec!["0".to_owned(), String::new()],
            };
            let (name, mut rest) = match action {
                AgentAction::Login => ("login", vec![]),
                AgentAction::Logout => ("logout", vec![]),
                AgentAction::Pause { queue, reason } => {
                    let mut v = queue_args(queue);
                    v.push(reason.clone());
                    ("pause", v)
                }
                AgentAction::Unpause { queue } => ("unpause", queue_args(queue)),
                AgentAction::SetPenalty { queue, penalty } => {
                    ("penalty", vec!["1".to_owned(), queue.to_string(), penalty.to_string()])
                }
                AgentAction::SetReachable { reachable } => {
                    ("reach", vec!["0".to_owned(), String::new(), flag(*reachable)])
                }
            };
            let mut tail = vec![agent.to_string(), draw.to_string(), name.to_owned()];
            tail.append(&mut rest);
            (open("agent", *now), tail)
        }
    };
    head.extend(tail);
    head
}

// === decoding ===

pub(super) fn text(v: &Value) -> Result<String, StoreError> {
    match v {
        Value::BulkString(b) => String::from_utf8(b.clone()).map_err(protocol),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::Int(n) => Ok(n.to_string()),
        Value::Okay => Ok("OK".to_owned()),
        other => Err(protocol(format!("expected a string, got {other:?}"))),
    }
}

pub(super) fn number<T: std::str::FromStr>(v: &Value) -> Result<T, StoreError> {
    let s = text(v)?;
    s.parse().map_err(|_| protocol(format!("expected a number, got {s:?}")))
}

pub(super) fn array(v: &Value) -> Result<&[Value], StoreError> {
    match v {
        Value::Array(items) => Ok(items),
        Value::Nil => Ok(&[]),
        other => Err(protocol(format!("expected an array, got {other:?}"))),
    }
}

fn at(items: &[Value], i: usize) -> Result<&Value, StoreError> {
    items.get(i).ok_or_else(|| protocol(format!("reply too short: no field {i} in {items:?}")))
}

fn str_at(items: &[Value], i: usize) -> Result<String, StoreError> {
    text(at(items, i)?)
}

fn num_at<T: std::str::FromStr>(items: &[Value], i: usize) -> Result<T, StoreError> {
    number(at(items, i)?)
}

/// The messages MemoryStore writes for the same refusals (board.rs).
fn invalid(items: &[Value]) -> Result<String, StoreError> {
    let arg = |i| str_at(items, i);
    Ok(match str_at(items, 1)?.as_str() {
        "queued" => format!("caller {} is already queued", arg(2)?),
        "queue" => format!("unknown queue {:?}", arg(2)?),
        "agent" => format!("unknown agent {:?}", arg(2)?),
        "logged_in" => format!("agent {} is already logged in", arg(2)?),
        "not_logged_in" => format!("agent {} is not logged in", arg(2)?),
        "on_call" => format!("agent {} is on a call; log out after it", arg(2)?),
        "not_member" => format!("agent {} is not a member of queue {}", arg(2)?, arg(3)?),
        other => return Err(protocol(format!("unknown refusal {other:?}"))),
    })
}

fn verdict(v: &Value) -> Result<Verdict, StoreError> {
    let items = array(v)?;
    Ok(match str_at(items, 0)?.as_str() {
        "done" => Verdict::Done,
        "joined" => Verdict::Joined { position: num_at(items, 1)?, serving: num_at(items, 2)? },
        "refused" => Verdict::Refused(parse_outcome(&str_at(items, 1)?)?),
        "ended" => Verdict::Ended(parse_outcome(&str_at(items, 1)?)?),
        "confirmed" => Verdict::Confirmed { agent: AgentId::new(str_at(items, 1)?) },
        "stale" => Verdict::Stale,
        "fenced" => Verdict::Fenced,
        "invalid" => Verdict::Invalid(invalid(items)?),
        other => return Err(protocol(format!("unknown verdict {other:?}"))),
    })
}

fn notice(v: &Value) -> Result<Notice, StoreError> {
    let n = array(v)?;
    let kind = str_at(n, 0)?;
    if kind == "E" {
        return Ok(Notice::Evict {
            call: CallId::new(str_at(n, 1)?),
            node: NodeId::new(str_at(n, 2)?),
            queue: QueueId::new(str_at(n, 3)?),
            outcome: parse_outcome(&str_at(n, 4)?)?,
        });
    }
    let offer = Offer {
        reservation: ReservationId(num_at(n, 1)?),
        call: CallId::new(str_at(n, 2)?),
        node: NodeId::new(str_at(n, 3)?),
        queue: QueueId::new(str_at(n, 4)?),
        agent: AgentId::new(str_at(n, 5)?),
        ring_timeout: Duration::from_millis(num_at(n, 6)?),
    };
    match kind.as_str() {
        "O" => Ok(Notice::Offer(offer)),
        "C" => Ok(Notice::Cancelled(offer)),
        other => Err(protocol(format!("unknown notice {other:?}"))),
    }
}

/// A notice as one string for a node's inbox: its fields as in a reply (see [`notice`]), each
/// written `<length>:<bytes>`, so names may hold any character. Lua keeps it opaque.
pub(super) fn encode_notice(notice: &Notice) -> String {
    let fields: Vec<String> = match notice {
        Notice::Evict { call, node, queue, outcome } => {
            vec![
                "E".into(),
                call.to_string(),
                node.to_string(),
                queue.to_string(),
                outcome_str(*outcome),
            ]
        }
        Notice::Offer(o) | Notice::Cancelled(o) => {
            let kind = if matches!(notice, Notice::Offer(_)) { "O" } else { "C" };
            vec![
                kind.into(),
                o.reservation.0.to_string(),
                o.call.to_string(),
                o.node.to_string(),
                o.queue.to_string(),
                o.agent.to_string(),
                o.ring_timeout.as_millis().to_string(),
            ]
        }
    };
    fields.iter().map(|f| format!("{}:{f}", f.len())).collect()
}

/// The inverse of [`encode_notice`].
pub(super) fn decode_notice(text: &str) -> Result<Notice, StoreError> {
    let mut fields = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let bad = || protocol(format!("inbox notice {text:?}"));
        let (len, tail) = rest.split_once(':').ok_or_else(bad)?;
        let len: usize = len.parse().map_err(|_| bad())?;
        let field = tail.get(..len).ok_or_else(bad)?;
        fields.push(Value::BulkString(field.as_bytes().to_vec()));
        rest = &tail[len..];
    }
    notice(&Value::Array(fields))
}

/// `apply`'s reply: `{verdict, notices}`.
pub(super) fn reply(v: &Value) -> Result<Reply, StoreError> {
    let items = array(v)?;
    let result = verdict(at(items, 0)?)?;
    let notices = array(at(items, 1)?)?.iter().map(notice).collect::<Result<_, _>>()?;
    Ok(Reply { result, notices })
}

/// `agent`'s reply: status, its argument, wrap-up flag, reachable, per-queue pauses, pause-all.
pub(super) fn agent_view(v: &Value) -> Result<Option<AgentView>, StoreError> {
    if *v == Value::Nil {
        return Ok(None);
    }
    let items = array(v)?;
    let arg = str_at(items, 1)?;
    let status = match str_at(items, 0)?.as_str() {
        "out" => AgentStatus::LoggedOut,
        "idle" => AgentStatus::Available,
        "res" => AgentStatus::Reserved(CallId::new(arg)),
        "call" => AgentStatus::OnCall(CallId::new(arg)),
        "rest" => {
            let until = Time(arg.parse().map_err(|_| protocol(format!("time {arg:?}")))?);
            if str_at(items, 2)? == "1" {
                AgentStatus::WrapUp(until)
            } else {
                AgentStatus::Retry(until)
            }
        }
        other => return Err(protocol(format!("unknown agent status {other:?}"))),
    };
    let pauses = array(at(items, 4)?)?;
    let mut paused = Vec::with_capacity(pauses.len() / 2);
    for pair in pauses.chunks(2) {
        paused.push((QueueId::new(str_at(pair, 0)?), str_at(pair, 1)?));
    }
    // MemoryStore lists them in queue order; HGETALL has none.
    paused.sort();
    let paused_all = match items.get(5) {
        None | Some(Value::Nil) => None,
        Some(v) => Some(text(v)?),
    };
    Ok(Some(AgentView { status, paused_all, paused, reachable: str_at(items, 3)? == "1" }))
}

/// `queue`'s reply: present callers, waiting callers, logged-in members, available members.
pub(super) fn queue_view(v: &Value) -> Result<Option<QueueView>, StoreError> {
    if *v == Value::Nil {
        return Ok(None);
    }
    let items = array(v)?;
    let (callers, waiting): (u32, u32) = (num_at(items, 0)?, num_at(items, 1)?);
    Ok(Some(QueueView {
        callers,
        ringing: callers.saturating_sub(waiting),
        logged_in: num_at(items, 2)?,
        available: num_at(items, 3)?,
    }))
}

/// One stream entry `[id, [field, value, ...]]` as a journal record.
/// A node's callers, as `node_calls` lists them (see admin.lua).
pub(super) fn stored_calls(v: &Value) -> Result<Vec<StoredCall>, StoreError> {
    array(v)?
        .iter()
        .map(|row| {
            let items = array(row)?;
            let state = match str_at(items, 4)?.as_str() {
                "c" => StoredState::Connected {
                    reservation: ReservationId(num_at(items, 5)?),
                    agent: AgentId::new(str_at(items, 6)?),
                    since: Time(num_at(items, 7)?),
                },
                "w" => StoredState::Waiting {
                    offers: array(at(items, 5)?)?
                        .chunks(2)
                        .map(|pair| {
                            Ok((ReservationId(num_at(pair, 0)?), AgentId::new(str_at(pair, 1)?)))
                        })
                        .collect::<Result<_, StoreError>>()?,
                },
                other => return Err(protocol(format!("unknown caller state {other:?}"))),
            };
            Ok(StoredCall {
                call: CallId::new(str_at(items, 0)?),
                queue: QueueId::new(str_at(items, 1)?),
                caller_id: str_at(items, 2)?,
                entered: Time(num_at(items, 3)?),
                state,
            })
        })
        .collect()
}

/// The journal's identity: nil before the first record.
pub(super) fn journal_id(v: &Value) -> Result<Option<JournalId>, StoreError> {
    match v {
        Value::Nil => Ok(None),
        other => Ok(Some(JournalId(number(other)?))),
    }
}

/// Queues packed as the Lua library keeps an agent's memberships (`pack_members`: each as its
/// length in bytes, `:`, the queue), sorted by id as `MemoryStore` lists them.
fn unpack_members(packed: &str) -> Result<Vec<QueueId>, StoreError> {
    let bad = || protocol(format!("packed members {packed:?}"));
    let mut queues = Vec::new();
    let mut rest = packed;
    while !rest.is_empty() {
        let (len, tail) = rest.split_once(':').ok_or_else(bad)?;
        let len: usize = len.parse().map_err(|_| bad())?;
        let queue = tail.get(..len).ok_or_else(bad)?;
        queues.push(QueueId::new(queue));
        rest = &tail[len..];
    }
    queues.sort();
    Ok(queues)
}

pub(super) fn journal_entry(v: &Value) -> Result<JournalEntry, StoreError> {
    let entry = array(v)?;
    let id = str_at(entry, 0)?;
    let seq = id
        .split_once('-')
        .and_then(|(s, _)| s.parse().ok())
        .ok_or_else(|| protocol(format!("journal id {id:?}")))?;
    let raw = array(at(entry, 1)?)?;
    let mut fields = std::collections::BTreeMap::new();
    for pair in raw.chunks(2) {
        fields.insert(str_at(pair, 0)?, str_at(pair, 1)?);
    }
    let f = Fields(fields);
    Ok(JournalEntry { seq, time: Time(f.num("t")?), event: f.event()? })
}

struct Fields(std::collections::BTreeMap<String, String>);

impl Fields {
    fn s(&self, k: &str) -> Result<String, StoreError> {
        self.0.get(k).cloned().ok_or_else(|| protocol(format!("journal field {k} missing")))
    }
    fn num<T: std::str::FromStr>(&self, k: &str) -> Result<T, StoreError> {
        let s = self.s(k)?;
        s.parse().map_err(|_| protocol(format!("journal field {k}: {s:?}")))
    }
    fn dur(&self, k: &str) -> Result<Duration, StoreError> {
        Ok(Duration::from_millis(self.num(k)?))
    }
    fn call(&self) -> Result<CallId, StoreError> {
        Ok(CallId::new(self.s("call")?))
    }
    fn queue(&self) -> Result<QueueId, StoreError> {
        Ok(QueueId::new(self.s("queue")?))
    }
    fn agent(&self) -> Result<AgentId, StoreError> {
        Ok(AgentId::new(self.s("agent")?))
    }
    fn opt_queue(&self) -> Option<QueueId> {
        self.0.get("queue").map(QueueId::new)
    }
    fn members(&self) -> Result<Vec<QueueId>, StoreError> {
        self.0.get("members").map_or(Ok(Vec::new()), |packed| unpack_members(packed))
    }
    fn cause(&self) -> Result<CancelCause, StoreError> {
        match self.s("cause")?.as_str() {
            "left" => Ok(CancelCause::CallerLeft),
            "answered" => Ok(CancelCause::AnsweredElsewhere),
            other => Err(protocol(format!("cancel cause {other:?}"))),
        }
    }

    fn event(&self) -> Result<JournalEvent, StoreError> {
        Ok(match self.s("e")?.as_str() {
            "entered" => JournalEvent::Entered {
                call: self.call()?,
                queue: self.queue()?,
                node: NodeId::new(self.s("node")?),
                caller_id: self.s("cid")?,
                position: self.num("pos")?,
                resumed: self
                    .0
                    .get("resumed")
                    .map(|_| self.num("resumed").map(Time))
                    .transpose()?,
            },
            "refused" => JournalEvent::Refused {
                call: self.call()?,
                queue: self.queue()?,
                node: NodeId::new(self.s("node")?),
                caller_id: self.s("cid")?,
                outcome: parse_outcome(&self.s("out")?)?,
            },
            "offered" => JournalEvent::Offered {
                call: self.call()?,
                queue: self.queue()?,
                agent: self.agent()?,
                reservation: ReservationId(self.num("res")?),
            },
            "missed" => JournalEvent::Missed {
                call: self.call()?,
                queue: self.queue()?,
                agent: self.agent()?,
                miss: match self.s("miss")?.as_str() {
                    "noanswer" => Miss::NoAnswer,
                    "busy" => Miss::Busy,
                    "unreachable" => Miss::Unreachable,
                    "failed" => Miss::Failed,
                    other => return Err(protocol(format!("miss {other:?}"))),
                },
                rang: self.dur("rang")?,
            },
            "cancelled" => JournalEvent::OfferCancelled {
                call: self.call()?,
                queue: self.queue()?,
                agent: self.agent()?,
                rang: self.dur("rang")?,
                cause: self.cause()?,
            },
            "connected" => JournalEvent::Connected {
                call: self.call()?,
                queue: self.queue()?,
                agent: self.agent()?,
                reservation: ReservationId(self.num("res")?),
                hold: self.dur("hold")?,
                rang: self.dur("rang")?,
            },
            "completed" => JournalEvent::Completed {
                call: self.call()?,
                queue: self.queue()?,
                agent: self.agent()?,
                by: if self.s("by")? == "agent" { Party::Agent } else { Party::Caller },
                hold: self.dur("hold")?,
                talk: self.dur("talk")?,
                original_position: self.num("opos")?,
            },
            "left" => JournalEvent::Left {
                call: self.call()?,
                queue: self.queue()?,
                outcome: parse_outcome(&self.s("out")?)?,
                position: self.num("pos")?,
                original_position: self.num("opos")?,
                hold: self.dur("hold")?,
            },
            "login" => JournalEvent::LoggedIn { agent: self.agent()? },
            "logout" => {
                JournalEvent::LoggedOut { agent: self.agent()?, session: self.dur("session")? }
            }
            "paused" => JournalEvent::Paused {
                agent: self.agent()?,
                queue: self.opt_queue(),
                reason: self.s("reason")?,
                auto: self.s("auto")? == "1",
                members: self.members()?,
            },
            "unpaused" => JournalEvent::Unpaused {
                agent: self.agent()?,
                queue: self.opt_queue(),
                members: self.members()?,
            },
            "penalty" => JournalEvent::PenaltyChanged {
                agent: self.agent()?,
                queue: self.queue()?,
                penalty: self.num("penalty")?,
            },
            "reach" => JournalEvent::Reachability {
                agent: self.agent()?,
                reachable: self.s("reachable")? == "1",
            },
            "member_added" => JournalEvent::MemberAdded {
                agent: self.agent()?,
                queue: self.queue()?,
                penalty: self.num("penalty")?,
            },
            "member_removed" => {
                JournalEvent::MemberRemoved { agent: self.agent()?, queue: self.queue()? }
            }
            other => return Err(protocol(format!("unknown journal event {other:?}"))),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn inbox_notices_read_back_whatever_their_names_hold() {
        let offer = Offer {
            reservation: ReservationId(42),
            call: CallId::new("main~17:00.1;2"),
            node: NodeId::new("main"),
            queue: QueueId::new("sales|eu"),
            agent: AgentId::new("é:1"),
            ring_timeout: Duration::from_millis(15_000),
        };
        let evict = Notice::Evict {
            call: CallId::new("x"),
            node: NodeId::new("n"),
            queue: QueueId::new(""),
            outcome: Outcome::LeaveUnavail,
        };
        for notice in [Notice::Offer(offer.clone()), Notice::Cancelled(offer), evict] {
            assert_eq!(decode_notice(&encode_notice(&notice)).expect("decodes"), notice);
        }
        assert!(decode_notice("3:O").is_err(), "a truncated field is an error, not a panic");
        assert!(decode_notice("x:O").is_err());
    }

    use super::*;

    #[test]
    fn outcomes_round_trip() {
        let all = [
            Outcome::CompletedByCaller,
            Outcome::CompletedByAgent,
            Outcome::Abandoned,
            Outcome::Timeout,
            Outcome::JoinEmpty,
            Outcome::JoinUnavail,
            Outcome::LeaveEmpty,
            Outcome::LeaveUnavail,
            Outcome::Full,
            Outcome::ExitWithKey('5'),
            Outcome::ExitWithKey('#'),
            Outcome::Withdrawn,
            Outcome::NodeLost,
            Outcome::Drained,
        ];
        for o in all {
            assert_eq!(parse_outcome(&outcome_str(o)).unwrap(), o);
        }
        assert!(matches!(parse_outcome("key:"), Err(StoreError::Protocol(_))));
        assert!(matches!(parse_outcome("bogus"), Err(StoreError::Protocol(_))));
    }

    #[test]
    fn malformed_replies_are_protocol_errors() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        assert!(matches!(reply(&Value::Int(3)), Err(StoreError::Protocol(_))));
        let short = Value::Array(vec![Value::Array(vec![bulk("joined")]), Value::Array(vec![])]);
        assert!(matches!(reply(&short), Err(StoreError::Protocol(_))));
        let odd = Value::Array(vec![Value::Array(vec![bulk("maybe")]), Value::Array(vec![])]);
        assert!(matches!(reply(&odd), Err(StoreError::Protocol(_))));
        let entry = Value::Array(vec![bulk("x-0"), Value::Array(vec![])]);
        assert!(matches!(journal_entry(&entry), Err(StoreError::Protocol(_))));
    }

    #[test]
    fn packed_members_read_back_sorted_and_bad_ones_are_errors() {
        let q = |s: &str| QueueId::new(s);
        assert_eq!(unpack_members("5:sales7:support").unwrap(), [q("sales"), q("support")]);
        assert_eq!(unpack_members("1:b3:a:c").unwrap(), [q("a:c"), q("b")]);
        assert_eq!(unpack_members("").unwrap(), []);
        for bad in ["5:sal", "x:a", "3", "1:é"] {
            assert!(matches!(unpack_members(bad), Err(StoreError::Protocol(_))), "{bad:?}");
        }
    }
}
