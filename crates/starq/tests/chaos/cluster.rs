//! The system under test, as separate processes: `starq serve` instances (killed with
//! SIGKILL, frozen with SIGSTOP), a private `redis-server`, and simulated Asterisk nodes in
//! this process (their faults injected directly).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use starq_sim::phones::PhoneScript;
use starq_sim::rng::Dist;
use starq_sim::{Sim, SimConfig};
use starq_store::{RedisOptions, RedisStore};

use crate::support::RedisServer;

/// Agents in the chaos site, `agent0..`, each with one phone reachable from every node.
pub const AGENTS: usize = 6;
/// Lease of a node, in seconds (`lease_ttl_secs`); renewed every third of it.
pub const LEASE_SECS: u64 = 1;
/// How long a node's event stream may stay down before it is declared lost.
pub const NODE_DOWN_SECS: u64 = 2;

/// One `starq serve` process.
pub struct Instance {
    pub name: String,
    pub http: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Instance {
    fn spawn(&mut self) {
        // Appended to, so a restarted instance's log keeps its predecessor's.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("instance log");
        let child = Command::new(env!("CARGO_BIN_EXE_starq"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("starq serve starts");
        self.child = Some(child);
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no drain, no lease release, nothing flushed.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the process.
    pub fn signal(&self, signal: &str) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill").args([signal, &pid.to_string()]).status();
        }
    }

    /// The last lines of its log, for a failing run.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.signal("-CONT");
        self.kill();
    }
}

/// The whole system.
pub struct Cluster {
    pub redis: RedisServer,
    pub sim: Sim,
    pub instances: Vec<Instance>,
    pub site: String,
    http: reqwest::Client,
    _dir: TempDir,
}

/// A directory removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        // `STARQ_CHAOS_KEEP=1` keeps the instances' configurations and logs for a post-mortem.
        if std::env::var_os("STARQ_CHAOS_KEEP").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        } else {
            eprintln!("instance logs kept in {}", self.0.display());
        }
    }
}

impl Cluster {
    /// Starts Redis, `nodes` simulated nodes with the agents' phones, and `instances`
    /// instances, and waits until every node is owned.
    pub async fn start(nodes: usize, instances: usize, seed: u64) -> Cluster {
        let redis = RedisServer::start_with(true);
        let mut cfg = SimConfig::local(nodes, seed);
        cfg.phones = (0..AGENTS)
            .map(|i| {
                let mut phone = PhoneScript::answering(format!("PJSIP/agent{i}"), 0, 0);
                phone.answer_delay = Dist::Uniform { min_ms: 200, max_ms: 1_500 };
                phone.talk_time = Dist::Uniform { min_ms: 800, max_ms: 3_000 };
                phone.answer_probability = 0.9;
                phone
            })
            .collect();
        let sim = Sim::start(cfg).await.expect("simulated nodes start");
        let dir = std::env::temp_dir().join(format!("starq-chaos-{}-{seed}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let site = format!("chaos{seed}");
        let mut list = Vec::new();
        for i in 0..instances {
            let name = format!("starq-{i}");
            let http = free_port();
            let config = dir.join(format!("{name}.toml"));
            std::fs::write(&config, config_text(&name, http, &redis.url(), &site, &sim))
                .expect("config written");
            let log = dir.join(format!("{name}.log"));
            let mut instance = Instance { name, http, config, log, child: None };
            instance.spawn();
            list.push(instance);
        }
        let cluster = Cluster {
            redis,
            sim,
            instances: list,
            site,
            http: reqwest::Client::builder()
                .timeout(Duration::from_millis(500))
                .build()
                .expect("HTTP client"),
            _dir: TempDir(dir),
        };
        cluster.until_owned(Duration::from_secs(20)).await;
        cluster
    }

    /// A store handle of the site, for reading the journal and agents.
    pub async fn store(&self) -> RedisStore {
        RedisStore::connect(RedisOptions::new(self.redis.url(), &self.site))
            .await
            .expect("connect to the chaos Redis")
    }

    /// Restarts a killed instance.
    pub fn restart(&mut self, index: usize) {
        let instance = &mut self.instances[index];
        instance.kill();
        instance.spawn();
    }

    /// Logs every agent in, through whichever instance answers.
    pub async fn login_all(&self) {
        for a in 0..AGENTS {
            let mut done = false;
            for _ in 0..50 {
                for instance in &self.instances {
                    let url = format!("http://127.0.0.1:{}/agents/agent{a}/login", instance.http);
                    if let Ok(r) = self.http.post(url).send().await
                        && r.status().as_u16() == 202
                    {
                        done = true;
                        break;
                    }
                }
                if done {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            assert!(done, "agent{a} could not be logged in");
        }
    }

    /// What one instance says of itself (`None`: it does not answer).
    pub async fn status(&self, index: usize) -> Option<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/status", self.instances[index].http);
        let response = self.http.get(url).send().await.ok()?;
        response.json().await.ok()
    }

    /// The instance that reports `node` connected, if one does.
    pub async fn owner_of(&self, node: &str) -> Option<usize> {
        for i in 0..self.instances.len() {
            if let Some(s) = self.status(i).await
                && s["nodes"][node] == "connected"
            {
                return Some(i);
            }
        }
        None
    }

    /// Waits until every live node is connected at some instance; returns how long it took.
    pub async fn until_owned(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let mut all = true;
            for (i, node) in self.sim.nodes().iter().enumerate() {
                if node.is_alive() && self.owner_of(&format!("node{i}")).await.is_none() {
                    all = false;
                }
            }
            if all {
                return start.elapsed();
            }
            if start.elapsed() > limit {
                panic!("nodes not owned after {limit:?}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every running instance reports ready (store reachable, not draining).
    pub async fn until_ready(&self, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let mut all = true;
            for (i, instance) in self.instances.iter().enumerate() {
                if instance.pid().is_some()
                    && !self.status(i).await.is_some_and(|s| s["store_available"] == true)
                {
                    all = false;
                }
            }
            if all {
                return start.elapsed();
            }
            if start.elapsed() > limit {
                panic!("instances not ready after {limit:?}:\n{}", self.logs());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Every instance's last log lines.
    pub fn logs(&self) -> String {
        self.instances.iter().map(|i| format!("--- {} ---\n{}\n", i.name, i.log_tail(40))).collect()
    }

    /// The simulated nodes.
    pub fn nodes(&self) -> &[Arc<starq_sim::server::NodeHandle>] {
        self.sim.nodes()
    }
}

fn config_text(name: &str, http: u16, redis: &str, site: &str, sim: &Sim) -> String {
    let mut text = format!(
        "[instance]\nname = \"{name}\"\nlease_ttl_secs = {LEASE_SECS}\nnode_down_after_secs = \
         {NODE_DOWN_SECS}\ndrain_grace_secs = 1\n\n[store]\nredis_url = \"{redis}\"\nsite = \
         \"{site}\"\n\n[http]\nlisten = \"127.0.0.1:{http}\"\n\n"
    );
    for (i, node) in sim.nodes().iter().enumerate() {
        let ari = node.ari_config("starq");
        let (user, password) = node.credentials();
        text += &format!(
            "[[nodes]]\nname = \"node{i}\"\nari_url = \"{}\"\nusername = \"{user}\"\npassword = \
             \"{password}\"\n\n",
            ari.ari_url
        );
    }
    text += "[queues.support]\nstrategy = \"rrmemory\"\ntimeout = 5\nretry = 1\n\n";
    for a in 0..AGENTS {
        text += &format!(
            "[[agents]]\nid = \"agent{a}\"\nqueues = {{ support = 0 }}\ncontacts = [{{ endpoint = \"PJSIP/agent{a}\" }}]\n\n"
        );
    }
    text
}

fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    listener.local_addr().expect("local addr").port()
}
