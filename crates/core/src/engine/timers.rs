//! Timers as data: one table of deadlines, one [`TimerTable::next_deadline`] for the shell to
//! sleep until. Setting a key again moves it; due timers come out earliest first, ties in the
//! order they were set.

use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{AgentId, CallId, ReservationId};
use crate::time::Time;

/// What a timer is for.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum TimerKey {
    /// The caller's maximum wait.
    MaxWait(CallId),
    /// The caller's penalty rule reaches its next step.
    RuleStep(CallId),
    /// Position / hold-time announcement due.
    Announce(CallId),
    /// Periodic announcement due.
    Periodic(CallId),
    /// Under `ring-progressively`, add the next agent.
    Extend(CallId),
    /// An agent leg rang for the ring timeout.
    Ring(ReservationId),
    /// An agent's wrap-up or retry rest ends.
    AgentReady(AgentId),
}

/// Deadlines keyed by purpose.
#[derive(Debug, Default)]
pub(crate) struct TimerTable {
    by_key: BTreeMap<TimerKey, (Time, u64)>,
    by_due: BTreeSet<(Time, u64, TimerKey)>,
    seq: u64,
}

impl TimerTable {
    pub(crate) fn set(&mut self, key: TimerKey, due: Time) {
        self.cancel(&key);
        self.seq += 1;
        self.by_due.insert((due, self.seq, key.clone()));
        self.by_key.insert(key, (due, self.seq));
    }

    pub(crate) fn cancel(&mut self, key: &TimerKey) {
        if let Some((due, seq)) = self.by_key.remove(key) {
            self.by_due.remove(&(due, seq, key.clone()));
        }
    }

    /// When the timer `key` is due, if it is set.
    pub(crate) fn due(&self, key: &TimerKey) -> Option<Time> {
        self.by_key.get(key).map(|(due, _)| *due)
    }

    pub(crate) fn is_set(&self, key: &TimerKey) -> bool {
        self.by_key.contains_key(key)
    }

    pub(crate) fn next_deadline(&self) -> Option<Time> {
        self.by_due.first().map(|(due, _, _)| *due)
    }

    /// What [`pop_due`](Self::pop_due) takes to skip the timers set from now on.
    pub(crate) fn generation(&self) -> u64 {
        self.seq
    }

    /// Removes and returns the earliest timer due at `now` among those set up to `generation`.
    pub(crate) fn pop_due(&mut self, now: Time, generation: u64) -> Option<TimerKey> {
        let entry = self
            .by_due
            .iter()
            .take_while(|(due, _, _)| *due <= now)
            .find(|(_, seq, _)| *seq <= generation)?
            .clone();
        self.by_due.remove(&entry);
        self.by_key.remove(&entry.2);
        Some(entry.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_out_in_order_and_moves_replace() {
        let mut t = TimerTable::default();
        t.set(TimerKey::MaxWait("a".into()), Time(30));
        t.set(TimerKey::MaxWait("b".into()), Time(10));
        t.set(TimerKey::MaxWait("a".into()), Time(5));
        t.set(TimerKey::Ring(ReservationId(1)), Time(10));
        assert_eq!(t.next_deadline(), Some(Time(5)));
        let all = t.generation();
        assert_eq!(t.pop_due(Time(10), all), Some(TimerKey::MaxWait("a".into())));
        assert_eq!(t.pop_due(Time(10), all), Some(TimerKey::MaxWait("b".into())));
        t.cancel(&TimerKey::Ring(ReservationId(1)));
        assert_eq!(t.pop_due(Time(100), all), None);
        assert_eq!(t.next_deadline(), None);
    }

    #[test]
    fn timers_set_after_a_generation_wait_for_the_next() {
        let mut t = TimerTable::default();
        t.set(TimerKey::MaxWait("old".into()), Time(10));
        let before = t.generation();
        t.set(TimerKey::Extend("new".into()), Time(5));
        assert_eq!(t.pop_due(Time(10), before), Some(TimerKey::MaxWait("old".into())));
        assert_eq!(t.pop_due(Time(10), before), None);
        assert_eq!(t.next_deadline(), Some(Time(5)));
        assert_eq!(t.pop_due(Time(10), t.generation()), Some(TimerKey::Extend("new".into())));
    }
}
