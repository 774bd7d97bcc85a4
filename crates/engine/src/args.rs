//! The arguments of `Stasis(starq,queue=NAME[,priority=N][,timeout=S])`, parsed strictly: a
//! caller with a mistyped argument is sent back to the dialplan with a reason, never left
//! waiting in a queue it did not ask for.

use std::time::Duration;

use starq_core::QueueId;
use thiserror::Error;

/// What a caller asked for in the dialplan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StasisArgs {
    /// The queue.
    pub queue: QueueId,
    /// Priority, higher first (default 0).
    pub priority: i32,
    /// Maximum wait, overriding the queue's.
    pub max_wait: Option<Duration>,
}

/// Why the arguments were refused; the message names the argument.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum ArgError {
    /// No `queue=` argument.
    #[error("no queue given: expected Stasis(app,queue=NAME[,priority=N][,timeout=S])")]
    NoQueue,
    /// An argument that is not `key=value`.
    #[error("argument {0:?} is not key=value")]
    NotKeyValue(String),
    /// A key starq does not know.
    #[error("unknown argument {0:?}: expected queue, priority or timeout")]
    UnknownKey(String),
    /// A key given twice.
    #[error("argument {0:?} given twice")]
    Duplicate(String),
    /// A value that does not parse.
    #[error("{key}={value:?} is not valid: {reason}")]
    BadValue {
        /// The key.
        key: &'static str,
        /// The value as given.
        value: String,
        /// What was expected.
        reason: &'static str,
    },
}

/// Parses the `args` of a `StasisStart`.
pub fn parse(args: &[String]) -> Result<StasisArgs, ArgError> {
    let (mut queue, mut priority, mut max_wait) = (None, None, None);
    for arg in args.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        let (key, value) =
            arg.split_once('=').ok_or_else(|| ArgError::NotKeyValue(arg.to_owned()))?;
        let (key, value) = (key.trim(), value.trim());
        let bad = |key, reason| ArgError::BadValue { key, value: value.to_owned(), reason };
        match key {
            "queue" if queue.is_some() => return Err(ArgError::Duplicate(key.to_owned())),
            "priority" if priority.is_some() => return Err(ArgError::Duplicate(key.to_owned())),
            "timeout" if max_wait.is_some() => return Err(ArgError::Duplicate(key.to_owned())),
            "queue" if value.is_empty() => return Err(bad("queue", "a queue name")),
            "queue" => queue = Some(QueueId::new(value)),
            "priority" => {
                priority =
                    Some(value.parse::<i32>().map_err(|_| bad("priority", "a whole number"))?)
            }
            "timeout" => {
                let limits = starq_core::config::limits::MAX_WAIT_SECS;
                let secs = value
                    .parse::<u64>()
                    .ok()
                    .filter(|s| limits.contains(s))
                    .ok_or(bad("timeout", "whole seconds, at most a day (86400)"))?;
                max_wait = Some(Duration::from_secs(secs));
            }
            other => return Err(ArgError::UnknownKey(other.to_owned())),
        }
    }
    Ok(StasisArgs {
        queue: queue.ok_or(ArgError::NoQueue)?,
        priority: priority.unwrap_or(0),
        max_wait,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn full_and_minimal_forms() {
        let a = parse(&args(&["queue=support", "priority=5", "timeout=300"])).unwrap();
        assert_eq!(
            a,
            StasisArgs {
                queue: "support".into(),
                priority: 5,
                max_wait: Some(Duration::from_secs(300))
            }
        );
        let a = parse(&args(&["queue=sales"])).unwrap();
        assert_eq!((a.priority, a.max_wait), (0, None));
    }

    #[test]
    fn mistakes_are_named() {
        assert_eq!(parse(&args(&["priority=1"])), Err(ArgError::NoQueue));
        assert_eq!(parse(&args(&["support"])), Err(ArgError::NotKeyValue("support".into())));
        assert_eq!(parse(&args(&["queue=a", "prio=1"])), Err(ArgError::UnknownKey("prio".into())));
        assert_eq!(parse(&args(&["queue=a", "queue=b"])), Err(ArgError::Duplicate("queue".into())));
        let err = parse(&args(&["queue=a", "timeout=-3"])).unwrap_err().to_string();
        assert!(err.contains("timeout") && err.contains("-3"), "{err}");
        let err = parse(&args(&["queue=a", "timeout=86401"])).unwrap_err().to_string();
        assert!(err.contains("at most a day"), "{err}");
        assert!(parse(&args(&["queue=a", "timeout=86400"])).is_ok());
    }
}
