//! An agent's settings: memberships in queues and the phones (contacts) that reach them.

use std::time::Duration;

use crate::ids::{AgentId, NodeId, QueueId};

/// An agent: a person who takes calls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentConfig {
    /// The agent's id.
    pub id: AgentId,
    /// Display name (`membername` in `queue_log`).
    pub name: String,
    /// Wrap-up after each call, overriding the queue's `wrapuptime`.
    pub wrapup: Option<Duration>,
    /// Queues the agent serves, in the agent's order (used to break weight ties).
    pub memberships: Vec<Membership>,
    /// Phones that reach the agent, tried in this order.
    pub contacts: Vec<Contact>,
}

/// The agent's place in one queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// The queue.
    pub queue: QueueId,
    /// Lower penalties are offered first; callers' windows bound which penalties they reach.
    pub penalty: u32,
}

/// One way of reaching the agent: an ARI endpoint and the nodes that can dial it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Contact {
    /// ARI endpoint, e.g. `PJSIP/1001`.
    pub endpoint: String,
    /// Nodes that can dial this endpoint; empty means every node.
    pub nodes: Vec<NodeId>,
}

impl Contact {
    /// Whether a leg to this contact can be created on `node`.
    pub fn reachable_from(&self, node: &NodeId) -> bool {
        self.nodes.is_empty() || self.nodes.contains(node)
    }
}

impl AgentConfig {
    /// An agent with no memberships and no contacts.
    pub fn new(id: impl Into<AgentId>) -> Self {
        let id = id.into();
        AgentConfig {
            name: id.to_string(),
            id,
            wrapup: None,
            memberships: Vec::new(),
            contacts: Vec::new(),
        }
    }
}
