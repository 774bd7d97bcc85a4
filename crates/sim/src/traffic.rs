//! Seeded inbound traffic: callers per queue with a Poisson arrival process, periodic
//! bursts, an optional day curve, patience, talk limits and key presses.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::node::callers::CallSpec;
use crate::rng::{Dist, SimRng};
use crate::server::NodeHandle;

/// A burst: `size` callers at once every `every_s` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Burst {
    /// Seconds between bursts.
    pub every_s: f64,
    /// Callers per burst.
    pub size: u32,
}

/// Callers pressing a key while waiting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DtmfPlan {
    /// Share of callers who press.
    pub probability: f64,
    /// When, after entering.
    pub after: Dist,
    /// Which key.
    pub digit: char,
}

/// The callers of one queue (one `Stasis(app, args…)` target).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueueLoad {
    /// Stasis application.
    pub app: String,
    /// Stasis arguments, e.g. `["queue=support"]`.
    pub args: Vec<String>,
    /// Dialed extension.
    pub exten: String,
    /// Mean arrivals per second (Poisson).
    pub rate_per_s: f64,
    /// Extra bursts.
    pub burst: Option<Burst>,
    /// Hourly rate multipliers (24 values) played over `day_length_s`.
    pub day_curve: Option<Vec<f64>>,
    /// Seconds the 24-hour curve is compressed into.
    pub day_length_s: f64,
    /// Time a caller waits before abandoning (not once connected).
    pub patience: Option<Dist>,
    /// Time after which a caller hangs up whatever happens.
    pub talk_limit: Option<Dist>,
    /// Key presses.
    pub dtmf: Option<DtmfPlan>,
    /// Nodes that receive these calls (`None`: all), picked at random per call.
    pub nodes: Option<Vec<usize>>,
    /// First caller id number; each caller gets the next.
    pub number_base: u64,
}

impl QueueLoad {
    /// Steady Poisson callers into `Stasis(app, queue=<queue>)`.
    pub fn steady(app: &str, queue: &str, rate_per_s: f64) -> Self {
        Self {
            app: app.to_owned(),
            args: vec![format!("queue={queue}")],
            exten: "100".to_owned(),
            rate_per_s,
            burst: None,
            day_curve: None,
            day_length_s: 600.0,
            patience: Some(Dist::Exp { mean_ms: 60_000 }),
            talk_limit: None,
            dtmf: None,
            nodes: None,
            number_base: 5_550_000,
        }
    }

    fn multiplier(&self, elapsed_s: f64) -> f64 {
        let Some(curve) = self.day_curve.as_ref().filter(|c| !c.is_empty()) else { return 1.0 };
        let day = self.day_length_s.max(1.0);
        let hour = ((elapsed_s % day) / day * curve.len() as f64) as usize;
        curve.get(hour).copied().unwrap_or(1.0).max(0.0)
    }

    fn peak(&self) -> f64 {
        self.day_curve
            .as_ref()
            .and_then(|c| c.iter().copied().reduce(f64::max))
            .unwrap_or(1.0)
            .max(1e-9)
    }
}

/// A traffic profile: several queues.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrafficProfile {
    /// The queues.
    pub queues: Vec<QueueLoad>,
}

impl TrafficProfile {
    /// A named built-in profile: `none`, `light` (0.5/s), `steady` (5/s), `busy` (50/s with
    /// bursts), `day` (a day curve over 10 minutes), all into `Stasis(<app>,queue=support)`.
    pub fn named(name: &str, app: &str) -> Option<Self> {
        let queue = |rate| QueueLoad::steady(app, "support", rate);
        let queues = match name {
            "none" => vec![],
            "light" => vec![queue(0.5)],
            "steady" => vec![queue(5.0)],
            "busy" => {
                vec![QueueLoad { burst: Some(Burst { every_s: 30.0, size: 50 }), ..queue(50.0) }]
            }
            "day" => vec![QueueLoad {
                day_curve: Some(vec![
                    0.1, 0.1, 0.1, 0.1, 0.1, 0.2, 0.4, 0.8, 1.5, 2.0, 2.0, 1.8, 1.4, 1.6, 1.9, 1.8,
                    1.5, 1.0, 0.6, 0.4, 0.3, 0.2, 0.1, 0.1,
                ]),
                ..queue(2.0)
            }],
            _ => return None,
        };
        Some(Self { queues })
    }
}

/// Runs the profile against `nodes` until `stop` is cancelled. Deterministic for a seed up to
/// the timing of the runtime.
pub async fn run_traffic(
    nodes: Vec<Arc<NodeHandle>>,
    profile: TrafficProfile,
    seed: u64,
    stop: CancellationToken,
) {
    let mut tasks = Vec::new();
    for (i, load) in profile.queues.into_iter().enumerate() {
        let rng = SimRng::new(seed, 500 + i as u64);
        tasks.push(tokio::spawn(drive_queue(nodes.clone(), load, rng, stop.clone())));
    }
    for t in tasks {
        let _ = t.await;
    }
}

async fn drive_queue(
    nodes: Vec<Arc<NodeHandle>>,
    load: QueueLoad,
    mut rng: SimRng,
    stop: CancellationToken,
) {
    let started = tokio::time::Instant::now();
    let peak_rate = load.rate_per_s * load.peak();
    let mut next_burst = load.burst.map(|b| Duration::from_secs_f64(b.every_s.max(0.001)));
    let mut number = load.number_base;
    if peak_rate <= 0.0 && load.burst.is_none() {
        return;
    }
    loop {
        // Thinning: draw at the peak rate and keep each arrival with rate(t)/peak.
        let gap = if peak_rate > 0.0 { rng.exp(1.0 / peak_rate) } else { 3600.0 };
        let mut wake = tokio::time::Instant::now() + Duration::from_secs_f64(gap.min(3600.0));
        let burst_due = next_burst.map(|b| started + b);
        if let Some(b) = burst_due {
            wake = wake.min(b);
        }
        tokio::select! {
            () = stop.cancelled() => return,
            () = tokio::time::sleep_until(wake) => {}
        }
        let now = tokio::time::Instant::now();
        if let (Some(b), Some(burst)) = (burst_due.filter(|b| *b <= now), load.burst) {
            for _ in 0..burst.size {
                place(&nodes, &load, &mut rng, &mut number);
            }
            next_burst = Some(b - started + Duration::from_secs_f64(burst.every_s.max(0.001)));
            continue;
        }
        let elapsed = now.duration_since(started).as_secs_f64();
        if rng.unit() * load.peak() < load.multiplier(elapsed) {
            place(&nodes, &load, &mut rng, &mut number);
        }
    }
}

fn place(nodes: &[Arc<NodeHandle>], load: &QueueLoad, rng: &mut SimRng, number: &mut u64) {
    let candidates: Vec<&Arc<NodeHandle>> = nodes
        .iter()
        .filter(|n| load.nodes.as_ref().is_none_or(|set| set.contains(&n.index())))
        .filter(|n| n.is_alive())
        .collect();
    if candidates.is_empty() {
        return;
    }
    let node = candidates[rng.below(candidates.len() as u64) as usize];
    *number += 1;
    let mut spec = CallSpec::new(load.app.clone(), &[], number.to_string());
    spec.args = load.args.clone();
    spec.exten = load.exten.clone();
    spec.patience = load.patience.map(|d| d.sample(rng));
    spec.hangup_after = load.talk_limit.map(|d| d.sample(rng));
    if let Some(plan) = load.dtmf
        && rng.chance(plan.probability)
    {
        spec.dtmf.push((plan.after.sample(rng), plan.digit));
    }
    if let Err(e) = node.place_call(&spec) {
        tracing::warn!(node = node.index(), %e, "placing a caller failed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_curve_scales_the_rate_by_hour() {
        let mut load = QueueLoad::steady("q", "support", 1.0);
        load.day_curve = Some(vec![0.5; 12].into_iter().chain(vec![2.0; 12]).collect());
        load.day_length_s = 24.0;
        assert_eq!(load.multiplier(1.0), 0.5);
        assert_eq!(load.multiplier(13.0), 2.0);
        assert_eq!(load.multiplier(25.0), 0.5, "the day repeats");
        assert_eq!(load.peak(), 2.0);
        assert_eq!(QueueLoad::steady("q", "s", 1.0).multiplier(5.0), 1.0);
    }

    #[test]
    fn named_profiles_exist() {
        for name in ["none", "light", "steady", "busy", "day"] {
            assert!(TrafficProfile::named(name, "starq").is_some(), "{name}");
        }
        assert!(TrafficProfile::named("nope", "starq").is_none());
        let json = serde_json::to_string(&TrafficProfile::named("busy", "starq")).unwrap();
        let back: TrafficProfile = serde_json::from_str(&json).unwrap();
        assert_eq!(back.queues[0].burst.map(|b| b.size), Some(50));
    }
}
