//! The shapes of `starq.toml` as written: names and defaults close to `queues.conf`, every
//! unknown key refused. Turned into typed settings by the parent module.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct File {
    #[serde(default)]
    pub(super) instance: Instance,
    #[serde(default)]
    pub(super) store: Store,
    #[serde(default)]
    pub(super) http: Http,
    #[serde(default)]
    pub(super) events: Events,
    /// Read by the reporter's own configuration (`starq-report`), which names its keys.
    pub(super) report: Option<toml::Table>,
    pub(super) catalog: Option<Catalog>,
    #[serde(default)]
    pub(super) nodes: Vec<Node>,
    #[serde(default)]
    pub(super) queues: BTreeMap<String, Queue>,
    #[serde(default)]
    pub(super) agents: Vec<Agent>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Instance {
    pub(super) name: Option<String>,
    pub(super) lease_ttl_secs: Option<u64>,
    pub(super) seed: Option<u64>,
    pub(super) node_down_after_secs: Option<u64>,
    pub(super) drain_grace_secs: Option<u64>,
    pub(super) originates_per_sec: Option<u32>,
}

/// The SQL catalog of queues and agents.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Catalog {
    pub(super) sql_url: Option<String>,
    pub(super) poll_ms: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Http {
    pub(super) listen: Option<String>,
}

/// Where Asterisk's persistent outbound WebSockets connect (nodes with `events = "accept"`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Events {
    pub(super) listen: Option<String>,
    pub(super) max_handshakes: Option<u32>,
    pub(super) handshake_timeout_secs: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Store {
    pub(super) redis_url: Option<String>,
    pub(super) site: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Node {
    pub(super) name: String,
    pub(super) ari_url: String,
    pub(super) username: String,
    pub(super) password: Option<String>,
    pub(super) app: Option<String>,
    /// `dial` (default) or `accept`.
    pub(super) events: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Queue {
    pub(super) strategy: Option<String>,
    pub(super) ring_progressively_delay: Option<u64>,
    pub(super) weight: Option<u32>,
    pub(super) autofill: Option<bool>,
    pub(super) timeout: Option<u64>,
    pub(super) retry: Option<u64>,
    pub(super) wrapuptime: Option<u64>,
    pub(super) autopause: Option<String>,
    pub(super) autopause_after: Option<u32>,
    pub(super) autopausebusy: Option<bool>,
    pub(super) autopauseunavail: Option<bool>,
    pub(super) maxlen: Option<u32>,
    pub(super) joinempty: Option<String>,
    pub(super) leavewhenempty: Option<String>,
    pub(super) max_wait: Option<u64>,
    pub(super) on_timeout: Option<OnTimeout>,
    pub(super) context: Option<String>,
    pub(super) penaltymemberslimit: Option<u32>,
    pub(super) penaltychange: Option<Vec<String>>,
    pub(super) answer: Option<String>,
    pub(super) musicclass: Option<String>,
    pub(super) servicelevel: Option<u64>,
    pub(super) announce: Option<Announce>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OnTimeout {
    pub(super) queue: Option<String>,
    pub(super) context: Option<String>,
    pub(super) extension: Option<String>,
    pub(super) priority: Option<u32>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Announce {
    pub(super) frequency: Option<u64>,
    pub(super) min_frequency: Option<u64>,
    pub(super) position: Option<String>,
    pub(super) position_limit: Option<u32>,
    pub(super) holdtime: Option<String>,
    pub(super) round_seconds: Option<u32>,
    pub(super) to_first_user: Option<bool>,
    pub(super) periodic: Option<Vec<String>>,
    pub(super) periodic_frequency: Option<u64>,
    pub(super) periodic_start_delay: Option<u64>,
    pub(super) random_periodic: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Agent {
    pub(super) id: String,
    pub(super) name: Option<String>,
    pub(super) wrapuptime: Option<u64>,
    #[serde(default)]
    pub(super) queues: BTreeMap<String, u32>,
    #[serde(default)]
    pub(super) contacts: Vec<Contact>,
    pub(super) pin: Option<Secret>,
}

/// A secret as written (an agent's PIN): never shown by `Debug`, never echoed by an error
/// (the parser's errors quote the line, so a wrong type is taken here and refused later).
pub(super) enum Secret {
    /// A string, as it should be.
    Text(String),
    /// A bare number, which would have lost its leading zeros.
    Number,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string of digits")
            }
            fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Secret, E> {
                Ok(Secret::Text(value.to_owned()))
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<Secret, E> {
                Ok(Secret::Number)
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<Secret, E> {
                Ok(Secret::Number)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Contact {
    pub(super) endpoint: String,
    #[serde(default)]
    pub(super) nodes: Vec<String>,
}
