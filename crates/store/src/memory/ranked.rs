//! An ordered set that also answers "how many keys are smaller than this one" in O(log n): the
//! callers' positions in a queue (Redis answers the same with `ZRANK`).
//!
//! Written here because std's `BTreeSet` can only count by walking a range, which is O(position),
//! and the crates that add ranks to B-trees are either unmaintained or two-level structures whose
//! rank is not logarithmic. A treap with subtree sizes is short and easy to check; node
//! priorities come from a SplitMix64 sequence, so the shape is deterministic.

use std::cmp::Ordering;

type Link<K> = Option<Box<Node<K>>>;

#[derive(Debug)]
struct Node<K> {
    key: K,
    priority: u64,
    size: usize,
    left: Link<K>,
    right: Link<K>,
}

fn size<K>(link: &Link<K>) -> usize {
    link.as_ref().map_or(0, |n| n.size)
}

impl<K> Node<K> {
    fn fix(&mut self) {
        self.size = 1 + size(&self.left) + size(&self.right);
    }
}

/// An ordered set with rank queries.
#[derive(Debug)]
pub(crate) struct RankedSet<K> {
    root: Link<K>,
    counter: u64,
}

impl<K> Default for RankedSet<K> {
    fn default() -> Self {
        RankedSet { root: None, counter: 0 }
    }
}

/// Splits into keys `< key` (or `<= key` with `inclusive`) and the rest.
fn split<K: Ord>(link: Link<K>, key: &K, inclusive: bool) -> (Link<K>, Link<K>) {
    let Some(mut node) = link else { return (None, None) };
    let goes_left = match node.key.cmp(key) {
        Ordering::Less => true,
        Ordering::Equal => inclusive,
        Ordering::Greater => false,
    };
    if goes_left {
        let (l, r) = split(node.right.take(), key, inclusive);
        node.right = l;
        node.fix();
        (Some(node), r)
    } else {
        let (l, r) = split(node.left.take(), key, inclusive);
        node.left = r;
        node.fix();
        (l, Some(node))
    }
}

/// Joins two treaps where every key of `a` is below every key of `b`.
fn merge<K>(a: Link<K>, b: Link<K>) -> Link<K> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(mut a), Some(mut b)) => {
            if a.priority > b.priority {
                a.right = merge(a.right.take(), Some(b));
                a.fix();
                Some(a)
            } else {
                b.left = merge(Some(a), b.left.take());
                b.fix();
                Some(b)
            }
        }
    }
}

impl<K: Ord> RankedSet<K> {
    pub(crate) fn len(&self) -> usize {
        size(&self.root)
    }

    /// Inserts `key`; returns false if it was already there.
    pub(crate) fn insert(&mut self, key: K) -> bool {
        if self.contains(&key) {
            return false;
        }
        self.counter += 1;
        let node = Box::new(Node {
            key,
            priority: splitmix(self.counter),
            size: 1,
            left: None,
            right: None,
        });
        let (l, r) = split(self.root.take(), &node.key, false);
        self.root = merge(merge(l, Some(node)), r);
        true
    }

    /// Removes `key`; returns whether it was there.
    pub(crate) fn remove(&mut self, key: &K) -> bool {
        let (l, r) = split(self.root.take(), key, false);
        let (mid, r) = split(r, key, true);
        self.root = merge(l, r);
        mid.is_some()
    }

    pub(crate) fn contains(&self, key: &K) -> bool {
        let mut link = &self.root;
        while let Some(node) = link {
            match key.cmp(&node.key) {
                Ordering::Less => link = &node.left,
                Ordering::Greater => link = &node.right,
                Ordering::Equal => return true,
            }
        }
        false
    }

    /// Number of keys strictly smaller than `key`.
    pub(crate) fn rank(&self, key: &K) -> usize {
        let (mut link, mut below) = (&self.root, 0);
        while let Some(node) = link {
            if node.key < *key {
                below += size(&node.left) + 1;
                link = &node.right;
            } else {
                link = &node.left;
            }
        }
        below
    }

    pub(crate) fn first(&self) -> Option<&K> {
        let mut node = self.root.as_ref()?;
        while let Some(left) = &node.left {
            node = left;
        }
        Some(&node.key)
    }
}

fn splitmix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Behaves like a `BTreeSet` whose rank is counted by walking.
        #[test]
        fn matches_a_btreeset(ops in prop::collection::vec((any::<bool>(), 0u16..200), 0..400)) {
            let mut ranked = RankedSet::default();
            let mut reference = BTreeSet::new();
            for (insert, key) in ops {
                if insert {
                    prop_assert_eq!(ranked.insert(key), reference.insert(key));
                } else {
                    prop_assert_eq!(ranked.remove(&key), reference.remove(&key));
                }
                prop_assert_eq!(ranked.len(), reference.len());
                prop_assert_eq!(ranked.first(), reference.first());
                prop_assert_eq!(ranked.rank(&key), reference.range(..key).count());
                prop_assert_eq!(ranked.contains(&key), reference.contains(&key));
            }
        }
    }
}
