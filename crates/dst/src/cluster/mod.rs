//! Whole instances in one seeded world: one to three [`Instance`](starq_engine::Instance)
//! machines, one shared memory store and one to three simulated Asterisk nodes, driven through
//! simulated time with faults drawn from the seed, and every invariant checked after every step.
//!
//! Each instance is the real state machine, fed exactly what the driver (`driver.rs`) and the
//! ARI executor (`execute.rs`) would feed it: store answers, ARI outcomes, listings, strays and
//! the items of each node's event stream, tagged with the tenure the stream was opened for. The
//! world stands in for the driver, the network and Asterisk; nothing here reads a clock or
//! draws randomness outside the seed, so a seed replays exactly (`STARQ_SEED=<n>`).
//!
//! | module | owns |
//! |---|---|
//! | `node` | a simulated Asterisk node at the ARI level, with its callers and agents' phones |
//! | `store` | the shared store: performed operations, outages, data loss |
//! | `world` | the event queue, the instances and what carries their outputs out |
//! | `faults` | which faults strike when, and how each heals |
//! | `invariants` | what must hold after every step, and once the world is quiet |

mod faults;
mod invariants;
mod node;
mod store;
mod world;

use std::collections::BTreeMap;
use std::time::Duration;

use starq_core::rng::Rng;

pub use faults::{FaultKind, Faults};
pub use world::World;

/// What a world is made of.
#[derive(Clone, Debug)]
pub struct Params {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// Instances (1–3).
    pub instances: usize,
    /// Asterisk nodes (1–3).
    pub nodes: usize,
    /// Queues.
    pub queues: usize,
    /// Agents.
    pub agents: usize,
    /// Simulated time with arrivals and faults.
    pub busy: Duration,
    /// Simulated time after it, with neither, before the final checks.
    pub quiet: Duration,
    /// Mean time between arrivals.
    pub arrival_mean: Duration,
    /// Mean time between faults.
    pub fault_mean: Duration,
    /// Which faults may strike.
    pub faults: Faults,
    /// Print every step to stderr (for replaying a failing seed).
    pub trace: bool,
}

impl Params {
    /// A world drawn from the seed: sizes, load and the faults enabled vary with it.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = Rng::seeded(seed ^ 0xc105_7e12);
        let queues = 1 + rng.below(3) as usize;
        let instances = 1 + rng.below(3) as usize;
        Params {
            seed,
            instances,
            nodes: 1 + rng.below(3) as usize,
            queues,
            agents: queues.max(2 + rng.below(6) as usize),
            busy: Duration::from_secs(15 + rng.below(25)),
            quiet: Duration::from_secs(60),
            arrival_mean: Duration::from_millis(500 + rng.below(4_000)),
            fault_mean: Duration::from_secs(4 + rng.below(12)),
            faults: Faults::drawn(&mut rng),
            trace: std::env::var_os("STARQ_TRACE").is_some(),
        }
    }
}

/// What a run ended with; two runs of one seed end with equal summaries.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Callers that entered `Stasis()` while the app had a consumer.
    pub arrived: u64,
    /// Callers whose `Stasis()` failed at once: the app had no consumer on their node.
    pub stasis_failed: u64,
    /// Callers bridged with an agent.
    pub connected: u64,
    /// Callers that hung up before being connected.
    pub abandoned: u64,
    /// How every arrived caller left: `talked`, `abandoned`, `node-lost`, `hung-up-by-starq`,
    /// or the `STARQ_OUTCOME` it was continued with.
    pub outcomes: BTreeMap<String, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<FaultKind, u64>,
    /// Dials answered `409 Channel not in Stasis application` (the leg was still entering).
    pub early_dials: u64,
    /// Answered agents left in silence (never bridged) who hung up.
    pub agents_gave_up: u64,
    /// ARI requests an executor did not send: its tenure was over.
    pub fenced_requests: u64,
    /// Instances that exited on their own (and were started again).
    pub exits: u64,
    /// Steps taken.
    pub steps: u64,
}
