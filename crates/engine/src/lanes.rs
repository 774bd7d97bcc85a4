//! Which ARI request of a node may go out now: requests about one call (one lane) in the
//! order they were made, requests about different calls side by side, and at most a fixed
//! number in flight. Pure bookkeeping; the executor (`execute::run`) sends and awaits.
//!
//! One queue per node would be simpler, but then every caller's answer and music waits behind
//! every other caller's: when a few hundred callers arrive at once, a leg answered in that
//! queue is bridged only after its agent's talk is over (seen on a real Asterisk 22.10.1 with
//! 400 callers and agents talking 1 s).

use std::collections::{BTreeMap, VecDeque};

/// Commands of type `C` in lanes named by strings.
#[derive(Debug)]
pub(crate) struct Lanes<C> {
    cap: usize,
    running: usize,
    /// Per busy lane (its head running or ready), the commands waiting behind its head.
    behind: BTreeMap<String, VecDeque<C>>,
    /// Heads of lanes waiting for a slot, first come first served.
    ready: VecDeque<(String, C)>,
}

impl<C> Lanes<C> {
    /// Lanes with at most `cap` commands (at least one) running at once.
    pub(crate) fn new(cap: usize) -> Self {
        Lanes { cap: cap.max(1), running: 0, behind: BTreeMap::new(), ready: VecDeque::new() }
    }

    /// A command for `lane` arrives: it is handed back if it may start now.
    pub(crate) fn submit(&mut self, lane: String, command: C) -> Option<(String, C)> {
        if let Some(queue) = self.behind.get_mut(&lane) {
            queue.push_back(command);
            return None;
        }
        self.behind.insert(lane.clone(), VecDeque::new());
        if self.running < self.cap {
            self.running += 1;
            Some((lane, command))
        } else {
            self.ready.push_back((lane, command));
            None
        }
    }

    /// The running command of `lane` is done: the commands that may start now.
    pub(crate) fn finished(&mut self, lane: &str) -> Vec<(String, C)> {
        self.running = self.running.saturating_sub(1);
        match self.behind.get_mut(lane).and_then(VecDeque::pop_front) {
            Some(next) => self.ready.push_back((lane.to_owned(), next)),
            None => _ = self.behind.remove(lane),
        }
        let mut start = Vec::new();
        while self.running < self.cap
            && let Some(head) = self.ready.pop_front()
        {
            self.running += 1;
            start.push(head);
        }
        start
    }

    /// Commands not finished yet (running, ready or waiting).
    pub(crate) fn pending(&self) -> usize {
        self.running + self.ready.len() + self.behind.values().map(VecDeque::len).sum::<usize>()
    }

    /// Drops the commands not started yet that `doomed` picks (the leg they were to make is
    /// already to be hung up).
    pub(crate) fn drop_waiting(&mut self, doomed: impl Fn(&C) -> bool) {
        for queue in self.behind.values_mut() {
            queue.retain(|c| !doomed(c));
        }
        let before = self.ready.len();
        let mut kept = VecDeque::with_capacity(before);
        for (lane, command) in self.ready.drain(..) {
            if !doomed(&command) {
                kept.push_back((lane, command));
                continue;
            }
            // The lane's head is gone: the next behind it (if any) takes its place.
            match self.behind.get_mut(&lane).and_then(VecDeque::pop_front) {
                Some(next) => kept.push_back((lane, next)),
                None => _ = self.behind.remove(&lane),
            }
        }
        self.ready = kept;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_lane_runs_in_order_and_lanes_run_side_by_side_up_to_the_cap() {
        let mut lanes = Lanes::new(2);
        assert_eq!(lanes.submit("a".into(), 1), Some(("a".into(), 1)));
        assert_eq!(lanes.submit("a".into(), 2), None, "behind a's first");
        assert_eq!(lanes.submit("b".into(), 3), Some(("b".into(), 3)), "another call: at once");
        assert_eq!(lanes.submit("c".into(), 4), None, "two in flight already");
        assert_eq!(lanes.pending(), 4);
        // a's first is done: c's head was ready first, a's second queues after it.
        assert_eq!(lanes.finished("a"), [("c".to_owned(), 4)]);
        assert_eq!(lanes.finished("b"), [("a".to_owned(), 2)]);
        assert!(lanes.finished("c").is_empty());
        assert!(lanes.finished("a").is_empty());
        assert_eq!(lanes.pending(), 0);
        assert_eq!(lanes.submit("a".into(), 5), Some(("a".into(), 5)), "a lane is free again");
    }

    #[test]
    fn dropped_commands_never_start_and_their_lane_moves_on() {
        let mut lanes = Lanes::new(1);
        assert!(lanes.submit("x".into(), 1).is_some());
        assert!(lanes.submit("y".into(), 2).is_none());
        assert!(lanes.submit("y".into(), 3).is_none());
        assert!(lanes.submit("z".into(), 4).is_none());
        lanes.drop_waiting(|c| *c == 2 || *c == 4);
        assert_eq!(lanes.finished("x"), [("y".to_owned(), 3)]);
        assert!(lanes.finished("y").is_empty());
        assert_eq!(lanes.pending(), 0);
    }
}
