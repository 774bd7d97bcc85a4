//! Asterisk's configuration file syntax (`main/config.c`), read as Asterisk 22 reads it: no
//! I/O of its own (files come from a reader the caller passes), no meaning given to any
//! setting. What it owns:
//!
//! - sections `[name]`, templates `[name](!)`, inheritance `[name](base1,base2)` (the bases'
//!   variables copied in first, as they stand when the header is read), additions to a section
//!   already read `[name](+)`; names compared without case, as Asterisk does;
//! - `name = value`, `name => value` (the same to every reader here), `name += more` (appended
//!   to the section's last `name`);
//! - `;` comments, `\;` for a literal `;`, `;-- … --;` block comments (nested, across lines);
//! - `#include file` / `#include "file"` / `#include <file>` and `#tryinclude` (a missing file
//!   is no error), a relative name taken from the directory of the first file (Asterisk's
//!   configuration directory, whichever file includes it), at most [`MAX_INCLUDE_DEPTH`]
//!   files deep, a file including itself refused; `*` and `?` in the file name (not in its
//!   directories) include every matching file in name order, as `glob` does;
//! - `#exec`, `[…]`/`{…}` wildcards, lines Asterisk ignores: kept as [`Skipped`] lines, with
//!   why.
//!
//! A file Asterisk refuses to load (a header without `]`, a base that does not exist, a line
//! before any section, a missing `#include`) is a [`ParseError`] naming the file and line.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Files an `#include` chain may nest below the first (Asterisk's `MAX_INCLUDE_LEVEL`).
pub(crate) const MAX_INCLUDE_DEPTH: usize = 10;
/// The longest line Asterisk reads (its 8 KiB buffer, newline included); longer ones it skips.
pub(crate) const MAX_LINE: usize = 8191;
/// The largest file read, a limit Asterisk does not have: configurations are small, and this
/// keeps a wrong path (a log, a device) from being read whole.
pub(crate) const MAX_FILE_BYTES: usize = 16 << 20;
/// Block comments open at once (Asterisk's `MAX_NESTED_COMMENTS`).
const MAX_NESTED_COMMENTS: i32 = 128;

/// Where a line was written, and what it says (trimmed), for a reader to find it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Line {
    /// The file, as given (the first file) or as resolved (an included one).
    pub(crate) file: Arc<str>,
    /// 1-based.
    pub(crate) number: u32,
    /// The line as written, without its line break and surrounding blanks.
    pub(crate) text: String,
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.number)
    }
}

/// One `name = value` of a section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Variable {
    /// As written (readers compare it without case, as Asterisk's do).
    pub(crate) name: String,
    /// Blanks around it removed, comments and escapes resolved.
    pub(crate) value: String,
    /// Copied from a base section (`[q](base)`): `at` is the base's line.
    pub(crate) inherited: bool,
    /// Where it is written.
    pub(crate) at: Line,
}

/// A section, in the order of the files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Category {
    /// As written.
    pub(crate) name: String,
    /// `(!)`: a template, only there to be inherited.
    pub(crate) template: bool,
    /// The header.
    pub(crate) at: Line,
    /// Inherited ones first, then its own, in order.
    pub(crate) variables: Vec<Variable>,
}

/// A line Asterisk reads but does nothing with (or that the import does not follow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Skipped {
    /// The line.
    pub(crate) at: Line,
    /// Why nothing comes of it.
    pub(crate) reason: String,
}

/// A parsed configuration: its sections, and the lines that gave none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Conf {
    /// Every section, templates included.
    pub(crate) categories: Vec<Category>,
    /// Lines that are neither a section, a variable nor a followed `#include`.
    pub(crate) skipped: Vec<Skipped>,
}

impl Conf {
    /// The sections an Asterisk module browses: templates left out.
    pub(crate) fn sections(&self) -> impl Iterator<Item = &Category> {
        self.categories.iter().filter(|c| !c.template)
    }
}

/// A file Asterisk would refuse to load, or that cannot be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// The file.
    pub(crate) file: String,
    /// The line, when one is at fault.
    pub(crate) line: Option<u32>,
    /// What is wrong.
    pub(crate) reason: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.reason),
            None => write!(f, "{}: {}", self.file, self.reason),
        }
    }
}

impl std::error::Error for ParseError {}

/// Reads one file's bytes; `io::ErrorKind::NotFound` for a file that does not exist.
pub(crate) type Reader<'a> = dyn FnMut(&Path) -> io::Result<Vec<u8>> + 'a;

/// The names of the entries of a directory, for wildcard includes.
pub(crate) type Lister<'a> = dyn FnMut(&Path) -> io::Result<Vec<String>> + 'a;

/// Parses `path` and every file it includes, reading them with `read` (and listing
/// directories with `list` for wildcard includes).
pub(crate) fn parse(
    path: &Path,
    read: &mut Reader<'_>,
    list: &mut Lister<'_>,
) -> Result<Conf, ParseError> {
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let conf = Conf::default();
    let mut parser = Parser { read, list, dir, conf, current: None, stack: Vec::new() };
    let bytes = parser.read_file(path, None)?;
    parser.file(path, &bytes)?;
    Ok(parser.conf)
}

struct Parser<'r, 'a> {
    read: &'r mut Reader<'a>,
    list: &'r mut Lister<'a>,
    /// Where relative `#include`s are looked for.
    dir: PathBuf,
    conf: Conf,
    /// The section last started anywhere (Asterisk's `cfg->current`): where an included file
    /// begins adding variables.
    current: Option<usize>,
    /// The files being read, outermost first, for depth and cycles.
    stack: Vec<PathBuf>,
}

impl Parser<'_, '_> {
    fn read_file(&mut self, path: &Path, from: Option<&Line>) -> Result<Vec<u8>, ParseError> {
        let error = |reason: String| match from {
            Some(at) => ParseError { file: at.file.to_string(), line: Some(at.number), reason },
            None => ParseError { file: path.display().to_string(), line: None, reason },
        };
        let bytes = (self.read)(path).map_err(|e| match from {
            Some(_) => error(format!("cannot read {}: {e}", path.display())),
            None => error(format!("cannot read: {e}")),
        })?;
        if bytes.len() > MAX_FILE_BYTES {
            return Err(error(format!(
                "{} is {} bytes: larger than any configuration ({MAX_FILE_BYTES} at most)",
                path.display(),
                bytes.len()
            )));
        }
        Ok(bytes)
    }

    fn file(&mut self, path: &Path, bytes: &[u8]) -> Result<(), ParseError> {
        self.stack.push(path.to_path_buf());
        let file: Arc<str> = path.display().to_string().into();
        // The section this file adds to: the one last started, and then its own headers'
        // (an include's headers do not change it, as in `config_text_file_load`).
        let mut cat = self.current;
        let mut depth = 0;
        for (index, raw) in bytes.split(|b| *b == b'\n').enumerate() {
            let number = u32::try_from(index + 1).unwrap_or(u32::MAX);
            // What C's string functions see of the line: up to its first NUL.
            let mut raw = raw.split(|b| *b == 0).next().unwrap_or_default();
            if index == 0 {
                raw = raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw);
            }
            let text = std::str::from_utf8(raw).map_err(|e| ParseError {
                file: file.to_string(),
                line: Some(number),
                reason: format!("not UTF-8 text (byte {} of the line)", e.valid_up_to() + 1),
            })?;
            let at = Line { file: Arc::clone(&file), number, text: text.trim().to_owned() };
            if raw.len() + 1 > MAX_LINE {
                self.skip(&at, "longer than Asterisk reads (8191 bytes): it skips the line");
                continue;
            }
            let was_outside = depth == 0;
            let processed = strip_comments(raw, &mut depth).map_err(|reason| ParseError {
                file: file.to_string(),
                line: Some(number),
                reason,
            })?;
            if depth < 0 && was_outside {
                self.skip(
                    &at,
                    "`--;` ends no block comment: Asterisk reads the lines after it as comments \
                     until a `;--`",
                );
            }
            let Some(processed) = processed else { continue };
            // The bytes were UTF-8 and only ASCII was taken out of them.
            let line = String::from_utf8_lossy(&processed);
            let line = line.trim_matches(is_space);
            if !line.is_empty() {
                self.line(line, at, &mut cat)?;
            }
        }
        self.stack.pop();
        Ok(())
    }

    fn skip(&mut self, at: &Line, reason: &str) {
        self.conf.skipped.push(Skipped { at: at.clone(), reason: reason.to_owned() });
    }

    fn line(&mut self, line: &str, at: Line, cat: &mut Option<usize>) -> Result<(), ParseError> {
        let error = |reason: String| ParseError {
            file: at.file.to_string(),
            line: Some(at.number),
            reason,
        };
        if let Some(header) = line.strip_prefix('[') {
            *cat = Some(self.header(header, &at).map_err(error)?);
            return Ok(());
        }
        if let Some(directive) = line.strip_prefix('#') {
            return self.directive(directive, &at);
        }
        let Some(index) = *cat else {
            return Err(error("a setting before any [section]".into()));
        };
        let mut rest = line;
        if let Some(escaped) = rest.strip_prefix('\\') {
            // `\[x] = …` names a variable starting with a character that means something else.
            if escaped.bytes().next().is_none_or(|b| b < 33) {
                return Err(error("`\\` escapes nothing".into()));
            }
            rest = escaped;
        }
        let Some(equals) = rest.find('=') else {
            self.skip(&at, "no `=`: Asterisk ignores the line");
            return Ok(());
        };
        let (name, value) = (&rest[..equals], &rest[equals + 1..]);
        if let Some(name) = name.strip_suffix('+').filter(|n| !n.is_empty()) {
            return self.append(index, name.trim_matches(is_space), value, at);
        }
        let value = value.strip_prefix('>').unwrap_or(value);
        let name = name.trim_matches(is_space);
        if name.is_empty() {
            self.skip(&at, "no name before `=`: Asterisk ignores the line");
            return Ok(());
        }
        let value = value.trim_matches(is_space).to_owned();
        let variable = Variable { name: name.to_owned(), value, inherited: false, at };
        self.conf.categories[index].variables.push(variable);
        Ok(())
    }

    /// `name += more`: appended to the section's last `name` (compared with case), or a new
    /// variable if there is none.
    fn append(&mut self, index: usize, name: &str, more: &str, at: Line) -> Result<(), ParseError> {
        let variables = &mut self.conf.categories[index].variables;
        match variables.iter_mut().rev().find(|v| v.name == name) {
            Some(last) => {
                let joined = format!("{}{more}", last.value);
                last.value = joined.trim_matches(is_space).to_owned();
            }
            None => {
                let value = more.trim_matches(is_space).to_owned();
                variables.push(Variable { name: name.to_owned(), value, inherited: false, at });
            }
        }
        Ok(())
    }

    /// A header, after its `[`: the index of the section that lines now go to.
    fn header(&mut self, header: &str, at: &Line) -> Result<usize, String> {
        let Some(close) = header.find(']') else {
            return Err("no `]` closes the section name".into());
        };
        let name = &header[..close];
        let mut category = Category {
            name: name.to_owned(),
            template: false,
            at: at.clone(),
            variables: Vec::new(),
        };
        // Anything after `]` but a `(` is ignored, as Asterisk does.
        let Some(options) = header[close + 1..].strip_prefix('(') else {
            return Ok(self.push_category(category));
        };
        let Some(end) = options.find(')') else {
            return Err("no `)` closes the section's options".into());
        };
        // Asterisk neither trims nor drops empty options: `(a, b)` names a base " b".
        let mut added_to = None;
        for option in options[..end].split(',') {
            if option == "!" {
                category.template = true;
            } else if let Some(filter) = option.strip_prefix('+') {
                if !filter.is_empty() {
                    return Err(format!("`(+{filter})`: filtered additions are not supported"));
                }
                let existing = self
                    .find(name, false)
                    .ok_or_else(|| format!("`(+)` adds to [{name}], but there is none before"))?;
                let target = &mut self.conf.categories[existing];
                target.template |= category.template;
                target.variables.append(&mut category.variables);
                added_to = Some(existing);
            } else {
                let base = self
                    .find(option, true)
                    .ok_or_else(|| format!("inherits from [{option}], but there is none before"))?;
                let inherited = self.conf.categories[base]
                    .variables
                    .iter()
                    .map(|v| Variable { inherited: true, ..v.clone() })
                    .collect::<Vec<_>>();
                match added_to {
                    Some(existing) => self.conf.categories[existing].variables.extend(inherited),
                    None => category.variables.extend(inherited),
                }
            }
        }
        match added_to {
            Some(existing) => {
                self.current = Some(existing);
                Ok(existing)
            }
            None => Ok(self.push_category(category)),
        }
    }

    fn push_category(&mut self, category: Category) -> usize {
        self.conf.categories.push(category);
        let index = self.conf.categories.len() - 1;
        self.current = Some(index);
        index
    }

    /// The first section named `name` (without case); templates only if `templates`.
    fn find(&self, name: &str, templates: bool) -> Option<usize> {
        self.conf
            .categories
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name) && (templates || !c.template))
    }

    /// `#include`, `#tryinclude`, `#exec` and unknown directives, after the `#`.
    fn directive(&mut self, directive: &str, at: &Line) -> Result<(), ParseError> {
        let (word, argument) = match directive.find(|c: char| (c as u32) <= 32) {
            Some(end) => (&directive[..end], directive[end..].trim_matches(is_space)),
            None => (directive, ""),
        };
        let word = word.to_ascii_lowercase();
        let optional = match word.as_str() {
            "include" => false,
            "tryinclude" => true,
            "exec" => {
                self.skip(at, "#exec runs a program: the import runs none (run it, then import)");
                return Ok(());
            }
            _ => {
                self.skip(at, &format!("unknown directive #{word}: Asterisk ignores it"));
                return Ok(());
            }
        };
        if argument.is_empty() {
            self.skip(at, &format!("#{word} names no file: Asterisk ignores it"));
            return Ok(());
        }
        let name = dequote(argument);
        if name.contains(['[', '{']) {
            self.skip(at, "a `[…]` or `{…}` wildcard: not followed by the import (use * or ?)");
            return Ok(());
        }
        let path =
            if Path::new(name).is_absolute() { PathBuf::from(name) } else { self.dir.join(name) };
        let error = |reason: String| ParseError {
            file: at.file.to_string(),
            line: Some(at.number),
            reason,
        };
        let pattern = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if pattern.contains(['*', '?']) {
            let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            if dir.to_string_lossy().contains(['*', '?']) {
                self.skip(at, "a wildcard in a directory name: not followed (only in file names)");
                return Ok(());
            }
            let mut names = match (self.list)(&dir) {
                Ok(names) => names,
                Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(error(format!("#include {name}: {e}"))),
            };
            names.retain(|n| matches(pattern.as_bytes(), n.as_bytes()));
            names.sort();
            if names.is_empty() {
                if optional {
                    self.skip(at, "no file matches: #tryinclude goes on");
                    return Ok(());
                }
                return Err(error(format!("#include {name}: no file matches")));
            }
            for file in names {
                self.include(&dir.join(file), name, optional, at)?;
            }
            return Ok(());
        }
        self.include(&path, name, optional, at)
    }

    /// Reads the included file `path` (`name` as written) in place.
    fn include(
        &mut self,
        path: &Path,
        name: &str,
        optional: bool,
        at: &Line,
    ) -> Result<(), ParseError> {
        let error = |reason: String| ParseError {
            file: at.file.to_string(),
            line: Some(at.number),
            reason,
        };
        if self.stack.iter().any(|p| p == path) {
            let chain: Vec<String> = self
                .stack
                .iter()
                .map(PathBuf::as_path)
                .chain([path])
                .map(|p| p.display().to_string())
                .collect();
            return Err(error(format!("#include cycle: {}", chain.join(" -> "))));
        }
        if self.stack.len() > MAX_INCLUDE_DEPTH {
            return Err(error(format!(
                "#include {name}: more than {MAX_INCLUDE_DEPTH} files deep (Asterisk's limit)"
            )));
        }
        let bytes = match (self.read)(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound && optional => {
                self.skip(at, &format!("{} does not exist: #tryinclude goes on", path.display()));
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(error(format!("#include {}: no such file", path.display())));
            }
            Err(e) => return Err(error(format!("#include {}: {e}", path.display()))),
            Ok(bytes) => bytes,
        };
        if bytes.len() > MAX_FILE_BYTES {
            return Err(error(format!("#include {}: larger than {MAX_FILE_BYTES} bytes", name)));
        }
        self.file(path, &bytes)
    }
}

/// Whether `name` matches the `glob` pattern `pattern` of `*` and `?`; a leading `.` only
/// matched by a `.`, as `glob` does.
fn matches(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    // Iterative wildcard matching: on a mismatch, let the last `*` take one more byte.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|c| *c == b'*')
}

/// `"file"` or `<file>` without its quotes, as Asterisk strips them (only when both are there).
fn dequote(argument: &str) -> &str {
    for (open, close) in [('"', '"'), ('<', '>')] {
        if let Some(inner) = argument.strip_prefix(open).and_then(|a| a.strip_suffix(close)) {
            return inner;
        }
    }
    argument
}

/// Asterisk's `isspace` in the C locale.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0b' | '\x0c')
}

/// One line with its comments taken out, as `config_text_file_load` does it: `None` when the
/// whole line lies inside a block comment. `depth` carries open block comments from line to
/// line; like Asterisk's counter it goes below zero on a `--;` that closes nothing, and the
/// lines after are then comments until a `;--` brings it back.
fn strip_comments(line: &[u8], depth: &mut i32) -> Result<Option<Vec<u8>>, String> {
    // The C code works on a NUL-terminated buffer, writing NULs to cut it; so does this, with
    // `end` for where the kept text stops (the first NUL from `start`).
    let mut buf = line.to_vec();
    let at = |buf: &[u8], i: usize| buf.get(i).copied().unwrap_or(0);
    let nul = |buf: &[u8], from: usize| {
        buf[from.min(buf.len())..].iter().position(|b| *b == 0).map_or(buf.len(), |p| from + p)
    };
    let mut process: Option<usize> = (*depth == 0).then_some(0);
    let mut scan = 0;
    loop {
        let end = nul(&buf, scan);
        let Some(semi) = buf[scan.min(end)..end].iter().position(|b| *b == b';') else { break };
        let p = scan + semi;
        if p > scan && buf[p - 1] == b'\\' {
            // `\;` is a literal `;`: drop the backslash, go on after the `;`.
            buf.remove(p - 1);
            scan = p;
        } else if at(&buf, p + 1) == b'-' && at(&buf, p + 2) == b'-' && at(&buf, p + 3) != b'-' {
            if *depth >= MAX_NESTED_COMMENTS {
                return Err(format!("more than {MAX_NESTED_COMMENTS} nested `;--` comments"));
            }
            buf[p] = 0;
            scan = p + 3;
            *depth += 1;
        } else if p >= scan + 2 && buf[p - 1] == b'-' && buf[p - 2] == b'-' {
            *depth -= 1;
            scan = p + 1;
            if *depth == 0 {
                match process {
                    Some(start) => {
                        // The text after the comment joins the text before it.
                        let cut = nul(&buf, start);
                        buf.drain(cut..scan);
                        scan = cut;
                    }
                    None => process = Some(scan),
                }
            }
        } else if *depth == 0 {
            buf[p] = 0;
            scan = p;
        } else {
            scan = p + 1;
        }
    }
    Ok(process.map(|start| {
        let end = nul(&buf, start);
        buf[start..end].to_vec()
    }))
}

#[cfg(test)]
pub(super) mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Parses `files[0]` with the others reachable by name, from a directory `/etc/asterisk`.
    fn parse_files(files: &[(&str, &str)]) -> Result<Conf, ParseError> {
        let map: BTreeMap<PathBuf, Vec<u8>> = files
            .iter()
            .map(|(n, t)| (Path::new("/etc/asterisk").join(n), t.as_bytes().to_vec()))
            .collect();
        let mut read = |path: &Path| {
            map.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
        };
        let mut list = |dir: &Path| Ok(names_in(map.keys(), dir));
        parse(&Path::new("/etc/asterisk").join(files[0].0), &mut read, &mut list)
    }

    /// The names of the entries of `dir` among `paths` (unsorted, as a directory gives them).
    pub(in crate::import) fn names_in<'p>(
        paths: impl Iterator<Item = &'p PathBuf>,
        dir: &Path,
    ) -> Vec<String> {
        let mut names: Vec<String> = paths
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        names.reverse();
        names
    }

    fn conf(text: &str) -> Conf {
        parse_files(&[("queues.conf", text)]).unwrap()
    }

    /// `section: name=value` for every variable of every section, templates marked `(!)`.
    fn flat(conf: &Conf) -> Vec<String> {
        let mut out = Vec::new();
        for c in &conf.categories {
            let mark = if c.template { "(!)" } else { "" };
            for v in &c.variables {
                out.push(format!("{}{mark}: {}={}", c.name, v.name, v.value));
            }
        }
        out
    }

    #[test]
    fn sections_variables_and_both_assignments() {
        let c = conf("[general]\npersistentmembers = yes\n\n[support]\nmember => PJSIP/1001,1\n");
        assert_eq!(flat(&c), ["general: persistentmembers=yes", "support: member=PJSIP/1001,1"]);
        let member = &c.categories[1].variables[0];
        assert_eq!((member.at.number, member.at.text.as_str()), (5, "member => PJSIP/1001,1"));
        assert_eq!(c.categories[1].at.number, 4);
    }

    #[test]
    fn comments_block_comments_and_escapes() {
        let text = "[q] ; a queue\n\
                    a = 1 ; one\n\
                    b = x\\;y\n\
                    ;-- c = 2\n\
                    d = 3 --;\n\
                    e = 4 ;-- inline --; tail\n\
                    f = 5 ;--- a plain comment, not a block\n\
                    ;-- outer ;-- inner --; still out --;\n\
                    g = 6\n";
        assert_eq!(flat(&conf(text)), ["q: a=1", "q: b=x;y", "q: e=4  tail", "q: f=5", "q: g=6"]);
    }

    #[test]
    fn a_stray_block_comment_end_hides_what_follows_as_in_asterisk() {
        let c = conf("[q]\na = 1\nb = 2 --;\nc = 3\n;--\nd = 4\n");
        // The line with `--;` is read whole, then the counter is below zero: `c` is a comment,
        // the `;--` brings it back to zero and `d` is read.
        assert_eq!(flat(&c), ["q: a=1", "q: b=2 --;", "q: d=4"]);
        assert_eq!(c.skipped.len(), 1);
        assert_eq!(c.skipped[0].at.number, 3);
    }

    #[test]
    fn templates_inheritance_and_additions() {
        let text = "[base](!)\nstrategy = rrmemory\ntimeout = 15\n\
                    [extra](!)\nwrapuptime = 5\n\
                    [sales](base,extra)\ntimeout = 20\n\
                    [sales](+)\nmember => PJSIP/1\n\
                    [Base2](base)\n";
        let c = conf(text);
        assert_eq!(
            flat(&c),
            [
                "base(!): strategy=rrmemory",
                "base(!): timeout=15",
                "extra(!): wrapuptime=5",
                "sales: strategy=rrmemory",
                "sales: timeout=15",
                "sales: wrapuptime=5",
                "sales: timeout=20",
                "sales: member=PJSIP/1",
                "Base2: strategy=rrmemory",
                "Base2: timeout=15",
            ]
        );
        let sales = &c.categories[2];
        assert!(sales.variables[0].inherited && !sales.variables[3].inherited);
        assert_eq!(sales.variables[0].at.number, 2, "an inherited line points at the template");
        assert_eq!(c.sections().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["sales", "Base2"]);
    }

    #[test]
    fn append_with_plus_equals() {
        // What follows `+=` is appended as written, blanks included, as Asterisk does.
        let c =
            conf("[q]\nperiodic-announce = a\nperiodic-announce +=,b\nx = 1\nx += 2\nnew += c\n");
        assert_eq!(flat(&c), ["q: periodic-announce=a,b", "q: x=1 2", "q: new=c"]);
    }

    #[test]
    fn bad_headers_and_lines_are_errors_naming_the_line() {
        let cases = [
            ("[q\n", "no `]`"),
            ("[q](!\n", "no `)`"),
            ("[q](nothere)\n", "inherits from [nothere]"),
            ("[a](!)\n[q](a, b)\n", "[ b]"),
            ("[q](+)\n", "(+)"),
            ("a = 1\n", "before any [section]"),
            ("[q]\n\\ = 1\n", "escapes nothing"),
        ];
        for (text, needle) in cases {
            let err = parse_files(&[("queues.conf", text)]).unwrap_err();
            assert!(err.to_string().contains(needle), "{text:?}: {err}");
            assert!(err.to_string().starts_with("/etc/asterisk/queues.conf:"), "{err}");
            assert!(err.line.is_some(), "{err}");
        }
        let err = parse_files(&[("queues.conf", "[q]\na = \u{fffd}\n")]);
        assert!(err.is_ok());
        let mut read = |_: &Path| Ok(b"[q]\na = \xff\n".to_vec());
        let err = parse(Path::new("q.conf"), &mut read, &mut |_| Ok(vec![])).unwrap_err();
        assert_eq!((err.line, err.reason.contains("UTF-8")), (Some(2), true), "{err}");
    }

    #[test]
    fn lines_asterisk_ignores_are_skipped_with_a_reason() {
        let long = format!("[q]\nx = {}\n", "a".repeat(MAX_LINE));
        let text = format!("{long}no equals here\n= 3\n#exec /bin/members\n#frobnicate x\n");
        let c = conf(&text);
        let reasons: Vec<(u32, &str)> =
            c.skipped.iter().map(|s| (s.at.number, s.reason.as_str())).collect();
        assert_eq!(reasons.len(), 5, "{reasons:?}");
        assert!(reasons[0].1.contains("longer"));
        assert!(reasons[1].1.contains("no `=`"));
        assert!(reasons[2].1.contains("no name"));
        assert!(reasons[3].1.contains("#exec"));
        assert!(reasons[4].1.contains("#frobnicate"));
        assert!(flat(&c).is_empty());
    }

    #[test]
    fn includes_are_read_from_the_first_files_directory() {
        let c = parse_files(&[
            ("queues.conf", "[general]\n#include \"queues.d/agents.conf\"\nautofill = yes\n"),
            ("queues.d/agents.conf", "shared_lastcall = yes\n[support]\n#include <more.conf>\n"),
            ("more.conf", "member => PJSIP/1\n"),
        ])
        .unwrap();
        // An included file continues the includer's section; after the include, the includer
        // goes on in its own section, not in the one the included file started.
        assert_eq!(
            flat(&c),
            ["general: shared_lastcall=yes", "general: autofill=yes", "support: member=PJSIP/1"]
        );
        let member = &c.categories[1].variables[0];
        assert_eq!(&*member.at.file, "/etc/asterisk/more.conf");
        assert_eq!(member.at.number, 1);
    }

    #[test]
    fn include_cycles_depth_and_missing_files() {
        let err = parse_files(&[
            ("queues.conf", "#include a.conf\n"),
            ("a.conf", "[q]\n#include b.conf\n"),
            ("b.conf", "#include a.conf\n"),
        ])
        .unwrap_err();
        assert_eq!(&err.file, "/etc/asterisk/b.conf");
        assert!(err.reason.contains("cycle") && err.reason.contains("a.conf -> "), "{err}");

        let chain: Vec<(String, String)> = (0..=MAX_INCLUDE_DEPTH + 1)
            .map(|i| (format!("f{i}.conf"), format!("#include f{}.conf\n", i + 1)))
            .collect();
        let files: Vec<(&str, &str)> =
            chain.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
        let err = parse_files(&files).unwrap_err();
        assert!(err.reason.contains("deep"), "{err}");

        let err = parse_files(&[("queues.conf", "#include gone.conf\n")]).unwrap_err();
        assert_eq!(err.line, Some(1));
        assert!(err.reason.contains("no such file"), "{err}");
        let c = parse_files(&[("queues.conf", "#tryinclude gone.conf\n[q]\n")]).unwrap();
        assert_eq!(c.skipped.len(), 1);
        assert!(c.skipped[0].reason.contains("#tryinclude"));
        let c = parse_files(&[("queues.conf", "#include queues.d/[ab].conf\n")]).unwrap();
        assert!(c.skipped[0].reason.contains("wildcard"));
    }

    #[test]
    fn wildcard_includes_read_every_match_in_name_order() {
        let c = parse_files(&[
            ("queues.conf", "#include queues.d/*.conf\n#tryinclude none/*.conf\n"),
            ("queues.d/b.conf", "[b]\nx = 2\n"),
            ("queues.d/a.conf", "[a]\nx = 1\n"),
            ("queues.d/a.conf.orig", "[old]\n"),
            ("queues.d/.hidden.conf", "[hidden]\n"),
        ])
        .unwrap();
        assert_eq!(flat(&c), ["a: x=1", "b: x=2"]);
        assert!(c.skipped[0].reason.contains("no file matches"), "{:?}", c.skipped);
        let err = parse_files(&[("queues.conf", "#include q?.conf\n")]).unwrap_err();
        assert!(err.reason.contains("no file matches"), "{err}");
        assert!(
            matches(b"*.conf", b"x.conf") && matches(b"q?*", b"qa") && !matches(b"*.c", b"x.cc")
        );
        assert!(matches(b"*", b"a") && !matches(b"*", b".a") && matches(b".*", b".a"));
    }

    #[test]
    fn an_unreadable_first_file_names_it() {
        let mut read = |_: &Path| Err(io::Error::from(io::ErrorKind::PermissionDenied));
        let err = parse(Path::new("/etc/asterisk/queues.conf"), &mut read, &mut |_| Ok(vec![]))
            .unwrap_err();
        assert_eq!(err.file, "/etc/asterisk/queues.conf");
        assert!(err.reason.starts_with("cannot read"), "{err}");
    }

    #[test]
    fn a_byte_order_mark_and_crlf_line_ends_are_read_as_asterisk_does() {
        let c = conf("\u{feff}[q]\r\na = 1\r\n");
        assert_eq!(flat(&c), ["q: a=1"]);
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_parse_or_fail_with_a_line(bytes in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(b"[]()!+=>;-\\#\"<>,\n\r \tamq".to_vec()),
                proptest::num::u8::ANY,
            ],
            0..400,
        )) {
            let mut read = |path: &Path| {
                if path.ends_with("queues.conf") { Ok(bytes.clone()) } else { Ok(bytes[..bytes.len() / 2].to_vec()) }
            };
            let mut list = |_: &Path| Ok(vec!["a.conf".to_owned(), ".b.conf".to_owned()]);
            match parse(Path::new("/etc/asterisk/queues.conf"), &mut read, &mut list) {
                Ok(conf) => {
                    for c in &conf.categories {
                        proptest::prop_assert!(c.variables.iter().all(|v| v.at.number >= 1));
                    }
                }
                Err(e) => proptest::prop_assert!(!e.reason.is_empty() && e.file.ends_with(".conf")),
            }
        }

        #[test]
        fn comment_stripping_never_panics(line in proptest::collection::vec(
            proptest::sample::select(b";-\\ ax\0".to_vec()), 0..64), depth in -3i32..3) {
            let mut depth = depth;
            let _ = strip_comments(&line, &mut depth);
        }
    }
}
