//! Hundreds of seeded worlds, each a different configuration and traffic mix.
//!
//! `STARQ_SEED=<n>` replays one seed; `STARQ_SEEDS=<count>` runs more (or fewer) of them.

use std::panic::{AssertUnwindSafe, catch_unwind};

use starq_dst::world::{Params, World};

fn run_seed(seed: u64) {
    let result = catch_unwind(AssertUnwindSafe(|| World::new(Params::from_seed(seed)).run()));
    if let Err(panic) = result {
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
        panic!(
            "seed {seed} failed: {}\nreplay with STARQ_SEED={seed}",
            message.unwrap_or_default()
        );
    }
}

#[test]
fn seeded_worlds_keep_every_invariant_and_drain() {
    if let Ok(seed) = std::env::var("STARQ_SEED") {
        return run_seed(seed.parse().expect("STARQ_SEED is a number"));
    }
    let count: u64 = std::env::var("STARQ_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(500);
    for seed in 0..count {
        run_seed(seed);
    }
}

#[test]
fn two_instances_route_offers_to_each_other() {
    let routed: u64 = (0..20)
        .map(Params::from_seed)
        .filter(|p| p.engines == 2)
        .map(|p| World::new(p).run().routed)
        .sum();
    assert!(routed > 0, "no seed made one instance offer another's caller");
}

#[test]
fn a_seed_replays_exactly() {
    let a = World::new(Params::from_seed(42)).run();
    let b = World::new(Params::from_seed(42)).run();
    assert_eq!(a, b);
    assert!(a.arrived > 0 && a.connected > 0, "the world routes calls: {a:?}");
}
