//! Shared by the engine's integration tests: waiting for a condition, polling the memory
//! store from synchronous code, naming two instances that split two nodes, and reading a
//! Redis store's journal.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::time::Duration;

use starq_core::journal::JournalEvent;
use starq_engine::placement;
use starq_store::{RedisStore, Store};

/// Waits (up to 8 s) until `check` holds.
pub async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..800 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Polls a memory-store future, which never waits, from synchronous code.
pub fn now_or_never<F: std::future::Future>(future: F) -> F::Output {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match std::pin::pin!(future).poll(&mut cx) {
        std::task::Poll::Ready(out) => out,
        std::task::Poll::Pending => unreachable!("the memory store answers at once"),
    }
}

/// Two instance names rendezvous hashing gives one of `nodes` (two) each: the first name is
/// the owner of the first node.
pub fn split_names(nodes: [&str; 2]) -> (String, String) {
    for i in 0..100 {
        let (a, b) = (format!("starq-{i}"), format!("starq-{}", i + 100));
        let names = vec![a.clone(), b.clone()];
        let owners: Vec<_> = nodes.iter().map(|n| placement::owner(n, &names)).collect();
        if owners[0] != owners[1] {
            return if owners[0] == Some(a.as_str()) { (a, b) } else { (b, a) };
        }
    }
    panic!("no pair of names splits two nodes");
}

/// Every event of the store's journal so far.
pub async fn journal(store: &RedisStore) -> Vec<JournalEvent> {
    let entries = store.read_journal("test", 10_000).await.expect("journal");
    entries.into_iter().map(|e| e.event).collect()
}
