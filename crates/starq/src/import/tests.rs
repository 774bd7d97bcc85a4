//! Conversions of whole configurations: the fixtures under `tests/fixtures/import/` (written in
//! the forms Asterisk's `queues.conf.sample` documents) and small ones here, each result
//! checked by `starq_engine::config::parse`, the reader of `starq.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use proptest::strategy::Strategy as _;
use starq_core::config::{AutoPauseScope, HoldtimeAnnounce, PositionAnnounce, QueueConfig};
use starq_core::strategy::Strategy;
use starq_engine::config::{Config, parse};

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/import")
}

/// Converts the fixtures from disk.
fn fixture_import(rules: bool) -> Import {
    let dir = fixtures();
    let rules = rules.then(|| dir.join("queuerules.conf"));
    convert(&dir.join("queues.conf"), rules.as_deref(), &mut read_file, &mut list_dir)
        .expect("converts")
}

/// Converts `queues.conf` text (and `queuerules.conf` text), with files from `others`.
fn convert_text(queues: &str, rules: Option<&str>, others: &[(&str, &str)]) -> Import {
    try_convert(queues, rules, others).expect("converts")
}

fn try_convert(
    queues: &str,
    rules: Option<&str>,
    others: &[(&str, &str)],
) -> Result<Import, ParseError> {
    let mut files: BTreeMap<PathBuf, Vec<u8>> = others
        .iter()
        .map(|(n, t)| (Path::new("/etc/asterisk").join(n), t.as_bytes().to_vec()))
        .collect();
    files.insert("/etc/asterisk/queues.conf".into(), queues.as_bytes().to_vec());
    if let Some(rules) = rules {
        files.insert("/etc/asterisk/queuerules.conf".into(), rules.as_bytes().to_vec());
    }
    let mut read = |path: &Path| {
        files.get(path).cloned().ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
    };
    let mut list = |dir: &Path| Ok(asterisk_conf::tests::names_in(files.keys(), dir));
    let rules = rules.map(|_| Path::new("/etc/asterisk/queuerules.conf"));
    convert(Path::new("/etc/asterisk/queues.conf"), rules, &mut read, &mut list)
}

/// The converted configuration as starq reads it.
fn config(import: &Import) -> Config {
    let text = import.to_toml("test");
    parse(&text, "converted.toml", &|_| None).unwrap_or_else(|e| panic!("{e}\n{text}"))
}

fn queue<'c>(config: &'c Config, name: &str) -> &'c QueueConfig {
    config.queues.iter().find(|q| q.id.as_str() == name).expect(name)
}

/// `(file name, line, reason)` of every entry, for assertions.
fn entries(import: &Import) -> Vec<(String, u32, String)> {
    import
        .unmapped
        .iter()
        .map(|u| {
            let file = Path::new(&*u.file).file_name().unwrap().to_string_lossy().into_owned();
            (file, u.line, u.reason.clone())
        })
        .collect()
}

#[test]
fn the_fixture_converts_into_a_configuration_starq_reads() {
    let import = fixture_import(true);
    let config = config(&import);

    let names: Vec<&str> = config.queues.iter().map(|q| q.id.as_str()).collect();
    assert_eq!(names, ["billing", "sales", "support"], "[night line] has no starq name");

    let support = queue(&config, "support");
    assert_eq!(support.strategy, Strategy::LeastRecent, "the queue's line over the template's");
    assert_eq!(support.ring_timeout, Duration::from_secs(15));
    assert_eq!(support.retry, Duration::from_secs(5));
    assert_eq!(support.wrapup, Duration::from_secs(10));
    assert_eq!(support.weight, 10);
    assert!(support.autofill, "[general] autofill");
    assert_eq!(support.autopause.scope, Some(AutoPauseScope::AllQueues));
    assert!(support.autopause.on_busy && support.autopause.on_unavailable);
    assert_eq!(support.max_len, Some(25));
    assert_eq!(support.exit_context.as_deref(), Some("support-exit"));
    assert_eq!(support.service_level, Duration::from_secs(30));
    assert_eq!(support.penalty_members_limit, 2);
    assert_eq!(support.music_class, "default");
    assert_eq!(support.join_empty.to_string(), "paused,penalty,unavailable", "lines add up");
    assert_eq!(support.leave_empty.to_string(), "unavailable");
    let steps: Vec<String> = import.queues["support"]["penaltychange"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(steps, ["30,+2", "60,10,1", "90,+0,+1", "120,-1"]);
    assert_eq!(support.rule.steps().len(), 4);
    let a = &support.announce;
    assert_eq!(a.frequency, Some(Duration::from_secs(60)));
    assert_eq!(a.min_frequency, Duration::from_secs(20));
    assert_eq!(a.position, PositionAnnounce::Limit);
    assert_eq!(a.position_limit, 5);
    assert_eq!(a.holdtime, HoldtimeAnnounce::Once);
    assert_eq!(a.round_seconds, 15);
    assert!(!a.to_first_user);
    assert_eq!(a.periodic, ["queue-periodic-announce", "silence/1", "thanks-for-holding"]);
    assert_eq!(a.periodic_frequency, Some(Duration::from_secs(45)));
    assert_eq!(a.periodic_start_delay, Some(Duration::from_secs(15)));
    assert!(a.random_periodic);

    let sales = queue(&config, "sales");
    assert_eq!(sales.strategy, Strategy::Linear);
    assert_eq!(sales.ring_timeout, Duration::from_secs(15), "timeout = 0 is reported, not kept");
    assert_eq!(sales.max_len, Some(10), "the line after the #include is the includer's");
    assert_eq!(sales.wrapup, Duration::from_secs(10));
    assert_eq!(sales.service_level, Duration::ZERO, "app_queue's default");
    assert_eq!(sales.announce.position, PositionAnnounce::Yes, "app_queue's default");

    let billing = queue(&config, "billing");
    assert_eq!(billing.strategy, Strategy::RrMemory, "roundrobin");
    assert!(billing.autofill);
    assert_eq!(billing.announce.position, PositionAnnounce::More);
    assert_eq!(billing.announce.periodic, ["billing-hold"]);
    assert!(billing.rule.steps().is_empty());

    // One agent per interface, in an order that keeps the linear queue's member order.
    type Agent<'a> = (&'a str, &'a str, Vec<(&'a str, u32)>);
    let agents: Vec<Agent<'_>> = config
        .agents
        .iter()
        .map(|a| {
            let memberships = a.memberships.iter().map(|m| (m.queue.as_str(), m.penalty));
            (a.id.as_str(), a.name.as_str(), memberships.collect())
        })
        .collect();
    assert_eq!(
        agents,
        [
            ("carol-diaz", "Carol Diaz", vec![("support", 5)]),
            ("bob-johnson", "Bob Johnson", vec![("sales", 0), ("support", 1)]),
            ("alice-martin", "Alice Martin", vec![("billing", 3), ("sales", 1), ("support", 0)]),
            ("diaz-ana", "Diaz, Ana", vec![("support", 2)]),
            ("eve;night", "Eve;Night", vec![("support", 0)]),
        ]
    );
    let ana = &config.agents[3];
    assert_eq!(ana.contacts[0].endpoint, "Local/1003@agents/n", "kept as written");
    assert!(ana.contacts[0].nodes.is_empty());
    assert_eq!(ana.wrapup, Some(Duration::from_secs(20)));
    assert_eq!(config.agents[2].contacts[0].endpoint, "PJSIP/1001");
}

#[test]
fn every_line_not_mapped_is_reported_with_its_file_and_number() {
    let import = fixture_import(true);
    let got = entries(&import);
    let expected: &[(&str, u32, &str)] = &[
        ("queuerules.conf", 2, "realtime"),
        ("queuerules.conf", 9, "raise penalty"),
        ("queuerules.conf", 12, "no `,`"),
        ("queues.conf", 5, "dynamic members"),
        ("queues.conf", 7, "record"),
        ("queues.conf", 9, "not an app_queue [general] setting"),
        ("queues.conf", 27, "ringinuse"),
        ("queues.conf", 28, "MEMBER*"),
        ("queues.conf", 57, "state_interface PJSIP/1003"),
        ("queues.conf", 57, "ringinuse no"),
        ("queues.conf", 57, "paused yes"),
        ("queues.conf", 58, "ringinuse yes"),
        ("queues.conf", 62, "bounded time"),
        ("queues.conf", 63, "autopause"),
        ("queues.conf", 64, "default prompts"),
        ("queues.conf", 65, "bridges the agent at once"),
        ("queues.conf", 66, "timeoutpriority"),
        ("queues.conf", 67, "hold time"),
        ("queues.conf", 75, "no rule [nosuchrule]"),
        ("queues.conf", 76, "not an app_queue queue setting"),
        ("queues.conf", 77, "#exec"),
        ("queues.conf", 81, "#tryinclude"),
        ("queues.conf", 83, "whitespace"),
        ("queues.conf", 84, "in [night line], not imported"),
    ];
    for (file, line, needle) in expected {
        assert!(
            got.iter().any(|(f, l, r)| f == file && l == line && r.contains(needle)),
            "{file}:{line} ({needle}) not reported in:\n{got:#?}"
        );
    }
    assert_eq!(got.len(), expected.len(), "{got:#?}");
    // The template's lines are said once, though two queues inherit them.
    let text = import.unmapped.iter().find(|u| u.line == 27).unwrap().to_string();
    let expected = "/queues.conf:27: ringinuse = no — starq has no ringinuse yet: it does not \
                    see phones busy outside starq";
    assert!(text.ends_with(expected), "{text}");
}

#[test]
fn without_queuerules_a_defaultrule_is_reported() {
    let import = fixture_import(false);
    let got = entries(&import);
    assert!(got.iter().any(|(_, l, r)| *l == 53 && r.contains("no queuerules.conf given")));
    assert!(!import.queues["support"].contains_key("penaltychange"));
    config(&import);
}

#[test]
fn members_with_every_field_and_the_same_interface_in_several_queues() {
    let import = convert_text(
        "[a]\n\
         member => PJSIP/7,2,Zoe,PJSIP/7,yes,30,no\n\
         [b]\n\
         member => pjsip/7,4,Zed\n\
         member => SIP/8,,,,,15\n\
         member => SIP/8,9\n\
         member => nothing\n\
         member =>\n",
        None,
        &[],
    );
    let config = config(&import);
    assert_eq!(config.agents.len(), 2);
    let zoe = &config.agents[0];
    assert_eq!((zoe.id.as_str(), zoe.name.as_str()), ("zoe", "Zoe"));
    assert_eq!(zoe.wrapup, Some(Duration::from_secs(30)));
    let memberships: Vec<(&str, u32)> =
        zoe.memberships.iter().map(|m| (m.queue.as_str(), m.penalty)).collect();
    assert_eq!(memberships, [("a", 2), ("b", 4)], "interfaces compared without case");
    let sip = &config.agents[1];
    assert_eq!((sip.id.as_str(), sip.name.as_str()), ("sip-8", "SIP/8"));
    assert_eq!(sip.memberships[0].penalty, 9, "the later line of one interface wins");
    let got = entries(&import);
    let at = |line: u32, needle: &str| {
        assert!(
            got.iter().any(|(_, l, r)| *l == line && r.contains(needle)),
            "{line}: {needle}: {got:#?}"
        );
    };
    at(2, "ringinuse yes");
    at(2, "every queue of the agent, in b too");
    at(4, "one name per agent");
    at(5, "listed again in [b] at /etc/asterisk/queues.conf:6");
    at(7, "not TECH/resource");
    at(8, "empty member line");
}

#[test]
fn linear_queues_that_disagree_on_order_are_reported() {
    let import = convert_text(
        "[one]\nstrategy = linear\nmember => PJSIP/1\nmember => PJSIP/2\n\
         [two]\nstrategy = rrordered\nmember => PJSIP/2\nmember => PJSIP/1\n\
         [three]\nstrategy = linear\nmember => PJSIP/3\nmember => PJSIP/1\n",
        None,
        &[],
    );
    let config = config(&import);
    let ids: Vec<&str> = config.agents.iter().map(|a| a.id.as_str()).collect();
    assert_eq!(ids, ["pjsip-3", "pjsip-1", "pjsip-2"]);
    let got = entries(&import);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].1, 8);
    assert!(got[0].2.contains("in [two] this member comes before PJSIP/2"), "{got:#?}");
}

#[test]
fn sections_app_queue_skips_are_reported_not_imported() {
    let import = convert_text(
        "[general]\nautofill = no\n[general]\nautofill = yes\n\
         [Support]\nmember => PJSIP/1\n[support]\nmember => PJSIP/2\n",
        None,
        &[],
    );
    let config = config(&import);
    assert_eq!(config.queues.len(), 1);
    assert!(!config.queues[0].autofill, "the first [general] only");
    assert_eq!(config.agents.len(), 1);
    let got = entries(&import);
    let lines: Vec<u32> = got.iter().map(|(_, l, _)| *l).collect();
    assert_eq!(lines, [3, 4, 7, 8], "{got:#?}");
    assert!(got[2].2.contains("already has this queue from /etc/asterisk/queues.conf:5"));
}

#[test]
fn settings_read_as_app_queue_reads_them() {
    let import = convert_text(
        "[q]\nretry = 0\ntimeout = -4\nwrapuptime = 20s\nmaxlen = -1\nautofill = maybe\n\
         autopause = sometimes\njoinempty = yes\nleavewhenempty = yes\n\
         leavewhenempty = paused, inuse\nannounce-round-seconds = 7\ntimeout = 7200\n\
         periodic-announce = a|b\nannounce-holdtime = no\nweight = -1\n",
        None,
        &[],
    );
    let config = config(&import);
    let q = queue(&config, "q");
    assert_eq!(q.retry, Duration::from_secs(5), "retry <= 0 is app_queue's 5");
    assert_eq!(q.ring_timeout, Duration::from_secs(15), "7200 is past starq's hour");
    assert_eq!(q.wrapup, Duration::from_secs(20));
    assert_eq!(q.max_len, None);
    assert!(!q.autofill);
    assert_eq!(q.autopause.scope, None);
    assert_eq!(q.join_empty.to_string(), "yes", "joinempty = yes: none");
    // leavewhenempty = yes is penalty,paused,invalid; then `paused` and ` inuse` (not a word).
    assert_eq!(q.leave_empty.to_string(), "paused,penalty,invalid");
    assert_eq!(q.announce.periodic, ["a|b"], "no comma: one sound");
    let got = entries(&import);
    let reasons: Vec<(u32, &str)> = got.iter().map(|(_, l, r)| (*l, r.as_str())).collect();
    let has = |line: u32, needle: &str| {
        assert!(
            reasons.iter().any(|(l, r)| *l == line && r.contains(needle)),
            "{line} {needle}: {reasons:#?}"
        );
    };
    has(4, "reads it as 20");
    has(6, "neither yes nor no");
    has(7, "not no, yes or all");
    has(10, "\" inuse\" is not a member condition");
    has(11, "0, 5, 10, 15, 20 or 30");
    has(12, "outside starq's range 1..=3600");
    has(15, "outside starq's range 0..=1000000");
    assert_eq!(reasons.len(), 7, "{reasons:#?}");
}

#[test]
fn bad_input_is_an_error_naming_the_file_and_line() {
    let err = try_convert("[q]\n#include missing.conf\n", None, &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/asterisk/queues.conf:2: #include /etc/asterisk/missing.conf: no such file"
    );
    let err = try_convert("[q]\n", Some("[r](nope)\n"), &[]).unwrap_err();
    assert!(err.to_string().starts_with("/etc/asterisk/queuerules.conf:1: "), "{err}");
}

#[test]
fn the_printed_configuration_quotes_names_toml_cannot_leave_bare() {
    let import = convert_text("[file.d'attente]\nmember => PJSIP/1,0,Zoë\n", None, &[]);
    let text = import.to_toml("test");
    assert!(text.contains("[queues.\"file.d'attente\"]"), "{text}");
    assert!(text.contains("queues = { \"file.d'attente\" = 0 }"), "{text}");
    let config = config(&import);
    assert_eq!(config.agents[0].id.as_str(), "zoë");
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(200))]

    /// Whatever lines a `queues.conf` holds, the import either refuses it with a line named,
    /// or writes a configuration starq reads.
    #[test]
    fn any_configuration_converts_into_one_starq_reads(lines in proptest::collection::vec(
        proptest::prop_oneof![
            proptest::sample::select(vec![
                "[general]", "[q1]", "[Q1]", "[q 2]", "[tpl](!)", "[q3](tpl)", "[q1](+)",
                "autofill = yes", "shared_lastcall = no", "#exec x",
            ]).prop_map(str::to_owned),
            (
                proptest::sample::select(vec![
                    "strategy", "timeout", "retry", "wrapuptime", "weight", "maxlen", "joinempty",
                    "leavewhenempty", "announce-frequency", "announce-position", "periodic-announce",
                    "announce-round-seconds", "penaltymemberslimit", "servicelevel", "autopause",
                    "context", "musicclass", "defaultrule", "ringinuse", "member", "member",
                ]),
                "[ -~]{0,24}",
            ).prop_map(|(k, v)| format!("{k} => {v}")),
        ],
        0..30,
    )) {
        let text = lines.join("\n");
        if let Ok(import) = try_convert(&text, Some("[r]\npenaltychange => 5,+1\n"), &[]) {
            let toml = import.to_toml("test");
            if let Err(e) = parse(&toml, "converted.toml", &|_| None) {
                proptest::prop_assert!(false, "{e}\n{text}\n---\n{toml}");
            }
        }
    }
}
