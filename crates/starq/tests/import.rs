//! `starq import` as a user runs it: the fixture configuration converted on stdout (a file
//! `starq check-config` accepts), the lines not mapped on stderr, `--out`, and a broken file
//! refused with its file and line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

fn run(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_starq"));
    command.args(args).env_remove("RUST_LOG").env_remove("STARQ_NODE_ASTERISK_PASSWORD");
    command.stdin(Stdio::null()).output().expect("starq runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A file of this test (removed when dropped).
struct Temp(PathBuf);

impl Temp {
    fn new(name: &str) -> Temp {
        Temp(std::env::temp_dir().join(format!("starq-import-{}-{name}", std::process::id())))
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn import_prints_a_configuration_check_config_accepts_and_reports_each_line() {
    let dir = fixtures();
    let queues = dir.join("queues.conf");
    let rules = dir.join("queuerules.conf");
    let output = run(&["import", path(&queues), path(&rules)]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{:?}: {stderr}", output.status);
    assert!(!stderr.contains("panicked"), "{stderr}");

    let config = starq_engine::config::parse(&stdout, "stdout", &|_| None)
        .unwrap_or_else(|e| panic!("{e}\n{stdout}"));
    assert_eq!(config.queues.len(), 3);
    assert_eq!(config.agents.len(), 5);

    let lines: Vec<&str> = stderr.lines().collect();
    let at = format!("{}:57: member => Local/1003@agents/n", queues.display());
    assert!(lines.iter().any(|l| l.starts_with(&at) && l.contains("— paused yes")), "{stderr}");
    let rule = format!("{}:9: penaltychange => 120,-1,,4", rules.display());
    assert!(lines.iter().any(|l| l.starts_with(&rule) && l.contains("raise")), "{stderr}");
    assert_eq!(
        lines.last().copied(),
        Some("starq import: 3 queues, 5 agents; 24 lines not mapped (above)"),
        "{stderr}"
    );
    assert_eq!(lines.len(), 25, "{stderr}");

    // The same file passes `check-config`, the checks `serve` runs.
    let out = Temp::new("out.toml");
    let written = run(&["import", path(&queues), path(&rules), "--out", path(&out.0)]);
    assert!(written.status.success());
    assert!(written.stdout.is_empty(), "with --out nothing goes to stdout");
    let text = std::fs::read_to_string(&out.0).expect("--out written");
    assert_eq!(text.trim_end(), stdout.trim_end());
    let checked = run(&["check-config", path(&out.0)]);
    let said = String::from_utf8_lossy(&checked.stdout);
    assert!(checked.status.success(), "{said}{}", String::from_utf8_lossy(&checked.stderr));
    assert!(said.contains("queue support: leastrecent, 5 agents"), "{said}");
}

#[test]
fn a_file_asterisk_would_refuse_is_an_error_naming_its_line() {
    let broken = Temp::new("broken.conf");
    std::fs::write(&broken.0, "[support]\nmember => PJSIP/1\n[sales](nosuchtemplate)\n")
        .expect("write");
    let output = run(&["import", path(&broken.0)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(output.stdout.is_empty());
    let expected = format!(
        "starq: {}:3: inherits from [nosuchtemplate], but there is none before",
        broken.0.display()
    );
    assert_eq!(stderr.trim_end(), expected);

    let output = run(&["import", "/nonexistent/queues.conf"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("starq: /nonexistent/queues.conf: cannot read: "), "{stderr}");
}

#[test]
fn import_writes_into_an_empty_catalog_and_replaces_only_when_told() {
    let dir = fixtures();
    let (queues, rules) = (dir.join("queues.conf"), dir.join("queuerules.conf"));
    let db = Temp::new("catalog.db");
    let sql = format!("sqlite://{}", db.0.display());
    let import = |extra: &[&str]| {
        let mut args = vec!["import", path(&queues), path(&rules), "--sql", &sql];
        args.extend_from_slice(extra);
        run(&args)
    };
    let first = import(&[]);
    let stdout = String::from_utf8_lossy(&first.stdout);
    let stderr = String::from_utf8_lossy(&first.stderr);
    assert!(first.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("ok: 3 queues and 5 agents written"), "{stdout}");
    assert!(stderr.contains("24 lines not mapped"), "the report still goes to stderr: {stderr}");

    // What was written is what `starq queues` and `starq agents` show.
    let listed = run(&["queues", "list", "--sql", &sql]);
    let listed = String::from_utf8_lossy(&listed.stdout);
    for queue in ["sales", "support"] {
        assert!(listed.contains(queue), "{queue} in the catalog: {listed}");
    }
    let agents = run(&["agents", "list", "--sql", &sql]);
    assert_eq!(String::from_utf8_lossy(&agents.stdout).lines().count(), 5, "five agents");

    // A catalog that holds a configuration is not overwritten unless told.
    let again = import(&[]);
    assert!(!again.status.success());
    let refusal = String::from_utf8_lossy(&again.stderr);
    assert!(refusal.contains("holds 3 queues and 5 agents already"), "{refusal}");
    let replaced = import(&["--replace"]);
    assert!(replaced.status.success(), "{}", String::from_utf8_lossy(&replaced.stderr));
}
