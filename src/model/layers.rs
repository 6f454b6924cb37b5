//! The building blocks shared by every sequence model in LumLab: a dense layer, LayerNorm,
//! seeded dropout and the causal pre-LayerNorm Transformer (fused qkv with bias,
//! multi-head attention scaled by 1/sqrt(d_head), output projection, GELU FFN).
//!
//! The LUM and the SASRec-style baseline both run this one `Transformer`; they differ only
//! in how tokens are embedded and how outputs are scored.

use std::sync::Mutex;

use candle_core::{Result, Tensor};
use candle_nn::{Init, VarBuilder};
use serde::{Deserialize, Serialize};

use super::{attention, kernels, linear};
use crate::util::Rng;

/// PyTorch's default LayerNorm epsilon.
pub const LAYER_NORM_EPS: f64 = 1e-5;

/// `x W^T + b`, with PyTorch's default init (W and b uniform in +-1/sqrt(fan_in)).
#[derive(Clone, Debug)]
pub struct Dense {
    weight: Tensor,
    bias: Tensor,
}

impl Dense {
    /// Parameters `weight` (d_out, d_in) and `bias` (d_out,) under `vb`.
    pub fn new(vb: VarBuilder, d_in: usize, d_out: usize) -> Result<Self> {
        let bound = 1.0 / (d_in.max(1) as f64).sqrt();
        let init = Init::Uniform { lo: -bound, up: bound };
        Ok(Self { weight: vb.get_with_hints((d_out, d_in), "weight", init)?, bias: vb.get_with_hints(d_out, "bias", init)? })
    }

    /// x: (N, d_in) -> (N, d_out)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        linear::linear(x, &self.weight, &self.bias)
    }

    /// gelu(x W^T + b) with the bias add fused into the activation. x: (N, d_in) -> (N, d_out)
    pub fn forward_gelu(&self, x: &Tensor) -> Result<Tensor> {
        kernels::bias_gelu(&x.matmul(&self.weight.t()?)?, &self.bias)
    }
}

/// LayerNorm over the last dim, weight 1 and bias 0 at init.
#[derive(Clone, Debug)]
pub struct Norm {
    weight: Tensor,
    bias: Tensor,
}

impl Norm {
    /// Parameters `weight` and `bias` (d,) under `vb`.
    pub fn new(vb: VarBuilder, d: usize) -> Result<Self> {
        Ok(Self { weight: vb.get_with_hints(d, "weight", Init::Const(1.0))?, bias: vb.get_with_hints(d, "bias", Init::Const(0.0))? })
    }

    /// x: (.., d) -> (.., d)
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        kernels::layer_norm(x, &self.weight, &self.bias, LAYER_NORM_EPS)
    }
}

/// Inverted dropout driven by our seeded [`Rng`], so a training run is reproducible
/// (candle's CPU random source cannot be seeded).
#[derive(Debug)]
pub struct Dropout {
    p: f32,
    rng: Mutex<Rng>,
}

impl Dropout {
    /// Drops with probability `p` (0 disables it).
    pub fn new(p: f32, seed: u64) -> Self {
        Self { p, rng: Mutex::new(Rng::new(seed)) }
    }

    /// Restarts the mask stream from `seed` (the trainer reseeds every step, so a resumed
    /// run draws the same masks as an uninterrupted one).
    pub fn reseed(&self, seed: u64) {
        if let Ok(mut rng) = self.rng.lock() {
            *rng = Rng::new(seed);
        }
    }

    /// Whether this dropout does anything.
    pub fn active(&self) -> bool {
        self.p > 0.0
    }

    /// x * mask / (1 - p); any shape.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if !self.active() {
            return Ok(x.clone());
        }
        let keep = 1.0 - self.p;
        let scale = 1.0 / keep;
        let mask: Vec<f32> = {
            let mut rng = self.rng.lock().map_err(|_| candle_core::Error::Msg("dropout RNG lock poisoned".into()))?;
            (0..x.elem_count()).map(|_| if rng.f32() < keep { scale } else { 0.0 }).collect()
        };
        let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
        x * mask
    }
}

fn maybe_drop(x: Tensor, drop: Option<&Dropout>) -> Result<Tensor> {
    match drop {
        Some(d) => d.forward(&x),
        None => Ok(x),
    }
}

/// Shape of a Transformer stack.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TransformerShape {
    /// Model width d.
    pub d_model: usize,
    /// Attention heads; d_model must be a multiple.
    pub n_heads: usize,
    /// FFN hidden width.
    pub d_ff: usize,
    /// Number of blocks.
    pub n_layers: usize,
}

/// One pre-LayerNorm block: x + Attn(LN(x)), then x + FFN(LN(x)).
#[derive(Clone, Debug)]
pub struct Block {
    ln1: Norm,
    qkv: Dense,
    proj: Dense,
    ln2: Norm,
    fc1: Dense,
    fc2: Dense,
    n_heads: usize,
}

impl Block {
    /// Parameters under `vb`: ln1, qkv, proj, ln2, fc1, fc2.
    pub fn new(vb: VarBuilder, shape: &TransformerShape) -> Result<Self> {
        let d = shape.d_model;
        Ok(Self {
            ln1: Norm::new(vb.pp("ln1"), d)?,
            qkv: Dense::new(vb.pp("qkv"), d, 3 * d)?,
            proj: Dense::new(vb.pp("proj"), d, d)?,
            ln2: Norm::new(vb.pp("ln2"), d)?,
            fc1: Dense::new(vb.pp("fc1"), d, shape.d_ff)?,
            fc2: Dense::new(vb.pp("fc2"), shape.d_ff, d)?,
            n_heads: shape.n_heads,
        })
    }

    /// Runs the block. With `rows` = Some(r) only positions r (the same for every batch
    /// row) are produced: keys and values still come from all L positions, but queries,
    /// the residual and the FFN run on the R selected rows only (the last layer needs
    /// outputs at condition positions only, which halves its work).
    ///
    /// x: (B, L, d); bias: (Bm, Lq, L) additive mask, Lq = L or R; rows: (R,) u32
    /// -> ((B, Lq, d), attention probabilities (B, H, Lq, L) when `capture`)
    pub fn forward(
        &self,
        x: &Tensor,
        bias: &Tensor,
        rows: Option<&Tensor>,
        drop: Option<&Dropout>,
        capture: bool,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let (b, l, d) = x.dims3()?;
        let normed = self.ln1.forward(&x.reshape((b * l, d))?)?;
        let qkv = self.qkv.forward(&normed)?.reshape((b, l, 3 * d))?;
        let (y, probs) = attention::attention(&qkv, bias, rows, self.n_heads, capture)?; // (B, Lq, d)
        let lq = y.dim(1)?;
        let y = y.reshape((b * lq, d))?;
        let resid = match rows {
            Some(r) => x.index_select(r, 1)?,
            None => x.clone(),
        };
        let x = (resid.reshape((b * lq, d))? + maybe_drop(self.proj.forward(&y)?, drop)?)?;
        let ff = self.fc2.forward(&self.fc1.forward_gelu(&self.ln2.forward(&x)?)?)?;
        let x = (x + maybe_drop(ff, drop)?)?;
        Ok((x.reshape((b, lq, d))?, probs))
    }
}

/// A stack of pre-LN blocks plus the final LayerNorm.
#[derive(Clone, Debug)]
pub struct Transformer {
    blocks: Vec<Block>,
    ln_f: Norm,
}

impl Transformer {
    /// Parameters `blocks.{i}.*` and `ln_f.*` under `vb`.
    pub fn new(vb: VarBuilder, shape: &TransformerShape) -> Result<Self> {
        if shape.n_heads == 0 || shape.d_model % shape.n_heads != 0 {
            candle_core::bail!("d_model {} is not a multiple of n_heads {}", shape.d_model, shape.n_heads);
        }
        let blocks = (0..shape.n_layers).map(|i| Block::new(vb.pp(format!("blocks.{i}")), shape)).collect::<Result<_>>()?;
        Ok(Self { blocks, ln_f: Norm::new(vb.pp("ln_f"), shape.d_model)? })
    }

    /// All blocks on every position; returns the residual stream before the final norm and,
    /// when `capture`, each layer's attention probabilities.
    ///
    /// x: (B, L, d); bias: (Bm, L, L) -> ((B, L, d), Vec of n_layers x (B, H, L, L))
    pub fn forward(&self, x: &Tensor, bias: &Tensor, drop: Option<&Dropout>, capture: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let mut x = x.clone();
        let mut attn = Vec::new();
        for block in &self.blocks {
            let (y, p) = block.forward(&x, bias, None, drop, capture)?;
            x = y;
            attn.extend(p);
        }
        Ok((x, attn))
    }

    /// Like `forward`, but the last block produces only positions `rows` (final norm not applied).
    ///
    /// x: (B, L, d); bias: (Bm, L, L); rows: (R,) u32 -> (B, R, d)
    pub fn forward_rows(&self, x: &Tensor, bias: &Tensor, rows: &Tensor, drop: Option<&Dropout>) -> Result<Tensor> {
        let Some((last, first)) = self.blocks.split_last() else {
            return x.index_select(rows, 1);
        };
        let mut x = x.clone();
        for block in first {
            x = block.forward(&x, bias, None, drop, false)?.0;
        }
        let bias_rows = bias.index_select(rows, 1)?;
        Ok(last.forward(&x, &bias_rows, Some(rows), drop, false)?.0)
    }

    /// The final LayerNorm. x: (.., d) -> (.., d)
    pub fn final_norm(&self, x: &Tensor) -> Result<Tensor> {
        self.ln_f.forward(x)
    }
}
