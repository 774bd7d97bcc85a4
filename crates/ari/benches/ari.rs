//! Benchmark of the ARI crate (written later).
fn main() {}
