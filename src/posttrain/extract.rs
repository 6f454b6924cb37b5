//! Group-query extraction of the interest vectors o(u, q).
//!
//! Keys that share a history (same user, same cut point) are one *group*: their query
//! conditions go after that history in one group query, each seeing the history and
//! itself only. Groups are then sorted by history length and packed several to a forward
//! pass ([`Lum::group_query_batch`]) under a token budget, so padding stays small and the
//! matmuls are large enough to keep both cores busy. The per-query path (one forward per
//! key) is kept as the reference the speed-up is measured against.

use super::keys::SessionKey;
use crate::job::{CancelToken, JobEvent};
use crate::model::{Lum, QueryGroup};
use crate::tokenize::Tokenized;
use crate::train::split::UserSeq;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Instant;

/// Batching of the grouped extraction.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExtractOptions {
    /// Most tokens (rows x padded length) in one forward pass.
    pub max_tokens_per_batch: usize,
    /// Most histories in one forward pass.
    pub max_groups_per_batch: usize,
}

impl Default for ExtractOptions {
    fn default() -> Self {
        // Measured on the shared 2-core box, default LUM (d 64, 2 layers, 100 behaviours),
        // 3000 sessions of the 2000-user world: 2k tokens 17.7 s, 4k 9-13 s, 8k 7-9.5 s,
        // 16k 8-8.5 s. Past ~8k a pass is no faster per token and only costs memory.
        Self { max_tokens_per_batch: 8192, max_groups_per_batch: 128 }
    }
}

/// Keys that share one history.
struct Group {
    user: u32,
    history_len: usize,
    /// Distinct query conditions, each with the keys it answers.
    conds: Vec<(u32, Vec<usize>)>,
}

/// What the grouped extraction did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExtractStats {
    pub keys: usize,
    /// Distinct histories (user, cut point).
    pub groups: usize,
    /// Distinct (history, query) pairs actually computed.
    pub queries: usize,
    /// Forward passes run.
    pub forwards: usize,
    pub max_queries_per_group: usize,
    /// Mean behaviours read per history (after the model's window).
    pub mean_history_read: f64,
    pub secs: f64,
}

/// Interest vectors, one row per key, L2-normalised (the LUM compares with cosine).
#[derive(Clone, Debug)]
pub struct Extraction {
    /// (n_keys, d) row-major.
    pub vectors: Vec<f32>,
    pub d: usize,
    pub stats: ExtractStats,
}

fn group_keys(keys: &[SessionKey], tok: &Tokenized) -> anyhow::Result<Vec<Group>> {
    let mut by_history: BTreeMap<(u32, u32), BTreeMap<u32, Vec<usize>>> = BTreeMap::new();
    for (i, k) in keys.iter().enumerate() {
        let c = tok.query_condition(k.query).ok_or_else(|| anyhow::anyhow!("query id {} has no condition token", k.query))?;
        by_history.entry((k.user, k.history_len)).or_default().entry(c).or_default().push(i);
    }
    Ok(by_history
        .into_iter()
        .map(|((user, history_len), conds)| Group { user, history_len: history_len as usize, conds: conds.into_iter().collect() })
        .collect())
}

fn history(seqs: &[UserSeq], user: u32, len: usize) -> anyhow::Result<(&[u32], &[u32])> {
    let s = seqs.get(user as usize).filter(|s| s.user == user).ok_or_else(|| anyhow::anyhow!("no sequence for user {user}"))?;
    anyhow::ensure!(len <= s.items.len(), "user {user}: history of {len} behaviours but the sequence has {}", s.items.len());
    Ok((&s.conds[..len], &s.items[..len]))
}

/// Grouped extraction of every key (see the module doc). `seqs[u]` is user u's LUM
/// sequence (`train::split::user_sequences`). Reports `Progress` per forward pass and
/// obeys `cancel` between passes.
pub fn extract_grouped(
    lum: &Lum,
    tok: &Tokenized,
    seqs: &[UserSeq],
    keys: &[SessionKey],
    opts: &ExtractOptions,
    sink: &mut dyn FnMut(JobEvent),
    cancel: &CancelToken,
) -> anyhow::Result<Extraction> {
    let t0 = Instant::now();
    let d = lum.config().d_model;
    let window = lum.config().max_behaviors - 1;
    let mut groups = group_keys(keys, tok)?;
    // Similar lengths share a pass, so little of each pass is padding.
    groups.sort_by_key(|g| (g.history_len.min(window), g.user));
    let mut batches: Vec<std::ops::Range<usize>> = Vec::new();
    let mut start = 0;
    let mut q_max = 0;
    for (i, g) in groups.iter().enumerate() {
        let q = q_max.max(g.conds.len());
        let len = 2 * g.history_len.min(window) + q;
        let rows = i - start + 1;
        if i > start && (rows * len > opts.max_tokens_per_batch || rows > opts.max_groups_per_batch.max(1)) {
            batches.push(start..i);
            start = i;
            q_max = g.conds.len();
        } else {
            q_max = q;
        }
    }
    if start < groups.len() {
        batches.push(start..groups.len());
    }
    let total = batches.len() as u64;
    let mut vectors = vec![0f32; keys.len() * d];
    let mut queries = 0;
    for (b, range) in batches.iter().enumerate() {
        cancel.check().map_err(|_| anyhow::anyhow!(crate::job::STOPPED_MESSAGE))?;
        let chunk = &groups[range.clone()];
        let conds: Vec<Vec<u32>> = chunk.iter().map(|g| g.conds.iter().map(|(c, _)| *c).collect()).collect();
        let mut qg = Vec::with_capacity(chunk.len());
        for (g, c) in chunk.iter().zip(&conds) {
            let (hc, hi) = history(seqs, g.user, g.history_len)?;
            qg.push(QueryGroup { history_cond: hc, history_item: hi, query_conds: c });
        }
        let out = crate::model::kernels::l2_normalize(&lum.group_query_batch(&qg)?)?.to_vec2::<f32>()?;
        let mut row = 0;
        for g in chunk {
            for (_, key_ids) in &g.conds {
                for &k in key_ids {
                    vectors[k * d..(k + 1) * d].copy_from_slice(&out[row]);
                }
                row += 1;
            }
        }
        queries += row;
        sink(JobEvent::Progress { done: b as u64 + 1, total, what: "group-query extraction".into() });
    }
    let mean_history_read = if groups.is_empty() { 0.0 } else { groups.iter().map(|g| g.history_len.min(window) as f64).sum::<f64>() / groups.len() as f64 };
    let stats = ExtractStats {
        keys: keys.len(),
        groups: groups.len(),
        queries,
        forwards: batches.len(),
        max_queries_per_group: groups.iter().map(|g| g.conds.len()).max().unwrap_or(0),
        mean_history_read,
        secs: t0.elapsed().as_secs_f64(),
    };
    Ok(Extraction { vectors, d, stats })
}

/// The reference path: one forward pass ([`Lum::group_query`] with a single query) per
/// key. -> (n_keys, d) row-major, L2-normalised.
pub fn extract_per_query(lum: &Lum, tok: &Tokenized, seqs: &[UserSeq], keys: &[SessionKey]) -> anyhow::Result<Vec<f32>> {
    let d = lum.config().d_model;
    let mut vectors = Vec::with_capacity(keys.len() * d);
    for k in keys {
        let c = tok.query_condition(k.query).ok_or_else(|| anyhow::anyhow!("query id {} has no condition token", k.query))?;
        let (hc, hi) = history(seqs, k.user, k.history_len as usize)?;
        let o = crate::model::kernels::l2_normalize(&lum.group_query(hc, hi, &[c])?)?;
        vectors.extend(o.flatten_all()?.to_vec1::<f32>()?);
    }
    Ok(vectors)
}

/// Grouped vs per-query extraction timed on the same keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpeedUp {
    /// Keys timed (an evenly spaced subset of all keys).
    pub keys: usize,
    /// Grouped and batched: several histories per forward pass (what extraction runs).
    pub grouped_secs: f64,
    /// Grouped, one history per forward pass: separates the gain of batching users from
    /// the gain of sharing a history and computing only query rows in the last layer.
    pub one_history_per_pass_secs: f64,
    /// One forward pass per key ([`Lum::group_query`] with one query).
    pub per_query_secs: f64,
    /// per_query_secs / grouped_secs.
    pub speedup: f64,
    /// Largest |difference| between the two paths' vectors (they compute the same thing).
    pub max_abs_diff: f32,
}

/// Times [`extract_grouped`] (batched, then one history per pass) against
/// [`extract_per_query`] on at most `n` evenly spaced keys, after one untimed warm-up pass
/// of each, and checks that all three agree.
pub fn measure_speedup(lum: &Lum, tok: &Tokenized, seqs: &[UserSeq], keys: &[SessionKey], n: usize, opts: &ExtractOptions) -> anyhow::Result<SpeedUp> {
    let step = keys.len().div_ceil(n.max(1)).max(1);
    let subset: Vec<SessionKey> = keys.iter().step_by(step).cloned().collect();
    let warm = &subset[..subset.len().min(8)];
    let never = CancelToken::new();
    extract_grouped(lum, tok, seqs, warm, opts, &mut |_| {}, &never)?;
    extract_per_query(lum, tok, seqs, warm)?;
    let t = Instant::now();
    let per_query = extract_per_query(lum, tok, seqs, &subset)?;
    let per_query_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let grouped = extract_grouped(lum, tok, seqs, &subset, opts, &mut |_| {}, &never)?;
    let grouped_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let single = ExtractOptions { max_groups_per_batch: 1, ..opts.clone() };
    let one = extract_grouped(lum, tok, seqs, &subset, &single, &mut |_| {}, &never)?;
    let one_history_per_pass_secs = t.elapsed().as_secs_f64();
    let max_abs_diff = grouped.vectors.iter().chain(&one.vectors).zip(per_query.iter().chain(&per_query)).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    Ok(SpeedUp {
        keys: subset.len(),
        grouped_secs,
        one_history_per_pass_secs,
        per_query_secs,
        speedup: per_query_secs / grouped_secs.max(1e-9),
        max_abs_diff,
    })
}

/// The LUM item table, L2-normalised: (n_items, d) row-major.
pub fn normalised_item_table(lum: &Lum) -> candle_core::Result<Vec<f32>> {
    crate::model::kernels::l2_normalize(&lum.item_table()?)?.flatten_all()?.to_vec1::<f32>()
}

/// Wraps row-major vectors as a (rows, d) tensor on the CPU.
pub(crate) fn to_tensor(v: &[f32], d: usize) -> candle_core::Result<Tensor> {
    Tensor::from_slice(v, (v.len() / d.max(1), d), &candle_core::Device::Cpu)
}
