//! A private `redis-server` for one test: its own ephemeral port and temporary directory, never
//! the shared server on 6379. Killed (and its directory removed) when dropped, so tests can also
//! stop and restart it on purpose.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different part

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use starq_store::{RedisOptions, RedisStore};

/// A `redis-server` process owned by the test.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
    /// Whether the server keeps its data across restarts (append-only file).
    persistent: bool,
    /// More arguments (e.g. `--replicaof`).
    extra: Vec<String>,
}

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh site name, so every store built by a test starts empty. It names the test process
/// too: a store of another test process whose server was killed reconnects to whatever server
/// takes its port next, perhaps this test's, and must not find its own site there.
pub fn fresh_site() -> String {
    format!("t{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

impl RedisServer {
    /// Starts a server that keeps its data in an append-only file across restarts.
    pub fn start() -> Self {
        Self::start_with(true)
    }

    /// Starts a server; without persistence a restart loses everything (functions included).
    pub fn start_with(persistent: bool) -> Self {
        Self::start_with_args(persistent, Vec::new())
    }

    /// Starts a server (without persistence) replicating the one on `master_port`.
    pub fn start_replica_of(master_port: u16) -> Self {
        let args = vec!["--replicaof".to_owned(), "127.0.0.1".to_owned(), master_port.to_string()];
        Self::start_with_args(false, args)
    }

    /// Starts a server with more arguments.
    pub fn start_with_args(persistent: bool, extra: Vec<String>) -> Self {
        let mut server =
            RedisServer { child: None, port: free_port(), dir: temp_dir(), persistent, extra };
        // Another test process may take the port between `free_port` and the server's bind
        // (it restarts its own server on a port it freed): then try another one.
        for _ in 0..5 {
            if server.launch() {
                return server;
            }
            server.stop();
            server.port = free_port();
        }
        panic!("no free port for redis-server");
    }

    /// The URL to connect to.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A store on a fresh site of this server.
    pub async fn store(&self) -> RedisStore {
        self.store_on(&fresh_site()).await
    }

    /// A store (its own connection) on the given site.
    pub async fn store_on(&self, site: &str) -> RedisStore {
        RedisStore::connect(RedisOptions::new(self.url(), site)).await.expect("connect to redis")
    }

    /// Whether the server came up on its port (not another process's server there).
    fn launch(&mut self) -> bool {
        let appendonly = if self.persistent { "yes" } else { "no" };
        let child = Command::new(redis_server())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", appendonly, "--appendfsync", "always"])
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--daemonize",
                "no",
                "--protected-mode",
                "yes",
                "--enable-debug-command",
                "local",
            ])
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (scripts/test installs it)");
        self.child = Some(child);
        self.child.as_mut().is_some_and(|c| came_up(c, self.port))
    }

    /// Sends one inline command and returns the first line of the answer.
    pub fn command(&self, line: &str) -> String {
        command(self.port, line)
    }

    /// Redis CPU per `FCALL` (µs) since the last `CONFIG RESETSTAT`, from `INFO commandstats`.
    pub fn fcall_usec(&self) -> Option<f64> {
        let text = self.commandstats()?;
        let line = text.lines().find(|l| l.starts_with("cmdstat_fcall:"))?;
        let field = line.split(',').find_map(|f| f.strip_prefix("usec_per_call="))?;
        field.parse().ok()
    }

    /// `INFO commandstats` as text: calls and CPU of every command since the last
    /// `CONFIG RESETSTAT`, those run inside functions included.
    pub fn commandstats(&self) -> Option<String> {
        info(self.port, "commandstats")
    }

    /// A field of `INFO replication` (e.g. `master_repl_offset`), as text.
    pub fn replication(&self, field: &str) -> Option<String> {
        let text = info(self.port, "replication")?;
        let prefix = format!("{field}:");
        text.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
    }

    /// Kills the server (like a crash: no shutdown save).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): it keeps its port and its data but answers nothing, like
    /// a host gone silent. Dropping the server still kills it.
    pub fn freeze(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill").args(["-STOP", &pid.to_string()]).status();
        assert!(status.is_ok_and(|s| s.success()), "freeze redis-server {pid}");
    }

    /// Starts it again on the same port and directory.
    pub fn restart(&mut self) {
        self.stop();
        assert!(self.launch(), "redis-server did not come back on port {}", self.port);
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Sentinel owned by the test, watching one master under a name; killed (and its
/// directory removed) when dropped.
pub struct SentinelServer {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl SentinelServer {
    /// Starts a Sentinel that watches the master on `master_port` as `name`, quorum 1. It
    /// declares the master down only after a minute: on a loaded machine a master slow to
    /// answer for a second must not be failed over behind the test's back (which made the
    /// failover test find its data on the wrong server); a test that wants a failover asks
    /// for it (`SENTINEL FAILOVER`).
    pub fn start(name: &str, master_port: u16) -> Self {
        let dir = temp_dir();
        let port = free_port();
        let conf = dir.join("sentinel.conf");
        let text = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor {name} 127.0.0.1 {master_port} 1\n\
             sentinel down-after-milliseconds {name} 60000\n\
             sentinel failover-timeout {name} 5000\n",
            dir.display()
        );
        std::fs::write(&conf, text).expect("sentinel config");
        let mut child = Command::new(redis_server())
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server --sentinel");
        if !came_up(&mut child, port) {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&dir);
            return Self::start(name, master_port);
        }
        SentinelServer { child, port, dir }
    }

    /// The store URL naming this Sentinel and the master `name`.
    pub fn url(&self, name: &str) -> String {
        format!("redis+sentinel://127.0.0.1:{}/{name}", self.port)
    }

    /// Sends one inline command and returns the first line of the answer.
    pub fn command(&self, line: &str) -> String {
        command(self.port, line)
    }
}

impl Drop for SentinelServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Redis Cluster of three primaries (no replicas), each slot range on one, owned by the
/// test; its servers are killed when dropped.
pub struct RedisCluster {
    servers: Vec<RedisServer>,
}

impl RedisCluster {
    /// Starts three servers in cluster mode, gives each a third of the slots, introduces them
    /// to each other and waits until every one reports the cluster up.
    pub fn start() -> Self {
        let servers: Vec<RedisServer> = (0..3)
            .map(|_| {
                // The cluster bus takes its own port (by default the client port + 10000,
                // which an ephemeral port may not have).
                let args = ["--cluster-enabled", "yes", "--cluster-port", &free_port().to_string()];
                RedisServer::start_with_args(false, args.map(str::to_owned).to_vec())
            })
            .collect();
        let ranges = [(0, 5460), (5461, 10922), (10923, 16383)];
        for (server, (first, last)) in servers.iter().zip(ranges) {
            let reply = server.command(&format!("CLUSTER ADDSLOTSRANGE {first} {last}"));
            assert_eq!(reply, "+OK", "slots {first}-{last}");
        }
        for other in &servers[1..] {
            let bus = bulk(other.port, "CONFIG GET cluster-port")
                .and_then(|text| text.lines().last().map(str::to_owned))
                .expect("cluster-port");
            let meet = format!("CLUSTER MEET 127.0.0.1 {} {bus}", other.port);
            assert_eq!(servers[0].command(&meet), "+OK", "{meet}");
        }
        for _ in 0..1000 {
            let up = servers.iter().all(|s| {
                bulk(s.port, "CLUSTER INFO")
                    .is_some_and(|text| text.lines().any(|l| l == "cluster_state:ok"))
            });
            if up {
                return RedisCluster { servers };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("the test's Redis Cluster did not come up");
    }

    /// The store URL naming every node.
    pub fn url(&self) -> String {
        let nodes: Vec<String> =
            self.servers.iter().map(|s| format!("127.0.0.1:{}", s.port)).collect();
        format!("redis+cluster://{}", nodes.join(","))
    }

    /// The number of keys each server holds.
    pub fn keys_per_server(&self) -> Vec<u64> {
        self.servers
            .iter()
            .map(|s| s.command("DBSIZE").trim_start_matches(':').parse().expect("DBSIZE"))
            .collect()
    }
}

fn temp_dir() -> PathBuf {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("starq-redis-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// Waits until `child` answers on `port`; false if it exited first or another process
/// answers there (its `process_id` is not the child's).
fn came_up(child: &mut Child, port: u16) -> bool {
    for _ in 0..500 {
        if child.try_wait().ok().flatten().is_some() {
            return false;
        }
        if ping(port) {
            let pid = format!("process_id:{}", child.id());
            return info(port, "server").is_some_and(|text| text.lines().any(|l| l == pid));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("redis-server on port {port} did not come up");
}

/// `INFO <section>` of the server on `port`, as text.
fn info(port: u16, section: &str) -> Option<String> {
    bulk(port, &format!("INFO {section}"))
}

/// The bulk-string answer to one inline command (`INFO`, `CLUSTER INFO`), as text; for an
/// array of bulk strings (`CONFIG GET`), its elements, one per line.
fn bulk(port: u16, line: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(format!("{line}\r\n").as_bytes()).ok()?;
    let header = read_line(&mut s)?;
    let Some(count) = header.strip_prefix('*') else { return bulk_body(&mut s, &header) };
    let mut out = Vec::new();
    for _ in 0..count.parse::<usize>().ok()? {
        let header = read_line(&mut s)?;
        out.push(bulk_body(&mut s, &header)?);
    }
    Some(out.join("\n"))
}

/// The text of a bulk string whose header (`$<len>`) was read: `<text>\r\n` follows.
fn bulk_body(s: &mut TcpStream, header: &str) -> Option<String> {
    let len: usize = header.strip_prefix('$')?.parse().ok()?;
    let mut body = vec![0u8; len + 2];
    s.read_exact(&mut body).ok()?;
    body.truncate(len);
    Some(String::from_utf8_lossy(&body).replace('\r', ""))
}

/// One line of an answer, without its `\r\n`.
fn read_line(s: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        s.read_exact(&mut byte).ok()?;
        if byte[0] == b'\n' {
            break;
        }
        line.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&line).trim_end().to_owned())
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 7];
    s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Sends one inline command to the server on `port` and returns the first line of the answer.
fn command(port: u16, line: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).expect("timeout");
    s.write_all(format!("{line}\r\n").as_bytes()).expect("write");
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while s.read_exact(&mut byte).is_ok() && byte[0] != b'\n' {
        out.push(byte[0]);
    }
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

fn redis_server() -> String {
    std::env::var("STARQ_REDIS_SERVER").unwrap_or_else(|_| "redis-server".to_owned())
}

/// An ephemeral port the kernel just handed out (free, barring a race with another process).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}
