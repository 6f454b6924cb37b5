//! Training objectives read at selected output positions: InfoNCE (cosine / temperature,
//! the LUM's) and sampled softmax (dot product, SASRec's). Both score a positive against
//! negatives sampled uniformly from the catalogue and shared by the whole batch; a negative
//! equal to the row's positive is masked out, and rows are averaged over `valid` positions.

use candle_core::{Result, Tensor};

use super::kernels;

/// Sum(rows * valid) / max(sum(valid), 1). rows, valid: (N,) f32 -> scalar
pub fn masked_mean(rows: &Tensor, valid: &Tensor) -> Result<Tensor> {
    let total = (rows * valid)?.sum_all()?;
    let count = valid.sum_all()?.clamp(1f32, f32::INFINITY)?;
    total / count
}

/// InfoNCE: cross-entropy of `[cos(h, pos), cos(h, neg_1..K)] / temperature` against the
/// positive, averaged over valid rows (LUM, DESIGN section 1).
///
/// hidden: (N, d); pos_emb: (N, d); neg_emb: (K, d); targets: (N,) u32 ids of the positives;
/// negatives: (K,) u32; valid: (N,) f32 -> scalar
pub fn info_nce(
    hidden: &Tensor,
    pos_emb: &Tensor,
    neg_emb: &Tensor,
    targets: &Tensor,
    negatives: &Tensor,
    valid: &Tensor,
    temperature: f64,
) -> Result<Tensor> {
    let h = kernels::l2_normalize(hidden)?;
    let p = kernels::l2_normalize(pos_emb)?;
    let n = kernels::l2_normalize(neg_emb)?;
    let cos_pos = (&h * &p)?.sum(1)?;
    let cos_neg = h.matmul(&n.t()?)?;
    let rows = kernels::sampled_softmax_ce(&cos_pos, &cos_neg, targets, negatives, 1.0 / temperature)?;
    masked_mean(&rows, valid)
}

/// Sampled softmax: cross-entropy of `[h . pos, h . neg_1..K]` against the positive,
/// averaged over valid rows (SASRec-style baseline). Shapes as [`info_nce`].
pub fn sampled_softmax(
    hidden: &Tensor,
    pos_emb: &Tensor,
    neg_emb: &Tensor,
    targets: &Tensor,
    negatives: &Tensor,
    valid: &Tensor,
) -> Result<Tensor> {
    let pos = (hidden * pos_emb)?.sum(1)?;
    let neg = hidden.matmul(&neg_emb.t()?)?;
    let rows = kernels::sampled_softmax_ce(&pos, &neg, targets, negatives, 1.0)?;
    masked_mean(&rows, valid)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Plain-f32 InfoNCE for one row, written out independently of the tensor code.
    fn reference_row(h: &[f32], pos: &[f32], negs: &[&[f32]], masked: &[bool], temp: f32) -> f32 {
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>() / (norm(a) * norm(b));
        let z0 = cos(h, pos) / temp;
        let mut denom = z0.exp();
        for (n, &m) in negs.iter().zip(masked) {
            if !m {
                denom += (cos(h, n) / temp).exp();
            }
        }
        denom.ln() - z0
    }

    #[test]
    fn info_nce_matches_hand_computation() {
        let dev = Device::Cpu;
        let h = [[1.0f32, 0.5, -0.2], [0.3, -1.0, 0.8], [0.0, 2.0, 1.0]];
        let items = [[0.5f32, 0.1, 0.0], [-0.4, 0.9, 0.3], [1.0, 1.0, -1.0], [0.2, -0.3, 0.7]];
        let targets = [1u32, 3, 0];
        let negatives = [3u32, 2, 1];
        let valid = [1.0f32, 1.0, 0.0];
        let temp = 0.5f32;
        let mut want = 0.0;
        for r in 0..2 {
            let negs: Vec<&[f32]> = negatives.iter().map(|&n| &items[n as usize][..]).collect();
            let masked: Vec<bool> = negatives.iter().map(|&n| n == targets[r]).collect();
            want += reference_row(&h[r], &items[targets[r] as usize], &negs, &masked, temp);
        }
        want /= 2.0;

        let table = Tensor::new(&items, &dev).unwrap();
        let t = Tensor::new(&targets, &dev).unwrap();
        let n = Tensor::new(&negatives, &dev).unwrap();
        let got = info_nce(
            &Tensor::new(&h, &dev).unwrap(),
            &table.index_select(&t, 0).unwrap(),
            &table.index_select(&n, 0).unwrap(),
            &t,
            &n,
            &Tensor::new(&valid, &dev).unwrap(),
            temp as f64,
        )
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }

    #[test]
    fn sampled_softmax_matches_hand_computation() {
        let dev = Device::Cpu;
        let h = [[1.0f32, -1.0]];
        let items = [[2.0f32, 0.0], [0.0, 1.0], [1.0, 1.0]];
        // target 0: logits [2, -1 (item 1), 0 (item 2)], item 0 as a negative is masked.
        let want = ((2f32).exp() + (-1f32).exp() + 1.0).ln() - 2.0;
        let t = Tensor::new(&[0u32], &dev).unwrap();
        let n = Tensor::new(&[1u32, 0, 2], &dev).unwrap();
        let table = Tensor::new(&items, &dev).unwrap();
        let got = sampled_softmax(
            &Tensor::new(&h, &dev).unwrap(),
            &table.index_select(&t, 0).unwrap(),
            &table.index_select(&n, 0).unwrap(),
            &t,
            &n,
            &Tensor::new(&[1.0f32], &dev).unwrap(),
        )
        .unwrap()
        .to_scalar::<f32>()
        .unwrap();
        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
    }
}
