//! Finding the shared ARI reference material (spec and recorded samples) at test time.
//!
//! The material is GPL-2 data kept outside the repository: tests read it from an environment
//! variable or from `../shared/ari/…` beside the workspace root. When it is missing a test says
//! so loudly and, under `CI=true`, fails instead of passing vacuously.

use std::path::PathBuf;

/// The directory `../shared/ari/<name>` relative to the workspace root, or `env_var` if set.
/// `None` (after a loud message) when it does not exist outside CI; a panic under `CI=true`.
pub fn shared_ari_dir(name: &str, env_var: &str) -> Option<PathBuf> {
    let dir = match std::env::var_os(env_var) {
        Some(dir) => PathBuf::from(dir),
        None => {
            // Canonicalize first: the crate may be reached through a symlinked workspace.
            let manifest = std::fs::canonicalize(env!("CARGO_MANIFEST_DIR"))
                .expect("CARGO_MANIFEST_DIR exists");
            let root = manifest.ancestors().nth(2).expect("crate sits at <root>/crates/ari");
            root.join("../shared/ari").join(name)
        }
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let message = format!(
        "!!! ARI reference directory not found: {} (set {env_var} to point at it). \
         This test checked NOTHING.",
        dir.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("{message}");
    None
}
