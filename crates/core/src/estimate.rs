//! Estimated wait, and the prompts that announce position and wait.
//!
//! `app_queue` announces a queue-wide moving average of hold time minus the time already
//! waited, which ignores both the caller's position and how many agents are serving. starq
//! estimates from what decides the wait: a caller at position `p` with `n` agents serving is
//! reached after about `ceil(p / n)` handle times, where handle time is the queue's moving
//! average of talk plus wrap-up.

use std::time::Duration;

use crate::config::{Announcements, HoldtimeAnnounce, PositionAnnounce};

/// Moving average of handle time (talk + wrap-up) of one queue; new = ¾·old + ¼·sample, as
/// `app_queue` weighs its hold-time average.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct HandleTime {
    average: Option<Duration>,
}

impl HandleTime {
    /// Folds in one completed call.
    pub fn record(&mut self, sample: Duration) {
        self.average = Some(match self.average {
            None => sample,
            // Quartered before adding: no sum can overflow, whatever the durations.
            Some(old) => old / 4 * 3 + sample / 4,
        });
    }

    /// The current average, if any call completed yet.
    pub fn average(&self) -> Option<Duration> {
        self.average
    }
}

/// The estimated wait of a caller at `position` (1-based) with `serving` agents.
pub fn estimated_wait(position: u32, serving: u32, handle: &HandleTime) -> Option<Duration> {
    let average = handle.average()?;
    if serving == 0 {
        return None;
    }
    let rounds = position.div_ceil(serving);
    Some(average.saturating_mul(rounds))
}

/// The media (ARI `sound:` / `number:` URIs) of a position / hold-time announcement, or an
/// empty list when nothing is to be said. `said_holdtime` tracks `announce-holdtime=once`.
pub fn position_prompts(
    cfg: &Announcements,
    position: u32,
    wait: Option<Duration>,
    said_holdtime: bool,
) -> Vec<String> {
    let mut media = Vec::new();
    let say_position = match cfg.position {
        PositionAnnounce::No => false,
        PositionAnnounce::Yes | PositionAnnounce::More => true,
        PositionAnnounce::Limit => position <= cfg.position_limit,
    };
    if say_position {
        if position == 1 {
            media.push("sound:queue-youarenext".to_owned());
        } else if cfg.position == PositionAnnounce::More && position > cfg.position_limit {
            media.push("sound:queue-thereare".to_owned());
            media.push("sound:queue-more-than".to_owned());
            media.push(format!("number:{}", cfg.position_limit));
            media.push("sound:queue-callswaiting".to_owned());
        } else {
            media.push("sound:queue-thereare".to_owned());
            media.push(format!("number:{position}"));
            media.push("sound:queue-callswaiting".to_owned());
        }
    }
    let say_wait = match cfg.holdtime {
        HoldtimeAnnounce::No => false,
        HoldtimeAnnounce::Yes => true,
        HoldtimeAnnounce::Once => !said_holdtime,
    };
    if let Some(wait) = wait.filter(|_| say_wait && position > 1) {
        media.push("sound:queue-holdtime".to_owned());
        let secs = wait.as_secs();
        if cfg.round_seconds > 0 && secs < 60 {
            let round = u64::from(cfg.round_seconds);
            media.push(format!("number:{}", secs.div_ceil(round) * round));
            media.push("sound:queue-seconds".to_owned());
        } else {
            media.push(format!("number:{}", secs.div_ceil(60).max(1)));
            media.push("sound:queue-minutes".to_owned());
        }
    }
    if !media.is_empty() {
        media.push("sound:queue-thankyou".to_owned());
    }
    media
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_grows_with_position_and_shrinks_with_agents() {
        let mut h = HandleTime::default();
        assert_eq!(estimated_wait(3, 1, &h), None, "no sample yet");
        h.record(Duration::from_secs(120));
        assert_eq!(estimated_wait(1, 2, &h), Some(Duration::from_secs(120)));
        assert_eq!(estimated_wait(3, 2, &h), Some(Duration::from_secs(240)));
        assert_eq!(estimated_wait(3, 0, &h), None);
        h.record(Duration::from_secs(40));
        assert_eq!(h.average(), Some(Duration::from_secs(100)));
    }

    #[test]
    fn prompts_follow_the_settings() {
        let mut cfg = Announcements {
            position: PositionAnnounce::Limit,
            position_limit: 3,
            ..Default::default()
        };
        assert_eq!(position_prompts(&cfg, 1, None, false)[0], "sound:queue-youarenext");
        assert!(position_prompts(&cfg, 4, None, false).is_empty(), "beyond the limit");
        cfg.position = PositionAnnounce::More;
        assert!(
            position_prompts(&cfg, 4, None, false).contains(&"sound:queue-more-than".to_owned())
        );
        cfg.holdtime = HoldtimeAnnounce::Once;
        let wait = Some(Duration::from_secs(150));
        assert!(position_prompts(&cfg, 2, wait, false).contains(&"number:3".to_owned()));
        assert!(
            !position_prompts(&cfg, 2, wait, true).contains(&"sound:queue-holdtime".to_owned())
        );
    }
}
