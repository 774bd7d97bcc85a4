//! Stasis applications on one node and the WebSocket consumers that hold them.
//!
//! Asterisk allows one consumer per application name: a new WebSocket for a held name takes
//! it over and the old one gets `ApplicationReplaced` and nothing more. A dropped consumer
//! leaves the application inactive; events meant for it are discarded (never replayed).
//! Delivery never blocks the node: a consumer whose queue is full is a slow reader and is
//! closed, as Asterisk closes a socket whose write times out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Cap on events held while delivery is paused; beyond it the oldest are discarded, as a
/// stalled Asterisk would lose them.
const MAX_HELD: usize = 100_000;

/// One WebSocket connection's sending side.
#[derive(Debug, Clone)]
pub(crate) struct Consumer {
    pub(crate) conn: u64,
    pub(crate) tx: mpsc::Sender<String>,
    /// Cancelled to make the connection's task close the socket.
    pub(crate) kill: CancellationToken,
}

/// The applications of a node and who consumes them.
#[derive(Debug, Default)]
pub(crate) struct Apps {
    consumers: BTreeMap<String, Consumer>,
    /// Names ever registered: `GET /applications` lists them while they have anything.
    pub(crate) known: BTreeSet<String>,
    paused: bool,
    held: VecDeque<(String, String)>,
    /// Events handed to a consumer queue.
    pub(crate) sent: u64,
    /// Events discarded because no consumer held the app.
    pub(crate) missed: u64,
}

impl Apps {
    /// Whether a consumer holds `app` (so `Stasis(app)` succeeds).
    pub(crate) fn active(&self, app: &str) -> bool {
        self.consumers.contains_key(app)
    }

    /// Gives `app` to `consumer`; returns the consumer it took the app from, which the caller
    /// sends `ApplicationReplaced` to.
    pub(crate) fn register(&mut self, app: &str, consumer: Consumer) -> Option<Consumer> {
        self.known.insert(app.to_owned());
        self.consumers.insert(app.to_owned(), consumer)
    }

    /// Releases every app still held by connection `conn` (its socket closed).
    pub(crate) fn unregister_conn(&mut self, conn: u64) {
        self.consumers.retain(|_, c| c.conn != conn);
    }

    /// Closes every consumer socket (fault injection, node kill).
    pub(crate) fn drop_all(&mut self) {
        for c in self.consumers.values() {
            c.kill.cancel();
        }
        self.consumers.clear();
    }

    /// Pauses or resumes delivery; resuming flushes what was held, in order.
    pub(crate) fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if !paused {
            while let Some((app, text)) = self.held.pop_front() {
                self.send(&app, text);
            }
        }
    }

    /// Sends one serialized event to the consumer of `app`.
    pub(crate) fn send(&mut self, app: &str, text: String) {
        if self.paused {
            if self.held.len() >= MAX_HELD {
                self.held.pop_front();
            }
            self.held.push_back((app.to_owned(), text));
            return;
        }
        let Some(consumer) = self.consumers.get(app) else {
            self.missed += 1;
            return;
        };
        match consumer.tx.try_send(text) {
            Ok(()) => self.sent += 1,
            Err(mpsc::error::TrySendError::Full(_)) => {
                // The reader is not keeping up: close it as Asterisk does after its write
                // timeout, and deactivate every app it held.
                tracing::warn!(app, "slow WebSocket reader: closing");
                let conn = consumer.conn;
                consumer.kill.cancel();
                self.unregister_conn(conn);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                let conn = consumer.conn;
                self.unregister_conn(conn);
            }
        }
    }

    /// Sends directly to one consumer (for `ApplicationReplaced`, which goes to the loser).
    pub(crate) fn send_to(consumer: &Consumer, text: String) {
        // A full queue here only loses the notice; the consumer is already replaced.
        let _ = consumer.tx.try_send(text);
    }
}
