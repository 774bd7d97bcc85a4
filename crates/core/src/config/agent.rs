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
    /// The PIN a feature code from a phone must give for this agent, if any.
    pub pin: Option<Pin>,
}

/// An agent's PIN: a secret, so its `Debug` shows nothing of it and it is only ever compared.
#[derive(Clone, PartialEq, Eq)]
pub struct Pin(String);

impl Pin {
    /// A PIN of these digits (validated by the configuration's parser).
    pub fn new(digits: impl Into<String>) -> Self {
        Pin(digits.into())
    }

    /// Whether `given` is this PIN. Every byte is looked at whatever the first difference,
    /// so the time taken says nothing about how much of a guess was right.
    pub fn matches(&self, given: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), given.as_bytes());
        let differ = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        differ == 0 && a.len() == b.len()
    }
}

impl std::fmt::Debug for Pin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pin(<redacted>)")
    }
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
            pin: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pin_is_compared_never_shown() {
        let pin = Pin::new("4711");
        assert!(pin.matches("4711"));
        assert!(!pin.matches("4712") && !pin.matches("471") && !pin.matches("47110"));
        let mut agent = AgentConfig::new("alice");
        agent.pin = Some(pin);
        assert!(!format!("{agent:?}").contains("4711"), "{agent:?}");
    }
}
