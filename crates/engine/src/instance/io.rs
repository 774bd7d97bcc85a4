//! What goes into an [`Instance`](super::Instance) and what comes out: the whole conversation
//! between the machine and the world, as plain data.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use starq_ari::StreamItem;
use starq_ari::model::Channel;
use starq_core::config::{AgentConfig, QueueConfig};
use starq_core::engine::{ChannelAction, Input as CoreInput, LegHangup};
use starq_core::shared::{Miss, Notice, Presence, Reply, Request, StoredCall};
use starq_core::{AgentId, CallId, Fence, NodeId, ReservationId, Time};
use starq_store::{AgentView, Heartbeat, Lease, Store, StoreError};

use crate::config::Catalog;
use crate::translate::DialOrder;

/// Something that happened to the instance.
#[derive(Debug)]
pub enum Input {
    /// A node's event stream delivered `item`; the stream was opened for `tenure`
    /// ([`Output::Attach`]), so items of a tenure over since are told apart.
    Stream {
        /// The tenure the stream belongs to.
        tenure: Fence,
        /// What it delivered.
        item: StreamItem,
    },
    /// What came of an ARI request sent for a node, when it matters to the instance.
    Ari {
        /// The node.
        node: NodeId,
        /// What came of it.
        outcome: AriOutcome,
    },
    /// What a node's app holds, asked for with [`Output::List`] (an error says why not).
    Listed {
        /// The node.
        node: NodeId,
        /// The registry's generation when it was asked for.
        as_of: u64,
        /// The app's channels and bridges.
        listing: Result<Listing, String>,
    },
    /// The channels asked about with [`Output::DescribeStrays`], as Asterisk describes them
    /// (those gone meanwhile are missing).
    Strays {
        /// The node.
        node: NodeId,
        /// What was found.
        strays: Vec<Stray>,
    },
    /// The answer to the store operation `id` ([`Output::Store`]).
    Store {
        /// The operation.
        id: OpId,
        /// Its answer.
        answer: Result<StoreAnswer, StoreError>,
    },
    /// The agents' presence recalled from the durable record ([`Output::RecallPresence`]); an
    /// error says why it could not be read.
    Presence(Result<Vec<Presence>, String>),
    /// An API action for the routing core.
    Api(CoreInput),
    /// SIGTERM or SIGINT: the first drains, the second exits at once.
    Signal,
    /// The configuration changed (the catalog at a new revision; an older or equal one is
    /// ignored). The instance that writes configuration installs it in the store.
    Configure(Arc<Catalog>),
}

/// What came of an ARI request (only what changes what the instance believes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AriOutcome {
    /// An agent leg rung again turned out answered already.
    LegUp(String),
    /// A leg to create existed already.
    LegExisted(String),
    /// A leg was dialed before it was in the app (`409 Channel not in Stasis application`).
    DialEarly(String, DialOrder),
    /// An agent leg could not be created or dialed.
    LegFailed {
        /// Its offer.
        reservation: ReservationId,
        /// What it says about the agent.
        miss: Miss,
    },
}

/// The channels and bridges of a node's app.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Listing {
    /// Channel ids.
    pub channels: BTreeSet<String>,
    /// Bridge ids.
    pub bridges: BTreeSet<String>,
}

/// A channel found in the app that starq did not know.
#[derive(Clone, Debug)]
pub struct Stray {
    /// As Asterisk describes it.
    pub channel: Channel,
    /// Its [`ENTRY_VARIABLE`](starq_core::engine::ENTRY_VARIABLE), if starq noted one.
    pub entry: Option<String>,
    /// Its [`CONNECTED_VARIABLE`](starq_core::engine::CONNECTED_VARIABLE), if starq noted one.
    pub connected: Option<String>,
}

/// Names one store operation in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpId(pub u64);

/// One operation on the shared store, with every value it needs (the time included).
#[derive(Clone, Debug)]
pub enum StoreOp {
    /// A routing request of the core ([`Store::apply`](starq_store::Store::apply)).
    Apply(Request),
    /// A caller's position.
    Position(CallId),
    /// Install the configuration and act on what it makes possible.
    Reconfigure {
        /// Queues.
        queues: Arc<[QueueConfig]>,
        /// Agents.
        agents: Arc<[AgentConfig]>,
        /// When.
        now: Time,
    },
    /// Beat as a live instance (a zero `ttl` leaves).
    Heartbeat {
        /// This instance.
        instance: String,
        /// When.
        now: Time,
        /// For how long.
        ttl: Duration,
    },
    /// Take a node's lease.
    Acquire {
        /// The node.
        node: NodeId,
        /// This instance.
        owner: String,
        /// When.
        now: Time,
        /// For how long.
        ttl: Duration,
    },
    /// Extend a lease.
    Renew {
        /// The lease.
        lease: Lease,
        /// When.
        now: Time,
        /// For how long.
        ttl: Duration,
    },
    /// Give a lease up.
    Release(Lease),
    /// Take the notices left for a node.
    TakeNotices {
        /// The node's tenure.
        fence: Fence,
        /// At most this many.
        limit: usize,
    },
    /// Leave notices for other instances' nodes.
    PostNotices(Vec<Notice>),
    /// The callers the store holds for a node.
    NodeCalls(NodeId),
    /// An agent's state.
    Agent(AgentId),
}

impl StoreOp {
    /// Performs the operation on `store` (the shell's part: the machine only names it).
    pub async fn perform<S: Store>(self, store: &S) -> Result<StoreAnswer, StoreError> {
        Ok(match self {
            StoreOp::Apply(request) => StoreAnswer::Reply(store.apply(request).await?),
            StoreOp::Position(call) => StoreAnswer::Position(store.position(&call).await?),
            StoreOp::Reconfigure { queues, agents, now } => {
                StoreAnswer::Offers(store.reconfigure(&queues, &agents, now).await?)
            }
            StoreOp::Heartbeat { instance, now, ttl } => {
                StoreAnswer::Heartbeat(store.heartbeat(&instance, now, ttl).await?)
            }
            StoreOp::Acquire { node, owner, now, ttl } => {
                StoreAnswer::Lease(store.acquire_lease(&node, &owner, now, ttl).await?)
            }
            StoreOp::Renew { lease, now, ttl } => {
                StoreAnswer::Lease(store.renew_lease(&lease, now, ttl).await?)
            }
            StoreOp::Release(lease) => {
                store.release_lease(&lease).await?;
                StoreAnswer::Done
            }
            StoreOp::TakeNotices { fence, limit } => {
                StoreAnswer::Notices(store.take_notices(&fence, limit).await?)
            }
            StoreOp::PostNotices(notices) => {
                store.post_notices(notices).await?;
                StoreAnswer::Done
            }
            StoreOp::NodeCalls(node) => StoreAnswer::Calls(store.node_calls(&node).await?),
            StoreOp::Agent(agent) => StoreAnswer::Agent(store.agent(&agent).await?),
        })
    }
}

/// What a [`StoreOp`] answered, variant for variant.
#[derive(Clone, Debug)]
pub enum StoreAnswer {
    /// To [`StoreOp::Apply`].
    Reply(Reply),
    /// To [`StoreOp::Position`].
    Position(Option<u32>),
    /// To [`StoreOp::Reconfigure`]: the offers it made.
    Offers(Vec<Notice>),
    /// To [`StoreOp::Heartbeat`].
    Heartbeat(Heartbeat),
    /// To [`StoreOp::Acquire`] and [`StoreOp::Renew`].
    Lease(Option<Lease>),
    /// To [`StoreOp::Release`] and [`StoreOp::PostNotices`].
    Done,
    /// To [`StoreOp::TakeNotices`].
    Notices(Vec<Notice>),
    /// To [`StoreOp::NodeCalls`].
    Calls(Vec<StoredCall>),
    /// To [`StoreOp::Agent`].
    Agent(Option<AgentView>),
}

/// What the instance asks of the world.
#[derive(Clone, Debug)]
pub enum Output {
    /// Perform a store operation and hand its answer back as [`Input::Store`]. Operations may
    /// run side by side: the instance keeps those that must be ordered one at a time.
    Store {
        /// Names the answer.
        id: OpId,
        /// What to do.
        op: StoreOp,
    },
    /// Send an ARI request to the node, through the executor of its current tenure.
    Ari {
        /// The node.
        node: NodeId,
        /// The request.
        command: AriCommand,
    },
    /// Open the node's event stream and executor for this tenure, allowed to act until
    /// `until` (the lease's end; see [`Output::Extend`]).
    Attach {
        /// The tenure (node and epoch).
        tenure: Fence,
        /// Until when requests may go out.
        until: Time,
    },
    /// The tenure's lease was renewed: its executor may act until `until`.
    Extend {
        /// The tenure.
        tenure: Fence,
        /// The lease's new end.
        until: Time,
    },
    /// The tenure is over: its executor sends nothing more, not even what it had queued.
    EndTenure(Fence),
    /// Close the tenure's event stream (after [`Output::EndTenure`]; a stream kept open past
    /// its tenure keeps the app registered in Asterisk during a hand-over).
    CloseStream(Fence),
    /// List the node's app; the answer comes back as [`Input::Listed`].
    List {
        /// The node.
        node: NodeId,
        /// Handed back with the answer.
        as_of: u64,
    },
    /// Describe these channels of the node (and read the entry starq noted on each); the
    /// answer comes back as [`Input::Strays`].
    DescribeStrays {
        /// The node.
        node: NodeId,
        /// Channel ids.
        channels: Vec<String>,
    },
    /// Read the agents' presence back from the durable record (none configured: an empty
    /// list); the answer comes back as [`Input::Presence`].
    RecallPresence,
    /// Stop: the instance is done (`error` says why, if it failed).
    Exit {
        /// Why it failed, if it did.
        error: Option<StoreError>,
    },
}

/// One ARI action for a node.
#[derive(Clone, Debug, PartialEq)]
pub enum AriCommand {
    /// Act on a caller's channel.
    Channel {
        /// The caller's channel.
        channel: String,
        /// What to do.
        action: ChannelAction,
    },
    /// Create an agent leg for the caller, in the app, undialed; it is dialed once in the app.
    CreateLeg {
        /// The leg's channel id.
        leg: String,
        /// The caller's channel.
        channel: String,
        /// The agent.
        agent: AgentId,
        /// The offer.
        reservation: ReservationId,
        /// The agent's endpoint.
        endpoint: String,
    },
    /// Make an agent leg that is in the app ring.
    DialLeg {
        /// The leg's channel id.
        leg: String,
        /// The offer.
        reservation: ReservationId,
        /// How to dial it.
        order: DialOrder,
    },
    /// Bridge the caller with the answered leg.
    Bridge {
        /// The bridge's id.
        bridge: String,
        /// The caller's channel.
        channel: String,
        /// The leg's channel.
        leg: String,
    },
    /// Hang a leg up.
    HangupLeg {
        /// The leg's channel id.
        leg: String,
        /// Why.
        reason: LegHangup,
    },
    /// Delete a bridge starq made.
    DeleteBridge(String),
    /// Send back to the dialplan a caller whose arguments were wrong.
    Refuse {
        /// The caller's channel.
        channel: String,
    },
}
