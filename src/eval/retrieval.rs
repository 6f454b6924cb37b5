//! Leave-one-out retrieval metrics: HR@K (= Recall@K with one target), NDCG@K
//! and MRR, under the `full` and `sampled100` protocols.
//!
//! A model scores items for a user; what the metrics need is only the 0-based
//! rank of the held-out target among the candidates, so the protocols are
//! functions that turn scores into that rank, and the metrics are functions of
//! the rank. `full` ranks against the whole catalogue with the user's seen items
//! removed; `sampled100` ranks against 100 uniformly sampled unseen items, as
//! in SASRec (Kang & McAuley 2018, §IV-B).
//!
//! Ties use the *mean* convention, floored: `rank = #(score > target) +
//! floor(#(score == target) / 2)`. A model that gives every item the same score
//! thus lands in the middle, never at the top; the pessimistic convention
//! (`#(score >= target)`) would penalise honest ties among quantised scores, and
//! the optimistic one (`#(score > target)`) lets a constant model score HR = 1.
//! NaN scores never help: a NaN target is ranked last and a NaN candidate
//! counts as beating the target.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::Metric;
use crate::util::Rng;

/// Number of sampled negatives in the `sampled100` protocol.
pub const SAMPLED_NEGATIVES: usize = 100;

/// Seed of the negative sampler in `sampled100` unless a run records another;
/// use `Rng::fork(seed, user)` per user so the candidates do not depend on the
/// order users are evaluated in.
pub const DEFAULT_SAMPLE_SEED: u64 = 20_180_101;

/// The K values reported by default.
pub const DEFAULT_KS: [usize; 3] = [5, 10, 20];

/// Which candidates the target is ranked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// Every catalogue item except the user's seen items (the target is always kept).
    Full,
    /// [`SAMPLED_NEGATIVES`] uniformly sampled unseen items plus the target.
    Sampled100,
}

impl Protocol {
    /// Short name used on the command line and in files: `full`, `sampled100`.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Full => "full",
            Protocol::Sampled100 => "sampled100",
        }
    }

    /// The protocol string shown beside every number it produced.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Full => "full, leave-one-out, seen removed",
            Protocol::Sampled100 => "sampled100, leave-one-out",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An unknown protocol name on the command line or in a config.
#[derive(Debug, thiserror::Error)]
#[error("unknown protocol {0:?}: expected `full` or `sampled100`")]
pub struct UnknownProtocol(pub String);

impl FromStr for Protocol {
    type Err = UnknownProtocol;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "full" => Ok(Protocol::Full),
            "sampled100" | "sampled" => Ok(Protocol::Sampled100),
            _ => Err(UnknownProtocol(s.to_string())),
        }
    }
}

/// 1 if the target (0-based `rank`) is in the top `k`, else 0.
pub fn hit_at(rank: usize, k: usize) -> f64 {
    if rank < k { 1.0 } else { 0.0 }
}

/// NDCG@K with one relevant item: `1 / log2(rank + 2)` if `rank < k`, else 0.
/// (The ideal DCG is 1: the single target at rank 0.)
pub fn ndcg_at(rank: usize, k: usize) -> f64 {
    if rank < k { 1.0 / ((rank + 2) as f64).log2() } else { 0.0 }
}

/// Reciprocal rank `1 / (rank + 1)`, not truncated at any K.
pub fn reciprocal_rank(rank: usize) -> f64 {
    1.0 / (rank + 1) as f64
}

/// How a candidate's score compares with the target's, NaN counting against the target.
#[derive(PartialEq)]
enum Versus {
    Beats,
    Ties,
    Loses,
}

fn versus(candidate: f32, target: f32) -> Versus {
    if target.is_nan() || candidate.is_nan() || candidate > target {
        Versus::Beats
    } else if candidate == target {
        Versus::Ties
    } else {
        Versus::Loses
    }
}

/// Running counts of candidates that beat or tie the target.
#[derive(Default)]
struct Tally {
    beats: usize,
    ties: usize,
}

impl Tally {
    fn add(&mut self, candidate: f32, target: f32, sign: isize) {
        let slot = match versus(candidate, target) {
            Versus::Beats => &mut self.beats,
            Versus::Ties => &mut self.ties,
            Versus::Loses => return,
        };
        *slot = slot.wrapping_add_signed(sign);
    }

    /// Mean-convention rank, floored (see the module docs).
    fn rank(&self) -> usize {
        self.beats + self.ties / 2
    }
}

/// 0-based rank of a target scoring `target_score` among `others` (which must
/// not include the target itself), with the module's tie and NaN conventions.
/// Use this when a model scores only the candidates (e.g. `sampled100`).
pub fn rank_among(target_score: f32, others: &[f32]) -> usize {
    let mut tally = Tally::default();
    for &s in others {
        tally.add(s, target_score, 1);
    }
    tally.rank()
}

/// `full` protocol: 0-based rank of item `target` among all items, where
/// `scores[i]` is the score of item `i` and the items in `excluded` (the
/// user's seen items; duplicates and out-of-range ids are ignored) are removed.
/// The target is never removed, even when it was also seen earlier (repeat
/// consumption), matching SASRec's evaluation. Ties: mean convention, floored.
///
/// A `target` outside `scores` is ranked last (`scores.len()`), a miss at every K.
/// Cost: O(n_items + h log h) for h excluded items; no allocation of size n_items.
pub fn rank_of_target(scores: &[f32], target: usize, excluded: &[u32]) -> usize {
    let Some(&t) = scores.get(target) else {
        return scores.len();
    };
    let mut tally = Tally::default();
    for (i, &s) in scores.iter().enumerate() {
        if i != target {
            tally.add(s, t, 1);
        }
    }
    for i in unique_in_range(excluded, scores.len()) {
        if i as usize != target {
            tally.add(scores[i as usize], t, -1);
        }
    }
    tally.rank()
}

/// 0-based rank of item `target` among `candidates` (item ids into `scores`;
/// the target itself, duplicates and out-of-range ids are skipped). Same
/// conventions as [`rank_of_target`]; used with [`sampled_candidates`].
pub fn rank_in_candidates(scores: &[f32], target: usize, candidates: &[u32]) -> usize {
    let Some(&t) = scores.get(target) else {
        return candidates.len();
    };
    let mut tally = Tally::default();
    for i in unique_in_range(candidates, scores.len()) {
        if i as usize != target {
            tally.add(scores[i as usize], t, 1);
        }
    }
    tally.rank()
}

/// Sorted, deduplicated ids below `n`.
fn unique_in_range(ids: &[u32], n: usize) -> Vec<u32> {
    let mut v: Vec<u32> = ids.iter().copied().filter(|&i| (i as usize) < n).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// When fewer than this many times `n` items are available, enumerate them and
/// shuffle instead of rejection sampling (whose cost grows as availability drops).
const ENUMERATE_BELOW_FACTOR: usize = 4;

/// `sampled100` candidates: `n` distinct item ids drawn uniformly without
/// replacement from `0..n_items`, excluding `seen` and `target`. Deterministic
/// for a given RNG state (pass `Rng::fork(seed, user)`). If fewer than `n` items
/// are available, all of them are returned (ascending); the caller should
/// report the shortfall (see [`RetrievalAccumulator::add`]'s `n_candidates`).
pub fn sampled_candidates(n_items: usize, seen: &[u32], target: u32, n: usize, rng: &mut Rng) -> Vec<u32> {
    let mut blocked = unique_in_range(seen, n_items);
    if (target as usize) < n_items
        && let Err(pos) = blocked.binary_search(&target)
    {
        blocked.insert(pos, target);
    }
    let available = n_items - blocked.len();
    let is_free = |i: u32| blocked.binary_search(&i).is_err();
    if available <= n {
        return (0..n_items as u32).filter(|&i| is_free(i)).collect();
    }
    if available < n.saturating_mul(ENUMERATE_BELOW_FACTOR) {
        // Partial Fisher-Yates over the free items.
        let mut free: Vec<u32> = (0..n_items as u32).filter(|&i| is_free(i)).collect();
        for k in 0..n {
            let j = k + rng.index(free.len() - k);
            free.swap(k, j);
        }
        free.truncate(n);
        return free;
    }
    // Rejection sampling: a draw is accepted with probability about
    // available / n_items, and available >= 4n keeps the expected number of
    // draws below n_items / 4, cheaper than enumerating the catalogue.
    let mut chosen = std::collections::HashSet::with_capacity(n);
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let i = rng.index(n_items) as u32;
        if is_free(i) && chosen.insert(i) {
            out.push(i);
        }
    }
    out
}

/// HR and NDCG at one cut-off K, averaged over users.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    /// The cut-off.
    pub k: usize,
    /// Hit rate (= Recall@K with one target).
    pub hr: f64,
    /// NDCG@K with one relevant item.
    pub ndcg: f64,
}

/// Averaged retrieval metrics for one protocol.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RetrievalReport {
    /// Which candidates were used.
    pub protocol: Protocol,
    /// [`Protocol::label`], stored so the JSON is self-describing.
    pub protocol_label: String,
    /// Users averaged over (each contributes one target).
    pub users: u64,
    /// HR/NDCG for each requested K, ascending.
    pub at_k: Vec<AtK>,
    /// Mean reciprocal rank (untruncated).
    pub mrr: f64,
    /// Mean number of candidates ranked per user, target included.
    pub candidates_mean: f64,
    /// Fewest candidates any user had (below 101 under `sampled100` means a small catalogue).
    pub candidates_min: u64,
}

impl RetrievalReport {
    /// HR@k, if k was requested.
    pub fn hr(&self, k: usize) -> Option<f64> {
        self.at_k.iter().find(|a| a.k == k).map(|a| a.hr)
    }

    /// NDCG@k, if k was requested.
    pub fn ndcg(&self, k: usize) -> Option<f64> {
        self.at_k.iter().find(|a| a.k == k).map(|a| a.ndcg)
    }

    /// Every value as a [`Metric`]: `HR@K`, `NDCG@K` for each K, then `MRR`.
    pub fn metrics(&self) -> Vec<Metric> {
        let p = self.protocol.label();
        let mut out = Vec::with_capacity(2 * self.at_k.len() + 1);
        for a in &self.at_k {
            out.push(Metric::new(format!("HR@{}", a.k), a.hr, p));
            out.push(Metric::new(format!("NDCG@{}", a.k), a.ndcg, p));
        }
        out.push(Metric::new("MRR", self.mrr, p));
        out
    }

    /// Display labels with values, e.g. `("HR@10 (full, leave-one-out, seen removed)", 0.42)`.
    pub fn labelled(&self) -> Vec<(String, f64)> {
        self.metrics().into_iter().map(|m| (m.label(), m.value)).collect()
    }
}

/// Sums per-user metrics; [`report`](Self::report) averages them.
#[derive(Clone, Debug)]
pub struct RetrievalAccumulator {
    protocol: Protocol,
    ks: Vec<usize>,
    hits: Vec<u64>,
    ndcg_sum: Vec<f64>,
    rr_sum: f64,
    users: u64,
    candidates_sum: u64,
    candidates_min: Option<u64>,
}

impl RetrievalAccumulator {
    /// An empty accumulator reporting at `ks` (sorted, deduplicated, zeros dropped).
    pub fn new(protocol: Protocol, ks: &[usize]) -> Self {
        let mut ks: Vec<usize> = ks.iter().copied().filter(|&k| k > 0).collect();
        ks.sort_unstable();
        ks.dedup();
        let n = ks.len();
        Self {
            protocol,
            ks,
            hits: vec![0; n],
            ndcg_sum: vec![0.0; n],
            rr_sum: 0.0,
            users: 0,
            candidates_sum: 0,
            candidates_min: None,
        }
    }

    /// Adds one user whose target had 0-based `rank` among `n_candidates`
    /// ranked items (target included).
    pub fn add(&mut self, rank: usize, n_candidates: usize) {
        for (j, &k) in self.ks.iter().enumerate() {
            self.hits[j] += (rank < k) as u64;
            self.ndcg_sum[j] += ndcg_at(rank, k);
        }
        self.rr_sum += reciprocal_rank(rank);
        self.users += 1;
        self.candidates_sum += n_candidates as u64;
        let c = n_candidates as u64;
        self.candidates_min = Some(self.candidates_min.map_or(c, |m| m.min(c)));
    }

    /// Folds in another accumulator (e.g. from another thread) with the same Ks.
    /// Returns false, changing nothing, if the protocol or Ks differ.
    pub fn merge(&mut self, other: &RetrievalAccumulator) -> bool {
        if self.protocol != other.protocol || self.ks != other.ks {
            return false;
        }
        for j in 0..self.ks.len() {
            self.hits[j] += other.hits[j];
            self.ndcg_sum[j] += other.ndcg_sum[j];
        }
        self.rr_sum += other.rr_sum;
        self.users += other.users;
        self.candidates_sum += other.candidates_sum;
        self.candidates_min = match (self.candidates_min, other.candidates_min) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        true
    }

    /// Users added so far.
    pub fn users(&self) -> u64 {
        self.users
    }

    /// The averages (all zero when no user was added; `users` says so).
    pub fn report(&self) -> RetrievalReport {
        let n = self.users.max(1) as f64;
        RetrievalReport {
            protocol: self.protocol,
            protocol_label: self.protocol.label().to_string(),
            users: self.users,
            at_k: self
                .ks
                .iter()
                .enumerate()
                .map(|(j, &k)| AtK { k, hr: self.hits[j] as f64 / n, ndcg: self.ndcg_sum[j] / n })
                .collect(),
            mrr: self.rr_sum / n,
            candidates_mean: self.candidates_sum as f64 / n,
            candidates_min: self.candidates_min.unwrap_or(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_of_known_ranks() {
        // rank 0: everything perfect.
        assert_eq!(hit_at(0, 1), 1.0);
        assert_eq!(ndcg_at(0, 10), 1.0);
        assert_eq!(reciprocal_rank(0), 1.0);
        // rank 2: 1/log2(4) = 0.5, MRR 1/3.
        assert!((ndcg_at(2, 10) - 0.5).abs() < 1e-15);
        assert!((reciprocal_rank(2) - 1.0 / 3.0).abs() < 1e-15);
        // rank 6: 1/log2(8) = 1/3.
        assert!((ndcg_at(6, 10) - 1.0 / 3.0).abs() < 1e-15);
        // At the cut-off: rank == K is a miss.
        assert_eq!(hit_at(10, 10), 0.0);
        assert_eq!(ndcg_at(10, 10), 0.0);
        assert_eq!(hit_at(9, 10), 1.0);
    }

    #[test]
    fn full_rank_on_tiny_catalogue() {
        // items:        0    1    2    3    4    5
        let scores = [0.9, 0.1, 0.5, 0.7, 0.3, 0.8];
        // Target 2 (0.5): beaten by 0 (0.9), 3 (0.7), 5 (0.8) -> rank 3.
        assert_eq!(rank_of_target(&scores, 2, &[]), 3);
        // Seen items 0 and 5 removed -> only 3 beats it -> rank 1.
        assert_eq!(rank_of_target(&scores, 2, &[0, 5]), 1);
        // Duplicates and out-of-range ids in the seen list are ignored.
        assert_eq!(rank_of_target(&scores, 2, &[5, 0, 5, 99]), 1);
        // The target is never removed, even when seen before.
        assert_eq!(rank_of_target(&scores, 2, &[2, 0]), 2);
        // Top item ranks 0.
        assert_eq!(rank_of_target(&scores, 0, &[]), 0);
        // Unknown target: ranked last.
        assert_eq!(rank_of_target(&scores, 6, &[]), 6);
    }

    #[test]
    fn ties_use_floored_mean_convention() {
        // Constant scores: 5 others tie -> rank floor(5/2) = 2, not 0.
        let scores = [1.0f32; 6];
        assert_eq!(rank_of_target(&scores, 3, &[]), 2);
        // One strictly better, two ties (one of them seen and removed).
        let scores = [2.0, 1.0, 1.0, 1.0, 0.0];
        assert_eq!(rank_of_target(&scores, 1, &[]), 1 + 1); // 1 beats + floor(2/2)
        assert_eq!(rank_of_target(&scores, 1, &[2]), 1); // 1 beats + floor(1/2)
    }

    #[test]
    fn full_rank_matches_brute_force() {
        // Brute force: build the candidate list explicitly, then count.
        let mut rng = Rng::new(17);
        for _ in 0..200 {
            let n = 1 + rng.index(80);
            let scores: Vec<f32> = (0..n).map(|_| rng.below(6) as f32).collect();
            let target = rng.index(n);
            let excluded: Vec<u32> = (0..rng.index(30)).map(|_| rng.below(n as u64 + 5) as u32).collect();
            let others: Vec<f32> =
                (0..n).filter(|&i| i != target && !excluded.contains(&(i as u32))).map(|i| scores[i]).collect();
            let beats = others.iter().filter(|&&s| s > scores[target]).count();
            let ties = others.iter().filter(|&&s| s == scores[target]).count();
            assert_eq!(rank_of_target(&scores, target, &excluded), beats + ties / 2);
            assert_eq!(rank_among(scores[target], &others), beats + ties / 2);
        }
    }

    #[test]
    fn nan_scores_never_help() {
        let scores = [0.1, f32::NAN, 0.5, 0.2];
        // A NaN candidate counts as beating the target.
        assert_eq!(rank_of_target(&scores, 2, &[]), 1);
        // A NaN target is last among the 3 others.
        assert_eq!(rank_of_target(&scores, 1, &[]), 3);
        assert_eq!(rank_among(f32::NAN, &[0.0, 1.0]), 2);
    }

    #[test]
    fn rank_in_candidates_matches_rank_among() {
        let scores = [0.9, 0.1, 0.5, 0.7, 0.3, 0.8];
        // Target 2 against candidates 1, 3, 4 (and itself, skipped): only 3 beats it.
        assert_eq!(rank_in_candidates(&scores, 2, &[1, 3, 4, 2]), 1);
        assert_eq!(rank_among(0.5, &[0.1, 0.7, 0.3]), 1);
    }

    #[test]
    fn sampled_candidates_exclude_seen_and_target_and_are_deterministic() {
        let n_items = 5000;
        let seen: Vec<u32> = (0..2000).map(|i| i * 2).collect(); // even ids below 4000
        let target = 4001;
        let a = sampled_candidates(n_items, &seen, target, SAMPLED_NEGATIVES, &mut Rng::new(7));
        let b = sampled_candidates(n_items, &seen, target, SAMPLED_NEGATIVES, &mut Rng::new(7));
        let c = sampled_candidates(n_items, &seen, target, SAMPLED_NEGATIVES, &mut Rng::new(8));
        assert_eq!(a, b, "same seed, same candidates");
        assert_ne!(a, c, "another seed, other candidates");
        assert_eq!(a.len(), SAMPLED_NEGATIVES);
        let mut uniq = a.clone();
        uniq.sort_unstable();
        uniq.dedup();
        assert_eq!(uniq.len(), a.len(), "without replacement");
        for &i in &a {
            assert!((i as usize) < n_items);
            assert!(i != target);
            assert!(!(i < 4000 && i % 2 == 0), "seen item {i} sampled");
        }
    }

    #[test]
    fn sampled_candidates_dense_and_short_catalogues() {
        // Dense path: 150 free items for 100 draws.
        let seen: Vec<u32> = (0..850).collect();
        let a = sampled_candidates(1000, &seen, 900, 100, &mut Rng::new(1));
        assert_eq!(a.len(), 100);
        assert!(a.iter().all(|&i| i >= 850 && i != 900));
        let mut u = a.clone();
        u.sort_unstable();
        u.dedup();
        assert_eq!(u.len(), 100);
        assert_eq!(a, sampled_candidates(1000, &seen, 900, 100, &mut Rng::new(1)));
        // Short: only 3 free items -> all of them.
        let b = sampled_candidates(6, &[0, 1], 2, 100, &mut Rng::new(1));
        assert_eq!(b, vec![3, 4, 5]);
    }

    #[test]
    fn sampled_candidates_are_roughly_uniform() {
        // 40 free items, 10 drawn per trial: each should appear about 1/4 of the time.
        let mut counts = [0u32; 50];
        let seen: Vec<u32> = (40..49).collect();
        for t in 0..4000 {
            for i in sampled_candidates(50, &seen, 49, 10, &mut Rng::fork(3, t)) {
                counts[i as usize] += 1;
            }
        }
        for (i, &c) in counts.iter().enumerate() {
            if i < 40 {
                assert!((800..1200).contains(&c), "item {i} drawn {c} times, expected ~1000");
            } else {
                assert_eq!(c, 0);
            }
        }
    }

    #[test]
    fn accumulator_averages_over_users() {
        let mut acc = RetrievalAccumulator::new(Protocol::Full, &[10, 1, 10, 0]);
        acc.add(0, 50); // hit@1, hit@10, ndcg 1, rr 1
        acc.add(2, 60); // hit@10, ndcg@10 0.5, rr 1/3
        acc.add(30, 40); // miss, rr 1/31
        let r = acc.report();
        assert_eq!(r.users, 3);
        assert_eq!(r.at_k.iter().map(|a| a.k).collect::<Vec<_>>(), vec![1, 10]);
        assert!((r.hr(1).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.hr(10).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((r.ndcg(10).unwrap() - 1.5 / 3.0).abs() < 1e-12);
        assert!((r.ndcg(1).unwrap() - 1.0 / 3.0).abs() < 1e-12);
        assert!((r.mrr - (1.0 + 1.0 / 3.0 + 1.0 / 31.0) / 3.0).abs() < 1e-12);
        assert_eq!(r.candidates_min, 40);
        assert!((r.candidates_mean - 50.0).abs() < 1e-12);
        assert_eq!(r.hr(5), None);

        // Merging two halves gives the same report.
        let mut a = RetrievalAccumulator::new(Protocol::Full, &[1, 10]);
        let mut b = a.clone();
        a.add(0, 50);
        b.add(2, 60);
        b.add(30, 40);
        assert!(a.merge(&b));
        let m = a.report();
        assert_eq!((m.users, &m.at_k, m.candidates_min), (r.users, &r.at_k, r.candidates_min));
        assert!((m.mrr - r.mrr).abs() < 1e-12, "only the summation order differs");
        assert!(!a.merge(&RetrievalAccumulator::new(Protocol::Sampled100, &[1, 10])));
    }

    #[test]
    fn labels_carry_the_protocol() {
        let mut acc = RetrievalAccumulator::new(Protocol::Full, &[10]);
        acc.add(0, 10);
        let labels = acc.report().labelled();
        assert_eq!(labels[0].0, "HR@10 (full, leave-one-out, seen removed)");
        assert_eq!(labels[1].0, "NDCG@10 (full, leave-one-out, seen removed)");
        assert_eq!(labels[2].0, "MRR (full, leave-one-out, seen removed)");
        let mut acc = RetrievalAccumulator::new(Protocol::Sampled100, &[10]);
        acc.add(0, 101);
        assert_eq!(acc.report().labelled()[0].0, "HR@10 (sampled100, leave-one-out)");
        // JSON is self-describing.
        let json = serde_json::to_value(acc.report()).unwrap();
        assert_eq!(json["protocol"], "sampled100");
        assert_eq!(json["protocol_label"], "sampled100, leave-one-out");
        assert_eq!("full".parse::<Protocol>().unwrap(), Protocol::Full);
        assert!("bogus".parse::<Protocol>().unwrap_err().to_string().contains("sampled100"));
    }
}
