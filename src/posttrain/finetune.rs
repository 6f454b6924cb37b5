//! Condition-aware fine-tuning: LumLab's own extension, not part of the LUM paper.
//!
//! Before extraction, the pre-trained LUM continues training for a few steps on the search
//! scenario only: windows of the users' training split that end at a behaviour whose
//! condition carries a query, with the InfoNCE loss read only at query-conditioned
//! positions. Everything else (loss, negatives, optimiser, clipping, schedule) is the
//! pre-training loop's own pieces ([`crate::train::pretrain::optimisation_step`]).
//! Honesty check in the report: the search InfoNCE on each user's held-out validation
//! behaviour, before and after, next to the same loss over all conditions (does the
//! extension help search without hurting the rest?).

use super::table::{FINETUNE_FILE, FINETUNED_CHECKPOINT_FILE};
use crate::job::{CancelToken, JobEvent};
use crate::model::{Lum, LumBatch, batch_from_sequences};
use crate::tokenize::{ConditionSource, Tokenized};
use crate::train::optim::AdamW;
use crate::train::pretrain::{Trained, named_vars, optimisation_step, sample_negatives};
use crate::train::split::{EvalSplit, UserSeq};
use crate::train::{ModelKind, PretrainConfig};
use crate::util::Rng;
use anyhow::Context;
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Instant;

/// What this stage is, in the config, the output and the report.
pub const EXTENSION_LABEL: &str = "condition-aware fine-tuning on the search scenario (LumLab's own extension, not in the LUM paper)";
/// Users whose validation behaviour scores the before/after losses, at most.
const VALID_BATCH: usize = 64;
/// Steps averaged for the first / last loss in the report.
const LOSS_WINDOW: usize = 10;

/// Fine-tuning settings (`lumlab posttrain --finetune --set key=value`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FinetuneConfig {
    pub steps: u64,
    /// Peak learning rate (linear warm-up, cosine decay to lr * 0.1, as pre-training).
    pub lr: f64,
    pub warmup_steps: u64,
    /// Windows per step.
    pub batch_size: usize,
    /// Negatives per step (0 = the pre-training setting).
    pub negatives: usize,
    pub grad_clip: f64,
    pub weight_decay: f64,
    /// Users scored before and after (0 = all with a search validation behaviour).
    pub valid_users: usize,
    pub seed: u64,
}

impl Default for FinetuneConfig {
    fn default() -> Self {
        Self { steps: 100, lr: 5e-4, warmup_steps: 10, batch_size: 32, negatives: 0, grad_clip: 1.0, weight_decay: 0.01, valid_users: 500, seed: 7 }
    }
}

impl FinetuneConfig {
    /// Checks settings, naming the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.steps == 0 || self.batch_size == 0 {
            return Err("finetune steps and batch_size must be positive".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return Err(format!("finetune lr must be positive (got {})", self.lr));
        }
        Ok(())
    }
}

/// Search InfoNCE before and after, on held-out validation behaviours.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutLoss {
    /// Validation behaviours scored.
    pub targets: usize,
    /// None when there was no such behaviour.
    pub before: Option<f64>,
    pub after: Option<f64>,
}

/// What fine-tuning did (part of posttrain.json and finetune.json).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneReport {
    pub extension: String,
    pub config: FinetuneConfig,
    /// Base checkpoint file and the xxh3 of its bytes.
    pub base_checkpoint: String,
    pub base_checkpoint_hash: String,
    pub data_fingerprint: String,
    /// Query-conditioned training behaviours the windows end at, and their users.
    pub search_targets: usize,
    pub users: usize,
    pub steps: u64,
    /// Mean loss of the first / last few steps (training windows, dropout on).
    pub first_loss: f64,
    pub last_loss: f64,
    /// Validation behaviours whose condition has a query.
    pub valid_search: HeldOutLoss,
    /// Validation behaviours of any condition.
    pub valid_all: HeldOutLoss,
    pub secs: f64,
}

fn is_search(tok: &Tokenized, cond: u32) -> bool {
    tok.conditions.get(cond as usize).is_some_and(|c| c.kind == ConditionSource::Query)
}

/// Batch of `windows` with the loss read only where `keep(window, index)` holds.
fn masked_batch(windows: &[(&[u32], &[u32])], max_behaviors: usize, packing: bool, device: &Device, keep: impl Fn(usize, usize) -> bool) -> candle_core::Result<LumBatch> {
    let mut batch = batch_from_sequences(windows, max_behaviors, packing, device)?;
    let (b, t) = batch.dims()?;
    let mut valid = vec![0f32; b * t];
    for (w, s) in batch.spans.iter().enumerate() {
        for j in 0..s.len {
            if keep(w, s.dropped + j) {
                valid[s.row * t + s.start + j] = 1.0;
            }
        }
    }
    batch.valid = Tensor::from_vec(valid, (b, t), device)?;
    Ok(batch)
}

/// Mean InfoNCE (eval mode, fixed negatives) at the validation behaviour of `users`.
fn held_out_loss(lum: &Lum, seqs: &[UserSeq], users: &[usize], max_behaviors: usize, packing: bool, negatives: &Tensor) -> candle_core::Result<Option<f64>> {
    let (mut sum, mut n) = (0f64, 0usize);
    for chunk in users.chunks(VALID_BATCH) {
        let windows: Vec<(&[u32], &[u32])> = chunk
            .iter()
            .filter_map(|&u| {
                let s = &seqs[u];
                let k = s.target_index(EvalSplit::Valid)?;
                let start = (k + 1).saturating_sub(max_behaviors);
                Some((&s.conds[start..=k], &s.items[start..=k]))
            })
            .collect();
        let lens: Vec<usize> = windows.iter().map(|w| w.0.len()).collect();
        let batch = masked_batch(&windows, max_behaviors, packing, lum.device(), |w, j| j + 1 == lens[w])?;
        sum += lum.loss(&batch, negatives, false)?.to_scalar::<f32>()? as f64 * windows.len() as f64;
        n += windows.len();
    }
    Ok((n > 0).then(|| sum / n as f64))
}

/// Fine-tunes the LUM of `t` in place (its `varmap`) and saves
/// `checkpoint_finetuned.safetensors` + `finetune.json` in the run. `base` names the
/// checkpoint `t` was loaded from and the hash of its bytes.
pub fn finetune(t: &Trained, cfg: &FinetuneConfig, base: (&str, &str), sink: &mut dyn FnMut(JobEvent), cancel: &CancelToken) -> anyhow::Result<FinetuneReport> {
    cfg.validate().map_err(anyhow::Error::msg)?;
    let crate::train::pretrain::Net::Lum(lum) = &t.net else { anyhow::bail!("fine-tuning needs a LUM") };
    anyhow::ensure!(t.config.pretrain.model == ModelKind::Lum, "fine-tuning needs a LUM run");
    let pre = &t.config.pretrain;
    let (window, packing) = (pre.max_behaviors, pre.packing);
    let targets: Vec<(usize, usize)> = t
        .seqs
        .iter()
        .enumerate()
        .flat_map(|(u, s)| (0..s.train_len()).filter(|&k| is_search(&t.tok, s.conds[k])).map(move |k| (u, k)))
        .collect();
    anyhow::ensure!(
        !targets.is_empty(),
        "no training behaviour has a query condition (condition source: {}), so there is no search scenario to fine-tune on",
        t.tok.condition_source.name()
    );
    let users = {
        let mut u: Vec<usize> = targets.iter().map(|x| x.0).collect();
        u.dedup();
        u.len()
    };
    let mut rng = Rng::fork(cfg.seed, 0xf1e7);
    let n_neg = if cfg.negatives == 0 { pre.negatives } else { cfg.negatives };
    let fixed_negs = sample_negatives(&mut Rng::fork(cfg.seed, 0x7a11d), t.data.n_items(), n_neg, &t.device)?;
    let mut valid_search: Vec<usize> = (0..t.seqs.len())
        .filter(|&u| t.seqs[u].target_index(EvalSplit::Valid).is_some_and(|k| is_search(&t.tok, t.seqs[u].conds[k])))
        .collect();
    let mut valid_all: Vec<usize> = (0..t.seqs.len()).filter(|&u| t.seqs[u].target_index(EvalSplit::Valid).is_some()).collect();
    for v in [&mut valid_search, &mut valid_all] {
        if cfg.valid_users > 0 && v.len() > cfg.valid_users {
            Rng::fork(cfg.seed, 0x5e1).shuffle(v);
            v.truncate(cfg.valid_users);
            v.sort_unstable();
        }
    }
    let before = (
        held_out_loss(lum, &t.seqs, &valid_search, window, packing, &fixed_negs)?,
        held_out_loss(lum, &t.seqs, &valid_all, window, packing, &fixed_negs)?,
    );
    // The pre-training schedule, with this stage's lr, warm-up and length.
    let schedule = PretrainConfig { lr: cfg.lr, warmup_steps: cfg.warmup_steps, steps: cfg.steps, ..pre.clone() };
    let mut opt = AdamW::new(named_vars(&t.varmap)?, cfg.weight_decay)?;
    sink(JobEvent::Started { total_steps: cfg.steps, label: "post-train: condition-aware fine-tuning (LumLab extension)".into() });
    let t0 = Instant::now();
    let mut losses = Vec::with_capacity(cfg.steps as usize);
    for step in 1..=cfg.steps {
        cancel.check().map_err(|_| anyhow::anyhow!(crate::job::STOPPED_MESSAGE))?;
        let ts = Instant::now();
        let negatives = sample_negatives(&mut rng, t.data.n_items(), n_neg, &t.device)?;
        let picks: Vec<(usize, usize)> = (0..cfg.batch_size).map(|_| targets[rng.index(targets.len())]).collect();
        let windows: Vec<(&[u32], &[u32])> = picks
            .iter()
            .map(|&(u, k)| {
                let s = &t.seqs[u];
                let start = (k + 1).saturating_sub(window);
                (&s.conds[start..=k], &s.items[start..=k])
            })
            .collect();
        let batch = masked_batch(&windows, window, packing, &t.device, |w, j| is_search(&t.tok, windows[w].0[j]))?;
        let tokens = 2 * batch.n_valid();
        lum.reseed_dropout(cfg.seed ^ step.wrapping_mul(0x9E37_79B9));
        let loss = lum.loss(&batch, &negatives, true)?;
        let loss_v = loss.to_scalar::<f32>()? as f64;
        anyhow::ensure!(loss_v.is_finite() && loss_v <= pre.max_loss, "fine-tuning loss is {loss_v} at step {step}; stopped (try a lower lr)");
        let lr = schedule.lr_at(step);
        let norm = optimisation_step(&mut opt, &loss, lr, cfg.grad_clip)?;
        losses.push(loss_v);
        let secs = ts.elapsed().as_secs_f64();
        let _ = t.run.append_metric(&json!({"kind": "finetune_step", "step": step, "loss": loss_v, "lr": lr, "grad_norm": norm, "step_secs": secs}));
        sink(JobEvent::Step { step, loss: loss_v as f32, tokens_per_sec: (tokens as f64 / secs.max(1e-9)) as f32, step_secs: secs as f32, lr: lr as f32 });
    }
    let after = (
        held_out_loss(lum, &t.seqs, &valid_search, window, packing, &fixed_negs)?,
        held_out_loss(lum, &t.seqs, &valid_all, window, packing, &fixed_negs)?,
    );
    let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
    let w = LOSS_WINDOW.min(losses.len());
    let report = FinetuneReport {
        extension: EXTENSION_LABEL.into(),
        config: cfg.clone(),
        base_checkpoint: base.0.into(),
        base_checkpoint_hash: base.1.into(),
        data_fingerprint: t.report.fingerprint.clone(),
        search_targets: targets.len(),
        users,
        steps: cfg.steps,
        first_loss: mean(&losses[..w]),
        last_loss: mean(&losses[losses.len() - w..]),
        valid_search: HeldOutLoss { targets: valid_search.len(), before: before.0, after: after.0 },
        valid_all: HeldOutLoss { targets: valid_all.len(), before: before.1, after: after.1 },
        secs: t0.elapsed().as_secs_f64(),
    };
    let path = t.run.path().join(FINETUNED_CHECKPOINT_FILE);
    let tmp = crate::util::fs::temp_path(&path);
    t.varmap.save(&tmp).context("saving the fine-tuned checkpoint")?;
    std::fs::rename(&tmp, &path).context("saving the fine-tuned checkpoint")?;
    crate::run::save_json_atomic(&t.run.path().join(FINETUNE_FILE), &report)?;
    Ok(report)
}
