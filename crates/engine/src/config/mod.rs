//! `starq.toml`: parsed once, validated, turned into the types the core and the shell use.
//!
//! Every error names the file, the key and the reason, so a broken file is fixed at the first
//! reading. Secrets may come from the environment instead of the file: a node's password from
//! `STARQ_NODE_<NAME>_PASSWORD` (name upper-cased, other characters as `_`), the Redis URL
//! from `STARQ_REDIS_URL`; the environment wins. No error and no `Debug` output shows a
//! secret: URLs are shown with their password replaced.
//!
//! A node's events come `dial` (starq connects to the node's `/ari/events`, the default) or
//! `accept` (the node connects to `[events] listen` at `/ari/<node>` through Asterisk's
//! persistent outbound WebSocket, presenting the node's ARI `username`/`password`; see
//! [`crate::inbound`]).
//!
//! Every number is bounded (`starq_core::config::limits` for queues and agents, the `[instance]`
//! ranges here; documented in `docs/starq.example.toml`), every name is checked ([`names`]), and
//! nothing is raised or lowered silently: a value out of range is an error naming its range.

mod catalog;
mod names;
mod raw;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::Path;
use std::time::Duration;

use starq_ari::{Credentials, NodeConfig};
use starq_core::config::limits::{self, HOUR};
use starq_core::config::{
    AgentConfig, Announcements, AnswerMode, AutoPause, Contact, Destination, EmptyConditions,
    HoldtimeAnnounce, Membership, Overflow, PenaltyRule, PenaltyStep, Pin, PositionAnnounce,
    QueueConfig,
};
use starq_core::strategy::Strategy;
use starq_core::{NodeId, QueueId};
use thiserror::Error;

pub use catalog::{AgentTable, CATALOG_POLL_MS, Catalog, CatalogError, CatalogSettings};

use crate::{NodeSpec, Settings};

/// `lease_ttl_secs`: a node is taken over this long after its owner stops renewing.
pub const LEASE_TTL_SECS: RangeInclusive<u64> = 1..=HOUR;
/// `node_down_after_secs`: a node whose events stay down this long is lost.
pub const NODE_DOWN_AFTER_SECS: RangeInclusive<u64> = 1..=HOUR;
/// `drain_grace_secs`: how long ringing agent legs may finish on shutdown.
pub const DRAIN_GRACE_SECS: RangeInclusive<u64> = 0..=HOUR;
/// `originates_per_sec`: agent legs created per second, per node.
pub const ORIGINATES_PER_SEC: RangeInclusive<u32> = 1..=10_000;
/// `[events] max_handshakes`: Asterisk connections being upgraded at once.
pub const MAX_HANDSHAKES: RangeInclusive<u32> = 1..=10_000;
/// `[events] handshake_timeout_secs`: longest an Asterisk connection's upgrade may take.
pub const HANDSHAKE_TIMEOUT_SECS: RangeInclusive<u64> = 1..=60;

/// A validated configuration. `Debug` shows no secret (the `[report]` section by its keys).
#[derive(Clone)]
pub struct Config {
    /// This instance.
    pub settings: Settings,
    /// Where shared state lives.
    pub store: StoreChoice,
    /// Asterisk nodes.
    pub nodes: Vec<NodeSpec>,
    /// Queues.
    pub queues: Vec<QueueConfig>,
    /// Agents.
    pub agents: Vec<AgentConfig>,
    /// Where to serve health and status over HTTP, if anywhere.
    pub http_listen: Option<SocketAddr>,
    /// The `[report]` section as written, for the reporter to read (it validates its own keys).
    pub report: Option<toml::Table>,
    /// Where queues and agents are kept in SQL, if they are (`[catalog]`).
    pub catalog: Option<CatalogSettings>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `[report]` may hold `sql_url`, password included: its keys only.
        let report = self.report.as_ref().map(|t| t.keys().cloned().collect::<Vec<_>>());
        f.debug_struct("Config")
            .field("settings", &self.settings)
            .field("store", &self.store)
            .field("nodes", &self.nodes)
            .field("queues", &self.queues)
            .field("agents", &self.agents)
            .field("http_listen", &self.http_listen)
            .field("report_keys", &report)
            .field("catalog", &self.catalog)
            .finish()
    }
}

/// A URL that may carry a password. `Debug` and `Display` show it with the password replaced
/// (`redis://:***@host`); [`expose`](Self::expose) gives it whole, to connect with.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUrl(String);

impl SecretUrl {
    /// The URL, password included.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<&str> for SecretUrl {
    fn from(url: &str) -> Self {
        SecretUrl(url.to_owned())
    }
}

impl From<String> for SecretUrl {
    fn from(url: String) -> Self {
        SecretUrl(url)
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&starq_store::redact_url(&self.0), f)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&starq_store::redact_url(&self.0))
    }
}

/// Where shared state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreChoice {
    /// In this process (one instance only).
    Embedded,
    /// In Redis, shared by every instance of the site.
    Redis {
        /// `redis://` URL (it may hold a password).
        url: SecretUrl,
        /// The call center's name: all its keys share one hash tag.
        site: String,
    },
}

/// A configuration that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {reason}")]
    Read {
        /// The file.
        file: String,
        /// The I/O error.
        reason: String,
    },
    /// The file is not valid TOML of the expected shape (unknown key, wrong type, …).
    #[error("{file}: {reason}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, with the line and the key.
        reason: String,
    },
    /// A value is not acceptable.
    #[error("{file}: {key}: {reason}")]
    Invalid {
        /// The file.
        file: String,
        /// The key, as a dotted path (`queues.support.strategy`).
        key: String,
        /// Why, and what would be accepted.
        reason: String,
    },
}

/// Reads and validates a configuration file, with secrets from the process environment.
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Read { file: file.clone(), reason: e.to_string() })?;
    parse(&text, &file, &|name| std::env::var(name).ok())
}

/// Validates configuration text; `env` looks up environment variables (a parameter, so tests
/// need not change the process environment).
pub fn parse(
    text: &str,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let raw: raw::File = toml::from_str(text)
        .map_err(|e| ConfigError::Syntax { file: file.to_owned(), reason: e.to_string() })?;
    let invalid =
        |key: String, reason: String| ConfigError::Invalid { file: file.to_owned(), key, reason };
    let nodes = nodes(&raw.nodes, env).map_err(|(k, r)| invalid(k, r))?;
    let node_names: BTreeSet<&str> = raw.nodes.iter().map(|n| n.name.as_str()).collect();
    let (queues, agents) = queues_and_agents(&raw.queues, &raw.agents, Some(&node_names))
        .map_err(|(spot, reason)| invalid(spot.file_key(), reason))?;
    let store = store(&raw.store, env).map_err(|(k, r)| invalid(k, r))?;
    let http_listen = match &raw.http.listen {
        Some(listen) => Some(listen.parse::<SocketAddr>().map_err(|e| {
            invalid("http.listen".into(), format!("{listen:?} is not an address:port ({e})"))
        })?),
        None => None,
    };
    let mut settings =
        settings(&raw.instance).map_err(|(k, r)| invalid(format!("instance.{k}"), r))?;
    settings.inbound = inbound(&raw.events, &raw.nodes).map_err(|(k, r)| invalid(k, r))?;
    let report = raw.report.clone();
    let catalog = catalog::settings(raw.catalog.as_ref(), env).map_err(|(k, r)| invalid(k, r))?;
    Ok(Config { settings, store, nodes, queues, agents, http_listen, report, catalog })
}

/// The queues and agents of either source (`starq.toml` or the SQL catalog), validated by
/// the one set of rules. `nodes`: the names a contact may be bound to; `None` takes any
/// (the catalog read without an instance's `[[nodes]]`, by the CLI given only `--sql`).
fn queues_and_agents(
    raw_queues: &BTreeMap<String, raw::Queue>,
    raw_agents: &[raw::Agent],
    nodes: Option<&BTreeSet<&str>>,
) -> Result<(Vec<QueueConfig>, Vec<AgentConfig>), (Spot, String)> {
    let queue_names: BTreeSet<&str> = raw_queues.keys().map(String::as_str).collect();
    let mut queues = Vec::new();
    for (name, q) in raw_queues {
        let spot = |key: Option<String>| Spot::Queue { queue: name.clone(), key };
        names::check(name).map_err(|r| (spot(None), r))?;
        queues.push(queue(name, q, &queue_names).map_err(|(k, r)| (spot(Some(k)), r))?);
    }
    let mut agents = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, a) in raw_agents.iter().enumerate() {
        let spot = |field| Spot::Agent { index, id: a.id.clone(), field };
        names::check(&a.id).map_err(|r| (spot(AgentField::IdName), r))?;
        if !seen.insert(a.id.as_str()) {
            return Err((spot(AgentField::IdTwice), "agent id used twice".into()));
        }
        agents.push(agent(a, &queue_names, nodes).map_err(|(f, r)| (spot(f), r))?);
    }
    Ok((queues, agents))
}

/// Where a queue or an agent went wrong, for either source to name in its own words
/// (`starq.toml`'s dotted keys, the catalog's tables and rows).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Spot {
    /// A queue: its name (`key` none) or one of its settings (`timeout`, `announce.frequency`,
    /// `penaltychange[1]`).
    Queue { queue: String, key: Option<String> },
    /// The agent at `index` of the list.
    Agent { index: usize, id: String, field: AgentField },
}

/// What of an agent went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
enum AgentField {
    /// The id is no name.
    IdName,
    /// The id is another agent's too.
    IdTwice,
    /// Another key of the agent itself (`name`, `wrapuptime`).
    Key(&'static str),
    /// The membership of a queue: `queue` (no such queue) or `penalty`.
    Membership(String, &'static str),
    /// No contact at all.
    NoContact,
    /// The contact at this index of the list: its `endpoint` or `nodes`.
    Contact(usize, &'static str),
}

impl Spot {
    /// The dotted key of `starq.toml` this names.
    fn file_key(&self) -> String {
        match self {
            Spot::Queue { queue, key: None } => format!("queues.{queue:?}"),
            Spot::Queue { queue, key: Some(key) } => format!("queues.{queue}.{key}"),
            Spot::Agent { index, field: AgentField::IdName, .. } => format!("agents[{index}].id"),
            Spot::Agent { index, id, field } => {
                let key = match field {
                    AgentField::IdName | AgentField::IdTwice => "id".to_owned(),
                    AgentField::Key(key) => (*key).to_owned(),
                    AgentField::Membership(queue, _) => format!("queues.{queue}"),
                    AgentField::NoContact => "contacts".to_owned(),
                    AgentField::Contact(i, key) => format!("contacts[{i}].{key}"),
                };
                format!("agents[{index}] ({id}).{key}")
            }
        }
    }
}

/// The `[instance]` section, every value within its range (nothing raised silently).
fn settings(raw: &raw::Instance) -> Result<Settings, KeyError> {
    let instance = raw.name.clone().unwrap_or_else(|| "starq".into());
    names::check(&instance).map_err(|r| ("name".to_owned(), r))?;
    let secs = |key: &str, value: Option<u64>, default: u64, range: &RangeInclusive<u64>| {
        limits::secs(range, value.unwrap_or(default)).map_err(|r| (key.to_owned(), r))
    };
    let originates_per_sec =
        limits::count(&ORIGINATES_PER_SEC, raw.originates_per_sec.unwrap_or(200))
            .map_err(|r| ("originates_per_sec".to_owned(), r))?;
    Ok(Settings {
        instance,
        lease_ttl: secs("lease_ttl_secs", raw.lease_ttl_secs, 3, &LEASE_TTL_SECS)?,
        seed: raw.seed.unwrap_or(1),
        node_down_after: secs(
            "node_down_after_secs",
            raw.node_down_after_secs,
            5,
            &NODE_DOWN_AFTER_SECS,
        )?,
        drain_grace: secs("drain_grace_secs", raw.drain_grace_secs, 10, &DRAIN_GRACE_SECS)?,
        originates_per_sec,
        inbound: None,
    })
}

/// The `[events]` section and the nodes with `events = "accept"`: a listener when any node
/// accepts (an address is then required), none otherwise. The section's values are checked
/// either way.
fn inbound(
    raw: &raw::Events,
    nodes: &[raw::Node],
) -> Result<Option<crate::InboundSettings>, KeyError> {
    let mut accepting = Vec::new();
    for (i, n) in nodes.iter().enumerate() {
        match n.events.as_deref() {
            None | Some("dial") => {}
            Some("accept") => accepting.push((i, NodeId::new(&n.name))),
            Some(other) => {
                return Err((
                    format!("nodes[{i}] ({}).events", n.name),
                    format!("{other:?}: expected \"dial\" or \"accept\""),
                ));
            }
        }
    }
    let listen = raw
        .listen
        .as_ref()
        .map(|listen| {
            listen.parse::<SocketAddr>().map_err(|e| {
                ("events.listen".to_owned(), format!("{listen:?} is not an address:port ({e})"))
            })
        })
        .transpose()?;
    let max_handshakes = count("events.max_handshakes", raw.max_handshakes, &MAX_HANDSHAKES)?;
    let handshake_timeout =
        secs("events.handshake_timeout_secs", raw.handshake_timeout_secs, &HANDSHAKE_TIMEOUT_SECS)?;
    let listen = match (listen, accepting.first()) {
        (_, None) => return Ok(None),
        (Some(listen), Some(_)) => listen,
        (None, Some((i, node))) => {
            return Err((
                format!("nodes[{i}] ({node}).events"),
                "\"accept\" needs [events] listen, the address Asterisk connects to".into(),
            ));
        }
    };
    let mut settings = crate::InboundSettings::new(listen, accepting.into_iter().map(|(_, n)| n));
    if let Some(max) = max_handshakes {
        settings.max_handshakes = usize::try_from(max).unwrap_or(usize::MAX);
    }
    settings.handshake_timeout = handshake_timeout.unwrap_or(settings.handshake_timeout);
    Ok(Some(settings))
}

/// The `[store]` section: the Redis URL (`STARQ_REDIS_URL` first) checked exactly as the Redis
/// store reads it when it connects, connecting to nothing.
fn store(raw: &raw::Store, env: &dyn Fn(&str) -> Option<String>) -> Result<StoreChoice, KeyError> {
    let key = || "store.redis_url".to_owned();
    let (url, origin) = match env("STARQ_REDIS_URL") {
        Some(url) => (url, " (from STARQ_REDIS_URL)"),
        None => match &raw.redis_url {
            Some(url) => (url.clone(), ""),
            None => return Ok(StoreChoice::Embedded),
        },
    };
    let url = SecretUrl(url);
    let schemes = ["redis://", "rediss://", "redis+sentinel://", "redis+cluster://"];
    if !schemes.iter().any(|s| url.expose().starts_with(s)) {
        return Err((
            key(),
            format!(
                "{url:?}{origin} is not a redis:// (rediss://, redis+sentinel://, redis+cluster://) URL"
            ),
        ));
    }
    let site = raw.site.clone().unwrap_or_else(|| "default".into());
    names::check_site(&site).map_err(|r| ("store.site".to_owned(), r))?;
    starq_store::RedisOptions::new(url.expose(), site.as_str())
        .check()
        .map_err(|e| (key(), format!("{e}{origin}")))?;
    Ok(StoreChoice::Redis { url, site })
}

type KeyError = (String, String);

fn nodes(
    raw: &[raw::Node],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<NodeSpec>, KeyError> {
    if raw.is_empty() {
        return Err((
            "nodes".into(),
            "no Asterisk node configured: add at least one [[nodes]]".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    let mut specs = Vec::new();
    for (i, n) in raw.iter().enumerate() {
        names::check(&n.name).map_err(|r| (format!("nodes[{i}].name"), r))?;
        let at = |k: &str| format!("nodes[{i}] ({}).{k}", n.name);
        if !seen.insert(n.name.as_str()) {
            return Err((at("name"), "node name used twice".into()));
        }
        let variable = format!(
            "STARQ_NODE_{}_PASSWORD",
            n.name
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' })
                .collect::<String>()
        );
        let password = env(&variable).or_else(|| n.password.clone()).ok_or_else(|| {
            (at("password"), format!("no password: set it here or in {variable}"))
        })?;
        let ari = NodeConfig {
            ari_url: n.ari_url.clone(),
            credentials: Credentials::new(n.username.clone(), password),
            app: n.app.clone().unwrap_or_else(|| "starq".into()),
        };
        // Building a client checks the URL and the app name the way every request will use them.
        starq_ari::AriClient::new(&ari, starq_ari::RestLimits::default()).map_err(|e| {
            let key =
                if matches!(e, starq_ari::ConfigError::InvalidApp(_)) { "app" } else { "ari_url" };
            (at(key), e.to_string())
        })?;
        specs.push(NodeSpec { id: NodeId::new(&n.name), ari });
    }
    Ok(specs)
}

fn parsed<T: std::str::FromStr>(key: &str, value: Option<&String>) -> Result<Option<T>, KeyError>
where
    T::Err: std::fmt::Display,
{
    value.map(|v| v.parse::<T>().map_err(|e| (key.to_owned(), e.to_string()))).transpose()
}

/// A duration setting written in whole seconds, if set, within `range`.
fn secs(
    key: &str,
    value: Option<u64>,
    range: &RangeInclusive<u64>,
) -> Result<Option<Duration>, KeyError> {
    value.map(|v| limits::secs(range, v).map_err(|r| (key.to_owned(), r))).transpose()
}

/// A count setting, if set, within `range`.
fn count(
    key: &str,
    value: Option<u32>,
    range: &RangeInclusive<u32>,
) -> Result<Option<u32>, KeyError> {
    value.map(|v| limits::count(range, v).map_err(|r| (key.to_owned(), r))).transpose()
}

fn queue(name: &str, q: &raw::Queue, queues: &BTreeSet<&str>) -> Result<QueueConfig, KeyError> {
    let mut c = QueueConfig::new(name);
    if let Some(s) = parsed::<Strategy>("strategy", q.strategy.as_ref())? {
        c.strategy = s;
    }
    c.ring_progressively_delay = secs(
        "ring_progressively_delay",
        q.ring_progressively_delay,
        &limits::RING_PROGRESSIVELY_DELAY_SECS,
    )?
    .unwrap_or(c.ring_progressively_delay);
    c.weight = count("weight", q.weight, &limits::WEIGHT)?.unwrap_or(c.weight);
    c.autofill = q.autofill.unwrap_or(c.autofill);
    c.ring_timeout =
        secs("timeout", q.timeout, &limits::RING_TIMEOUT_SECS)?.unwrap_or(c.ring_timeout);
    c.retry = secs("retry", q.retry, &limits::RETRY_SECS)?.unwrap_or(c.retry);
    c.wrapup = secs("wrapuptime", q.wrapuptime, &limits::WRAPUP_SECS)?.unwrap_or(c.wrapup);
    let after_misses = count("autopause_after", q.autopause_after, &limits::AUTOPAUSE_AFTER)?;
    if let Some(mut a) = parsed::<AutoPause>("autopause", q.autopause.as_ref())? {
        a.after_misses = after_misses.unwrap_or(1);
        a.on_busy = q.autopausebusy.unwrap_or(false);
        a.on_unavailable = q.autopauseunavail.unwrap_or(false);
        c.autopause = a;
    }
    c.max_len = count("maxlen", q.maxlen, &limits::CALLERS_OR_MEMBERS)?.filter(|n| *n > 0);
    c.join_empty =
        parsed::<EmptyConditions>("joinempty", q.joinempty.as_ref())?.unwrap_or_default();
    c.leave_empty =
        parsed::<EmptyConditions>("leavewhenempty", q.leavewhenempty.as_ref())?.unwrap_or_default();
    c.max_wait = secs("max_wait", q.max_wait, &limits::MAX_WAIT_SECS)?.filter(|d| !d.is_zero());
    if let Some(t) = &q.on_timeout {
        c.on_timeout = overflow(t, queues)?;
    }
    c.exit_context = q.context.clone().filter(|s| !s.is_empty());
    c.penalty_members_limit =
        count("penaltymemberslimit", q.penaltymemberslimit, &limits::CALLERS_OR_MEMBERS)?
            .unwrap_or(0);
    let steps = q.penaltychange.iter().flatten().enumerate();
    let steps: Result<Vec<PenaltyStep>, KeyError> = steps
        .map(|(i, s)| {
            s.parse().map_err(|e: starq_core::config::SettingError| {
                (format!("penaltychange[{i}]"), e.to_string())
            })
        })
        .collect();
    c.rule = PenaltyRule::new(steps?);
    c.answer = match q.answer.as_deref() {
        None | Some("answer") => AnswerMode::Answer,
        Some("ring") => AnswerMode::Ring,
        Some(other) => {
            return Err(("answer".into(), format!("{other:?}: expected \"answer\" or \"ring\"")));
        }
    };
    c.music_class = q.musicclass.clone().unwrap_or(c.music_class);
    c.service_level = secs("servicelevel", q.servicelevel, &limits::SERVICE_LEVEL_SECS)?
        .unwrap_or(c.service_level);
    if let Some(a) = &q.announce {
        c.announce = announcements(a)?;
    }
    Ok(c)
}

fn overflow(t: &raw::OnTimeout, queues: &BTreeSet<&str>) -> Result<Overflow, KeyError> {
    match (&t.queue, &t.context) {
        (Some(q), None) if queues.contains(q.as_str()) => Ok(Overflow::Queue(QueueId::new(q))),
        (Some(q), None) => Err(("on_timeout.queue".into(), format!("no queue named {q:?}"))),
        (None, Some(context)) => Ok(Overflow::Dialplan(Some(Destination {
            context: context.clone(),
            extension: t.extension.clone().unwrap_or_else(|| "s".into()),
            priority: count("on_timeout.priority", t.priority, &limits::DIALPLAN_PRIORITY)?
                .unwrap_or(1),
        }))),
        (None, None) => Ok(Overflow::Dialplan(None)),
        (Some(_), Some(_)) => {
            Err(("on_timeout".into(), "either queue or context, not both".into()))
        }
    }
}

fn announcements(a: &raw::Announce) -> Result<Announcements, KeyError> {
    let d = Announcements::default();
    let position = match a.position.as_deref() {
        None | Some("no") => PositionAnnounce::No,
        Some("yes") => PositionAnnounce::Yes,
        Some("limit") => PositionAnnounce::Limit,
        Some("more") => PositionAnnounce::More,
        Some(o) => {
            return Err((
                "announce.position".into(),
                format!("{o:?}: expected yes, no, limit or more"),
            ));
        }
    };
    let holdtime = match a.holdtime.as_deref() {
        None | Some("no") => HoldtimeAnnounce::No,
        Some("yes") => HoldtimeAnnounce::Yes,
        Some("once") => HoldtimeAnnounce::Once,
        Some(o) => {
            return Err(("announce.holdtime".into(), format!("{o:?}: expected yes, no or once")));
        }
    };
    let every = |key: &str, value| secs(&format!("announce.{key}"), value, &limits::ANNOUNCE_SECS);
    Ok(Announcements {
        frequency: every("frequency", a.frequency)?.filter(|d| !d.is_zero()),
        min_frequency: every("min_frequency", a.min_frequency)?.unwrap_or(d.min_frequency),
        position,
        position_limit: count(
            "announce.position_limit",
            a.position_limit,
            &limits::CALLERS_OR_MEMBERS,
        )?
        .unwrap_or(d.position_limit),
        holdtime,
        round_seconds: count("announce.round_seconds", a.round_seconds, &limits::ROUND_SECONDS)?
            .unwrap_or(0),
        to_first_user: a.to_first_user.unwrap_or(false),
        periodic: a.periodic.clone().unwrap_or_default(),
        periodic_frequency: every("periodic_frequency", a.periodic_frequency)?
            .filter(|d| !d.is_zero()),
        periodic_start_delay: every("periodic_start_delay", a.periodic_start_delay)?,
        random_periodic: a.random_periodic.unwrap_or(false),
    })
}

fn agent(
    a: &raw::Agent,
    queues: &BTreeSet<&str>,
    nodes: Option<&BTreeSet<&str>>,
) -> Result<AgentConfig, (AgentField, String)> {
    let mut c = AgentConfig::new(a.id.as_str());
    c.name = a.name.clone().unwrap_or_else(|| a.id.clone());
    names::check_display(&c.name).map_err(|r| (AgentField::Key("name"), r))?;
    c.wrapup = secs("wrapuptime", a.wrapuptime, &limits::WRAPUP_SECS)
        .map_err(|(_, r)| (AgentField::Key("wrapuptime"), r))?;
    for (queue, penalty) in &a.queues {
        let field = |column| AgentField::Membership(queue.clone(), column);
        if !queues.contains(queue.as_str()) {
            return Err((field("queue"), format!("no queue named {queue:?}")));
        }
        let penalty = limits::count(&limits::PENALTY, *penalty)
            .map_err(|r| (field("penalty"), format!("penalty {r}")))?;
        c.memberships.push(Membership { queue: QueueId::new(queue), penalty });
    }
    if a.contacts.is_empty() {
        return Err((
            AgentField::NoContact,
            "no contact: add at least one { endpoint = \"PJSIP/…\" }".into(),
        ));
    }
    for (i, contact) in a.contacts.iter().enumerate() {
        let unknown =
            nodes.and_then(|nodes| contact.nodes.iter().find(|n| !nodes.contains(n.as_str())));
        if let Some(unknown) = unknown {
            return Err((AgentField::Contact(i, "nodes"), format!("no node named {unknown:?}")));
        }
        if !contact.endpoint.contains('/') {
            return Err((
                AgentField::Contact(i, "endpoint"),
                format!("{:?} is not TECH/resource", contact.endpoint),
            ));
        }
        c.contacts.push(Contact {
            endpoint: contact.endpoint.clone(),
            nodes: contact.nodes.iter().map(NodeId::new).collect(),
        });
    }
    let digits = |pin: &str| pin.bytes().all(|b| b.is_ascii_digit());
    match &a.pin {
        None => {}
        // Digits only, as `Read()` collects them from a keypad; the value is never echoed.
        Some(raw::Secret::Text(pin))
            if (1..=MAX_PIN_DIGITS).contains(&pin.len()) && digits(pin) =>
        {
            c.pin = Some(Pin::new(pin.as_str()));
        }
        Some(raw::Secret::Text(_)) => {
            let reason = format!("a PIN is 1 to {MAX_PIN_DIGITS} digits (0-9)");
            return Err((AgentField::Key("pin"), reason));
        }
        Some(raw::Secret::Number) => {
            let reason = "write the PIN in quotes (\"0123\"): a number loses its leading zeros";
            return Err((AgentField::Key("pin"), reason.into()));
        }
    }
    Ok(c)
}

/// The longest agent PIN.
const MAX_PIN_DIGITS: usize = 16;
