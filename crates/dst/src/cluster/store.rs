//! The shared store as the instances meet it: one [`MemoryStore`], which can be away for a
//! while (every operation answers [`StoreError::Unavailable`]) or lose everything (a new, empty
//! store takes its place, as a Redis restarted without persistence).
//!
//! `MemoryStore`'s trait methods are `async` but never wait: each is polled once with a no-op
//! waker and must be ready.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use starq_core::{AgentId, NodeId, Time};
use starq_engine::instance::{StoreAnswer, StoreOp};
use starq_store::{AgentView, MemoryStore, Store, StoreError};

/// The result of a future that completes at its first poll.
pub(crate) fn ready<F: Future>(future: F) -> F::Output {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => output,
        Poll::Pending => panic!("the memory store answers at once"),
    }
}

/// The store every instance shares.
#[derive(Default)]
pub(crate) struct SharedStore {
    pub store: MemoryStore,
    /// Away: every operation fails.
    pub away: bool,
    /// An operation ran since its invariants were last checked (checking them after every
    /// step of the world, touched or not, cost most of a world's time).
    touched: Cell<bool>,
    /// The highest epoch each node's lease reached: carried over a loss (see [`Self::wipe`]).
    epochs: RefCell<BTreeMap<NodeId, u64>>,
}

impl SharedStore {
    /// Performs an operation as the driver does, or fails it while the store is away.
    pub(crate) fn perform(&self, op: StoreOp) -> Result<StoreAnswer, StoreError> {
        if self.away {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        self.touched.set(true);
        let answer = ready(op.perform(&self.store));
        if let Ok(StoreAnswer::Lease(Some(lease))) = &answer {
            let mut epochs = self.epochs.borrow_mut();
            let top = epochs.entry(lease.node.clone()).or_default();
            *top = (*top).max(lease.epoch.0);
        }
        answer
    }

    /// An agent as the store holds it, whatever the outage.
    pub(crate) fn agent(&self, agent: &AgentId) -> Option<AgentView> {
        ready(self.store.agent(agent)).expect("the memory store never fails")
    }

    /// Everything lost: an empty store in its place. Its epochs go on from the old ones, as
    /// Redis's do (their floor is the clock): a lapsed lease's holder, thawed, is fenced in
    /// the new store too.
    pub(crate) fn wipe(&mut self) {
        self.store = MemoryStore::new();
        self.touched.set(true);
        for (node, top) in self.epochs.borrow().iter() {
            // Each acquire of a lapsed lease moves its epoch one on (a zero TTL lapses at once);
            // one past the old epoch, so that the old fences are refused, as Redis refuses them
            // once the lease is gone.
            for _ in 0..=*top {
                let taken = ready(self.store.acquire_lease(node, "", Time(0), Duration::ZERO));
                taken.expect("the memory store never fails");
            }
        }
    }

    /// Checks the store's invariants if an operation ran since they were last checked.
    pub(crate) fn check_if_touched(&self) {
        if self.touched.replace(false) {
            self.store.check_invariants();
        }
    }
}
