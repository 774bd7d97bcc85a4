//! The `callid` of a caller's `queue_log` lines: unique in the site, the same in every queue of
//! a failover chain, and short enough for Asterisk's realtime `queue_log.callid` column.
//!
//! app_queue writes the caller channel's uniqueid, which is unique on one Asterisk only. A starq
//! site has several Asterisk nodes, whose uniqueids can coincide, so starq writes
//! `<node>~<uniqueid>`: its own call id without the failover step (`-q<step>`). Call ids are
//! split at their first `~`, so no node name holds one and two calls never share a callid; the
//! channel keeps one callid in every queue of a failover chain, as in app_queue.
//!
//! Asterisk's realtime schema (`contrib/ast-db-manage/queue_log`) makes `callid` a
//! `VARCHAR(80)`. An id shorter than [`CALLID_MAX`] characters is written whole; a longer one is
//! cut to its first characters followed by `#` and a 128-bit hash of the whole id,
//! [`CALLID_MAX`] characters in all. The cut is deterministic (every line of a call, in every
//! process, has the same callid); a cut id is never equal to a whole one, which is shorter; two
//! cut ids are equal only if their 128-bit hashes are.

use std::borrow::Cow;

use starq_core::CallId;

use super::split_call;

/// The size of `callid` in Asterisk's realtime `queue_log` table, in characters.
pub const CALLID_MAX: usize = 80;

/// Hex digits of the hash a cut callid ends with.
const HASH_DIGITS: usize = 32;

/// The callid written for a caller: `<node>~<uniqueid>` (the uniqueid alone for a call id
/// without a node), cut as the module docs say when it is too long.
pub fn callid(call: &CallId) -> Cow<'_, str> {
    let (node, channel, step) = split_call(call);
    let whole: Cow<'_, str> = match (node.is_empty(), step) {
        (true, _) => Cow::Borrowed(channel),
        // The call id itself, when it has no failover step to strip.
        (false, 0) => Cow::Borrowed(call.as_str()),
        (false, _) => Cow::Owned(format!("{node}~{channel}")),
    };
    if whole.chars().count() < CALLID_MAX {
        return whole;
    }
    let kept: String = whole.chars().take(CALLID_MAX - HASH_DIGITS - 1).collect();
    Cow::Owned(format!("{kept}#{:0width$x}", fnv1a_128(whole.as_bytes()), width = HASH_DIGITS))
}

/// FNV-1a, 128-bit: small, and the same on every platform and Rust version (unlike std's
/// hasher), which a callid written across restarts needs.
fn fnv1a_128(bytes: &[u8]) -> u128 {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    bytes.iter().fold(OFFSET, |hash, &b| (hash ^ u128::from(b)).wrapping_mul(PRIME))
}

#[cfg(test)]
mod tests {
    use super::*;
    use starq_core::NodeId;

    fn call(node: &str, channel: &str, step: u32) -> CallId {
        CallId::of_channel(&NodeId::new(node), channel, step)
    }

    #[test]
    fn two_nodes_with_one_uniqueid_are_two_calls_and_steps_share_one() {
        let a = callid(&call("pbx1", "1700000000.42", 0)).into_owned();
        let b = callid(&call("pbx2", "1700000000.42", 0)).into_owned();
        assert_eq!(a, "pbx1~1700000000.42");
        assert_eq!(b, "pbx2~1700000000.42");
        assert_eq!(callid(&call("pbx1", "1700000000.42", 3)), a, "a failover chain keeps it");
        assert_eq!(callid(&CallId::new("bare.1")), "bare.1", "no node: the uniqueid alone");
    }

    #[test]
    fn long_ids_are_cut_to_the_column_without_two_calls_meeting() {
        let long = |tail: &str| format!("{}{tail}", "9".repeat(90));
        let (x, y) = (call("pbx1", &long("1"), 0), call("pbx1", &long("2"), 0));
        let (cx, cy) = (callid(&x), callid(&y));
        assert_eq!(cx.chars().count(), CALLID_MAX);
        assert_ne!(cx, cy, "same first characters, different calls");
        assert!(cx.starts_with("pbx1~999"), "still readable: {cx}");
        assert_eq!(callid(&call("pbx1", &long("1"), 2)), cx, "every step, the same cut");
        // An id one short of the column is written whole, so no whole id looks like a cut one.
        let fits = call("n", &"7".repeat(CALLID_MAX - 3), 0);
        assert_eq!(callid(&fits), fits.as_str());
        let cut = call("n", &"7".repeat(CALLID_MAX - 2), 0);
        assert_eq!(callid(&cut).chars().count(), CALLID_MAX);
        assert!(callid(&cut).contains('#'));
        let wide = call("n", &"é".repeat(100), 0);
        assert_eq!(callid(&wide).chars().count(), CALLID_MAX, "counted in characters");
    }

    #[test]
    fn the_hash_is_fnv1a_128() {
        // Published FNV-1a 128 values (the empty input is the offset basis).
        assert_eq!(fnv1a_128(b""), 0x6c62272e07bb014262b821756295c58d);
        assert_eq!(fnv1a_128(b"a"), 0xd228cb696f1a8caf78912b704e4a8964);
    }
}
