//! Seeded random-operation simulation of one node's state machine, in virtual time and
//! without sockets: thousands of REST-like operations, timers and scripted callers, with the
//! invariants checked after every step. A failing seed is printed; replay it with
//! `STARQ_SIM_SEED=<seed>`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::apps::Consumer;
use super::callers::CallSpec;
use super::config::NodeConfig;
use super::control::ContinueTo;
use super::hangup::Hangup;
use super::legs::LegSpec;
use super::model::{Role, Target};
use super::state::{NodeState, World};
use crate::clock::Now;
use crate::phones::PhoneScript;
use crate::rng::{Dist, SimRng};

const ENDPOINTS: [&str; 7] = [
    "Local/1@agents",
    "Local/2@noanswer",
    "Local/3@busy",
    "Local/4@nowhere",
    "PJSIP/p1",
    "PJSIP/p2",
    "PJSIP/none",
];
const MEDIA: [&str; 4] = ["sound:queue-thankyou", "digits:42", "sound:missing", "tone:ring"];

struct Harness {
    st: NodeState,
    rng: SimRng,
    now: Now,
    rx: mpsc::Receiver<String>,
}

impl Harness {
    fn new(seed: u64) -> Self {
        let start = Now { mono: tokio::time::Instant::now(), wall_ms: 1_795_349_551_281 };
        let world = Arc::new(World::new(start.mono));
        world.phones().set(PhoneScript {
            answer_probability: 0.7,
            answer_delay: Dist::Uniform { min_ms: 0, max_ms: 3_000 },
            talk_time: Dist::Exp { mean_ms: 5_000 },
            ..PhoneScript::answering("PJSIP/p1", 0, 0)
        });
        world
            .phones()
            .set(PhoneScript { max_calls: 2, ..PhoneScript::answering("PJSIP/p2", 500, 2_000) });
        let mut cfg = NodeConfig::for_index(0);
        cfg.agents_talk = Duration::from_secs(4);
        let mut st = NodeState::new(0, cfg, world, seed, start);
        let (tx, rx) = mpsc::channel(1 << 20);
        st.apps.register("q", Consumer { conn: 1, tx: tx.clone(), kill: CancellationToken::new() });
        st.apps.register("other", Consumer { conn: 1, tx, kill: CancellationToken::new() });
        Self { st, rng: SimRng::new(seed, 7), now: start, rx }
    }

    fn pick_channel(&mut self) -> String {
        let ids: Vec<&String> = self.st.channels.keys().collect();
        if ids.is_empty() || self.rng.chance(0.05) {
            return "no-such-channel".to_owned();
        }
        ids[self.rng.below(ids.len() as u64) as usize].clone()
    }

    fn pick_bridge(&mut self) -> String {
        format!("b{}", self.rng.below(4))
    }

    fn advance(&mut self) {
        let step = Duration::from_millis(self.rng.below(400));
        self.now = self.now.after(step);
        for (at, s) in self.st.take_due(self.now.mono) {
            let late = self.now.mono.saturating_duration_since(at).as_millis() as u64;
            self.st.run_step(Now { mono: at, wall_ms: self.now.wall_ms - late }, s);
        }
        while self.rx.try_recv().is_ok() {}
    }

    fn leg_spec(&mut self) -> LegSpec {
        let endpoint = ENDPOINTS[self.rng.below(ENDPOINTS.len() as u64) as usize].to_owned();
        let channel_id = self.rng.chance(0.5).then(|| format!("leg{}", self.rng.below(6)));
        let timeout =
            self.rng.chance(0.7).then(|| Duration::from_millis(500 + self.rng.below(4_000)));
        LegSpec { endpoint, app: "q".to_owned(), channel_id, timeout, ..LegSpec::default() }
    }

    fn op(&mut self) {
        let now = self.now;
        let _ = match self.rng.below(18) {
            0 | 1 => {
                let mut spec = CallSpec::new("q", &["queue=support"], "555");
                spec.patience =
                    self.rng.chance(0.5).then(|| Duration::from_millis(self.rng.below(8_000)));
                spec.hangup_after =
                    self.rng.chance(0.2).then(|| Duration::from_millis(self.rng.below(20_000)));
                spec.dtmf = vec![(Duration::from_millis(self.rng.below(3_000)), '1')];
                self.st.place_call(now, &spec).map(|_| ())
            }
            2 => {
                let id = self.pick_channel();
                self.st.answer(now, &id)
            }
            3 => {
                let spec = self.leg_spec();
                self.st.create_leg(now, &spec).map(|_| ())
            }
            4 => {
                let spec = self.leg_spec();
                self.st.originate(now, &spec).map(|_| ())
            }
            5 => {
                let (id, caller) = (self.pick_channel(), self.pick_channel());
                let timeout =
                    self.rng.chance(0.5).then(|| Duration::from_millis(self.rng.below(5_000) + 1));
                self.st.dial(now, &id, Some(&caller), timeout)
            }
            6 => {
                let id = self.pick_bridge();
                let kind = ["mixing", "holding", "mixing,dtmf_events"][self.rng.below(3) as usize];
                self.st.create_bridge(now, Some("q"), Some(id), kind, "").map(|_| ())
            }
            7 | 8 => {
                let (b, c1, c2) = (self.pick_bridge(), self.pick_channel(), self.pick_channel());
                self.st.add_to_bridge(now, &b, &[c1, c2])
            }
            9 => {
                let (b, c) = (self.pick_bridge(), self.pick_channel());
                self.st.remove_from_bridge(now, &b, &[c])
            }
            10 | 11 => {
                let id = self.pick_channel();
                self.st.delete_channel(now, &id, [16, 17, 19, 21][self.rng.below(4) as usize])
            }
            12 => {
                let b = self.pick_bridge();
                self.st.delete_bridge(now, &b)
            }
            13 => {
                let id = self.pick_channel();
                if self.rng.chance(0.5) {
                    self.st.channel_moh(now, &id, None)
                } else {
                    self.st.channel_moh_stop(now, &id)
                }
            }
            14 => {
                let target = if self.rng.chance(0.7) {
                    Target::Channel(self.pick_channel())
                } else {
                    Target::Bridge(self.pick_bridge())
                };
                let media = vec![
                    MEDIA[self.rng.below(4) as usize].to_owned(),
                    MEDIA[self.rng.below(4) as usize].to_owned(),
                ];
                let pid = self.rng.chance(0.3).then(|| format!("pb{}", self.rng.below(3)));
                self.st.play(now, target, media, pid, None).map(|_| ())
            }
            15 => {
                let id = self.pick_channel();
                let to = ContinueTo {
                    context: self.rng.chance(0.5).then(|| "after-stasis".to_owned()),
                    ..ContinueTo::default()
                };
                self.st.continue_in_dialplan(now, &id, to)
            }
            16 => {
                let id = self.pick_channel();
                let app = if self.rng.chance(0.5) { "other" } else { "gone" };
                self.st.move_channel(now, &id, app, vec![])
            }
            _ => {
                let id = self.pick_channel();
                if self.st.is_caller_leg(&id) && self.rng.chance(0.5) {
                    self.st.hangup(now, &id, Hangup::Far(16));
                } else {
                    self.st.caller_dtmf(now, &id, '#');
                }
                Ok(())
            }
        };
    }

    /// Live legs towards `phone` must equal the phone's call count.
    fn check_phones(&self) -> Result<(), String> {
        for phone in ["PJSIP/p1", "PJSIP/p2"] {
            let live = self
                .st
                .channels
                .values()
                .filter(|c| match &c.role {
                    Role::Outgoing { phone: Some(p), on_phone: true, .. } => p == phone,
                    _ => false,
                })
                .count() as u32;
            let counted = self.st.world.phones().active(phone);
            if live != counted {
                return Err(format!("{phone}: {live} live legs but {counted} counted"));
            }
        }
        Ok(())
    }
}

fn run_seed(seed: u64, steps: usize) {
    let mut h = Harness::new(seed);
    for step in 0..steps {
        h.advance();
        h.op();
        if let Err(e) = h.st.check_invariants().and_then(|()| h.check_phones()) {
            panic!("seed {seed} step {step}: {e}\nreplay with STARQ_SIM_SEED={seed}");
        }
    }
    // Let every timer run out: phone calls end, dialplans finish.
    for _ in 0..2_000 {
        h.advance();
    }
    h.st.check_invariants()
        .and_then(|()| h.check_phones())
        .unwrap_or_else(|e| panic!("seed {seed} at the end: {e}"));
}

#[tokio::test]
async fn random_operations_keep_the_node_consistent() {
    let seeds: Vec<u64> = match std::env::var("STARQ_SIM_SEED").ok().and_then(|s| s.parse().ok()) {
        Some(seed) => vec![seed],
        None => (1..=40).collect(),
    };
    for seed in seeds {
        run_seed(seed, 1_500);
    }
}
