//! Checks of what a reporter wrote: against the journal (every line, in order, once) and
//! against the traffic's ground truth (one terminal event and one call record per caller, with
//! the right outcome, wait and talk).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use starq_core::journal::JournalEntry;
use starq_report::QueueLogRenderer;
use starq_report::queue_log::callid;
use starq_report::records::outcome_name;
use starq_report::sql::AnyPool;

use super::traffic::Truth;

/// Runs a `query_as` on any pool.
#[macro_export]
macro_rules! fetch_all {
    ($pool:expr, $sql:expr, $row:ty) => {{
        let pool: &starq_report::sql::AnyPool = $pool;
        let sql = pool.dialect().sql($sql);
        match pool {
            starq_report::sql::AnyPool::MySql(p) => {
                sqlx::query_as::<_, $row>(&sql).fetch_all(p).await
            }
            starq_report::sql::AnyPool::Postgres(p) => {
                sqlx::query_as::<_, $row>(&sql).fetch_all(p).await
            }
            starq_report::sql::AnyPool::Sqlite(p) => {
                sqlx::query_as::<_, $row>(&sql).fetch_all(p).await
            }
        }
        .expect("query")
    }};
}

/// A `queue_log` row without its time: callid, queue, agent, event, data1..data5.
pub type LogRow = (String, String, String, String, String, String, String, String, String);

/// The rows every journal record should have produced, in order.
pub fn expected_rows(journal: &[JournalEntry], renderer: &QueueLogRenderer) -> Vec<LogRow> {
    journal
        .iter()
        .flat_map(|e| renderer.render(e))
        .map(|l| {
            let [d1, d2, d3, d4, d5] = l.data_columns();
            (l.callid, l.queue, l.agent, l.event.to_owned(), d1, d2, d3, d4, d5)
        })
        .collect()
}

/// The `queue_log` table, in insertion order.
pub async fn log_rows(pool: &AnyPool) -> Vec<LogRow> {
    fetch_all!(
        pool,
        "SELECT callid, queuename, agent, event, data1, data2, data3, data4, data5 \
         FROM queue_log ORDER BY id",
        LogRow
    )
}

/// A `queue_calls` row: call id, queue, outcome, entered, answered, ended, wait, talk.
pub type CallRow =
    (String, String, Option<String>, i64, Option<i64>, Option<i64>, Option<i64>, Option<i64>);

/// The `queue_calls` table.
pub async fn call_rows(pool: &AnyPool) -> Vec<CallRow> {
    fetch_all!(
        pool,
        "SELECT call_id, queuename, outcome, entered_ms, answered_ms, ended_ms, wait_ms, talk_ms \
         FROM queue_calls ORDER BY call_id",
        CallRow
    )
}

/// Every check of one run's SQL output.
pub async fn sql_matches(
    pool: &AnyPool,
    journal: &[JournalEntry],
    truth: &Truth,
    renderer: &QueueLogRenderer,
) {
    let rows = log_rows(pool).await;
    let expected = expected_rows(journal, renderer);
    assert_eq!(rows.len(), expected.len(), "queue_log rows: one per rendered line, no more");
    if let Some(i) = (0..rows.len()).find(|&i| rows[i] != expected[i]) {
        panic!("queue_log row {i}: {:?}, expected {:?}", rows[i], expected[i]);
    }
    terminal_events_match(rows.iter().map(|r| (r.0.as_str(), r.3.as_str())), truth);
    calls_match(&call_rows(pool).await, truth);
}

/// The file holds exactly the rendered lines, in order.
pub fn file_matches(path: &Path, journal: &[JournalEntry], renderer: &QueueLogRenderer) {
    let text = std::fs::read_to_string(path).expect("queue_log file");
    let expected: Vec<String> =
        journal.iter().flat_map(|e| renderer.render(e)).map(|l| l.to_string()).collect();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "queue_log file lines: one per rendered line");
    for (i, (got, want)) in lines.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "queue_log file line {i}");
    }
    let events = text.lines().map(|l| {
        let fields: Vec<&str> = l.split('|').collect();
        (fields[1], fields[4])
    });
    terminal_events_match(events, &Truth::new());
}

/// Exactly one terminal event per caller: per callid, as many as the truth has callers on it
/// (a failover chain shares its callid). With an empty truth, only checks the counts are
/// consistent with the ENTERQUEUE lines.
pub fn terminal_events_match<'a>(events: impl Iterator<Item = (&'a str, &'a str)>, truth: &Truth) {
    let mut terminal: BTreeMap<String, usize> = BTreeMap::new();
    let mut entered: BTreeMap<String, usize> = BTreeMap::new();
    for (callid, event) in events {
        if starq_report::queue_log::TERMINAL_EVENTS.contains(&event) {
            *terminal.entry(callid.to_owned()).or_default() += 1;
        }
        if event == "ENTERQUEUE" || event.starts_with("STARQ_JOIN") || event == "STARQ_FULL" {
            *entered.entry(callid.to_owned()).or_default() += 1;
        }
    }
    assert_eq!(terminal, entered, "every entry (or refusal) has exactly one terminal event");
    if truth.is_empty() {
        return;
    }
    let mut callers: BTreeMap<String, usize> = BTreeMap::new();
    for call in truth.keys() {
        let id = starq_core::CallId::new(call);
        *callers.entry(callid(&id).into_owned()).or_default() += 1;
    }
    assert_eq!(terminal, callers, "one terminal event per caller of the ground truth");
}

/// One call record per caller, with the truth's outcome, and wait and talk within a second.
pub fn calls_match(rows: &[CallRow], truth: &Truth) {
    let ids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    let want: Vec<&str> = truth.keys().map(String::as_str).collect();
    assert_eq!(ids, want, "one call record per caller");
    for (id, queue, outcome, entered, _answered, ended, wait, talk) in rows {
        let t = &truth[id];
        let outcome_want = t.outcome.map(outcome_name);
        assert_eq!((queue, outcome.as_deref()), (&t.queue, outcome_want), "{id}");
        assert_eq!(*entered, t.entered.as_millis() as i64, "{id} entered");
        assert_eq!(*ended, t.ended.map(|e| e.as_millis() as i64), "{id} ended");
        let close = |got: Option<i64>, want: Duration, what: &str| {
            let got = got.unwrap_or_else(|| panic!("{id}: no {what}"));
            let diff = (got - want.as_millis() as i64).abs();
            assert!(diff < 1_000, "{id} {what}: {got} ms, truth {} ms", want.as_millis());
        };
        close(*wait, t.wait(), "wait");
        close(*talk, t.talk(), "talk");
    }
}
