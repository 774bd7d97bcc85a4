//! A queue's settings.

use std::str::FromStr;
use std::time::Duration;

use super::{EmptyConditions, PenaltyRule, SettingError};
use crate::ids::QueueId;
use crate::strategy::Strategy;

/// Everything that defines how one queue treats its callers and agents.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueConfig {
    /// The queue's name.
    pub id: QueueId,
    /// Which available agent is offered a call.
    pub strategy: Strategy,
    /// Under `ring-progressively`, how long before the next agent is added to the ringing set.
    pub ring_progressively_delay: Duration,
    /// Agents in several queues take calls from higher-weight queues first.
    pub weight: u32,
    /// Offer several callers at once when several agents are free. With `false` only the
    /// caller at the head of the queue is offered (`app_queue`'s `autofill=no`).
    pub autofill: bool,
    /// How long an agent's phone rings before the offer is withdrawn (`timeout`).
    pub ring_timeout: Duration,
    /// How long an agent who did not answer is skipped before being offered again (`retry`).
    pub retry: Duration,
    /// After-call work before an agent is offered the next call (`wrapuptime`); an agent's own
    /// setting overrides it.
    pub wrapup: Duration,
    /// Pausing agents who miss offers.
    pub autopause: AutoPause,
    /// Most callers waiting at once; `None` is unlimited (`maxlen=0`).
    pub max_len: Option<u32>,
    /// Refuse a new caller when no member counts as available (`joinempty`).
    pub join_empty: EmptyConditions,
    /// Make waiting callers leave when no member counts as available (`leavewhenempty`).
    pub leave_empty: EmptyConditions,
    /// Longest a caller waits before leaving with a timeout outcome.
    pub max_wait: Option<Duration>,
    /// Where a caller goes after a timeout: the dialplan, or the next queue of a failover chain.
    pub on_timeout: Overflow,
    /// Dialplan context for exit keys: a digit pressed while waiting continues the caller at
    /// `<context>,<digit>,1` (`app_queue`'s `context`). `None` ignores keys.
    pub exit_context: Option<String>,
    /// Penalties are ignored when the queue has at most this many logged-in members
    /// (`penaltymemberslimit`, 0 = never).
    pub penalty_members_limit: u32,
    /// The penalty rule snapshotted for each caller at entry (`defaultrule`).
    pub rule: PenaltyRule,
    /// Answer the caller, or only indicate ringing, while waiting.
    pub answer: AnswerMode,
    /// Music-on-hold class played while waiting.
    pub music_class: String,
    /// Position, hold-time and periodic announcements.
    pub announce: Announcements,
    /// Answered within this time counts as within service level (`servicelevel`).
    pub service_level: Duration,
}

impl QueueConfig {
    /// A queue with `app_queue`'s defaults (and `autofill=yes`, its modern default).
    pub fn new(id: impl Into<QueueId>) -> Self {
        QueueConfig {
            id: id.into(),
            strategy: Strategy::RingAll,
            ring_progressively_delay: Duration::from_secs(10),
            weight: 0,
            autofill: true,
            ring_timeout: Duration::from_secs(15),
            retry: Duration::from_secs(5),
            wrapup: Duration::ZERO,
            autopause: AutoPause::default(),
            max_len: None,
            join_empty: EmptyConditions::NONE,
            leave_empty: EmptyConditions::NONE,
            max_wait: None,
            on_timeout: Overflow::Dialplan(None),
            exit_context: None,
            penalty_members_limit: 0,
            rule: PenaltyRule::default(),
            answer: AnswerMode::Answer,
            music_class: "default".to_owned(),
            announce: Announcements::default(),
            service_level: Duration::from_secs(60),
        }
    }
}

/// Answer the caller while waiting, or leave the call unanswered with ringing indicated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AnswerMode {
    /// Answer and play music on hold.
    Answer,
    /// Indicate ringing (no answer, no music): the caller hears ringback.
    Ring,
}

/// Where a caller who timed out goes next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Overflow {
    /// Back to the dialplan: at the given place, or after `Stasis()` if `None`.
    Dialplan(Option<Destination>),
    /// Into another queue (the next step of a failover chain), waiting anew there.
    Queue(QueueId),
}

/// A place in the dialplan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Dialplan context.
    pub context: String,
    /// Extension.
    pub extension: String,
    /// Priority.
    pub priority: u32,
}

/// `autopause`: what a missed offer does to the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AutoPause {
    /// Which queues an auto-pause applies to; `None` disables it (`autopause=no`).
    pub scope: Option<AutoPauseScope>,
    /// Consecutive missed offers before the agent is paused (`app_queue` pauses at the first).
    pub after_misses: u32,
    /// A busy phone counts as a miss (`autopausebusy`).
    pub on_busy: bool,
    /// An unreachable phone counts as a miss (`autopauseunavail`).
    pub on_unavailable: bool,
}

impl Default for AutoPause {
    fn default() -> Self {
        AutoPause { scope: None, after_misses: 1, on_busy: false, on_unavailable: false }
    }
}

/// Where an auto-pause applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPauseScope {
    /// Only in the queue whose offer was missed (`autopause=yes`).
    ThisQueue,
    /// In every queue of the agent (`autopause=all`).
    AllQueues,
}

impl FromStr for AutoPause {
    type Err = SettingError;

    /// Parses `autopause=no|yes|all`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let scope = match s.trim().to_ascii_lowercase().as_str() {
            "no" => None,
            "yes" => Some(AutoPauseScope::ThisQueue),
            "all" => Some(AutoPauseScope::AllQueues),
            _ => return Err(SettingError::new("autopause", s, "expected no, yes or all")),
        };
        Ok(AutoPause { scope, ..AutoPause::default() })
    }
}

/// `announce-position`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PositionAnnounce {
    /// Never say the position.
    No,
    /// Always say it.
    Yes,
    /// Say it only while it is at most `position_limit`.
    Limit,
    /// Say it, or "more than `position_limit`" beyond it.
    More,
}

/// `announce-holdtime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HoldtimeAnnounce {
    /// Never say the estimated wait.
    No,
    /// Say it with every position announcement.
    Yes,
    /// Say it once.
    Once,
}

/// Announcement schedule of a queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Announcements {
    /// Interval of position / hold-time announcements (`announce-frequency`); `None` disables.
    pub frequency: Option<Duration>,
    /// Least time between two such announcements (`min-announce-frequency`).
    pub min_frequency: Duration,
    /// Whether and how to say the position.
    pub position: PositionAnnounce,
    /// The limit for [`PositionAnnounce::Limit`] and [`PositionAnnounce::More`].
    pub position_limit: u32,
    /// Whether to say the estimated wait.
    pub holdtime: HoldtimeAnnounce,
    /// Round the estimated wait to this many seconds (`announce-round-seconds`), 0 = minutes.
    pub round_seconds: u32,
    /// Announce to the caller at the head of the queue too (`announce-to-first-user`).
    pub to_first_user: bool,
    /// Prompts played in turn every `periodic_frequency` (`periodic-announce`).
    pub periodic: Vec<String>,
    /// Interval of periodic announcements; `None` disables them.
    pub periodic_frequency: Option<Duration>,
    /// Delay before the first periodic announcement (`periodic-announce-startdelay`); `None`
    /// waits one `periodic_frequency`.
    pub periodic_start_delay: Option<Duration>,
    /// Pick the periodic prompt at random instead of in turn (`random-periodic-announce`).
    pub random_periodic: bool,
}

impl Default for Announcements {
    fn default() -> Self {
        Announcements {
            frequency: None,
            min_frequency: Duration::from_secs(15),
            position: PositionAnnounce::No,
            position_limit: 10,
            holdtime: HoldtimeAnnounce::No,
            round_seconds: 0,
            to_first_user: false,
            periodic: Vec::new(),
            periodic_frequency: None,
            periodic_start_delay: None,
            random_periodic: false,
        }
    }
}
