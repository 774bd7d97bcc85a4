//! Penalty windows and the rules that widen them while a caller waits (`queuerules.conf`).
//!
//! A caller may be offered to agents whose penalty lies in its [`Window`]. A [`PenaltyRule`] is a
//! list of steps `penaltychange => seconds,max[,min]`, each change absolute (`10`) or relative
//! (`+3`, `-1`). As in `app_queue` the rule is snapshotted when the caller enters; unlike
//! `app_queue` (which re-checks once per second) the steps are timers, applied at their exact time.

use std::str::FromStr;
use std::time::Duration;

use super::{SettingError, limits};

/// The inclusive range of agent penalties a caller may be offered to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Window {
    /// Lowest allowed penalty.
    pub min: u32,
    /// Highest allowed penalty.
    pub max: u32,
}

impl Window {
    /// Every penalty allowed.
    pub const ANY: Window = Window { min: 0, max: u32::MAX };

    /// Whether an agent with `penalty` may take the call.
    pub const fn admits(self, penalty: u32) -> bool {
        self.min <= penalty && penalty <= self.max
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::ANY
    }
}

/// How one step changes a bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PenaltyChange {
    /// Set the bound to this value.
    Absolute(u32),
    /// Add this (possibly negative) amount, saturating at 0 and `u32::MAX`.
    Relative(i64),
}

impl PenaltyChange {
    fn apply(self, bound: u32) -> u32 {
        match self {
            PenaltyChange::Absolute(v) => v,
            PenaltyChange::Relative(delta) => {
                let sum = i64::from(bound).saturating_add(delta);
                u32::try_from(sum.max(0)).unwrap_or(u32::MAX)
            }
        }
    }

    fn parse(field: &str, whole: &str) -> Result<Self, SettingError> {
        let field = field.trim();
        let bad = || {
            SettingError::new(
                "penaltychange",
                whole,
                format!("{field:?} is not a penalty: expected N, +N or -N"),
            )
        };
        if field.starts_with(['+', '-']) {
            field.parse::<i64>().map(PenaltyChange::Relative).map_err(|_| bad())
        } else {
            field.parse::<u32>().map(PenaltyChange::Absolute).map_err(|_| bad())
        }
    }
}

/// One `penaltychange` line: after `after` of waiting, change the window's bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PenaltyStep {
    /// Wait time from the caller's entry at which the step applies.
    pub after: Duration,
    /// Change to the highest allowed penalty.
    pub max: PenaltyChange,
    /// Change to the lowest allowed penalty, if any.
    pub min: Option<PenaltyChange>,
}

impl FromStr for PenaltyStep {
    type Err = SettingError;

    /// Parses the value of a `penaltychange =>` line: `seconds,max[,min]`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fields: Vec<&str> = s.split(',').collect();
        if !(2..=3).contains(&fields.len()) {
            let reason = if fields.len() == 4 {
                "the raise-penalty field is not supported; use seconds,max[,min]"
            } else {
                "expected seconds,max[,min]"
            };
            return Err(SettingError::new("penaltychange", s, reason));
        }
        let secs: u64 = fields[0].trim().parse().map_err(|_| {
            SettingError::new("penaltychange", s, "the first field must be whole seconds")
        })?;
        let after = limits::secs(&limits::PENALTY_STEP_SECS, secs)
            .map_err(|reason| SettingError::new("penaltychange", s, reason))?;
        Ok(PenaltyStep {
            after,
            max: PenaltyChange::parse(fields[1], s)?,
            min: fields.get(2).map(|f| PenaltyChange::parse(f, s)).transpose()?,
        })
    }
}

/// A rule: steps sorted by time. Applying the steps due at a wait time to the caller's starting
/// window gives its current window.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PenaltyRule {
    steps: Vec<PenaltyStep>,
}

impl PenaltyRule {
    /// Builds a rule; steps are sorted by their time (stable, so equal times keep their order).
    pub fn new(mut steps: Vec<PenaltyStep>) -> Self {
        steps.sort_by_key(|s| s.after);
        PenaltyRule { steps }
    }

    /// The steps, sorted by time.
    pub fn steps(&self) -> &[PenaltyStep] {
        &self.steps
    }

    /// The window after waiting `waited`, starting from `start`.
    pub fn window_at(&self, start: Window, waited: Duration) -> Window {
        self.steps.iter().take_while(|s| s.after <= waited).fold(start, |w, step| {
            let max = step.max.apply(w.max);
            let min = step.min.map_or(w.min, |c| c.apply(w.min));
            Window { min: min.min(max), max }
        })
    }

    /// The first step strictly after `waited`: when the window changes next.
    pub fn next_change_after(&self, waited: Duration) -> Option<Duration> {
        self.steps.iter().map(|s| s.after).find(|&after| after > waited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(lines: &[&str]) -> PenaltyRule {
        PenaltyRule::new(lines.iter().map(|l| l.parse().unwrap()).collect())
    }

    #[test]
    fn steps_widen_the_window_in_time_order() {
        let r = rule(&["60,10,5", "30,+3"]);
        let start = Window { min: 0, max: 1 };
        assert_eq!(r.window_at(start, Duration::from_secs(29)), start);
        assert_eq!(r.window_at(start, Duration::from_secs(30)), Window { min: 0, max: 4 });
        assert_eq!(r.window_at(start, Duration::from_secs(61)), Window { min: 5, max: 10 });
        assert_eq!(r.next_change_after(Duration::from_secs(30)), Some(Duration::from_secs(60)));
        assert_eq!(r.next_change_after(Duration::from_secs(60)), None);
    }

    #[test]
    fn relative_changes_saturate() {
        let r = rule(&["1,-5,-5"]);
        let w = r.window_at(Window { min: 2, max: 3 }, Duration::from_secs(1));
        assert_eq!(w, Window { min: 0, max: 0 });
    }

    #[test]
    fn bad_steps_are_named() {
        assert!("x,1".parse::<PenaltyStep>().unwrap_err().to_string().contains("seconds"));
        assert!("5,+z".parse::<PenaltyStep>().unwrap_err().to_string().contains("\"+z\""));
        assert!("5,1,1,r2".parse::<PenaltyStep>().unwrap_err().to_string().contains("raise"));
        let late = "18446744073709551615,+1".parse::<PenaltyStep>().unwrap_err().to_string();
        assert!(late.contains("must be between 0 and 86400 seconds"), "{late}");
    }
}
