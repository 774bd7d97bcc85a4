//! The Redis store on a Redis Cluster (`redis+cluster://…`): the conformance suite with its
//! sites spread over three primaries, each call going to the primary that holds its site's
//! slot. The test owns its cluster.

mod support;

use starq_store::{RedisOptions, RedisStore, StoreError};
use support::{RedisCluster, fresh_site};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_store_on_a_cluster_passes_the_conformance_suite() {
    let cluster = RedisCluster::start();
    let url = cluster.url();
    starq_store::conformance::run_all(|| async {
        RedisStore::connect(RedisOptions::new(url.clone(), fresh_site()))
            .await
            .expect("connect to the cluster")
    })
    .await;
    let spread = cluster.keys_per_server();
    let used = spread.iter().filter(|keys| **keys > 0).count();
    assert!(used >= 2, "the suite's sites landed on one primary only: {spread:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_cluster_url_is_refused() {
    for url in ["redis+cluster://", "redis+cluster://h:1/db", "redis+cluster://,"] {
        let err = RedisStore::connect(RedisOptions::new(url, "s")).await.expect_err(url);
        assert!(matches!(err, StoreError::Protocol(_)), "{url}: {err:?}");
    }
}
