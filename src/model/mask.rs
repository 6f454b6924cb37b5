//! Additive attention masks (0 = may attend, -inf = may not) for the three sequence
//! layouts the LUM uses: one user per row (causal), several users packed per row
//! (block-diagonal causal) and group query (a shared history plus N appended queries
//! that see the history and themselves only).
//!
//! Masks are small `(Bm, L, L)` tensors that the fused attention softmax broadcasts over
//! heads (and over the batch when Bm = 1), so no `(B, H, L, L)` mask is ever built.

use candle_core::{Device, Result, Tensor};

/// Value of a masked entry.
pub const MASKED: f32 = f32::NEG_INFINITY;

/// Causal mask: query i may see keys j <= i.  -> (1, L, L) f32
pub fn causal(l: usize, device: &Device) -> Result<Tensor> {
    let mut m = vec![0f32; l * l];
    for i in 0..l {
        m[i * l + i + 1..(i + 1) * l].fill(MASKED);
    }
    Tensor::from_vec(m, (1, l, l), device)
}

/// Block-diagonal causal mask for packed rows: query i may see key j when j <= i and both
/// carry the same segment id.
///
/// segments: B*L ids, row-major (B, L) -> (B, L, L) f32
pub fn packed(segments: &[u32], b: usize, l: usize, device: &Device) -> Result<Tensor> {
    if segments.len() != b * l {
        candle_core::bail!("packed mask: {} segment ids for a {b}x{l} batch", segments.len());
    }
    let mut m = vec![MASKED; b * l * l];
    for r in 0..b {
        let seg = &segments[r * l..(r + 1) * l];
        let rows = &mut m[r * l * l..(r + 1) * l * l];
        for i in 0..l {
            let row = &mut rows[i * l..(i + 1) * l];
            // Segments are contiguous runs, so walk back from i while the id matches.
            for j in (0..=i).rev() {
                if seg[j] != seg[i] {
                    break;
                }
                row[j] = 0.0;
            }
        }
    }
    Tensor::from_vec(m, (b, l, l), device)
}

/// Group-query mask over `n_hist` history tokens followed by `n_query` query tokens:
/// the history is causal; each query sees the whole history and itself, not other queries.
/// -> (1, L, L) f32 with L = n_hist + n_query
pub fn group_query(n_hist: usize, n_query: usize, device: &Device) -> Result<Tensor> {
    let l = n_hist + n_query;
    let mut m = vec![MASKED; l * l];
    for i in 0..l {
        let row = &mut m[i * l..(i + 1) * l];
        if i < n_hist {
            row[..=i].fill(0.0);
        } else {
            row[..n_hist].fill(0.0);
            row[i] = 0.0;
        }
    }
    Tensor::from_vec(m, (1, l, l), device)
}

/// Batched group-query mask. Row `b` holds `n_hist[b]` history tokens ending at column
/// `hist_end` (left-padded) and `n_query[b]` query tokens from column `hist_end` on
/// (right-padded): history is causal, each query sees its row's history and itself, and
/// a padding token sees only itself (so its softmax row stays finite; nothing reads it).
/// -> (B, L, L) f32 with B = n_hist.len()
pub fn group_query_batch(n_hist: &[usize], n_query: &[usize], hist_end: usize, l: usize, device: &Device) -> Result<Tensor> {
    let b = n_hist.len();
    if n_query.len() != b {
        candle_core::bail!("group-query mask: {b} histories but {} query counts", n_query.len());
    }
    if let Some(i) = (0..b).find(|&i| n_hist[i] > hist_end || hist_end + n_query[i] > l) {
        candle_core::bail!("group-query mask: row {i} ({} history, {} queries) does not fit {hist_end}/{l}", n_hist[i], n_query[i]);
    }
    let mut m = vec![MASKED; b * l * l];
    for r in 0..b {
        let rows = &mut m[r * l * l..(r + 1) * l * l];
        let start = hist_end - n_hist[r];
        let q_end = hist_end + n_query[r];
        for i in 0..l {
            let row = &mut rows[i * l..(i + 1) * l];
            if (start..hist_end).contains(&i) {
                row[start..=i].fill(0.0);
            } else if (hist_end..q_end).contains(&i) {
                row[start..hist_end].fill(0.0);
                row[i] = 0.0;
            } else {
                row[i] = 0.0;
            }
        }
    }
    Tensor::from_vec(m, (b, l, l), device)
}

/// Rows `rows` of a mask: (Bm, L, L) -> (Bm, rows.len(), L). Used when only some query
/// positions are needed (the last layer only has to produce condition positions).
pub fn select_rows(mask: &Tensor, rows: &Tensor) -> Result<Tensor> {
    mask.index_select(rows, 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed(m: &Tensor) -> Vec<Vec<Vec<bool>>> {
        m.to_vec3::<f32>().unwrap().into_iter().map(|b| b.into_iter().map(|r| r.into_iter().map(|v| v == 0.0).collect()).collect()).collect()
    }

    #[test]
    fn causal_and_group_query_masks() {
        let c = allowed(&causal(4, &Device::Cpu).unwrap());
        for i in 0..4 {
            for j in 0..4 {
                assert_eq!(c[0][i][j], j <= i);
            }
        }
        let g = allowed(&group_query(3, 2, &Device::Cpu).unwrap());
        assert_eq!(g[0][3], vec![true, true, true, true, false]);
        assert_eq!(g[0][4], vec![true, true, true, false, true]);
        assert_eq!(g[0][1], vec![true, true, false, false, false]);
    }

    #[test]
    fn batched_group_query_mask_matches_single_group_mask() {
        // Row 0: 2 history tokens (left-padded by 2) + 1 query (+1 padding); row 1: 4 + 2.
        let m = allowed(&group_query_batch(&[2, 4], &[1, 2], 4, 6, &Device::Cpu).unwrap());
        assert_eq!(m[0][0], vec![true, false, false, false, false, false], "padding sees itself");
        assert_eq!(m[0][3], vec![false, false, true, true, false, false]);
        assert_eq!(m[0][4], vec![false, false, true, true, true, false]);
        assert_eq!(m[0][5], vec![false, false, false, false, false, true]);
        // Row 1 without padding is exactly the single-group mask.
        let single = allowed(&group_query(4, 2, &Device::Cpu).unwrap());
        assert_eq!(m[1], single[0]);
        assert!(group_query_batch(&[5], &[1], 4, 6, &Device::Cpu).is_err());
    }

    #[test]
    fn packed_mask_is_block_diagonal() {
        let seg = [0, 0, 1, 1, 1, 7, 0, 0, 0, 0, 0, 0];
        let p = allowed(&packed(&seg, 2, 6, &Device::Cpu).unwrap());
        assert_eq!(p[0][3], vec![false, false, true, true, false, false]);
        assert_eq!(p[0][5], vec![false, false, false, false, false, true]);
        assert_eq!(p[1][5], vec![true; 6]);
        assert!(packed(&seg, 2, 5, &Device::Cpu).is_err());
    }
}
