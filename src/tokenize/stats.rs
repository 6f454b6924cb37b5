//! Tokenizer statistics (vocabulary sizes, codebook usage, collisions) and
//! clustering-agreement helpers (purity, adjusted Rand index) used to check that
//! semantic codes mean something.

use super::vocab::SubKind;
use super::{ConditionSource, ItemStrategy};
use crate::data::NONE;
use crate::util::Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Shuffles averaged in [`purity_vs_chance`].
const CHANCE_SHUFFLES: u64 = 5;

/// How many vocabulary entries one sub-token kind has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KindSize {
    /// Kind label, e.g. "item_id", "code_l2", "title_word".
    pub kind: String,
    pub size: usize,
}

/// Statistics of one semantic-id level.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LevelStats {
    /// Codebook size k.
    pub size: usize,
    /// Codes used by at least one item.
    pub used: usize,
    /// size - used.
    pub dead: usize,
    /// exp(entropy) of the code-usage distribution (= size when usage is uniform).
    pub perplexity: f64,
    /// Distinct code prefixes (level 1..=this level) among items.
    pub distinct_prefixes: usize,
    /// Mean squared distance of items to their centre at this level (quantisation error).
    pub quant_mse: f64,
    /// Mean Euclidean distance of items to their centre at this level.
    pub mean_dist: f64,
    /// Lloyd iterations run and whether they converged.
    pub iters: usize,
    pub converged: bool,
    /// Points the codebook was trained on (a seeded sample when the catalogue is large).
    pub train_points: usize,
}

/// Statistics of the `semantic` strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SemanticStats {
    /// Where the item vectors came from: "items-table" or the vector file path.
    pub vector_source: String,
    pub vector_dim: usize,
    /// Items that got a code path (the rest are id-only).
    pub items_coded: usize,
    /// Mean ||x||² of the vectors before quantisation.
    pub input_mse: f64,
    pub levels: Vec<LevelStats>,
    /// Share of coded items whose full code path (before the suffix) is shared with another item.
    pub collision_rate: f64,
    /// Items in the largest group sharing one full code path.
    pub largest_collision_group: usize,
    /// Largest collision suffix used (largest group - 1).
    pub max_suffix: usize,
    /// Vector-file rows naming items that are not in the log (ignored).
    pub unknown_vector_rows: usize,
}

/// Statistics of the `id` strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdStats {
    pub min_count: u32,
    /// Items with fewer than `min_count` non-impression behaviours (they share `<unk>`).
    pub items_below_min_count: usize,
    /// Non-impression behaviours whose item is `<unk>`.
    pub behaviours_on_unk: u64,
}

/// Statistics of the `attributes` strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttributeStats {
    pub items_with_category: usize,
    pub items_with_brand: usize,
    pub items_with_price: usize,
    pub items_with_title_words: usize,
    /// Share of attribute-tokenized items whose sub-token set equals another item's.
    pub collision_rate: f64,
    pub largest_collision_group: usize,
}

/// Everything a tokenizer run reports (`lumlab tokens --json`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenStats {
    pub strategy: ItemStrategy,
    pub n_items: usize,
    pub n_conditions: usize,
    /// Vocabulary size including the padding id 0.
    pub vocab_size: usize,
    pub vocab_by_kind: Vec<KindSize>,
    pub condition_source: ConditionSource,
    /// Conditions per kind ("query", "scenario", "action").
    pub conditions_by_kind: Vec<(String, usize)>,
    /// Non-impression rows per condition kind.
    pub rows_by_condition_kind: Vec<(String, u64)>,
    /// Items the items table does not describe.
    pub items_not_in_table: usize,
    /// Items that got only an item-id sub-token because they have no content
    /// (always all items under `id`).
    pub items_id_only: usize,
    pub mean_sub_tokens_per_item: f64,
    pub max_sub_tokens_per_item: usize,
    pub mean_sub_tokens_per_condition: f64,
    pub id: Option<IdStats>,
    pub semantic: Option<SemanticStats>,
    pub attributes: Option<AttributeStats>,
    /// Anything worth telling the user (e.g. a cache that could not be written).
    pub notes: Vec<String>,
}

/// Vocabulary sizes per kind, in vocabulary order.
pub(crate) fn kind_sizes(ranges: &[(SubKind, u32, u32)]) -> Vec<KindSize> {
    ranges
        .iter()
        .map(|(k, a, b)| KindSize {
            kind: k.label(),
            size: (b - a) as usize,
        })
        .collect()
}

/// exp(Shannon entropy) of a count distribution.
pub fn perplexity(counts: &[u64]) -> f64 {
    let total: u64 = counts.iter().sum();
    if total == 0 {
        return 0.0;
    }
    let h: f64 = counts
        .iter()
        .filter(|c| **c > 0)
        .map(|c| {
            let p = *c as f64 / total as f64;
            -p * p.ln()
        })
        .sum();
    h.exp()
}

/// Pairs (a, b) where neither is [`NONE`].
fn valid_pairs<'a>(a: &'a [u32], b: &'a [u32]) -> impl Iterator<Item = (u32, u32)> + 'a {
    a.iter()
        .zip(b)
        .filter(|(x, y)| **x != NONE && **y != NONE)
        .map(|(x, y)| (*x, *y))
}

/// Purity of clusters `codes` against `labels`: Σ_clusters max_label count / n.
/// Entries where either side is [`NONE`] are skipped; 0 when nothing is left.
pub fn purity(codes: &[u32], labels: &[u32]) -> f64 {
    let mut table: HashMap<(u32, u32), u64> = HashMap::new();
    let mut n = 0u64;
    for (c, l) in valid_pairs(codes, labels) {
        *table.entry((c, l)).or_default() += 1;
        n += 1;
    }
    if n == 0 {
        return 0.0;
    }
    let mut best: HashMap<u32, u64> = HashMap::new();
    for ((c, _), cnt) in table {
        let b = best.entry(c).or_default();
        *b = (*b).max(cnt);
    }
    best.values().sum::<u64>() as f64 / n as f64
}

/// Purity of `codes` against `labels` and the mean purity against the same
/// labels randomly permuted (what chance gives with these cluster sizes).
pub fn purity_vs_chance(codes: &[u32], labels: &[u32], seed: u64) -> (f64, f64) {
    let (c, mut l): (Vec<u32>, Vec<u32>) = valid_pairs(codes, labels).unzip();
    let real = purity(&c, &l);
    let mut rng = Rng::new(seed);
    let mut chance = 0.0;
    for _ in 0..CHANCE_SHUFFLES {
        rng.shuffle(&mut l);
        chance += purity(&c, &l);
    }
    (real, chance / CHANCE_SHUFFLES as f64)
}

/// Adjusted Rand index (Hubert & Arabie 1985) between two labelings; entries with
/// [`NONE`] are skipped. 1 = identical partitions, ~0 = chance.
pub fn adjusted_rand_index(a: &[u32], b: &[u32]) -> f64 {
    let mut table: HashMap<(u32, u32), u64> = HashMap::new();
    let mut rows: HashMap<u32, u64> = HashMap::new();
    let mut cols: HashMap<u32, u64> = HashMap::new();
    let mut n = 0u64;
    for (x, y) in valid_pairs(a, b) {
        *table.entry((x, y)).or_default() += 1;
        *rows.entry(x).or_default() += 1;
        *cols.entry(y).or_default() += 1;
        n += 1;
    }
    let pairs = |v: u64| (v as f64) * (v as f64 - 1.0) / 2.0;
    let index: f64 = table.values().map(|v| pairs(*v)).sum();
    let sa: f64 = rows.values().map(|v| pairs(*v)).sum();
    let sb: f64 = cols.values().map(|v| pairs(*v)).sum();
    let total = pairs(n);
    if total == 0.0 {
        return 1.0;
    }
    let expected = sa * sb / total;
    let max = (sa + sb) / 2.0;
    if (max - expected).abs() < f64::EPSILON {
        return 1.0;
    }
    (index - expected) / (max - expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn purity_and_ari_hand_computed() {
        // clusters {0,1,2} -> labels a,a,b ; {3,4} -> b,b : purity = (2+2)/5.
        let codes = [0, 0, 0, 1, 1];
        let labels = [7, 7, 8, 8, 8];
        assert!((purity(&codes, &labels) - 0.8).abs() < 1e-12);
        // ARI by hand: contingency [[2,1],[0,2]]; index = C(2,2)+C(2,2) = 2;
        // rows C(3,2)+C(2,2)=4; cols C(2,2)+C(3,2)=4; total C(5,2)=10;
        // expected = 1.6; max = 4; ARI = (2-1.6)/(4-1.6) = 1/6.
        assert!((adjusted_rand_index(&codes, &labels) - 1.0 / 6.0).abs() < 1e-12);
        assert!((adjusted_rand_index(&labels, &labels) - 1.0).abs() < 1e-12);
        // NONE entries are skipped.
        assert!((purity(&[0, NONE, 1], &[5, 5, 6]) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn perplexity_of_uniform_and_point_mass() {
        assert!((perplexity(&[5, 5, 5, 5]) - 4.0).abs() < 1e-9);
        assert!((perplexity(&[9, 0, 0]) - 1.0).abs() < 1e-12);
        assert_eq!(perplexity(&[]), 0.0);
    }

    #[test]
    fn chance_purity_is_lower_than_real_on_aligned_codes() {
        let labels: Vec<u32> = (0..400).map(|i| i % 4).collect();
        let (real, chance) = purity_vs_chance(&labels, &labels, 1);
        assert_eq!(real, 1.0);
        assert!(chance < 0.4, "chance {chance}");
    }
}
