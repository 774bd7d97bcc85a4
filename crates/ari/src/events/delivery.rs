//! Handing items to the consumer without ever making the WebSocket reader wait.
//!
//! Asterisk closes an ARI WebSocket whose writes block for 100 ms (`websocket_write_timeout`),
//! so the reader must keep reading whatever the consumer does. Items go into a bounded channel
//! with `try_send`. When it is full:
//! - an event (or decode error) is dropped and counted, and a [`StreamItem::Lost`] marker takes
//!   its place in the order, so the consumer knows its view is stale;
//! - a control item (state, `Replaced`) is never dropped: it waits in a small backlog that is
//!   flushed, in order, as soon as there is room. Events arriving while the backlog is not
//!   empty are dropped, because delivering them would overtake it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc::{self, error::TrySendError};

use super::item::StreamItem;

/// Control items kept at most while the consumer is not reading. Past this the oldest state
/// report is discarded (the handle's state watch still has the latest one).
const BACKLOG_LIMIT: usize = 256;

/// The consumer dropped its receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ConsumerGone;

/// The sending side of the stream.
#[derive(Debug)]
pub(crate) struct Delivery {
    tx: mpsc::Sender<StreamItem>,
    backlog: VecDeque<StreamItem>,
    overflow: Arc<AtomicU64>,
}

impl Delivery {
    pub(crate) fn new(tx: mpsc::Sender<StreamItem>, overflow: Arc<AtomicU64>) -> Self {
        Delivery { tx, backlog: VecDeque::new(), overflow }
    }

    /// A sender to wait on for room (`reserve`) or for the consumer going away (`closed`).
    pub(crate) fn sender(&self) -> mpsc::Sender<StreamItem> {
        self.tx.clone()
    }

    pub(crate) fn has_backlog(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Delivers an event or decode error now, or drops and counts it.
    pub(crate) fn push_event(&mut self, item: StreamItem) -> Result<(), ConsumerGone> {
        self.flush()?;
        if self.backlog.is_empty() {
            match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(ConsumerGone),
                Err(TrySendError::Full(_)) => {}
            }
        }
        self.overflow.fetch_add(1, Ordering::Relaxed);
        match self.backlog.back_mut() {
            Some(StreamItem::Lost { dropped }) => *dropped += 1,
            _ => self.backlog.push_back(StreamItem::Lost { dropped: 1 }),
        }
        Ok(())
    }

    /// Delivers a control item now, or keeps it, in order, until there is room.
    pub(crate) fn push_control(&mut self, item: StreamItem) -> Result<(), ConsumerGone> {
        self.flush()?;
        if self.backlog.is_empty() {
            match self.tx.try_send(item) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Closed(_)) => return Err(ConsumerGone),
                Err(TrySendError::Full(item)) => self.backlog.push_back(item),
            }
        } else {
            self.backlog.push_back(item);
        }
        if self.backlog.len() > BACKLOG_LIMIT
            && let Some(oldest_state) =
                self.backlog.iter().position(|i| matches!(i, StreamItem::State(_)))
        {
            self.backlog.remove(oldest_state);
            self.merge_lost_at(oldest_state);
        }
        Ok(())
    }

    /// Merges two `Lost` markers that became neighbours at `index - 1` and `index`, so the
    /// backlog stays bounded however long the consumer stays away.
    fn merge_lost_at(&mut self, index: usize) {
        let Some(before) = index.checked_sub(1) else { return };
        if let (Some(StreamItem::Lost { dropped: first }), Some(StreamItem::Lost { dropped })) =
            (self.backlog.get(before), self.backlog.get(index))
        {
            let merged = first + dropped;
            self.backlog[before] = StreamItem::Lost { dropped: merged };
            self.backlog.remove(index);
        }
    }

    /// Moves as much of the backlog into the channel as fits.
    pub(crate) fn flush(&mut self) -> Result<(), ConsumerGone> {
        while let Some(item) = self.backlog.pop_front() {
            match self.tx.try_send(item) {
                Ok(()) => {}
                Err(TrySendError::Full(item)) => {
                    self.backlog.push_front(item);
                    break;
                }
                Err(TrySendError::Closed(_)) => return Err(ConsumerGone),
            }
        }
        Ok(())
    }

    /// Sends the front of the backlog with a slot obtained by `reserve`.
    pub(crate) fn send_reserved(&mut self, permit: mpsc::Permit<'_, StreamItem>) {
        if let Some(item) = self.backlog.pop_front() {
            permit.send(item);
        }
    }

    /// Waits until the whole backlog is delivered (used when the stream ends, when the reader
    /// no longer needs to keep up).
    pub(crate) async fn drain(&mut self) -> Result<(), ConsumerGone> {
        while let Some(item) = self.backlog.pop_front() {
            self.tx.send(item).await.map_err(|_| ConsumerGone)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::item::{ConnectionState, StopReason};

    /// A droppable item told apart by `n` (decode errors travel like events).
    fn event(n: u64) -> StreamItem {
        StreamItem::DecodeError(crate::model::DecodeError {
            event_type: None,
            field: None,
            reason: n.to_string(),
        })
    }

    #[test]
    fn overflow_drops_events_marks_the_gap_and_keeps_control_items() {
        let (tx, mut rx) = mpsc::channel(2);
        let overflow = Arc::new(AtomicU64::new(0));
        let mut delivery = Delivery::new(tx, overflow.clone());
        delivery.push_event(event(1)).unwrap();
        delivery.push_event(event(2)).unwrap();
        delivery.push_event(event(3)).unwrap(); // dropped
        delivery.push_event(event(4)).unwrap(); // dropped
        let stopped = StreamItem::State(ConnectionState::Stopped(StopReason::Replaced));
        delivery.push_control(StreamItem::Replaced).unwrap();
        delivery.push_control(stopped.clone()).unwrap();
        delivery.push_event(event(5)).unwrap(); // dropped: would overtake the backlog
        assert_eq!(overflow.load(Ordering::Relaxed), 3);

        assert_eq!(rx.try_recv().unwrap(), event(1));
        assert_eq!(rx.try_recv().unwrap(), event(2));
        delivery.flush().unwrap();
        assert_eq!(rx.try_recv().unwrap(), StreamItem::Lost { dropped: 2 });
        assert_eq!(rx.try_recv().unwrap(), StreamItem::Replaced);
        delivery.flush().unwrap();
        assert_eq!(rx.try_recv().unwrap(), stopped);
        assert_eq!(rx.try_recv().unwrap(), StreamItem::Lost { dropped: 1 });
        assert!(!delivery.has_backlog());
        delivery.push_event(event(6)).unwrap();
        assert_eq!(rx.try_recv().unwrap(), event(6));
    }

    #[test]
    fn backlog_is_bounded_by_discarding_old_states() {
        let (tx, _rx) = mpsc::channel(1);
        let mut delivery = Delivery::new(tx, Arc::new(AtomicU64::new(0)));
        delivery.push_control(StreamItem::Replaced).unwrap(); // fills the channel
        delivery.push_control(StreamItem::Replaced).unwrap();
        for attempt in 0..1000 {
            delivery
                .push_control(StreamItem::State(ConnectionState::Connecting { attempt }))
                .unwrap();
        }
        assert!(delivery.backlog.len() <= BACKLOG_LIMIT);
        assert_eq!(delivery.backlog.front(), Some(&StreamItem::Replaced));
        assert_eq!(
            delivery.backlog.back(),
            Some(&StreamItem::State(ConnectionState::Connecting { attempt: 999 }))
        );
    }

    #[test]
    fn gaps_merge_when_the_states_between_them_are_discarded() {
        let (tx, _rx) = mpsc::channel(1);
        let overflow = Arc::new(AtomicU64::new(0));
        let mut delivery = Delivery::new(tx, overflow.clone());
        delivery.push_event(event(0)).unwrap(); // fills the channel
        for attempt in 0..(3 * BACKLOG_LIMIT as u32) {
            delivery.push_event(event(1)).unwrap();
            delivery
                .push_control(StreamItem::State(ConnectionState::Connecting { attempt }))
                .unwrap();
        }
        assert!(delivery.backlog.len() <= BACKLOG_LIMIT + 1, "{}", delivery.backlog.len());
        let lost: u64 = delivery
            .backlog
            .iter()
            .map(|item| match item {
                StreamItem::Lost { dropped } => *dropped,
                _ => 0,
            })
            .sum();
        assert_eq!(lost, overflow.load(Ordering::Relaxed), "no dropped event goes uncounted");
    }

    #[test]
    fn a_gone_consumer_is_reported() {
        let (tx, rx) = mpsc::channel(1);
        drop(rx);
        let mut delivery = Delivery::new(tx, Arc::new(AtomicU64::new(0)));
        assert_eq!(delivery.push_event(event(1)), Err(ConsumerGone));
        assert_eq!(delivery.push_control(StreamItem::Replaced), Err(ConsumerGone));
    }
}
