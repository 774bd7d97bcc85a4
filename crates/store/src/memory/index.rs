//! The two sorted indexes that make every routing decision O(log n): matchable callers per
//! queue (by penalty window, each sorted by rank) and available agents per queue (by penalty
//! tier, each sorted by strategy score). The Redis store keeps the same structures as sorted
//! sets with the same orderings.

use std::collections::{BTreeMap, BTreeSet};

use starq_core::config::Window;
use starq_core::strategy::{RINGALL_MAX_AGENTS, Score, Selection};
use starq_core::{AgentId, CallId, Time};

/// A caller's place in its queue: higher priority first, then earlier entry, then arrival
/// order (`seq`) to break exact ties.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Rank {
    neg_priority: i64,
    entered: Time,
    seq: u64,
    pub(crate) call: CallId,
}

impl Rank {
    pub(crate) fn new(priority: i32, entered: Time, seq: u64, call: CallId) -> Self {
        Rank { neg_priority: -i64::from(priority), entered, seq, call }
    }
}

/// Matchable callers of one queue, grouped by window. Windows are few (one per rule step and
/// per-call override), so looking at the head of each group is O(windows · log n).
#[derive(Debug, Default)]
pub(crate) struct Waiting {
    by_window: BTreeMap<Window, BTreeSet<Rank>>,
}

impl Waiting {
    pub(crate) fn insert(&mut self, window: Window, rank: Rank) {
        self.by_window.entry(window).or_default().insert(rank);
    }

    pub(crate) fn remove(&mut self, window: Window, rank: &Rank) -> bool {
        let Some(set) = self.by_window.get_mut(&window) else { return false };
        let removed = set.remove(rank);
        if set.is_empty() {
            self.by_window.remove(&window);
        }
        removed
    }

    /// The best-ranked caller whose window admits `penalty` (any caller if `None`).
    pub(crate) fn best_for(&self, penalty: Option<u32>) -> Option<&Rank> {
        self.by_window
            .iter()
            .filter(|(w, _)| penalty.is_none_or(|p| w.admits(p)))
            .filter_map(|(_, set)| set.first())
            .min()
    }

    /// Windows with at least one caller, and their callers.
    pub(crate) fn groups(&self) -> impl Iterator<Item = (&Window, &BTreeSet<Rank>)> {
        self.by_window.iter()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_window.values().map(BTreeSet::len).sum()
    }
}

/// Available agents of one queue: tier (penalty) → agents sorted by `(score, id)`.
#[derive(Debug, Default)]
pub(crate) struct Available {
    tiers: BTreeMap<u32, BTreeSet<(Score, AgentId)>>,
}

impl Available {
    pub(crate) fn insert(&mut self, penalty: u32, score: Score, agent: AgentId) {
        self.tiers.entry(penalty).or_default().insert((score, agent));
    }

    pub(crate) fn remove(&mut self, penalty: u32, score: Score, agent: &AgentId) {
        if let Some(set) = self.tiers.get_mut(&penalty) {
            set.remove(&(score, agent.clone()));
            if set.is_empty() {
                self.tiers.remove(&penalty);
            }
        }
    }

    /// Every available agent, tier by tier.
    pub(crate) fn agents(&self) -> impl Iterator<Item = &AgentId> {
        self.tiers.values().flatten().map(|(_, agent)| agent)
    }

    /// Available agents, over every tier.
    pub(crate) fn len(&self) -> usize {
        self.tiers.values().map(BTreeSet::len).sum()
    }

    pub(crate) fn contains(&self, penalty: u32, score: Score, agent: &AgentId) -> bool {
        self.tiers.get(&penalty).is_some_and(|s| s.contains(&(score, agent.clone())))
    }

    /// Picks agents for a caller with `window` (`None`: penalties ignored, every tier counts).
    /// `cursor` is the queue's round-robin position. Returns the chosen agents (one, or the
    /// whole best tier for [`Selection::All`]) with their scores.
    pub(crate) fn select(
        &self,
        selection: Selection,
        window: Option<Window>,
        cursor: Option<Score>,
    ) -> Vec<(Score, AgentId)> {
        let range = window.map_or(0..=u32::MAX, |w| w.min..=w.max);
        let mut tiers = self.tiers.range(range).map(|(_, set)| set);
        let tiered = window.is_some() && selection != Selection::LowestAcrossTiers;
        let candidates: Vec<&BTreeSet<(Score, AgentId)>> =
            if tiered { tiers.next().into_iter().collect() } else { tiers.collect() };
        match selection {
            Selection::Lowest | Selection::LowestAcrossTiers => {
                candidates.iter().filter_map(|s| s.first()).min().cloned().into_iter().collect()
            }
            Selection::RoundRobin => {
                fn after(
                    s: &BTreeSet<(Score, AgentId)>,
                    cursor: Option<Score>,
                ) -> Option<&(Score, AgentId)> {
                    match cursor {
                        Some(c) => s.range((c + 1, AgentId::new(""))..).next(),
                        None => s.first(),
                    }
                }
                let next = candidates.iter().filter_map(|s| after(s, cursor)).min();
                let wrapped = || candidates.iter().filter_map(|s| s.first()).min();
                next.or_else(wrapped).cloned().into_iter().collect()
            }
            Selection::All => {
                let mut all: Vec<(Score, AgentId)> = candidates
                    .iter()
                    .flat_map(|s| s.iter().take(RINGALL_MAX_AGENTS))
                    .cloned()
                    .collect();
                all.sort();
                all.truncate(RINGALL_MAX_AGENTS);
                all
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn avail(entries: &[(u32, Score, &str)]) -> Available {
        let mut a = Available::default();
        for (p, s, id) in entries {
            a.insert(*p, *s, AgentId::new(id));
        }
        a
    }

    fn ids(v: Vec<(Score, AgentId)>) -> Vec<String> {
        v.into_iter().map(|(_, a)| a.to_string()).collect()
    }

    #[test]
    fn lowest_tier_is_exhausted_first() {
        let a = avail(&[(0, 9, "a"), (1, 1, "b")]);
        let w = Some(Window::ANY);
        assert_eq!(ids(a.select(Selection::Lowest, w, None)), ["a"]);
        assert_eq!(ids(a.select(Selection::LowestAcrossTiers, w, None)), ["b"]);
        assert_eq!(ids(a.select(Selection::Lowest, None, None)), ["b"], "penalties ignored");
        let w1 = Some(Window { min: 1, max: 5 });
        assert_eq!(ids(a.select(Selection::Lowest, w1, None)), ["b"]);
        assert!(a.select(Selection::Lowest, Some(Window { min: 2, max: 3 }), None).is_empty());
    }

    #[test]
    fn round_robin_goes_on_after_the_cursor_and_wraps() {
        let a = avail(&[(0, 0, "a"), (0, 1, "b"), (0, 2, "c")]);
        let w = Some(Window::ANY);
        assert_eq!(ids(a.select(Selection::RoundRobin, w, None)), ["a"]);
        assert_eq!(ids(a.select(Selection::RoundRobin, w, Some(0))), ["b"]);
        assert_eq!(ids(a.select(Selection::RoundRobin, w, Some(2))), ["a"]);
    }

    #[test]
    fn ring_all_takes_the_whole_best_tier() {
        let a = avail(&[(0, 0, "a"), (0, 1, "b"), (3, 0, "c")]);
        assert_eq!(ids(a.select(Selection::All, Some(Window::ANY), None)), ["a", "b"]);
    }

    #[test]
    fn waiting_callers_by_window() {
        let mut w = Waiting::default();
        let narrow = Window { min: 0, max: 0 };
        w.insert(narrow, Rank::new(0, Time(1), 1, CallId::new("old")));
        w.insert(Window::ANY, Rank::new(0, Time(2), 2, CallId::new("young")));
        w.insert(Window::ANY, Rank::new(5, Time(3), 3, CallId::new("vip")));
        assert_eq!(w.best_for(None).unwrap().call.as_str(), "vip");
        assert_eq!(w.best_for(Some(0)).unwrap().call.as_str(), "vip");
        let vip = Rank::new(5, Time(3), 3, CallId::new("vip"));
        assert!(w.remove(Window::ANY, &vip));
        assert_eq!(w.best_for(Some(0)).unwrap().call.as_str(), "old");
        assert_eq!(w.best_for(Some(4)).unwrap().call.as_str(), "young");
        assert_eq!(w.len(), 2);
    }
}
