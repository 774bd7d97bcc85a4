//! Random site configurations: every setting the core has, drawn per seed ("swarm" testing, so
//! each seed exercises a different mix of features).

use std::time::Duration;

use starq_core::config::{
    AgentConfig, Announcements, AutoPause, AutoPauseScope, Contact, EmptyConditions,
    HoldtimeAnnounce, MemberCondition, Membership, Overflow, PenaltyChange, PenaltyRule,
    PenaltyStep, PositionAnnounce, QueueConfig,
};
use starq_core::rng::Rng;
use starq_core::strategy::Strategy;
use starq_core::{NodeId, QueueId};

/// The simulated Asterisk nodes callers arrive on.
pub const NODES: [&str; 2] = ["n1", "n2"];

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn conditions(rng: &mut Rng) -> EmptyConditions {
    if rng.chance(0.6) {
        return EmptyConditions::NONE;
    }
    let all = [
        MemberCondition::Paused,
        MemberCondition::Penalty,
        MemberCondition::InUse,
        MemberCondition::Ringing,
        MemberCondition::Unavailable,
        MemberCondition::WrapUp,
    ];
    let picked: Vec<MemberCondition> = all.into_iter().filter(|_| rng.chance(0.3)).collect();
    EmptyConditions::of(&picked)
}

fn rule(rng: &mut Rng) -> PenaltyRule {
    if rng.chance(0.5) {
        return PenaltyRule::default();
    }
    let first = PenaltyStep {
        after: Duration::ZERO,
        max: PenaltyChange::Absolute(rng.below(2) as u32),
        min: None,
    };
    let widen = PenaltyStep {
        after: secs(5 + rng.below(30)),
        max: PenaltyChange::Relative(1 + rng.below(3) as i64),
        min: None,
    };
    let open = PenaltyStep {
        after: secs(40 + rng.below(40)),
        max: PenaltyChange::Absolute(u32::MAX),
        min: Some(PenaltyChange::Absolute(0)),
    };
    PenaltyRule::new(vec![first, widen, open])
}

/// A random queue.
pub fn queue(rng: &mut Rng, index: usize, queues: usize) -> QueueConfig {
    let mut q = QueueConfig::new(format!("q{index}"));
    q.strategy = Strategy::ALL[rng.below(Strategy::ALL.len() as u64) as usize];
    q.ring_progressively_delay = secs(2 + rng.below(6));
    q.weight = rng.below(3) as u32;
    q.autofill = rng.chance(0.8);
    q.ring_timeout = secs(5 + rng.below(15));
    q.retry = secs(rng.below(6));
    q.wrapup = secs(rng.below(3) * 5);
    if rng.chance(0.4) {
        let scope =
            if rng.chance(0.5) { AutoPauseScope::ThisQueue } else { AutoPauseScope::AllQueues };
        q.autopause = AutoPause {
            scope: Some(scope),
            after_misses: 1 + rng.below(3) as u32,
            on_busy: rng.chance(0.5),
            on_unavailable: rng.chance(0.5),
        };
    }
    q.max_len = rng.chance(0.3).then(|| 1 + rng.below(10) as u32);
    q.join_empty = conditions(rng);
    q.leave_empty = conditions(rng);
    q.max_wait = rng.chance(0.5).then(|| secs(30 + rng.below(200)));
    if index + 1 < queues && rng.chance(0.3) {
        q.on_timeout = Overflow::Queue(QueueId::new(format!("q{}", index + 1)));
    }
    q.exit_context = rng.chance(0.3).then(|| "exits".to_owned());
    q.penalty_members_limit = if rng.chance(0.2) { rng.below(4) as u32 } else { 0 };
    q.rule = rule(rng);
    q.announce = Announcements {
        frequency: rng.chance(0.5).then(|| secs(10 + rng.below(30))),
        position: [
            PositionAnnounce::No,
            PositionAnnounce::Yes,
            PositionAnnounce::Limit,
            PositionAnnounce::More,
        ][rng.below(4) as usize],
        holdtime: [HoldtimeAnnounce::No, HoldtimeAnnounce::Yes, HoldtimeAnnounce::Once]
            [rng.below(3) as usize],
        periodic: if rng.chance(0.5) {
            vec!["queue-periodic-announce".into(), "custom/promo".into()]
        } else {
            Vec::new()
        },
        periodic_frequency: rng.chance(0.5).then(|| secs(20 + rng.below(40))),
        random_periodic: rng.chance(0.5),
        to_first_user: rng.chance(0.5),
        ..Announcements::default()
    };
    q
}

/// A random agent. With `everywhere` one of its contacts works from every node; otherwise from
/// one random node only (or, one time in five, from none: an account on a server outside).
pub fn agent(rng: &mut Rng, index: usize, queues: usize, everywhere: bool) -> AgentConfig {
    let mut a = AgentConfig::new(format!("a{index}"));
    a.wrapup = rng.chance(0.2).then(|| secs(rng.below(10)));
    for q in 0..queues {
        if q == index % queues || rng.chance(0.4) {
            a.memberships.push(Membership {
                queue: QueueId::new(format!("q{q}")),
                penalty: rng.below(4) as u32,
            });
        }
    }
    // An account on a backup server only: reachable from another node, not from ours.
    a.contacts.push(Contact {
        endpoint: format!("PJSIP/{index}-backup"),
        nodes: vec![NodeId::new("backup")],
    });
    let nodes = if everywhere || rng.chance(0.5) {
        Some(Vec::new())
    } else if rng.chance(0.8) {
        Some(vec![NodeId::new(NODES[rng.below(NODES.len() as u64) as usize])])
    } else {
        None
    };
    if let Some(nodes) = nodes {
        a.contacts.push(Contact { endpoint: format!("PJSIP/{index}"), nodes });
    }
    a
}
