//! Ring strategies: what each one means, as a score and a selection rule.
//!
//! The split keeps strategies in one place while the store stays strategy-agnostic: the core
//! turns an agent's statistics into a [`Score`] (lower is offered first) whenever the agent
//! becomes available, and the store only keeps available agents sorted by `(score, agent id)`
//! per queue and penalty tier, then applies the strategy's [`Selection`]. Nothing here is
//! O(members): scoring is per agent, selection is a sorted-set lookup.

use std::fmt;
use std::str::FromStr;

use crate::config::SettingError;
use crate::time::Time;

/// A queue's ring strategy (`app_queue`'s `strategy`, plus `ring-progressively`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Ring every available agent of the best penalty tier; the first to answer wins.
    RingAll,
    /// The agent whose last call in this queue ended longest ago.
    LeastRecent,
    /// The agent who took the fewest calls in this queue.
    FewestCalls,
    /// Round robin that remembers the last agent offered and goes on after it.
    RrMemory,
    /// Round robin in configured member order. starq always keeps the configured order, so this
    /// behaves exactly like [`Strategy::RrMemory`]; both names are accepted.
    RrOrdered,
    /// Always the first available agent in configured order.
    Linear,
    /// A uniformly random available agent.
    Random,
    /// Random, weighted by penalty: an agent with penalty `p` draws from `0..1000·(p+1)` and the
    /// lowest draw wins, so penalties weigh instead of forming tiers (as in `app_queue`).
    WRandom,
    /// Ring agents in configured order, adding the next one every
    /// `ring_progressively_delay` while the earlier ones keep ringing (mod_callcenter's
    /// `ring-progressively`); the first to answer wins.
    RingProgressively,
}

/// How the store picks among available agents sorted by `(score, agent id)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Selection {
    /// The lowest score of the lowest non-empty penalty tier in the caller's window.
    Lowest,
    /// The lowest score greater than the queue's round-robin cursor, wrapping around to the
    /// lowest; the cursor then moves to the chosen agent's score.
    RoundRobin,
    /// Every agent of the lowest non-empty tier (bounded by [`RINGALL_MAX_AGENTS`]).
    All,
    /// The lowest score across every tier in the window: penalties weigh through the score.
    LowestAcrossTiers,
}

/// At most this many agents are rung at once for one caller under `ringall`: ringing hundreds
/// of phones for one call overloads Asterisk and helps nobody.
pub const RINGALL_MAX_AGENTS: usize = 32;

/// A rank among available agents: lower is offered first. Kept below 2^53 so that it is exact
/// as a Redis sorted-set score.
pub type Score = u64;

/// What scoring may use about an agent in one queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AgentStats {
    /// Position of the agent among the queue's members in configured order.
    pub order: u32,
    /// Penalty of the agent in this queue.
    pub penalty: u32,
    /// When the agent's last call from this queue ended ([`Time::ZERO`] if never).
    pub last_call_end: Time,
    /// Calls the agent took from this queue.
    pub calls_taken: u64,
    /// The request's random draw (from the engine's seeded RNG), used by the random strategies
    /// through [`agent_draw`].
    pub draw: u64,
}

const SCORE_MASK: u64 = (1 << 53) - 1;

/// The modulus of the MINSTD generator (2^31 − 1).
const MINSTD_MODULUS: u64 = 2_147_483_647;

/// One request's draw turned into an agent's own random value in `1..2^31−1`, from the agent's
/// member order. Two MINSTD (Park–Miller) steps: every intermediate stays below 2^47, so the
/// Redis functions, whose Lua numbers are doubles exact to 2^53, compute the very same values.
pub fn agent_draw(draw: u64, order: u32) -> u64 {
    let mut x = (draw % MINSTD_MODULUS + u64::from(order) * 7_919) % MINSTD_MODULUS;
    if x == 0 {
        x = 1;
    }
    for _ in 0..2 {
        x = x * 48_271 % MINSTD_MODULUS;
    }
    x
}

impl Strategy {
    /// Every strategy, for exhaustive tests and simulation.
    pub const ALL: [Strategy; 9] = [
        Strategy::RingAll,
        Strategy::LeastRecent,
        Strategy::FewestCalls,
        Strategy::RrMemory,
        Strategy::RrOrdered,
        Strategy::Linear,
        Strategy::Random,
        Strategy::WRandom,
        Strategy::RingProgressively,
    ];

    /// The agent's score in a queue with this strategy.
    pub fn score(self, stats: &AgentStats) -> Score {
        let score = match self {
            Strategy::LeastRecent => stats.last_call_end.as_millis(),
            Strategy::FewestCalls => stats.calls_taken,
            Strategy::RingAll
            | Strategy::RrMemory
            | Strategy::RrOrdered
            | Strategy::Linear
            | Strategy::RingProgressively => u64::from(stats.order),
            Strategy::Random => agent_draw(stats.draw, stats.order),
            Strategy::WRandom => {
                agent_draw(stats.draw, stats.order) % ((u64::from(stats.penalty) + 1) * 1000)
            }
        };
        score & SCORE_MASK
    }

    /// How the store selects among scored agents.
    pub const fn selection(self) -> Selection {
        match self {
            Strategy::RingAll => Selection::All,
            Strategy::RrMemory | Strategy::RrOrdered => Selection::RoundRobin,
            Strategy::WRandom => Selection::LowestAcrossTiers,
            Strategy::LeastRecent
            | Strategy::FewestCalls
            | Strategy::Linear
            | Strategy::Random
            | Strategy::RingProgressively => Selection::Lowest,
        }
    }

    /// Whether several agents may ring for one caller at once (first answer wins).
    pub const fn rings_several(self) -> bool {
        matches!(self, Strategy::RingAll | Strategy::RingProgressively)
    }

    /// The name as written in configuration.
    pub const fn as_str(self) -> &'static str {
        match self {
            Strategy::RingAll => "ringall",
            Strategy::LeastRecent => "leastrecent",
            Strategy::FewestCalls => "fewestcalls",
            Strategy::RrMemory => "rrmemory",
            Strategy::RrOrdered => "rrordered",
            Strategy::Linear => "linear",
            Strategy::Random => "random",
            Strategy::WRandom => "wrandom",
            Strategy::RingProgressively => "ring-progressively",
        }
    }
}

impl FromStr for Strategy {
    type Err = SettingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        if name == "roundrobin" {
            return Ok(Strategy::RrMemory);
        }
        Strategy::ALL.into_iter().find(|st| st.as_str() == name).ok_or_else(|| {
            let known: Vec<&str> = Strategy::ALL.iter().map(|st| st.as_str()).collect();
            SettingError::new("strategy", s, format!("expected one of {}", known.join(", ")))
        })
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(order: u32, last: u64, calls: u64, penalty: u32, draw: u64) -> AgentStats {
        AgentStats { order, penalty, last_call_end: Time(last), calls_taken: calls, draw }
    }

    #[test]
    fn names_round_trip_and_unknown_names_list_the_choices() {
        for st in Strategy::ALL {
            assert_eq!(st.as_str().parse::<Strategy>().unwrap(), st);
        }
        assert_eq!("RoundRobin".parse::<Strategy>().unwrap(), Strategy::RrMemory);
        let err = "longest-idle".parse::<Strategy>().unwrap_err().to_string();
        assert!(err.contains("leastrecent") && err.contains("\"longest-idle\""), "{err}");
    }

    #[test]
    fn scores_follow_each_strategy_meaning() {
        let idle_long = stats(5, 1_000, 9, 0, 0);
        let idle_short = stats(1, 9_000, 1, 0, 0);
        let ls = |st: Strategy, a: &AgentStats, b: &AgentStats| st.score(a) < st.score(b);
        assert!(ls(Strategy::LeastRecent, &idle_long, &idle_short));
        assert!(ls(Strategy::FewestCalls, &idle_short, &idle_long));
        assert!(ls(Strategy::Linear, &idle_short, &idle_long));
        // wrandom: penalty 0 draws below 1000, penalty 4 below 5000.
        for draw in [0, 999, 123_456_789, u64::MAX] {
            assert!(Strategy::WRandom.score(&stats(0, 0, 0, 0, draw)) < 1000);
            assert!(Strategy::WRandom.score(&stats(0, 0, 0, 4, draw)) < 5000);
        }
        assert!(Strategy::Random.score(&stats(0, 0, 0, 0, u64::MAX)) < MINSTD_MODULUS);
        // Known values, so an implementation in another language can be checked against them.
        assert_eq!(agent_draw(0, 0), 48_271 * 48_271 % MINSTD_MODULUS);
        assert_ne!(agent_draw(42, 1), agent_draw(42, 2));
    }
}
