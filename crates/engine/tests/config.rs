//! `starq.toml`: the documented example loads, every kind of mistake names its key, every number
//! is bounded, every name checked, and no error or `Debug` output shows a secret.

use std::time::Duration;

use starq_core::config::{Destination, Overflow};
use starq_core::strategy::Strategy;
use starq_engine::config::{ConfigError, StoreChoice, parse};

const EXAMPLE: &str = include_str!("../../../docs/starq.example.toml");

fn env_with(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
}

fn invalid_key(err: ConfigError) -> (String, String) {
    match err {
        ConfigError::Invalid { key, reason, .. } => (key, reason),
        other => panic!("expected an invalid value, got {other}"),
    }
}

#[test]
fn the_example_loads_with_secrets_from_the_environment() {
    let config = parse(
        EXAMPLE,
        "starq.example.toml",
        &env_with(&[("STARQ_NODE_BACKUP_PASSWORD", "s3cret")]),
    )
    .unwrap();
    assert_eq!(config.nodes.len(), 2);
    assert_eq!(config.store, StoreChoice::Embedded);
    assert_eq!(config.http_listen, Some("127.0.0.1:9090".parse().unwrap()));
    let support = config.queues.iter().find(|q| q.id.as_str() == "support").unwrap();
    assert_eq!(support.strategy, Strategy::LeastRecent);
    assert_eq!(support.ring_timeout, Duration::from_secs(15));
    assert_eq!(support.on_timeout, Overflow::Queue("backup-team".into()));
    assert_eq!(support.rule.steps().len(), 2);
    assert_eq!(support.autopause.after_misses, 2);
    let backup = config.queues.iter().find(|q| q.id.as_str() == "backup-team").unwrap();
    let voicemail =
        Destination { context: "voicemail".into(), extension: "100".into(), priority: 1 };
    assert_eq!(backup.on_timeout, Overflow::Dialplan(Some(voicemail)));
    let alice = config.agents.iter().find(|a| a.id.as_str() == "alice").unwrap();
    assert_eq!(alice.contacts.len(), 2);
    assert_eq!(alice.memberships.len(), 2);
    let inbound = config.settings.inbound.expect("a node accepts");
    assert_eq!(inbound.listen, "0.0.0.0:8089".parse().unwrap());
    assert_eq!(inbound.nodes.iter().map(|n| n.as_str()).collect::<Vec<_>>(), ["backup"]);
    assert_eq!(inbound.handshake_timeout, Duration::from_secs(5));
}

#[test]
fn a_node_that_accepts_needs_an_address_to_listen_on() {
    let accept = |rest: &str| {
        parse(&format!("{NODE}events = \"accept\"\n{rest}"), "starq.toml", &env_with(&[]))
    };
    let (key, reason) = invalid_key(accept("").unwrap_err());
    assert_eq!(key, "nodes[0] (n).events");
    assert!(reason.contains("[events] listen"), "{reason}");
    let (key, _) = invalid_key(accept("[events]\nlisten = \"everywhere\"\n").unwrap_err());
    assert_eq!(key, "events.listen");
    let config = accept("[events]\nlisten = \"127.0.0.1:8089\"\nmax_handshakes = 8\n").unwrap();
    let inbound = config.settings.inbound.expect("listens");
    assert_eq!((inbound.max_handshakes, inbound.nodes.len()), (8, 1));
    let push = parse(&format!("{NODE}events = \"push\"\n"), "starq.toml", &env_with(&[]));
    let (key, reason) = invalid_key(push.unwrap_err());
    assert_eq!(key, "nodes[0] (n).events");
    assert!(reason.contains("\"dial\" or \"accept\""), "{reason}");
    // Dialled nodes only: no listener, even with an address.
    let config = with_node("[events]\nlisten = \"127.0.0.1:8089\"\n").unwrap();
    assert_eq!(config.settings.inbound, None);
}

#[test]
fn a_missing_secret_names_its_variable() {
    let err = parse(EXAMPLE, "starq.toml", &env_with(&[])).unwrap_err();
    let (key, reason) = invalid_key(err);
    assert_eq!(key, "nodes[1] (backup).password");
    assert!(reason.contains("STARQ_NODE_BACKUP_PASSWORD"), "{reason}");
}

#[test]
fn the_environment_overrides_the_store() {
    let env = env_with(&[
        ("STARQ_NODE_BACKUP_PASSWORD", "x"),
        ("STARQ_REDIS_URL", "redis://10.1.1.1:6379"),
    ]);
    let config = parse(EXAMPLE, "starq.toml", &env).unwrap();
    assert_eq!(
        config.store,
        StoreChoice::Redis { url: "redis://10.1.1.1:6379".into(), site: "acme".into() }
    );
}

#[test]
fn a_sentinel_url_is_a_redis_store() {
    const URL: &str = "redis+sentinel://10.1.1.1:26379,10.1.1.2:26379/starq";
    let env = env_with(&[("STARQ_NODE_BACKUP_PASSWORD", "x"), ("STARQ_REDIS_URL", URL)]);
    let config = parse(EXAMPLE, "starq.toml", &env).unwrap();
    assert_eq!(config.store, StoreChoice::Redis { url: URL.into(), site: "acme".into() });
}

const NODE: &str = "[[nodes]]\nname = \"n\"\nari_url = \"http://127.0.0.1:8088/ari\"\nusername = \"u\"\npassword = \"p\"\n";

fn with_node(rest: &str) -> Result<starq_engine::config::Config, ConfigError> {
    parse(&format!("{NODE}{rest}"), "starq.toml", &env_with(&[]))
}

#[test]
fn mistakes_name_the_file_the_key_and_the_reason() {
    let err = with_node("[queues.q]\nstrategy = \"longest\"\n").unwrap_err();
    assert!(err.to_string().starts_with("starq.toml: queues.q.strategy:"), "{err}");
    assert!(err.to_string().contains("leastrecent"), "lists the choices: {err}");

    let (key, reason) = invalid_key(with_node("[http]\nlisten = \"localhost\"\n").unwrap_err());
    assert_eq!(key, "http.listen");
    assert!(reason.contains("address:port"), "{reason}");
    let (key, _) =
        invalid_key(with_node("[queues.q]\njoinempty = \"paused,sleepy\"\n").unwrap_err());
    assert_eq!(key, "queues.q.joinempty");
    let (key, _) =
        invalid_key(with_node("[queues.q]\npenaltychange = [\"30,+2\", \"x\"]\n").unwrap_err());
    assert_eq!(key, "queues.q.penaltychange[1]");
    let (key, _) =
        invalid_key(with_node("[queues.q]\non_timeout = { queue = \"nowhere\" }\n").unwrap_err());
    assert_eq!(key, "queues.q.on_timeout.queue");
    let (key, reason) = invalid_key(
        with_node(
            "[[agents]]\nid = \"a\"\nqueues = { q = 0 }\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
        )
        .unwrap_err(),
    );
    assert_eq!((key.as_str(), reason.contains("\"q\"")), ("agents[0] (a).queues.q", true));
    let (key, _) = invalid_key(with_node("[[agents]]\nid = \"a\"\ncontacts = [{ endpoint = \"PJSIP/a\", nodes = [\"elsewhere\"] }]\n").unwrap_err());
    assert_eq!(key, "agents[0] (a).contacts[0].nodes");
    let (key, _) = invalid_key(parse("[[nodes]]\nname = \"n\"\nari_url = \"http://h:8088\"\nusername = \"u\"\npassword = \"p\"\n", "f", &env_with(&[])).unwrap_err());
    assert_eq!(key, "nodes[0] (n).ari_url");
    let node = |app: &str| {
        format!(
            "[[nodes]]\nname = \"n\"\nari_url = \"http://h:8088/ari\"\nusername = \"u\"\npassword = \"p\"\napp = {app:?}\n"
        )
    };
    let (key, _) = invalid_key(parse(&node("a&b"), "f", &env_with(&[])).unwrap_err());
    assert_eq!(key, "nodes[0] (n).app");
}

#[test]
fn unknown_keys_and_wrong_types_are_syntax_errors_with_a_line() {
    let err = with_node("[queues.q]\nstratgy = \"linear\"\n").unwrap_err().to_string();
    assert!(err.contains("stratgy") && err.contains("line"), "{err}");
    let err = with_node("[queues.q]\ntimeout = \"fifteen\"\n").unwrap_err().to_string();
    assert!(err.contains("timeout"), "{err}");
}

#[test]
fn no_node_is_an_error() {
    let (key, _) = invalid_key(parse("", "f", &env_with(&[])).unwrap_err());
    assert_eq!(key, "nodes");
}

/// Every duration and count of `starq.toml`, each at the largest value its type holds: each
/// must be refused by its key, with the range it must be in. (`wrapuptime` at 2^64-1 used to
/// pass, then panic the engine when the first call ended.)
#[test]
fn every_number_is_bounded_and_its_error_names_the_range() {
    const MAX: &str = "18446744073709551615";
    const MAX32: &str = "4294967295";
    let cases: &[(&str, &str, &str)] = &[
        ("[instance]\nlease_ttl_secs = {}\n", MAX, "instance.lease_ttl_secs"),
        ("[instance]\nnode_down_after_secs = {}\n", MAX, "instance.node_down_after_secs"),
        ("[instance]\ndrain_grace_secs = {}\n", MAX, "instance.drain_grace_secs"),
        ("[instance]\noriginates_per_sec = {}\n", MAX32, "instance.originates_per_sec"),
        ("[events]\nmax_handshakes = {}\n", MAX32, "events.max_handshakes"),
        ("[events]\nhandshake_timeout_secs = {}\n", MAX, "events.handshake_timeout_secs"),
        ("[queues.q]\nwrapuptime = {}\n", MAX, "queues.q.wrapuptime"),
        ("[queues.q]\ntimeout = {}\n", MAX, "queues.q.timeout"),
        ("[queues.q]\nretry = {}\n", MAX, "queues.q.retry"),
        ("[queues.q]\nring_progressively_delay = {}\n", MAX, "queues.q.ring_progressively_delay"),
        ("[queues.q]\nmax_wait = {}\n", MAX, "queues.q.max_wait"),
        ("[queues.q]\nservicelevel = {}\n", MAX, "queues.q.servicelevel"),
        ("[queues.q]\nweight = {}\n", MAX32, "queues.q.weight"),
        ("[queues.q]\nmaxlen = {}\n", MAX32, "queues.q.maxlen"),
        (
            "[queues.q]\nautopause = \"yes\"\nautopause_after = {}\n",
            MAX32,
            "queues.q.autopause_after",
        ),
        ("[queues.q]\npenaltymemberslimit = {}\n", MAX32, "queues.q.penaltymemberslimit"),
        ("[queues.q]\npenaltychange = [\"{},+1\"]\n", MAX, "queues.q.penaltychange[0]"),
        (
            "[queues.q]\non_timeout = { context = \"c\", priority = {} }\n",
            MAX32,
            "queues.q.on_timeout.priority",
        ),
        ("[queues.q.announce]\nfrequency = {}\n", MAX, "queues.q.announce.frequency"),
        ("[queues.q.announce]\nmin_frequency = {}\n", MAX, "queues.q.announce.min_frequency"),
        (
            "[queues.q.announce]\nperiodic_frequency = {}\n",
            MAX,
            "queues.q.announce.periodic_frequency",
        ),
        (
            "[queues.q.announce]\nperiodic_start_delay = {}\n",
            MAX,
            "queues.q.announce.periodic_start_delay",
        ),
        ("[queues.q.announce]\nposition_limit = {}\n", MAX32, "queues.q.announce.position_limit"),
        ("[queues.q.announce]\nround_seconds = {}\n", MAX32, "queues.q.announce.round_seconds"),
        (
            "[queues.q]\n[[agents]]\nid = \"a\"\nwrapuptime = {}\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
            MAX,
            "agents[0] (a).wrapuptime",
        ),
        (
            "[queues.q]\n[[agents]]\nid = \"a\"\nqueues = { q = {} }\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
            MAX32,
            "agents[0] (a).queues.q",
        ),
    ];
    for (template, value, expected_key) in cases {
        let text = template.replace("{}", value);
        let err = with_node(&text).expect_err(&text);
        let printed = err.to_string();
        assert!(printed.starts_with(&format!("starq.toml: {expected_key}: ")), "{printed}");
        let (key, reason) = invalid_key(err);
        assert_eq!(&key, expected_key);
        assert!(reason.contains("must be between") && reason.contains(value), "{key}: {reason}");
    }
    // The largest accepted values load.
    let config = with_node(
        "[instance]\nlease_ttl_secs = 3600\n[queues.q]\nwrapuptime = 86400\ntimeout = 3600\n",
    )
    .unwrap();
    assert_eq!(config.queues[0].wrapup, Duration::from_secs(86_400));
    assert_eq!(config.settings.lease_ttl, Duration::from_secs(3600));
}

/// Zero where zero cannot work is refused with the minimum, never raised silently.
#[test]
fn zero_is_refused_where_it_cannot_work() {
    for (text, expected_key, minimum) in [
        (
            "[instance]\nlease_ttl_secs = 0\n",
            "instance.lease_ttl_secs",
            "between 1 and 3600 seconds",
        ),
        (
            "[instance]\nnode_down_after_secs = 0\n",
            "instance.node_down_after_secs",
            "between 1 and",
        ),
        ("[instance]\noriginates_per_sec = 0\n", "instance.originates_per_sec", "between 1 and"),
        ("[events]\nmax_handshakes = 0\n", "events.max_handshakes", "between 1 and"),
        (
            "[events]\nhandshake_timeout_secs = 0\n",
            "events.handshake_timeout_secs",
            "between 1 and",
        ),
        ("[queues.q]\ntimeout = 0\n", "queues.q.timeout", "between 1 and"),
        (
            "[queues.q]\nring_progressively_delay = 0\n",
            "queues.q.ring_progressively_delay",
            "between 1 and",
        ),
        (
            "[queues.q]\nautopause = \"all\"\nautopause_after = 0\n",
            "queues.q.autopause_after",
            "between 1 and",
        ),
        (
            "[queues.q]\non_timeout = { context = \"c\", priority = 0 }\n",
            "queues.q.on_timeout.priority",
            "between 1 and",
        ),
    ] {
        let (key, reason) = invalid_key(with_node(text).expect_err(text));
        assert_eq!(key, expected_key);
        assert!(reason.contains(minimum) && reason.ends_with("not 0"), "{key}: {reason}");
    }
}

#[test]
fn empty_and_blank_names_are_refused_by_key() {
    let agent = |id: &str| {
        format!("[queues.q]\n[[agents]]\nid = {id:?}\ncontacts = [{{ endpoint = \"PJSIP/a\" }}]\n")
    };
    let node = |name: &str| {
        format!(
            "[[nodes]]\nname = {name:?}\nari_url = \"http://h:8088/ari\"\nusername = \"u\"\npassword = \"p\"\n"
        )
    };
    let cases = [
        (with_node("[queues.\"\"]\n"), "queues.\"\"", "must not be empty"),
        (with_node("[queues.\"sup port\"]\n"), "queues.\"sup port\"", "whitespace"),
        (with_node("[queues.\"a\\u0007\"]\n"), "queues.\"a\\u{7}\"", "control"),
        (with_node(&agent("")), "agents[0].id", "must not be empty"),
        (with_node(&agent("al ice")), "agents[0].id", "whitespace"),
        (with_node(&agent("a|b")), "agents[0].id", "`|`"),
        (parse(&node(""), "starq.toml", &env_with(&[])), "nodes[0].name", "must not be empty"),
        (parse(&node("n\n"), "starq.toml", &env_with(&[])), "nodes[0].name", "control"),
        (with_node("[instance]\nname = \"\"\n"), "instance.name", "must not be empty"),
        (
            with_node("[store]\nredis_url = \"redis://h\"\nsite = \"a}b\"\n"),
            "store.site",
            "hash tag",
        ),
        (
            with_node(
                "[queues.q]\n[[agents]]\nid = \"a\"\nname = \"A|B\"\ncontacts = [{ endpoint = \"PJSIP/a\" }]\n",
            ),
            "agents[0] (a).name",
            "`|`",
        ),
    ];
    for (result, expected_key, why) in cases {
        let (key, reason) = invalid_key(result.expect_err(expected_key));
        assert_eq!(key, expected_key);
        assert!(reason.contains(why), "{key}: {reason}");
    }
}

/// A Redis URL is checked the way the Redis store reads it when `serve` connects (but connects
/// to nothing), and its password shows nowhere: not in errors, not in `Debug` output.
#[test]
fn redis_urls_are_checked_as_serve_reads_them_and_their_passwords_never_show() {
    let store = |url: &str| with_node(&format!("[store]\nredis_url = {url:?}\n"));
    for url in [
        "ftp://starq:hunter2@h/0",
        "redis://starq:hunter2@h:notaport",
        "redis+sentinel://:hunter2@h1:26379",
        "redis+cluster://:hunter2@h1:6379/a/b",
    ] {
        let err = store(url).expect_err(url);
        let printed = format!("{err} {err:?}");
        assert!(!printed.contains("hunter2"), "password shown: {printed}");
        let (key, _) = invalid_key(err);
        assert_eq!(key, "store.redis_url");
    }
    let env = env_with(&[("STARQ_REDIS_URL", "redis://starq:hunter2@10.1.1.1:6379")]);
    let config =
        parse(&format!("{NODE}[report]\nsql_url = \"mysql://u:hunter2@db/x\"\n"), "f", &env)
            .unwrap();
    let StoreChoice::Redis { url, .. } = &config.store else { panic!("{:?}", config.store) };
    assert_eq!(url.expose(), "redis://starq:hunter2@10.1.1.1:6379");
    assert_eq!(url.to_string(), "redis://starq:***@10.1.1.1:6379");
    let printed = format!("{config:?}");
    assert!(!printed.contains("hunter2") && printed.contains("starq:***@"), "{printed}");
    let err = parse(
        &format!("{NODE}[store]\nredis_url = \"http://x\"\n"),
        "f",
        &env_with(&[("STARQ_REDIS_URL", "nope://:hunter2@h")]),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("STARQ_REDIS_URL") && !err.to_string().contains("hunter2"),
        "{err}"
    );
}
