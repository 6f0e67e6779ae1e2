//! Parent links as index arrays: breaking cycles and ordering children first.
//!
//! Validation rejects cycles, but the engine must still terminate on any
//! input, so it cuts them here once instead of guarding every walk.

/// "No index": a missing parent, slot or group.
pub(super) const NONE: u32 = u32::MAX;

/// Drops the parent link of every node that lies on a cycle (including a node
/// that is its own parent), so that every parent chain ends. Nodes that merely
/// hang below a cycle keep their link. Returns how many links were dropped.
pub(super) fn break_cycles(parent: &mut [u32]) -> usize {
    const NEW: u8 = 0;
    const ON_PATH: u8 = 1;
    const DONE: u8 = 2;
    let n = parent.len();
    let mut state = vec![NEW; n];
    let mut path: Vec<u32> = Vec::new();
    let mut dropped = 0;
    for start in 0..n {
        if state[start] != NEW {
            continue;
        }
        let mut v = start as u32;
        while (v as usize) < n {
            match state[v as usize] {
                NEW => {
                    state[v as usize] = ON_PATH;
                    path.push(v);
                    v = parent[v as usize];
                }
                ON_PATH => {
                    if let Some(pos) = path.iter().rposition(|&x| x == v) {
                        for &c in &path[pos..] {
                            parent[c as usize] = NONE;
                            dropped += 1;
                        }
                    }
                    break;
                }
                _ => break,
            }
        }
        for &c in &path {
            state[c as usize] = DONE;
        }
        path.clear();
    }
    dropped
}

/// All nodes, each after all of its descendants (deepest first, then by index).
/// `parent` must be acyclic (see [`break_cycles`]); out-of-range links count as none.
pub(super) fn children_first(parent: &[u32]) -> Vec<u32> {
    const UNSET: u32 = u32::MAX;
    let n = parent.len();
    let mut depth = vec![UNSET; n];
    let mut path: Vec<u32> = Vec::new();
    for start in 0..n {
        let mut v = start as u32;
        let mut next = 0;
        // The bound only matters if the caller broke the acyclic promise.
        while (v as usize) < n && path.len() <= n {
            let d = depth[v as usize];
            if d != UNSET {
                next = d + 1;
                break;
            }
            path.push(v);
            v = parent[v as usize];
        }
        for &c in path.iter().rev() {
            depth[c as usize] = next;
            next += 1;
        }
        path.clear();
    }
    let max_depth = depth.iter().copied().max().unwrap_or(0) as usize;
    let mut buckets = vec![0u32; max_depth + 2];
    for &d in &depth {
        buckets[max_depth - d as usize + 1] += 1;
    }
    for i in 1..buckets.len() {
        buckets[i] += buckets[i - 1];
    }
    let mut order = vec![0u32; n];
    for (i, &d) in depth.iter().enumerate() {
        let b = &mut buckets[max_depth - d as usize];
        order[*b as usize] = i as u32;
        *b += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_cut_and_trees_below_them_kept() {
        // 0→1→2→0 is a cycle, 3→0 hangs below it, 4→4 is its own parent, 5→6 is fine.
        let mut parent = vec![1, 2, 0, 0, 4, 6, NONE];
        assert_eq!(break_cycles(&mut parent), 4);
        assert_eq!(parent, vec![NONE, NONE, NONE, 0, NONE, 6, NONE]);
    }

    #[test]
    fn children_come_before_parents() {
        // Parents declared before their children, after them (a chain walked
        // in one go: 0 → 2 → 1 and 3 → 5 → 4), and both.
        for parent in [
            vec![NONE, 0, 1, 0, 2, NONE, 5],
            vec![2, NONE, 1, 5, NONE, 4],
            vec![3, 3, 0, NONE, 1],
        ] {
            let order = children_first(&parent);
            let mut every = order.clone();
            every.sort_unstable();
            assert_eq!(every, (0..parent.len() as u32).collect::<Vec<_>>());
            let pos = |x: u32| order.iter().position(|&o| o == x).unwrap();
            for (c, &p) in parent.iter().enumerate() {
                if p != NONE {
                    assert!(pos(c as u32) < pos(p), "{c} before {p} in {order:?}");
                }
            }
        }
        // Deepest first, then by index.
        assert_eq!(
            children_first(&[NONE, 0, 1, 0, 2, NONE, 5]),
            [4, 2, 1, 3, 6, 0, 5]
        );
    }

    #[test]
    fn out_of_range_links_count_as_none() {
        // 0 → 3 points one past the end; 1 → 0 is an ordinary link.
        let mut parent = vec![3, 0, NONE];
        assert_eq!(break_cycles(&mut parent), 0);
        assert_eq!(parent, vec![3, 0, NONE]);
        assert_eq!(children_first(&parent), vec![1, 0, 2]);
    }
}
