//! `starq.toml`: the documented example loads, and every kind of mistake names its key.

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
