//! A simulation: several nodes in one process sharing one world (ground truth, agent
//! phones). This is the library entry point for tests, the demo and `starq sim`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use crate::clock::Now;
use crate::node::config::NodeConfig;
use crate::node::state::World;
use crate::phones::PhoneScript;
use crate::server::NodeHandle;
use crate::truth::Truth;

/// How to start a simulation.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of nodes.
    pub nodes: usize,
    /// Address to listen on.
    pub host: IpAddr,
    /// Port of node 0; node `i` listens on `base_port + i`. 0 gives every node an ephemeral
    /// port.
    pub base_port: u16,
    /// Seed of every random choice (phone answers, traffic).
    pub seed: u64,
    /// Settings applied to every node; `asterisk_id` is replaced per node.
    pub node: NodeConfig,
    /// Agent phones.
    pub phones: Vec<PhoneScript>,
}

impl SimConfig {
    /// `nodes` nodes on ephemeral loopback ports with default settings.
    pub fn local(nodes: usize, seed: u64) -> Self {
        Self {
            nodes,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
            seed,
            node: NodeConfig::for_index(0),
            phones: Vec::new(),
        }
    }
}

/// Why a simulation could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A node's port could not be bound.
    #[error("node {index}: cannot listen on {addr}: {source}")]
    Bind {
        /// Node index.
        index: usize,
        /// Address tried.
        addr: SocketAddr,
        /// The bind error.
        source: std::io::Error,
    },
    /// `base_port + nodes` does not fit in a port number.
    #[error("base port {base} with {nodes} nodes runs past port 65535")]
    PortRange {
        /// Base port asked for.
        base: u16,
        /// Node count asked for.
        nodes: usize,
    },
}

/// Running simulated nodes and their shared world.
#[derive(Debug)]
pub struct Sim {
    world: Arc<World>,
    nodes: Vec<Arc<NodeHandle>>,
    seed: u64,
}

impl Sim {
    /// Starts every node and serves until [`Sim::shutdown`] (or the runtime ends).
    pub async fn start(cfg: SimConfig) -> Result<Self, SimError> {
        let world = Arc::new(World::new(Now::read().mono));
        for phone in &cfg.phones {
            world.phones().set(phone.clone());
        }
        let mut nodes = Vec::with_capacity(cfg.nodes);
        for index in 0..cfg.nodes {
            let port = if cfg.base_port == 0 {
                0
            } else {
                u16::try_from(usize::from(cfg.base_port) + index)
                    .map_err(|_| SimError::PortRange { base: cfg.base_port, nodes: cfg.nodes })?
            };
            let addr = SocketAddr::new(cfg.host, port);
            let mut node_cfg = cfg.node.clone();
            node_cfg.asterisk_id = NodeConfig::for_index(index).asterisk_id;
            let node = NodeHandle::start(index, addr, node_cfg, cfg.seed, world.clone())
                .await
                .map_err(|source| SimError::Bind { index, addr, source })?;
            nodes.push(node);
        }
        Ok(Self { world, nodes, seed: cfg.seed })
    }

    /// All nodes, by index.
    pub fn nodes(&self) -> &[Arc<NodeHandle>] {
        &self.nodes
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> Option<&Arc<NodeHandle>> {
        self.nodes.get(index)
    }

    /// The seed the simulation runs with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Adds or replaces an agent phone.
    pub fn set_phone(&self, script: PhoneScript) {
        let endpoint = script.endpoint.clone();
        self.world.phones().set(script);
        self.notify(&endpoint);
    }

    /// Changes an agent phone in place (busy, unreachable, answer probability, nodes…);
    /// false if there is no such phone.
    pub fn update_phone(&self, endpoint: &str, change: impl FnOnce(&mut PhoneScript)) -> bool {
        let found = self.world.phones().update(endpoint, change);
        if found {
            self.notify(endpoint);
        }
        found
    }

    /// Sends `EndpointStateChange` on every node whose apps subscribed to the endpoint.
    fn notify(&self, endpoint: &str) {
        for node in &self.nodes {
            node.endpoint_changed(endpoint);
        }
    }

    /// Makes a phone unreachable (unregistered) or reachable again; false if there is no
    /// such phone.
    pub fn set_unreachable(&self, endpoint: &str, unreachable: bool) -> bool {
        self.update_phone(endpoint, |p| p.unreachable = unreachable)
    }

    /// The scripts of every phone.
    pub fn phones(&self) -> Vec<PhoneScript> {
        self.world.phones().scripts()
    }

    /// A snapshot of the ground truth.
    pub fn truth(&self) -> Truth {
        self.world.truth().clone()
    }

    /// Writes the ground truth as JSON lines.
    pub fn dump_truth(&self, out: impl std::io::Write) -> std::io::Result<()> {
        self.world.truth().dump_json_lines(out)
    }

    /// Kills every node.
    pub fn shutdown(&self) {
        for node in &self.nodes {
            node.kill();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.shutdown();
    }
}
