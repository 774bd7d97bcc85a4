//! Per-node settings: identity, credentials, Asterisk's HTTP limits, and the timings of the
//! simulated dialplan the samples were recorded with.

use std::collections::BTreeMap;
use std::time::Duration;

/// Settings of one simulated Asterisk node.
#[derive(Debug, Clone)]
pub struct NodeConfig {
    /// Entity id reported as `asterisk_id` (e.g. `02:fc:00:00:00:01`).
    pub asterisk_id: String,
    /// ARI user name.
    pub username: String,
    /// ARI password.
    pub password: String,
    /// `http.conf sessionlimit`: concurrent HTTP sessions, WebSockets included (default 100).
    pub session_limit: usize,
    /// `ari.conf websocket_write_timeout` (default 100 ms): a consumer that does not read for
    /// this long is closed.
    pub ws_write_timeout: Duration,
    /// Events queued per WebSocket before the reader counts as slow and is closed.
    pub ws_queue: usize,
    /// `[agents]` dialplan: `Answer()`, `Wait(30)`, `Hangup()`. A leg's `AGENT_TALK`
    /// variable (seconds) overrides it, as in the reference dialplan (docs/fidelity.md).
    pub agents_talk: Duration,
    /// `[noanswer]` dialplan: `Ringing()` then `Wait(10)`, and no `Hangup()` (the hangup
    /// request then carries cause 0). A leg's `NOANSWER_WAIT` variable overrides it.
    pub noanswer_wait: Duration,
    /// `[busy]` dialplan: `Busy(hold)`, which signals busy and hangs up (cause 17) after
    /// `hold`; `None` is `Busy()` with no timeout, which never hangs up: the leg then stays up
    /// until the `/dial` timeout and dies with cause 19 (sample 08). A `/dial` timeout shorter
    /// than `hold` ends the leg first, with cause 19 too. A leg's `BUSY_HOLD` variable
    /// overrides it (seconds; anything not a number is `Busy()` with no timeout).
    pub busy_hold: Option<Duration>,
    /// How long after answering `POST /channels/create` the new channel enters Stasis, drawn
    /// uniformly between the two bounds (default 0 to 1 ms). Asterisk answers the request from
    /// the HTTP thread and puts the channel into the app from a thread of its own
    /// (`ari_channel_thread` in `res/ari/resource_channels.c`), so a `/dial` sent on the
    /// answer alone can meet `409 Channel not in Stasis application`, or go through (sample
    /// 07: the `StasisStart` came ~1 ms after the answer; 13 of 40 immediate dials met 409).
    /// A request that arrives after the drawn instant finds the channel in Stasis, however
    /// late the timer wakes. With the fidelity suite's Rust client on loopback about 70 % of
    /// immediate dials meet 409 here; the real Asterisk gave anywhere from 0 to 36 of 40 in
    /// the same test, about one in five overall (docs/fidelity.md).
    pub stasis_entry_delay: (Duration, Duration),
    /// Where `/continue` sends a channel: `Wait(2)` then `Hangup()`.
    pub continue_wait: Duration,
    /// Which media exist and how long they play.
    pub media: MediaCatalog,
    /// An outbound WebSocket the node keeps open to the application (Asterisk 22.5+).
    pub outbound: Option<OutboundWs>,
}

/// `ari.conf type=outbound_websocket` with a persistent `websocket_client`: the node connects
/// to the application, registers `apps` on that connection, keeps them registered (events
/// queued) while disconnected, and reconnects every `reconnect_interval`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundWs {
    /// `ws://host:port/path` of the application.
    pub uri: String,
    /// Applications served over the connection.
    pub apps: Vec<String>,
    /// Wait between connection attempts (Asterisk's default is 500 ms).
    pub reconnect_interval: Duration,
    /// `websocket_client.conf` `username` and `password`: sent as `Authorization: Basic` on
    /// every connection attempt.
    pub credentials: Option<(String, String)>,
}

impl NodeConfig {
    /// Defaults as the samples' Asterisk had them, for node number `index` (from 0).
    pub fn for_index(index: usize) -> Self {
        Self {
            asterisk_id: format!("02:fc:00:00:{:02x}:{:02x}", (index + 1) / 256, (index + 1) % 256),
            username: "starq".to_owned(),
            password: "starq".to_owned(),
            session_limit: 100,
            ws_write_timeout: Duration::from_millis(100),
            ws_queue: 20_000,
            agents_talk: Duration::from_secs(30),
            noanswer_wait: Duration::from_secs(10),
            busy_hold: Some(Duration::from_secs(5)),
            stasis_entry_delay: (Duration::ZERO, Duration::from_millis(1)),
            continue_wait: Duration::from_secs(2),
            media: MediaCatalog::default(),
            outbound: None,
        }
    }
}

/// Media the node can play and how long each item lasts.
#[derive(Debug, Clone)]
pub struct MediaCatalog {
    /// Known `sound:` names and their length; other sounds fail (`PlaybackFinished` failed)
    /// unless `any_sound` is set.
    pub sounds: BTreeMap<String, Duration>,
    /// Play unknown `sound:` names for `default_sound` instead of failing.
    pub any_sound: bool,
    /// Length of an unknown sound when `any_sound` is set.
    pub default_sound: Duration,
    /// Length of one spoken digit or word (`digits:`, `number:`, `characters:`).
    pub per_word: Duration,
    /// Multiplies every length (below 1.0 to make tests fast).
    pub scale: f64,
}

impl Default for MediaCatalog {
    fn default() -> Self {
        // Lengths of the stock Asterisk English prompts a queue and agents' feature codes use,
        // rounded.
        let table: [(&str, u64); 20] = [
            ("queue-thankyou", 2_600),
            ("queue-youarenext", 1_500),
            ("queue-thereare", 1_000),
            ("queue-callswaiting", 1_600),
            ("queue-holdtime", 2_400),
            ("queue-minutes", 700),
            ("queue-seconds", 700),
            ("queue-periodic-announce", 3_900),
            ("queue-reporthold", 1_300),
            ("queue-less-than", 800),
            ("hello-world", 1_200),
            ("beep", 250),
            ("vm-goodbye", 900),
            ("silence/1", 1_000),
            ("agent-loginok", 1_100),
            ("agent-loggedoff", 1_100),
            ("agent-incorrect", 1_000),
            ("dictate/paused", 600),
            ("beeperr", 300),
            ("an-error-has-occurred", 1_400),
        ];
        Self {
            sounds: table
                .iter()
                .map(|(n, ms)| ((*n).to_owned(), Duration::from_millis(*ms)))
                .collect(),
            any_sound: false,
            default_sound: Duration::from_secs(2),
            per_word: Duration::from_millis(600),
            scale: 1.0,
        }
    }
}

impl MediaCatalog {
    /// How long `uri` plays, or `None` when the media does not exist (the playback fails).
    pub fn length(&self, uri: &str) -> Option<Duration> {
        let (scheme, rest) = uri.split_once(':')?;
        let base = match scheme {
            "sound" => match self.sounds.get(rest) {
                Some(d) => *d,
                None if self.any_sound => self.default_sound,
                None => return None,
            },
            "digits" | "characters" => self.per_word * count(rest.chars().count()),
            // Roughly one word per digit group ("one thousand two hundred …").
            "number" => self.per_word * count(rest.len().max(1)),
            // A tone plays until stopped; a long stand-in keeps it "playing".
            "tone" => Duration::from_secs(3600),
            "recording" => self.default_sound,
            _ => return None,
        };
        let secs = base.as_secs_f64() * self.scale.max(0.0);
        Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
