//! The `starq` binary as a user runs it: `check-config` output piped into a reader that stops
//! early, and `check-config` and `serve` refusing the same files with the same words, secrets
//! left out.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const NODE: &str = "[[nodes]]\nname = \"n\"\nari_url = \"http://127.0.0.1:1/ari\"\nusername = \"u\"\npassword = \"ari-hunter2\"\n";

/// A configuration file of this test (removed when dropped).
struct File(PathBuf);

impl File {
    fn new(name: &str, text: &str) -> File {
        let path =
            std::env::temp_dir().join(format!("starq-cli-{}-{name}.toml", std::process::id()));
        std::fs::write(&path, text).expect("write the configuration");
        File(path)
    }
}

impl Drop for File {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn starq(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starq"));
    command.args(args);
    for variable in ["STARQ_REDIS_URL", "STARQ_SQL_URL", "STARQ_NODE_N_PASSWORD", "RUST_LOG"] {
        command.env_remove(variable);
    }
    command
}

fn run(args: &[&str]) -> Output {
    starq(args).stdin(Stdio::null()).output().expect("starq runs")
}

#[test]
fn check_config_piped_into_a_reader_that_stops_early_exits_without_a_panic() {
    // More output than a pipe holds (64 KiB), so starq writes into the closed pipe whether or
    // not it started writing before the reader went away.
    let queues: String = (0..4000).map(|i| format!("[queues.queue-{i:05}]\n")).collect();
    let file = File::new("pipe", &format!("{NODE}{queues}"));
    let path = file.0.to_str().expect("utf-8 path");
    let mut child = starq(&["check-config", path])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starq starts");
    drop(child.stdout.take()); // `| head -0`: the reader is gone at once
    let output = child.wait_with_output().expect("starq ends");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "starq panicked: {stderr}");
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(stderr.is_empty(), "a closed stdout is no error worth reporting: {stderr}");
}

#[test]
fn check_config_prints_what_the_file_holds() {
    let file = File::new("ok", &format!("{NODE}[queues.support]\n"));
    let output = run(&["check-config", file.0.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains(": ok") && stdout.contains("queue support"), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
}

/// `check-config` and `serve` run one validation: a file one refuses, the other refuses with
/// the same message and exit status (64, a configuration mistake), before connecting to
/// anything; and no message shows a password.
#[test]
fn check_config_and_serve_refuse_the_same_files_the_same_way() {
    let cases = [
        (
            "ftp-sql",
            "[report]\nsql_url = \"ftp://starq:sql-hunter2@db/asterisk\"\n",
            "report.sql_url",
        ),
        (
            "bad-redis",
            "[store]\nredis_url = \"redis://:redis-hunter2@h:notaport\"\n",
            "store.redis_url",
        ),
        ("ftp-redis", "[store]\nredis_url = \"ftp://:redis-hunter2@h\"\n", "store.redis_url"),
        ("wrapup", "[queues.q]\nwrapuptime = 18446744073709551615\n", "queues.q.wrapuptime"),
        ("lease", "[instance]\nlease_ttl_secs = 0\n", "instance.lease_ttl_secs"),
        ("empty-queue", "[queues.\"\"]\n", "queues.\"\""),
        (
            "report-grace",
            "[report]\nqueue_log_file = \"/tmp/q\"\nshutdown_grace_ms = 9223372036854775807\n",
            "report.shutdown_grace_ms",
        ),
        (
            "report-batch",
            "[report]\nqueue_log_file = \"/tmp/q\"\nbatch_size = 0\n",
            "report.batch_size",
        ),
    ];
    for (name, text, key) in cases {
        let file = File::new(name, &format!("{NODE}{text}"));
        let path = file.0.to_str().unwrap();
        let checked = run(&["check-config", path]);
        let served = run(&["serve", "--config", path]);
        let said = String::from_utf8_lossy(&checked.stderr).into_owned();
        assert_eq!(checked.status.code(), Some(64), "{name}: {said}");
        assert!(said.starts_with(&format!("starq: {path}: {key}: ")), "{name}: {said}");
        assert!(!said.contains("hunter2"), "{name}: a password shown: {said}");
        assert_eq!(served.status.code(), Some(64), "{name}: serve: {:?}", served);
        let served_said = String::from_utf8_lossy(&served.stderr);
        assert!(
            served_said.ends_with(&said),
            "{name}: serve said {served_said:?}, check-config {said:?}"
        );
    }
}

/// At `RUST_LOG=trace`, with every log record of every dependency, neither `check-config`
/// refusing a file nor `serve` failing to reach Redis prints a password: not the Redis URL's,
/// not the database URL's, not the ARI node's.
#[test]
fn passwords_stay_out_of_trace_logs_and_errors() {
    let redis = "[store]\nredis_url = \"redis://starq:redis-hunter2@127.0.0.1:1/0\"\n";
    let sql = "[report]\nsql_url = \"postgres://starq:sql-hunter2@127.0.0.1:1/x\"\n";
    let cases = [
        ("check-config", format!("{NODE}{redis}[queues.q]\nwrapuptime = 86401\n{sql}")),
        ("check-config", format!("{NODE}{sql}batch_size = 0\n")),
        ("check-config", format!("{NODE}[store]\nredis_url = \"redis://:redis-hunter2@h:x\"\n")),
        ("serve", format!("{NODE}{redis}{sql}")),
    ];
    for (i, (command, text)) in cases.iter().enumerate() {
        let file = File::new(&format!("trace-{i}"), text);
        let path = file.0.to_str().unwrap();
        let args: Vec<&str> =
            if *command == "serve" { vec!["serve", "--config", path] } else { vec![command, path] };
        let mut run = starq(&args);
        let output = run.env("RUST_LOG", "trace").stdin(Stdio::null()).output().expect("runs");
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(!output.status.success(), "{command} {i}: {printed}");
        assert!(printed.contains("starq: "), "{command} {i}: no error: {printed}");
        assert!(!printed.contains("hunter2"), "{command} {i}: a password shown: {printed}");
    }
}
