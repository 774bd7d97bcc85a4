//! The task behind an event stream: connect, read, ping, detect death, back off, reconnect.
//!
//! One task owns the WebSocket and does everything in one `select!` loop, so frames are handled
//! strictly in arrival order and nothing else can stall the read. Inside a connection the only
//! awaits are the read itself and a bounded ping write; room in the consumer's channel is only
//! ever polled alongside the read, never waited for ahead of it.
//!
//! Where connections come from is the [`Source`]: dialled to the node, or accepted from it
//! (the node reconnects by itself, so an accepted stream waits for the next connection instead
//! of backing off, and a newer connection replaces the one being read).

use futures_util::{SinkExt, StreamExt};
use reqwest::header::HeaderValue;
use tokio::sync::{mpsc, watch};
use tokio::time::{Instant, MissedTickBehavior, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_util::sync::CancellationToken;

use super::EventStreamConfig;
use super::backoff::Backoff;
use super::delivery::{ConsumerGone, Delivery};
use super::handshake::{self, Socket};
use super::item::{ConnectionState, DisconnectReason, StopReason, StreamItem};
use crate::model::{Event, decode_event};

/// How one connection ended.
enum Ended {
    Disconnected(DisconnectReason),
    Stop(StopReason),
}

impl From<ConsumerGone> for Ended {
    fn from(_: ConsumerGone) -> Self {
        Ended::Stop(StopReason::ConsumerGone)
    }
}

/// Where a stream's connections come from.
pub(crate) enum Source {
    /// starq connects to the node's `/ari/events`.
    Dial { authorization: HeaderValue },
    /// The node connects to starq (Asterisk's persistent outbound WebSocket); its connections,
    /// already upgraded, arrive here.
    Accept(mpsc::Receiver<Socket>),
}

/// Everything the task owns.
pub(crate) struct Session {
    pub(crate) config: EventStreamConfig,
    /// The URL dialled, or what the accepted connections are for: names the stream in logs.
    pub(crate) url: String,
    pub(crate) source: Source,
    /// An accepted connection that replaced the one being read, to read next.
    pub(crate) next: Option<Socket>,
    pub(crate) delivery: Delivery,
    pub(crate) state: watch::Sender<ConnectionState>,
    pub(crate) shutdown: CancellationToken,
}

impl Session {
    /// Runs until shutdown, `ApplicationReplaced` or the consumer going away.
    pub(crate) async fn run(mut self) {
        let mut backoff = Backoff::new(self.config.backoff.clone(), self.config.seed);
        let stop = loop {
            let attempt = backoff.failures() + 1;
            if self.report(ConnectionState::Connecting { attempt }).is_err() {
                break StopReason::ConsumerGone;
            }
            let reason = match self.connect().await {
                Ok(socket) => {
                    let started = Instant::now();
                    let ended = self.connection(socket).await;
                    if started.elapsed() >= self.config.backoff.healthy_after {
                        backoff.reset();
                    }
                    match ended {
                        Ended::Disconnected(reason) => reason,
                        Ended::Stop(stop) => break stop,
                    }
                }
                Err(Ended::Disconnected(reason)) => reason,
                Err(Ended::Stop(stop)) => break stop,
            };
            // An accepted stream does not wait: the node reconnects at its own pace.
            let retry_in = match self.source {
                Source::Dial { .. } => backoff.next_delay(),
                Source::Accept(_) => {
                    backoff.next_delay();
                    std::time::Duration::ZERO
                }
            };
            tracing::warn!(url = %self.url, %reason, ?retry_in, "ARI event WebSocket down");
            let disconnected =
                ConnectionState::Disconnected { reason, attempt: backoff.failures(), retry_in };
            if self.report(disconnected).is_err() {
                break StopReason::ConsumerGone;
            }
            if let Some(stop) = self.wait(retry_in).await {
                break stop;
            }
        };
        self.finish(stop).await;
    }

    /// Publishes a state to the watch and the stream.
    fn report(&mut self, state: ConnectionState) -> Result<(), ConsumerGone> {
        self.state.send_replace(state.clone());
        self.delivery.push_control(StreamItem::State(state))
    }

    /// Opens the WebSocket, within the connect timeout, or waits for the node's next
    /// connection, unless stopped first.
    async fn connect(&mut self) -> Result<Socket, Ended> {
        let authorization = match &mut self.source {
            Source::Dial { authorization } => authorization.clone(),
            Source::Accept(_) => return self.accepted().await,
        };
        // Our own upgrade, so that tungstenite never logs the credentials (see `handshake`).
        let connecting = handshake::connect(&self.url, &authorization);
        let closed = self.delivery.sender();
        tokio::select! {
            () = self.shutdown.cancelled() => Err(Ended::Stop(StopReason::Shutdown)),
            () = closed.closed() => Err(Ended::Stop(StopReason::ConsumerGone)),
            result = timeout(self.config.connect_timeout, connecting) => match result {
                Err(_) => Err(Ended::Disconnected(DisconnectReason::ConnectTimeout)),
                Ok(Ok(socket)) => Ok(socket),
                Ok(Err(reason)) => Err(Ended::Disconnected(reason)),
            },
        }
    }

    /// The node's next connection (the newest, if several came), flushing the backlog while
    /// waiting for it.
    async fn accepted(&mut self) -> Result<Socket, Ended> {
        if let Some(socket) = self.next.take() {
            return Ok(socket);
        }
        let Source::Accept(sockets) = &mut self.source else {
            unreachable!("only accepted streams wait for connections")
        };
        let room = self.delivery.sender();
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return Err(Ended::Stop(StopReason::Shutdown)),
                () = room.closed() => return Err(Ended::Stop(StopReason::ConsumerGone)),
                socket = sockets.recv() => {
                    let Some(mut socket) = socket else {
                        return Err(Ended::Stop(StopReason::Shutdown));
                    };
                    while let Ok(newer) = sockets.try_recv() {
                        socket = newer;
                    }
                    return Ok(socket);
                }
                Ok(permit) = room.reserve(), if self.delivery.has_backlog() => {
                    self.delivery.send_reserved(permit);
                }
            }
        }
    }

    /// Reads one open connection until it ends.
    async fn connection(&mut self, socket: Socket) -> Ended {
        tracing::info!(url = %self.url, "ARI event WebSocket connected");
        let (mut sink, mut stream) = socket.split();
        let ended = self.read_loop(&mut sink, &mut stream).await;
        // Say goodbye politely when leaving on purpose; a dead peer gets no close frame.
        if matches!(ended, Ended::Stop(_)) {
            let _ = timeout(self.config.ping_interval, sink.send(Message::Close(None))).await;
        }
        ended
    }

    async fn read_loop(
        &mut self,
        sink: &mut futures_util::stream::SplitSink<Socket, Message>,
        stream: &mut futures_util::stream::SplitStream<Socket>,
    ) -> Ended {
        if let Err(gone) = self.report(ConnectionState::Connected) {
            return gone.into();
        }
        let liveness = self.config.liveness_timeout;
        let mut ping = tokio::time::interval_at(
            Instant::now() + self.config.ping_interval,
            self.config.ping_interval,
        );
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let dead = sleep_until(Instant::now() + liveness);
        tokio::pin!(dead);
        let room = self.delivery.sender();
        loop {
            tokio::select! {
                biased;
                () = self.shutdown.cancelled() => return Ended::Stop(StopReason::Shutdown),
                () = room.closed() => return Ended::Stop(StopReason::ConsumerGone),
                frame = stream.next() => {
                    dead.as_mut().reset(Instant::now() + liveness);
                    let Some(frame) = frame else {
                        return Ended::Disconnected(DisconnectReason::Closed { code: None });
                    };
                    if let Some(ended) = self.on_frame(frame) {
                        return ended;
                    }
                }
                Ok(permit) = room.reserve(), if self.delivery.has_backlog() => {
                    self.delivery.send_reserved(permit);
                }
                _ = ping.tick() => {
                    // Bounded: a socket whose send buffer is full is as dead as a silent one.
                    match timeout(liveness, sink.send(Message::Ping(Default::default()))).await {
                        Ok(Ok(())) => {}
                        Ok(Err(error)) => return failed(&error),
                        Err(_) => return Ended::Disconnected(DisconnectReason::Dead),
                    }
                }
                () = &mut dead => return Ended::Disconnected(DisconnectReason::Dead),
                Some(socket) = next_accepted(&mut self.source) => {
                    // The node reconnected: it holds one connection at a time, so the one
                    // being read is dead on its side, whatever this side still sees.
                    self.next = Some(socket);
                    return Ended::Disconnected(DisconnectReason::Superseded);
                }
            }
        }
    }

    /// Handles one frame; `Some` when the connection ends with it.
    fn on_frame(&mut self, frame: Result<Message, tungstenite::Error>) -> Option<Ended> {
        let decoded = match frame {
            Ok(Message::Text(text)) => decode_event(text.as_str()),
            Ok(Message::Binary(bytes)) => match std::str::from_utf8(&bytes) {
                Ok(text) => decode_event(text),
                Err(error) => Err(crate::model::DecodeError {
                    event_type: None,
                    field: None,
                    reason: format!("binary frame is not UTF-8: {error}"),
                }),
            },
            Ok(Message::Close(frame)) => {
                let code = frame.map(|f| u16::from(f.code));
                return Some(Ended::Disconnected(DisconnectReason::Closed { code }));
            }
            Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_)) => return None,
            Err(error) => return Some(failed(&error)),
        };
        let pushed = match decoded {
            Ok(Event::ApplicationReplaced(replaced))
                if replaced.application == self.config.node.app =>
            {
                tracing::warn!(url = %self.url, "ARI application replaced by another consumer");
                return Some(Ended::Stop(StopReason::Replaced));
            }
            Ok(event) => self.delivery.push_event(StreamItem::Event(event)),
            Err(error) => {
                tracing::debug!(url = %self.url, %error, "undecodable ARI frame");
                self.delivery.push_event(StreamItem::DecodeError(error))
            }
        };
        pushed.err().map(Ended::from)
    }

    /// Sleeps before the next attempt, flushing the backlog meanwhile; `Some` if stopped.
    async fn wait(&mut self, delay: std::time::Duration) -> Option<StopReason> {
        let until = sleep(delay);
        tokio::pin!(until);
        let room = self.delivery.sender();
        loop {
            tokio::select! {
                () = &mut until => return None,
                () = self.shutdown.cancelled() => return Some(StopReason::Shutdown),
                () = room.closed() => return Some(StopReason::ConsumerGone),
                Ok(permit) = room.reserve(), if self.delivery.has_backlog() => {
                    self.delivery.send_reserved(permit);
                }
            }
        }
    }

    /// Reports the end. `Replaced` must reach the consumer, so it is waited for (until
    /// shutdown); after a shutdown the consumer is not expected to read any more.
    async fn finish(mut self, reason: StopReason) {
        tracing::info!(url = %self.url, ?reason, "ARI event stream stopped");
        if reason == StopReason::Replaced {
            let _ = self.delivery.push_control(StreamItem::Replaced);
        }
        if self.report(ConnectionState::Stopped(reason)).is_err() {
            return;
        }
        if reason == StopReason::Replaced {
            let shutdown = self.shutdown.clone();
            tokio::select! {
                _ = self.delivery.drain() => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}

/// The next accepted connection; never, for a dialled stream.
async fn next_accepted(source: &mut Source) -> Option<Socket> {
    match source {
        Source::Accept(sockets) => sockets.recv().await,
        Source::Dial { .. } => std::future::pending().await,
    }
}

fn failed(error: &tungstenite::Error) -> Ended {
    Ended::Disconnected(DisconnectReason::Failed(error.to_string()))
}
