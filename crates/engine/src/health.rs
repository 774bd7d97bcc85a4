//! What an instance tells a supervisor or a load balancer: whether it routes (the store
//! answers, it is not draining) and how each of its nodes stands. The driver keeps it up to
//! date; readers take a copy.

use std::collections::BTreeMap;

use serde::Serialize;

/// A snapshot of an instance's health.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Health {
    /// The store answered the last request: routing runs. While it is away, routing pauses and
    /// callers stay on hold in Asterisk.
    pub store_available: bool,
    /// Why the store is away, while it is.
    pub store_error: Option<String>,
    /// Shutting down: no new callers are taken.
    pub draining: bool,
    /// Callers this instance follows (waiting, ringing or talking).
    pub callers: usize,
    /// Every configured node, by name.
    pub nodes: BTreeMap<String, NodeHealth>,
}

impl Health {
    /// Whether the instance should be sent work: it routes, and it is not shutting down. An
    /// instance whose nodes are all on standby is ready: it is the spare that takes them over.
    pub fn ready(&self) -> bool {
        self.store_available && !self.draining
    }
}

/// How one node stands for this instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeHealth {
    /// Owned, event stream up.
    Connected,
    /// Owned, event stream down (reconnecting); not yet declared lost.
    Disconnected,
    /// Owned, but down past `node_down_after`: its calls ended, it is adopted again on return.
    Lost,
    /// Held by another instance; taken over if its lease lapses.
    Standby,
    /// Another consumer (not an instance sharing this one's store) took the node's app over
    /// while this instance held its lease: left alone until this instance restarts.
    Refused,
}
