//! The conformance suite on the memory store.

use starq_store::MemoryStore;

#[tokio::test]
async fn memory_store_passes_the_conformance_suite() {
    starq_store::conformance::run_all(|| async { MemoryStore::new() }).await;
}
