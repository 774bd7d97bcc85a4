//! What the import could not carry over: one entry per line, with the reason, in file order.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::asterisk_conf::Line;

/// One line of the Asterisk configuration that starq's configuration does not hold, or holds
/// only in part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Unmapped {
    /// The file.
    pub(crate) file: Arc<str>,
    /// Its line, 1-based.
    pub(crate) line: u32,
    /// The line as written.
    pub(crate) text: String,
    /// What starq does instead, and why.
    pub(crate) reason: String,
}

impl fmt::Display for Unmapped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {} — {}", self.file, self.line, self.text, self.reason)
    }
}

/// The entries, each said once: a template's line inherited by five queues is one entry.
#[derive(Debug, Default)]
pub(crate) struct Report {
    entries: Vec<Unmapped>,
    seen: BTreeSet<(Arc<str>, u32, String)>,
}

impl Report {
    /// Adds `reason` for the line at `at`, unless that line already has it.
    pub(crate) fn add(&mut self, at: &Line, reason: impl Into<String>) {
        let reason = reason.into();
        if self.seen.insert((Arc::clone(&at.file), at.number, reason.clone())) {
            self.entries.push(Unmapped {
                file: Arc::clone(&at.file),
                line: at.number,
                text: at.text.clone(),
                reason,
            });
        }
    }

    /// The entries by file (in the order files were first reported) and line.
    pub(crate) fn finish(self) -> Vec<Unmapped> {
        let mut files: Vec<Arc<str>> = Vec::new();
        for entry in &self.entries {
            if !files.contains(&entry.file) {
                files.push(Arc::clone(&entry.file));
            }
        }
        let mut entries = self.entries;
        // Stable: two reasons for one line keep the order they were found in.
        entries.sort_by_key(|e| (files.iter().position(|f| *f == e.file), e.line));
        entries
    }
}
