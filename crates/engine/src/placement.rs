//! Which live instance owns which node: rendezvous (highest random weight) hashing. Every
//! instance computes the same answer from the same membership, without talking to the others;
//! when an instance joins or leaves, only the nodes it wins or held move.

/// The instance that should own `node` among `live` (none when no instance is live).
pub fn owner<'a>(node: &str, live: &'a [String]) -> Option<&'a str> {
    live.iter()
        .max_by_key(|instance| (weight(instance, node), instance.as_str()))
        .map(String::as_str)
}

/// The pair's weight: 64-bit FNV-1a of `instance \0 node`. Written out rather than taken from
/// `std::hash`, whose algorithm may change between Rust releases: instances built by different
/// compilers must still agree.
fn weight(instance: &str, node: &str) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let bytes = instance.bytes().chain(std::iter::once(0)).chain(node.bytes());
    let hash = bytes.fold(OFFSET, |h, b| (h ^ u64::from(b)).wrapping_mul(PRIME));
    // FNV's last multiply leaves the high bits poorly mixed for short keys: finish them.
    let mut x = hash;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^ (x >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn one_instance_owns_everything_and_none_owns_nothing() {
        assert_eq!(owner("main", &names(&["solo"])), Some("solo"));
        assert_eq!(owner("main", &[]), None);
    }

    #[test]
    fn nodes_spread_and_only_the_leavers_nodes_move() {
        let nodes: Vec<String> = (0..64).map(|i| format!("node{i}")).collect();
        let three = names(&["starq-a", "starq-b", "starq-c"]);
        let before: Vec<&str> = nodes.iter().map(|n| owner(n, &three).expect("live")).collect();
        for instance in &three {
            let owned = before.iter().filter(|o| **o == instance.as_str()).count();
            assert!((10..=34).contains(&owned), "{instance} owns {owned} of 64");
        }
        let two = names(&["starq-a", "starq-c"]);
        for (node, was) in nodes.iter().zip(&before) {
            let now = owner(node, &two).expect("live");
            if *was != "starq-b" {
                assert_eq!(now, *was, "{node} moved though its owner stayed");
            }
        }
    }

    #[test]
    fn every_instance_computes_the_same_owner_whatever_the_order() {
        let a = names(&["x", "y", "z"]);
        let b = names(&["z", "x", "y"]);
        for i in 0..32 {
            let node = format!("n{i}");
            assert_eq!(owner(&node, &a), owner(&node, &b));
        }
    }
}
