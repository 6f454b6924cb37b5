//! Tokenization: turns a [`Dataset`] into the LUM token stream `c1 i1 c2 i2 … cT iT`.
//!
//! Every non-impression behaviour becomes a condition token (its context: query,
//! scenario, action; see [`condition`]) followed by an item token. Both are
//! built from sub-tokens of one shared vocabulary ([`SubVocab`], id 0 = padding)
//! that the model embeds and pools. The item sub-tokens follow the chosen
//! [`ItemStrategy`]: `id` (one id per item, rare items share `<unk>`),
//! `semantic` (residual k-means codes + collision suffix, [`semantic`]) or
//! `attributes` (category, brand, price bucket, title words, [`items`]).
//!
//! Outputs are flat ragged lists ([`SubTokens`]) the model consumes directly,
//! statistics ([`TokenStats`]), and views for the GUI ([`hierarchy`]). Results
//! are cached on disk by data fingerprint + config hash ([`cache`]).

pub mod cache;
pub mod condition;
pub mod content;
pub mod error;
pub mod hierarchy;
pub mod items;
pub mod kmeans;
pub mod semantic;
pub mod stats;
pub mod vectors;
pub mod vocab;

pub use cache::tokenize_cached;
pub use condition::Condition;
pub use error::TokenizeError;
pub use hierarchy::{
    BehaviourTokens, CodebookNode, CodebookTree, SubTokenView, TokenView, UserHierarchy,
};
pub use kmeans::bench::{BenchReport, bench_kmeans};
pub use semantic::SemanticCodes;
pub use stats::{TokenStats, adjusted_rand_index, purity, purity_vs_chance};
pub use vocab::{SubKind, SubTokens, SubVocab};

use crate::data::{Dataset, NONE};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Most levels a semantic id may have.
pub const MAX_LEVELS: usize = 8;
/// Largest codebook per level.
pub const MAX_CODEBOOK: usize = 1 << 16;

/// How items are split into sub-tokens.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemStrategy {
    /// One atomic id per item.
    #[default]
    Id,
    /// Hierarchical semantic ids (residual k-means) + collision suffix.
    Semantic,
    /// Category, brand, price bucket and title-word sub-tokens.
    Attributes,
}

impl ItemStrategy {
    pub fn name(self) -> &'static str {
        match self {
            ItemStrategy::Id => "id",
            ItemStrategy::Semantic => "semantic",
            ItemStrategy::Attributes => "attributes",
        }
    }
}

impl std::fmt::Display for ItemStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ItemStrategy {
    type Err = TokenizeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "id" => Ok(ItemStrategy::Id),
            "semantic" => Ok(ItemStrategy::Semantic),
            "attributes" | "attr" => Ok(ItemStrategy::Attributes),
            other => Err(TokenizeError::Config(format!(
                "unknown strategy {other:?} (expected id, semantic or attributes)"
            ))),
        }
    }
}

/// Which behaviour field became the condition (the most specific one present).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConditionSource {
    Query,
    Scenario,
    Action,
}

impl ConditionSource {
    pub fn name(self) -> &'static str {
        match self {
            ConditionSource::Query => "query",
            ConditionSource::Scenario => "scenario",
            ConditionSource::Action => "action",
        }
    }

    pub(crate) fn from_u8(b: u8) -> Option<Self> {
        [
            ConditionSource::Query,
            ConditionSource::Scenario,
            ConditionSource::Action,
        ]
        .get(b as usize)
        .copied()
    }

    pub(crate) fn to_u8(self) -> u8 {
        match self {
            ConditionSource::Query => 0,
            ConditionSource::Scenario => 1,
            ConditionSource::Action => 2,
        }
    }
}

/// Tokenizer settings (recorded with every run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TokenizerConfig {
    pub strategy: ItemStrategy,
    /// Codebook size per semantic level.
    pub levels: Vec<usize>,
    /// `id`: items with fewer non-impression behaviours share `<unk>`.
    pub min_count: u32,
    pub seed: u64,
    /// `semantic`: item vectors from this CSV/NPY file instead of the items table.
    pub vector_file: Option<PathBuf>,
    /// `semantic`: Lloyd iterations per level at most.
    pub kmeans_iters: usize,
    /// `semantic`: stop a level when inertia improves by less than this fraction.
    pub kmeans_tol: f64,
    /// `semantic`: train each level on at most this many sampled items per centre (0 = all).
    pub max_points_per_centroid: usize,
    /// Worker threads for k-means (0 = all cores). Does not change the result.
    pub threads: usize,
    /// `attributes`: title words used by fewer items are dropped.
    pub min_word_count: u32,
    /// Title / query words kept per item / query.
    pub max_words: usize,
}

impl Default for TokenizerConfig {
    fn default() -> Self {
        Self {
            strategy: ItemStrategy::Id,
            levels: vec![64, 64, 64],
            min_count: 1,
            seed: 42,
            vector_file: None,
            kmeans_iters: 25,
            kmeans_tol: 1e-4,
            max_points_per_centroid: 256,
            threads: 0,
            min_word_count: 2,
            max_words: 8,
        }
    }
}

impl TokenizerConfig {
    /// Checks the settings before any work.
    pub fn validate(&self) -> Result<(), TokenizeError> {
        if self.strategy == ItemStrategy::Semantic {
            if self.levels.is_empty() || self.levels.len() > MAX_LEVELS {
                return Err(TokenizeError::Config(format!(
                    "levels: need 1 to {MAX_LEVELS} codebook sizes, got {}",
                    self.levels.len()
                )));
            }
            if let Some(k) = self.levels.iter().find(|k| **k == 0 || **k > MAX_CODEBOOK) {
                return Err(TokenizeError::Config(format!(
                    "levels: codebook size {k} is outside 1..={MAX_CODEBOOK}"
                )));
            }
        }
        if self.max_words == 0 {
            return Err(TokenizeError::Config("max_words must be at least 1".into()));
        }
        Ok(())
    }
}

/// Which of the two token types a stream position holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenType {
    Condition = 0,
    Item = 1,
}

/// One position of a user's token stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct StreamToken {
    pub token_type: TokenType,
    /// Condition id or item id.
    pub id: u32,
    /// Dataset row of the behaviour.
    pub row: u32,
}

/// A tokenized dataset.
#[derive(Clone, Debug, PartialEq)]
pub struct Tokenized {
    pub config: TokenizerConfig,
    /// One shared sub-token id space; names and kind of every sub-token id.
    pub vocab: SubVocab,
    /// Indexed by dataset item id -> sub-token ids (>= 1 each).
    pub item_sub: SubTokens,
    /// Indexed by condition id -> sub-token ids.
    pub cond_sub: SubTokens,
    pub n_conditions: usize,
    /// Per Dataset row: its condition id ([`NONE`] for impression rows).
    pub cond_of_row: Vec<u32>,
    pub condition_source: ConditionSource,
    pub stats: TokenStats,
    /// Parts and kind of each condition id.
    pub conditions: Vec<Condition>,
    /// Condition id of (query q, search, click) per query id.
    pub query_cond: Vec<u32>,
    /// Codes and codebooks under the `semantic` strategy.
    pub semantic: Option<SemanticCodes>,
}

/// Tokenizes a dataset (no cache; see [`tokenize_cached`]).
pub fn tokenize(data: &Dataset, cfg: &TokenizerConfig) -> Result<Tokenized, TokenizeError> {
    cfg.validate()?;
    let n_items = data.n_items();
    let mut vb = vocab::VocabBuilder::new();
    let conds = condition::build_conditions(data);

    let (mut id_stats, mut sem_stats, mut attr_stats, mut semantic) = (None, None, None, None);
    let (item_sub, id_only) = match cfg.strategy {
        ItemStrategy::Id => {
            let (sub, s) = items::id_items(data, cfg.min_count, &mut vb);
            id_stats = Some(s);
            (sub, n_items)
        }
        ItemStrategy::Attributes => {
            let (sub, s, id_only) =
                items::attribute_items(data, cfg.min_word_count, cfg.max_words, &mut vb);
            attr_stats = Some(s);
            (sub, id_only)
        }
        ItemStrategy::Semantic => {
            let out = semantic::semantic_items(data, cfg, &mut vb)?;
            sem_stats = Some(out.stats);
            semantic = Some(out.codes);
            (out.sub, out.id_only)
        }
    };
    let cond_sub = condition::condition_sub_tokens(data, &conds.list, cfg.max_words, &mut vb);
    let vocab = vb.finish();

    let kinds = [
        ConditionSource::Query,
        ConditionSource::Scenario,
        ConditionSource::Action,
    ];
    let conditions_by_kind = kinds
        .iter()
        .map(|k| {
            (
                k.name().to_string(),
                conds.list.iter().filter(|c| c.kind == *k).count(),
            )
        })
        .collect();
    let mut rows_by_kind = [0u64; 3];
    for c in conds.of_row.iter().filter(|c| **c != NONE) {
        rows_by_kind[conds.list[*c as usize].kind.to_u8() as usize] += 1;
    }
    let items_not_in_table = (0..n_items)
        .filter(|i| !content::described(&data.item_table, *i))
        .count();
    let mean = |s: &SubTokens| {
        if s.is_empty() {
            0.0
        } else {
            s.ids.len() as f64 / s.len() as f64
        }
    };
    let stats = TokenStats {
        strategy: cfg.strategy,
        n_items,
        n_conditions: conds.list.len(),
        vocab_size: vocab.len(),
        vocab_by_kind: stats::kind_sizes(vocab.ranges()),
        condition_source: conds.source,
        conditions_by_kind,
        rows_by_condition_kind: kinds
            .iter()
            .zip(rows_by_kind)
            .map(|(k, n)| (k.name().to_string(), n))
            .collect(),
        items_not_in_table,
        items_id_only: id_only,
        mean_sub_tokens_per_item: mean(&item_sub),
        max_sub_tokens_per_item: item_sub.max_len(),
        mean_sub_tokens_per_condition: mean(&cond_sub),
        id: id_stats,
        semantic: sem_stats,
        attributes: attr_stats,
        notes: Vec::new(),
    };
    Ok(Tokenized {
        config: cfg.clone(),
        vocab,
        item_sub,
        cond_sub,
        n_conditions: conds.list.len(),
        cond_of_row: conds.of_row,
        condition_source: conds.source,
        stats,
        conditions: conds.list,
        query_cond: conds.query_cond,
        semantic,
    })
}

impl Tokenized {
    /// Condition id for an arbitrary query id: (query, search, click), for
    /// post-train group queries. None when `query` is not a query of the log.
    pub fn query_condition(&self, query: u32) -> Option<u32> {
        self.query_cond.get(query as usize).copied()
    }

    /// Condition ids and item ids of user `u`'s LUM behaviours (impressions left out), in time order.
    pub fn user_sequence(&self, data: &Dataset, u: u32) -> (Vec<u32>, Vec<u32>) {
        let (mut conds, mut items) = (Vec::new(), Vec::new());
        for r in data.user_range(u) {
            let c = self.cond_of_row.get(r).copied().unwrap_or(NONE);
            if c != NONE {
                conds.push(c);
                items.push(data.item[r]);
            }
        }
        (conds, items)
    }

    /// User `u`'s stream interleaved as `c1 i1 c2 i2 … cT iT`.
    pub fn user_stream(&self, data: &Dataset, u: u32) -> Vec<StreamToken> {
        let mut out = Vec::new();
        for r in data.user_range(u) {
            let c = self.cond_of_row.get(r).copied().unwrap_or(NONE);
            if c != NONE {
                out.push(StreamToken {
                    token_type: TokenType::Condition,
                    id: c,
                    row: r as u32,
                });
                out.push(StreamToken {
                    token_type: TokenType::Item,
                    id: data.item[r],
                    row: r as u32,
                });
            }
        }
        out
    }

    /// Human-readable condition, e.g. `query "red shoes" · search · click`.
    pub fn condition_name(&self, data: &Dataset, c: u32) -> String {
        self.conditions
            .get(c as usize)
            .map(|k| k.describe(data))
            .unwrap_or_default()
    }

    /// Level-1 semantic code per item ([`NONE`] for id-only items); empty unless `semantic`.
    pub fn level1_codes(&self) -> Vec<u32> {
        self.semantic
            .as_ref()
            .map(|s| s.level_codes(0))
            .unwrap_or_default()
    }

    /// Category purity of level-1 codes: (purity, chance purity with shuffled
    /// labels). `labels` per item id ([`NONE`] = unknown); None unless `semantic`.
    pub fn level1_purity(&self, labels: &[u32]) -> Option<(f64, f64)> {
        let codes = self.level1_codes();
        (!codes.is_empty()).then(|| purity_vs_chance(&codes, labels, self.config.seed))
    }

    /// Whether every table is consistent with itself and with `data` (cache validation).
    pub fn is_consistent_with(&self, data: &Dataset) -> bool {
        let v = self.vocab.len();
        self.vocab.is_consistent()
            && self.item_sub.len() == data.n_items()
            && self.item_sub.is_valid(v)
            && self.cond_sub.len() == self.n_conditions
            && self.cond_sub.is_valid(v)
            && self.conditions.len() == self.n_conditions
            && self.cond_of_row.len() == data.n_behaviors()
            && self
                .cond_of_row
                .iter()
                .all(|c| *c == NONE || (*c as usize) < self.n_conditions)
            && self.query_cond.len() == data.queries.len()
            && self
                .query_cond
                .iter()
                .all(|c| (*c as usize) < self.n_conditions)
    }
}

#[cfg(test)]
mod tests;
