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
pub(super) mod tests;
