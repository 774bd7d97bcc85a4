//! Identifiers, one type per kind of thing, so a queue name is never passed where an agent id is
//! expected.
//!
//! Names are small strings stored inline (no pointer to chase when the store's sorted indexes
//! compare them, which is what keeps lookups flat from 100 to 10,000 agents); ids starq chooses
//! (calls, reservations) are compact and deterministic, because agent-leg channel ids are derived from
//! them (`<call>-<attempt>`) and a retried request must produce the same id.

use std::fmt;

use serde::{Deserialize, Serialize};
use smol_str::SmolStr;

macro_rules! name_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(SmolStr);

        impl $name {
            /// Wraps a name.
            pub fn new(name: impl AsRef<str>) -> Self {
                $name(SmolStr::new(name))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                $name::new(s)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                $name::new(s)
            }
        }
    };
}

name_id!(
    /// A queue's name, as in `Stasis(starq,queue=NAME)`.
    QueueId
);
name_id!(
    /// An agent: a person who takes calls, independent of the phones (contacts) they use.
    AgentId
);
name_id!(
    /// An Asterisk node of the cluster, by its configured name.
    NodeId
);
name_id!(
    /// A caller's call: the channel id of the caller's leg on its node (unique cluster-wide,
    /// since Asterisk channel ids embed the system name and a timestamp).
    CallId
);

impl CallId {
    /// The caller id of a channel's stay in the `step`-th queue of its failover chain (0 for the
    /// queue it entered first): `<node>~<channel>`, then `<node>~<channel>-q<step>`. The node is
    /// part of it because Asterisk channel ids are unique on one server only.
    pub fn of_channel(node: &NodeId, channel: &str, step: u32) -> CallId {
        match step {
            0 => CallId::new(format!("{node}~{channel}")),
            n => CallId::new(format!("{node}~{channel}-q{n}")),
        }
    }

    /// The (channel, step) pairs [`CallId::of_channel`] could have made this id from on `node`,
    /// most specific first: `n~abc-q2` is step 2 of channel `abc`, or step 0 of a channel
    /// named `abc-q2`. Whoever reads one back picks the channel that exists.
    pub fn channel_candidates(&self, node: &NodeId) -> Vec<(String, u32)> {
        let Some(rest) = self.0.strip_prefix(node.as_str()).and_then(|r| r.strip_prefix('~'))
        else {
            return Vec::new();
        };
        let mut candidates = Vec::with_capacity(2);
        if let Some((channel, step)) = rest.rsplit_once("-q")
            && let Ok(step) = step.parse::<u32>()
            && step > 0
            && CallId::of_channel(node, channel, step) == *self
        {
            candidates.push((channel.to_owned(), step));
        }
        candidates.push((rest.to_owned(), 0));
        candidates
    }

    /// The id's parts as [`CallId::of_channel`] wrote them: node (empty if the id has none),
    /// channel, failover step. Only a suffix starq writes counts as a step (`-q` and digits
    /// without a leading zero); a channel whose own name ends so is read as a step, which
    /// [`CallId::channel_candidates`] tells apart where the channel can be looked up.
    pub fn parts(&self) -> (&str, &str, u32) {
        let (node, rest) = self.0.split_once('~').unwrap_or(("", self.as_str()));
        if let Some((channel, digits)) = rest.rsplit_once("-q")
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit())
            && let Ok(step) = digits.parse::<u32>()
        {
            return (node, channel, step);
        }
        (node, rest, 0)
    }
}

/// The channel id starq gives the agent leg of an offer: `<call>-r<reservation>-leg`. One
/// offer has one leg id, so that an earlier owner's leg is found again by it (and Asterisk
/// refuses a second channel with it). The `-leg` end keeps one leg's id from being the start of
/// another's (`…-r1` of `…-r12`): Asterisk looks channel ids up by prefix when it checks that
/// an id is free.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct LegId {
    call: CallId,
    reservation: ReservationId,
}

impl LegId {
    const END: &'static str = "-leg";

    /// The leg of `call`'s offer `reservation`.
    pub fn new(call: CallId, reservation: ReservationId) -> Self {
        LegId { call, reservation }
    }

    /// Reads a channel id back as a leg id, if starq made it (any other channel: `None`).
    pub fn parse(id: &str) -> Option<LegId> {
        let (call, digits) = id.strip_suffix(Self::END)?.rsplit_once("-r")?;
        let canonical = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !canonical || !call.contains('~') {
            return None;
        }
        Some(LegId { call: CallId::new(call), reservation: ReservationId(digits.parse().ok()?) })
    }

    /// The call it was made for.
    pub fn call(&self) -> &CallId {
        &self.call
    }

    /// The offer it rings for.
    pub fn reservation(&self) -> ReservationId {
        self.reservation
    }

    /// Whether it belongs to a call of `node`.
    pub fn is_on(&self, node: &NodeId) -> bool {
        self.call.parts().0 == node.as_str()
    }
}

impl fmt::Display for LegId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-r{}{}", self.call, self.reservation.0, Self::END)
    }
}

/// The bridge starq makes for a caller's channel, `<channel>-bridge`: named after the channel,
/// so that whoever owns the node next finds it again.
pub fn bridge_of(channel: &str) -> String {
    format!("{channel}-bridge")
}

/// The caller's channel of a bridge starq made ([`bridge_of`]).
pub fn bridged_channel(bridge: &str) -> Option<&str> {
    bridge.strip_suffix("-bridge").filter(|c| !c.is_empty())
}

/// A reservation: one offer of one call to one agent. Unique per store, never reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ReservationId(pub u64);

impl fmt::Display for ReservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "r{}", self.0)
    }
}

/// A node lease's fencing token. Strictly increases every time a node changes owner; a store
/// mutation carrying an older epoch than the node's current one is refused.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Epoch(pub u64);

impl fmt::Display for Epoch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "e{}", self.0)
    }
}

/// The proof of ownership a node-scoped mutation carries: which node, at which epoch.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fence {
    /// The node the mutation acts for.
    pub node: NodeId,
    /// The epoch of the lease the acting instance holds on that node.
    pub epoch: Epoch,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leg_ids_are_built_and_read_back_in_one_form() {
        let call = CallId::of_channel(&NodeId::new("main"), "1700.1", 2);
        let leg = LegId::new(call.clone(), ReservationId(12));
        assert_eq!(leg.to_string(), "main~1700.1-q2-r12-leg");
        assert_eq!(LegId::parse(&leg.to_string()), Some(leg.clone()));
        assert!(leg.is_on(&NodeId::new("main")) && !leg.is_on(&NodeId::new("backup")));
        let short = LegId::new(call, ReservationId(1)).to_string();
        assert!(!leg.to_string().starts_with(&short), "no leg id begins another");
        for other in [
            "1700.1",
            "main~1700.1",
            "main~1700.1-r12",
            "main~1700.1-r-leg",
            "main~1700.1-r012-leg",
            "x-r1-leg",
        ] {
            assert_eq!(LegId::parse(other), None, "{other}");
        }
    }

    #[test]
    fn call_ids_split_into_node_channel_and_step() {
        let id = |s: &str| CallId::new(s);
        assert_eq!(id("pbx1~1700.1").parts(), ("pbx1", "1700.1", 0));
        assert_eq!(id("pbx1~1700.1-q3").parts(), ("pbx1", "1700.1", 3));
        assert_eq!(id("pbx1~a-quiet").parts(), ("pbx1", "a-quiet", 0));
        assert_eq!(id("pbx1~a-q0").parts(), ("pbx1", "a-q0", 0));
        assert_eq!(id("bare").parts(), ("", "bare", 0));
        assert_eq!(bridged_channel(&bridge_of("1700.1;2")), Some("1700.1;2"));
        assert_eq!(bridged_channel("other"), None);
    }

    #[test]
    fn call_ids_read_back_to_their_channel_and_step() {
        let node = NodeId::new("main");
        for (channel, step) in [("1700.12", 0), ("1700.12", 3), ("odd-q", 0), ("odd-q7", 0)] {
            let call = CallId::of_channel(&node, channel, step);
            assert!(
                call.channel_candidates(&node).contains(&(channel.to_owned(), step)),
                "{call} must read back to ({channel}, {step})"
            );
        }
        let call = CallId::of_channel(&node, "1700.12", 2);
        assert_eq!(call.channel_candidates(&node)[0], ("1700.12".to_owned(), 2));
        assert!(call.channel_candidates(&NodeId::new("backup")).is_empty(), "another node's call");
    }
}
