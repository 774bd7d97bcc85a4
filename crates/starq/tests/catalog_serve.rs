//! `starq serve` with its queues and agents in a SQLite catalog, changed while it runs: once by
//! `starq agents …` (an agent added to the queue), once straight in the tables as an operator's
//! own tool would (the first agent's membership deleted). A caller placed after the changes is
//! served by the agent added, not the one removed, without a restart.

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use starq_sim::phones::PhoneScript;
use starq_sim::truth::Outcome;
use starq_sim::{CallSpec, Sim, SimConfig};

/// This test's directory and `starq serve`, both gone when dropped.
struct Served {
    dir: PathBuf,
    child: Child,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::env::var_os("STARQ_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}

fn starq(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starq"));
    command.args(args).stdin(Stdio::null()).env_remove("STARQ_CATALOG_SQL_URL");
    command.output().expect("starq runs")
}

fn ok(output: &Output, what: &str) {
    assert!(
        output.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

async fn until(what: &str, limit: Duration, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_follows_the_catalog_changed_by_the_cli_and_by_sql() {
    let mut cfg = SimConfig::local(1, 31);
    cfg.phones = vec![
        PhoneScript::answering("PJSIP/alice", 50, 300),
        PhoneScript::answering("PJSIP/bob", 50, 300),
    ];
    let sim = Sim::start(cfg).await.expect("simulator starts");
    let node = sim.node(0).expect("node");
    let (user, password) = node.credentials();
    let ari_url = node.ari_config("starq").ari_url;

    let dir = std::env::temp_dir().join(format!("starq-catalog-serve-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let sql = format!("sqlite://{}", dir.join("catalog.db").display());
    let http = free_port();
    let config = dir.join("starq.toml");
    // The file's queue and first agent fill the empty catalog at the first start.
    let text = format!(
        "[instance]\nname = \"solo\"\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n\n[catalog]\n\
         sql_url = \"{sql}\"\npoll_ms = 200\n\n[[nodes]]\nname = \"node0\"\nari_url = \
         \"{ari_url}\"\nusername = \"{user}\"\npassword = \"{password}\"\n\n[queues.support]\n\
         strategy = \"linear\"\n\n[[agents]]\nid = \"alice\"\nqueues = {{ support = 0 }}\n\
         contacts = [{{ endpoint = \"PJSIP/alice\" }}]\n"
    );
    std::fs::write(&config, text).expect("config written");
    let log = std::fs::File::create(dir.join("serve.log")).expect("log");
    let child = Command::new(env!("CARGO_BIN_EXE_starq"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("RUST_LOG", "info")
        .env_remove("STARQ_CATALOG_SQL_URL")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("starq serve starts");
    let served = Served { dir: dir.clone(), child };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(2)).build().unwrap();
    let login = async |agent: &str| {
        let url = format!("http://127.0.0.1:{http}/agents/{agent}/login");
        client.post(url).send().await.is_ok_and(|r| r.status().as_u16() == 202)
    };
    until("alice logs in", Duration::from_secs(20), async || login("alice").await).await;

    // Bob, added by the CLI while starq runs: known to the running instance once followed.
    let config_arg = config.to_str().expect("utf-8 path");
    let add = ["agents", "add", "bob", "--contact", "PJSIP/bob", "--config", config_arg];
    ok(&starq(&add), "agents add");
    let member = ["agents", "add-member", "bob", "support", "--config", config_arg];
    ok(&starq(&member), "agents add-member");
    until("bob logs in", Duration::from_secs(3), async || login("bob").await).await;

    // Alice's membership deleted straight in the table, as an operator's tool would.
    let mut db = sqlx::SqliteConnection::connect(&sql).await.expect("catalog opens");
    sqlx::query("DELETE FROM starq_memberships WHERE agent = 'alice'")
        .execute(&mut db)
        .await
        .expect("membership deleted");
    db.close().await.expect("closed");
    // Followed within two polls and a moment; linear would offer alice first otherwise.
    tokio::time::sleep(Duration::from_millis(1_500)).await;

    node.place_call(&CallSpec::new("starq", &["queue=support"], "5550")).expect("placed");
    until("the caller is served", Duration::from_secs(10), async || {
        sim.truth().callers().any(|c| c.outcome == Some(Outcome::AgentHungUp))
    })
    .await;
    let truth = sim.truth();
    let caller = truth.callers().next().expect("one caller");
    assert_eq!(caller.agent.as_deref(), Some("PJSIP/bob"), "bob serves it: {caller:#?}");
    assert!(
        caller.rang.iter().all(|r| r.agent != "PJSIP/alice"),
        "alice, removed, is not rung: {caller:#?}"
    );
    drop(served);
}
