//! The SQL sink on real MariaDB and PostgreSQL servers (a database created per test) and a
//! SQLite file: schema, every row once, replays that change nothing, agent sessions, and the
//! service-level queries on known data.

#[macro_use]
mod support;

use std::time::Duration;

use starq_core::journal::{JournalEntry, JournalEvent, JournalId};
use starq_core::shared::Party;
use starq_core::{AgentId, CallId, NodeId, Outcome, QueueId, ReservationId, Time};
use starq_report::QueueLogRenderer;
use starq_report::queries::{IntervalStats, interval_stats};
use starq_report::sql::{Dialect, SqlSink, SqlTables};
use starq_store::{MemoryStore, Store};
use support::db::TestDb;
use support::{traffic, verify};

const ALL_TABLES: SqlTables = SqlTables { queue_log: true, records: true };

on_every_database!(
    migrations_apply_once_and_again,
    a_journal_is_written_once_and_replays_change_nothing,
    agent_sessions_record_logins_and_pauses,
    service_level_queries_on_known_data,
);

async fn sink(db: &TestDb) -> SqlSink {
    let sink = SqlSink::new(db.pool(), "test", ALL_TABLES);
    sink.migrate().await.expect("migrate");
    sink
}

async fn migrations_apply_once_and_again(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let sink = sink(&db).await;
    sink.migrate().await.expect("a second run applies nothing and fails nothing");
    let tables: Vec<(String,)> = fetch_all!(
        sink.pool(),
        "SELECT event_id FROM queue_log UNION ALL SELECT call_id FROM queue_calls \
         UNION ALL SELECT agent FROM agent_sessions UNION ALL SELECT consumer FROM report_progress",
        (String,)
    );
    assert!(tables.is_empty(), "every table exists and starts empty");
    let progress: Vec<(i64, Option<i64>)> = fetch_all!(
        sink.pool(),
        "SELECT last_seq, journal FROM report_progress",
        (i64, Option<i64>)
    );
    assert!(progress.is_empty(), "report_progress has its journal column");
    if let starq_report::sql::AnyPool::MySql(pool) = sink.pool() {
        // MySQL commits DDL at once: a journal-id migration cut short after its ALTER is run
        // again at the next start, and must not fail on the column it already added.
        sqlx::query("UPDATE _sqlx_migrations SET success = FALSE WHERE version = 2")
            .execute(pool)
            .await
            .expect("mark the migration unfinished");
        sink.migrate().await.expect("an unfinished migration runs again");
    }
    sink.pool().close().await;
}

async fn a_journal_is_written_once_and_replays_change_nothing(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let sink = sink(&db).await;
    let store = MemoryStore::new();
    store.read_journal("all", 0).await.expect("group");
    let truth = traffic::drive(&store, 7, 80, Duration::ZERO).await;
    let journal = store.read_journal("all", usize::MAX).await.expect("journal");
    let id = store.journal_id().await.expect("journal id");
    let renderer = QueueLogRenderer::new();
    let mut written = 0;
    for batch in journal.chunks(37) {
        written += sink.write(id, batch, &renderer).await.expect("write");
    }
    assert_eq!(written, journal.len());
    // Delivered again (a crash between commit and acknowledgement), whole or overlapping.
    for batch in journal.chunks(50) {
        assert_eq!(sink.write(id, batch, &renderer).await.expect("replay"), 0);
    }
    verify::sql_matches(sink.pool(), &journal, &truth, &renderer).await;
    let times: Vec<(String, String)> = fetch_all!(
        sink.pool(),
        match dialect {
            Dialect::MySql => "SELECT CAST(time AS CHAR), event_id FROM queue_log ORDER BY id",
            Dialect::Postgres =>
                "SELECT to_char(time, 'YYYY-MM-DD HH24:MI:SS.US'), event_id \
                                  FROM queue_log ORDER BY id",
            Dialect::Sqlite => "SELECT time, event_id FROM queue_log ORDER BY id",
        },
        (String, String)
    );
    // Configuration's memberships come first and have no line.
    let first = journal.iter().find(|e| !renderer.render(e).is_empty()).expect("a line");
    assert_eq!(times[0].0, starq_report::sql::datetime(first.time), "UTC with microseconds");
    let event_id = format!("{}:{}.0", id.expect("a journal with records has an id"), first.seq);
    assert_eq!(times[0].1, event_id, "event id: journal, seq and line index");
    sink.pool().close().await;
}

/// The id of the journals built by hand here.
const J: Option<JournalId> = Some(JournalId(1_700_000_000_000));

fn entry(seq: u64, secs: u64, event: JournalEvent) -> JournalEntry {
    JournalEntry { seq, time: Time(1_700_000_000_000 + secs * 1000), event }
}

async fn agent_sessions_record_logins_and_pauses(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let sink = sink(&db).await;
    let a = || AgentId::new("a1");
    let q = |s: &str| Some(QueueId::new(s));
    let both = || vec![QueueId::new("q1"), QueueId::new("q2")];
    let journal = [
        entry(1, 0, JournalEvent::LoggedIn { agent: a() }),
        entry(
            2,
            10,
            JournalEvent::Paused {
                agent: a(),
                queue: q("q1"),
                reason: "x".into(),
                auto: false,
                members: vec![],
            },
        ),
        entry(
            3,
            20,
            JournalEvent::Paused {
                agent: a(),
                queue: None,
                reason: "lunch".into(),
                auto: false,
                members: both(),
            },
        ),
        entry(4, 30, JournalEvent::Unpaused { agent: a(), queue: q("q1"), members: vec![] }),
        entry(
            5,
            40,
            JournalEvent::Paused {
                agent: a(),
                queue: q("q2"),
                reason: "y".into(),
                auto: true,
                members: vec![],
            },
        ),
        entry(6, 50, JournalEvent::Unpaused { agent: a(), queue: None, members: both() }),
        entry(
            7,
            60,
            JournalEvent::Paused {
                agent: a(),
                queue: q("q1"),
                reason: "z".into(),
                auto: false,
                members: vec![],
            },
        ),
        entry(8, 70, JournalEvent::LoggedOut { agent: a(), session: Duration::from_secs(70) }),
    ];
    sink.write(J, &journal, &QueueLogRenderer::new()).await.expect("write");
    type Session = (String, String, String, i64, Option<i64>);
    let rows: Vec<Session> = fetch_all!(
        sink.pool(),
        "SELECT kind, queuename, reason, started_ms, ended_ms FROM agent_sessions ORDER BY id",
        Session
    );
    let t = |s: i64| 1_700_000_000_000 + s * 1000;
    let row = |kind: &str, queue: &str, reason: &str, from, to| {
        (kind.to_owned(), queue.to_owned(), reason.to_owned(), t(from), Some(t(to)))
    };
    assert_eq!(
        rows,
        [
            row("login", "", "", 0, 70),
            row("pause", "q1", "x", 10, 30),
            row("pause", "", "lunch", 20, 50),
            row("pause", "q2", "y", 40, 50),
            row("pause", "q1", "z", 60, 70),
        ]
    );
    sink.pool().close().await;
}

/// Callers whose waits straddle a 20 s service level, in two queues and two intervals.
fn known_calls() -> Vec<JournalEntry> {
    let mut journal = Vec::new();
    let mut seq = 0;
    let mut push = |secs: u64, event| {
        seq += 1;
        journal.push(entry(seq, secs, event));
    };
    let (q1, q2) = (QueueId::new("q1"), QueueId::new("q2"));
    // (queue, entered s, wait s (ms added), answered?, talk s)
    let calls: [(&QueueId, u64, u64, bool, u64); 7] = [
        (&q1, 0, 5, true, 100),    // within SL
        (&q1, 10, 20, true, 200),  // 20.5 s: within (whole seconds, as app_queue)
        (&q1, 20, 21, true, 60),   // outside
        (&q1, 30, 3, false, 0),    // abandoned within
        (&q1, 40, 40, false, 0),   // abandoned outside
        (&q1, 4000, 10, true, 50), // next hour
        (&q2, 50, 1, true, 10),
    ];
    for (i, (queue, at, wait, answered, talk)) in calls.into_iter().enumerate() {
        let call = CallId::of_channel(&NodeId::new("n"), &format!("c{i}"), 0);
        let hold = Duration::from_millis(wait * 1000 + 500);
        push(
            at,
            JournalEvent::Entered {
                call: call.clone(),
                queue: queue.clone(),
                node: NodeId::new("n"),
                caller_id: "1".into(),
                position: 1,
                resumed: None,
            },
        );
        let end = at + wait;
        if answered {
            let agent = AgentId::new("a1");
            push(
                end,
                JournalEvent::Connected {
                    call: call.clone(),
                    queue: queue.clone(),
                    agent: agent.clone(),
                    reservation: ReservationId(i as u64),
                    hold,
                    rang: Duration::from_secs(1),
                },
            );
            push(
                end + talk,
                JournalEvent::Completed {
                    call,
                    queue: queue.clone(),
                    agent,
                    by: Party::Caller,
                    hold,
                    talk: Duration::from_secs(talk),
                    original_position: 1,
                },
            );
        } else {
            push(
                end,
                JournalEvent::Left {
                    call,
                    queue: queue.clone(),
                    outcome: Outcome::Abandoned,
                    position: 1,
                    original_position: 1,
                    hold,
                },
            );
        }
    }
    push(
        60,
        JournalEvent::Refused {
            call: CallId::new("n~full"),
            queue: q1,
            node: NodeId::new("n"),
            caller_id: "2".into(),
            outcome: Outcome::Full,
        },
    );
    journal
}

async fn service_level_queries_on_known_data(dialect: Dialect) {
    let db = TestDb::create(dialect).await;
    let sink = sink(&db).await;
    sink.write(J, &known_calls(), &QueueLogRenderer::new()).await.expect("write");
    let start = Time(1_700_000_000_000);
    let hour = Duration::from_secs(3600);
    let stats = interval_stats(sink.pool(), start, start + hour * 2, hour, Duration::from_secs(20))
        .await
        .expect("query");
    let bucket = |t: Time| (t.as_millis() / 3_600_000 * 3_600_000) as i64;
    let first = IntervalStats {
        queue: "q1".into(),
        interval_start: bucket(start),
        offered: 5,
        answered: 3,
        answered_within_sl: 2,
        abandoned: 2,
        abandoned_within_sl: 1,
        answered_wait_ms: 5_500 + 20_500 + 21_500,
        completed: 3,
        talk_ms: 360_000,
    };
    let second = IntervalStats {
        queue: "q1".into(),
        interval_start: bucket(start + Duration::from_secs(4000)),
        offered: 1,
        answered: 1,
        answered_within_sl: 1,
        abandoned: 0,
        abandoned_within_sl: 0,
        answered_wait_ms: 10_500,
        completed: 1,
        talk_ms: 50_000,
    };
    let other = IntervalStats {
        queue: "q2".into(),
        interval_start: bucket(start),
        offered: 1,
        answered: 1,
        answered_within_sl: 1,
        abandoned: 0,
        abandoned_within_sl: 0,
        answered_wait_ms: 1_500,
        completed: 1,
        talk_ms: 10_000,
    };
    // `start` is 800 s into its hour: the 4000 s call falls in the next one.
    assert_ne!(first.interval_start, second.interval_start);
    let expected = vec![first, second, other];
    assert_eq!(stats, expected);
    let q1 = &stats[0];
    assert_eq!(q1.service_level(), Some(2.0 / 3.0), "SL: 2 of 3 answered within 20 s");
    assert_eq!(q1.service_level2(), Some(3.0 / 5.0), "SL2: (2 + 1) of (3 + 2)");
    assert_eq!(q1.abandon_rate(), Some(2.0 / 5.0));
    assert_eq!(q1.average_speed_of_answer(), Some(Duration::from_millis(47_500 / 3)));
    assert_eq!(q1.average_handle_time(), Some(Duration::from_secs(120)));
    let both_hours = stats[0].clone().and_then(&stats[1]);
    assert_eq!((both_hours.offered, both_hours.answered), (6, 4));
    assert_eq!(both_hours.service_level(), Some(3.0 / 4.0), "SL: 3 of 4 within 20 s");
    assert_eq!(both_hours.interval_start, stats[0].interval_start);
    sink.pool().close().await;
}
