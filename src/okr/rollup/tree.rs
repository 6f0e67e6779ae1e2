//! Fixed-shape aggregation trees, many of them packed in one arena.
//!
//! Each group of `n` members is an implicit binary tree of `2n − 1` nodes:
//! member `i` is node `n + i`, node `k` combines nodes `2k` and `2k + 1`, and
//! node 1 is the aggregate of the whole group. Updating one member recomputes
//! only its path to node 1 (O(log n)), and because every node is always the
//! same function of the same two children, an incremental update gives
//! bit-for-bit the result of a full rebuild: floating-point sums do not drift.

/// Where one group lives in an [`Arena`]. `len == 0` is an empty group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct Group {
    base: u32,
    len: u32,
}

impl Group {
    pub(super) fn len(self) -> u32 {
        self.len
    }

    /// Arena index of tree node `k` (1-based, node 0 is not stored).
    fn node(self, k: u32) -> usize {
        (self.base + k - 1) as usize
    }
}

#[derive(Debug, Clone)]
pub(super) struct Arena<T> {
    nodes: Vec<T>,
}

impl<T> Default for Arena<T> {
    fn default() -> Self {
        Arena { nodes: Vec::new() }
    }
}

impl<T: Copy> Arena<T> {
    /// Reserves a group of `len` members, every node set to `fill`.
    pub(super) fn alloc(&mut self, len: u32, fill: T) -> Group {
        let base = self.nodes.len() as u32;
        if len > 0 {
            let size = 2 * len as usize - 1;
            self.nodes.resize(self.nodes.len() + size, fill);
        }
        Group { base, len }
    }

    /// Sets member `slot` without updating the tree above it (see [`Arena::build`]).
    pub(super) fn set_leaf(&mut self, g: Group, slot: u32, value: T) {
        debug_assert!(slot < g.len);
        self.nodes[g.node(g.len + slot)] = value;
    }

    /// Recomputes every inner node of `g` from its members.
    pub(super) fn build(&mut self, g: Group, combine: impl Fn(T, T) -> T) {
        for k in (1..g.len).rev() {
            self.nodes[g.node(k)] =
                combine(self.nodes[g.node(2 * k)], self.nodes[g.node(2 * k + 1)]);
        }
    }

    /// Sets member `slot` and recomputes its path to the root.
    pub(super) fn update(&mut self, g: Group, slot: u32, value: T, combine: impl Fn(T, T) -> T) {
        debug_assert!(slot < g.len);
        let mut k = g.len + slot;
        self.nodes[g.node(k)] = value;
        while k > 1 {
            k /= 2;
            self.nodes[g.node(k)] =
                combine(self.nodes[g.node(2 * k)], self.nodes[g.node(2 * k + 1)]);
        }
    }

    /// The aggregate of the whole group; `None` for an empty group.
    pub(super) fn root(&self, g: Group) -> Option<T> {
        (g.len > 0).then(|| self.nodes[g.node(1)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(a: f64, b: f64) -> f64 {
        a + b
    }

    #[test]
    fn root_covers_every_member_once_for_any_size() {
        for n in 0..40u32 {
            let mut arena = Arena::default();
            let _pad = arena.alloc(3, 0.0);
            let g = arena.alloc(n, 0.0);
            for i in 0..n {
                arena.set_leaf(g, i, f64::from(i + 1));
            }
            arena.build(g, add);
            let expected = f64::from(n * (n + 1) / 2);
            assert_eq!(arena.root(g).unwrap_or(0.0), expected, "n = {n}");
        }
    }

    #[test]
    fn a_group_takes_two_n_minus_one_nodes() {
        let mut arena = Arena::default();
        let mut used = 0;
        for n in [1u32, 2, 5, 0, 8] {
            let g = arena.alloc(n, 0.0);
            assert_eq!(g.base as usize, used, "groups are packed");
            used += (2 * n as usize).saturating_sub(1);
            assert_eq!(arena.nodes.len(), used, "n = {n}");
        }
    }

    #[test]
    fn update_matches_rebuild_bit_for_bit() {
        let mut arena = Arena::default();
        let g = arena.alloc(7, 0.0);
        let values = [0.1, 0.7, 0.3, 1.0 / 3.0, 0.9, 0.2, 0.05];
        for (i, v) in values.iter().enumerate() {
            arena.update(g, i as u32, *v, add);
        }
        let incremental = arena.root(g);
        arena.build(g, add);
        assert_eq!(arena.root(g), incremental);
    }
}
