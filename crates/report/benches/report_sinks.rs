//! Journal records written per second by each sink of starq-report.
//!
//! A synthetic journal of `REPORT_BENCH_CALLERS` callers (default 2,000; each enters, rings
//! one agent who misses one in four times, is answered and completes: ≈4.5 records per
//! caller) is written:
//! - rendering only (queue_log lines and call-record changes, no I/O): the baseline;
//! - to the `queue_log` file, in batches of 500 (one fsync per batch);
//! - to MariaDB, PostgreSQL and SQLite, in batches of 500 (one transaction each), and one
//!   record per transaction (what a writer without batching pays, like Asterisk's one
//!   synchronous INSERT per event).
//!
//! Databases are created for the run and dropped after (`STARQ_TEST_MYSQL`,
//! `STARQ_TEST_POSTGRES` override the servers, as in the tests).
//!
//! `cargo bench -p starq-report --bench report_sinks`

use std::time::{Duration, Instant};

use starq_core::journal::{JournalEntry, JournalEvent, JournalId};
use starq_core::shared::{Miss, Party};
use starq_core::{AgentId, CallId, NodeId, QueueId, ReservationId, Time};
use starq_report::QueueLogRenderer;
use starq_report::file::FileSink;
use starq_report::records;
use starq_report::sql::{AnyPool, Dialect, SqlSink, SqlTables};

const BATCH: usize = 500;
/// The id of the synthetic journal (the time of its first record).
const JOURNAL: Option<JournalId> = Some(JournalId(1_700_000_000_000));

fn journal(callers: u64) -> Vec<JournalEntry> {
    let mut out = Vec::new();
    let mut push = |time: u64, event| {
        let seq = out.len() as u64 + 1;
        out.push(JournalEntry { seq, time: Time(1_700_000_000_000 + time), event });
    };
    let queue = QueueId::new("support");
    for i in 0..callers {
        let call = CallId::of_channel(&NodeId::new("pbx1"), &format!("1700000000.{i}"), 0);
        let agent = AgentId::new(format!("a{}", i % 50));
        let t = i * 2_000;
        let hold = Duration::from_millis(5_000 + i % 30_000);
        let event = JournalEvent::Entered {
            call: call.clone(),
            queue: queue.clone(),
            node: NodeId::new("pbx1"),
            caller_id: format!("555{i:04}"),
            position: 1 + (i % 7) as u32,
            resumed: None,
        };
        push(t, event);
        if i % 4 == 0 {
            let event = JournalEvent::Missed {
                call: call.clone(),
                queue: queue.clone(),
                agent: agent.clone(),
                miss: Miss::NoAnswer,
                rang: Duration::from_secs(15),
            };
            push(t + 1_000, event);
        }
        let reservation = ReservationId(i);
        let event = JournalEvent::Offered {
            call: call.clone(),
            queue: queue.clone(),
            agent: agent.clone(),
            reservation,
        };
        push(t + 1_500, event);
        let event = JournalEvent::Connected {
            call: call.clone(),
            queue: queue.clone(),
            agent: agent.clone(),
            reservation,
            hold,
            rang: Duration::from_secs(3),
        };
        push(t + 5_000, event);
        let event = JournalEvent::Completed {
            call,
            queue: queue.clone(),
            agent,
            by: Party::Caller,
            hold,
            talk: Duration::from_secs(90),
            original_position: 1,
        };
        push(t + 95_000, event);
    }
    out
}

fn report(what: &str, records: usize, elapsed: Duration) {
    let rate = records as f64 / elapsed.as_secs_f64();
    println!(
        "{what:<44} {records:>7} records {:>9.3} s {rate:>12.0} records/s",
        elapsed.as_secs_f64()
    );
}

fn server(dialect: Dialect) -> String {
    match dialect {
        Dialect::MySql => std::env::var("STARQ_TEST_MYSQL")
            .unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into()),
        Dialect::Postgres => std::env::var("STARQ_TEST_POSTGRES")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into()),
        Dialect::Sqlite => String::new(),
    }
}

async fn admin(dialect: Dialect, statement: &str) -> Result<(), String> {
    let url = match dialect {
        Dialect::MySql => format!("{}/", server(dialect)),
        _ => format!("{}/postgres", server(dialect)),
    };
    let pool = AnyPool::connect_lazy(&url).map_err(|e| e.to_string())?;
    let result = match &pool {
        AnyPool::MySql(p) => sqlx::query(statement).execute(p).await.map(drop),
        AnyPool::Postgres(p) => sqlx::query(statement).execute(p).await.map(drop),
        AnyPool::Sqlite(_) => Ok(()),
    };
    pool.close().await;
    result.map_err(|e| e.to_string())
}

/// A fresh database: its URL and what drops it afterwards.
async fn database(dialect: Dialect, name: &str) -> Result<(String, Option<String>), String> {
    match dialect {
        Dialect::Sqlite => {
            let dir = std::env::temp_dir().join(name);
            std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
            Ok((format!("sqlite://{}", dir.join("bench.db").display()), None))
        }
        _ => {
            admin(dialect, &format!("CREATE DATABASE {name}")).await?;
            let drop = match dialect {
                Dialect::Postgres => format!("DROP DATABASE {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE {name}"),
            };
            Ok((format!("{}/{name}", server(dialect)), Some(drop)))
        }
    }
}

async fn bench_database(dialect: Dialect, journal: &[JournalEntry], single: usize) {
    let renderer = QueueLogRenderer::new();
    for (mode, batch, records) in
        [("batches of 500", BATCH, journal.len()), ("one record per transaction", 1, single)]
    {
        let name = format!("starq_report_bench_{}_{}", std::process::id(), batch);
        let (url, drop) = match database(dialect, &name).await {
            Ok(db) => db,
            Err(e) => {
                println!("{dialect:?}: cannot create a database ({e}); not measured");
                return;
            }
        };
        let pool = AnyPool::connect_lazy(&url).expect("database URL");
        let tables = SqlTables { queue_log: true, records: true };
        let sink = SqlSink::new(pool.clone(), "bench", tables);
        sink.migrate().await.expect("migrate");
        let start = Instant::now();
        for chunk in journal[..records].chunks(batch) {
            sink.write(JOURNAL, chunk, &renderer).await.expect("write");
        }
        report(&format!("{dialect:?}, {mode}"), records, start.elapsed());
        pool.close().await;
        match drop {
            Some(statement) => admin(dialect, &statement).await.expect("drop the bench database"),
            None => {
                let _ = std::fs::remove_dir_all(std::env::temp_dir().join(&name));
            }
        }
    }
}

fn main() {
    let callers: u64 =
        std::env::var("REPORT_BENCH_CALLERS").ok().and_then(|s| s.parse().ok()).unwrap_or(2_000);
    let journal = journal(callers);
    let renderer = QueueLogRenderer::new();
    println!("starq-report sinks: {callers} callers, {} journal records", journal.len());

    let start = Instant::now();
    let mut bytes = 0;
    let mut changes = 0;
    for _ in 0..10 {
        for entry in &journal {
            bytes += renderer.render(entry).iter().map(|l| l.to_string().len()).sum::<usize>();
            changes += records::changes(entry).len();
        }
    }
    report("baseline: render lines + record changes", journal.len() * 10, start.elapsed());
    assert!(bytes > 0 && changes > 0);

    let dir = std::env::temp_dir().join(format!("starq_report_bench_file_{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = FileSink::new(dir.join("queue_log"));
    let start = Instant::now();
    for chunk in journal.chunks(BATCH) {
        file.write(JOURNAL, chunk, &renderer).expect("file write");
    }
    report("queue_log file, batches of 500 (fsync each)", journal.len(), start.elapsed());
    let _ = std::fs::remove_dir_all(&dir);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let single = journal.len().min(2_000);
    for dialect in [Dialect::MySql, Dialect::Postgres, Dialect::Sqlite] {
        rt.block_on(bench_database(dialect, &journal, single));
    }
}
