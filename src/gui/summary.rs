//! The Data panel's figures for a loaded [`Dataset`]: counts, time span,
//! behaviours by action and scenario, LUM sequence lengths (log2 histogram).
//!
//! Computed once per load on the loading thread. It mirrors the engine's
//! `data::stats::Stats` so the panel can switch to that type when it lands.

use crate::data::{Action, Dataset, NONE, Scenario};

/// A histogram bin covering `lo..=hi`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistBin {
    pub lo: u64,
    pub hi: u64,
    pub count: u64,
}

/// Percentiles of a distribution (nearest-rank).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

/// Summary figures of a dataset.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DataSummary {
    pub users: u64,
    pub items: u64,
    pub behaviors: u64,
    /// Distinct queries that occur on some row.
    pub queries: u64,
    pub impressions: u64,
    /// Impressions with label 1.
    pub clicked_impressions: u64,
    /// Earliest and latest behaviour (Unix seconds); `None` for an empty dataset.
    pub time_range: Option<(i64, i64)>,
    /// Behaviours per action, in [`Action::ALL`] order, zero counts left out.
    pub by_action: Vec<(Action, u64)>,
    /// Behaviours per scenario (empty when the log has no scenario column).
    pub by_scenario: Vec<(Scenario, u64)>,
    /// LUM sequence length per user: behaviours that are not impressions.
    pub seq_len: Percentiles,
    /// Log2 bins of the LUM sequence length: `0`, `1`, `2..=3`, `4..=7`, ...
    pub seq_len_hist: Vec<HistBin>,
}

impl DataSummary {
    /// Computes every figure in one pass over the rows plus one over users.
    pub fn compute(ds: &Dataset) -> Self {
        let mut by_action = [0_u64; Action::ALL.len()];
        let mut by_scenario = [0_u64; Scenario::ALL.len()];
        let mut query_seen = vec![false; ds.queries.len()];
        let mut clicked = 0;
        for r in 0..ds.n_behaviors() {
            by_action[ds.action_at(r) as usize] += 1;
            if ds.has_scenario() {
                by_scenario[ds.scenario_at(r) as usize] += 1;
            }
            let q = ds.query_at(r);
            if q != NONE {
                if let Some(seen) = query_seen.get_mut(q as usize) {
                    *seen = true;
                }
            }
            if ds.is_impression(r) && ds.label_at(r) == Some(1) {
                clicked += 1;
            }
        }
        let mut lens: Vec<u64> = (0..ds.n_users() as u32).map(|u| lum_seq_len(ds, u) as u64).collect();
        let seq_len_hist = log2_histogram(&lens);
        lens.sort_unstable();
        let time_range = (ds.n_behaviors() > 0).then(|| {
            let (lo, hi) = ds.ts.iter().fold((u32::MAX, 0), |(lo, hi), t| (lo.min(*t), hi.max(*t)));
            (ds.base_ts + i64::from(lo), ds.base_ts + i64::from(hi))
        });
        DataSummary {
            users: ds.n_users() as u64,
            items: ds.n_items() as u64,
            behaviors: ds.n_behaviors() as u64,
            queries: query_seen.iter().filter(|s| **s).count() as u64,
            impressions: by_action[Action::Impression as usize],
            clicked_impressions: clicked,
            time_range,
            by_action: Action::ALL.iter().map(|a| (*a, by_action[*a as usize])).filter(|(_, n)| *n > 0).collect(),
            by_scenario: if ds.has_scenario() {
                Scenario::ALL.iter().map(|s| (*s, by_scenario[*s as usize])).filter(|(_, n)| *n > 0).collect()
            } else {
                Vec::new()
            },
            seq_len: percentiles(&lens),
            seq_len_hist,
        }
    }
}

/// Behaviours of user `u` that enter the LUM sequence (everything but impressions).
pub fn lum_seq_len(ds: &Dataset, u: u32) -> usize {
    ds.user_range(u).filter(|r| !ds.is_impression(*r)).count()
}

/// Nearest-rank percentiles of sorted values.
pub fn percentiles(sorted: &[u64]) -> Percentiles {
    let at = |p: f64| -> u64 {
        if sorted.is_empty() {
            return 0;
        }
        let rank = (p * sorted.len() as f64).ceil() as usize;
        sorted[rank.clamp(1, sorted.len()) - 1]
    };
    Percentiles { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted.last().copied().unwrap_or(0) }
}

/// Bins `0`, `1`, `2..=3`, `4..=7`, ... up to the largest value; empty bins kept so the axis is continuous.
pub fn log2_histogram(values: &[u64]) -> Vec<HistBin> {
    let Some(max) = values.iter().copied().max() else { return Vec::new() };
    let bin_of = |v: u64| if v == 0 { 0 } else { 64 - v.leading_zeros() as usize };
    let n_bins = bin_of(max) + 1;
    let mut bins: Vec<HistBin> = (0..n_bins)
        .map(|b| match b {
            0 => HistBin { lo: 0, hi: 0, count: 0 },
            b => HistBin { lo: 1 << (b - 1), hi: (1 << b) - 1, count: 0 },
        })
        .collect();
    for v in values {
        bins[bin_of(*v)].count += 1;
    }
    bins
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log2_bins_cover_every_value_once() {
        let bins = log2_histogram(&[0, 1, 2, 3, 4, 7, 8, 150]);
        assert_eq!(bins[0], HistBin { lo: 0, hi: 0, count: 1 });
        assert_eq!(bins[1], HistBin { lo: 1, hi: 1, count: 1 });
        assert_eq!(bins[2], HistBin { lo: 2, hi: 3, count: 2 });
        assert_eq!(bins[3], HistBin { lo: 4, hi: 7, count: 2 });
        assert_eq!(bins[4], HistBin { lo: 8, hi: 15, count: 1 });
        assert_eq!(bins.last().unwrap(), &HistBin { lo: 128, hi: 255, count: 1 });
        assert_eq!(bins.iter().map(|b| b.count).sum::<u64>(), 8);
        assert!(log2_histogram(&[]).is_empty());
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentiles(&v), Percentiles { p50: 50, p90: 90, p99: 99, max: 100 });
        assert_eq!(percentiles(&[7]), Percentiles { p50: 7, p90: 7, p99: 7, max: 7 });
    }
}
