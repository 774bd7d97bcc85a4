//! Real databases for one test: a uniquely named MariaDB or PostgreSQL database (dropped at
//! the end), or a SQLite file in a temporary directory. An unreachable server fails the test
//! with a message naming it: these tests never skip.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use starq_report::sql::{AnyPool, Dialect};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// The MariaDB/MySQL server, without a database (`STARQ_TEST_MYSQL` overrides).
fn mysql_server() -> String {
    std::env::var("STARQ_TEST_MYSQL").unwrap_or_else(|_| "mysql://root@127.0.0.1:3306".into())
}

/// The PostgreSQL server, without a database (`STARQ_TEST_POSTGRES` overrides).
fn postgres_server() -> String {
    std::env::var("STARQ_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A database that exists for one test.
pub struct TestDb {
    pub dialect: Dialect,
    /// URL of the database.
    pub url: String,
    name: String,
    dir: Option<PathBuf>,
}

impl TestDb {
    /// Every dialect, for tests that run on all three.
    pub const ALL: [Dialect; 3] = [Dialect::MySql, Dialect::Postgres, Dialect::Sqlite];

    /// Creates a fresh database of this dialect.
    pub async fn create(dialect: Dialect) -> TestDb {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let name = format!("starq_report_{}_{n}_{}", std::process::id(), unique());
        match dialect {
            Dialect::Sqlite => {
                let dir = std::env::temp_dir().join(&name);
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}", dir.join("reports.db").display());
                TestDb { dialect, url, name, dir: Some(dir) }
            }
            Dialect::MySql | Dialect::Postgres => {
                let server = server(dialect);
                admin(dialect, &format!("CREATE DATABASE {name}")).await;
                TestDb { dialect, url: format!("{server}/{name}"), name, dir: None }
            }
        }
    }

    /// The URL of this database through a proxy listening on `port` (same host).
    pub fn url_via(&self, port: u16) -> String {
        let server = server(self.dialect);
        let (scheme_user, _) = server.rsplit_once(':').expect("server URL has a port");
        format!("{scheme_user}:{port}/{}", self.name)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        let server = server(self.dialect);
        server.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).expect("server port")
    }

    /// A pool on the database.
    pub fn pool(&self) -> AnyPool {
        AnyPool::connect_lazy(&self.url).expect("test database URL")
    }
}

fn server(dialect: Dialect) -> String {
    match dialect {
        Dialect::MySql => mysql_server(),
        Dialect::Postgres => postgres_server(),
        Dialect::Sqlite => unreachable!("SQLite has no server"),
    }
}

fn unique() -> u128 {
    std::time::SystemTime::UNIX_EPOCH.elapsed().map(|d| d.as_nanos() % 1_000_000_000).unwrap_or(0)
}

/// Runs one statement on the server's maintenance database, failing the test by name.
async fn admin(dialect: Dialect, statement: &str) {
    let server = server(dialect);
    let url = match dialect {
        Dialect::MySql => format!("{server}/"),
        _ => format!("{server}/postgres"),
    };
    let pool = AnyPool::connect_lazy(&url).expect("admin URL");
    let result = tokio::time::timeout(Duration::from_secs(10), async {
        match &pool {
            AnyPool::MySql(p) => sqlx::query(statement).execute(p).await.map(drop),
            AnyPool::Postgres(p) => sqlx::query(statement).execute(p).await.map(drop),
            AnyPool::Sqlite(_) => unreachable!(),
        }
    })
    .await;
    pool.close().await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => panic!(
            "{dialect:?} server {server} refused `{statement}`: {e} \
             (these tests need it; set STARQ_TEST_MYSQL / STARQ_TEST_POSTGRES to point elsewhere)"
        ),
        Err(_) => panic!("{dialect:?} server {server} did not answer within 10 s"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
            return;
        }
        let (dialect, statement) = match self.dialect {
            // PostgreSQL refuses to drop a database with sessions: end them first.
            Dialect::Postgres => {
                (self.dialect, format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
            }
            _ => (self.dialect, format!("DROP DATABASE IF EXISTS {}", self.name)),
        };
        // Drop may run inside a runtime: the statement gets a thread and runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build();
            if let Ok(rt) = rt {
                rt.block_on(admin(dialect, &statement));
            }
        })
        .join();
    }
}
