//! [`MemoryStore`]: the whole shared state in one process, behind one mutex.
//!
//! It is the embedded default for a single box and the reference model the Redis store is
//! compared with. Every method takes the lock once, so each is atomic like a Redis function.

mod agent;
mod board;
mod index;
mod invariants;
mod ranked;

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::journal::{JournalEntry, JournalEvent, JournalId};
use starq_core::shared::{Notice, Reply, Request, StoredCall, Verdict};
use starq_core::{AgentId, CallId, Epoch, Fence, NodeId, QueueId, Time};

use crate::{AgentStatus, AgentView, Heartbeat, Lease, QueueView, Store, StoreError};
use agent::Status;
use board::{Board, Effects};

/// Journal records kept for readers; beyond this the oldest acknowledged ones are dropped, and
/// unacknowledged ones too (counted) so a dead reporter cannot exhaust memory.
const JOURNAL_CAPACITY: usize = 1 << 20;

/// The in-memory store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    board: Board,
    leases: BTreeMap<NodeId, LeaseRecord>,
    journal: VecDeque<JournalEntry>,
    /// The time of the journal's first record: its identity (see [`JournalId`]).
    journal_began: Option<Time>,
    next_seq: u64,
    acks: BTreeMap<String, u64>,
    journal_dropped: u64,
    /// Live instances, until when.
    instances: BTreeMap<String, Time>,
    /// Notices left for each node's owner.
    inboxes: BTreeMap<NodeId, VecDeque<Notice>>,
    /// Whether a configuration was installed.
    configured: bool,
}

#[derive(Debug)]
struct LeaseRecord {
    owner: String,
    epoch: Epoch,
    expires: Time,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        MemoryStore::default()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock is a bug that already failed loudly; the state it left
        // is still the best there is, so later calls go on with it.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Installs configuration (synchronous form of [`Store::configure`]). Membership changes
    /// are not journaled: `configure` has no time to stamp them with (see
    /// [`Store::configure`]).
    pub fn configure_now(&self, queues: &[QueueConfig], agents: &[AgentConfig]) {
        let mut inner = self.lock();
        inner.board.configure(queues, agents);
        inner.configured = true;
    }

    /// Configures and re-matches (synchronous form of [`Store::reconfigure`]).
    pub fn reconfigure_now(
        &self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
        now: Time,
    ) -> Vec<Notice> {
        let mut inner = self.lock();
        let memberships = inner.board.configure(queues, agents);
        inner.configured = true;
        let mut fx = Effects { journal: memberships, ..Effects::default() };
        inner.board.rematch(queues, agents, now, &mut fx);
        inner.record(now, fx.journal);
        fx.notices
    }

    /// Applies a request (synchronous form of [`Store::apply`], for simulations).
    pub fn apply_now(&self, request: Request) -> Reply {
        self.lock().apply(request)
    }

    /// Checks the store's internal invariants, panicking with a description if one is broken.
    /// Simulations call it after every step.
    pub fn check_invariants(&self) {
        self.lock().board.check_invariants();
    }

    /// A node's callers (synchronous form of [`Store::node_calls`]).
    pub fn node_calls_now(&self, node: &NodeId) -> Vec<StoredCall> {
        self.lock().board.node_calls(node)
    }

    /// A caller's position (synchronous form of [`Store::position`]).
    pub fn position_now(&self, call: &CallId) -> Option<u32> {
        self.lock().board.position(call)
    }

    /// Every journal record still kept, oldest first (for simulations' history checks).
    pub fn journal_now(&self) -> Vec<JournalEntry> {
        self.lock().journal.iter().cloned().collect()
    }

    /// A human-readable dump of queues, callers and agents, for failing simulations.
    pub fn describe(&self) -> String {
        let inner = self.lock();
        let mut out = String::new();
        for (id, q) in &inner.board.queues {
            let view = inner.queue_view(id).unwrap_or_default();
            out += &format!(
                "queue {id} ({}, autofill {}): {view:?}\n",
                q.config.strategy, q.config.autofill
            );
        }
        for (id, c) in &inner.board.callers {
            out += &format!("caller {id} in {}: {:?}, window {:?}\n", c.queue, c.status, c.window);
        }
        for id in inner.board.agents.keys() {
            out += &format!("agent {id}: {:?}\n", inner.agent_view(id));
        }
        out
    }

    /// Journal records dropped unread because the journal was full.
    pub fn journal_dropped(&self) -> u64 {
        self.lock().journal_dropped
    }
}

impl Inner {
    fn apply(&mut self, request: Request) -> Reply {
        if let Some(fence) = fence_of(&request)
            && !self.fence_holds(fence)
        {
            return Reply { result: Verdict::Fenced, notices: Vec::new() };
        }
        let now = time_of(&request);
        let mut fx = Effects::default();
        let result = self.board.apply(request, &mut fx);
        self.record(now, fx.journal);
        Reply { result, notices: fx.notices }
    }

    /// Appends one step's journal records, in order.
    fn record(&mut self, now: Time, events: Vec<JournalEvent>) {
        if !events.is_empty() {
            self.journal_began.get_or_insert(now);
        }
        for event in events {
            self.next_seq += 1;
            self.journal.push_back(JournalEntry { seq: self.next_seq, time: now, event });
        }
        self.trim_journal();
    }

    /// The node's current epoch is the fence's: no newer tenure began since it was issued.
    fn fence_holds(&self, fence: &Fence) -> bool {
        let current = self.leases.get(&fence.node).map_or(Epoch(0), |l| l.epoch);
        current == fence.epoch
    }

    fn check_fence(&self, fence: &Fence) -> Result<(), StoreError> {
        if self.fence_holds(fence) {
            Ok(())
        } else {
            Err(StoreError::Fenced { node: fence.node.clone(), epoch: fence.epoch })
        }
    }

    fn trim_journal(&mut self) {
        let min_ack = self.acks.values().copied().min().unwrap_or(0);
        while self.journal.front().is_some_and(|e| e.seq <= min_ack && !self.acks.is_empty()) {
            self.journal.pop_front();
        }
        while self.journal.len() > JOURNAL_CAPACITY {
            self.journal.pop_front();
            self.journal_dropped += 1;
        }
    }

    fn agent_view(&self, id: &AgentId) -> Option<AgentView> {
        let a = self.board.agents.get(id)?;
        let status = match &a.status {
            Status::LoggedOut => AgentStatus::LoggedOut,
            Status::Idle => AgentStatus::Available,
            Status::Reserved(r) => AgentStatus::Reserved(self.board.reservations[r].call.clone()),
            Status::OnCall(c) => AgentStatus::OnCall(c.clone()),
            Status::Resting { until, wrapup: true } => AgentStatus::WrapUp(*until),
            Status::Resting { until, wrapup: false } => AgentStatus::Retry(*until),
        };
        Some(AgentView {
            status,
            paused_all: a.paused_all.clone(),
            paused: a.paused.iter().map(|(q, r)| (q.clone(), r.clone())).collect(),
            reachable: a.reachable,
        })
    }

    fn queue_view(&self, id: &QueueId) -> Option<QueueView> {
        let q = self.board.queues.get(id)?;
        let ringing = q.present.len() - q.waiting.len();
        let available = q.available.len();
        Some(QueueView {
            callers: q.present.len() as u32,
            ringing: ringing as u32,
            logged_in: q.counts.values().flatten().sum(),
            available: available as u32,
        })
    }
}

/// The fence of a node-scoped request.
fn fence_of(request: &Request) -> Option<&Fence> {
    match request {
        Request::Enqueue(e) => Some(&e.fence),
        Request::Reconnect(r) => Some(&r.fence),
        Request::SetWindow { fence, .. }
        | Request::SetPriority { fence, .. }
        | Request::Leave { fence, .. }
        | Request::Answered { fence, .. }
        | Request::Missed { fence, .. }
        | Request::Extend { fence, .. }
        | Request::Hangup { fence, .. } => Some(fence),
        Request::AgentReady { .. } | Request::Agent { .. } => None,
    }
}

fn time_of(request: &Request) -> Time {
    match request {
        Request::Enqueue(e) => e.now,
        Request::Reconnect(r) => r.now,
        Request::SetWindow { now, .. }
        | Request::SetPriority { now, .. }
        | Request::Leave { now, .. }
        | Request::Answered { now, .. }
        | Request::Missed { now, .. }
        | Request::Extend { now, .. }
        | Request::Hangup { now, .. }
        | Request::AgentReady { now, .. }
        | Request::Agent { now, .. } => *now,
    }
}

impl Store for MemoryStore {
    async fn configure(
        &self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
    ) -> Result<(), StoreError> {
        self.configure_now(queues, agents);
        Ok(())
    }

    async fn reconfigure(
        &self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
        now: Time,
    ) -> Result<Vec<Notice>, StoreError> {
        Ok(self.reconfigure_now(queues, agents, now))
    }

    async fn apply(&self, request: Request) -> Result<Reply, StoreError> {
        Ok(self.apply_now(request))
    }

    async fn position(&self, call: &CallId) -> Result<Option<u32>, StoreError> {
        Ok(self.lock().board.position(call))
    }

    async fn node_calls(&self, node: &NodeId) -> Result<Vec<StoredCall>, StoreError> {
        Ok(self.lock().board.node_calls(node))
    }

    async fn agent(&self, agent: &AgentId) -> Result<Option<AgentView>, StoreError> {
        Ok(self.lock().agent_view(agent))
    }

    async fn queue(&self, queue: &QueueId) -> Result<Option<QueueView>, StoreError> {
        Ok(self.lock().queue_view(queue))
    }

    async fn heartbeat(
        &self,
        instance: &str,
        now: Time,
        ttl: Duration,
    ) -> Result<Heartbeat, StoreError> {
        let mut inner = self.lock();
        inner.instances.insert(instance.to_owned(), now + ttl);
        inner.instances.retain(|_, until| *until > now);
        let live = inner.instances.keys().cloned().collect();
        Ok(Heartbeat { live, configured: inner.configured })
    }

    async fn post_notices(&self, notices: Vec<Notice>) -> Result<(), StoreError> {
        let mut inner = self.lock();
        for notice in notices {
            inner.inboxes.entry(notice.node().clone()).or_default().push_back(notice);
        }
        Ok(())
    }

    async fn take_notices(&self, fence: &Fence, limit: usize) -> Result<Vec<Notice>, StoreError> {
        let mut inner = self.lock();
        inner.check_fence(fence)?;
        let Some(inbox) = inner.inboxes.get_mut(&fence.node) else { return Ok(Vec::new()) };
        Ok(inbox.drain(..limit.min(inbox.len())).collect())
    }

    async fn acquire_lease(
        &self,
        node: &NodeId,
        owner: &str,
        now: Time,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let mut inner = self.lock();
        let record = inner.leases.get(node);
        let epoch = match record {
            Some(l) if l.owner == owner && l.expires > now => l.epoch,
            Some(l) if l.expires > now => return Ok(None),
            Some(l) => Epoch(l.epoch.0 + 1),
            None => Epoch(1),
        };
        let expires = now + ttl;
        inner.leases.insert(node.clone(), LeaseRecord { owner: owner.to_owned(), epoch, expires });
        Ok(Some(Lease { node: node.clone(), owner: owner.to_owned(), epoch, expires }))
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        now: Time,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let mut inner = self.lock();
        let Some(record) = inner.leases.get_mut(&lease.node) else { return Ok(None) };
        if record.epoch != lease.epoch || record.owner != lease.owner || record.expires <= now {
            return Ok(None);
        }
        record.expires = now + ttl;
        Ok(Some(Lease { expires: record.expires, ..lease.clone() }))
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let mut inner = self.lock();
        if let Some(record) = inner.leases.get_mut(&lease.node)
            && record.epoch == lease.epoch
            && record.owner == lease.owner
        {
            // The epoch stays: the next owner's is greater, so this tenure's late writes fail.
            record.expires = Time::ZERO;
        }
        Ok(())
    }

    async fn read_journal(
        &self,
        group: &str,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let mut inner = self.lock();
        let acked = *inner.acks.entry(group.to_owned()).or_insert(0);
        Ok(inner.journal.iter().filter(|e| e.seq > acked).take(limit).cloned().collect())
    }

    async fn journal_backlog(&self, group: &str) -> Result<u64, StoreError> {
        let inner = self.lock();
        let acked = inner.acks.get(group).copied().unwrap_or(0);
        let done = inner.journal.partition_point(|e| e.seq <= acked);
        Ok((inner.journal.len() - done) as u64)
    }

    async fn journal_id(&self) -> Result<Option<JournalId>, StoreError> {
        Ok(self.lock().journal_began.map(|t| JournalId(t.as_millis())))
    }

    async fn ack_journal(&self, group: &str, seq: u64) -> Result<(), StoreError> {
        let mut inner = self.lock();
        let acked = inner.acks.entry(group.to_owned()).or_insert(0);
        *acked = (*acked).max(seq);
        inner.trim_journal();
        Ok(())
    }
}
