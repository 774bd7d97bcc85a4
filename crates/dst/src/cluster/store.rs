//! The shared store as the instances meet it: one [`MemoryStore`], which can be away for a
//! while (every operation answers [`StoreError::Unavailable`]) or lose everything (a new, empty
//! store takes its place, as a Redis restarted without persistence).
//!
//! `MemoryStore`'s trait methods are `async` but never wait: each is polled once with a no-op
//! waker and must be ready.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use starq_core::AgentId;
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
}

impl SharedStore {
    /// Performs an operation as the driver does, or fails it while the store is away.
    pub(crate) fn perform(&self, op: StoreOp) -> Result<StoreAnswer, StoreError> {
        if self.away {
            return Err(StoreError::Unavailable("simulated outage".into()));
        }
        self.touched.set(true);
        ready(op.perform(&self.store))
    }

    /// An agent as the store holds it, whatever the outage.
    pub(crate) fn agent(&self, agent: &AgentId) -> Option<AgentView> {
        ready(self.store.agent(agent)).expect("the memory store never fails")
    }

    /// Everything lost: an empty store in its place.
    pub(crate) fn wipe(&mut self) {
        self.store = MemoryStore::new();
        self.touched.set(true);
    }

    /// Checks the store's invariants if an operation ran since they were last checked.
    pub(crate) fn check_if_touched(&self) {
        if self.touched.replace(false) {
            self.store.check_invariants();
        }
    }
}
