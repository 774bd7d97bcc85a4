//! What the event stream delivers: events, decode errors, gaps, connection states and the
//! `ApplicationReplaced` signal.

use std::fmt;
use std::time::Duration;

use crate::model::{DecodeError, Event};

/// One item of the event stream, in the order things happened on the node's WebSocket.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// An event (modelled or unknown).
    Event(Event),
    /// A frame that could not be decoded; the stream goes on.
    DecodeError(DecodeError),
    /// `dropped` events were discarded here because the consumer fell behind and the buffer was
    /// full. The consumer's view of the node is stale: reconcile it.
    Lost {
        /// How many events (and decode errors) were discarded at this point.
        dropped: u64,
    },
    /// Another consumer took the application over (`ApplicationReplaced`): stop acting for this
    /// node. The stream does not reconnect; it ends after `State(Stopped(Replaced))`.
    Replaced,
    /// The connection changed state. After every `Connected` the consumer must reconcile:
    /// Asterisk replays nothing that happened while the socket was down.
    State(ConnectionState),
}

/// The state of the event connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionState {
    /// Opening the WebSocket; `attempt` counts attempts since the last healthy connection.
    Connecting {
        /// 1 for the first attempt.
        attempt: u32,
    },
    /// The WebSocket is open and the application registered.
    Connected,
    /// The WebSocket is down; another attempt follows after `retry_in`.
    Disconnected {
        /// Why.
        reason: DisconnectReason,
        /// Consecutive failed attempts so far; a growing number is a node problem to report.
        attempt: u32,
        /// Delay before the next attempt (capped exponential backoff with jitter).
        retry_in: Duration,
    },
    /// The stream ended for good.
    Stopped(StopReason),
}

/// Why a WebSocket went down or could not be opened. Never contains credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// TCP connect or handshake failed (refused, reset, DNS).
    ConnectFailed(String),
    /// The node answered the upgrade with an HTTP error (401 bad credentials, 503, …).
    Rejected {
        /// HTTP status.
        status: u16,
    },
    /// Connecting took longer than the configured connect timeout.
    ConnectTimeout,
    /// Neither a pong nor any frame arrived within the liveness timeout: the connection is
    /// half-open or the node is stuck.
    Dead,
    /// The node closed the WebSocket.
    Closed {
        /// Close code, when the node sent one.
        code: Option<u16>,
    },
    /// Reading or writing failed.
    Failed(String),
    /// The node opened a new connection to starq (an accepted stream, see
    /// [`accept_events`](super::accept_events)): the old one, probably dead on the node's side,
    /// was closed for it.
    Superseded,
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisconnectReason::ConnectFailed(detail) => write!(f, "connect failed: {detail}"),
            DisconnectReason::Rejected { status } => write!(f, "upgrade rejected with {status}"),
            DisconnectReason::ConnectTimeout => f.write_str("connect timed out"),
            DisconnectReason::Dead => f.write_str("no pong or event within the liveness timeout"),
            DisconnectReason::Closed { code: Some(code) } => write!(f, "closed by node ({code})"),
            DisconnectReason::Closed { code: None } => f.write_str("closed by node"),
            DisconnectReason::Failed(detail) => write!(f, "connection failed: {detail}"),
            DisconnectReason::Superseded => f.write_str("the node opened a new connection"),
        }
    }
}

/// Why the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// `ApplicationReplaced`: another consumer holds the application.
    Replaced,
    /// The handle asked for shutdown (or was dropped).
    Shutdown,
    /// The receiver was dropped.
    ConsumerGone,
}
