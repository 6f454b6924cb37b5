//! Summary statistics of a loaded log: what `lumlab inspect` prints and the
//! Data panel draws.

use super::{Action, Dataset, Scenario};
use serde::{Deserialize, Serialize};

/// Percentiles of a distribution of counts.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

/// One histogram bin: counts of values in `lo..=hi`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct HistBin {
    pub lo: u64,
    pub hi: u64,
    pub count: u64,
}

/// Everything `inspect` reports about a log.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Stats {
    pub users: u64,
    pub items: u64,
    /// All rows, impressions included.
    pub behaviors: u64,
    /// Ad impressions (CTR samples).
    pub impressions: u64,
    pub clicks_on_impressions: u64,
    pub queries: u64,
    pub time_min: i64,
    pub time_max: i64,
    pub by_action: Vec<(String, u64)>,
    pub by_scenario: Vec<(String, u64)>,
    /// Behaviours per user (impressions excluded: what the LUM reads).
    pub seq_len: Percentiles,
    pub seq_len_hist: Vec<HistBin>,
    pub users_per_item: Percentiles,
    pub users_per_item_hist: Vec<HistBin>,
    pub items_per_user: Percentiles,
    pub items_per_user_hist: Vec<HistBin>,
}

/// Nearest-rank percentiles of `v` (sorted in place).
pub fn percentiles(v: &mut [u64]) -> Percentiles {
    if v.is_empty() {
        return Percentiles::default();
    }
    v.sort_unstable();
    let at = |q: f64| v[((q * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1];
    Percentiles { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: v[v.len() - 1], mean: v.iter().sum::<u64>() as f64 / v.len() as f64 }
}

/// Log2 bins: 0, 1, 2-3, 4-7, 8-15, ...
pub fn log2_hist(v: &[u64]) -> Vec<HistBin> {
    let max = v.iter().copied().max().unwrap_or(0);
    let nbins = if max == 0 { 1 } else { 65 - max.leading_zeros() as usize + 1 };
    let mut bins: Vec<HistBin> = (0..nbins)
        .map(|b| if b == 0 { HistBin { lo: 0, hi: 0, count: 0 } } else { HistBin { lo: 1 << (b - 1), hi: (1u64 << b) - 1, count: 0 } })
        .collect();
    for &x in v {
        let b = if x == 0 { 0 } else { 64 - x.leading_zeros() as usize };
        if let Some(bin) = bins.get_mut(b) {
            bin.count += 1;
        }
    }
    while bins.len() > 1 && bins.last().is_some_and(|b| b.count == 0) {
        bins.pop();
    }
    let lead = bins.iter().take_while(|b| b.count == 0).count().min(bins.len().saturating_sub(1));
    bins.drain(..lead);
    bins
}

impl Stats {
    /// Computes all statistics in two passes over the columns.
    pub fn compute(d: &Dataset) -> Stats {
        let mut by_action = [0u64; Action::ALL.len()];
        for &a in &d.action {
            by_action[Action::from_u8(a) as usize] += 1;
        }
        let mut by_scenario = [0u64; Scenario::ALL.len()];
        for &s in &d.scenario {
            by_scenario[Scenario::from_u8(s) as usize] += 1;
        }
        let mut seq = Vec::with_capacity(d.n_users());
        let mut distinct_items = Vec::with_capacity(d.n_users());
        let mut users_per_item = vec![0u64; d.n_items()];
        let mut last_seen = vec![u32::MAX; d.n_items()];
        for u in 0..d.n_users() as u32 {
            let mut n = 0u64;
            let mut k = 0u64;
            for r in d.user_range(u) {
                if d.is_impression(r) {
                    continue;
                }
                n += 1;
                let it = d.item[r] as usize;
                if last_seen[it] != u {
                    last_seen[it] = u;
                    users_per_item[it] += 1;
                    k += 1;
                }
            }
            seq.push(n);
            distinct_items.push(k);
        }
        let impressions = by_action[Action::Impression as usize];
        let clicks = (0..d.n_behaviors()).filter(|&r| d.is_impression(r) && d.label_at(r) == Some(1)).count() as u64;
        let (tmin, tmax) = d.ts.iter().fold((u32::MAX, 0u32), |(a, b), &t| (a.min(t), b.max(t)));
        let named = |counts: &[u64], name: &dyn Fn(usize) -> &'static str| -> Vec<(String, u64)> {
            counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(i, c)| (name(i).to_string(), *c)).collect()
        };
        let seq_len_hist = log2_hist(&seq);
        let items_per_user_hist = log2_hist(&distinct_items);
        let users_per_item_hist = log2_hist(&users_per_item);
        Stats {
            users: d.n_users() as u64,
            items: d.n_items() as u64,
            behaviors: d.n_behaviors() as u64,
            impressions,
            clicks_on_impressions: clicks,
            queries: d.queries.len() as u64,
            time_min: if d.ts.is_empty() { d.base_ts } else { d.base_ts + tmin as i64 },
            time_max: d.base_ts + tmax as i64,
            by_action: named(&by_action, &|i| Action::ALL[i].name()),
            by_scenario: named(&by_scenario, &|i| Scenario::ALL[i].name()),
            seq_len: percentiles(&mut seq),
            seq_len_hist,
            users_per_item: percentiles(&mut users_per_item),
            users_per_item_hist,
            items_per_user: percentiles(&mut distinct_items),
            items_per_user_hist,
        }
    }
}

/// Draws a histogram as text bars, one line per bin.
pub fn hist_text(bins: &[HistBin], width: usize) -> String {
    let max = bins.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let mut out = String::new();
    for b in bins {
        let range = if b.lo == b.hi { format!("{}", b.lo) } else { format!("{}-{}", b.lo, b.hi) };
        let n = ((b.count as f64 / max as f64) * width as f64).round() as usize;
        out.push_str(&format!("  {range:>13} | {:<width$} {}\n", "█".repeat(n), crate::util::thousands(b.count)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let mut v: Vec<u64> = (1..=100).collect();
        let p = percentiles(&mut v);
        assert_eq!((p.p50, p.p90, p.p99, p.max), (50, 90, 99, 100));
        assert_eq!(percentiles(&mut []), Percentiles::default());
    }

    #[test]
    fn log2_bins_cover_values() {
        let h = log2_hist(&[1, 2, 3, 4, 7, 8, 100]);
        assert_eq!(h.iter().map(|b| b.count).sum::<u64>(), 7);
        assert_eq!((h[0].lo, h[0].hi, h[0].count), (1, 1, 1));
        assert_eq!((h[1].lo, h[1].hi, h[1].count), (2, 3, 2));
        assert_eq!(h.last().map(|b| (b.lo, b.hi)), Some((64, 127)));
    }
}
