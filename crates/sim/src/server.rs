//! One node's runtime: the shared state behind its lock, the timer driver, and the public
//! [`NodeHandle`] for scripts and fault injection (kill, restore, drop WebSockets, REST
//! faults, paused delivery).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::clock::Now;
use crate::error::AriError;
use crate::node::callers::{CallSpec, PlacedCall};
use crate::node::config::NodeConfig;
use crate::node::hangup::Hangup;
use crate::node::state::{NodeState, World};

/// Injected REST misbehaviour for one node.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RestFaults {
    /// Added before every REST answer.
    pub delay: Duration,
    /// Answer this status (e.g. 500, 503) instead of doing the request.
    pub fail_status: Option<u16>,
    /// Only requests whose path contains this text are affected (`None`: all).
    pub path_contains: Option<String>,
    /// New event WebSocket upgrades hang unanswered (Asterisk issue #2170: a registration
    /// left hung blocks every new connection for the app until restart).
    pub hang_websocket_upgrades: bool,
}

/// One incarnation of a node: created on start and on restore, dropped on kill.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<NodeState>,
    wake: Notify,
    pub(crate) kill: CancellationToken,
    pub(crate) sessions: AtomicUsize,
    pub(crate) next_conn: AtomicU64,
    pub(crate) faults: Mutex<RestFaults>,
    pub(crate) cfg: NodeConfig,
    /// Whether the outbound WebSocket is connected now.
    pub(crate) outbound_up: AtomicBool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, NodeState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs an operation on the node's state at the current time, waking the timer driver
    /// if the operation scheduled something earlier than it was sleeping for. Steps already
    /// due run first: the timer driver wakes only at millisecond resolution, and a request
    /// must not see a world that should have moved on (a created leg that entered Stasis
    /// 300 µs ago accepts a `/dial`, as in Asterisk).
    pub(crate) fn op<R>(&self, f: impl FnOnce(&mut NodeState, Now) -> R) -> R {
        let now = Now::read();
        let mut state = self.lock();
        run_due(&mut state, now);
        let before = state.next_deadline();
        let out = f(&mut state, now);
        let after = state.next_deadline();
        drop(state);
        if after.is_some() && (before.is_none() || after < before) {
            self.wake.notify_one();
        }
        out
    }

    pub(crate) fn faults(&self) -> RestFaults {
        self.faults.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

/// Counters of one node, for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Live channels now.
    pub channels: usize,
    /// Most channels alive at once.
    pub peak_channels: usize,
    /// Channels created since the node (re)started.
    pub channels_created: u64,
    /// Events handed to WebSocket consumers.
    pub events_sent: u64,
    /// Events discarded because their app had no consumer.
    pub events_missed: u64,
    /// Open HTTP sessions, WebSockets included.
    pub sessions: usize,
}

/// A simulated Asterisk node: its address, identity, and the handle for scripts and faults.
#[derive(Debug)]
pub struct NodeHandle {
    index: usize,
    addr: SocketAddr,
    cfg: NodeConfig,
    seed: u64,
    world: Arc<World>,
    current: Mutex<Option<Arc<Shared>>>,
}

impl NodeHandle {
    /// Binds `addr` (port 0 for an ephemeral port) and starts serving.
    pub(crate) async fn start(
        index: usize,
        addr: SocketAddr,
        cfg: NodeConfig,
        seed: u64,
        world: Arc<World>,
    ) -> std::io::Result<Arc<Self>> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let handle = Arc::new(Self { index, addr, cfg, seed, world, current: Mutex::new(None) });
        handle.launch(listener);
        Ok(handle)
    }

    fn launch(&self, listener: TcpListener) {
        let now = Now::read();
        let state =
            NodeState::new(self.index, self.cfg.clone(), self.world.clone(), self.seed, now);
        let shared = Arc::new(Shared {
            state: Mutex::new(state),
            wake: Notify::new(),
            kill: CancellationToken::new(),
            sessions: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            faults: Mutex::new(RestFaults::default()),
            cfg: self.cfg.clone(),
            outbound_up: AtomicBool::new(false),
        });
        tokio::spawn(drive_timers(shared.clone()));
        tokio::spawn(crate::http::serve(listener, shared.clone()));
        if let Some(out) = self.cfg.outbound.clone() {
            tokio::spawn(crate::http::outbound::run(shared.clone(), out));
        }
        *self.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(shared);
    }

    fn shared(&self) -> Result<Arc<Shared>, AriError> {
        self.current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
            .ok_or_else(|| AriError::new(503, "node is down"))
    }

    /// Index of the node in its simulation (from 0).
    pub fn index(&self) -> usize {
        self.index
    }

    /// The node's `asterisk_id`.
    pub fn asterisk_id(&self) -> &str {
        &self.cfg.asterisk_id
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// ARI base URL, e.g. `http://127.0.0.1:8088/ari`.
    pub fn base_url(&self) -> String {
        format!("http://{}/ari", self.addr)
    }

    /// Event WebSocket URL for `app` with the node's credentials.
    pub fn events_url(&self, app: &str) -> String {
        format!(
            "ws://{}/ari/events?app={app}&api_key={}:{}",
            self.addr, self.cfg.username, self.cfg.password
        )
    }

    /// ARI user name and password.
    pub fn credentials(&self) -> (&str, &str) {
        (&self.cfg.username, &self.cfg.password)
    }

    /// How an ARI client reaches this node's Stasis application `app`.
    pub fn ari_config(&self, app: &str) -> starq_ari::NodeConfig {
        starq_ari::NodeConfig {
            ari_url: self.base_url(),
            credentials: starq_ari::Credentials::new(&self.cfg.username, &self.cfg.password),
            app: app.to_owned(),
        }
    }

    /// Whether the node is up.
    pub fn is_alive(&self) -> bool {
        self.shared().is_ok()
    }

    /// Places an inbound caller into `Stasis(app, args…)`.
    pub fn place_call(&self, spec: &CallSpec) -> Result<PlacedCall, AriError> {
        self.shared()?.op(|st, now| st.place_call(now, spec))
    }

    /// The caller on leg `channel_id` hangs up (as if the handset went on hook).
    pub fn caller_hangup(&self, channel_id: &str) -> Result<(), AriError> {
        self.shared()?.op(|st, now| {
            if !st.is_caller_leg(channel_id) {
                return Err(AriError::channel_not_found());
            }
            st.hangup(now, channel_id, Hangup::Far(16));
            Ok(())
        })
    }

    /// The caller on leg `channel_id` presses `digit`.
    pub fn caller_dtmf(&self, channel_id: &str, digit: char) -> Result<(), AriError> {
        self.shared()?.op(|st, now| st.caller_dtmf(now, channel_id, digit));
        Ok(())
    }

    /// Whether the node's outbound WebSocket (if configured) is connected now.
    pub fn outbound_connected(&self) -> bool {
        self.shared().is_ok_and(|s| s.outbound_up.load(Ordering::Relaxed))
    }

    /// Whether a WebSocket holds `app` now (so `Stasis(app)` would succeed).
    pub fn has_consumer(&self, app: &str) -> bool {
        self.shared().is_ok_and(|s| s.op(|st, _| st.apps.active(app)))
    }

    /// Tells subscribers of `endpoint` its state may have changed (phone script edits).
    pub(crate) fn endpoint_changed(&self, endpoint: &str) {
        if let Ok(s) = self.shared() {
            s.op(|st, now| st.endpoint_changed(now, endpoint));
        }
    }

    /// Ids of the live channels.
    pub fn channel_ids(&self) -> Vec<String> {
        self.shared()
            .map(|s| s.op(|st, _| st.channels.keys().cloned().collect()))
            .unwrap_or_default()
    }

    /// Checks the node's internal consistency (bridge membership, Local pairs, playback
    /// queues, ground-truth outcomes); the first broken rule, if any. For chaos tests.
    pub fn check_invariants(&self) -> Result<(), String> {
        match self.shared() {
            Ok(s) => s.op(|st, _| st.check_invariants()),
            Err(_) => Ok(()),
        }
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        let Ok(shared) = self.shared() else { return NodeStats::default() };
        let sessions = shared.sessions.load(Ordering::Relaxed);
        shared.op(|st, _| NodeStats {
            channels: st.channels.len(),
            peak_channels: st.peak_channels,
            channels_created: st.channels_created,
            events_sent: st.apps.sent,
            events_missed: st.apps.missed,
            sessions,
        })
    }

    /// Closes every event WebSocket of the node; channels and bridges stay.
    pub fn drop_websockets(&self) {
        if let Ok(s) = self.shared() {
            s.op(|st, _| st.apps.drop_all());
        }
    }

    /// Holds (true) or releases (false) event delivery; held events flush in order.
    pub fn pause_events(&self, paused: bool) {
        if let Ok(s) = self.shared() {
            s.op(|st, _| st.apps.set_paused(paused));
        }
    }

    /// Sets the REST faults of the node.
    pub fn set_rest_faults(&self, faults: RestFaults) {
        if let Ok(s) = self.shared() {
            *s.faults.lock().unwrap_or_else(PoisonError::into_inner) = faults;
        }
    }

    /// Kills the node: connections close, the port stops answering, every channel vanishes
    /// (callers end as node-lost in the ground truth).
    pub fn kill(&self) {
        let shared = self.current.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(shared) = shared {
            shared.op(|st, now| {
                st.lose_everything(now);
                st.apps.drop_all();
            });
            shared.kill.cancel();
        }
    }

    /// Brings a killed node back, empty, on the same port.
    pub async fn restore(&self) -> std::io::Result<()> {
        if self.is_alive() {
            return Ok(());
        }
        // The old listener closes asynchronously; retry the bind briefly.
        let mut last = None;
        for _ in 0..50 {
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    self.launch(listener);
                    return Ok(());
                }
                Err(e) => last = Some(e),
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Err(last.unwrap_or_else(|| std::io::Error::other("bind failed")))
    }
}

/// Runs the steps due at `now`, each at its own deadline.
fn run_due(st: &mut NodeState, now: Now) {
    for (at, step) in st.take_due(now.mono) {
        // Stamp events with the step's own deadline so bursts keep their spacing.
        let late = now.mono.saturating_duration_since(at);
        let when = Now { mono: at, wall_ms: now.wall_ms.saturating_sub(late.as_millis() as u64) };
        st.run_step(when, step);
    }
}

/// The node's single timer: sleeps until the earliest deadline, runs what is due.
async fn drive_timers(shared: Arc<Shared>) {
    loop {
        // `op` runs what is due before the closure.
        let next = shared.op(|st, _| st.next_deadline());
        let sleep = async {
            match next {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = shared.kill.cancelled() => return,
            () = shared.wake.notified() => {}
            () = sleep => {}
        }
    }
}
