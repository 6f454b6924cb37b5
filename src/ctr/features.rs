//! Frozen LUM outputs as CTR inputs: the [`LumFeatures`] hand-over struct
//! (filled by the post-train step) and the per-sample dense columns the +LUM
//! model reads: o(u,q), sim(o(u,q), e_t) and the SimTier histogram.
//!
//! Everything here is computed once before training: the LUM stays frozen
//! during CTR training (DESIGN §1), so these columns are plain inputs.

use super::config::{CtrConfig, FeatureSet, LumFeature};
use super::data::CtrSamples;
use super::whiten::Whitening;

/// Norm below which a vector is treated as zero (its cosines are 0).
const ZERO_NORM: f32 = 1e-12;

/// Frozen LUM outputs for every CTR sample.
///
/// `interest` row k belongs to the k-th entry of
/// [`impression_rows`](super::impression_rows) (dataset row order: user by
/// user, time order), and must be o(u,q) read from the user's history as of
/// that impression (behaviours strictly before it). `item_emb` row i is the
/// LUM embedding of dataset item i.
#[derive(Clone, Debug, PartialEq)]
pub struct LumFeatures {
    /// Where the vectors came from (e.g. `LUM run runs/pre1, post-train group query`); shown in reports.
    pub source: String,
    /// Name of the model that uses them in reports and `predictions.csv` (`+LUM`).
    pub label: String,
    /// Vector width d_lum.
    pub dim: usize,
    /// (n_impressions, dim) row-major, aligned with `impression_rows`.
    pub interest: Vec<f32>,
    /// (n_items, dim) row-major, indexed by dataset item id.
    pub item_emb: Vec<f32>,
}

/// Why LUM features do not fit the log they are used with.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LumFeatureError {
    #[error("LUM features: dim must be at least 1")]
    ZeroDim,
    #[error(
        "LUM features ({source_name}): {what} holds {found} values, expected {expected} ({rows} rows x dim {dim})"
    )]
    Shape {
        source_name: String,
        what: &'static str,
        found: usize,
        expected: usize,
        rows: usize,
        dim: usize,
    },
    #[error("LUM features ({source_name}): {what} row {row} has a non-finite value")]
    NonFinite {
        source_name: String,
        what: &'static str,
        row: usize,
    },
}

impl LumFeatures {
    /// LUM features labelled `+LUM`.
    pub fn new(
        source: impl Into<String>,
        dim: usize,
        interest: Vec<f32>,
        item_emb: Vec<f32>,
    ) -> Self {
        Self {
            source: source.into(),
            label: "+LUM".to_string(),
            dim,
            interest,
            item_emb,
        }
    }

    /// Checks the shapes against the samples and that every value is finite.
    pub fn validate(&self, n_samples: usize, n_items: usize) -> Result<(), LumFeatureError> {
        if self.dim == 0 {
            return Err(LumFeatureError::ZeroDim);
        }
        for (what, values, rows) in [
            ("interest", &self.interest, n_samples),
            ("item_emb", &self.item_emb, n_items),
        ] {
            if values.len() != rows * self.dim {
                return Err(LumFeatureError::Shape {
                    source_name: self.source.clone(),
                    what,
                    found: values.len(),
                    expected: rows * self.dim,
                    rows,
                    dim: self.dim,
                });
            }
            if let Some(k) = values.iter().position(|v| !v.is_finite()) {
                return Err(LumFeatureError::NonFinite {
                    source_name: self.source.clone(),
                    what,
                    row: k / self.dim,
                });
            }
        }
        Ok(())
    }
}

/// Dense per-sample inputs of a +LUM model.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtraInputs {
    /// Columns per sample.
    pub width: usize,
    /// (n_samples, width) row-major.
    pub values: Vec<f32>,
    /// A name per column (`interest[0]`, `sim`, `simtier[-1.0,-0.8)`, ...), for reports.
    pub columns: Vec<String>,
}

impl ExtraInputs {
    /// Row of sample `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

/// Unit-length copies of the rows of a (rows, dim) matrix; zero rows stay zero.
fn unit_rows(values: &[f32], dim: usize) -> Vec<f32> {
    let mut out = values.to_vec();
    for row in out.chunks_mut(dim) {
        let norm = row.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > ZERO_NORM {
            row.iter_mut().for_each(|v| *v /= norm);
        } else {
            row.iter_mut().for_each(|v| *v = 0.0);
        }
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// SimTier tier of a cosine: `bins` equal-width tiers on [-1, 1], 1.0 in the last.
pub fn simtier_bin(cos: f32, bins: usize) -> usize {
    let t = ((cos.clamp(-1.0, 1.0) + 1.0) * 0.5 * bins as f32).floor() as usize;
    t.min(bins - 1)
}

/// Column names of the chosen features.
fn column_names(features: &FeatureSet, dim: usize, bins: usize) -> Vec<String> {
    let mut cols = Vec::new();
    for f in features.features() {
        match f {
            LumFeature::Interest => cols.extend((0..dim).map(|k| format!("interest[{k}]"))),
            LumFeature::Sim => cols.push("sim".to_string()),
            LumFeature::Simtier => cols.extend((0..bins).map(|b| {
                let lo = -1.0 + 2.0 * b as f64 / bins as f64;
                let hi = -1.0 + 2.0 * (b + 1) as f64 / bins as f64;
                format!(
                    "simtier[{lo:.2},{hi:.2}{}",
                    if b + 1 == bins { "]" } else { ")" }
                )
            })),
        }
    }
    cols
}

/// The +LUM model's inputs for every sample, in [`LumFeature::ALL`] order:
/// - `interest`: o(u,q) scaled to unit length (the LUM is trained with cosine
///   similarity, so only the direction carries meaning and the scale is ours
///   to choose; at unit length its entries sit on the scale of the id
///   embeddings, while √dim scaling let the vector dominate the first layer
///   and cost 0.02 test AUC with the sanity features on the sample world);
/// - `sim`: cos(o(u,q), e_t);
/// - `simtier`: counts of cos(e_t, e_h) over the history items h in
///   `cfg.simtier_bins` equal-width tiers on [-1, 1], divided by the number of
///   history items (all zero for an empty history). The history is the whole
///   sequence before the impression, or its last `cfg.simtier_history` items.
///   With `cfg.whiten` these item-to-item cosines are taken after whitening
///   the item embeddings ([`Whitening`]); `interest` and `sim` always use the
///   LUM's own space (whitening by the items' statistics measured as noise on
///   o(u,q): its correlation with query relevance fell from 0.87 to 0.09).
///
/// `lum` must have passed [`LumFeatures::validate`] for these samples.
pub fn lum_inputs(
    samples: &CtrSamples,
    lum: &LumFeatures,
    features: &FeatureSet,
    cfg: &CtrConfig,
) -> ExtraInputs {
    let dim = lum.dim;
    let bins = cfg.simtier_bins;
    let interest = unit_rows(&lum.interest, dim);
    let items = unit_rows(&lum.item_emb, dim);
    // Item-to-item cosines (SimTier) in the whitened item space; o(u,q) is not
    // an item embedding, so sim stays the LUM's own score (raw cosine).
    let whitened = cfg
        .whiten
        .then(|| Whitening::fit(&lum.item_emb, dim))
        .flatten()
        .map(|w| unit_rows(&w.apply(&lum.item_emb), dim));
    let tier_items = whitened.as_deref().unwrap_or(&items);
    let columns = column_names(features, dim, bins);
    let width = columns.len();
    let n = samples.len();
    let fill = |i: usize, row: &mut [f32]| {
        let o = &interest[i * dim..(i + 1) * dim];
        let t = samples.item[i] as usize;
        let et = &items[t * dim..(t + 1) * dim];
        let mut col = 0;
        for f in features.features() {
            match f {
                LumFeature::Interest => {
                    row[col..col + dim].copy_from_slice(o);
                    col += dim;
                }
                LumFeature::Sim => {
                    row[col] = dot(o, et);
                    col += 1;
                }
                LumFeature::Simtier => {
                    let hist = if cfg.simtier_history == 0 {
                        samples.full_history(i)
                    } else {
                        samples.recent_history(i, cfg.simtier_history)
                    };
                    let tiers = &mut row[col..col + bins];
                    let et = &tier_items[t * dim..(t + 1) * dim];
                    for &h in hist {
                        let eh = &tier_items[h as usize * dim..(h as usize + 1) * dim];
                        tiers[simtier_bin(dot(et, eh), bins)] += 1.0;
                    }
                    if !hist.is_empty() {
                        let inv = 1.0 / hist.len() as f32;
                        tiers.iter_mut().for_each(|v| *v *= inv);
                    }
                    col += bins;
                }
            }
        }
    };
    let mut values = vec![0f32; n * width];
    if width > 0 {
        // Samples are independent: split them over threads (results do not depend on the split).
        let threads = std::thread::available_parallelism()
            .map_or(1, |t| t.get())
            .clamp(1, 8);
        let per = n.div_ceil(threads).max(1);
        std::thread::scope(|s| {
            for (c, chunk) in values.chunks_mut(per * width).enumerate() {
                let fill = &fill;
                s.spawn(move || {
                    for (k, row) in chunk.chunks_mut(width).enumerate() {
                        fill(c * per + k, row);
                    }
                });
            }
        });
    }
    ExtraInputs {
        width,
        values,
        columns,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simtier_bins_are_equal_width_on_minus_one_one() {
        assert_eq!(simtier_bin(-1.0, 10), 0);
        assert_eq!(simtier_bin(-0.81, 10), 0);
        assert_eq!(simtier_bin(-0.79, 10), 1);
        assert_eq!(simtier_bin(0.0, 10), 5);
        assert_eq!(simtier_bin(0.5, 10), 7);
        assert_eq!(simtier_bin(1.0, 10), 9);
        assert_eq!(simtier_bin(1.5, 4), 3);
        assert_eq!(simtier_bin(f32::NAN.max(-1.0), 4), 0);
    }

    #[test]
    fn validate_reports_shapes() {
        let lum = LumFeatures::new("test", 2, vec![0.0; 6], vec![0.0; 4]);
        assert!(lum.validate(3, 2).is_ok());
        let e = lum.validate(4, 2).unwrap_err();
        assert!(
            e.to_string()
                .contains("interest holds 6 values, expected 8"),
            "{e}"
        );
        let bad = LumFeatures::new(
            "test",
            2,
            vec![0.0, f32::NAN, 0.0, 0.0, 0.0, 0.0],
            vec![0.0; 4],
        );
        assert_eq!(
            bad.validate(3, 2).unwrap_err(),
            LumFeatureError::NonFinite {
                source_name: "test".into(),
                what: "interest",
                row: 0
            }
        );
    }
}
