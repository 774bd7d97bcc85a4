//! The core stays pure: nothing that does I/O may enter its dependency tree.

use std::process::Command;

#[test]
fn core_depends_on_no_io_crate() {
    let output = Command::new(env!("CARGO"))
        .args(["tree", "-p", "starq-core", "-e", "normal", "--prefix", "none", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let tree = String::from_utf8(output.stdout).expect("utf-8");
    assert!(tree.contains("starq-core"), "unexpected cargo tree output: {tree}");
    for banned in ["tokio", "reqwest", "redis", "sqlx", "hyper", "mio", "fred"] {
        let found: Vec<&str> =
            tree.lines().filter(|l| l.split_whitespace().next() == Some(banned)).collect();
        assert!(found.is_empty(), "starq-core must not depend on {banned}: {found:?}");
    }
}
