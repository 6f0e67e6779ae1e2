//! Downsampling: which of thousands of values a chart draws. A line keeps
//! its shape with Largest-Triangle-Three-Buckets (one pass, the point of
//! each bucket that spans the largest triangle with its neighbours, so
//! spikes survive where an average would flatten them); markers are spread
//! evenly. Both always keep the first and the last item.

/// Indices into `xy` (pixel positions in x order) of at most `cap` points
/// that keep the line's shape, in order.
pub fn lttb(xy: &[(f64, f64)], cap: usize, out: &mut Vec<usize>) {
    out.clear();
    let n = xy.len();
    if n <= cap.max(2) {
        out.extend(0..n);
        return;
    }
    if cap < 3 {
        out.extend([0, n - 1]);
        return;
    }
    // Points between the first and the last fall into cap - 2 buckets.
    let every = (n - 2) as f64 / (cap - 2) as f64;
    let bucket = |i: usize| {
        let start = (i as f64 * every) as usize + 1;
        let end = (((i + 1) as f64 * every) as usize + 1).min(n - 1);
        start..end.max(start + 1).min(n - 1)
    };
    let mut a = 0;
    out.push(0);
    for i in 0..cap - 2 {
        // The next bucket's average; the last point after the last bucket.
        let next = bucket(i + 1);
        let (ax, ay) = if next.is_empty() || i + 1 >= cap - 2 {
            xy[n - 1]
        } else {
            let len = next.len() as f64;
            let (sx, sy) = xy[next]
                .iter()
                .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
            (sx / len, sy / len)
        };
        let (px, py) = xy[a];
        let mut best = (f64::NEG_INFINITY, a);
        for j in bucket(i) {
            let (x, y) = xy[j];
            let area = ((px - ax) * (y - py) - (px - x) * (ay - py)).abs();
            if area > best.0 {
                best = (area, j);
            }
        }
        if best.1 != a {
            out.push(best.1);
            a = best.1;
        }
    }
    out.push(n - 1);
}

/// At most `cap` of `0..n`, evenly spread, the first and the last always
/// among them (the last is the newest value, the one people look for).
pub fn spread(n: usize, cap: usize) -> impl ExactSizeIterator<Item = usize> {
    let take = n.min(cap);
    (0..take).map(move |i| match take {
        1 => n - 1,
        _ => i * (n - 1) / (take - 1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lttb_caps_keeps_ends_and_spikes() {
        let mut xy: Vec<(f64, f64)> = (0..5000).map(|i| (i as f64, (i % 7) as f64)).collect();
        xy[2345].1 = 1000.0;
        let mut out = Vec::new();
        lttb(&xy, 300, &mut out);
        assert!(out.len() <= 300 && out.len() > 250, "{}", out.len());
        assert_eq!((out[0], *out.last().unwrap()), (0, 4999));
        assert!(out.windows(2).all(|w| w[0] < w[1]), "in order, no repeats");
        assert!(out.contains(&2345), "the spike survives");
        lttb(&xy[..10], 300, &mut out);
        assert_eq!(out, (0..10).collect::<Vec<_>>());
        lttb(&xy[..1], 300, &mut out);
        assert_eq!(out, [0]);
        lttb(&xy[..0], 300, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn spread_caps_and_keeps_first_and_last() {
        let all: Vec<usize> = spread(1000, 120).collect();
        assert_eq!(all.len(), 120);
        assert_eq!((all[0], all[119]), (0, 999));
        assert!(all.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(spread(3, 120).collect::<Vec<_>>(), [0, 1, 2]);
        assert_eq!(spread(5, 1).collect::<Vec<_>>(), [4]);
        assert_eq!(spread(0, 10).count(), 0);
    }
}
