//! Multi-head masked attention read straight from the fused qkv projection.
//!
//! On the CPU (f32) this is one custom op with a hand-written backward pass: for every
//! (batch row, head) in parallel it runs `S = Q K^T`, the masked softmax and `Y = P V` with
//! single-threaded `gemm` calls on strided views of the (B, L, 3d) qkv buffer, and the
//! backward does the four gradient products the same way. Compared with composing candle
//! ops this removes the head split/merge copies, the (B, H, L, L) score and probability
//! tensors' gradient buffers and candle's per-batch loop of tiny matrix products; the
//! probabilities are kept once, for the backward pass and for visualisation.
//! Other devices and dtypes run the composed version (same maths, candle autograd).

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp2, DType, Layout, Result, Shape, Tensor};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::kernels;

/// Attention of queries at `rows` (all L positions when `None`) over all L keys.
///
/// qkv: (B, L, 3d) f32, [q | k | v] with heads as contiguous d/H column blocks (PyTorch's
/// `split` + `view` layout); bias: (Bm, Lq, L) additive mask, Bm = 1 or B; rows: (Lq,) u32
/// distinct positions -> ((B, Lq, d) head outputs merged, probabilities (B, H, Lq, L) when `capture`)
pub fn attention(
    qkv: &Tensor,
    bias: &Tensor,
    rows: Option<&Tensor>,
    n_heads: usize,
    capture: bool,
) -> Result<(Tensor, Option<Tensor>)> {
    let (b, l, d3) = qkv.dims3()?;
    if d3 % (3 * n_heads.max(1)) != 0 || n_heads == 0 {
        candle_core::bail!("attention: qkv width {d3} does not split into 3 x {n_heads} heads");
    }
    if qkv.device().is_cpu() && qkv.dtype() == DType::F32 {
        let rows_host = rows.map(|r| r.to_vec1::<u32>()).transpose()?;
        if let Some(r) = &rows_host
            && r.iter().any(|&p| p as usize >= l)
        {
            candle_core::bail!("attention: query row outside 0..{l}");
        }
        let lq = rows_host.as_ref().map_or(l, Vec::len);
        let saved = Arc::new(Mutex::new(None));
        let op = FusedAttention { n_heads, scale: scale(d3 / 3, n_heads), rows: rows_host.map(Arc::new), saved: saved.clone() };
        let y = qkv.contiguous()?.apply_op2(&bias.contiguous()?, op)?;
        let probs = if capture {
            let p = saved.lock().map_err(|_| poisoned())?.clone();
            match p {
                Some(p) => Some(Tensor::from_vec(p.probs.as_ref().clone(), (b, n_heads, lq, l), qkv.device())?),
                None => candle_core::bail!("attention: probabilities were not kept"),
            }
        } else {
            None
        };
        return Ok((y, probs));
    }
    composed(qkv, bias, rows, n_heads, capture)
}

fn scale(d: usize, n_heads: usize) -> f32 {
    1.0 / ((d / n_heads) as f32).sqrt()
}

fn poisoned() -> candle_core::Error {
    candle_core::Error::Msg("attention probabilities lock poisoned".into())
}

/// The same attention from candle primitives (any device, any float dtype).
fn composed(qkv: &Tensor, bias: &Tensor, rows: Option<&Tensor>, h: usize, capture: bool) -> Result<(Tensor, Option<Tensor>)> {
    let (b, l, d3) = qkv.dims3()?;
    let d = d3 / 3;
    let dh = d / h;
    let qkv = qkv.reshape((b, l, 3, h, dh))?.permute((2, 0, 3, 1, 4))?.contiguous()?;
    let (q, k, v) = (qkv.get(0)?, qkv.get(1)?, qkv.get(2)?); // each (B, H, L, dh)
    let q = match rows {
        Some(r) => q.index_select(r, 2)?,
        None => q,
    };
    let lq = q.dim(2)?;
    let probs = kernels::attention_softmax(&q.matmul(&k.t()?)?, bias, scale(d, h) as f64)?;
    let y = probs.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((b, lq, d))?;
    Ok((y, capture.then_some(probs)))
}

/// A raw pointer that rayon tasks may share because each writes a disjoint region.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: only used for writes to disjoint (batch row, head) regions, see the call sites.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

/// `dst (m x n) [+]= lhs (m x k) * rhs (k x n)`, every operand a strided view
/// (element (i, j) of X at `X + i * X_rs + j * X_cs`), single-threaded.
///
/// # Safety
/// The views must lie inside live allocations; `dst` must not overlap the inputs.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul(
    accumulate: bool,
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: isize,
    lhs: *const f32,
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: *const f32,
    rhs_rs: isize,
    rhs_cs: isize,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        let alpha = if accumulate { 1.0 } else { 0.0 };
        gemm(m, n, k, dst, 1, dst_rs, accumulate, lhs, lhs_cs, lhs_rs, rhs, rhs_cs, rhs_rs, alpha, 1.0, false, false, false, Parallelism::None)
    }
}

/// Geometry shared by the forward and backward kernels.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    l: usize,
    lq: usize,
    h: usize,
    d: usize,
    dh: usize,
}

impl Dims {
    fn d3(&self) -> usize {
        3 * self.d
    }
    /// Offset of head `hi`'s block of part `part` (0 q, 1 k, 2 v) in batch row `bi`.
    fn part(&self, bi: usize, part: usize, hi: usize) -> usize {
        bi * self.l * self.d3() + part * self.d + hi * self.dh
    }
}

/// Queries of one (batch row, head): a strided view into qkv, or gathered rows.
fn gather_queries(qkv: &[f32], dims: &Dims, bi: usize, hi: usize, rows: &[u32], buf: &mut Vec<f32>) {
    buf.clear();
    let base = dims.part(bi, 0, hi);
    for &r in rows {
        let s = base + r as usize * dims.d3();
        buf.extend_from_slice(&qkv[s..s + dims.dh]);
    }
}

/// Query rows per block: a block only touches keys up to the last one any of its rows may
/// see, which skips about 40% of the products under a causal mask.
const ROW_BLOCK: usize = 16;

/// What the forward pass leaves for the backward pass.
#[derive(Clone)]
struct Saved {
    probs: Arc<Vec<f32>>,
    /// Per bias plane and query row: one past the last key it may attend to.
    key_end: Arc<Vec<usize>>,
    bias_planes: usize,
}

/// Key range (0..end) of each query row block of bias plane `plane`.
fn block_key_end(key_end: &[usize], lq: usize, plane: usize, r0: usize) -> usize {
    let rows = &key_end[plane * lq..(plane + 1) * lq];
    rows[r0..(r0 + ROW_BLOCK).min(lq)].iter().copied().max().unwrap_or(0)
}

struct FusedAttention {
    n_heads: usize,
    scale: f32,
    rows: Option<Arc<Vec<u32>>>,
    /// Probabilities (B, H, Lq, L) of the last forward, for the backward pass and capture.
    saved: Arc<Mutex<Option<Saved>>>,
}

fn dims_of(qkv: &Layout, bias: &Layout, n_heads: usize, rows: Option<&Arc<Vec<u32>>>) -> Result<(Dims, usize)> {
    let (b, l, d3) = qkv.shape().dims3()?;
    let (bm, bq, bk) = bias.shape().dims3()?;
    let d = d3 / 3;
    let lq = rows.map_or(l, |r| r.len());
    if (bm != 1 && bm != b) || bq != lq || bk != l {
        candle_core::bail!("attention bias {:?} does not fit {lq} queries over {l} keys, batch {b}", bias.shape());
    }
    Ok((Dims { b, l, lq, h: n_heads, d, dh: d / n_heads }, bm))
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("attention: input must be contiguous"),
    }
}

impl CustomOp2 for FusedAttention {
    fn name(&self) -> &'static str {
        "lum-fused-attention"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = slice(s1, l1)?;
        let bias = slice(s2, l2)?;
        let (dims, bm) = dims_of(l1, l2, self.n_heads, self.rows.as_ref())?;
        let Dims { b, l, lq, h, d, dh } = dims;
        let d3 = dims.d3() as isize;
        let plane = lq * l;
        let mut out = vec![0f32; b * lq * d];
        let mut probs = vec![0f32; b * h * plane];
        let key_end: Vec<usize> = bias
            .chunks(l.max(1))
            .map(|row| row.iter().rposition(|&v| v != f32::NEG_INFINITY).map_or(0, |j| j + 1))
            .collect();
        let out_ptr = SharedMut(out.as_mut_ptr());
        let (scale, rows) = (self.scale, self.rows.as_deref());
        if plane > 0 {
            probs.par_chunks_mut(plane).enumerate().for_each_init(Vec::new, |qbuf, (i, p)| {
                let (bi, hi) = (i / h, i % h);
                let bplane = if bm == 1 { 0 } else { bi };
                let (q_ptr, q_rs) = match rows {
                    Some(r) => {
                        gather_queries(qkv, &dims, bi, hi, r, qbuf);
                        (qbuf.as_ptr(), dh as isize)
                    }
                    None => (qkv[dims.part(bi, 0, hi)..].as_ptr(), d3),
                };
                let k_ptr = qkv[dims.part(bi, 1, hi)..].as_ptr();
                let v_ptr = qkv[dims.part(bi, 2, hi)..].as_ptr();
                let bp = &bias[bplane * plane..(bplane + 1) * plane];
                let y = out_ptr;
                for r0 in (0..lq).step_by(ROW_BLOCK) {
                    let m = (r0 + ROW_BLOCK).min(lq) - r0;
                    let ke = block_key_end(&key_end, lq, bplane, r0);
                    if ke == 0 {
                        continue; // every key masked: probabilities and output stay 0
                    }
                    // SAFETY: all views stay inside qkv / p / out by construction of Dims; each
                    // task writes only head hi's columns of batch row bi of `out`.
                    unsafe {
                        // S = Q K^T on the block's rows and visible keys
                        matmul(false, m, ke, dh, p[r0 * l..].as_mut_ptr(), l as isize, q_ptr.offset(r0 as isize * q_rs), q_rs, 1, k_ptr, 1, d3);
                    }
                    kernels::softmax_block_in_place(&mut p[r0 * l..], &bp[r0 * l..], m, ke, l, scale);
                    unsafe {
                        // Y = P V
                        let dst = y.0.add((bi * lq + r0) * d + hi * dh);
                        matmul(false, m, dh, ke, dst, d as isize, p[r0 * l..].as_ptr(), l as isize, 1, v_ptr, d3, 1);
                    }
                }
            });
        }
        let saved = Saved { probs: Arc::new(probs), key_end: Arc::new(key_end), bias_planes: bm };
        *self.saved.lock().map_err(|_| poisoned())? = Some(saved);
        Ok((CpuStorage::F32(out), Shape::from((b, lq, d))))
    }

    fn bwd(&self, qkv: &Tensor, _bias: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let saved = self.saved.lock().map_err(|_| poisoned())?.clone();
        let Some(saved) = saved else {
            candle_core::bail!("attention backward without a forward");
        };
        let op = FusedAttentionBwd { n_heads: self.n_heads, scale: self.scale, rows: self.rows.clone(), saved };
        let dqkv = qkv.apply_op2_no_bwd(&grad.contiguous()?, &op)?;
        Ok((Some(dqkv), None))
    }
}

struct FusedAttentionBwd {
    n_heads: usize,
    scale: f32,
    rows: Option<Arc<Vec<u32>>>,
    saved: Saved,
}

impl CustomOp2 for FusedAttentionBwd {
    fn name(&self) -> &'static str {
        "lum-fused-attention-bwd"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let qkv = slice(s1, l1)?;
        let gy = slice(s2, l2)?;
        let (b, l, d3u) = l1.shape().dims3()?;
        let d = d3u / 3;
        let (h, dh) = (self.n_heads, d / self.n_heads);
        let lq = self.rows.as_ref().map_or(l, |r| r.len());
        let dims = Dims { b, l, lq, h, d, dh };
        let d3 = d3u as isize;
        let plane = lq * l;
        let Saved { probs, key_end, bias_planes } = &self.saved;
        if probs.len() != b * h * plane || gy.len() != b * lq * d || key_end.len() != bias_planes * lq {
            candle_core::bail!("attention backward: saved probabilities do not fit the gradient");
        }
        let mut dqkv = vec![0f32; b * l * d3u];
        let dst = SharedMut(dqkv.as_mut_ptr());
        let (scale, rows) = (self.scale, self.rows.as_deref());
        (0..b * h).into_par_iter().for_each_init(
            || (vec![0f32; plane], Vec::new(), vec![0f32; lq * dh]),
            |(ds, qbuf, dq), i| {
                let (bi, hi) = (i / h, i % h);
                let p = &probs[i * plane..(i + 1) * plane];
                let gy_ptr = gy[bi * lq * d + hi * dh..].as_ptr();
                let (q_ptr, q_rs) = match rows {
                    Some(r) => {
                        gather_queries(qkv, &dims, bi, hi, r, qbuf);
                        (qbuf.as_ptr(), dh as isize)
                    }
                    None => (qkv[dims.part(bi, 0, hi)..].as_ptr(), d3),
                };
                let k_ptr = qkv[dims.part(bi, 1, hi)..].as_ptr();
                let v_ptr = qkv[dims.part(bi, 2, hi)..].as_ptr();
                let dst = dst;
                if rows.is_some() {
                    dq.fill(0.0); // scratch reused across tasks; skipped blocks must add 0
                }
                let bplane = if *bias_planes == 1 { 0 } else { bi };
                for r0 in (0..lq).step_by(ROW_BLOCK) {
                    let m = (r0 + ROW_BLOCK).min(lq) - r0;
                    let ke = block_key_end(key_end, lq, bplane, r0);
                    if ke == 0 {
                        continue;
                    }
                    let (pb, gyb) = (p[r0 * l..].as_ptr(), gy_ptr.wrapping_add(r0 * d));
                    let qb = q_ptr.wrapping_offset(r0 as isize * q_rs);
                    // SAFETY: views stay inside their buffers; this task writes only head hi's
                    // q, k and v columns of batch row bi of dqkv (and its own scratch).
                    unsafe {
                        // dP = dY V^T
                        matmul(false, m, ke, dh, ds[r0 * l..].as_mut_ptr(), l as isize, gyb, d as isize, 1, v_ptr, 1, d3);
                    }
                    // dS = scale * P o (dP - rowsum(dP o P))
                    kernels::softmax_backward_block_in_place(&mut ds[r0 * l..], &p[r0 * l..], m, ke, l, scale);
                    let dsb = ds[r0 * l..].as_ptr();
                    unsafe {
                        // dQ = dS K
                        match rows {
                            None => {
                                let dq_dst = dst.0.add(dims.part(bi, 0, hi) + r0 * d3u);
                                matmul(false, m, dh, ke, dq_dst, d3, dsb, l as isize, 1, k_ptr, d3, 1)
                            }
                            Some(_) => matmul(false, m, dh, ke, dq[r0 * dh..].as_mut_ptr(), dh as isize, dsb, l as isize, 1, k_ptr, d3, 1),
                        }
                        // dK += dS^T Q ; dV += P^T dY (over this block's rows)
                        matmul(true, ke, dh, m, dst.0.add(dims.part(bi, 1, hi)), d3, dsb, 1, l as isize, qb, q_rs, 1);
                        matmul(true, ke, dh, m, dst.0.add(dims.part(bi, 2, hi)), d3, pb, 1, l as isize, gyb, d as isize, 1);
                    }
                }
                if let Some(r) = rows {
                    for (j, &row) in r.iter().enumerate() {
                        let o = dims.part(bi, 0, hi) + row as usize * d3u;
                        for c in 0..dh {
                            // SAFETY: inside dqkv, head hi's q columns of batch row bi.
                            unsafe { *dst.0.add(o + c) += dq[j * dh + c] };
                        }
                    }
                }
            },
        );
        Ok((CpuStorage::F32(dqkv), l1.shape().clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::mask;
    use crate::util::Rng;
    use candle_core::{Device, Var};

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// Fused (f32) against composed (f64, the fallback path): outputs, probabilities and
    /// the gradient of sum(y * w) with respect to qkv.
    fn check(b: usize, l: usize, h: usize, dh: usize, bias: &Tensor, rows: Option<Vec<u32>>) {
        let mut rng = Rng::new(9);
        let n = b * l * 3 * h * dh;
        let qkv: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        let qkv = Tensor::from_vec(qkv, (b, l, 3 * h * dh), &Device::Cpu).unwrap();
        let rows_t = rows.map(|r| Tensor::new(r.as_slice(), &Device::Cpu).unwrap());
        let run = |dtype: DType| {
            let v = Var::from_tensor(&qkv.to_dtype(dtype).unwrap()).unwrap();
            let (y, p) = attention(v.as_tensor(), &bias.to_dtype(dtype).unwrap(), rows_t.as_ref(), h, true).unwrap();
            (v, y, p.unwrap())
        };
        let (v32, y32, p32) = run(DType::F32);
        let (v64, y64, p64) = run(DType::F64);
        let w: Vec<f32> = (0..y32.elem_count()).map(|_| rng.normal() as f32).collect();
        let w = Tensor::from_vec(w, y32.shape(), &Device::Cpu).unwrap();
        let g32 = (&y32 * &w).unwrap().sum_all().unwrap().backward().unwrap();
        let g64 = (&y64 * &w.to_dtype(DType::F64).unwrap()).unwrap().sum_all().unwrap().backward().unwrap();
        let f = |t: &Tensor| t.to_dtype(DType::F32).unwrap();
        assert!(max_diff(&y32, &f(&y64)) < 1e-5, "outputs differ");
        assert!(max_diff(&p32, &f(&p64)) < 1e-5, "probabilities differ");
        let (a, c) = (g32.get(&v32).unwrap(), g64.get(&v64).unwrap());
        assert!(max_diff(a, &f(c)) < 1e-4, "gradients differ by {}", max_diff(a, &f(c)));
    }

    #[test]
    fn fused_attention_matches_composed_causal() {
        check(2, 7, 2, 4, &mask::causal(7, &Device::Cpu).unwrap(), None);
    }

    #[test]
    fn fused_attention_matches_composed_over_several_row_blocks() {
        let l = 2 * ROW_BLOCK + 7;
        check(2, l, 2, 4, &mask::causal(l, &Device::Cpu).unwrap(), None);
        let rows: Vec<u32> = (0..l as u32).step_by(2).collect();
        let r = Tensor::new(rows.as_slice(), &Device::Cpu).unwrap();
        let sub = mask::causal(l, &Device::Cpu).unwrap().index_select(&r, 1).unwrap();
        check(2, l, 2, 4, &sub, Some(rows));
    }

    #[test]
    fn fused_attention_matches_composed_packed_and_rows() {
        let seg = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 0];
        let packed = mask::packed(&seg, 2, 6, &Device::Cpu).unwrap();
        check(2, 6, 3, 2, &packed, None);
        let rows = vec![0u32, 2, 4];
        let sub = packed.index_select(&Tensor::new(rows.as_slice(), &Device::Cpu).unwrap(), 1).unwrap();
        check(2, 6, 3, 2, &sub, Some(rows));
    }
}
