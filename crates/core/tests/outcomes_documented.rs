//! Every value starq can leave in `STARQ_OUTCOME` for the dialplan is listed in README.md: the
//! outcomes that continue in the dialplan, and the refusals written as literals in the engine
//! (`refuse(self, "…")`) and in the shell (`"STARQ_OUTCOME", "…"`).

use std::path::Path;

use starq_core::Outcome;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The string literals following `marker` in `text`.
fn literals_after<'a>(text: &'a str, marker: &str) -> Vec<&'a str> {
    text.match_indices(marker)
        .filter_map(|(at, _)| {
            let rest = &text[at + marker.len()..];
            rest.split('"').next().filter(|s| !s.is_empty())
        })
        .collect()
}

#[test]
fn every_starq_outcome_value_is_in_the_readme() {
    let readme = read("../../README.md");
    let continuing = [
        Outcome::Timeout,
        Outcome::JoinEmpty,
        Outcome::JoinUnavail,
        Outcome::LeaveEmpty,
        Outcome::LeaveUnavail,
        Outcome::Full,
        Outcome::ExitWithKey('1'),
        Outcome::Withdrawn,
        Outcome::Drained,
    ];
    let mut values: Vec<&str> = continuing
        .iter()
        .inspect(|o| assert!(o.continues_in_dialplan(), "{o:?}"))
        .map(|o| o.queue_status())
        .collect();
    let engine = read("src/engine/mod.rs");
    let refusals = literals_after(&engine, "refuse(self, \"");
    assert!(refusals.contains(&"UNKNOWNQUEUE"), "refusals not found: {refusals:?}");
    values.extend(refusals);
    let shell = read("../engine/src/execute.rs");
    let set = literals_after(&shell, "\"STARQ_OUTCOME\", \"");
    assert!(!set.is_empty(), "the shell's STARQ_OUTCOME literal was not found");
    values.extend(set);
    for value in values {
        assert!(readme.contains(&format!("`{value}`")), "README.md lacks STARQ_OUTCOME `{value}`");
    }
}
