//! What `demo` and `bench` share: a call center laid out on simulated Asterisk nodes.

use starq_core::config::{AgentConfig, Contact, Membership};
use starq_core::{NodeId, QueueId};
use starq_engine::NodeSpec;
use starq_sim::Sim;

/// The simulated nodes, as starq owns them (app `starq`).
pub(crate) fn nodes(sim: &Sim) -> Vec<NodeSpec> {
    let spec = |node: &std::sync::Arc<starq_sim::server::NodeHandle>| NodeSpec {
        id: NodeId::new(format!("node{}", node.index())),
        ari: node.ari_config("starq"),
    };
    sim.nodes().iter().map(spec).collect()
}

/// `n` agents `<prefix>0…` in `queue`, each reached at `PJSIP/<id>` from every node, with the
/// penalty `penalty(i)`.
pub(crate) fn agents(
    n: usize,
    prefix: &str,
    queue: &str,
    penalty: impl Fn(usize) -> u32,
) -> Vec<AgentConfig> {
    (0..n)
        .map(|i| {
            let mut a = AgentConfig::new(format!("{prefix}{i}"));
            a.memberships.push(Membership { queue: QueueId::new(queue), penalty: penalty(i) });
            a.contacts.push(Contact { endpoint: format!("PJSIP/{prefix}{i}"), nodes: Vec::new() });
            a
        })
        .collect()
}
