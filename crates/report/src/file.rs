//! The `queue_log` file sink: lines appended as Asterisk writes them, exactly once.
//!
//! Next to the log, a small position file (`<log>.pos`) holds `<last seq> <length>`: the last
//! journal record whose lines are in the log, and the log's length just after them. A batch is
//! written by cutting the log back to that length (dropping whatever a crashed earlier attempt
//! left after it), appending the lines of the records above that seq, syncing the log, then
//! replacing the position file (write, sync, rename). A crash anywhere in between leaves the
//! old position, and the batch is written again from there: no line is lost or doubled.
//!
//! If the log is shorter than the recorded length, it was rotated away by an outside tool;
//! writing then continues at its end. The log is locked (`flock`) while a batch is written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use starq_core::journal::JournalEntry;

use crate::queue_log::QueueLogRenderer;

/// The file sink.
#[derive(Clone, Debug)]
pub struct FileSink {
    path: PathBuf,
    position_path: PathBuf,
}

/// Where the log stands: the last record written and the log's length after it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Position {
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
                    "{}: expected \"<seq> <length>\", found {text:?}",
                    self.position_path.display()
                ),
            )
        };
        let (seq, len) = text.trim().split_once(' ').ok_or_else(bad)?;
        Ok(Position { seq: seq.parse().map_err(|_| bad())?, len: len.parse().map_err(|_| bad())? })
    }

    fn write_position(&self, position: Position) -> io::Result<()> {
        let mut tmp = self.position_path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let mut f = File::create(&tmp)?;
        writeln!(f, "{} {}", position.seq, position.len)?;
        f.sync_all()?;
        fs::rename(&tmp, &self.position_path)?;
        // The rename itself is durable once the directory is synced.
        if let Some(dir) = self.position_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }

    /// Appends the lines of the records of `batch` not yet in the log. Returns how many records
    /// were new. Holds an exclusive lock on the log meanwhile, so two writers (a reporter that
    /// was replaced while its write went on, or a second process) never interleave.
    pub fn write(&self, batch: &[JournalEntry], renderer: &QueueLogRenderer) -> io::Result<usize> {
        let mut log = OpenOptions::new().create(true).append(true).open(&self.path)?;
        log.lock()?;
        let position = self.read_position()?;
        let fresh: Vec<&JournalEntry> = batch.iter().filter(|e| e.seq > position.seq).collect();
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
        self.write_position(Position { seq: last.seq, len })?;
        Ok(fresh.len())
    }
}
