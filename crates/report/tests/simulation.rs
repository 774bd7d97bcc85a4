//! Reports of whole simulated call centers: seeded `starq-dst` worlds (the real engine and
//! memory store, callers abandoning, pressing keys, timing out and failing over, phones
//! missing, agents pausing) written to the `queue_log` file and a SQLite database, then checked
//! against the world's own ground truth: one call record per caller, every `ENTERQUEUE` ended
//! once, each channel's last outcome as the world saw it, and wait and talk as `queue_log`
//! says them.

mod support;

use std::collections::BTreeMap;

use starq_core::CallId;
use starq_core::journal::{JournalEntry, JournalEvent, JournalId};
use starq_dst::world::{Params, World};
use starq_report::QueueLogRenderer;
use starq_report::file::FileSink;
use starq_report::sql::{Dialect, SqlSink, SqlTables};
use support::db::TestDb;
use support::verify;

/// Seeds run; `STARQ_REPORT_SEEDS` runs more.
fn seeds() -> u64 {
    std::env::var("STARQ_REPORT_SEEDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_call_centers_report_every_caller_once() {
    for seed in 1..=seeds() {
        let (summary, journal) = World::new(Params::from_seed(seed)).run_with_journal();
        check(seed, &summary, &journal).await;
    }
}

async fn check(seed: u64, summary: &starq_dst::world::Summary, journal: &[JournalEntry]) {
    let db = TestDb::create(Dialect::Sqlite).await;
    let sink = SqlSink::new(db.pool(), "sim", SqlTables { queue_log: true, records: true });
    sink.migrate().await.expect("migrate");
    let renderer = QueueLogRenderer::new();
    let dir = std::env::temp_dir().join(format!("starq-report-sim-{}-{seed}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = FileSink::new(dir.join("queue_log"));
    let journal_id = journal.first().map(|e| JournalId(e.time.as_millis()));
    for batch in journal.chunks(200) {
        sink.write(journal_id, batch, &renderer).await.expect("sql");
        file.write(journal_id, batch, &renderer).expect("file");
    }
    verify::file_matches(file.path(), journal, &renderer);
    let rows = verify::log_rows(sink.pool()).await;
    assert_eq!(rows, verify::expected_rows(journal, &renderer), "seed {seed}: queue_log table");

    // One call record per caller the journal saw, all ended.
    let callers = journal
        .iter()
        .filter(|e| matches!(e.event, JournalEvent::Entered { .. } | JournalEvent::Refused { .. }))
        .count();
    type Call = (String, String, i64, Option<String>, Option<i64>, Option<i64>);
    let calls: Vec<Call> = fetch_all!(
        sink.pool(),
        "SELECT call_id, channel, CAST(step AS BIGINT), outcome, wait_ms, talk_ms \
         FROM queue_calls ORDER BY channel, step",
        Call
    );
    assert_eq!(calls.len(), callers, "seed {seed}: one call record per caller");
    assert!(calls.iter().all(|c| c.3.is_some()), "seed {seed}: every caller ended");

    // The world's ground truth: each channel's last outcome, and how many were connected.
    let mut last: BTreeMap<&str, &str> = BTreeMap::new();
    for (_, channel, _, outcome, _, _) in &calls {
        last.insert(channel, outcome.as_deref().unwrap_or_default());
    }
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    for outcome in last.values() {
        let status = if outcome.starts_with("COMPLETE") { "CONTINUE" } else { outcome };
        *outcomes.entry(status.to_owned()).or_default() += 1;
    }
    assert_eq!(outcomes, summary.outcomes, "seed {seed}: each channel's last outcome");
    let connected = calls.iter().filter(|c| c.3.as_deref().unwrap().starts_with("COMPLETE"));
    assert_eq!(connected.count() as u64, summary.connected, "seed {seed}: connected callers");

    // Hold and talk in queue_log are the records' times in whole seconds, subtracted (as
    // app_queue's `time()` differences). A channel completes at most once (nothing follows a
    // connected call in its failover chain).
    type Times = (String, String, i64, Option<i64>, Option<i64>);
    let times: Vec<Times> = fetch_all!(
        sink.pool(),
        "SELECT call_id, outcome, entered_ms, answered_ms, ended_ms FROM queue_calls \
         WHERE outcome IN ('COMPLETECALLER', 'COMPLETEAGENT')",
        Times
    );
    let completed: BTreeMap<String, (i64, i64)> = times
        .iter()
        .map(|(call, _, entered, answered, ended)| {
            let secs = |ms: Option<i64>| ms.unwrap_or(-1_000) / 1000;
            let hold = secs(*answered) - entered / 1000;
            let callid = starq_report::queue_log::callid(&CallId::new(call)).into_owned();
            (callid, (hold, secs(*ended) - secs(*answered)))
        })
        .collect();
    for line in journal.iter().flat_map(|e| renderer.render(e)) {
        if line.event.starts_with("COMPLETE") {
            let hold_talk = (line.data[0].parse().unwrap(), line.data[1].parse().unwrap());
            assert_eq!(completed[line.callid.as_str()], hold_talk, "seed {seed}: {line}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
