//! Retrieval evaluation (leave-one-out) of a trained sequence model: HR@K,
//! NDCG@K and MRR under the `full` (whole catalogue, seen items removed) or
//! `sampled100` protocol. The model scores the whole catalogue for each user.

use super::split::{EvalSplit, UserSeq};
use crate::eval::{Protocol, RetrievalAccumulator, RetrievalReport, rank_in_candidates, rank_of_target, sampled_candidates};
use crate::model::{Lum, SasRec, batch_from_sequences};
use crate::util::Rng;
use candle_core::Tensor;

/// Users scored per forward pass during evaluation.
const EVAL_BATCH: usize = 64;
/// Seed of the sampled100 candidate draws (fixed, so runs compare).
pub const SAMPLED_SEED: u64 = 100;

/// A model that can score the whole catalogue for a user's history.
pub enum Scorer<'a> {
    Lum(&'a Lum),
    Sasrec(&'a SasRec),
    /// Training-split item counts.
    Popularity(&'a [f32]),
}

impl Scorer<'_> {
    /// Scores of every item for each (user, target index): the model sees behaviours
    /// before the target, plus (LUM) the target's condition.  -> one Vec per query.
    pub fn score(&self, seqs: &[&UserSeq], targets: &[usize]) -> candle_core::Result<Vec<Vec<f32>>> {
        match self {
            Scorer::Popularity(counts) => Ok(seqs.iter().map(|_| counts.to_vec()).collect()),
            Scorer::Lum(lum) => {
                let max = lum.config().max_behaviors;
                let inputs: Vec<(Vec<u32>, Vec<u32>)> = seqs
                    .iter()
                    .zip(targets)
                    .map(|(s, &k)| {
                        let start = (k + 1).saturating_sub(max);
                        let conds = s.conds[start..=k].to_vec();
                        // The target item itself is never read: the output at its condition
                        // position only sees earlier tokens (causal mask).
                        let mut items = s.items[start..k].to_vec();
                        items.push(0);
                        (conds, items)
                    })
                    .collect();
                let batch = batch_from_sequences(&inputs, max, false, lum.device())?;
                let h = lum.encode_conditions(&batch)?; // (B, T, d)
                let rows: Vec<Tensor> = batch
                    .spans
                    .iter()
                    .map(|sp| h.get(sp.row)?.get(sp.start + sp.len - 1))
                    .collect::<candle_core::Result<_>>()?;
                let h = crate::model::kernels::l2_normalize(&Tensor::stack(&rows, 0)?)?;
                let items = crate::model::kernels::l2_normalize(&lum.item_table()?)?;
                h.matmul(&items.t()?)?.to_vec2::<f32>()
            }
            Scorer::Sasrec(m) => {
                let max = m.config().max_len;
                let hist: Vec<&[u32]> = seqs.iter().zip(targets).map(|(s, &k)| &s.items[k.saturating_sub(max)..k]).collect();
                let t = hist.iter().map(|h| h.len()).max().unwrap_or(1).max(1);
                let mut ids = vec![0u32; hist.len() * t];
                for (r, h) in hist.iter().enumerate() {
                    ids[r * t..r * t + h.len()].copy_from_slice(h);
                }
                let x = Tensor::from_vec(ids, (hist.len(), t), m.item_table()?.device())?;
                let (h, _) = m.encode(&x, false)?;
                let rows: Vec<Tensor> = hist.iter().enumerate().map(|(r, hh)| h.get(r)?.get(hh.len().max(1) - 1)).collect::<candle_core::Result<_>>()?;
                let h = Tensor::stack(&rows, 0)?;
                h.matmul(&m.item_table()?.t()?)?.to_vec2::<f32>()
            }
        }
    }
}

/// Evaluates `users` (indices into `seqs`) on `split` under `protocol`.
pub fn evaluate(
    scorer: &Scorer,
    seqs: &[UserSeq],
    users: &[usize],
    split: EvalSplit,
    protocol: Protocol,
    ks: &[usize],
    n_items: usize,
) -> candle_core::Result<RetrievalReport> {
    let mut acc = RetrievalAccumulator::new(protocol, ks);
    let eligible: Vec<usize> = users.iter().copied().filter(|&u| seqs[u].target_index(split).is_some()).collect();
    for chunk in eligible.chunks(EVAL_BATCH) {
        let ss: Vec<&UserSeq> = chunk.iter().map(|&u| &seqs[u]).collect();
        let targets: Vec<usize> = ss.iter().map(|s| s.target_index(split).unwrap_or(0)).collect();
        let scores = scorer.score(&ss, &targets)?;
        for ((s, &k), sc) in ss.iter().zip(&targets).zip(&scores) {
            let target = s.items[k];
            // Seen = items the model was shown for this query (the history before the target).
            let mut seen: Vec<u32> = s.items[..k].to_vec();
            seen.sort_unstable();
            seen.dedup();
            seen.retain(|&i| i != target);
            match protocol {
                Protocol::Full => acc.add(rank_of_target(sc, target as usize, &seen), n_items - seen.len()),
                Protocol::Sampled100 => {
                    let mut rng = Rng::fork(SAMPLED_SEED, s.user as u64 * 2 + (split == EvalSplit::Test) as u64);
                    let cands = sampled_candidates(n_items, &seen, target, crate::eval::retrieval::SAMPLED_NEGATIVES, &mut rng);
                    acc.add(rank_in_candidates(sc, target as usize, &cands), cands.len() + 1);
                }
            }
        }
    }
    Ok(acc.report())
}
