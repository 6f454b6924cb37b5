//! CTR metrics over ad impressions: AUC, GAUC (by user and by query), logloss,
//! RelaImpr and calibration.
//!
//! AUC uses the rank-sum (Mann-Whitney U) form with tied scores counting half
//! a correctly ordered pair, computed after one sort, in O(n log n). The pair
//! count is kept in integers (twice the count, so half-pairs stay exact), so it
//! equals the brute-force O(n²) pair count exactly. GAUC follows DIN (Zhou et
//! al. 2018, §6.1, "user weighted AUC"): Σ_g n_g·AUC_g / Σ_g n_g over groups
//! that have both clicks and non-clicks; the rest are reported as dropped.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::Metric;
use crate::data::NONE;

/// Probabilities are clipped to `[LOGLOSS_CLIP, 1 - LOGLOSS_CLIP]` before the
/// log, so one confident mistake costs at most -ln(1e-7) ≈ 16.1, not infinity.
pub const LOGLOSS_CLIP: f64 = 1e-7;

/// Why a CTR metric could not be computed.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CtrError {
    /// Parallel slices of different lengths (a caller bug, reported not panicked).
    #[error("{what}: {expected} labels but {found} values")]
    LengthMismatch { what: &'static str, expected: usize, found: usize },
    /// A NaN or infinite score or probability.
    #[error("{what} at impression {index} is not finite ({value})")]
    NonFinite { what: &'static str, index: usize, value: f32 },
    /// AUC is undefined without both classes.
    #[error("AUC needs both clicks and non-clicks; got {positives} clicks and {negatives} non-clicks")]
    SingleClass { positives: u64, negatives: u64 },
    /// Nothing to evaluate.
    #[error("no impressions to evaluate")]
    Empty,
}

fn check_lengths(what: &'static str, labels: usize, other: usize) -> Result<(), CtrError> {
    if labels != other {
        return Err(CtrError::LengthMismatch { what, expected: labels, found: other });
    }
    Ok(())
}

fn check_finite(what: &'static str, values: &[f32]) -> Result<(), CtrError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(CtrError::NonFinite { what, index, value: values[index] }),
        None => Ok(()),
    }
}

/// Orders finite scores; `-0.0` and `0.0` compare equal (a tie), unlike `total_cmp`.
fn cmp_finite(a: f32, b: f32) -> Ordering {
    a.partial_cmp(&b).unwrap_or(Ordering::Equal)
}

/// Pair counts of one set of impressions walked in ascending score order.
#[derive(Default)]
struct PairCount {
    positives: u64,
    negatives: u64,
    /// Twice the number of (positive, negative) pairs ordered correctly,
    /// ties counting one (half a pair, doubled).
    twice_correct: u128,
}

impl PairCount {
    /// `sorted`: indices into `labels`/`scores` in ascending score order.
    fn from_sorted(sorted: &[usize], labels: &[bool], scores: &[f32]) -> Self {
        let mut pc = PairCount::default();
        let mut start = 0;
        while start < sorted.len() {
            let s = scores[sorted[start]];
            let mut end = start;
            let (mut pos, mut neg) = (0u64, 0u64);
            while end < sorted.len() && cmp_finite(scores[sorted[end]], s) == Ordering::Equal {
                if labels[sorted[end]] {
                    pos += 1;
                } else {
                    neg += 1;
                }
                end += 1;
            }
            // Positives in this tie group beat every negative below it and tie
            // with the negatives inside it.
            pc.twice_correct += pos as u128 * (2 * pc.negatives as u128 + neg as u128);
            pc.positives += pos;
            pc.negatives += neg;
            start = end;
        }
        pc
    }

    fn auc(&self) -> Option<f64> {
        if self.positives == 0 || self.negatives == 0 {
            return None;
        }
        Some(self.twice_correct as f64 / (2.0 * self.positives as f64 * self.negatives as f64))
    }
}

/// ROC AUC of `scores` (any monotone scale: logits or probabilities) against
/// click `labels`; ties count half. Errors on mismatched lengths, non-finite
/// scores, or when only one class is present.
pub fn auc(labels: &[bool], scores: &[f32]) -> Result<f64, CtrError> {
    check_lengths("AUC scores", labels.len(), scores.len())?;
    check_finite("AUC score", scores)?;
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_unstable_by(|&a, &b| cmp_finite(scores[a], scores[b]));
    let pc = PairCount::from_sorted(&order, labels, scores);
    pc.auc().ok_or(CtrError::SingleClass { positives: pc.positives, negatives: pc.negatives })
}

/// Group AUC and what it left out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaucResult {
    /// Σ n_g·AUC_g / Σ n_g over usable groups; `None` when no group has both classes.
    pub value: Option<f64>,
    /// Groups with both clicks and non-clicks.
    pub groups_used: u64,
    /// Groups with a single class (AUC undefined), left out.
    pub groups_dropped: u64,
    /// Impressions in used groups (the weights' sum).
    pub impressions_used: u64,
    /// Impressions in dropped groups plus those without a group key.
    pub impressions_dropped: u64,
    /// Impressions whose key was [`NONE`] (e.g. no query), part of `impressions_dropped`.
    pub impressions_without_key: u64,
}

/// GAUC grouped by `groups` (user ids or query ids, one per impression).
/// Impressions whose key is [`crate::data::NONE`] belong to no group and are dropped.
pub fn gauc(groups: &[u32], labels: &[bool], scores: &[f32]) -> Result<GaucResult, CtrError> {
    check_lengths("GAUC scores", labels.len(), scores.len())?;
    check_lengths("GAUC group keys", labels.len(), groups.len())?;
    check_finite("GAUC score", scores)?;
    let mut order: Vec<usize> = (0..scores.len()).filter(|&i| groups[i] != NONE).collect();
    let without_key = (scores.len() - order.len()) as u64;
    order.sort_unstable_by(|&a, &b| groups[a].cmp(&groups[b]).then_with(|| cmp_finite(scores[a], scores[b])));
    let mut r = GaucResult {
        value: None,
        groups_used: 0,
        groups_dropped: 0,
        impressions_used: 0,
        impressions_dropped: without_key,
        impressions_without_key: without_key,
    };
    let mut weighted = 0.0f64;
    for group in order.chunk_by(|&a, &b| groups[a] == groups[b]) {
        let n = group.len() as u64;
        match PairCount::from_sorted(group, labels, scores).auc() {
            Some(a) => {
                weighted += n as f64 * a;
                r.groups_used += 1;
                r.impressions_used += n;
            }
            None => {
                r.groups_dropped += 1;
                r.impressions_dropped += n;
            }
        }
    }
    if r.impressions_used > 0 {
        r.value = Some(weighted / r.impressions_used as f64);
    }
    Ok(r)
}

/// Mean binary cross-entropy of predicted click probabilities `probs`, each
/// clipped to `[LOGLOSS_CLIP, 1 - LOGLOSS_CLIP]`.
pub fn logloss(labels: &[bool], probs: &[f32]) -> Result<f64, CtrError> {
    check_lengths("logloss probabilities", labels.len(), probs.len())?;
    check_finite("probability", probs)?;
    if labels.is_empty() {
        return Err(CtrError::Empty);
    }
    let sum: f64 = labels
        .iter()
        .zip(probs)
        .map(|(&y, &p)| {
            let p = (p as f64).clamp(LOGLOSS_CLIP, 1.0 - LOGLOSS_CLIP);
            if y { -p.ln() } else { -(1.0 - p).ln() }
        })
        .sum();
    Ok(sum / labels.len() as f64)
}

/// RelaImpr in percent (Yan et al. 2014; used by DIN):
/// `((AUC_model - 0.5) / (AUC_base - 0.5) - 1) * 100`. `None` when the base is
/// no better than random (AUC_base = 0.5 makes it undefined).
pub fn rela_impr(auc_model: f64, auc_base: f64) -> Option<f64> {
    let base_lift = auc_base - 0.5;
    if base_lift.abs() < f64::EPSILON {
        return None;
    }
    Some(((auc_model - 0.5) / base_lift - 1.0) * 100.0)
}

/// Mean predicted CTR against the observed click rate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Mean of the predicted probabilities.
    pub mean_predicted: f64,
    /// Clicks / impressions.
    pub observed_ctr: f64,
    /// `mean_predicted / observed_ctr` (1 = calibrated); `None` with no clicks.
    pub ratio: Option<f64>,
}

/// Calibration of predicted probabilities against labels.
pub fn calibration(labels: &[bool], probs: &[f32]) -> Result<Calibration, CtrError> {
    check_lengths("calibration probabilities", labels.len(), probs.len())?;
    check_finite("probability", probs)?;
    if labels.is_empty() {
        return Err(CtrError::Empty);
    }
    let n = labels.len() as f64;
    let mean_predicted = probs.iter().map(|&p| p as f64).sum::<f64>() / n;
    let observed_ctr = labels.iter().filter(|&&y| y).count() as f64 / n;
    let ratio = (observed_ctr > 0.0).then(|| mean_predicted / observed_ctr);
    Ok(Calibration { mean_predicted, observed_ctr, ratio })
}

/// Every CTR metric of one model on one split.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CtrReport {
    /// How the numbers were measured: the split and the conventions.
    pub protocol: String,
    /// The split's name as given by the caller (e.g. `test, last 2 days`).
    pub split: String,
    /// Impressions evaluated.
    pub impressions: u64,
    /// Clicked impressions.
    pub clicks: u64,
    /// ROC AUC (rank-sum, ties half).
    pub auc: f64,
    /// GAUC grouped by user.
    pub gauc_user: GaucResult,
    /// GAUC grouped by query; `None` when the caller had no query keys.
    pub gauc_query: Option<GaucResult>,
    /// Mean BCE with clipped probabilities.
    pub logloss: f64,
    /// Mean predicted vs observed CTR.
    pub calibration: Calibration,
    /// RelaImpr (%) of this model's AUC over `rela_impr_base`'s, once set by
    /// [`with_baseline`](Self::with_baseline).
    pub rela_impr: Option<f64>,
    /// Which report RelaImpr is relative to (its split and AUC).
    pub rela_impr_base: Option<String>,
}

impl CtrReport {
    /// Computes every metric. `probs`: predicted click probabilities; `users`
    /// and `queries` (optional): one group key per impression.
    pub fn compute(
        split: &str,
        labels: &[bool],
        probs: &[f32],
        users: &[u32],
        queries: Option<&[u32]>,
    ) -> Result<CtrReport, CtrError> {
        if labels.is_empty() {
            return Err(CtrError::Empty);
        }
        let auc = auc(labels, probs)?;
        let gauc_user = gauc(users, labels, probs)?;
        let gauc_query = queries.map(|q| gauc(q, labels, probs)).transpose()?;
        Ok(CtrReport {
            protocol: format!(
                "{split}; AUC by rank-sum, ties count half; GAUC = impression-weighted mean of \
                 per-group AUC over groups with both classes; logloss with p clipped to \
                 [1e-7, 1-1e-7]"
            ),
            split: split.to_string(),
            impressions: labels.len() as u64,
            clicks: labels.iter().filter(|&&y| y).count() as u64,
            auc,
            gauc_user,
            gauc_query,
            logloss: logloss(labels, probs)?,
            calibration: calibration(labels, probs)?,
            rela_impr: None,
            rela_impr_base: None,
        })
    }

    /// Sets RelaImpr relative to `base` (normally the baseline CTR model on the same split).
    pub fn with_baseline(mut self, base: &CtrReport) -> Self {
        self.rela_impr = rela_impr(self.auc, base.auc);
        self.rela_impr_base = Some(format!("baseline AUC {:.4} on {}", base.auc, base.split));
        self
    }

    /// The headline numbers as [`Metric`]s, each with its own protocol string.
    pub fn metrics(&self) -> Vec<Metric> {
        let s = &self.split;
        let mut out = vec![Metric::new("AUC", self.auc, format!("{s}, ties count half"))];
        let mut push_gauc = |name: &str, by: &str, g: &GaucResult| {
            if let Some(v) = g.value {
                out.push(Metric::new(
                    name,
                    v,
                    format!(
                        "{s}, by {by}, {} of {} groups with both classes",
                        g.groups_used,
                        g.groups_used + g.groups_dropped
                    ),
                ));
            }
        };
        push_gauc("GAUC(user)", "user", &self.gauc_user);
        if let Some(g) = &self.gauc_query {
            push_gauc("GAUC(query)", "query", g);
        }
        out.push(Metric::new("logloss", self.logloss, format!("{s}, p clipped to [1e-7, 1-1e-7]")));
        if let Some(ratio) = self.calibration.ratio {
            out.push(Metric::new("pred/obs CTR", ratio, format!("{s}, mean predicted / observed")));
        }
        if let (Some(r), Some(base)) = (self.rela_impr, &self.rela_impr_base) {
            out.push(Metric::new("RelaImpr %", r, format!("{s}, AUC vs {base}")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;

    /// Brute-force AUC: count every (positive, negative) pair, ties half.
    fn auc_pairs(labels: &[bool], scores: &[f32]) -> f64 {
        let (mut correct, mut pairs) = (0.0f64, 0.0f64);
        for i in 0..labels.len() {
            for j in 0..labels.len() {
                if labels[i] && !labels[j] {
                    pairs += 1.0;
                    if scores[i] > scores[j] {
                        correct += 1.0;
                    } else if scores[i] == scores[j] {
                        correct += 0.5;
                    }
                }
            }
        }
        correct / pairs
    }

    fn random_case(rng: &mut Rng, n: usize, levels: u64) -> (Vec<bool>, Vec<f32>) {
        // Few distinct score levels -> many ties; labels correlated with score.
        let scores: Vec<f32> = (0..n).map(|_| rng.below(levels) as f32 / levels as f32).collect();
        let labels = scores.iter().map(|&s| rng.chance(0.2 + 0.6 * s as f64)).collect();
        (labels, scores)
    }

    #[test]
    fn auc_four_samples_by_hand() {
        // Positives score 0.8 and 0.4; negatives 0.6 and 0.2.
        // Pairs: (0.8>0.6) (0.8>0.2) (0.4<0.6) (0.4>0.2) -> 3 of 4 correct.
        let labels = [true, false, true, false];
        let scores = [0.8, 0.6, 0.4, 0.2];
        assert!((auc(&labels, &scores).unwrap() - 0.75).abs() < 1e-15);
        // Make the 0.4 positive tie with the 0.6 negative: 3.5 / 4.
        let scores = [0.8, 0.6, 0.6, 0.2];
        assert!((auc(&labels, &scores).unwrap() - 0.875).abs() < 1e-15);
        // All tied: 0.5.
        assert_eq!(auc(&labels, &[0.3; 4]).unwrap(), 0.5);
        // -0.0 and 0.0 tie.
        assert_eq!(auc(&[true, false], &[-0.0, 0.0]).unwrap(), 0.5);
    }

    #[test]
    fn auc_rank_sum_equals_brute_force_with_ties() {
        let mut rng = Rng::new(11);
        for trial in 0..60 {
            let n = 2 + rng.index(300);
            let levels = 1 + rng.below(if trial % 2 == 0 { 5 } else { 1000 });
            let (labels, scores) = random_case(&mut rng, n, levels);
            let brute = auc_pairs(&labels, &scores);
            match auc(&labels, &scores) {
                Ok(a) => assert!((a - brute).abs() < 1e-9, "trial {trial}: {a} vs {brute}"),
                Err(CtrError::SingleClass { .. }) => assert!(brute.is_nan()),
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn auc_is_invariant_to_monotone_transforms() {
        let mut rng = Rng::new(5);
        let (labels, scores) = random_case(&mut rng, 500, 50);
        let a = auc(&labels, &scores).unwrap();
        let logit: Vec<f32> = scores.iter().map(|&s| ((s + 0.01) / (1.01 - s)).ln()).collect();
        let cubed: Vec<f32> = scores.iter().map(|&s| 3.0 * s * s * s - 7.0).collect();
        assert!((auc(&labels, &logit).unwrap() - a).abs() < 1e-12);
        assert!((auc(&labels, &cubed).unwrap() - a).abs() < 1e-12);
        // A decreasing transform flips it.
        let neg: Vec<f32> = scores.iter().map(|&s| -s).collect();
        assert!((auc(&labels, &neg).unwrap() - (1.0 - a)).abs() < 1e-12);
    }

    #[test]
    fn auc_rejects_bad_input() {
        assert_eq!(auc(&[true, true], &[0.1, 0.2]), Err(CtrError::SingleClass { positives: 2, negatives: 0 }));
        assert!(matches!(auc(&[true, false], &[0.1]), Err(CtrError::LengthMismatch { .. })));
        let e = auc(&[true, false], &[0.1, f32::NAN]).unwrap_err();
        assert!(e.to_string().contains("impression 1"), "{e}");
    }

    #[test]
    fn gauc_weights_groups_and_reports_dropped() {
        // Group 7: 4 impressions, AUC 0.75 (the hand case above).
        // Group 3: 2 impressions, AUC 1.
        // Group 9: all clicks -> dropped (3 impressions).
        // One impression with no key -> dropped.
        let groups = [7, 7, 7, 7, 3, 3, 9, 9, 9, NONE];
        let labels = [true, false, true, false, false, true, true, true, true, false];
        let scores = [0.8, 0.6, 0.4, 0.2, 0.1, 0.9, 0.5, 0.6, 0.7, 0.3];
        let g = gauc(&groups, &labels, &scores).unwrap();
        let expected = (4.0 * 0.75 + 2.0 * 1.0) / 6.0;
        assert!((g.value.unwrap() - expected).abs() < 1e-15);
        assert_eq!(g.groups_used, 2);
        assert_eq!(g.groups_dropped, 1);
        assert_eq!(g.impressions_used, 6);
        assert_eq!(g.impressions_dropped, 4);
        assert_eq!(g.impressions_without_key, 1);

        // Only single-class groups: no value.
        let g = gauc(&[1, 1, 2], &[true, true, false], &[0.1, 0.2, 0.3]).unwrap();
        assert_eq!(g.value, None);
        assert_eq!(g.groups_dropped, 2);
    }

    #[test]
    fn gauc_matches_per_group_brute_force() {
        let mut rng = Rng::new(21);
        let (labels, scores) = random_case(&mut rng, 800, 7);
        let groups: Vec<u32> = (0..800).map(|_| rng.below(40) as u32).collect();
        let g = gauc(&groups, &labels, &scores).unwrap();
        let (mut num, mut den) = (0.0, 0.0);
        for key in 0..40u32 {
            let idx: Vec<usize> = (0..800).filter(|&i| groups[i] == key).collect();
            let l: Vec<bool> = idx.iter().map(|&i| labels[i]).collect();
            let s: Vec<f32> = idx.iter().map(|&i| scores[i]).collect();
            if l.iter().any(|&y| y) && l.iter().any(|&y| !y) {
                num += idx.len() as f64 * auc_pairs(&l, &s);
                den += idx.len() as f64;
            }
        }
        assert!((g.value.unwrap() - num / den).abs() < 1e-9);
    }

    #[test]
    fn logloss_by_hand_and_clipping() {
        // -(ln 0.8 + ln(1 - 0.4)) / 2
        let ll = logloss(&[true, false], &[0.8, 0.4]).unwrap();
        assert!((ll - (-(0.8f64.ln() + 0.6f64.ln()) / 2.0)).abs() < 1e-7);
        // p = 0 for a click and p = 1 for a non-click: clipped, finite, -ln(1e-7) each.
        let ll = logloss(&[true, false], &[0.0, 1.0]).unwrap();
        assert!(ll.is_finite());
        assert!((ll - (-(1e-7f64).ln())).abs() < 1e-6, "{ll}");
        // Right and certain: about -ln(1 - 1e-7) ≈ 1e-7, not 0 and not negative.
        let ll = logloss(&[true, false], &[1.0, 0.0]).unwrap();
        assert!(ll > 0.0 && ll < 2e-7, "{ll}");
        assert_eq!(logloss(&[], &[]), Err(CtrError::Empty));
    }

    #[test]
    fn rela_impr_and_calibration() {
        // (0.75-0.5)/(0.70-0.5) - 1 = 0.25 -> 25 %.
        assert!((rela_impr(0.75, 0.70).unwrap() - 25.0).abs() < 1e-9);
        assert_eq!(rela_impr(0.8, 0.5), None);
        let c = calibration(&[true, false, false, false], &[0.5, 0.1, 0.1, 0.1]).unwrap();
        assert!((c.mean_predicted - 0.2).abs() < 1e-7);
        assert_eq!(c.observed_ctr, 0.25);
        assert!((c.ratio.unwrap() - 0.8).abs() < 1e-6);
        assert_eq!(calibration(&[false], &[0.3]).unwrap().ratio, None);
    }

    #[test]
    fn report_collects_everything_with_protocols() {
        let labels = [true, false, true, false];
        let probs = [0.8, 0.6, 0.4, 0.2];
        let users = [1, 1, 2, 2];
        let base = CtrReport::compute("test", &labels, &[0.8, 0.6, 0.2, 0.4], &users, None).unwrap();
        let r = CtrReport::compute("test", &labels, &probs, &users, Some(&[5, 5, 5, 5])).unwrap().with_baseline(&base);
        assert_eq!(r.impressions, 4);
        assert_eq!(r.clicks, 2);
        assert!((r.auc - 0.75).abs() < 1e-12);
        assert_eq!(base.auc, 0.5);
        // Base AUC 0.5 -> RelaImpr undefined, and no metric is shown for it.
        assert_eq!(r.rela_impr, None);
        assert!(r.protocol.contains("clipped to [1e-7, 1-1e-7]"));
        let names: Vec<String> = r.metrics().iter().map(|m| m.label()).collect();
        assert!(names.contains(&"AUC (test, ties count half)".to_string()), "{names:?}");
        assert!(names.iter().any(|n| n.starts_with("GAUC(query) (test, by query, 1 of 1 groups")));
        assert!(names.iter().any(|n| n == "logloss (test, p clipped to [1e-7, 1-1e-7])"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["gauc_user"]["groups_used"], 2);
    }
}
