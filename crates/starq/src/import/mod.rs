//! `starq import queues.conf [queuerules.conf]`: an `app_queue` configuration as starq's.
//!
//! This module owns the conversion and its report, not where the result goes: [`convert`]
//! gives an [`Import`] (a `[queues.<name>]` table per queue, an `[[agents]]` table per agent,
//! the lines not mapped), which [`run`] prints as `starq.toml`, and which the SQL catalog can
//! take as it is. The parts:
//!
//! - [`asterisk_conf`]: Asterisk's configuration syntax (sections, templates, includes,
//!   comments), no meaning given to any setting;
//! - `queues`: a section's settings as a queue table, and `[general]`;
//! - `members`: `member =>` lines as agents, one per interface;
//! - `rules`: `queuerules.conf` as `penaltychange` steps;
//! - `report`: each line starq cannot hold, with its file, number, text and the reason.
//!
//! Settings are read as Asterisk 22's `app_queue` reads them (`atoi` numbers, `ast_true`
//! booleans, the last line winning), so the queues behave as they did; `docs/import.md` lists
//! every setting and what it becomes.

pub(crate) mod asterisk_conf;
mod members;
mod queues;
mod report;
mod rules;
mod values;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::{self, Read as _, Write as _};
use std::path::Path;

use anyhow::Context as _;
use toml::{Table, Value};

use asterisk_conf::{Category, Lister, MAX_FILE_BYTES, ParseError, Reader};
use report::Report;
pub(crate) use report::Unmapped;

/// An `app_queue` configuration converted: what starq holds of it, and what it does not.
#[derive(Debug)]
pub(crate) struct Import {
    /// `[queues.<name>]` tables, by queue name.
    pub(crate) queues: BTreeMap<String, Table>,
    /// `[[agents]]` tables (`id`, `name`, `wrapuptime`, `queues`, `contacts`).
    pub(crate) agents: Vec<Table>,
    /// The lines not mapped, by file and line.
    pub(crate) unmapped: Vec<Unmapped>,
}

/// Converts `queues_conf` (and the rules of `rules_conf`), reading files with `read` and
/// directories (for wildcard includes) with `list`.
pub(crate) fn convert(
    queues_conf: &Path,
    rules_conf: Option<&Path>,
    read: &mut Reader<'_>,
    list: &mut Lister<'_>,
) -> Result<Import, ParseError> {
    let mut report = Report::default();
    let rules = match rules_conf {
        Some(path) => {
            let conf = asterisk_conf::parse(path, read, list)?;
            skipped(&conf, &mut report);
            Some(rules::rules(&conf, &mut report))
        }
        None => None,
    };
    let conf = asterisk_conf::parse(queues_conf, read, list)?;
    skipped(&conf, &mut report);
    let mut generals = conf.sections().filter(|s| s.name.eq_ignore_ascii_case("general"));
    let general = generals.next().map(|g| queues::general(g, &mut report)).unwrap_or_default();
    for other in generals {
        not_read(other, "a second [general]: app_queue reads the first only", &mut report);
    }
    let mut queues = BTreeMap::new();
    let mut agents = members::Agents::default();
    let mut ordered = BTreeSet::new();
    let mut seen: BTreeMap<String, &Category> = BTreeMap::new();
    for section in conf.sections().filter(|s| !s.name.eq_ignore_ascii_case("general")) {
        if let Some(first) = seen.get(&section.name.to_lowercase()) {
            let reason = format!(
                "app_queue already has this queue from {} (names compared without case) and \
                 skips this section",
                first.at
            );
            not_read(section, &reason, &mut report);
            continue;
        }
        seen.insert(section.name.to_lowercase(), section);
        if let Err(why) = queue_name(&section.name) {
            let reason = format!("a starq queue name {why}: the queue is not imported");
            not_read(section, &reason, &mut report);
            continue;
        }
        let table = queues::queue(section, &general, rules.as_ref(), &mut report);
        if matches!(queues::strategy(section), "linear" | "rrordered") {
            ordered.insert(section.name.clone());
        }
        for var in section.variables.iter().filter(|v| v.name.eq_ignore_ascii_case("member")) {
            agents.member(&section.name, var, &mut report);
        }
        queues.insert(section.name.clone(), table);
    }
    let agents = agents.finish(&ordered, &mut report);
    Ok(Import { queues, agents, unmapped: report.finish() })
}

/// The parser's skipped lines, into the report.
fn skipped(conf: &asterisk_conf::Conf, report: &mut Report) {
    for line in &conf.skipped {
        report.add(&line.at, line.reason.clone());
    }
}

/// A section none of which is imported: its header and every line of its own.
fn not_read(section: &Category, reason: &str, report: &mut Report) {
    report.add(&section.at, reason);
    for var in section.variables.iter().filter(|v| !v.inherited) {
        report.add(&var.at, format!("in [{}], not imported", section.name));
    }
}

/// Why `name` cannot name a starq queue, if it cannot (the rule of `starq.toml`'s names).
fn queue_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("must not be empty".into());
    }
    if name.len() > 128 {
        return Err(format!("is at most 128 bytes, not {}", name.len()));
    }
    match name.chars().find(|c| c.is_whitespace() || c.is_control() || matches!(c, '|' | ',')) {
        Some(c) => Err(format!("takes no whitespace, control characters, `|` or `,` ({c:?})")),
        None => Ok(()),
    }
}

/// The node written into a converted `starq.toml`, for its user to fill in: the configuration
/// needs one, and `queues.conf` does not say where Asterisk's ARI is.
const NODE: &str = "\
# The Asterisk node starq drives: set its ARI address and user (docs/starq.example.toml).
[[nodes]]
name = \"asterisk\"
ari_url = \"http://127.0.0.1:8088/ari\"
username = \"starq\"
password = \"change-me\"  # or STARQ_NODE_ASTERISK_PASSWORD
";

impl Import {
    /// A whole `starq.toml`: a node to fill in, the queues, the agents.
    pub(crate) fn to_toml(&self, source: &str) -> String {
        let mut out = format!(
            "# starq.toml converted from {source} by `starq import` (docs/import.md).\n\
             # Agents log in and pause through the API (POST /agents/{{id}}/login): app_queue's\n\
             # static members were always logged in.\n\n{NODE}"
        );
        for (name, table) in &self.queues {
            let header = format!("queues.{}", key(name));
            write_table(&mut out, &header, table);
        }
        for agent in &self.agents {
            out.push_str("\n[[agents]]\n");
            for (k, v) in ordered(agent, &["id", "name", "wrapuptime", "queues", "contacts"]) {
                // `writeln!` into a String cannot fail.
                let _ = writeln!(out, "{} = {}", key(k), inline(v));
            }
        }
        out
    }
}

/// `[header]` with the scalar keys of `table`, then each sub-table as `[header.key]`.
fn write_table(out: &mut String, header: &str, table: &Table) {
    let _ = write!(out, "\n[{header}]\n");
    let first = ["strategy", "timeout", "retry", "wrapuptime", "autofill"];
    let mut tables = Vec::new();
    for (k, v) in ordered(table, &first) {
        match v {
            Value::Table(sub) => tables.push((k, sub)),
            _ => {
                let _ = writeln!(out, "{} = {}", key(k), inline(v));
            }
        }
    }
    for (k, sub) in tables {
        write_table(out, &format!("{header}.{}", key(k)), sub);
    }
}

/// The entries of `table`, the keys of `first` in that order, then the others.
fn ordered<'t>(table: &'t Table, first: &[&str]) -> Vec<(&'t str, &'t Value)> {
    let mut entries: Vec<(&str, &Value)> = table.iter().map(|(k, v)| (k.as_str(), v)).collect();
    entries.sort_by_key(|(k, _)| first.iter().position(|f| f == k).unwrap_or(first.len()));
    entries
}

/// A value written on one line (tables inline).
fn inline(value: &Value) -> String {
    match value {
        Value::Table(t) => {
            let items: Vec<String> =
                t.iter().map(|(k, v)| format!("{} = {}", key(k), inline(v))).collect();
            format!("{{ {} }}", items.join(", "))
        }
        Value::Array(a) => {
            let items: Vec<String> = a.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        other => other.to_string(),
    }
}

/// A key, quoted unless it is a bare TOML key.
fn key(k: &str) -> String {
    let bare =
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare { k.to_owned() } else { Value::from(k).to_string() }
}

/// Reads a file for the import, at most [`MAX_FILE_BYTES`] (and one more, for the parser to
/// see it is too large).
fn read_file(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_FILE_BYTES as u64 + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// The names in directory `dir`.
fn list_dir(dir: &Path) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        if let Some(name) = entry?.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Where `starq import` puts the configuration: stdout, a file, or a catalog.
pub(crate) struct Into<'a> {
    /// A file instead of stdout.
    pub(crate) out: Option<&'a Path>,
    /// A catalog instead of either, when one is named.
    pub(crate) catalog: &'a crate::catalog_cli::Target,
    /// Replace what the catalog holds.
    pub(crate) replace: bool,
}

/// `starq import`: converts, checks the result as `starq check-config` would, prints the
/// configuration (or writes it to a file, or into a catalog) and the report on stderr.
pub(crate) fn run(file: &Path, rules: Option<&Path>, into: Into<'_>) -> anyhow::Result<()> {
    let out = into.out;
    let import = convert(file, rules, &mut read_file, &mut list_dir)?;
    let source = match rules {
        Some(rules) => format!("{} and {}", file.display(), rules.display()),
        None => file.display().to_string(),
    };
    let text = import.to_toml(&source);
    // What the import writes must be a configuration starq takes; if not, the import is wrong.
    let config = starq_engine::config::parse(&text, "the converted configuration", &|_| None)
        .context("the converted configuration is refused (a bug in `starq import`)")?;
    // The configuration first: on a terminal, the report stays in sight below it.
    match out {
        _ if into.catalog.given() => {
            crate::runtime()?.block_on(crate::catalog_cli::import_into(
                into.catalog,
                &import.queues,
                &config.agents,
                into.replace,
            ))?
        }
        Some(path) => std::fs::write(path, &text)
            .with_context(|| format!("{}: cannot write", path.display()))?,
        None => outln!("{}", text.trim_end())?,
    }
    let mut stderr = io::stderr().lock();
    for line in &import.unmapped {
        writeln!(stderr, "{line}")?;
    }
    writeln!(
        stderr,
        "starq import: {} queues, {} agents; {} lines not mapped{}",
        import.queues.len(),
        import.agents.len(),
        import.unmapped.len(),
        if import.unmapped.is_empty() { "" } else { " (above)" }
    )?;
    Ok(())
}
