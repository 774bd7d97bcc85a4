//! Seeded worlds of whole instances, a shared store and simulated Asterisk nodes, with faults
//! drawn by seed; every invariant after every step, and a quiet end where every caller must be
//! gone and every agent free.
//!
//! `STARQ_SEED=<n>` replays one seed (`STARQ_TRACE=1` prints its every step);
//! `STARQ_SEEDS=<count>` runs that many (the default fits in about a minute on two cores).
//!
//! The `known_bug_*` tests are ignored: each reproduces an instance bug these worlds found,
//! with the fault that finds it (off by default in drawn worlds) turned on. Run them with
//! `--ignored` once the bug is fixed, then let the drawn worlds have the fault again.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};

use starq_dst::cluster::{FaultKind, Faults, Params, Summary, World};

/// Seeds run by default.
const SEEDS: u64 = 150;
/// Threads the seeds are shared among.
const THREADS: u64 = 2;

fn run_seed(seed: u64) -> Summary {
    run_params(Params::from_seed(seed))
}

fn run_params(params: Params) -> Summary {
    let seed = params.seed;
    let result = catch_unwind(AssertUnwindSafe(|| World::new(params).run()));
    result.unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        panic!(
            "seed {seed} failed: {}\nreplay with STARQ_SEED={seed} cargo test -p starq-dst --test cluster_seeds",
            message.unwrap_or_default()
        )
    })
}

#[test]
fn seeded_clusters_keep_every_invariant() {
    if let Ok(seed) = std::env::var("STARQ_SEED") {
        let summary = run_seed(seed.parse().expect("STARQ_SEED is a number"));
        eprintln!("{summary:#?}");
        return;
    }
    let count: u64 =
        std::env::var("STARQ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(SEEDS);
    let next = AtomicU64::new(0);
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= count {
                        return;
                    }
                    run_seed(seed);
                }
            });
        }
    });
}

#[test]
fn a_seed_replays_exactly() {
    let a = run_seed(7);
    let b = run_seed(7);
    assert_eq!(a, b);
    assert!(a.arrived > 0, "the world has callers: {a:?}");
}

#[test]
fn a_cluster_without_faults_connects_its_callers() {
    let mut connected = 0;
    for seed in 0..10 {
        let mut params = Params::from_seed(seed);
        params.faults = Faults::NONE;
        let summary = World::new(params).run();
        assert!(summary.faults.is_empty());
        connected += summary.connected;
    }
    assert!(connected > 0, "no caller was ever connected");
}

#[test]
fn every_fault_kind_drawn_strikes() {
    let mut struck = std::collections::BTreeSet::new();
    for seed in 0..12 {
        let mut params = Params::from_seed(seed);
        params.instances = 1;
        params.faults = Faults { leg_request_failures: false, ..Faults::ALL };
        struck.extend(run_params(params).faults.into_keys());
    }
    let drawn = [
        FaultKind::Crash,
        FaultKind::Freeze,
        FaultKind::StoreOutage,
        FaultKind::StoreDataLoss,
        FaultKind::WebSocketDrop,
        FaultKind::RestError,
        FaultKind::RestTimeout,
        FaultKind::NodeLoss,
    ];
    for kind in drawn {
        assert!(struck.contains(&kind), "{kind:?} never struck");
    }
}

/// Runs `seeds` with `faults` changed (and no store data loss, as when the bug was found),
/// failing at the first that breaks an invariant.
fn seeds_with(seeds: std::ops::Range<u64>, change: impl Fn(&mut Faults)) {
    for seed in seeds {
        let mut params = Params::from_seed(seed);
        params.faults.store_data_loss = false;
        change(&mut params.faults);
        run_params(params);
    }
}

/// A handed-over node's stream, disconnected when it was handed over, reconnects while it is
/// kept open (two leases) and registers the app again: the new owner gets `ApplicationReplaced`
/// while its lease holds, takes the replacer for a stranger and refuses the node for good,
/// while the replacer ignores the events of a tenure it no longer has. Nobody acts for the
/// node: its calls stay, its agents stay held (seeds 58 and 85).
#[test]
#[ignore = "instance bug: a handed-over stream reconnecting takes the node from its new owner"]
fn known_bug_handed_over_stream_takes_the_node_back() {
    seeds_with(58..59, |faults| faults.websocket_drop = true);
    seeds_with(85..86, |faults| faults.websocket_drop = true);
}

/// A leg request (create or dial) that fails is given back as `LegFailed` without hanging the
/// leg up: a create that timed out after Asterisk made the leg, or a create of a leg an earlier
/// tenure made and dialed (adoption rings an offer again under the same leg), leaves a phone
/// ringing for an offer given back, and the agent is offered again meanwhile: rung twice.
#[test]
#[ignore = "instance bug: a failed leg request leaves the leg ringing"]
fn known_bug_failed_leg_request_leaves_the_phone_ringing() {
    seeds_with(0..200, |faults| faults.leg_request_failures = true);
}

/// A caller hangs up just as its agent answers: the instance forgets the caller on its
/// `StasisEnd`, then carries out the core's bridge for it anyway and notes the bridge as the
/// caller's; Asterisk makes the bridge (adding the gone caller fails), the leg is hung up, and
/// every later reconcile takes the empty bridge for one of its own: it is never deleted
/// (seed 282).
#[test]
#[ignore = "instance bug: a bridge made for a caller already gone is never deleted"]
fn known_bug_bridge_made_for_a_caller_gone_leaks() {
    seeds_with(282..283, |_| {});
}
