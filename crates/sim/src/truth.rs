//! Ground truth: what every caller and agent phone experienced, recorded by the simulated
//! world itself, independently of what the ARI application believes. Tests compare starq's
//! reports against it; it dumps as JSON lines.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Serialize;

/// How a caller's time on the node ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Outcome {
    /// `Stasis()` found no consumer for the app: `STASISSTATUS=FAILED`, back to the dialplan.
    StasisFailed,
    /// The caller hung up before being connected to anyone.
    Abandoned,
    /// The caller hung up while connected, the agent still there (COMPLETECALLER).
    CallerHungUp,
    /// The agent hung up first; the caller's channel ended after (COMPLETEAGENT).
    AgentHungUp,
    /// The application hung the caller up (`DELETE /channels/{id}`), with this cause.
    HungUpByApp {
        /// Q.850 cause the channel was destroyed with.
        cause: i32,
    },
    /// The application continued the caller in the dialplan.
    Continued {
        /// Target context.
        context: String,
        /// Target extension.
        exten: String,
        /// Target priority.
        priority: i64,
    },
    /// The node died with the caller on it.
    NodeLost,
}

/// One media item a caller heard (an announcement or prompt), on the caller or its bridge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Heard {
    /// Media URI.
    pub media: String,
    /// When it started, ms since the world started.
    pub at_ms: u64,
}

/// One agent ring linked to a caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rang {
    /// Endpoint rung (`PJSIP/1001`, `Local/1001@agents`).
    pub agent: String,
    /// When the leg was dialed, ms since the world started.
    pub at_ms: u64,
}

/// Everything one inbound caller experienced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CallerRecord {
    /// World-wide caller number.
    pub caller: u64,
    /// Node index the call arrived on.
    pub node: usize,
    /// Id of the channel that entered Stasis (the `;2` half).
    pub channel_id: String,
    /// Stasis application asked for.
    pub app: String,
    /// Stasis arguments.
    pub args: Vec<String>,
    /// Caller id number.
    pub number: String,
    /// Arrival, ms since the world started.
    pub entered_ms: u64,
    /// `STASISSTATUS` after `Stasis()` (empty while the call is in Stasis).
    pub stasis_status: String,
    /// Times music on hold started on the caller (channel or bridge MOH).
    pub moh_starts: u32,
    /// Total ms of MOH heard so far.
    pub moh_ms: u64,
    /// Whether music on hold was still playing when the caller left Stasis for the dialplan
    /// (`/continue` does not stop it: the caller hears it over whatever the dialplan does).
    pub moh_after_stasis: bool,
    /// The channel's variables when it left Stasis for the dialplan (what the dialplan reads
    /// next: `STARQ_OUTCOME`, …); empty while in Stasis or when it hung up there.
    pub left_with: BTreeMap<String, String>,
    /// Whether ringback was indicated to the caller.
    pub heard_ringing: bool,
    /// Announcements and prompts played.
    pub heard: Vec<Heard>,
    /// Digits pressed.
    pub dtmf: Vec<String>,
    /// Agents rung for this caller.
    pub rang: Vec<Rang>,
    /// When the caller was first bridged with an answered agent leg.
    pub connected_ms: Option<u64>,
    /// Which agent endpoint.
    pub agent: Option<String>,
    /// When that agent's leg ended while the caller was still on the line (the agent hung up
    /// first: `agent_hung_up`, queue_log's COMPLETEAGENT).
    pub agent_left_ms: Option<u64>,
    /// When the call ended for the caller (hangup or leaving Stasis to the dialplan).
    pub ended_ms: Option<u64>,
    /// How it ended.
    pub outcome: Option<Outcome>,
}

/// How one ring of an agent phone ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RingResult {
    /// Still ringing or talking.
    Pending,
    /// Answered.
    Answered,
    /// The phone reported busy.
    Busy,
    /// The leg was torn down before an answer (timeout, cancel).
    NotAnswered,
}

/// One call offered to an agent phone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentRing {
    /// Agent endpoint.
    pub agent: String,
    /// Node index.
    pub node: usize,
    /// Leg channel id.
    pub channel_id: String,
    /// When it started ringing, ms since the world started.
    pub at_ms: u64,
    /// Whether the phone already had a call when this one arrived.
    pub while_busy: bool,
    /// Outcome of the ring.
    pub result: RingResult,
    /// When answered.
    pub answered_ms: Option<u64>,
    /// When the leg ended.
    pub ended_ms: Option<u64>,
    /// The caller the agent was bridged with, if any.
    pub caller: Option<u64>,
}

/// The world's record of callers and agent rings.
#[derive(Debug, Default, Clone)]
pub struct Truth {
    callers: BTreeMap<u64, CallerRecord>,
    rings: Vec<AgentRing>,
}

/// One JSON line of the dump.
#[derive(Serialize)]
#[serde(tag = "record", rename_all = "snake_case")]
enum Line<'a> {
    Caller(&'a CallerRecord),
    AgentRing(&'a AgentRing),
}

impl Truth {
    /// All callers, by caller number.
    pub fn callers(&self) -> impl Iterator<Item = &CallerRecord> {
        self.callers.values()
    }

    /// One caller.
    pub fn caller(&self, caller: u64) -> Option<&CallerRecord> {
        self.callers.get(&caller)
    }

    /// All agent rings, in the order they started.
    pub fn rings(&self) -> &[AgentRing] {
        &self.rings
    }

    /// Writes one JSON object per line: callers first, then agent rings.
    pub fn dump_json_lines(&self, mut out: impl Write) -> std::io::Result<()> {
        let lines = self.callers.values().map(Line::Caller);
        for line in lines.chain(self.rings.iter().map(Line::AgentRing)) {
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    pub(crate) fn insert_caller(&mut self, record: CallerRecord) {
        self.callers.insert(record.caller, record);
    }

    pub(crate) fn caller_mut(&mut self, caller: u64) -> Option<&mut CallerRecord> {
        self.callers.get_mut(&caller)
    }

    /// Ends a caller once: the first outcome recorded wins.
    pub(crate) fn end_caller(&mut self, caller: u64, at_ms: u64, outcome: Outcome) {
        if let Some(rec) = self.callers.get_mut(&caller)
            && rec.outcome.is_none()
        {
            rec.ended_ms = Some(at_ms);
            rec.outcome = Some(outcome);
        }
    }

    pub(crate) fn push_ring(&mut self, ring: AgentRing) -> usize {
        self.rings.push(ring);
        self.rings.len() - 1
    }

    pub(crate) fn ring_mut(&mut self, index: usize) -> Option<&mut AgentRing> {
        self.rings.get_mut(index)
    }
}
