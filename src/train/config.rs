//! The complete, flat pre-training configuration: every key can be set with
//! `--set key=value` and is recorded in the run's `config.json`.

use crate::model::{LumConfig, Pooling, SasRecConfig};
use crate::tokenize::{ItemStrategy, TokenizerConfig};
use serde::{Deserialize, Serialize};

/// Which sequence model a run trains.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// The Large User Model: condition + item tokens, InfoNCE at condition positions.
    #[default]
    Lum,
    /// Item-id-only causal Transformer without conditions, sampled softmax.
    Sasrec,
    /// Item popularity in the training split (no training).
    Popularity,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Lum => "lum",
            ModelKind::Sasrec => "sasrec",
            ModelKind::Popularity => "popularity",
        }
    }
}

/// Every pre-training setting (flat so `--set negatives=512` needs no path).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PretrainConfig {
    pub model: ModelKind,
    /// Item tokenization strategy: id | semantic | attributes.
    pub strategy: ItemStrategy,
    /// Semantic-id codebook sizes per level.
    pub levels: Vec<usize>,
    /// `id` strategy: rarer items share `<unk>`.
    pub min_count: u32,
    pub pooling: Pooling,
    pub d_model: usize,
    pub n_layers: usize,
    pub n_heads: usize,
    pub d_ff: usize,
    /// Most recent behaviours read per sequence.
    pub max_behaviors: usize,
    pub dropout: f32,
    /// InfoNCE temperature (cosine / temperature).
    pub temperature: f64,
    /// Negatives sampled uniformly from the catalogue per batch.
    pub negatives: usize,
    /// Sequences per step.
    pub batch_size: usize,
    /// Several users per row with a block-diagonal causal mask.
    pub packing: bool,
    pub lr: f64,
    pub weight_decay: f64,
    pub warmup_steps: u64,
    /// Cosine decay ends at lr * min_lr_ratio.
    pub min_lr_ratio: f64,
    /// Global gradient-norm clip (0 = off).
    pub grad_clip: f64,
    pub steps: u64,
    /// Validate (NDCG@10, full protocol) every this many steps; the best checkpoint is kept.
    pub eval_every: u64,
    /// Users sampled for validation during training (0 = all).
    pub eval_users: usize,
    /// Save the last checkpoint every this many steps.
    pub checkpoint_every: u64,
    /// Stop when the loss exceeds this (exploding) or is not finite.
    pub max_loss: f64,
    pub seed: u64,
    /// Std of the embeddings' N(0, s) init (1.0 = PyTorch's default).
    pub embed_init_std: f64,
    /// cpu | cuda | metal | auto.
    pub device: String,
}

impl Default for PretrainConfig {
    fn default() -> Self {
        let lum = LumConfig::default();
        Self {
            model: ModelKind::Lum,
            // Semantic ids share sub-tokens between similar items, so a short run learns
            // far more than with atomic ids (measured on the sample world; see README).
            strategy: ItemStrategy::Semantic,
            levels: vec![64, 64, 64],
            min_count: 1,
            pooling: Pooling::Mean,
            d_model: lum.d_model,
            n_layers: lum.n_layers,
            n_heads: lum.n_heads,
            d_ff: lum.d_ff,
            max_behaviors: 100,
            dropout: 0.0,
            temperature: lum.temperature,
            negatives: 512,
            batch_size: 64,
            packing: true,
            lr: 1e-2,
            weight_decay: 0.01,
            warmup_steps: 30,
            min_lr_ratio: 0.1,
            grad_clip: 1.0,
            steps: 600,
            eval_every: 100,
            eval_users: 500,
            checkpoint_every: 100,
            max_loss: 1e4,
            seed: 42,
            embed_init_std: 0.05,
            device: "cpu".into(),
        }
    }
}

impl PretrainConfig {
    /// A configuration small enough for tests and CI (seconds on 2 cores).
    pub fn tiny() -> Self {
        Self {
            d_model: 32,
            n_layers: 1,
            n_heads: 2,
            d_ff: 64,
            max_behaviors: 40,
            negatives: 128,
            batch_size: 32,
            steps: 60,
            warmup_steps: 10,
            eval_every: 30,
            eval_users: 100,
            checkpoint_every: 30,
            ..Self::default()
        }
    }

    /// The budget of `lumlab flow`: a few minutes on a 2-core CPU for the bundled sample world.
    ///
    /// Items are tokenized by `attributes` (category, brand, price bucket, title
    /// words), not semantic ids: the flow ends in CTR, and SimTier needs item
    /// embeddings that tell brands apart. Measured on the sample world, flow
    /// seeds 1-3: +LUM GAUC(user) gain +0.0050 ± 0.0031 with attributes vs
    /// +0.0017 ± 0.0012 with semantic ids (retrieval HR@10 is about the same).
    /// Items without attributes fall back to id tokens.
    pub fn flow() -> Self {
        Self {
            strategy: ItemStrategy::Attributes,
            max_behaviors: 64,
            batch_size: 48,
            steps: 240,
            warmup_steps: 20,
            eval_every: 60,
            eval_users: 300,
            checkpoint_every: 60,
            ..Self::default()
        }
    }

    /// Checks settings before any work, naming the key at fault.
    pub fn validate(&self) -> Result<(), String> {
        let pos = |k: &str, v: f64| if v > 0.0 { Ok(()) } else { Err(format!("{k} must be positive (got {v})")) };
        pos("d_model", self.d_model as f64)?;
        pos("n_heads", self.n_heads as f64)?;
        pos("batch_size", self.batch_size as f64)?;
        pos("negatives", self.negatives as f64)?;
        pos("lr", self.lr)?;
        pos("temperature", self.temperature)?;
        if self.d_model % self.n_heads != 0 {
            return Err(format!("d_model {} must be a multiple of n_heads {}", self.d_model, self.n_heads));
        }
        if self.max_behaviors < 2 {
            return Err("max_behaviors must be at least 2".into());
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(format!("dropout must be in [0, 1) (got {})", self.dropout));
        }
        if self.model != ModelKind::Popularity && self.steps == 0 {
            return Err("steps must be positive".into());
        }
        if !super::device::is_known(&self.device) {
            return Err(format!("device must be cpu, cuda, cuda:N, metal, metal:N or auto (got {})", self.device));
        }
        Ok(())
    }

    /// The tokenizer part.
    pub fn tokenizer(&self) -> TokenizerConfig {
        TokenizerConfig { strategy: self.strategy, levels: self.levels.clone(), min_count: self.min_count, seed: self.seed, ..TokenizerConfig::default() }
    }

    /// The LUM part.
    pub fn lum(&self) -> LumConfig {
        LumConfig {
            d_model: self.d_model,
            n_layers: self.n_layers,
            n_heads: self.n_heads,
            d_ff: self.d_ff,
            // One extra slot so the appended (target / query) condition always fits.
            max_behaviors: self.max_behaviors + 1,
            dropout: self.dropout,
            temperature: self.temperature,
            negatives: self.negatives,
            pooling: self.pooling,
            seed: self.seed,
            embed_init_std: self.embed_init_std,
        }
    }

    /// The SASRec part.
    pub fn sasrec(&self) -> SasRecConfig {
        SasRecConfig {
            d_model: self.d_model,
            n_layers: self.n_layers,
            n_heads: self.n_heads,
            d_ff: self.d_ff,
            max_len: self.max_behaviors,
            dropout: self.dropout,
            negatives: self.negatives,
            seed: self.seed,
            embed_init_std: self.embed_init_std,
        }
    }

    /// Learning rate at `step` (1-based): linear warm-up, then cosine decay to lr * min_lr_ratio.
    pub fn lr_at(&self, step: u64) -> f64 {
        if self.warmup_steps > 0 && step <= self.warmup_steps {
            return self.lr * step as f64 / self.warmup_steps as f64;
        }
        let span = self.steps.saturating_sub(self.warmup_steps).max(1) as f64;
        let t = ((step.saturating_sub(self.warmup_steps)) as f64 / span).clamp(0.0, 1.0);
        let floor = self.lr * self.min_lr_ratio;
        floor + (self.lr - floor) * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_warms_up_then_decays() {
        let c = PretrainConfig { lr: 1.0, warmup_steps: 10, steps: 110, min_lr_ratio: 0.1, ..Default::default() };
        assert!((c.lr_at(5) - 0.5).abs() < 1e-12);
        assert!((c.lr_at(10) - 1.0).abs() < 1e-12);
        assert!((c.lr_at(60) - 0.55).abs() < 1e-9);
        assert!((c.lr_at(110) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn unknown_key_lists_valid_keys() {
        let e = crate::util::apply_overrides(&PretrainConfig::default(), &["negativs=5".into()]).unwrap_err();
        assert!(e.contains("unknown key `negativs`") && e.contains("negatives"), "{e}");
        let e = crate::util::apply_overrides(&PretrainConfig::default(), &["steps=abc".into()]).unwrap_err();
        assert!(e.contains("bad value"), "{e}");
        let c = crate::util::apply_overrides(&PretrainConfig::default(), &["steps=7".into(), "strategy=semantic".into(), "model=sasrec".into()]).unwrap();
        assert_eq!((c.steps, c.strategy, c.model), (7, ItemStrategy::Semantic, ModelKind::Sasrec));
    }
}
