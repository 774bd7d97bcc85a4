//! # starq-store: state shared between starq instances
//!
//! The [`Store`] trait is everything the engine keeps outside its own process: queues' waiting
//! callers, agents' states and reservations (changed only through atomic
//! [`Request`](starq_core::shared::Request)s), node leases with fencing epochs, instances and
//! their notices, and the journal every change appends to.
//!
//! [`MemoryStore`] is the reference implementation and the embedded default for a single box;
//! [`RedisStore`] (Redis Functions, for many instances) must behave identically, which
//! [`conformance`] checks: every store runs the same suite, and a differential test drives
//! both with the same random requests.
//!
//! The store holds no routing policy beyond what atomicity needs: strategies are scores and
//! selection rules from `starq_core::strategy`.

#![forbid(unsafe_code)]

pub mod conformance;
mod memory;
mod redis;

use std::future::Future;
use std::time::Duration;

use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::journal::{JournalEntry, JournalId};
use starq_core::shared::{Notice, Reply, Request, StoredCall};
use starq_core::{AgentId, CallId, Epoch, Fence, NodeId, QueueId, Time};
use thiserror::Error;

pub use self::redis::{RedisOptions, RedisStore, redact_url};
pub use memory::MemoryStore;

/// Why a store operation failed. Each variant is a different reaction for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The store cannot be reached right now. Retry later, and meanwhile route nothing
    /// (callers stay on hold in Asterisk). Nothing was changed, with one exception: a call that
    /// timed out on a slow Redis may still be applied, whole, when Redis gets to it; retrying
    /// the request is safe (it then answers `Stale` or `Invalid`).
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The operation carried a node epoch older than the node's current lease: the caller lost
    /// the node and must stop acting for it.
    #[error("node {node} has moved on to a newer epoch than {epoch}")]
    Fenced {
        /// The node.
        node: NodeId,
        /// The stale epoch that was presented.
        epoch: Epoch,
    },
    /// The store answered something this version cannot understand (a bug or a version skew).
    #[error("store protocol error: {0}")]
    Protocol(String),
}

/// What a [`Store::heartbeat`] reads back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Heartbeat {
    /// The instances live now, sorted.
    pub live: Vec<String>,
    /// Whether a configuration was installed ([`Store::configure`]) and is still there.
    pub configured: bool,
}

/// A node lease: while it lasts, its owner alone acts for the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    /// The node.
    pub node: NodeId,
    /// The instance holding it.
    pub owner: String,
    /// The fencing token of this tenure.
    pub epoch: Epoch,
    /// When it lapses unless renewed.
    pub expires: Time,
}

impl Lease {
    /// The fence node-scoped requests carry under this lease.
    pub fn fence(&self) -> Fence {
        Fence { node: self.node.clone(), epoch: self.epoch }
    }
}

/// An agent's state as the store sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentView {
    /// Where the agent is in its lifecycle.
    pub status: AgentStatus,
    /// Paused in every queue, with the reason.
    pub paused_all: Option<String>,
    /// Paused in these queues, with reasons.
    pub paused: Vec<(QueueId, String)>,
    /// Whether a phone of the agent can be reached.
    pub reachable: bool,
}

/// An agent's lifecycle state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentStatus {
    /// Not logged in.
    LoggedOut,
    /// Free.
    Available,
    /// Held for a caller while a leg rings.
    Reserved(CallId),
    /// On a call.
    OnCall(CallId),
    /// In wrap-up until the given time.
    WrapUp(Time),
    /// Skipped after a missed offer until the given time (`retry`).
    Retry(Time),
}

/// Counts describing a queue right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueView {
    /// Callers in the queue, waiting or ringing an agent (not yet connected).
    pub callers: u32,
    /// Of those, callers ringing an agent.
    pub ringing: u32,
    /// Logged-in members.
    pub logged_in: u32,
    /// Members available for a call now.
    pub available: u32,
}

/// State shared between starq instances. All methods are atomic; a failed call changes nothing.
///
/// Implementations: [`MemoryStore`] (one process), [`RedisStore`] (many instances).
pub trait Store: Send + Sync + 'static {
    /// Installs or updates queue and agent configuration, keeping the runtime state (waiting
    /// callers, logged-in agents, counters) of those that remain. It offers nothing: on a site
    /// with callers waiting, use [`reconfigure`](Store::reconfigure). It journals nothing
    /// either, having no time to stamp records with: memberships it adds or removes are
    /// journaled only when done by `reconfigure`.
    fn configure(
        &self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// [`configure`](Store::configure) on a running site, then offers waiting callers to the
    /// agents the new configuration lets take them (a lowered penalty, a new membership, a
    /// queue's new weight or `penaltymemberslimit`), which `configure` alone leaves idle beside
    /// them. All in one atomic step at `now`: memberships added and removed are journaled
    /// (`MemberAdded` / `MemberRemoved`, per agent in configuration order), then the offers,
    /// which are also returned as notices to deliver like a reply's.
    fn reconfigure(
        &self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
        now: Time,
    ) -> impl Future<Output = Result<Vec<Notice>, StoreError>> + Send;

    /// Applies one routing request atomically, appending its journal records in the same step.
    fn apply(&self, request: Request) -> impl Future<Output = Result<Reply, StoreError>> + Send;

    /// The 1-based position of a caller not yet connected.
    fn position(
        &self,
        call: &CallId,
    ) -> impl Future<Output = Result<Option<u32>, StoreError>> + Send;

    /// The callers of a node the store still holds (waiting, ringing or connected), for a new
    /// owner of the node to adopt. O(callers of the node); read on takeover and reconnect.
    fn node_calls(
        &self,
        node: &NodeId,
    ) -> impl Future<Output = Result<Vec<StoredCall>, StoreError>> + Send;

    /// An agent's state.
    fn agent(
        &self,
        agent: &AgentId,
    ) -> impl Future<Output = Result<Option<AgentView>, StoreError>> + Send;

    /// A queue's counts.
    fn queue(
        &self,
        queue: &QueueId,
    ) -> impl Future<Output = Result<Option<QueueView>, StoreError>> + Send;

    /// Takes the node's lease for `owner` if it is free, lapsed, or already `owner`'s. A change
    /// of owner (or a lapse) yields a strictly greater epoch. `None`: someone else holds it.
    fn acquire_lease(
        &self,
        node: &NodeId,
        owner: &str,
        now: Time,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;

    /// Extends a lease still held; `None` if it lapsed or another owner took the node.
    fn renew_lease(
        &self,
        lease: &Lease,
        now: Time,
        ttl: Duration,
    ) -> impl Future<Output = Result<Option<Lease>, StoreError>> + Send;

    /// Gives a lease up at once (shutdown), so another instance can take the node.
    fn release_lease(&self, lease: &Lease) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Registers `instance` as live until `now + ttl` (renewed like a lease; a zero `ttl` leaves
    /// at once) and returns every instance live at `now`, sorted, and whether the store holds
    /// a configuration. Instances share the nodes among the live ones (rendezvous hashing), so
    /// this is the membership they agree on; a store found without its configuration (a Redis
    /// restarted empty) is configured again by the instances that beat.
    fn heartbeat(
        &self,
        instance: &str,
        now: Time,
        ttl: Duration,
    ) -> impl Future<Output = Result<Heartbeat, StoreError>> + Send;

    /// Leaves notices for their nodes' owners: what a request made for callers of a node
    /// another instance owns (an agent this instance freed, offered to a caller over there).
    fn post_notices(
        &self,
        notices: Vec<Notice>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Removes and returns up to `limit` notices left for the fenced node, oldest first; a
    /// stale fence takes nothing ([`StoreError::Fenced`]).
    fn take_notices(
        &self,
        fence: &Fence,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Notice>, StoreError>> + Send;

    /// Journal records not yet acknowledged by `group`, oldest first, at most `limit`. A group
    /// is created by its first read and starts at the oldest record still kept; records every
    /// existing group acknowledged may be dropped.
    fn read_journal(
        &self,
        group: &str,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, StoreError>> + Send;

    /// How many journal records `group` has not acknowledged yet, for the reporter's backlog
    /// figure. Exact while sequence numbers are contiguous; on Redis they jump once after Redis
    /// lost its data, and the figure is then capped at the records kept.
    fn journal_backlog(&self, group: &str) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// The journal's identity ([`JournalId`]: the time of its first record), `None` while it
    /// holds no record yet. It changes when the journal starts anew (the memory store of a
    /// restarted process, a Redis that lost its data), so that a reader keeps its position as a
    /// seq of one journal and writes a new journal from its beginning.
    fn journal_id(&self) -> impl Future<Output = Result<Option<JournalId>, StoreError>> + Send;

    /// Acknowledges every record of `group` up to and including `seq`.
    fn ack_journal(
        &self,
        group: &str,
        seq: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}
