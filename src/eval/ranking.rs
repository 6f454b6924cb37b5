//! Per-query ranking diffs: how the baseline and the +LUM CTR model order one
//! query's ad impressions, NDCG@10 of the clicks under each, every ad's rank
//! move, and Kendall's tau-b between the two score vectors.
//!
//! Orders are stable: equal scores keep impression order, so a diff never
//! shows a move that is only a tie broken differently.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The cut-off of the per-query NDCG.
pub const NDCG_CUTOFF: usize = 10;

/// The protocol string of every per-query NDCG number.
pub const QUERY_NDCG_PROTOCOL: &str = "NDCG@10 of clicks within the query's impressions, binary \
     gains, ties keep impression order; 0 for a query without clicks";

/// Why a query's ranking could not be compared.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RankingError {
    /// Parallel slices of different lengths.
    #[error("query {query}: {expected} impressions but {found} {what}")]
    LengthMismatch { query: u32, what: &'static str, expected: usize, found: usize },
    /// A NaN or infinite score.
    #[error("query {query}: {what} score of impression {index} is not finite ({value})")]
    NonFinite { query: u32, what: &'static str, index: usize, value: f32 },
}

/// Descending score order; NaN last; `-0.0 == 0.0`.
fn desc(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
    }
}

/// Indices of `scores` from best to worst; ties keep their original order
/// (stable sort), NaN scores go last.
pub fn ranking_order(scores: &[f32]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| desc(scores[a], scores[b]));
    order
}

/// Inverse of an order: `rank[i]` is the 0-based position of index `i`.
pub fn ranks_from_order(order: &[usize]) -> Vec<usize> {
    let mut rank = vec![0; order.len()];
    for (pos, &i) in order.iter().enumerate() {
        rank[i] = pos;
    }
    rank
}

/// NDCG@k of binary `labels` in the given `order`: DCG = Σ_{pos<k} y/log2(pos+2),
/// divided by the DCG of the ideal order (all clicks first). Defined as 0 when
/// there are no clicks (check the query's `has_clicks` before averaging).
pub fn ndcg_at_k(order: &[usize], labels: &[bool], k: usize) -> f64 {
    let discount = |pos: usize| 1.0 / ((pos + 2) as f64).log2();
    let dcg: f64 = order
        .iter()
        .take(k)
        .enumerate()
        .filter(|&(_, &i)| labels.get(i).copied().unwrap_or(false))
        .map(|(pos, _)| discount(pos))
        .sum();
    let clicks = labels.iter().filter(|&&y| y).count();
    let ideal: f64 = (0..clicks.min(k)).map(discount).sum();
    if ideal > 0.0 { dcg / ideal } else { 0.0 }
}

/// Number of inversions (i < j with v[i] > v[j], strictly) by merge sort;
/// sorts `v` ascending. O(n log n).
fn count_inversions(v: &mut [f32]) -> u64 {
    let n = v.len();
    let mut buf = v.to_vec();
    let mut inversions = 0u64;
    let mut width = 1;
    while width < n {
        let mut lo = 0;
        while lo < n {
            let mid = (lo + width).min(n);
            let hi = (lo + 2 * width).min(n);
            let (mut i, mut j, mut k) = (lo, mid, lo);
            while i < mid && j < hi {
                // `<=` keeps ties in order and does not count them.
                if v[i] <= v[j] {
                    buf[k] = v[i];
                    i += 1;
                } else {
                    buf[k] = v[j];
                    inversions += (mid - i) as u64;
                    j += 1;
                }
                k += 1;
            }
            buf[k..k + (mid - i)].copy_from_slice(&v[i..mid]);
            k += mid - i;
            buf[k..k + (hi - j)].copy_from_slice(&v[j..hi]);
            lo = hi;
        }
        v.copy_from_slice(&buf);
        width *= 2;
    }
    inversions
}

/// Σ t(t-1)/2 over runs of equal values in a sorted sequence.
fn tied_pairs<T: PartialEq>(sorted: impl Iterator<Item = T>) -> u64 {
    let mut total = 0u64;
    let mut run = 0u64;
    let mut prev: Option<T> = None;
    for x in sorted {
        if prev.as_ref() == Some(&x) {
            run += 1;
        } else {
            total += run * run.saturating_sub(1) / 2;
            run = 1;
        }
        prev = Some(x);
    }
    total + run * run.saturating_sub(1) / 2
}

/// Kendall's tau-b between two score vectors over the same items, ties in
/// either handled: `(C - D) / sqrt((n0 - n1)(n0 - n2))`. Knight's O(n log n)
/// algorithm (Knight 1966). `None` when undefined: fewer than 2 items, a
/// constant vector, mismatched lengths, or a NaN score.
pub fn kendall_tau_b(x: &[f32], y: &[f32]) -> Option<f64> {
    let n = x.len();
    if n < 2 || y.len() != n || x.iter().chain(y).any(|v| v.is_nan()) {
        return None;
    }
    let by_xy = |&a: &usize, &b: &usize| {
        x[a].partial_cmp(&x[b]).unwrap_or(Ordering::Equal).then(y[a].partial_cmp(&y[b]).unwrap_or(Ordering::Equal))
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(by_xy);
    let n0 = (n as u64) * (n as u64 - 1) / 2;
    // `+ 0.0` maps -0.0 to 0.0 so equal values compare equal in the tie runs.
    let n1 = tied_pairs(order.iter().map(|&i| x[i] + 0.0));
    let n3 = tied_pairs(order.iter().map(|&i| (x[i] + 0.0, y[i] + 0.0)));
    let mut ys: Vec<f32> = order.iter().map(|&i| y[i] + 0.0).collect();
    let discordant = count_inversions(&mut ys);
    let n2 = tied_pairs(ys.iter().copied());
    let denom = ((n0 - n1) as f64) * ((n0 - n2) as f64);
    if denom <= 0.0 {
        return None;
    }
    let c_minus_d = n0 as f64 - n1 as f64 - n2 as f64 + n3 as f64 - 2.0 * discordant as f64;
    Some(c_minus_d / denom.sqrt())
}

/// One ad of a query, as each model ranks it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdMove {
    /// Dataset item id of the ad.
    pub item: u32,
    /// Clicked.
    pub label: bool,
    /// 0-based position under the baseline model.
    pub base_rank: usize,
    /// 0-based position under the +LUM model.
    pub lum_rank: usize,
    /// `base_rank - lum_rank`: positive = moved up under +LUM.
    pub rank_move: i64,
    /// Baseline score.
    pub base_score: f32,
    /// +LUM score.
    pub lum_score: f32,
}

/// Baseline vs +LUM ranking of one query's impressions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryRanking {
    /// Query id (dataset interned id).
    pub query: u32,
    /// Number of impressions (ads) compared.
    pub n_ads: usize,
    /// Clicked impressions.
    pub clicks: usize,
    /// False when the query has no clicks: its NDCGs are 0 by definition and
    /// should be left out of averages.
    pub has_clicks: bool,
    /// NDCG@10 of the clicks under the baseline order.
    pub ndcg_base: f64,
    /// NDCG@10 of the clicks under the +LUM order.
    pub ndcg_lum: f64,
    /// `ndcg_lum - ndcg_base`.
    pub delta: f64,
    /// Kendall tau-b between the two score vectors; `None` when undefined.
    pub tau: Option<f64>,
    /// Every ad, in impression order.
    pub ads: Vec<AdMove>,
    /// [`QUERY_NDCG_PROTOCOL`].
    pub protocol: String,
}

impl QueryRanking {
    /// Compares the two models on one query. `items`, `labels`, `base` and
    /// `lum` are parallel, one entry per impression.
    pub fn compute(
        query: u32,
        items: &[u32],
        labels: &[bool],
        base: &[f32],
        lum: &[f32],
    ) -> Result<QueryRanking, RankingError> {
        let n = items.len();
        for (what, len) in [("labels", labels.len()), ("baseline scores", base.len()), ("+LUM scores", lum.len())] {
            if len != n {
                return Err(RankingError::LengthMismatch { query, what, expected: n, found: len });
            }
        }
        for (what, scores) in [("baseline", base), ("+LUM", lum)] {
            if let Some(index) = scores.iter().position(|s| !s.is_finite()) {
                return Err(RankingError::NonFinite { query, what, index, value: scores[index] });
            }
        }
        let base_order = ranking_order(base);
        let lum_order = ranking_order(lum);
        let base_rank = ranks_from_order(&base_order);
        let lum_rank = ranks_from_order(&lum_order);
        let clicks = labels.iter().filter(|&&y| y).count();
        let ndcg_base = ndcg_at_k(&base_order, labels, NDCG_CUTOFF);
        let ndcg_lum = ndcg_at_k(&lum_order, labels, NDCG_CUTOFF);
        let ads = (0..n)
            .map(|i| AdMove {
                item: items[i],
                label: labels[i],
                base_rank: base_rank[i],
                lum_rank: lum_rank[i],
                rank_move: base_rank[i] as i64 - lum_rank[i] as i64,
                base_score: base[i],
                lum_score: lum[i],
            })
            .collect();
        Ok(QueryRanking {
            query,
            n_ads: n,
            clicks,
            has_clicks: clicks > 0,
            ndcg_base,
            ndcg_lum,
            delta: ndcg_lum - ndcg_base,
            tau: kendall_tau_b(base, lum),
            ads,
            protocol: QUERY_NDCG_PROTOCOL.to_string(),
        })
    }
}

/// Averages over many queries (those with clicks, for NDCG).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankingSummary {
    /// Queries compared.
    pub queries: usize,
    /// Queries with at least one click (the NDCG averages are over these).
    pub queries_with_clicks: usize,
    /// Mean baseline NDCG@10 over queries with clicks.
    pub mean_ndcg_base: f64,
    /// Mean +LUM NDCG@10 over queries with clicks.
    pub mean_ndcg_lum: f64,
    /// Queries with clicks whose NDCG rose / fell / stayed.
    pub improved: usize,
    pub worsened: usize,
    pub unchanged: usize,
    /// Mean tau-b over queries where it is defined.
    pub mean_tau: Option<f64>,
    /// [`QUERY_NDCG_PROTOCOL`].
    pub protocol: String,
}

impl RankingSummary {
    /// Summarises per-query comparisons.
    pub fn from_queries(queries: &[QueryRanking]) -> Self {
        let clicked: Vec<&QueryRanking> = queries.iter().filter(|q| q.has_clicks).collect();
        let n = clicked.len().max(1) as f64;
        let taus: Vec<f64> = queries.iter().filter_map(|q| q.tau).collect();
        RankingSummary {
            queries: queries.len(),
            queries_with_clicks: clicked.len(),
            mean_ndcg_base: clicked.iter().map(|q| q.ndcg_base).sum::<f64>() / n,
            mean_ndcg_lum: clicked.iter().map(|q| q.ndcg_lum).sum::<f64>() / n,
            improved: clicked.iter().filter(|q| q.delta > 0.0).count(),
            worsened: clicked.iter().filter(|q| q.delta < 0.0).count(),
            unchanged: clicked.iter().filter(|q| q.delta == 0.0).count(),
            mean_tau: (!taus.is_empty()).then(|| taus.iter().sum::<f64>() / taus.len() as f64),
            protocol: QUERY_NDCG_PROTOCOL.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;

    /// tau-b straight from its definition, O(n²).
    fn tau_b_brute(x: &[f32], y: &[f32]) -> Option<f64> {
        let (mut c, mut d, mut tx, mut ty) = (0i64, 0i64, 0i64, 0i64);
        let n = x.len();
        for i in 0..n {
            for j in i + 1..n {
                let sx = (x[i] - x[j]).partial_cmp(&0.0).unwrap() as i64;
                let sy = (y[i] - y[j]).partial_cmp(&0.0).unwrap() as i64;
                match (sx, sy) {
                    (0, 0) => {}
                    (0, _) => tx += 1,
                    (_, 0) => ty += 1,
                    _ if sx == sy => c += 1,
                    _ => d += 1,
                }
            }
        }
        let denom = (((c + d + tx) * (c + d + ty)) as f64).sqrt();
        (denom > 0.0).then(|| (c - d) as f64 / denom)
    }

    #[test]
    fn order_is_stable_and_descending() {
        assert_eq!(ranking_order(&[0.2, 0.9, 0.2, 0.5, f32::NAN, 0.9]), vec![1, 5, 3, 0, 2, 4]);
        assert_eq!(ranks_from_order(&[1, 5, 3, 0, 2, 4]), vec![3, 0, 4, 2, 5, 1]);
    }

    #[test]
    fn ndcg_known_values() {
        // One click at position 0: 1.
        assert_eq!(ndcg_at_k(&[0, 1, 2], &[true, false, false], 10), 1.0);
        // One click at position 2: 1/log2(4) = 0.5.
        assert!((ndcg_at_k(&[1, 2, 0], &[true, false, false], 10) - 0.5).abs() < 1e-15);
        // Two clicks at positions 1 and 2: (1/log2 3 + 1/2) / (1 + 1/log2 3).
        let l3 = 1.0 / 3f64.log2();
        let v = ndcg_at_k(&[2, 0, 1], &[true, true, false], 10);
        assert!((v - (l3 + 0.5) / (1.0 + l3)).abs() < 1e-12);
        // Click below the cut-off: 0.
        let order: Vec<usize> = (0..12).collect();
        let mut labels = vec![false; 12];
        labels[11] = true;
        assert_eq!(ndcg_at_k(&order, &labels, 10), 0.0);
        // No clicks: defined as 0.
        assert_eq!(ndcg_at_k(&[0, 1], &[false, false], 10), 0.0);
    }

    #[test]
    fn query_ranking_by_hand() {
        let items = [100, 101, 102, 103];
        let labels = [false, false, true, false];
        let base = [0.9, 0.8, 0.1, 0.5]; // order 0,1,3,2: click at 3 -> 1/log2 5
        let lum = [0.4, 0.3, 0.95, 0.4]; // order 2,0,3,1 (0 and 3 tie: impression order)
        let q = QueryRanking::compute(7, &items, &labels, &base, &lum).unwrap();
        assert_eq!(q.n_ads, 4);
        assert!(q.has_clicks);
        assert!((q.ndcg_base - 1.0 / 5f64.log2()).abs() < 1e-12);
        assert_eq!(q.ndcg_lum, 1.0);
        assert!((q.delta - (1.0 - 1.0 / 5f64.log2())).abs() < 1e-12);
        let moves: Vec<(usize, usize, i64)> = q.ads.iter().map(|a| (a.base_rank, a.lum_rank, a.rank_move)).collect();
        assert_eq!(moves, vec![(0, 1, -1), (1, 3, -2), (3, 0, 3), (2, 2, 0)]);
        assert_eq!(q.tau, tau_b_brute(&base, &lum));
        // Unclicked query: flagged, NDCG 0 by definition.
        let q = QueryRanking::compute(8, &items, &[false; 4], &base, &lum).unwrap();
        assert!(!q.has_clicks);
        assert_eq!((q.ndcg_base, q.ndcg_lum), (0.0, 0.0));
        // Bad input is an error, not a panic.
        let e = QueryRanking::compute(9, &items, &labels, &base, &[0.1, f32::NAN, 0.0, 0.0]);
        assert!(e.unwrap_err().to_string().contains("+LUM score of impression 1"));
        assert!(QueryRanking::compute(9, &items, &labels, &base[..3], &lum).is_err());
    }

    #[test]
    fn tau_b_matches_brute_force_with_ties() {
        let mut rng = Rng::new(3);
        for trial in 0..200 {
            let n = 2 + rng.index(60);
            let lx = 1 + rng.below(if trial % 3 == 0 { 3 } else { 20 });
            let ly = 1 + rng.below(if trial % 2 == 0 { 4 } else { 50 });
            let x: Vec<f32> = (0..n).map(|_| rng.below(lx) as f32).collect();
            let y: Vec<f32> = x.iter().map(|&v| if rng.chance(0.5) { v } else { rng.below(ly) as f32 }).collect();
            let fast = kendall_tau_b(&x, &y);
            let slow = tau_b_brute(&x, &y);
            match (fast, slow) {
                (Some(a), Some(b)) => assert!((a - b).abs() < 1e-12, "trial {trial}: {a} vs {b}"),
                (a, b) => assert_eq!(a, b, "trial {trial}"),
            }
        }
    }

    #[test]
    fn tau_b_known_values() {
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]), Some(1.0));
        assert_eq!(kendall_tau_b(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]), Some(-1.0));
        // x = (1,2,2,3), y = (1,3,2,4): C = 5, D = 0, tied only in x: 1 pair.
        // tau_b = 5 / sqrt(5 * 6).
        let t = kendall_tau_b(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((t - 5.0 / 30f64.sqrt()).abs() < 1e-12);
        assert_eq!(kendall_tau_b(&[1.0, 1.0], &[1.0, 2.0]), None);
        assert_eq!(kendall_tau_b(&[1.0], &[1.0]), None);
    }

    #[test]
    fn summary_averages_clicked_queries_only() {
        let items = [1, 2];
        let a = QueryRanking::compute(1, &items, &[false, true], &[0.9, 0.1], &[0.1, 0.9]).unwrap();
        let b = QueryRanking::compute(2, &items, &[false, false], &[0.9, 0.1], &[0.1, 0.9]).unwrap();
        let s = RankingSummary::from_queries(&[a.clone(), b]);
        assert_eq!(s.queries, 2);
        assert_eq!(s.queries_with_clicks, 1);
        assert_eq!(s.mean_ndcg_base, a.ndcg_base);
        assert_eq!(s.mean_ndcg_lum, 1.0);
        assert_eq!((s.improved, s.worsened, s.unchanged), (1, 0, 0));
        assert_eq!(s.mean_tau, Some(-1.0));
    }
}
