//! `joinempty` / `leavewhenempty`: which agents do not count as "someone who could answer".

use std::fmt;
use std::str::FromStr;

use super::SettingError;

/// The state of one member agent, as far as the empty-queue rules care.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MemberCondition {
    /// Paused in this queue (or in all queues).
    Paused,
    /// Outside the caller's allowed penalty range.
    Penalty,
    /// On a call.
    InUse,
    /// Reserved for, or ringing with, a call.
    Ringing,
    /// Logged in but no contact reachable (phone unregistered, node down).
    Unavailable,
    /// Invalid device. starq tracks agents itself and never has one; accepted for compatibility.
    Invalid,
    /// Unknown device state. starq never has one either; accepted for compatibility.
    Unknown,
    /// In wrap-up after a call.
    WrapUp,
}

impl MemberCondition {
    const ALL: [MemberCondition; 8] = [
        MemberCondition::Paused,
        MemberCondition::Penalty,
        MemberCondition::InUse,
        MemberCondition::Ringing,
        MemberCondition::Unavailable,
        MemberCondition::Invalid,
        MemberCondition::Unknown,
        MemberCondition::WrapUp,
    ];

    const fn bit(self) -> u8 {
        1 << self as u8
    }

    /// The word `app_queue` uses for this condition.
    pub const fn as_str(self) -> &'static str {
        match self {
            MemberCondition::Paused => "paused",
            MemberCondition::Penalty => "penalty",
            MemberCondition::InUse => "inuse",
            MemberCondition::Ringing => "ringing",
            MemberCondition::Unavailable => "unavailable",
            MemberCondition::Invalid => "invalid",
            MemberCondition::Unknown => "unknown",
            MemberCondition::WrapUp => "wrapup",
        }
    }
}

/// A set of [`MemberCondition`]s: a member in any of them does not count.
///
/// The empty set means "never refuse, never make leave" (`joinempty=yes`). With a non-empty set a
/// queue with no logged-in member at all also counts as empty, as in `app_queue`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct EmptyConditions(u8);

impl EmptyConditions {
    /// No condition: callers always join and never leave for lack of agents.
    pub const NONE: EmptyConditions = EmptyConditions(0);

    /// Builds a set from conditions.
    pub fn of(conditions: &[MemberCondition]) -> Self {
        EmptyConditions(conditions.iter().fold(0, |bits, c| bits | c.bit()))
    }

    /// Whether the set holds no condition (the rule is off).
    pub const fn is_off(self) -> bool {
        self.0 == 0
    }

    /// Whether `condition` excludes a member.
    pub const fn contains(self, condition: MemberCondition) -> bool {
        self.0 & condition.bit() != 0
    }

    /// The conditions in the set, in a fixed order.
    pub fn iter(self) -> impl Iterator<Item = MemberCondition> {
        MemberCondition::ALL.into_iter().filter(move |c| self.contains(*c))
    }
}

impl FromStr for EmptyConditions {
    type Err = SettingError;

    /// Parses `app_queue`'s list (`paused,penalty,inuse,ringing,unavailable,invalid,unknown,
    /// wrapup`) and its legacy words `yes`, `no`, `strict`, `loose`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        use MemberCondition as C;
        let legacy = match s.trim().to_ascii_lowercase().as_str() {
            "yes" | "" => Some(EmptyConditions::NONE),
            "no" => Some(EmptyConditions::of(&[C::Penalty, C::Paused, C::Invalid, C::Unknown])),
            "strict" => {
                Some(EmptyConditions::of(&[C::Penalty, C::Paused, C::Invalid, C::Unavailable]))
            }
            "loose" => Some(EmptyConditions::of(&[C::Penalty, C::Invalid])),
            _ => None,
        };
        if let Some(set) = legacy {
            return Ok(set);
        }
        let mut set = EmptyConditions::NONE;
        for word in s.split(',').map(str::trim) {
            let condition = C::ALL.into_iter().find(|c| c.as_str().eq_ignore_ascii_case(word));
            let Some(condition) = condition else {
                return Err(SettingError::new(
                    "joinempty/leavewhenempty",
                    s,
                    format!(
                        "unknown condition {word:?}; expected a list of paused, penalty, inuse, \
                         ringing, unavailable, invalid, unknown, wrapup, or yes/no/strict/loose"
                    ),
                ));
            };
            set.0 |= condition.bit();
        }
        Ok(set)
    }
}

impl fmt::Display for EmptyConditions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_off() {
            return f.write_str("yes");
        }
        let words: Vec<&str> = self.iter().map(MemberCondition::as_str).collect();
        f.write_str(&words.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_legacy_words() {
        let set: EmptyConditions = "paused, inuse,WRAPUP".parse().unwrap();
        assert!(set.contains(MemberCondition::Paused));
        assert!(set.contains(MemberCondition::InUse));
        assert!(set.contains(MemberCondition::WrapUp));
        assert!(!set.contains(MemberCondition::Ringing));
        assert_eq!(set.to_string(), "paused,inuse,wrapup");
        assert!("yes".parse::<EmptyConditions>().unwrap().is_off());
        assert!(
            "strict".parse::<EmptyConditions>().unwrap().contains(MemberCondition::Unavailable)
        );
    }

    #[test]
    fn unknown_condition_is_named() {
        let err = "paused,bogus".parse::<EmptyConditions>().unwrap_err();
        assert!(err.to_string().contains("\"bogus\""), "{err}");
    }
}
