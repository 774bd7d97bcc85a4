//! The conformance suite, unchanged, on the Redis store (a fresh site per case).

mod support;

use support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_passes_the_conformance_suite() {
    let server = RedisServer::start_with(false);
    starq_store::conformance::run_all(|| server.store()).await;
}
