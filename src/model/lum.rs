//! The Large User Model (DESIGN section 1): a hierarchical token encoder, learned
//! positions and token types, the shared causal Transformer, and the InfoNCE objective read
//! at condition positions. Also group query (many conditions after one history in one
//! pass) and the batch builder that turns behaviour sequences into tensors.
//!
//! A sequence of T behaviours is `c1 i1 c2 i2 ... cT iT` (2T tokens, type 0 = condition,
//! 1 = item); the output at condition position t sees `c1 .. i(t-1), ct` and predicts `it`.

use std::sync::Mutex;

use candle_core::{DType, Device, Result, Tensor};
use candle_nn::{Init, VarBuilder, VarMap};
use serde::{Deserialize, Serialize};

use super::init::seeded_var_builder;
use super::layers::{Dense, Dropout, Transformer, TransformerShape};
use super::{ModelError, loss, mask};

/// How the sub-token embeddings of one item (or condition) become its vector.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Sum of sub-token embeddings, then a linear projection.
    Sum,
    /// Mean of sub-token embeddings, then a linear projection.
    #[default]
    Mean,
}

/// LUM hyper-parameters (recorded with every run).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LumConfig {
    /// Model width d.
    pub d_model: usize,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Attention heads (d_model must be a multiple).
    pub n_heads: usize,
    /// FFN hidden width.
    pub d_ff: usize,
    /// Most recent behaviours kept per sequence (2x tokens); sets the position table size.
    pub max_behaviors: usize,
    /// Dropout after the embeddings, the attention projection and the FFN (training only).
    pub dropout: f32,
    /// InfoNCE temperature.
    pub temperature: f64,
    /// Negatives sampled uniformly from the catalogue per batch.
    pub negatives: usize,
    /// Sub-token pooling for multi-token items/conditions. A table whose entries are each
    /// exactly one distinct sub-token (the `id` strategy) is a plain embedding table instead.
    pub pooling: Pooling,
    /// Seed of the parameter initialisation (`Lum::with_varmap`) and of dropout.
    pub seed: u64,
    /// Standard deviation of every embedding table's N(0, s) init. 1.0 is PyTorch's
    /// `nn.Embedding` default (the bench preset); training uses a smaller value so Adam's
    /// fixed-size steps move the embeddings quickly relative to their scale.
    pub embed_init_std: f64,
}

impl Default for LumConfig {
    fn default() -> Self {
        Self {
            d_model: 64,
            n_layers: 2,
            n_heads: 2,
            d_ff: 256,
            max_behaviors: 50,
            dropout: 0.1,
            temperature: 0.05,
            negatives: 512,
            pooling: Pooling::Mean,
            seed: 0,
            embed_init_std: 1.0,
        }
    }
}

impl LumConfig {
    /// Checks the settings a model cannot be built or trained with.
    pub fn validate(&self) -> std::result::Result<(), ModelError> {
        let bad = |what: &str, why: String| Err(ModelError::Config { field: what.to_string(), reason: why });
        if self.d_model == 0 || self.n_heads == 0 || !self.d_model.is_multiple_of(self.n_heads) {
            return bad("d_model", format!("{} must be a positive multiple of n_heads {}", self.d_model, self.n_heads));
        }
        if self.d_ff == 0 {
            return bad("d_ff", "must be positive".into());
        }
        if self.max_behaviors < 2 {
            return bad("max_behaviors", format!("{} is too small (need at least 2)", self.max_behaviors));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout", format!("{} is not in [0, 1)", self.dropout));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad("temperature", format!("{} must be positive", self.temperature));
        }
        if self.negatives == 0 {
            return bad("negatives", "must be positive".into());
        }
        Ok(())
    }

    fn shape(&self) -> TransformerShape {
        TransformerShape { d_model: self.d_model, n_heads: self.n_heads, d_ff: self.d_ff, n_layers: self.n_layers }
    }
}

/// A borrowed ragged list: entry e's sub-token ids are `ids[offsets[e]..offsets[e + 1]]`
/// (the layout of the tokenizer's `SubTokens`).
#[derive(Clone, Copy, Debug)]
pub struct RaggedIds<'a> {
    /// n + 1 increasing offsets into `ids`, starting at 0.
    pub offsets: &'a [u32],
    /// Concatenated sub-token ids.
    pub ids: &'a [u32],
}

impl<'a> RaggedIds<'a> {
    /// Wraps the two arrays (checked when a model is built).
    pub fn new(offsets: &'a [u32], ids: &'a [u32]) -> Self {
        Self { offsets, ids }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// True when there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn validate(&self, what: &'static str, n_vocab: usize) -> std::result::Result<(), ModelError> {
        let bad = |reason: String| Err(ModelError::SubTokens { what, reason });
        if self.offsets.first() != Some(&0) || self.offsets.last().map(|&o| o as usize) != Some(self.ids.len()) {
            return bad(format!("offsets must run from 0 to {}", self.ids.len()));
        }
        if self.offsets.windows(2).any(|w| w[1] < w[0]) {
            return bad("offsets decrease".into());
        }
        if let Some(&id) = self.ids.iter().find(|&&id| id as usize >= n_vocab) {
            return bad(format!("sub-token id {id} is outside the vocabulary of {n_vocab}"));
        }
        Ok(())
    }

    /// True when every entry is exactly one sub-token and no two entries share it, so a
    /// plain per-entry embedding table is the same model as a sub-token table.
    fn one_to_one(&self) -> bool {
        if self.ids.len() != self.len() || self.offsets.windows(2).any(|w| w[1] != w[0] + 1) {
            return false;
        }
        let mut seen = self.ids.to_vec();
        seen.sort_unstable();
        seen.windows(2).all(|w| w[0] != w[1])
    }
}

/// Pooling plan of one table: which sub-token rows to gather and which entry each adds to.
#[derive(Debug)]
struct PoolPlan {
    ids: Tensor,               // (n_ids,) u32
    owner: Tensor,             // (n_ids,) u32
    inv_count: Option<Tensor>, // (n, 1) f32 for mean pooling
    n: usize,
}

impl PoolPlan {
    fn new(r: &RaggedIds, pooling: Pooling, device: &Device) -> Result<Self> {
        let n = r.len();
        let mut owner = Vec::with_capacity(r.ids.len());
        let mut inv = Vec::with_capacity(n);
        for e in 0..n {
            let count = (r.offsets[e + 1] - r.offsets[e]) as usize;
            owner.extend(std::iter::repeat_n(e as u32, count));
            inv.push(1.0 / count.max(1) as f32);
        }
        Ok(Self {
            ids: Tensor::new(r.ids, device)?,
            owner: Tensor::from_vec(owner, r.ids.len(), device)?,
            inv_count: match pooling {
                Pooling::Mean => Some(Tensor::from_vec(inv, (n, 1), device)?),
                Pooling::Sum => None,
            },
            n,
        })
    }

    /// sub: (V, d) -> (n, d) pooled rows.
    fn pool(&self, sub: &Tensor) -> Result<Tensor> {
        let d = sub.dim(1)?;
        let rows = sub.index_select(&self.ids, 0)?;
        let sum = Tensor::zeros((self.n, d), sub.dtype(), sub.device())?.index_add(&self.owner, &rows, 0)?;
        match &self.inv_count {
            Some(inv) => sum.broadcast_mul(inv),
            None => Ok(sum),
        }
    }
}

/// How one token table (items or conditions) is produced.
#[derive(Debug)]
enum TableEncoder {
    /// A plain embedding table (id strategy), N(0, 1) at init like `nn.Embedding`.
    Direct(Tensor),
    /// Pooled sub-token embeddings then a projection.
    Pooled { plan: PoolPlan, proj: Dense },
}

impl TableEncoder {
    fn new(vb: VarBuilder, name: &str, r: &RaggedIds, cfg: &LumConfig, sub: &mut Option<Tensor>, n_vocab: usize) -> Result<Self> {
        let d = cfg.d_model;
        if r.one_to_one() {
            let table = vb.get_with_hints((r.len(), d), &format!("{name}_emb"), embedding_init(cfg))?;
            return Ok(Self::Direct(table));
        }
        if sub.is_none() {
            *sub = Some(vb.get_with_hints((n_vocab, d), "sub_emb", embedding_init(cfg))?);
        }
        Ok(Self::Pooled { plan: PoolPlan::new(r, cfg.pooling, vb.device())?, proj: Dense::new(vb.pp(format!("{name}_proj")), d, d)? })
    }

    /// -> (n, d)
    fn table(&self, sub: Option<&Tensor>) -> Result<Tensor> {
        match (self, sub) {
            (Self::Direct(t), _) => Ok(t.clone()),
            (Self::Pooled { plan, proj }, Some(sub)) => proj.forward(&plan.pool(sub)?),
            (Self::Pooled { .. }, None) => candle_core::bail!("pooled table without a sub-token table"),
        }
    }
}

/// N(0, embed_init_std) for embedding tables (`nn.Embedding`'s default when the std is 1).
fn embedding_init(cfg: &LumConfig) -> Init {
    Init::Randn { mean: 0.0, stdev: cfg.embed_init_std }
}

/// Token type ids.
const TYPE_CONDITION: u32 = 0;
const TYPE_ITEM: u32 = 1;

/// One training or inference batch for the LUM (built by [`batch_from_sequences`]).
#[derive(Clone, Debug)]
pub struct LumBatch {
    /// Condition ids c1..cT per row: (B, T) u32.
    pub cond: Tensor,
    /// Item ids i1..iT per row: (B, T) u32 (also the InfoNCE targets).
    pub item: Tensor,
    /// Position of every token: (B, 2T) u32. `None` means 0..2T-1 in every row (one user
    /// per row, right-padded), which the model adds without a gather.
    pub positions: Option<Tensor>,
    /// Packing: segment id of every token, (B, 2T) u32; tokens attend only within their
    /// segment (block-diagonal causal mask). `None` = one sequence per row.
    pub segment: Option<Tensor>,
    /// 1 where behaviour t is real (its condition output has a target), 0 on padding: (B, T) f32.
    pub valid: Tensor,
    /// Where each input sequence landed, in input order.
    pub spans: Vec<SeqSpan>,
}

/// Placement of one input sequence inside a [`LumBatch`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeqSpan {
    /// Batch row.
    pub row: usize,
    /// Index of its first behaviour within the row (token 2 * start).
    pub start: usize,
    /// Behaviours kept (the most recent ones).
    pub len: usize,
    /// Older behaviours cut to fit `max_behaviors`.
    pub dropped: usize,
}

impl LumBatch {
    /// (B, T): rows and behaviours per row.
    pub fn dims(&self) -> Result<(usize, usize)> {
        self.item.dims2()
    }

    /// Number of real (valid) behaviours.
    pub fn n_valid(&self) -> usize {
        self.spans.iter().map(|s| s.len).sum()
    }
}

/// Padding id for empty slots; any in-range id works because padded slots sit after the
/// real tokens of their row (so causal attention never reads them) and have valid = 0.
const PAD_ID: u32 = 0;
/// Segment id of padding when packing.
const PAD_SEGMENT: u32 = u32::MAX;

/// Builds a batch from `(condition ids, item ids)` sequences, keeping the most recent
/// `max_behaviors` behaviours of each. Without packing each sequence gets its own row and
/// T is the longest kept length; with packing sequences are placed first-fit into rows of
/// at most `max_behaviors` behaviours, each with its own segment and positions from 0.
pub fn batch_from_sequences<S: AsRef<[u32]>>(
    seqs: &[(S, S)],
    max_behaviors: usize,
    packing: bool,
    device: &Device,
) -> Result<LumBatch> {
    if max_behaviors == 0 {
        return Err(candle_core::Error::wrap(ModelError::Config { field: "max_behaviors".into(), reason: "must be positive".into() }));
    }
    let mut kept = Vec::with_capacity(seqs.len());
    for (i, (c, it)) in seqs.iter().enumerate() {
        let (c, it) = (c.as_ref(), it.as_ref());
        if c.len() != it.len() {
            return Err(candle_core::Error::wrap(ModelError::RaggedSequence { index: i, conds: c.len(), items: it.len() }));
        }
        let n = c.len().min(max_behaviors);
        kept.push((&c[c.len() - n..], &it[it.len() - n..], c.len() - n));
    }
    // Place sequences into rows.
    let mut row_fill: Vec<usize> = Vec::new();
    let mut spans = Vec::with_capacity(kept.len());
    for (c, _, dropped) in &kept {
        let n = c.len();
        let row = if packing {
            match row_fill.iter().position(|&f| f + n <= max_behaviors) {
                Some(r) => r,
                None => {
                    row_fill.push(0);
                    row_fill.len() - 1
                }
            }
        } else {
            row_fill.push(0);
            row_fill.len() - 1
        };
        spans.push(SeqSpan { row, start: row_fill[row], len: n, dropped: *dropped });
        row_fill[row] += n;
    }
    let b = row_fill.len().max(1);
    let t = row_fill.iter().copied().max().unwrap_or(0).max(1);
    let mut cond = vec![PAD_ID; b * t];
    let mut item = vec![PAD_ID; b * t];
    let mut valid = vec![0f32; b * t];
    let mut positions = vec![0u32; b * 2 * t];
    let mut segment = vec![PAD_SEGMENT; b * 2 * t];
    let mut next_segment = vec![0u32; b];
    for ((c, it, _), s) in kept.iter().zip(&spans) {
        let base = s.row * t + s.start;
        cond[base..base + s.len].copy_from_slice(c);
        item[base..base + s.len].copy_from_slice(it);
        valid[base..base + s.len].fill(1.0);
        let seg = next_segment[s.row];
        next_segment[s.row] += 1;
        for k in 0..2 * s.len {
            let tok = s.row * 2 * t + 2 * s.start + k;
            positions[tok] = k as u32;
            segment[tok] = seg;
        }
    }
    let (positions, segment) = if packing {
        (Some(Tensor::from_vec(positions, (b, 2 * t), device)?), Some(Tensor::from_vec(segment, (b, 2 * t), device)?))
    } else {
        (None, None)
    };
    Ok(LumBatch {
        cond: Tensor::from_vec(cond, (b, t), device)?,
        item: Tensor::from_vec(item, (b, t), device)?,
        positions,
        segment,
        valid: Tensor::from_vec(valid, (b, t), device)?,
        spans,
    })
}

/// The Large User Model.
#[derive(Debug)]
pub struct Lum {
    cfg: LumConfig,
    sub: Option<Tensor>,
    items: TableEncoder,
    conds: TableEncoder,
    pos_emb: Tensor,  // (2 * max_behaviors, d)
    type_emb: Tensor, // (2, d)
    parity: Tensor,   // (2 * max_behaviors,) u32: token type of each position
    transformer: Transformer,
    dropout: Dropout,
    causal: Mutex<Option<(usize, Tensor)>>,
    n_items: usize,
    n_conditions: usize,
    device: Device,
}

impl Lum {
    /// Builds the model with parameters from `vb` (created on first use when `vb` is backed
    /// by a `VarMap`, loaded when it reads a checkpoint).
    ///
    /// item_sub / cond_sub: sub-token ids of every item / condition in one shared vocabulary
    /// of `n_sub_vocab` ids. Parameter names: `item_emb`, `cond_emb` (id tables) or `sub_emb`,
    /// `item_proj.*`, `cond_proj.*` (pooled), `pos_emb`, `type_emb`, `blocks.{i}.*`, `ln_f.*`.
    pub fn new(
        vb: VarBuilder,
        cfg: &LumConfig,
        item_sub: RaggedIds,
        cond_sub: RaggedIds,
        n_sub_vocab: usize,
        device: &Device,
    ) -> Result<Self> {
        cfg.validate().map_err(candle_core::Error::wrap)?;
        item_sub.validate("items", n_sub_vocab).map_err(candle_core::Error::wrap)?;
        cond_sub.validate("conditions", n_sub_vocab).map_err(candle_core::Error::wrap)?;
        if item_sub.is_empty() || cond_sub.is_empty() {
            return Err(candle_core::Error::wrap(ModelError::SubTokens { what: "tables", reason: "no items or no conditions".into() }));
        }
        let vb = vb.set_device(device.clone());
        let d = cfg.d_model;
        let mut sub = None;
        let items = TableEncoder::new(vb.clone(), "item", &item_sub, cfg, &mut sub, n_sub_vocab)?;
        let conds = TableEncoder::new(vb.clone(), "cond", &cond_sub, cfg, &mut sub, n_sub_vocab)?;
        let n_pos = 2 * cfg.max_behaviors;
        let pos_emb = vb.get_with_hints((n_pos, d), "pos_emb", embedding_init(cfg))?;
        let type_emb = vb.get_with_hints((2, d), "type_emb", embedding_init(cfg))?;
        let transformer = Transformer::new(vb.clone(), &cfg.shape())?;
        let parity: Vec<u32> = (0..n_pos).map(|p| if p % 2 == 0 { TYPE_CONDITION } else { TYPE_ITEM }).collect();
        Ok(Self {
            cfg: cfg.clone(),
            sub,
            items,
            conds,
            pos_emb,
            type_emb,
            parity: Tensor::from_vec(parity, n_pos, device)?,
            transformer,
            dropout: Dropout::new(cfg.dropout, cfg.seed ^ DROPOUT_STREAM),
            causal: Mutex::new(None),
            n_items: item_sub.len(),
            n_conditions: cond_sub.len(),
            device: device.clone(),
        })
    }

    /// Builds the model with fresh parameters in `varmap`, drawn from a generator seeded by
    /// `cfg.seed` (PyTorch's default distributions). Pass `varmap.all_vars()` to the optimiser.
    pub fn with_varmap(
        varmap: &VarMap,
        cfg: &LumConfig,
        item_sub: RaggedIds,
        cond_sub: RaggedIds,
        n_sub_vocab: usize,
        device: &Device,
    ) -> Result<Self> {
        let vb = seeded_var_builder(varmap, cfg.seed, DType::F32, device);
        Self::new(vb, cfg, item_sub, cond_sub, n_sub_vocab, device)
    }

    /// Reseeds the dropout masks (see [`Dropout::reseed`]).
    pub fn reseed_dropout(&self, seed: u64) {
        self.dropout.reseed(seed);
    }

    /// The configuration the model was built with.
    pub fn config(&self) -> &LumConfig {
        &self.cfg
    }

    /// Catalogue size (item ids are 0..n_items).
    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// Number of condition ids.
    pub fn n_conditions(&self) -> usize {
        self.n_conditions
    }

    /// The device the parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Embedding of every item, as used for targets, negatives and retrieval: (n_items, d).
    /// Retrieval scores are cosines between a condition output and these rows.
    pub fn item_table(&self) -> Result<Tensor> {
        self.items.table(self.sub.as_ref())
    }

    /// Embedding of every condition: (n_conditions, d).
    pub fn condition_table(&self) -> Result<Tensor> {
        self.conds.table(self.sub.as_ref())
    }

    /// Position + token-type embedding per position: (2 * max_behaviors, d).
    fn position_table(&self) -> Result<Tensor> {
        self.pos_emb.add(&self.type_emb.index_select(&self.parity, 0)?)
    }

    fn causal_mask(&self, l: usize) -> Result<Tensor> {
        let mut cache = self.causal.lock().map_err(|_| candle_core::Error::Msg("mask cache lock poisoned".into()))?;
        if let Some((cl, m)) = cache.as_ref()
            && *cl == l
        {
            return Ok(m.clone());
        }
        let m = mask::causal(l, &self.device)?;
        *cache = Some((l, m.clone()));
        Ok(m)
    }

    fn batch_mask(&self, batch: &LumBatch) -> Result<Tensor> {
        let (b, t) = batch.dims()?;
        match &batch.segment {
            None => self.causal_mask(2 * t),
            Some(seg) => mask::packed(&seg.flatten_all()?.to_vec1::<u32>()?, b, 2 * t, &self.device),
        }
    }

    /// Interleaved token embeddings plus positions and types.
    /// item_rows: (B*T, d) gathered item embeddings -> (B, 2T, d)
    fn embed(&self, cond_table: &Tensor, item_rows: &Tensor, batch: &LumBatch, drop: Option<&Dropout>) -> Result<Tensor> {
        let (b, t) = batch.dims()?;
        let d = self.cfg.d_model;
        if 2 * t > self.pos_emb.dim(0)? {
            return Err(candle_core::Error::wrap(ModelError::TooLong { behaviors: t, max: self.cfg.max_behaviors }));
        }
        let ce = cond_table.index_select(&batch.cond.flatten_all()?, 0)?.reshape((b, t, 1, d))?;
        let ie = item_rows.reshape((b, t, 1, d))?;
        let x = Tensor::cat(&[&ce, &ie], 2)?.reshape((b, 2 * t, d))?;
        let table = self.position_table()?;
        let x = match &batch.positions {
            None => x.broadcast_add(&table.narrow(0, 0, 2 * t)?)?,
            Some(p) => (x + table.index_select(&p.flatten_all()?, 0)?.reshape((b, 2 * t, d))?)?,
        };
        match drop {
            Some(dr) => dr.forward(&x),
            None => Ok(x),
        }
    }

    /// Full forward in evaluation mode (no dropout): the final-norm output at every token
    /// and, when `capture_attention`, each layer's attention probabilities.
    ///
    /// -> ((B, 2T, d), Some(n_layers x (B, n_heads, 2T, 2T)))
    pub fn encode(&self, batch: &LumBatch, capture_attention: bool) -> Result<(Tensor, Option<Vec<Tensor>>)> {
        let item_rows = self.item_table()?.index_select(&batch.item.flatten_all()?, 0)?;
        let x = self.embed(&self.condition_table()?, &item_rows, batch, None)?;
        let (h, attn) = self.transformer.forward(&x, &self.batch_mask(batch)?, None, capture_attention)?;
        Ok((self.transformer.final_norm(&h)?, capture_attention.then_some(attn)))
    }

    /// Outputs at the condition positions only (what the loss and retrieval read), in
    /// evaluation mode: (B, T, d). Cheaper than `encode` (the last layer skips item positions).
    pub fn encode_conditions(&self, batch: &LumBatch) -> Result<Tensor> {
        let item_rows = self.item_table()?.index_select(&batch.item.flatten_all()?, 0)?;
        self.condition_outputs(&self.condition_table()?, &item_rows, batch, None)
    }

    /// -> (B, T, d) final-norm outputs at condition positions.
    fn condition_outputs(&self, cond_table: &Tensor, item_rows: &Tensor, batch: &LumBatch, drop: Option<&Dropout>) -> Result<Tensor> {
        let (_, t) = batch.dims()?;
        let x = self.embed(cond_table, item_rows, batch, drop)?;
        let rows = Tensor::arange_step(0u32, 2 * t as u32, 2, &self.device)?;
        let h = self.transformer.forward_rows(&x, &self.batch_mask(batch)?, &rows, drop)?;
        self.transformer.final_norm(&h)
    }

    /// The pre-training loss: InfoNCE at every valid condition position against the
    /// positive item and the shared `negatives` (K,) u32. `train` enables dropout.
    /// -> scalar
    pub fn loss(&self, batch: &LumBatch, negatives: &Tensor, train: bool) -> Result<Tensor> {
        let (b, t) = batch.dims()?;
        let n = b * t;
        let k = negatives.dim(0)?;
        let items = self.item_table()?;
        let targets = batch.item.flatten_all()?;
        // One gather for inputs (= positives) and negatives, so the backward pass scatters
        // into the item table once.
        let rows = items.index_select(&Tensor::cat(&[&targets, negatives], 0)?, 0)?;
        let (item_rows, neg_rows) = (rows.narrow(0, 0, n)?, rows.narrow(0, n, k)?);
        let drop = if train && self.dropout.active() { Some(&self.dropout) } else { None };
        let h = self.condition_outputs(&self.condition_table()?, &item_rows, batch, drop)?;
        loss::info_nce(
            &h.reshape((n, self.cfg.d_model))?,
            &item_rows,
            &neg_rows,
            &targets,
            negatives,
            &batch.valid.flatten_all()?,
            self.cfg.temperature,
        )
    }

    /// InfoNCE of given condition outputs against the item table (interface form of the loss).
    ///
    /// hidden_at_cond: (N, d); targets: (N,) u32; negatives: (K,) u32; valid: (N,) f32 -> scalar
    pub fn info_nce_loss(&self, hidden_at_cond: &Tensor, targets: &Tensor, negatives: &Tensor, valid: &Tensor) -> Result<Tensor> {
        let items = self.item_table()?;
        loss::info_nce(
            hidden_at_cond,
            &items.index_select(targets, 0)?,
            &items.index_select(negatives, 0)?,
            targets,
            negatives,
            valid,
            self.cfg.temperature,
        )
    }

    /// Uniform negatives for one batch: `k` item ids drawn from the catalogue -> (k,) u32.
    pub fn sample_negatives(&self, rng: &mut crate::util::Rng, k: usize) -> Result<Tensor> {
        let ids: Vec<u32> = (0..k).map(|_| rng.index(self.n_items) as u32).collect();
        Tensor::from_vec(ids, k, &self.device)
    }

    /// Group query (LUM "knowledge querying"): one shared history followed by N condition
    /// tokens in a single pass; each query sees the history and itself, not the others, and
    /// sits at the position the next condition would have. The history keeps its most recent
    /// `max_behaviors - 1` behaviours. -> (N, d) final-norm outputs, one per query.
    pub fn group_query(&self, history_cond: &[u32], history_item: &[u32], query_conds: &[u32]) -> Result<Tensor> {
        Ok(self.group_query_inner(history_cond, history_item, query_conds, false)?.0)
    }

    /// [`Lum::group_query`] plus each layer's attention, (1, H, L, L) with L = 2 * history + N.
    pub fn group_query_with_attention(
        &self,
        history_cond: &[u32],
        history_item: &[u32],
        query_conds: &[u32],
    ) -> Result<(Tensor, Vec<Tensor>)> {
        self.group_query_inner(history_cond, history_item, query_conds, true)
    }

    fn group_query_inner(
        &self,
        history_cond: &[u32],
        history_item: &[u32],
        query_conds: &[u32],
        capture: bool,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        if history_cond.len() != history_item.len() {
            return Err(candle_core::Error::wrap(ModelError::RaggedSequence {
                index: 0,
                conds: history_cond.len(),
                items: history_item.len(),
            }));
        }
        let d = self.cfg.d_model;
        let nq = query_conds.len();
        let keep = history_cond.len().min(self.cfg.max_behaviors - 1);
        // Without queries there is no output; with `capture` the history's own attention is still wanted.
        if nq == 0 && (!capture || keep == 0) {
            return Ok((Tensor::zeros((0, d), DType::F32, &self.device)?, Vec::new()));
        }
        let hc = &history_cond[history_cond.len() - keep..];
        let hi = &history_item[history_item.len() - keep..];
        let n_hist = 2 * keep;
        let l = n_hist + nq;
        let cond_ids: Vec<u32> = hc.iter().chain(query_conds).copied().collect();
        let ce = self.condition_table()?.index_select(&Tensor::new(cond_ids.as_slice(), &self.device)?, 0)?;
        let mut parts = Vec::with_capacity(2);
        if keep > 0 {
            let ie = self.item_table()?.index_select(&Tensor::new(hi, &self.device)?, 0)?;
            let hist = Tensor::cat(&[&ce.narrow(0, 0, keep)?.unsqueeze(1)?, &ie.unsqueeze(1)?], 1)?.reshape((n_hist, d))?;
            parts.push(hist);
        }
        parts.push(ce.narrow(0, keep, nq)?);
        let x = Tensor::cat(&parts, 0)?;
        let positions: Vec<u32> = (0..n_hist as u32).chain(std::iter::repeat_n(n_hist as u32, nq)).collect();
        let x = (x + self.position_table()?.index_select(&Tensor::from_vec(positions, l, &self.device)?, 0)?)?;
        let bias = mask::group_query(n_hist, nq, &self.device)?;
        let (h, attn) = self.transformer.forward(&x.unsqueeze(0)?, &bias, None, capture)?;
        let out = if nq == 0 { Tensor::zeros((0, d), DType::F32, &self.device)? } else { self.transformer.final_norm(&h.squeeze(0)?.narrow(0, n_hist, nq)?)? };
        Ok((out, attn))
    }
}

/// One history and the query conditions appended after it: a unit of
/// [`Lum::group_query_batch`].
#[derive(Clone, Copy, Debug)]
pub struct QueryGroup<'a> {
    /// Condition ids of the history, oldest first.
    pub history_cond: &'a [u32],
    /// Item ids of the history (same length).
    pub history_item: &'a [u32],
    /// Condition ids of the queries read after the history.
    pub query_conds: &'a [u32],
}

impl Lum {
    /// Group query for many histories in one forward pass: row b holds group b's history
    /// (its most recent `max_behaviors - 1` behaviours, left-padded to the longest) then its
    /// queries (right-padded), with the batched group-query mask; positions restart at 0 in
    /// every row, so each output equals [`Lum::group_query`] of its group alone. Only the
    /// query positions are computed in the last layer.
    ///
    /// -> (sum of query counts, d) final-norm outputs, groups in order, queries in order.
    pub fn group_query_batch(&self, groups: &[QueryGroup]) -> Result<Tensor> {
        let d = self.cfg.d_model;
        let total: usize = groups.iter().map(|g| g.query_conds.len()).sum();
        if total == 0 {
            return Tensor::zeros((0, d), DType::F32, &self.device);
        }
        let max_keep = self.cfg.max_behaviors - 1;
        let mut keeps = Vec::with_capacity(groups.len());
        for (i, g) in groups.iter().enumerate() {
            if g.history_cond.len() != g.history_item.len() {
                return Err(candle_core::Error::wrap(ModelError::RaggedSequence { index: i, conds: g.history_cond.len(), items: g.history_item.len() }));
            }
            let bad_cond = g.history_cond.iter().chain(g.query_conds).any(|&c| c as usize >= self.n_conditions);
            let bad_item = g.history_item.iter().any(|&it| it as usize >= self.n_items);
            if bad_cond || bad_item {
                return Err(candle_core::Error::wrap(ModelError::SubTokens {
                    what: "group query",
                    reason: format!("group {i} names a condition or item id outside the model's tables"),
                }));
            }
            keeps.push(g.history_cond.len().min(max_keep));
        }
        let n_hist: Vec<usize> = keeps.iter().map(|k| 2 * k).collect();
        let n_query: Vec<usize> = groups.iter().map(|g| g.query_conds.len()).collect();
        let hist_end = n_hist.iter().copied().max().unwrap_or(0);
        let q_max = n_query.iter().copied().max().unwrap_or(0);
        let (b, l) = (groups.len(), hist_end + q_max);
        // Ids index the stacked table [conditions; items]; padding reads condition 0 at
        // position 0 and is masked out of every real token's attention.
        let n_cond = self.n_conditions as u32;
        let mut ids = vec![PAD_ID; b * l];
        let mut pos = vec![0u32; b * l];
        for (r, g) in groups.iter().enumerate() {
            let keep = keeps[r];
            let (hc, hi) = (&g.history_cond[g.history_cond.len() - keep..], &g.history_item[g.history_item.len() - keep..]);
            let start = r * l + hist_end - 2 * keep;
            for k in 0..keep {
                ids[start + 2 * k] = hc[k];
                ids[start + 2 * k + 1] = n_cond + hi[k];
                pos[start + 2 * k] = 2 * k as u32;
                pos[start + 2 * k + 1] = 2 * k as u32 + 1;
            }
            for (j, &q) in g.query_conds.iter().enumerate() {
                ids[r * l + hist_end + j] = q;
                pos[r * l + hist_end + j] = 2 * keep as u32;
            }
        }
        let table = Tensor::cat(&[&self.condition_table()?, &self.item_table()?], 0)?;
        let x = table.index_select(&Tensor::from_vec(ids, b * l, &self.device)?, 0)?;
        let p = self.position_table()?.index_select(&Tensor::from_vec(pos, b * l, &self.device)?, 0)?;
        let x = (x + p)?.reshape((b, l, d))?;
        let bias = mask::group_query_batch(&n_hist, &n_query, hist_end, l, &self.device)?;
        let rows = Tensor::arange(hist_end as u32, l as u32, &self.device)?;
        let h = self.transformer.forward_rows(&x, &bias, &rows, None)?; // (B, q_max, d)
        let h = self.transformer.final_norm(&h.reshape((b * q_max, d))?)?;
        let pick: Vec<u32> = n_query.iter().enumerate().flat_map(|(r, &n)| (0..n).map(move |j| (r * q_max + j) as u32)).collect();
        h.index_select(&Tensor::from_vec(pick, total, &self.device)?, 0)
    }
}

/// Stream label separating the dropout RNG from the initialisation RNG of the same seed.
const DROPOUT_STREAM: u64 = 0x5eed_d20b;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;
    use candle_core::IndexOp;
    use candle_nn::Optimizer;

    const N_ITEMS: usize = 30;
    const N_CONDS: usize = 6;

    /// A tiny tokenised world: items have 1-3 sub-tokens (pooled path), conditions one.
    struct World {
        item_off: Vec<u32>,
        item_ids: Vec<u32>,
        cond_off: Vec<u32>,
        cond_ids: Vec<u32>,
        vocab: usize,
    }

    fn world() -> World {
        let mut rng = Rng::new(11);
        let (mut item_off, mut item_ids) = (vec![0u32], Vec::new());
        for _ in 0..N_ITEMS {
            for _ in 0..1 + rng.index(3) {
                item_ids.push(1 + rng.index(20) as u32);
            }
            item_off.push(item_ids.len() as u32);
        }
        let cond_ids: Vec<u32> = (0..N_CONDS as u32).map(|c| 21 + c).collect();
        let cond_off: Vec<u32> = (0..=N_CONDS as u32).collect();
        World { item_off, item_ids, cond_off, cond_ids, vocab: 21 + N_CONDS }
    }

    fn cfg() -> LumConfig {
        LumConfig { d_model: 16, n_layers: 2, n_heads: 2, d_ff: 32, max_behaviors: 8, dropout: 0.0, negatives: 8, ..Default::default() }
    }

    fn model(w: &World, cfg: &LumConfig) -> (Lum, VarMap) {
        let vm = VarMap::new();
        let m = Lum::with_varmap(
            &vm,
            cfg,
            RaggedIds::new(&w.item_off, &w.item_ids),
            RaggedIds::new(&w.cond_off, &w.cond_ids),
            w.vocab,
            &Device::Cpu,
        )
        .unwrap();
        (m, vm)
    }

    fn random_seqs(rng: &mut Rng, n: usize, min: usize, max: usize) -> Vec<(Vec<u32>, Vec<u32>)> {
        (0..n)
            .map(|_| {
                let len = min + rng.index(max - min + 1);
                ((0..len).map(|_| rng.index(N_CONDS) as u32).collect(), (0..len).map(|_| rng.index(N_ITEMS) as u32).collect())
            })
            .collect()
    }

    fn close(a: &Tensor, b: &Tensor, tol: f32) -> bool {
        let d = (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        d < tol
    }

    #[test]
    fn shapes_for_several_batch_sizes() {
        let w = world();
        let (m, _) = model(&w, &cfg());
        let mut rng = Rng::new(1);
        for (b, maxlen) in [(1, 1), (2, 3), (3, 8), (5, 12)] {
            let seqs = random_seqs(&mut rng, b, 1, maxlen);
            let batch = batch_from_sequences(&seqs, 8, false, &Device::Cpu).unwrap();
            let (bb, t) = batch.dims().unwrap();
            assert_eq!(bb, b);
            assert!(t <= 8);
            let (h, attn) = m.encode(&batch, true).unwrap();
            assert_eq!(h.dims(), &[b, 2 * t, 16]);
            let attn = attn.unwrap();
            assert_eq!(attn.len(), 2);
            assert_eq!(attn[0].dims(), &[b, 2, 2 * t, 2 * t]);
            assert_eq!(m.encode_conditions(&batch).unwrap().dims(), &[b, t, 16]);
            let negs = m.sample_negatives(&mut rng, 8).unwrap();
            let loss = m.loss(&batch, &negs, true).unwrap().to_scalar::<f32>().unwrap();
            assert!(loss.is_finite() && loss > 0.0);
        }
        assert_eq!(m.item_table().unwrap().dims(), &[N_ITEMS, 16]);
    }

    #[test]
    fn condition_outputs_equal_full_encode_at_even_positions() {
        let w = world();
        let (m, _) = model(&w, &cfg());
        let seqs = random_seqs(&mut Rng::new(2), 3, 2, 6);
        for packing in [false, true] {
            let batch = batch_from_sequences(&seqs, 8, packing, &Device::Cpu).unwrap();
            let (_, t) = batch.dims().unwrap();
            let full = m.encode(&batch, false).unwrap().0;
            let even = full.index_select(&Tensor::arange_step(0u32, 2 * t as u32, 2, &Device::Cpu).unwrap(), 1).unwrap();
            assert!(close(&even, &m.encode_conditions(&batch).unwrap(), 1e-5));
        }
    }

    #[test]
    fn causal_output_ignores_later_tokens() {
        let w = world();
        let (m, _) = model(&w, &cfg());
        let mut rng = Rng::new(3);
        let seqs = random_seqs(&mut rng, 2, 6, 6);
        let mut changed = seqs.clone();
        for s in &mut changed {
            s.0[4] = (s.0[4] + 1) % N_CONDS as u32;
            s.1[3] = (s.1[3] + 5) % N_ITEMS as u32;
            s.1[5] = (s.1[5] + 2) % N_ITEMS as u32;
        }
        let h1 = m.encode(&batch_from_sequences(&seqs, 8, false, &Device::Cpu).unwrap(), false).unwrap().0;
        let h2 = m.encode(&batch_from_sequences(&changed, 8, false, &Device::Cpu).unwrap(), false).unwrap().0;
        // First change is item 3 = token 7: tokens 0..=6 must be identical, token 7 must differ.
        assert!(close(&h1.narrow(1, 0, 7).unwrap(), &h2.narrow(1, 0, 7).unwrap(), 1e-6));
        assert!(!close(&h1.narrow(1, 7, 1).unwrap(), &h2.narrow(1, 7, 1).unwrap(), 1e-3));
    }

    #[test]
    fn packing_isolates_segments_and_matches_unpacked() {
        let w = world();
        let (m, _) = model(&w, &cfg());
        let mut rng = Rng::new(4);
        let seqs = random_seqs(&mut rng, 4, 2, 4);
        let packed = batch_from_sequences(&seqs, 8, true, &Device::Cpu).unwrap();
        assert!(packed.dims().unwrap().0 < 4, "short sequences share rows");
        let hp = m.encode(&packed, false).unwrap().0;
        // Each packed segment equals the same sequence encoded alone.
        for (s, span) in seqs.iter().zip(&packed.spans) {
            let alone = batch_from_sequences(std::slice::from_ref(s), 8, false, &Device::Cpu).unwrap();
            let ha = m.encode(&alone, false).unwrap().0;
            let seg = hp.i(span.row).unwrap().narrow(0, 2 * span.start, 2 * span.len).unwrap();
            assert!(close(&seg, &ha.i(0).unwrap(), 1e-5), "segment differs from its solo encoding");
        }
        // Perturbing one sequence changes no other segment.
        let mut changed = seqs.clone();
        changed[0].1[0] = (changed[0].1[0] + 1) % N_ITEMS as u32;
        changed[0].0[1] = (changed[0].0[1] + 1) % N_CONDS as u32;
        let hc = m.encode(&batch_from_sequences(&changed, 8, true, &Device::Cpu).unwrap(), false).unwrap().0;
        for (i, span) in packed.spans.iter().enumerate() {
            let a = hp.i(span.row).unwrap().narrow(0, 2 * span.start, 2 * span.len).unwrap();
            let b = hc.i(span.row).unwrap().narrow(0, 2 * span.start, 2 * span.len).unwrap();
            assert_eq!(close(&a, &b, 1e-6), i != 0, "sequence {i}");
        }
    }

    #[test]
    fn batch_builder_keeps_most_recent_and_pads() {
        let seqs = vec![(vec![1u32, 2, 3, 4, 5], vec![10u32, 20, 30, 40, 50]), (vec![7], vec![70])];
        let b = batch_from_sequences(&seqs, 3, false, &Device::Cpu).unwrap();
        assert_eq!(b.item.to_vec2::<u32>().unwrap(), vec![vec![30, 40, 50], vec![70, PAD_ID, PAD_ID]]);
        assert_eq!(b.valid.to_vec2::<f32>().unwrap(), vec![vec![1.0, 1.0, 1.0], vec![1.0, 0.0, 0.0]]);
        assert_eq!(b.spans[0], SeqSpan { row: 0, start: 0, len: 3, dropped: 2 });
        let p = batch_from_sequences(&seqs, 4, true, &Device::Cpu).unwrap();
        assert_eq!(p.dims().unwrap(), (2, 4));
        assert_eq!(p.positions.unwrap().to_vec2::<u32>().unwrap()[1], vec![0, 1, 0, 0, 0, 0, 0, 0]);
        let bad = vec![(vec![1u32, 2], vec![3u32])];
        assert!(batch_from_sequences(&bad, 4, false, &Device::Cpu).is_err());
    }

    #[test]
    fn group_query_equals_single_queries() {
        let w = world();
        let (m, _) = model(&w, &cfg());
        let hc = [0u32, 3, 1, 5, 2];
        let hi = [4u32, 9, 17, 2, 25];
        let queries = [1u32, 4, 0, 4];
        let all = m.group_query(&hc, &hi, &queries).unwrap();
        assert_eq!(all.dims(), &[4, 16]);
        for (j, &q) in queries.iter().enumerate() {
            let one = m.group_query(&hc, &hi, &[q]).unwrap();
            assert!(close(&all.narrow(0, j, 1).unwrap(), &one, 1e-4), "query {j}");
            // Same as an ordinary causal forward with q as the next condition.
            let mut c = hc.to_vec();
            c.push(q);
            let mut it = hi.to_vec();
            it.push(0);
            let batch = batch_from_sequences(&[(c, it)], 8, false, &Device::Cpu).unwrap();
            let h = m.encode(&batch, false).unwrap().0;
            assert!(close(&h.i((0, 10)).unwrap().unsqueeze(0).unwrap(), &one, 1e-4));
        }
        // Changing the other queries leaves query 0 unchanged.
        let other = m.group_query(&hc, &hi, &[1, 2, 3]).unwrap();
        assert!(close(&other.narrow(0, 0, 1).unwrap(), &all.narrow(0, 0, 1).unwrap(), 1e-5));
        // The history is cut to max_behaviors - 1 behaviours so the query position fits.
        let long: Vec<u32> = (0..20).map(|i| i % N_CONDS as u32).collect();
        let long_items: Vec<u32> = (0..20).collect();
        assert_eq!(m.group_query(&long, &long_items, &[1, 2]).unwrap().dims(), &[2, 16]);
    }

    #[test]
    fn group_query_batch_equals_one_group_at_a_time() {
        let w = world();
        let (m, _) = model(&w, &cfg());
        let mut rng = Rng::new(9);
        // Histories of 0..=12 behaviours (some longer than the model keeps), 1-3 queries each.
        let hists = random_seqs(&mut rng, 6, 0, 12);
        let queries: Vec<Vec<u32>> = (0..6).map(|i| (0..1 + i % 3).map(|_| rng.index(N_CONDS) as u32).collect()).collect();
        let groups: Vec<QueryGroup> =
            hists.iter().zip(&queries).map(|(h, q)| QueryGroup { history_cond: &h.0, history_item: &h.1, query_conds: q }).collect();
        let all = m.group_query_batch(&groups).unwrap();
        assert_eq!(all.dims(), &[queries.iter().map(Vec::len).sum::<usize>(), 16]);
        let mut at = 0;
        for g in &groups {
            let one = m.group_query(g.history_cond, g.history_item, g.query_conds).unwrap();
            let n = g.query_conds.len();
            assert!(close(&all.narrow(0, at, n).unwrap(), &one, 1e-5), "group at row {at}");
            at += n;
        }
        assert!(m.group_query_batch(&[QueryGroup { history_cond: &[0], history_item: &[0], query_conds: &[N_CONDS as u32] }]).is_err());
        assert_eq!(m.group_query_batch(&[]).unwrap().dims(), &[0, 16]);
    }

    #[test]
    fn attention_rows_are_distributions_within_masks() {
        let w = world();
        let (m, _) = model(&w, &cfg());
        let seqs = random_seqs(&mut Rng::new(5), 3, 1, 4);
        let batch = batch_from_sequences(&seqs, 8, true, &Device::Cpu).unwrap();
        let (b, t) = batch.dims().unwrap();
        let l = 2 * t;
        let seg = batch.segment.as_ref().unwrap().to_vec2::<u32>().unwrap();
        let attn = m.encode(&batch, true).unwrap().1.unwrap();
        for layer in attn {
            let p = layer.to_dtype(DType::F32).unwrap();
            let v: Vec<Vec<Vec<Vec<f32>>>> = (0..b).map(|r| p.i(r).unwrap().to_vec3::<f32>().unwrap()).collect();
            for r in 0..b {
                for head in &v[r] {
                    for i in 0..l {
                        let sum: f32 = head[i].iter().sum();
                        assert!((sum - 1.0).abs() < 1e-5);
                        for j in 0..l {
                            if j > i || seg[r][i] != seg[r][j] {
                                assert_eq!(head[i][j], 0.0, "row {r} ({i},{j})");
                            }
                        }
                    }
                }
            }
        }
        let (_, gq) = m.group_query_with_attention(&[1, 2], &[3, 4], &[0, 5]).unwrap();
        let p = gq[0].i((0, 0)).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!(p[4][5], 0.0);
        assert_eq!(p[5][4], 0.0);
        assert!((p[5].iter().sum::<f32>() - 1.0).abs() < 1e-5);
        // Without queries: no outputs, but the history's causal attention is captured.
        let (out, hist) = m.group_query_with_attention(&[1, 2], &[3, 4], &[]).unwrap();
        assert_eq!(out.dims(), &[0, 16]);
        let p = hist[0].i((0, 1)).unwrap().to_vec2::<f32>().unwrap();
        assert_eq!((p.len(), p[0][1], p[2][3]), (4, 0.0, 0.0));
        assert!(p.iter().all(|row| (row.iter().sum::<f32>() - 1.0).abs() < 1e-5));
    }

    #[test]
    fn overfits_one_batch() {
        let w = world();
        let cfg = LumConfig { dropout: 0.1, temperature: 0.1, ..cfg() };
        let (m, vm) = model(&w, &cfg);
        let mut rng = Rng::new(6);
        let seqs = random_seqs(&mut rng, 4, 5, 8);
        let batch = batch_from_sequences(&seqs, 8, false, &Device::Cpu).unwrap();
        let negs = m.sample_negatives(&mut rng, 8).unwrap();
        let params = candle_nn::ParamsAdamW { lr: 1e-2, ..Default::default() };
        let mut opt = candle_nn::AdamW::new(vm.all_vars(), params).unwrap();
        let first = m.loss(&batch, &negs, false).unwrap().to_scalar::<f32>().unwrap();
        for _ in 0..100 {
            let loss = m.loss(&batch, &negs, true).unwrap();
            opt.backward_step(&loss).unwrap();
        }
        let last = m.loss(&batch, &negs, false).unwrap().to_scalar::<f32>().unwrap();
        assert!(last < 0.3 * first, "loss {first} -> {last}");
    }

    #[test]
    fn id_tables_are_direct_and_gradients_reach_every_parameter() {
        let item_off: Vec<u32> = (0..=10).collect();
        let item_ids: Vec<u32> = (1..=10).collect();
        let cond_off: Vec<u32> = (0..=3).collect();
        let cond_ids: Vec<u32> = (11..14).collect();
        let vm = VarMap::new();
        let m = Lum::with_varmap(&vm, &cfg(), RaggedIds::new(&item_off, &item_ids), RaggedIds::new(&cond_off, &cond_ids), 14, &Device::Cpu)
            .unwrap();
        let names: Vec<String> = vm.data().lock().unwrap().keys().cloned().collect();
        assert!(names.contains(&"item_emb".to_string()) && !names.iter().any(|n| n.starts_with("sub_emb")));
        let seqs = vec![(vec![0u32, 1, 2], vec![3u32, 4, 5])];
        let batch = batch_from_sequences(&seqs, 8, false, &Device::Cpu).unwrap();
        let loss = m.loss(&batch, &Tensor::new(&[1u32, 7, 8], &Device::Cpu).unwrap(), false).unwrap();
        let grads = loss.backward().unwrap();
        for (name, var) in vm.data().lock().unwrap().iter() {
            let g = grads.get(var).unwrap_or_else(|| panic!("no gradient for {name}"));
            let norm = g.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(norm > 0.0, "zero gradient for {name}");
        }
    }
}
