//! How a caller's stay in a queue ends: exactly one [`Outcome`] per caller.

use std::fmt;

/// The one way a caller left a queue. Every caller who entered ends with exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// Connected to an agent; the caller hung up first.
    CompletedByCaller,
    /// Connected to an agent; the agent hung up first.
    CompletedByAgent,
    /// The caller hung up while waiting (or while an agent rang).
    Abandoned,
    /// Waited the queue's maximum wait.
    Timeout,
    /// Refused at entry: no member at all counted as available (`JOINEMPTY`).
    JoinEmpty,
    /// Refused at entry: members exist but none counted as available (`JOINUNAVAIL`).
    JoinUnavail,
    /// Made to leave: no member at all is left (`LEAVEEMPTY`).
    LeaveEmpty,
    /// Made to leave: members exist but none counts as available (`LEAVEUNAVAIL`).
    LeaveUnavail,
    /// Refused at entry: the queue held `maxlen` callers (`FULL`).
    Full,
    /// Pressed an exit key while waiting.
    ExitWithKey(char),
    /// Withdrawn by an API request (`QueueWithdrawCaller`).
    Withdrawn,
    /// The caller's Asterisk node was lost.
    NodeLost,
    /// starq stopped taking callers (shutdown) and handed this one back to the dialplan.
    Drained,
}

impl Outcome {
    /// The value handed back to the dialplan in `STARQ_OUTCOME`, named like `QUEUESTATUS`.
    pub const fn queue_status(self) -> &'static str {
        match self {
            Outcome::CompletedByCaller | Outcome::CompletedByAgent => "CONTINUE",
            Outcome::Abandoned => "ABANDONED",
            Outcome::Timeout => "TIMEOUT",
            Outcome::JoinEmpty => "JOINEMPTY",
            Outcome::JoinUnavail => "JOINUNAVAIL",
            Outcome::LeaveEmpty => "LEAVEEMPTY",
            Outcome::LeaveUnavail => "LEAVEUNAVAIL",
            Outcome::Full => "FULL",
            Outcome::ExitWithKey(_) => "EXITWITHKEY",
            Outcome::Withdrawn => "WITHDRAW",
            Outcome::NodeLost => "NODELOST",
            Outcome::Drained => "DRAINED",
        }
    }

    /// Whether the caller was connected to an agent.
    pub const fn was_answered(self) -> bool {
        matches!(self, Outcome::CompletedByCaller | Outcome::CompletedByAgent)
    }

    /// Whether the caller's channel goes back to the dialplan (rather than being gone).
    pub const fn continues_in_dialplan(self) -> bool {
        !matches!(
            self,
            Outcome::CompletedByCaller
                | Outcome::CompletedByAgent
                | Outcome::Abandoned
                | Outcome::NodeLost
        )
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.queue_status())
    }
}
