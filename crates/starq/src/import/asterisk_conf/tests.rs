//! The parser on small configurations: syntax, includes, errors, and any bytes.

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
    let c = conf("[q]\nperiodic-announce = a\nperiodic-announce +=,b\nx = 1\nx += 2\nnew += c\n");
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
    let files: Vec<(&str, &str)> = chain.iter().map(|(n, t)| (n.as_str(), t.as_str())).collect();
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
    assert!(matches(b"*.conf", b"x.conf") && matches(b"q?*", b"qa") && !matches(b"*.c", b"x.cc"));
    assert!(matches(b"*", b"a") && !matches(b"*", b".a") && matches(b".*", b".a"));
}

#[test]
fn an_unreadable_first_file_names_it() {
    let mut read = |_: &Path| Err(io::Error::from(io::ErrorKind::PermissionDenied));
    let err =
        parse(Path::new("/etc/asterisk/queues.conf"), &mut read, &mut |_| Ok(vec![])).unwrap_err();
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
