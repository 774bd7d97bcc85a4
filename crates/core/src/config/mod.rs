//! Typed, validated configuration of queues and agents.
//!
//! These types are what the rest of starq reasons with; strings from `starq.toml`, SQL tables or
//! an imported `queues.conf` are parsed into them once, at the boundary, by the parsers here
//! (`FromStr` on each setting), so a strategy or a join condition is never compared as a string
//! again. Settings keep `app_queue`'s meaning and defaults unless their docs say otherwise.

mod agent;
mod empty;
pub mod limits;
mod penalty;
mod queue;

pub use agent::{AgentConfig, Contact, Membership, Pin};
pub use empty::{EmptyConditions, MemberCondition};
pub use penalty::{PenaltyChange, PenaltyRule, PenaltyStep, Window};
pub use queue::{
    Announcements, AnswerMode, AutoPause, AutoPauseScope, Destination, HoldtimeAnnounce, Overflow,
    PositionAnnounce, QueueConfig,
};

use thiserror::Error;

/// A setting that could not be parsed: names the setting, the value and the reason.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {setting} {value:?}: {reason}")]
pub struct SettingError {
    /// The setting's name as users write it (e.g. `strategy`, `joinempty`).
    pub setting: &'static str,
    /// The value as written.
    pub value: String,
    /// Why it was refused, with what would be accepted.
    pub reason: String,
}

impl SettingError {
    pub(crate) fn new(setting: &'static str, value: &str, reason: impl Into<String>) -> Self {
        SettingError { setting, value: value.to_owned(), reason: reason.into() }
    }
}
