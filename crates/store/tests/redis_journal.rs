//! Differential test of the journal's group semantics: random records, reads and acks on
//! `MemoryStore` and `RedisStore`, comparing what every read returns. Seqs differ between the
//! stores (Redis starts above the clock), so an ack names the n-th record of the group's last
//! read in each store.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use starq_core::config::AgentConfig;
use starq_core::journal::{JournalEntry, JournalEvent};
use starq_core::shared::{AgentAction, Request};
use starq_core::{AgentId, Time};
use starq_store::{MemoryStore, RedisStore, Store};
use support::RedisServer;

const GROUPS: [&str; 3] = ["reports", "api", "audit"];

#[derive(Clone, Debug)]
enum Op {
    /// Appends this many records (agent logins and logouts).
    Produce(usize),
    Read {
        group: usize,
        limit: usize,
    },
    /// Acknowledges, for `group`, up to the n-th record of `from`'s last read: its own
    /// (`from == group`), or records `group` was never given, possibly before it ever read.
    Ack {
        group: usize,
        from: usize,
        nth: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (1usize..5).prop_map(Op::Produce),
        3 => (0..GROUPS.len(), 0usize..6).prop_map(|(group, limit)| Op::Read { group, limit }),
        2 => (0..GROUPS.len(), 0usize..6).prop_map(|(group, nth)| Op::Ack { group, from: group, nth }),
        1 => (0..GROUPS.len(), 0..GROUPS.len(), 0usize..6)
            .prop_map(|(group, from, nth)| Op::Ack { group, from, nth }),
    ]
}

struct Side<S> {
    store: S,
    last_read: [Vec<JournalEntry>; 3],
    logged_in: bool,
}

impl<S: Store> Side<S> {
    async fn produce(&mut self, now: Time) {
        let action = if self.logged_in { AgentAction::Logout } else { AgentAction::Login };
        self.logged_in = !self.logged_in;
        let r = Request::Agent { agent: AgentId::new("a1"), action, now, draw: 0 };
        self.store.apply(r).await.expect("apply");
    }
}

fn events(entries: &[JournalEntry]) -> Vec<(Time, JournalEvent)> {
    entries.iter().map(|e| (e.time, e.event.clone())).collect()
}

async fn run_case(server: &RedisServer, ops: &[Op]) -> Result<(), TestCaseError> {
    let agents = [AgentConfig::new("a1")];
    let mut memory =
        Side { store: MemoryStore::new(), last_read: Default::default(), logged_in: false };
    let redis: RedisStore = server.store().await;
    let mut redis = Side { store: redis, last_read: Default::default(), logged_in: false };
    memory.store.configure(&[], &agents).await.expect("configure");
    redis.store.configure(&[], &agents).await.expect("configure");
    let mut now = Time(1_000);
    for op in ops {
        match *op {
            Op::Produce(n) => {
                for _ in 0..n {
                    now = Time(now.0 + 10);
                    memory.produce(now).await;
                    redis.produce(now).await;
                }
            }
            Op::Read { group, limit } => {
                let m = memory.store.read_journal(GROUPS[group], limit).await.expect("read");
                let r = redis.store.read_journal(GROUPS[group], limit).await.expect("read");
                prop_assert_eq!(events(&r), events(&m), "read {} {}", GROUPS[group], limit);
                prop_assert!(r.windows(2).all(|w| w[0].seq < w[1].seq));
                memory.last_read[group] = m;
                redis.last_read[group] = r;
            }
            Op::Ack { group, from, nth } => {
                let (Some(m), Some(r)) =
                    (memory.last_read[from].get(nth), redis.last_read[from].get(nth))
                else {
                    continue;
                };
                memory.store.ack_journal(GROUPS[group], m.seq).await.expect("ack");
                redis.store.ack_journal(GROUPS[group], r.seq).await.expect("ack");
            }
        }
    }
    Ok(())
}

#[test]
fn journal_groups_behave_like_the_memory_store() {
    let server = RedisServer::start_with(false);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut runner = TestRunner::new(Config { cases: 64, ..Config::default() });
    let result =
        runner.run(&prop::collection::vec(op(), 1..60), |ops| rt.block_on(run_case(&server, &ops)));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Records every group acknowledged are dropped from the stream; others stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_records_are_trimmed() {
    let server = RedisServer::start_with(false);
    let site = support::fresh_site();
    let store = server.store_on(&site).await;
    store.configure(&[], &[AgentConfig::new("a1")]).await.expect("configure");
    assert!(store.read_journal("g1", 10).await.expect("read").is_empty());
    assert!(store.read_journal("g2", 10).await.expect("read").is_empty());
    let mut side = Side { store, last_read: Default::default(), logged_in: false };
    for i in 0..6 {
        side.produce(Time(1_000 + i)).await;
    }
    let key = format!("starq:{{{site}}}:j");
    let len = || server.command(&format!("XLEN {key}"));
    assert_eq!(len(), ":6");
    let read = side.store.read_journal("g1", 4).await.expect("read");
    side.store.ack_journal("g1", read[3].seq).await.expect("ack");
    assert_eq!(len(), ":6", "g2 has acknowledged nothing");
    let read = side.store.read_journal("g2", 2).await.expect("read");
    side.store.ack_journal("g2", read[1].seq).await.expect("ack");
    assert_eq!(len(), ":4", "both groups acknowledged the first two");
    let rest = side.store.read_journal("g1", 10).await.expect("read");
    assert_eq!(rest.len(), 2);
}
