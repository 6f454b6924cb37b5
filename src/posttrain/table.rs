//! The interest table a post-training run leaves in the LUM run folder, and its loader.
//!
//! ```text
//! RUN/interest.safetensors   interest (n_keys, d) f32 · item_emb (n_items, d) f32, both L2-normalised
//! RUN/interest_index.csv     row,user_id,query,timestamp,history_len,impressions (one line per key)
//! RUN/posttrain.json         the report: keys, times, speed-up, fine-tuning, cache key
//! ```
//! Rows of `item_emb` are the dataset's dense item ids (the log recorded in
//! `posttrain.json` → `data`). Every file is written atomically; the report goes last, so
//! its cache key never vouches for half-written tables.

use super::PosttrainError;
use super::keys::SessionKey;
use crate::data::Dataset;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Interest vectors and item embeddings.
pub const INTEREST_FILE: &str = "interest.safetensors";
/// One line per key.
pub const INDEX_FILE: &str = "interest_index.csv";
/// The post-training report.
pub const REPORT_FILE: &str = "posttrain.json";
/// Weights after condition-aware fine-tuning (LumLab's extension).
pub const FINETUNED_CHECKPOINT_FILE: &str = "checkpoint_finetuned.safetensors";
/// Settings and provenance of the fine-tuned checkpoint.
pub const FINETUNE_FILE: &str = "finetune.json";
/// Tensor names inside [`INTEREST_FILE`].
pub const INTEREST_TENSOR: &str = "interest";
pub const ITEM_TENSOR: &str = "item_emb";

/// One line of the index: the key of one interest vector, with names, not dense ids.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterestKey {
    /// Row of the vector in `interest`.
    pub row: usize,
    pub user_id: String,
    pub query: String,
    /// Absolute Unix seconds of the search session.
    pub timestamp: i64,
    /// LUM behaviours before the session (the model reads its most recent window).
    pub history_len: u32,
    /// Impressions in the session.
    pub impressions: u32,
}

/// Interest vectors o(u, q) of every search session, with the LUM item table.
#[derive(Clone, Debug)]
pub struct InterestTable {
    pub keys: Vec<InterestKey>,
    /// Vector width d.
    pub dim: usize,
    /// (keys.len(), dim) row-major, L2-normalised.
    pub interest: Vec<f32>,
    /// (n_items, dim) row-major, L2-normalised; row = dense item id of the run's data.
    pub item_emb: Vec<f32>,
    /// Fingerprint of the log the vectors were extracted from (from posttrain.json).
    pub data_fingerprint: Option<String>,
    /// Whether the fine-tuned checkpoint produced them (from posttrain.json).
    pub finetuned: bool,
    lookup: HashMap<(String, String, i64), usize>,
}

impl InterestTable {
    /// Builds a table (and its lookup) from parts.
    pub fn new(keys: Vec<InterestKey>, dim: usize, interest: Vec<f32>, item_emb: Vec<f32>) -> Result<Self, PosttrainError> {
        let bad = |reason: String| PosttrainError::BadInterest { path: PathBuf::new(), reason };
        if dim == 0 || interest.len() != keys.len() * dim || !item_emb.len().is_multiple_of(dim) {
            return Err(bad(format!("{} keys, width {dim}, {} interest values, {} item values", keys.len(), interest.len(), item_emb.len())));
        }
        let mut lookup = HashMap::with_capacity(keys.len());
        for (i, k) in keys.iter().enumerate() {
            if k.row != i {
                return Err(bad(format!("index line {} names row {}", i + 1, k.row)));
            }
            if lookup.insert((k.user_id.clone(), k.query.clone(), k.timestamp), i).is_some() {
                return Err(bad(format!("key ({}, {:?}, {}) appears twice", k.user_id, k.query, k.timestamp)));
            }
        }
        Ok(Self { keys, dim, interest, item_emb, data_fingerprint: None, finetuned: false, lookup })
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Number of item rows.
    pub fn n_items(&self) -> usize {
        self.item_emb.len() / self.dim
    }

    /// Row of the session (user id, query string, Unix seconds), if extracted.
    pub fn lookup(&self, user_id: &str, query: &str, timestamp: i64) -> Option<usize> {
        self.lookup.get(&(user_id.to_string(), query.to_string(), timestamp)).copied()
    }

    /// Row of the session given dense ids of `data` (user id, query id, Unix seconds).
    pub fn lookup_ids(&self, data: &Dataset, user: u32, query: u32, timestamp: i64) -> Option<usize> {
        if user as usize >= data.users.len() || query as usize >= data.queries.len() {
            return None;
        }
        self.lookup(data.users.name(user), data.queries.name(query), timestamp)
    }

    /// o(u, q) of row `row`: (dim,).
    pub fn vector(&self, row: usize) -> Option<&[f32]> {
        self.interest.get(row * self.dim..(row + 1) * self.dim)
    }

    /// o(u, q) of a session by names (see [`InterestTable::lookup`]).
    pub fn get(&self, user_id: &str, query: &str, timestamp: i64) -> Option<&[f32]> {
        self.lookup(user_id, query, timestamp).and_then(|r| self.vector(r))
    }

    /// LUM embedding of dense item id `item`: (dim,).
    pub fn item(&self, item: u32) -> Option<&[f32]> {
        self.item_emb.get(item as usize * self.dim..(item as usize + 1) * self.dim)
    }
}

/// Index lines for `keys` (names from `data`).
pub fn index_keys(data: &Dataset, keys: &[SessionKey]) -> Vec<InterestKey> {
    keys.iter()
        .enumerate()
        .map(|(row, k)| InterestKey {
            row,
            user_id: data.users.name(k.user).to_string(),
            query: data.queries.name(k.query).to_string(),
            timestamp: k.timestamp,
            history_len: k.history_len,
            impressions: k.impressions,
        })
        .collect()
}

/// Writes interest.safetensors and interest_index.csv into `run` atomically.
pub fn write_tables(run: &Path, table: &InterestTable) -> anyhow::Result<()> {
    let mut map = HashMap::new();
    map.insert(INTEREST_TENSOR.to_string(), super::extract::to_tensor(&table.interest, table.dim)?);
    map.insert(ITEM_TENSOR.to_string(), super::extract::to_tensor(&table.item_emb, table.dim)?);
    let path = run.join(INTEREST_FILE);
    let tmp = crate::util::fs::temp_path(&path);
    candle_core::safetensors::save(&map, &tmp)?;
    std::fs::rename(&tmp, &path)?;
    crate::util::atomic_write_with(&run.join(INDEX_FILE), |w| {
        let mut csv = csv::Writer::from_writer(w);
        for k in &table.keys {
            csv.serialize(k).map_err(std::io::Error::other)?;
        }
        csv.flush()
    })?;
    Ok(())
}

/// Loads the interest table a post-training run left in `run`.
pub fn load_interest(run: &Path) -> anyhow::Result<InterestTable> {
    let path = run.join(INTEREST_FILE);
    let bad = |reason: String| PosttrainError::BadInterest { path: path.clone(), reason };
    if !path.is_file() {
        return Err(bad(format!("not found; run `lumlab posttrain --run {}` first", run.display())).into());
    }
    let tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).map_err(|e| bad(e.to_string()))?;
    let read = |name: &str| -> Result<(Vec<f32>, usize), PosttrainError> {
        let t = tensors.get(name).ok_or_else(|| bad(format!("no tensor `{name}`")))?;
        let (_, d) = t.dims2().map_err(|e| bad(format!("`{name}`: {e}")))?;
        let v = t.flatten_all().and_then(|t| t.to_vec1::<f32>()).map_err(|e| bad(format!("`{name}`: {e}")))?;
        Ok((v, d))
    };
    let (interest, dim) = read(INTEREST_TENSOR)?;
    let (item_emb, item_dim) = read(ITEM_TENSOR)?;
    if item_dim != dim {
        return Err(bad(format!("interest width {dim} but item width {item_dim}")).into());
    }
    let index = run.join(INDEX_FILE);
    let mut rdr = csv::Reader::from_path(&index).map_err(|e| PosttrainError::BadInterest { path: index.clone(), reason: e.to_string() })?;
    let mut keys = Vec::new();
    for (i, rec) in rdr.deserialize::<InterestKey>().enumerate() {
        keys.push(rec.map_err(|e| PosttrainError::BadInterest { path: index.clone(), reason: format!("line {}: {e}", i + 2) })?);
    }
    let mut table = InterestTable::new(keys, dim, interest, item_emb).map_err(|e| match e {
        PosttrainError::BadInterest { reason, .. } => bad(reason),
        other => other,
    })?;
    if let Ok(report) = crate::run::load_json::<serde_json::Value>(&run.join(REPORT_FILE)) {
        table.data_fingerprint = report["data"]["fingerprint"].as_str().map(str::to_string);
        table.finetuned = report["finetuned"].as_bool().unwrap_or(false);
    }
    Ok(table)
}
