//! `starq demo`, the README's first command, run as a user runs it: it must finish on its own,
//! agree with the simulator's ground truth, and leave its reports behind.

use std::process::Command;

#[test]
fn the_demo_runs_end_to_end_and_its_reports_agree_with_the_ground_truth() {
    let dir = std::env::temp_dir().join(format!("starq-demo-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let reports = dir.join("reports.sqlite");
    let output = Command::new(env!("CARGO_BIN_EXE_starq"))
        .args(["demo", "--duration", "4", "--rate", "2", "--agents", "6", "--reports"])
        .arg(&reports)
        .output()
        .expect("starq demo runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "demo failed:\n{stdout}\n{stderr}");
    let says_yes =
        |what: &str| stdout.lines().any(|l| l.contains(what) && l.trim_end().ends_with("yes"));
    assert!(says_yes("journal agrees with ground truth"), "{stdout}");
    assert!(says_yes("reports agree with ground truth"), "{stdout}");
    let queue_log =
        std::fs::read_to_string(reports.with_extension("queue_log")).expect("queue_log");
    assert!(queue_log.lines().any(|l| l.contains("|ENTERQUEUE|")), "{queue_log}");
    assert!(reports.exists(), "the SQLite reports are left behind");
    let _ = std::fs::remove_dir_all(&dir);
}
