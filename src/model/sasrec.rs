//! SASRec-style baseline in the same engine: item ids only (no conditions), learned
//! positions, the shared causal Transformer, and a sampled-softmax loss (dot product against
//! the positive and uniform negatives shared by the batch). The output at position t
//! predicts item t + 1. It answers "how much do conditions and sub-tokens add?".

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::init::seeded_var_builder;
use super::layers::{Dropout, Transformer, TransformerShape};
use super::{ModelError, loss, mask};

/// SASRec hyper-parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SasRecConfig {
    /// Model width d.
    pub d_model: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Attention heads.
    pub n_heads: usize,
    /// FFN hidden width.
    pub d_ff: usize,
    /// Input items per sequence (the most recent are kept).
    pub max_len: usize,
    /// Dropout after embeddings, attention projection and FFN (training only).
    pub dropout: f32,
    /// Negatives sampled uniformly per batch.
    pub negatives: usize,
    /// Seed of initialisation and dropout.
    pub seed: u64,
    /// Standard deviation of the embeddings' N(0, s) init (see `LumConfig::embed_init_std`).
    pub embed_init_std: f64,
}

impl Default for SasRecConfig {
    fn default() -> Self {
        Self { d_model: 64, n_layers: 2, n_heads: 2, d_ff: 256, max_len: 50, dropout: 0.1, negatives: 512, seed: 0, embed_init_std: 1.0 }
    }
}

/// A SASRec batch: inputs i1..iT and next-item targets i2..i(T+1) per row.
#[derive(Clone, Debug)]
pub struct SasRecBatch {
    /// Input item ids: (B, T) u32, right-padded.
    pub items: Tensor,
    /// Target (next) item ids: (B, T) u32.
    pub targets: Tensor,
    /// 1 where a target exists: (B, T) f32.
    pub valid: Tensor,
}

impl SasRecBatch {
    /// Builds a batch from item sequences: the last `max_len + 1` items of each give
    /// `max_len` (input, next item) pairs. Sequences shorter than 2 yield an all-padding row.
    pub fn from_sequences<S: AsRef<[u32]>>(seqs: &[S], max_len: usize, device: &Device) -> Result<Self> {
        let kept: Vec<&[u32]> = seqs
            .iter()
            .map(|s| {
                let s = s.as_ref();
                &s[s.len().saturating_sub(max_len + 1)..]
            })
            .collect();
        let b = kept.len().max(1);
        let t = kept.iter().map(|s| s.len().saturating_sub(1)).max().unwrap_or(0).max(1);
        let mut items = vec![0u32; b * t];
        let mut targets = vec![0u32; b * t];
        let mut valid = vec![0f32; b * t];
        for (r, s) in kept.iter().enumerate() {
            for (j, w) in s.windows(2).enumerate() {
                items[r * t + j] = w[0];
                targets[r * t + j] = w[1];
                valid[r * t + j] = 1.0;
            }
        }
        Ok(Self {
            items: Tensor::from_vec(items, (b, t), device)?,
            targets: Tensor::from_vec(targets, (b, t), device)?,
            valid: Tensor::from_vec(valid, (b, t), device)?,
        })
    }
}

/// The SASRec-style model.
#[derive(Debug)]
pub struct SasRec {
    cfg: SasRecConfig,
    item_emb: Tensor, // (n_items, d)
    pos_emb: Tensor,  // (max_len, d)
    transformer: Transformer,
    dropout: Dropout,
    n_items: usize,
    device: Device,
}

impl SasRec {
    /// Parameters `item_emb`, `pos_emb`, `blocks.{i}.*`, `ln_f.*` under `vb`.
    pub fn new(vb: VarBuilder, cfg: &SasRecConfig, n_items: usize, device: &Device) -> Result<Self> {
        if n_items == 0 || cfg.max_len == 0 || cfg.negatives == 0 || !(0.0..1.0).contains(&cfg.dropout) {
            return Err(candle_core::Error::wrap(ModelError::Config {
                field: "sasrec".into(),
                reason: format!("needs items ({n_items}), max_len, negatives > 0 and dropout in [0, 1)"),
            }));
        }
        let vb = vb.set_device(device.clone());
        let init = Init::Randn { mean: 0.0, stdev: cfg.embed_init_std };
        let shape = TransformerShape { d_model: cfg.d_model, n_heads: cfg.n_heads, d_ff: cfg.d_ff, n_layers: cfg.n_layers };
        Ok(Self {
            cfg: cfg.clone(),
            item_emb: vb.get_with_hints((n_items, cfg.d_model), "item_emb", init)?,
            pos_emb: vb.get_with_hints((cfg.max_len, cfg.d_model), "pos_emb", init)?,
            transformer: Transformer::new(vb.clone(), &shape)?,
            dropout: Dropout::new(cfg.dropout, cfg.seed ^ 0xd20b),
            n_items,
            device: device.clone(),
        })
    }

    /// Fresh parameters in `varmap`, seeded by `cfg.seed`.
    pub fn with_varmap(varmap: &VarMap, cfg: &SasRecConfig, n_items: usize, device: &Device) -> Result<Self> {
        Self::new(seeded_var_builder(varmap, cfg.seed, DType::F32, device), cfg, n_items, device)
    }

    /// The configuration.
    /// Reseeds the dropout masks (see [`Dropout::reseed`]).
    pub fn reseed_dropout(&self, seed: u64) {
        self.dropout.reseed(seed);
    }

    pub fn config(&self) -> &SasRecConfig {
        &self.cfg
    }

    /// Catalogue size.
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Item embeddings, the output layer too (scores are dot products): (n_items, d).
    pub fn item_table(&self) -> Result<Tensor> {
        Ok(self.item_emb.clone())
    }

    fn hidden(&self, items: &Tensor, drop: Option<&Dropout>, capture: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t) = items.dims2()?;
        let d = self.cfg.d_model;
        if t > self.cfg.max_len {
            return Err(candle_core::Error::wrap(ModelError::TooLong { behaviors: t, max: self.cfg.max_len }));
        }
        let x = self.item_emb.index_select(&items.flatten_all()?, 0)?.reshape((b, t, d))?;
        let x = x.broadcast_add(&self.pos_emb.narrow(0, 0, t)?)?;
        let x = match drop {
            Some(dr) => dr.forward(&x)?,
            None => x,
        };
        let (h, attn) = self.transformer.forward(&x, &mask::causal(t, &self.device)?, drop, capture)?;
        Ok((self.transformer.final_norm(&h)?, attn))
    }

    /// Evaluation-mode outputs (no dropout); position t scores candidates for item t + 1.
    /// items: (B, T) u32 -> ((B, T, d), attention when `capture_attention`)
    pub fn encode(&self, items: &Tensor, capture_attention: bool) -> Result<(Tensor, Option<Vec<Tensor>>)> {
        let (h, attn) = self.hidden(items, None, capture_attention)?;
        Ok((h, capture_attention.then_some(attn)))
    }

    /// Sampled-softmax loss over valid positions with shared `negatives` (K,) u32. -> scalar
    pub fn loss(&self, batch: &SasRecBatch, negatives: &Tensor, train: bool) -> Result<Tensor> {
        let (b, t) = batch.items.dims2()?;
        let n = b * t;
        let drop = if train && self.dropout.active() { Some(&self.dropout) } else { None };
        let h = self.hidden(&batch.items, drop, false)?.0.reshape((n, self.cfg.d_model))?;
        let targets = batch.targets.flatten_all()?;
        let rows = self.item_emb.index_select(&Tensor::cat(&[&targets, negatives], 0)?, 0)?;
        let k = negatives.dim(0)?;
        loss::sampled_softmax(&h, &rows.narrow(0, 0, n)?, &rows.narrow(0, n, k)?, &targets, negatives, &batch.valid.flatten_all()?)
    }

    /// Uniform negatives: (k,) u32.
    pub fn sample_negatives(&self, rng: &mut crate::util::Rng, k: usize) -> Result<Tensor> {
        let ids: Vec<u32> = (0..k).map(|_| rng.index(self.n_items) as u32).collect();
        Tensor::from_vec(ids, k, &self.device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;
    use candle_nn::Optimizer;

    fn cfg() -> SasRecConfig {
        SasRecConfig { d_model: 16, n_layers: 2, n_heads: 2, d_ff: 32, max_len: 8, dropout: 0.0, negatives: 8, seed: 1, embed_init_std: 1.0 }
    }

    #[test]
    fn batch_shifts_targets_and_output_is_causal() {
        let b = SasRecBatch::from_sequences(&[vec![1u32, 2, 3, 4], vec![5, 6]], 8, &Device::Cpu).unwrap();
        assert_eq!(b.items.to_vec2::<u32>().unwrap(), vec![vec![1, 2, 3], vec![5, 0, 0]]);
        assert_eq!(b.targets.to_vec2::<u32>().unwrap(), vec![vec![2, 3, 4], vec![6, 0, 0]]);
        assert_eq!(b.valid.to_vec2::<f32>().unwrap()[1], vec![1.0, 0.0, 0.0]);

        let vm = VarMap::new();
        let m = SasRec::with_varmap(&vm, &cfg(), 20, &Device::Cpu).unwrap();
        let a = m.encode(&Tensor::new(&[[1u32, 2, 3, 4]], &Device::Cpu).unwrap(), false).unwrap().0;
        let c = m.encode(&Tensor::new(&[[1u32, 2, 9, 4]], &Device::Cpu).unwrap(), false).unwrap().0;
        assert_eq!(a.dims(), &[1, 4, 16]);
        let d = |x: &Tensor, y: &Tensor| (x - y).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(d(&a.narrow(1, 0, 2).unwrap(), &c.narrow(1, 0, 2).unwrap()) < 1e-6);
        assert!(d(&a.narrow(1, 2, 1).unwrap(), &c.narrow(1, 2, 1).unwrap()) > 1e-3);
    }

    #[test]
    fn overfits_one_batch() {
        let vm = VarMap::new();
        let m = SasRec::with_varmap(&vm, &SasRecConfig { dropout: 0.1, ..cfg() }, 30, &Device::Cpu).unwrap();
        let mut rng = Rng::new(3);
        let seqs: Vec<Vec<u32>> = (0..4).map(|_| (0..7).map(|_| rng.index(30) as u32).collect()).collect();
        let batch = SasRecBatch::from_sequences(&seqs, 8, &Device::Cpu).unwrap();
        let negs = m.sample_negatives(&mut rng, 8).unwrap();
        let mut opt = candle_nn::AdamW::new(vm.all_vars(), candle_nn::ParamsAdamW { lr: 1e-2, ..Default::default() }).unwrap();
        let first = m.loss(&batch, &negs, false).unwrap().to_scalar::<f32>().unwrap();
        for _ in 0..100 {
            opt.backward_step(&m.loss(&batch, &negs, true).unwrap()).unwrap();
        }
        let last = m.loss(&batch, &negs, false).unwrap().to_scalar::<f32>().unwrap();
        assert!(last < 0.3 * first, "loss {first} -> {last}");
    }
}
