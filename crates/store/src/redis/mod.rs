//! [`RedisStore`]: the shared state in Redis, for any number of starq instances.
//!
//! Every operation is one `FCALL` of a function in the starq Lua library (`lua/*.lua`), so each
//! is atomic: the routing steps of `memory/board.rs`, on the same orderings kept as sorted sets,
//! with the journal appended to a stream inside the same call. This module owns the connection,
//! loading the library (again, when Redis lost it), the per-call timeout and the mapping of
//! Redis failures to [`StoreError`]s; `codec` owns the wire format.
//!
//! Keys: every key of a site starts with `starq:{site}:`, so one site lives in one hash slot and
//! the store runs unchanged on a Redis Cluster (`redis+cluster://`: each site on the shard
//! holding its slot, sites spread over shards) or behind Sentinel. The functions name only the
//! site's key and derive the others from it, all in the same slot.
//!
//! Data model (details in `lua/core.lua`): callers not yet connected in a sorted set per queue
//! (score −priority, member entry time · seq · call id, so `ZRANK` is the position), waiting
//! callers in a sorted set per (queue, penalty window), available agents in a sorted set per
//! (queue, penalty tier) scored by the strategy, and records packed with MessagePack into one
//! string value each: counters per queue (with the queue's packed configuration), one record
//! per agent (its memberships, places and pauses), one per caller (with its reservations; its
//! outcome for an hour once it ended) and one per reservation. A routing call reads each record
//! it needs with one `GET` and writes each changed one back with one `SET`, at its end, and
//! keeps the unpacked records across calls for as long as the stored string is the one it
//! unpacked or wrote. Every function is O(log n)
//! or O(size of its result); times come in as arguments; no `KEYS`/`SCAN`; TTLs (leases only)
//! collect garbage and never decide anything. The library's name carries a hash of its text,
//! so a changed layout always comes with a new library; data written under an older layout
//! is not migrated.
//!
//! Fencing: a new lease tenure's epoch is `max(previous + 1, now_ms × 1000)`, so epochs keep
//! increasing even when Redis lost the lease (restart without persistence, failover to a replica
//! that missed writes): the clock carries them forward. Journal seqs restart the same way when
//! their counter is lost. Both assume instance clocks agree to well within a Redis recovery.
//!
//! Atomicity: a function runs alone, and its journal records are written by the same call.
//! Redis does not roll back a function that fails half-way, so the functions validate before
//! they write and treat the stored state as trusted; the differential test is what keeps them
//! equal to `MemoryStore`.

mod codec;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::cluster::ClusterClient;
use ::redis::cluster_async::ClusterConnection;
use ::redis::sentinel::{SentinelClient, SentinelServerType};
use ::redis::{Client, Cmd, Value};
use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::journal::{JournalEntry, JournalId};
use starq_core::shared::{Notice, Reply, Request, StoredCall};
use starq_core::{AgentId, CallId, Epoch, Fence, NodeId, QueueId, Time};

use crate::{AgentView, Heartbeat, Lease, QueueView, Store, StoreError};

/// The library's source, in load order (the parts share one Lua chunk).
const LUA_PARTS: [&str; 3] =
    [include_str!("lua/core.lua"), include_str!("lua/routing.lua"), include_str!("lua/admin.lua")];

/// How long `configure` may take: it writes every agent of the site in one atomic call.
const CONFIGURE_TIMEOUT: Duration = Duration::from_secs(30);

/// Settings of a [`RedisStore`]. `Debug` shows the URL without its password.
#[derive(Clone)]
pub struct RedisOptions {
    /// Redis URL, e.g. `redis://127.0.0.1:6379/0`; or Sentinels and the name of the master
    /// they watch: `redis+sentinel://host:port[,host:port…]/master-name`; or nodes of a Redis
    /// Cluster: `redis+cluster://host:port[,host:port…]`. Behind Sentinel, the store asks the
    /// Sentinels for the master at connect and again whenever the master it uses fails or
    /// turns out to be a replica (after a failover). On a Cluster, every call goes to the node
    /// that holds the site's slot (following `MOVED` when slots move), and the library is
    /// loaded on every primary.
    pub url: String,
    /// The site (call center): the hash tag of every key.
    pub site: String,
    /// How long one call may take before it fails as [`StoreError::Unavailable`]. Short: while
    /// Redis is away the engine must learn it at once and keep callers on hold.
    pub call_timeout: Duration,
}

impl RedisOptions {
    /// Options with a 500 ms call timeout.
    pub fn new(url: impl Into<String>, site: impl Into<String>) -> Self {
        RedisOptions {
            url: url.into(),
            site: site.into(),
            call_timeout: Duration::from_millis(500),
        }
    }

    /// Checks the URL the way [`RedisStore::connect`] reads it, connecting to nothing: what
    /// `starq check-config` runs, so that a URL it passes is one `serve` can use.
    pub fn check(&self) -> Result<(), StoreError> {
        Clients::new(self).map(drop)
    }
}

impl std::fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisOptions")
            .field("url", &redact_url(&self.url))
            .field("site", &self.site)
            .field("call_timeout", &self.call_timeout)
            .finish()
    }
}

/// The URL with the password in its user info replaced by `***` (all of the user info when it
/// has no `user:` part), for errors and logs: `redis://:***@host:6379`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    // The last `@`: a password may hold an unescaped `@` or `/`, a host never does.
    let Some((userinfo, host)) = rest.rsplit_once('@') else { return url.to_owned() };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => format!("{scheme}://***@{host}"),
    }
}

/// The Redis store. Cloning shares the connection (requests are pipelined over it).
#[derive(Clone)]
pub struct RedisStore {
    /// The connection; to a master, replaced when Sentinel names another one.
    conn: Arc<Mutex<Connection>>,
    sentinel: Option<Arc<Sentinel>>,
    site_key: String,
    library: Library,
    timeout: Duration,
}

/// The Sentinels a store finds its master through, and the master it uses now.
struct Sentinel {
    client: tokio::sync::Mutex<SentinelClient>,
    master: Mutex<String>,
    config: ConnectionManagerConfig,
}

/// A connection to one server (given, or the master Sentinel names), or to a Redis Cluster,
/// which sends each command to the node holding its key's slot. Both reconnect by themselves.
#[derive(Clone)]
enum Connection {
    Server(ConnectionManager),
    Cluster(ClusterConnection),
}

/// Where to connect: one server, the master a set of Sentinels names, or a Redis Cluster.
enum Target {
    Direct(String),
    Sentinel { sentinels: Vec<String>, master: String },
    Cluster { nodes: Vec<String> },
}

impl Target {
    fn parse(url: &str) -> Result<Target, StoreError> {
        let shown = redact_url(url);
        if let Some(rest) = url.strip_prefix("redis+cluster://") {
            let nodes: Vec<String> = rest
                .trim_end_matches('/')
                .split(',')
                .filter(|h| !h.is_empty())
                .map(|h| format!("redis://{h}/"))
                .collect();
            if nodes.is_empty() || rest.trim_end_matches('/').contains('/') {
                return Err(StoreError::Protocol(format!(
                    "cluster url {shown:?}: expected redis+cluster://host:port[,host:port…]"
                )));
            }
            return Ok(Target::Cluster { nodes });
        }
        let Some(rest) = url.strip_prefix("redis+sentinel://") else {
            return Ok(Target::Direct(url.to_owned()));
        };
        let bad = || {
            StoreError::Protocol(format!(
                "sentinel url {shown:?}: expected redis+sentinel://host:port[,host:port…]/master-name"
            ))
        };
        let (hosts, master) = rest.split_once('/').ok_or_else(bad)?;
        let master = master.trim_end_matches('/');
        let sentinels: Vec<String> =
            hosts.split(',').filter(|h| !h.is_empty()).map(|h| format!("redis://{h}/")).collect();
        if sentinels.is_empty() || master.is_empty() || master.contains('/') {
            return Err(bad());
        }
        Ok(Target::Sentinel { sentinels, master: master.to_owned() })
    }
}

/// The clients a URL asks for, built (which checks the URL) but not connected yet.
enum Clients {
    Direct(Client),
    Cluster(ClusterClient),
    Sentinel(SentinelClient),
}

impl Clients {
    fn new(options: &RedisOptions) -> Result<Clients, StoreError> {
        // Errors show the URL without its password: they end up in logs and on terminals.
        let bad = |what: &str, e: ::redis::RedisError| {
            StoreError::Protocol(format!("{what} url {:?}: {e}", redact_url(&options.url)))
        };
        let timeout = options.call_timeout;
        Ok(match Target::parse(&options.url)? {
            Target::Direct(url) => {
                Clients::Direct(Client::open(url.as_str()).map_err(|e| bad("redis", e))?)
            }
            Target::Cluster { nodes } => Clients::Cluster(
                ClusterClient::builder(nodes)
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    // A call fails fast while the cluster is away (the engine keeps callers on
                    // hold and retries); redirections are followed regardless.
                    .retries(1)
                    .build()
                    .map_err(|e| bad("cluster", e))?,
            ),
            Target::Sentinel { sentinels, master } => Clients::Sentinel(
                SentinelClient::build(sentinels, master, None, SentinelServerType::Master)
                    .map_err(|e| bad("sentinel", e))?,
            ),
        })
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore").field("site_key", &self.site_key).finish_non_exhaustive()
    }
}

/// The library text and the names it registers, versioned by a hash of the source so that two
/// starq versions never call each other's functions.
#[derive(Clone, Debug)]
struct Library {
    prefix: String,
    code: String,
}

impl Library {
    fn new() -> Self {
        // The core's constants the functions apply, so the two can never drift apart.
        let constants = format!(
            "local RINGALL_MAX = {}\nlocal UNREACHABLE_RETRY = {}\nlocal LEG_TEARDOWN = {}\n",
            starq_core::strategy::RINGALL_MAX_AGENTS,
            starq_core::shared::UNREACHABLE_RETRY.as_millis(),
            starq_core::shared::LEG_TEARDOWN.as_millis()
        );
        let source = format!("{constants}{}", LUA_PARTS.concat());
        let version = fnv1a(source.as_bytes());
        let prefix = format!("starq_{version:016x}_");
        let code = format!("#!lua name=starq_{version:016x}\nlocal FN = '{prefix}'\n{source}");
        Library { prefix, code }
    }

    fn function(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Maps a Redis failure to what the caller does about it.
fn store_error(e: &redis::RedisError) -> StoreError {
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return StoreError::Unavailable(e.to_string());
    }
    match e.code() {
        // Redis is up but not serving (loading its data, a replica cut off, a script stuck).
        Some("LOADING" | "MASTERDOWN" | "BUSY" | "TRYAGAIN" | "CLUSTERDOWN" | "READONLY") => {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Protocol(e.to_string()),
    }
}

/// Awaits a step of connecting (`what`) for at most `timeout`; a step that takes longer fails
/// as unavailable, like one Redis refused.
async fn within<T>(
    timeout: Duration,
    what: &str,
    step: impl Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    tokio::time::timeout(timeout, step)
        .await
        .map_err(|_| StoreError::Unavailable(format!("{what} timed out")))?
        .map_err(|e| store_error(&e))
}

/// Connects a manager to `client`'s server within `timeout`.
async fn manager(
    client: Client,
    config: ConnectionManagerConfig,
    timeout: Duration,
) -> Result<ConnectionManager, StoreError> {
    within(timeout, "connect", ConnectionManager::new_with_config(client, config)).await
}

/// A mutex's value; a panic elsewhere while it was held leaves a value still fit to use.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn function_missing(e: &redis::RedisError) -> bool {
    e.to_string().contains("Function not found")
}

impl RedisStore {
    /// Connects, and loads the Lua library. Fails with [`StoreError::Unavailable`] when Redis
    /// cannot be reached within the call timeout.
    pub async fn connect(options: RedisOptions) -> Result<Self, StoreError> {
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(options.call_timeout))
            .set_response_timeout(Some(options.call_timeout))
            // Reconnecting happens in the background; a request never waits for it.
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(200));
        let timeout = options.call_timeout;
        let (conn, sentinel) = match Clients::new(&options)? {
            Clients::Direct(client) => {
                (Connection::Server(manager(client, config, timeout).await?), None)
            }
            Clients::Cluster(client) => {
                let conn =
                    within(timeout, "cluster connect", client.get_async_connection()).await?;
                (Connection::Cluster(conn), None)
            }
            Clients::Sentinel(mut sentinel) => {
                let client = within(timeout, "sentinel", sentinel.async_get_client()).await?;
                let address = client.get_connection_info().addr().to_string();
                let conn = Connection::Server(manager(client, config.clone(), timeout).await?);
                let sentinel = Sentinel {
                    client: tokio::sync::Mutex::new(sentinel),
                    master: Mutex::new(address),
                    config,
                };
                (conn, Some(Arc::new(sentinel)))
            }
        };
        let store = RedisStore {
            conn: Arc::new(Mutex::new(conn)),
            sentinel,
            site_key: format!("starq:{{{}}}:s", options.site),
            library: Library::new(),
            timeout: options.call_timeout,
        };
        store.load_library().await?;
        Ok(store)
    }

    /// Asks the Sentinels for the master again and, when it moved, connects to the new one.
    /// Best effort, after a request failed as `Unavailable`: the next requests use whatever
    /// connection this leaves.
    async fn follow_master(&self) {
        let Some(sentinel) = &self.sentinel else { return };
        // One at a time: requests failing together ask once.
        let Ok(mut client) = sentinel.client.try_lock() else { return };
        let Ok(Ok(found)) = tokio::time::timeout(self.timeout, client.async_get_client()).await
        else {
            return;
        };
        let address = found.get_connection_info().addr().to_string();
        if *lock(&sentinel.master) == address {
            return;
        }
        if let Ok(conn) = manager(found, sentinel.config.clone(), self.timeout).await {
            *lock(&self.conn) = Connection::Server(conn);
            *lock(&sentinel.master) = address;
        }
    }

    /// Loads (or replaces) the library, on every primary of a Cluster. Done at connect and
    /// whenever Redis lost it (or a node joining a Cluster never had it).
    async fn load_library(&self) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("FUNCTION");
        cmd.arg("LOAD").arg("REPLACE").arg(&self.library.code);
        self.send(&cmd).await.map(drop).map_err(|e| store_error(&e))
    }

    async fn send(&self, cmd: &Cmd) -> Result<Value, redis::RedisError> {
        self.send_within(cmd, self.timeout).await
    }

    async fn send_within(&self, cmd: &Cmd, timeout: Duration) -> Result<Value, redis::RedisError> {
        let conn = lock(&self.conn).clone();
        let reply = async {
            match conn {
                Connection::Server(mut c) => cmd.query_async::<Value>(&mut c).await,
                Connection::Cluster(mut c) => cmd.query_async::<Value>(&mut c).await,
            }
        };
        match tokio::time::timeout(timeout, reply).await {
            Ok(result) => result,
            Err(_) => Err(redis::RedisError::from(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "redis call timed out",
            ))),
        }
    }

    /// Calls one library function on the site; reloads the library once if Redis lost it (a
    /// restart without persistence, a failover to a replica without it).
    async fn fcall(&self, name: &str, args: &[String]) -> Result<Value, StoreError> {
        self.fcall_within(name, args, self.timeout).await
    }

    async fn fcall_within(
        &self,
        name: &str,
        args: &[String],
        timeout: Duration,
    ) -> Result<Value, StoreError> {
        let mut cmd = redis::cmd("FCALL");
        cmd.arg(self.library.function(name)).arg(1).arg(&self.site_key).arg(args);
        let result = match self.send_within(&cmd, timeout).await {
            Ok(v) => Ok(v),
            Err(e) if function_missing(&e) => {
                self.load_library().await?;
                self.send_within(&cmd, timeout).await.map_err(|e| store_error(&e))
            }
            Err(e) => Err(store_error(&e)),
        };
        if self.sentinel.is_some() && matches!(result, Err(StoreError::Unavailable(_))) {
            // In the background: the caller learns at once that Redis is unavailable.
            let store = self.clone();
            tokio::spawn(async move { store.follow_master().await });
        }
        result
    }

    /// A connection-level round trip through the cheapest library function: the Redis ceiling
    /// the benchmark compares decisions with.
    pub async fn noop(&self) -> Result<(), StoreError> {
        self.fcall("noop", &[]).await.map(drop)
    }

    /// The strategy score the Lua library computes for an agent: what the store's indexes sort
    /// by. Exposed so tests can check it against `Strategy::score`.
    pub async fn lua_score(
        &self,
        strategy: starq_core::strategy::Strategy,
        stats: &starq_core::strategy::AgentStats,
    ) -> Result<u64, StoreError> {
        let args = [
            strategy.as_str().to_owned(),
            stats.order.to_string(),
            stats.penalty.to_string(),
            stats.last_call_end.0.to_string(),
            stats.calls_taken.to_string(),
            stats.draw.to_string(),
        ];
        codec::number(&self.fcall("score", &args).await?)
    }

    /// The name of the library currently loaded by this version (for operations and tests).
    pub fn library_name(&self) -> String {
        self.library.prefix.trim_end_matches('_').to_owned()
    }

    fn fence_args(fence: &Fence) -> [String; 2] {
        [fence.node.to_string(), fence.epoch.0.to_string()]
    }

    fn fenced(fence: &Fence) -> StoreError {
        StoreError::Fenced { node: fence.node.clone(), epoch: fence.epoch }
    }

    fn lease_from(node: &NodeId, owner: &str, v: &Value) -> Result<Option<Lease>, StoreError> {
        if *v == Value::Nil {
            return Ok(None);
        }
        let items = codec::array(v)?;
        let [epoch, expires] = items else {
            return Err(StoreError::Protocol(format!("lease reply {v:?}")));
        };
        Ok(Some(Lease {
            node: node.clone(),
            owner: owner.to_owned(),
            epoch: Epoch(codec::number(epoch)?),
            expires: Time(codec::number(expires)?),
        }))
    }
}

impl Store for RedisStore {
    async fn configure(
        &self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
    ) -> Result<(), StoreError> {
        // Not on the call path, and proportional to the site: tens of milliseconds per thousand
        // agents, so it gets more than a routing call's timeout.
        let timeout = self.timeout.max(CONFIGURE_TIMEOUT);
        let args = codec::configure_args(queues, agents);
        self.fcall_within("configure", &args, timeout).await.map(drop)
    }

    async fn reconfigure(
        &self,
        queues: &[QueueConfig],
        agents: &[AgentConfig],
        now: Time,
    ) -> Result<Vec<Notice>, StoreError> {
        let timeout = self.timeout.max(CONFIGURE_TIMEOUT);
        let mut args = vec![now.0.to_string()];
        args.extend(codec::configure_args(queues, agents));
        let v = self.fcall_within("reconfigure", &args, timeout).await?;
        Ok(codec::reply(&v)?.notices)
    }

    async fn apply(&self, request: Request) -> Result<Reply, StoreError> {
        codec::reply(&self.fcall("apply", &codec::request_args(&request)).await?)
    }

    async fn position(&self, call: &CallId) -> Result<Option<u32>, StoreError> {
        match self.fcall("position", &[call.to_string()]).await? {
            Value::Nil => Ok(None),
            v => codec::number(&v).map(Some),
        }
    }

    async fn node_calls(&self, node: &NodeId) -> Result<Vec<StoredCall>, StoreError> {
        codec::stored_calls(&self.fcall("node_calls", &[node.to_string()]).await?)
    }

    async fn agent(&self, agent: &AgentId) -> Result<Option<AgentView>, StoreError> {
        codec::agent_view(&self.fcall("agent", &[agent.to_string()]).await?)
    }

    async fn queue(&self, queue: &QueueId) -> Result<Option<QueueView>, StoreError> {
        codec::queue_view(&self.fcall("queue", &[queue.to_string()]).await?)
    }

    async fn heartbeat(
        &self,
        instance: &str,
        now: Time,
        ttl: Duration,
    ) -> Result<Heartbeat, StoreError> {
        let args = [instance.to_owned(), now.0.to_string(), ttl.as_millis().to_string()];
        let v = self.fcall("heartbeat", &args).await?;
        match codec::array(&v)? {
            [configured, live] => Ok(Heartbeat {
                live: codec::array(live)?.iter().map(codec::text).collect::<Result<_, _>>()?,
                configured: codec::number::<u8>(configured)? == 1,
            }),
            other => Err(StoreError::Protocol(format!("heartbeat reply {other:?}"))),
        }
    }

    async fn post_notices(&self, notices: Vec<Notice>) -> Result<(), StoreError> {
        if notices.is_empty() {
            return Ok(());
        }
        let args: Vec<String> =
            notices.iter().flat_map(|n| [n.node().to_string(), codec::encode_notice(n)]).collect();
        self.fcall("post_notices", &args).await.map(drop)
    }

    async fn take_notices(&self, fence: &Fence, limit: usize) -> Result<Vec<Notice>, StoreError> {
        let [node, epoch] = Self::fence_args(fence);
        let v = self.fcall("take_notices", &[node, epoch, limit.max(1).to_string()]).await?;
        let items = codec::array(&v)?;
        match items.first().map(codec::text).transpose()?.as_deref() {
            Some("ok") => codec::array(items.get(1).unwrap_or(&Value::Nil))?
                .iter()
                .map(|n| codec::decode_notice(&codec::text(n)?))
                .collect(),
            Some("fenced") => Err(Self::fenced(fence)),
            _ => Err(StoreError::Protocol(format!("take_notices reply {v:?}"))),
        }
    }

    async fn acquire_lease(
        &self,
        node: &NodeId,
        owner: &str,
        now: Time,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let args =
            [node.to_string(), owner.to_owned(), now.0.to_string(), ttl.as_millis().to_string()];
        Self::lease_from(node, owner, &self.fcall("acquire", &args).await?)
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        now: Time,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let args = [
            lease.node.to_string(),
            lease.owner.clone(),
            lease.epoch.0.to_string(),
            now.0.to_string(),
            ttl.as_millis().to_string(),
        ];
        match self.fcall("renew", &args).await? {
            Value::Nil => Ok(None),
            v => Ok(Some(Lease { expires: Time(codec::number(&v)?), ..lease.clone() })),
        }
    }

    async fn release_lease(&self, lease: &Lease) -> Result<(), StoreError> {
        let args = [lease.node.to_string(), lease.owner.clone(), lease.epoch.0.to_string()];
        self.fcall("release", &args).await.map(drop)
    }

    async fn read_journal(
        &self,
        group: &str,
        limit: usize,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        let v = self.fcall("jread", &[group.to_owned(), limit.to_string()]).await?;
        codec::array(&v)?.iter().map(codec::journal_entry).collect()
    }

    async fn journal_backlog(&self, group: &str) -> Result<u64, StoreError> {
        let v = self.fcall("jbacklog", &[group.to_owned()]).await?;
        codec::number(&v)
    }

    async fn journal_id(&self) -> Result<Option<JournalId>, StoreError> {
        codec::journal_id(&self.fcall("jid", &[]).await?)
    }

    async fn ack_journal(&self, group: &str, seq: u64) -> Result<(), StoreError> {
        self.fcall("jack", &[group.to_owned(), seq.to_string()]).await.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_stay_out_of_urls_shown_debug_output_and_url_errors() {
        assert_eq!(redact_url("redis://:hunter2@h:6379/0"), "redis://:***@h:6379/0");
        assert_eq!(redact_url("rediss://starq:hun@ter2@h"), "rediss://starq:***@h");
        assert_eq!(redact_url("redis://hunter2@h"), "redis://***@h");
        assert_eq!(redact_url("redis://h:6379"), "redis://h:6379");
        let options = RedisOptions::new("redis://starq:hunter2@h:6379", "s");
        assert!(!format!("{options:?}").contains("hunter2"), "{options:?}");
        for url in [
            "redis://starq:hunter2@h:notaport",
            "redis+sentinel://:hunter2@h1:26379",
            "redis+cluster://:hunter2@h1:6379/x/y",
        ] {
            let error = RedisOptions::new(url, "s").check().expect_err(url);
            assert!(matches!(error, StoreError::Protocol(_)), "{url}: {error:?}");
            assert!(!format!("{error} {error:?}").contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn checking_a_url_connects_to_nothing() {
        // Nothing listens on port 1: only connecting would fail.
        for url in [
            "redis://:pw@127.0.0.1:1/0",
            "redis+sentinel://127.0.0.1:1/m",
            "redis+cluster://127.0.0.1:1",
        ] {
            assert_eq!(RedisOptions::new(url, "s").check(), Ok(()), "{url}");
        }
    }
}
