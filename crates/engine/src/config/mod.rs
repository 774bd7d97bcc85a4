//! `starq.toml`: parsed once, validated, turned into the types the core and the shell use.
//!
//! Every error names the file, the key and the reason, so a broken file is fixed at the first
//! reading. Secrets may come from the environment instead of the file: a node's password from
//! `STARQ_NODE_<NAME>_PASSWORD` (name upper-cased, other characters as `_`), the Redis URL
//! from `STARQ_REDIS_URL`; the environment wins.

mod raw;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use starq_ari::{Credentials, NodeConfig};
use starq_core::config::{
    AgentConfig, Announcements, AnswerMode, AutoPause, Contact, Destination, EmptyConditions,
    HoldtimeAnnounce, Membership, Overflow, PenaltyRule, PenaltyStep, PositionAnnounce,
    QueueConfig,
};
use starq_core::strategy::Strategy;
use starq_core::{NodeId, QueueId};
use thiserror::Error;

use crate::{NodeSpec, Settings};

/// A validated configuration.
#[derive(Clone, Debug)]
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
}

/// Where shared state lives.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StoreChoice {
    /// In this process (one instance only).
    Embedded,
    /// In Redis, shared by every instance of the site.
    Redis {
        /// `redis://` URL.
        url: String,
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
    let queue_names: BTreeSet<&str> = raw.queues.keys().map(String::as_str).collect();
    let mut queues = Vec::new();
    for (name, q) in &raw.queues {
        queues.push(
            queue(name, q, &queue_names)
                .map_err(|(k, r)| invalid(format!("queues.{name}.{k}"), r))?,
        );
    }
    let mut agents = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, a) in raw.agents.iter().enumerate() {
        let at = |k: &str| format!("agents[{i}] ({}).{k}", a.id);
        if !seen.insert(a.id.as_str()) {
            return Err(invalid(at("id"), "agent id used twice".into()));
        }
        agents.push(agent(a, &queue_names, &node_names).map_err(|(k, r)| invalid(at(&k), r))?);
    }
    let store = match env("STARQ_REDIS_URL").or_else(|| raw.store.redis_url.clone()) {
        Some(url)
            if !["redis://", "rediss://", "redis+sentinel://", "redis+cluster://"]
                .iter()
                .any(|s| url.starts_with(s)) =>
        {
            return Err(invalid(
                "store.redis_url".into(),
                format!("{url:?} is not a redis:// (redis+sentinel://, redis+cluster://) URL"),
            ));
        }
        Some(url) => StoreChoice::Redis {
            url,
            site: raw.store.site.clone().unwrap_or_else(|| "default".into()),
        },
        None => StoreChoice::Embedded,
    };
    let http_listen = match &raw.http.listen {
        Some(listen) => Some(listen.parse::<SocketAddr>().map_err(|e| {
            invalid("http.listen".into(), format!("{listen:?} is not an address:port ({e})"))
        })?),
        None => None,
    };
    let settings = Settings {
        instance: raw.instance.name.clone().unwrap_or_else(|| "starq".into()),
        lease_ttl: Duration::from_secs(raw.instance.lease_ttl_secs.unwrap_or(3).max(1)),
        seed: raw.instance.seed.unwrap_or(1),
        node_down_after: Duration::from_secs(raw.instance.node_down_after_secs.unwrap_or(5).max(1)),
        drain_grace: Duration::from_secs(raw.instance.drain_grace_secs.unwrap_or(10)),
        originates_per_sec: raw.instance.originates_per_sec.unwrap_or(200).max(1),
    };
    let report = raw.report.clone();
    Ok(Config { settings, store, nodes, queues, agents, http_listen, report })
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
        starq_ari::AriClient::new(&ari, starq_ari::RestLimits::default())
            .map_err(|e| (at("ari_url"), e.to_string()))?;
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

fn secs(v: Option<u64>) -> Option<Duration> {
    v.map(Duration::from_secs)
}

fn queue(name: &str, q: &raw::Queue, queues: &BTreeSet<&str>) -> Result<QueueConfig, KeyError> {
    let mut c = QueueConfig::new(name);
    if let Some(s) = parsed::<Strategy>("strategy", q.strategy.as_ref())? {
        c.strategy = s;
    }
    c.ring_progressively_delay =
        secs(q.ring_progressively_delay).unwrap_or(c.ring_progressively_delay);
    c.weight = q.weight.unwrap_or(c.weight);
    c.autofill = q.autofill.unwrap_or(c.autofill);
    c.ring_timeout = secs(q.timeout).unwrap_or(c.ring_timeout);
    if c.ring_timeout.is_zero() {
        return Err(("timeout".into(), "must be at least 1 second".into()));
    }
    c.retry = secs(q.retry).unwrap_or(c.retry);
    c.wrapup = secs(q.wrapuptime).unwrap_or(c.wrapup);
    if let Some(mut a) = parsed::<AutoPause>("autopause", q.autopause.as_ref())? {
        a.after_misses = q.autopause_after.unwrap_or(1).max(1);
        a.on_busy = q.autopausebusy.unwrap_or(false);
        a.on_unavailable = q.autopauseunavail.unwrap_or(false);
        c.autopause = a;
    }
    c.max_len = q.maxlen.filter(|n| *n > 0);
    c.join_empty =
        parsed::<EmptyConditions>("joinempty", q.joinempty.as_ref())?.unwrap_or_default();
    c.leave_empty =
        parsed::<EmptyConditions>("leavewhenempty", q.leavewhenempty.as_ref())?.unwrap_or_default();
    c.max_wait = secs(q.max_wait).filter(|d| !d.is_zero());
    if let Some(t) = &q.on_timeout {
        c.on_timeout = overflow(t, queues)?;
    }
    c.exit_context = q.context.clone().filter(|s| !s.is_empty());
    c.penalty_members_limit = q.penaltymemberslimit.unwrap_or(0);
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
    c.service_level = secs(q.servicelevel).unwrap_or(c.service_level);
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
            priority: t.priority.unwrap_or(1),
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
    Ok(Announcements {
        frequency: secs(a.frequency).filter(|d| !d.is_zero()),
        min_frequency: secs(a.min_frequency).unwrap_or(d.min_frequency),
        position,
        position_limit: a.position_limit.unwrap_or(d.position_limit),
        holdtime,
        round_seconds: a.round_seconds.unwrap_or(0),
        to_first_user: a.to_first_user.unwrap_or(false),
        periodic: a.periodic.clone().unwrap_or_default(),
        periodic_frequency: secs(a.periodic_frequency).filter(|d| !d.is_zero()),
        periodic_start_delay: secs(a.periodic_start_delay),
        random_periodic: a.random_periodic.unwrap_or(false),
    })
}

fn agent(
    a: &raw::Agent,
    queues: &BTreeSet<&str>,
    nodes: &BTreeSet<&str>,
) -> Result<AgentConfig, KeyError> {
    let mut c = AgentConfig::new(a.id.as_str());
    c.name = a.name.clone().unwrap_or_else(|| a.id.clone());
    c.wrapup = secs(a.wrapuptime);
    for (queue, penalty) in &a.queues {
        if !queues.contains(queue.as_str()) {
            return Err((format!("queues.{queue}"), format!("no queue named {queue:?}")));
        }
        c.memberships.push(Membership { queue: QueueId::new(queue), penalty: *penalty });
    }
    if a.contacts.is_empty() {
        return Err((
            "contacts".into(),
            "no contact: add at least one { endpoint = \"PJSIP/…\" }".into(),
        ));
    }
    for (i, contact) in a.contacts.iter().enumerate() {
        if let Some(unknown) = contact.nodes.iter().find(|n| !nodes.contains(n.as_str())) {
            return Err((format!("contacts[{i}].nodes"), format!("no node named {unknown:?}")));
        }
        if !contact.endpoint.contains('/') {
            return Err((
                format!("contacts[{i}].endpoint"),
                format!("{:?} is not TECH/resource", contact.endpoint),
            ));
        }
        c.contacts.push(Contact {
            endpoint: contact.endpoint.clone(),
            nodes: contact.nodes.iter().map(NodeId::new).collect(),
        });
    }
    Ok(c)
}
