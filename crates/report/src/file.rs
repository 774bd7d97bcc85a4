//! The `queue_log` file sink: lines appended as Asterisk writes them, exactly once.
//!
//! Next to the log, a small position file (`<log>.pos`) holds `<last seq> <length> <journal>`:
//! the last journal record whose lines are in the log, the log's length just after them, and
//! the [`JournalId`] that seq belongs to. A batch is written by cutting the log back to that
//! length (dropping whatever a crashed earlier attempt left after it), appending the lines of
//! the records above that seq, syncing the log, then replacing the position file (write, sync,
//! rename). A crash anywhere in between leaves the old position, and the batch is written again
//! from there: no line is lost or doubled.
//!
//! Seqs count within one journal: a batch of another journal (the embedded store of a restarted
//! process starts at seq 1 again) is written from its first record. A position file without a
//! journal (written before journals had one) is taken for a journal without identity.
//!
//! If the log is shorter than the recorded length, it was rotated away by an outside tool;
//! writing then continues at its end. The log is locked (`flock`) while a batch is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use starq_core::journal::{JournalEntry, JournalId};

use crate::queue_log::QueueLogRenderer;

/// The file sink.
#[derive(Clone, Debug)]
pub struct FileSink {
    path: PathBuf,
    position_path: PathBuf,
}

/// Where the log stands: the last record written, of which journal, and the log's length
/// after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Position {
    journal: Option<JournalId>,
    seq: u64,
    len: u64,
}

impl FileSink {
    /// A sink writing to `path` (created if missing), keeping its position in `<path>.pos`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let mut position_path = path.clone().into_os_string();
        position_path.push(".pos");
        FileSink { path, position_path: position_path.into() }
    }

    /// The log's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn read_position(&self) -> io::Result<Position> {
        let text = match fs::read_to_string(&self.position_path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Position::default()),
            Err(e) => return Err(e),
        };
        let bad = || {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "{}: expected \"<seq> <length> [<journal>]\", found {text:?}",
                    self.position_path.display()
                ),
            )
        };
        let number = |field: Option<&str>| field.and_then(|f| f.parse::<u64>().ok());
        let mut fields = text.split_whitespace();
        let seq = number(fields.next()).ok_or_else(bad)?;
        let len = number(fields.next()).ok_or_else(bad)?;
        let journal = match fields.next() {
            Some(field) => Some(JournalId(number(Some(field)).ok_or_else(bad)?)),
            None => None,
        };
        if fields.next().is_some() {
            return Err(bad());
        }
        Ok(Position { journal, seq, len })
    }

    fn write_position(&self, position: Position) -> io::Result<()> {
        let mut tmp = self.position_path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = File::create(&tmp)?;
        match position.journal {
            Some(journal) => writeln!(f, "{} {} {journal}", position.seq, position.len)?,
            None => writeln!(f, "{} {}", position.seq, position.len)?,
        }
        f.sync_all()?;
        fs::rename(&tmp, &self.position_path)?;
        // The rename itself is durable once the directory is synced.
        if let Some(dir) = self.position_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Appends the lines of the records of `batch`, read from journal `journal`, not yet in the
    /// log. Returns how many records were new. Holds an exclusive lock on the log meanwhile, so
    /// two writers (a reporter that was replaced while its write went on, or a second process)
    /// never interleave.
    pub fn write(
        &self,
        journal: Option<JournalId>,
        batch: &[JournalEntry],
        renderer: &QueueLogRenderer,
    ) -> io::Result<usize> {
        let mut log = OpenOptions::new().create(true).append(true).open(&self.path)?;
        log.lock()?;
        let position = self.read_position()?;
        let done = if position.journal == journal { position.seq } else { 0 };
        let fresh: Vec<&JournalEntry> = batch.iter().filter(|e| e.seq > done).collect();
        let Some(last) = fresh.last() else { return Ok(0) };
        let mut text = String::new();
        for entry in &fresh {
            for line in renderer.render(entry) {
                text += &line.to_string();
                text.push('\n');
            }
        }
        if log.metadata()?.len() > position.len {
            // Lines of an attempt that crashed before recording its position.
            log.set_len(position.len)?;
        }
        log.write_all(text.as_bytes())?;
        log.sync_data()?;
        let len = log.metadata()?.len();
        self.write_position(Position { journal, seq: last.seq, len })?;
        Ok(fresh.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use starq_core::journal::JournalEvent;
    use starq_core::{AgentId, Time};

    fn batch(seqs: std::ops::RangeInclusive<u64>) -> Vec<JournalEntry> {
        seqs.map(|seq| JournalEntry {
            seq,
            time: Time(seq * 1000),
            event: JournalEvent::LoggedIn { agent: AgentId::new(format!("a{seq}")) },
        })
        .collect()
    }

    fn lines(path: &Path) -> Vec<String> {
        fs::read_to_string(path).unwrap().lines().map(str::to_owned).collect()
    }

    fn expected(seqs: std::ops::RangeInclusive<u64>) -> Vec<String> {
        seqs.map(|s| format!("{s}|NONE|NONE|a{s}|AGENTLOGIN|Agent/a{s}")).collect()
    }

    const J: Option<JournalId> = Some(JournalId(1_700_000_000_000));

    fn temp_log(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("starq-file-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir.join("queue_log")
    }

    #[test]
    fn replays_and_crashed_attempts_leave_each_line_once() {
        let path = temp_log("replay");
        let sink = FileSink::new(&path);
        let r = QueueLogRenderer::new();
        assert_eq!(sink.write(J, &batch(1..=3), &r).unwrap(), 3);
        assert_eq!(sink.write(J, &batch(1..=3), &r).unwrap(), 0, "delivered again: no-op");
        // A crash after appending part of the next batch, before recording the position.
        let mut log = OpenOptions::new().append(true).open(&path).unwrap();
        log.write_all(b"4|NONE|NONE|a4|AGENTLOGIN|Agent/a4\n5|NONE|NO").unwrap();
        assert_eq!(sink.write(J, &batch(2..=6), &r).unwrap(), 3, "records 4 to 6 are new");
        assert_eq!(lines(&path), expected(1..=6));
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_rotated_log_is_continued_and_a_bad_position_file_is_named() {
        let path = temp_log("rotate");
        let sink = FileSink::new(&path);
        let r = QueueLogRenderer::new();
        sink.write(J, &batch(1..=2), &r).unwrap();
        fs::rename(&path, path.with_extension("1")).unwrap();
        sink.write(J, &batch(3..=3), &r).unwrap();
        assert_eq!(lines(&path), expected(3..=3));
        fs::write(path.with_extension("pos"), "garbage").unwrap();
        let err = FileSink::new(&path).write(J, &batch(4..=4), &r).unwrap_err().to_string();
        assert!(err.contains("queue_log.pos") && err.contains("garbage"), "{err}");
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    /// A restarted process's embedded store starts its journal at seq 1 again: the position
    /// (seq 5 of the old journal) must not hide the new journal's records.
    #[test]
    fn a_journal_that_starts_anew_is_written_from_its_start() {
        let path = temp_log("anew");
        let sink = FileSink::new(&path);
        let r = QueueLogRenderer::new();
        assert_eq!(sink.write(J, &batch(1..=5), &r).unwrap(), 5);
        let next = Some(JournalId(1_700_000_600_000));
        assert_eq!(sink.write(next, &batch(1..=3), &r).unwrap(), 3, "the new journal's lines");
        assert_eq!(sink.write(next, &batch(1..=4), &r).unwrap(), 1, "then seqs of the new one");
        let mut want = expected(1..=5);
        want.extend(expected(1..=4));
        assert_eq!(lines(&path), want);
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }

    #[test]
    fn a_position_file_without_a_journal_is_a_journal_without_identity() {
        let path = temp_log("legacy");
        let r = QueueLogRenderer::new();
        fs::write(&path, "").unwrap();
        fs::write(path.with_extension("pos"), "5 0\n").unwrap();
        let sink = FileSink::new(&path);
        assert_eq!(sink.write(None, &batch(4..=6), &r).unwrap(), 1, "the same journal: seq 6");
        assert_eq!(sink.write(J, &batch(1..=2), &r).unwrap(), 2, "one with an identity: anew");
        let position = fs::read_to_string(path.with_extension("pos")).unwrap();
        assert!(position.ends_with(" 1700000000000\n"), "{position:?}");
        let _ = fs::remove_dir_all(path.parent().unwrap());
    }
}
