//! The `semantic` strategy: hierarchical semantic ids from residual k-means
//! over item vectors, plus a collision suffix.
//!
//! Each coded item's sub-tokens are `[code_l1, code_l2, ..., code_lL, suffix]`
//! (TIGER's layout): items sharing the full code path are numbered 0, 1, ... in
//! item-id order by the suffix, so every item's sub-token list is unique; an
//! item alone on its path has suffix 0. Items without a vector (no items-table
//! row / no content / no row in the vector file) get one id-only sub-token.

use super::TokenizerConfig;
use super::content::{CONTENT_DIM, content_vectors};
use super::error::TokenizeError;
use super::items::collisions;
use super::kmeans::{KmeansConfig, residual_kmeans};
use super::stats::{LevelStats, SemanticStats, perplexity};
use super::vectors::read_vector_file;
use super::vocab::{SubKind, SubTokens, VocabBuilder};
use crate::data::{Dataset, NONE};
use std::collections::{HashMap, HashSet};

/// Semantic codes of every item.
#[derive(Clone, Debug, PartialEq)]
pub struct SemanticCodes {
    /// Codebook size per level.
    pub levels: Vec<usize>,
    /// Width of the item vectors.
    pub dim: usize,
    /// (n_items, levels.len()) row-major; rows of id-only items are [`NONE`].
    pub codes: Vec<u32>,
    /// Collision suffix per item ([`NONE`] for id-only items).
    pub suffix: Vec<u32>,
    /// Per level: (k, dim) centroids (of the residuals at that level).
    pub codebooks: Vec<Vec<f32>>,
}

impl SemanticCodes {
    /// Code path of item `i` (None when the item is id-only).
    pub fn path(&self, i: u32) -> Option<&[u32]> {
        let l = self.levels.len();
        let p = self.codes.get(i as usize * l..(i as usize + 1) * l)?;
        (p.first().map(|c| *c != NONE).unwrap_or(false)).then_some(p)
    }

    /// Code of every item at level `level` (0-based), [`NONE`] for id-only items.
    pub fn level_codes(&self, level: usize) -> Vec<u32> {
        let l = self.levels.len();
        if level >= l {
            return Vec::new();
        }
        self.codes.chunks_exact(l).map(|p| p[level]).collect()
    }
}

pub(crate) struct SemanticOut {
    pub sub: SubTokens,
    pub codes: SemanticCodes,
    pub stats: SemanticStats,
    pub id_only: usize,
}

/// Runs the `semantic` strategy.
pub(crate) fn semantic_items(
    data: &Dataset,
    cfg: &TokenizerConfig,
    vb: &mut VocabBuilder,
) -> Result<SemanticOut, TokenizeError> {
    let n = data.n_items();
    let (items, x, dim, source, unknown_rows) = match &cfg.vector_file {
        Some(path) => {
            let v = read_vector_file(path, &data.items)?;
            (
                v.items,
                v.x,
                v.dim,
                path.display().to_string(),
                v.unknown_rows,
            )
        }
        None => {
            let (ids, x) = content_vectors(&data.item_table, n, cfg.seed, cfg.max_words);
            (ids, x, CONTENT_DIM, "items-table".to_string(), 0)
        }
    };
    if items.is_empty() {
        return Err(TokenizeError::NoContent);
    }
    let kcfg = KmeansConfig {
        max_iters: cfg.kmeans_iters,
        tol: cfg.kmeans_tol,
        seed: cfg.seed,
        threads: cfg.threads,
        max_points_per_centroid: cfg.max_points_per_centroid,
    };
    let rc = residual_kmeans(&x, dim, &cfg.levels, &kcfg);
    let nl = cfg.levels.len();

    // Scatter codes to item ids; suffixes count earlier items on the same path.
    let mut codes = vec![NONE; n * nl];
    let mut suffix = vec![NONE; n];
    let mut seen: HashMap<&[u32], u32> = HashMap::new();
    for (p, item) in items.iter().enumerate() {
        let path = &rc.codes[p * nl..(p + 1) * nl];
        codes[*item as usize * nl..(*item as usize + 1) * nl].copy_from_slice(path);
        let s = seen.entry(path).or_default();
        suffix[*item as usize] = *s;
        *s += 1;
    }
    let max_suffix = suffix
        .iter()
        .filter(|s| **s != NONE)
        .copied()
        .max()
        .unwrap_or(0);
    let (collision_rate, largest) =
        collisions((0..items.len()).map(|p| &rc.codes[p * nl..(p + 1) * nl]));

    let coded: HashSet<u32> = items.iter().copied().collect();
    let id_only: Vec<u32> = (0..n as u32).filter(|i| !coded.contains(i)).collect();
    let id_base = vb.add_kind(SubKind::ItemId, id_only.iter().map(|i| data.items.name(*i)));
    let code_base: Vec<u32> = cfg
        .levels
        .iter()
        .enumerate()
        .map(|(l, k)| vb.add_kind(SubKind::Code(l as u8 + 1), (0..*k).map(|c| c.to_string())))
        .collect();
    let suffix_base = vb.add_kind(SubKind::Suffix, (0..=max_suffix).map(|s| s.to_string()));

    let mut sub = SubTokens::new();
    let mut next_id = id_base;
    let mut ids = Vec::with_capacity(nl + 1);
    for i in 0..n {
        ids.clear();
        if suffix[i] == NONE {
            ids.push(next_id);
            next_id += 1;
        } else {
            for l in 0..nl {
                ids.push(code_base[l] + codes[i * nl + l]);
            }
            ids.push(suffix_base + suffix[i]);
        }
        sub.push(&ids);
    }

    let mut levels = Vec::with_capacity(nl);
    let mut prefixes: HashSet<&[u32]> = HashSet::new();
    for (l, lv) in rc.levels.iter().enumerate() {
        let mut counts = vec![0u64; cfg.levels[l]];
        prefixes.clear();
        for p in 0..items.len() {
            counts[rc.codes[p * nl + l] as usize] += 1;
            prefixes.insert(&rc.codes[p * nl..p * nl + l + 1]);
        }
        let used = counts.iter().filter(|c| **c > 0).count();
        levels.push(LevelStats {
            size: cfg.levels[l],
            used,
            dead: cfg.levels[l] - used,
            perplexity: perplexity(&counts),
            distinct_prefixes: prefixes.len(),
            quant_mse: lv.quant_mse,
            mean_dist: lv.mean_dist,
            iters: lv.kmeans.iters,
            converged: lv.kmeans.converged,
            train_points: lv.kmeans.train_points,
        });
    }
    let stats = SemanticStats {
        vector_source: source,
        vector_dim: dim,
        items_coded: items.len(),
        input_mse: rc.input_mse,
        levels,
        collision_rate,
        largest_collision_group: largest,
        max_suffix: max_suffix as usize,
        unknown_vector_rows: unknown_rows,
    };
    let codebooks = rc.levels.into_iter().map(|l| l.kmeans.centroids).collect();
    Ok(SemanticOut {
        sub,
        codes: SemanticCodes {
            levels: cfg.levels.clone(),
            dim,
            codes,
            suffix,
            codebooks,
        },
        stats,
        id_only: id_only.len(),
    })
}
