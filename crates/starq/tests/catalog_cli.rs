//! `starq queues …` and `starq agents …` as an operator runs them, on a SQLite catalog: every
//! change written and shown back, a change that would make the configuration invalid refused
//! by table, row and column with nothing written, contacts checked against the nodes of
//! `--config`, and clear refusals without a catalog.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// A directory of this test, removed when dropped.
struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("starq-catalog-cli-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Dir(dir)
    }

    fn sql(&self) -> String {
        format!("sqlite://{}", self.0.join("catalog.db").display())
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn run(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starq"));
    command.args(args).stdin(Stdio::null());
    for variable in ["STARQ_CATALOG_SQL_URL", "STARQ_NODE_MAIN_PASSWORD", "RUST_LOG"] {
        command.env_remove(variable);
    }
    command.output().expect("starq runs")
}

/// Runs and expects success; stdout.
fn ok(args: &[&str]) -> String {
    let output = run(args);
    let (stdout, stderr) =
        (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{args:?} failed: {stderr}");
    stdout.into_owned()
}

/// Runs and expects failure; stderr.
fn refused(args: &[&str]) -> String {
    let output = run(args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !output.status.success(),
        "{args:?} succeeded: {}",
        String::from_utf8_lossy(&output.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn queues_and_agents_are_changed_and_shown_back() {
    let dir = Dir::new("changes");
    let sql = dir.sql();
    let s = sql.as_str();
    assert!(ok(&["queues", "add", "sales", "--sql", s]).contains("ok: catalog at revision"));
    ok(&["queues", "--sql", s, "set", "sales", "strategy", "rrmemory"]);
    ok(&["queues", "set", "sales", "timeout", "20", "--sql", s]);
    ok(&["queues", "set", "sales", "announce.frequency", "30", "--sql", s]);
    ok(&["queues", "set", "sales", "penaltychange", "[\"30,+2\"]", "--sql", s]);
    ok(&["queues", "add", "support", "--sql", s]);
    ok(&[
        "agents",
        "add",
        "a1",
        "--name",
        "Ann Lee",
        "--contact",
        "PJSIP/a1",
        "--contact",
        "PJSIP/a1-b@main,backup",
        "--sql",
        s,
    ]);
    ok(&["agents", "add-member", "a1", "sales", "--penalty", "2", "--sql", s]);
    ok(&["agents", "add-member", "a1", "support", "--sql", s]);
    ok(&["agents", "penalty", "a1", "support", "5", "--sql", s]);

    let show = ok(&["queues", "show", "sales", "--sql", s]);
    for line in [
        "[queues.sales]",
        "strategy = \"rrmemory\"",
        "timeout = 20",
        "penaltychange = [\"30,+2\"]",
        "frequency = 30",
        "# member a1 (penalty 2)",
    ] {
        assert!(show.contains(line), "{line:?} not in\n{show}");
    }
    let list = ok(&["queues", "list", "--sql", s]);
    assert!(list.contains("sales\trrmemory\t1 members"), "{list}");
    let agent = ok(&["agents", "show", "a1", "--sql", s]);
    for line in [
        "id = \"a1\"",
        "name = \"Ann Lee\"",
        "support = 5",
        "sales = 2",
        "endpoint = \"PJSIP/a1-b\"",
        "nodes = [\"main\", \"backup\"]",
    ] {
        assert!(agent.contains(line), "{line:?} not in\n{agent}");
    }
    assert!(
        ok(&["agents", "list", "--sql", s]).contains("a1\tAnn Lee\tqueues: sales(2) support(5)")
    );

    ok(&["queues", "unset", "sales", "timeout", "--sql", s]);
    ok(&["agents", "remove-member", "a1", "sales", "--sql", s]);
    assert!(!ok(&["queues", "show", "sales", "--sql", s]).contains("timeout"));
    ok(&["queues", "remove", "support", "--sql", s]);
    ok(&["agents", "remove", "a1", "--sql", s]);
    assert_eq!(ok(&["agents", "list", "--sql", s]), "");
    assert_eq!(ok(&["queues", "list", "--sql", s]), "sales\trrmemory\t0 members\n");
}

#[test]
fn a_change_that_would_make_the_catalog_invalid_is_refused_by_name() {
    let dir = Dir::new("refused");
    let sql = dir.sql();
    let s = sql.as_str();
    ok(&["queues", "add", "sales", "--sql", s]);
    ok(&["queues", "set", "sales", "timeout", "20", "--sql", s]);
    ok(&["queues", "add", "overflow", "--sql", s]);
    ok(&["queues", "set", "sales", "on_timeout.queue", "overflow", "--sql", s]);
    ok(&["agents", "add", "a1", "--contact", "PJSIP/a1", "--sql", s]);
    ok(&["agents", "add-member", "a1", "sales", "--sql", s]);
    let before = ok(&["queues", "show", "sales", "--sql", s]);
    let cases: [(&[&str], &str); 9] = [
        (
            &["queues", "set", "sales", "timeout", "0"],
            "starq_queue_settings: queue \"sales\", setting \"timeout\": must be between 1 and 3600 seconds",
        ),
        (
            &["queues", "set", "sales", "strategy", "fastest"],
            "starq_queue_settings: queue \"sales\", setting \"strategy\"",
        ),
        (
            &["queues", "set", "sales", "tiemout", "5"],
            "starq_queue_settings: queue \"sales\", setting \"tiemout\": unknown field",
        ),
        (
            &["queues", "remove", "overflow"],
            "starq_queue_settings: queue \"sales\", setting \"on_timeout.queue\": no queue named \"overflow\"",
        ),
        (
            &["agents", "penalty", "a1", "sales", "-1"],
            "starq_memberships: agent \"a1\", queue \"sales\", penalty",
        ),
        (
            &["agents", "add", "a2", "--contact", "a2"],
            "starq_contacts: agent \"a2\", position 0, endpoint",
        ),
        (&["agents", "add", "a3"], "starq_contacts: agent \"a3\", position: no contact"),
        (&["agents", "add-member", "a1", "nowhere"], "queue \"nowhere\" does not exist"),
        (&["queues", "add", "sales"], "queue \"sales\" exists already"),
    ];
    for (args, expected) in cases {
        let mut args = args.to_vec();
        args.extend(["--sql", s]);
        let stderr = refused(&args);
        assert!(stderr.contains(expected), "{args:?}\n  gave {stderr}\n  want {expected}");
    }
    assert!(
        refused(&["queues", "set", "sales", "timeout", "0", "--sql", s])
            .contains("nothing written")
    );
    assert_eq!(
        ok(&["queues", "show", "sales", "--sql", s]),
        before,
        "a refused change wrote something"
    );
}

#[test]
fn the_configuration_names_the_catalog_and_its_nodes() {
    let dir = Dir::new("config");
    let config = dir.0.join("starq.toml");
    std::fs::write(
        &config,
        format!(
            "[[nodes]]\nname = \"main\"\nari_url = \"http://127.0.0.1:1/ari\"\nusername = \"u\"\npassword = \"p\"\n\
             [catalog]\nsql_url = \"{}\"\npoll_ms = 500\n",
            dir.sql()
        ),
    )
    .unwrap();
    let c = config.to_str().unwrap();
    ok(&["agents", "add", "a1", "--contact", "PJSIP/a1@main", "--config", c]);
    let stderr = refused(&["agents", "add", "a2", "--contact", "PJSIP/a2@mars", "--config", c]);
    assert!(
        stderr.contains("starq_contacts: agent \"a2\", position 0, nodes: no node named \"mars\""),
        "{stderr}"
    );
    // Given the URL alone, no node is known: any name is taken.
    ok(&["agents", "add", "a2", "--contact", "PJSIP/a2@mars", "--sql", &dir.sql()]);
    assert!(ok(&["agents", "list", "-c", c]).contains("a2"));

    let plain = dir.0.join("plain.toml");
    std::fs::write(&plain, "[[nodes]]\nname = \"main\"\nari_url = \"http://127.0.0.1:1/ari\"\nusername = \"u\"\npassword = \"p\"\n").unwrap();
    let stderr = refused(&["queues", "list", "--config", plain.to_str().unwrap()]);
    assert!(stderr.contains("no [catalog] sql_url"), "{stderr}");
    assert!(refused(&["queues", "list"]).contains("give --config starq.toml or --sql URL"));
    let stderr = refused(&["queues", "list", "--sql", "ftp://u:sql-hunter2@db/x"]);
    assert!(stderr.contains("expected mysql://") && !stderr.contains("hunter2"), "{stderr}");
}
