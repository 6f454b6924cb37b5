//! Fused CPU kernels, each with its backward pass, for the element-wise hot spots of a
//! LUM training step: masked attention softmax, LayerNorm, bias + GELU, row L2
//! normalisation and the sampled-softmax cross-entropy head.
//!
//! Why: candle's own fused `softmax_last_dim` and `layer_norm` have no backward pass
//! (they are forward-only custom ops, so a model trained through them silently stops
//! learning), and the composed versions spend most of a CPU step in a dozen small
//! element-wise passes plus their gradients. Each op here is one parallel pass forward and
//! one backward. On other devices (CUDA, Metal) or other dtypes every public function falls
//! back to the composed candle version, which has the same math and autograd support.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor, D};
use rayon::prelude::*;

/// Rows handed to one rayon task at least, so tiny tensors are not split into overhead.
const MIN_ELEMS_PER_TASK: usize = 16 * 1024;

/// `x / max(||x||, L2_EPS)`, the same epsilon as PyTorch's `F.normalize`.
pub const L2_EPS: f32 = 1e-12;

fn fused(t: &Tensor) -> bool {
    t.device().is_cpu() && t.dtype() == DType::F32
}

fn slice_f32<'a>(s: &'a CpuStorage, l: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{op}: input must be contiguous"),
    }
}

/// Rows per rayon task for `rows` rows of `width` elements.
fn rows_per_task(rows: usize, width: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let by_threads = rows.div_ceil(threads * 4);
    let by_size = MIN_ELEMS_PER_TASK.div_ceil(width.max(1));
    by_threads.max(by_size).clamp(1, rows.max(1))
}

/// Defines `fn $name` twice: once for the baseline target and once compiled for AVX2+FMA,
/// picking the latter at run time when the CPU has it, so the loops inside vectorise 8-wide
/// without a `target-cpu` build flag. The body and every helper it calls must be
/// `#[inline(always)]`-able plain code.
macro_rules! multiversion {
    ($(#[$meta:meta])* $vis:vis fn $name:ident($($arg:ident : $ty:ty),* $(,)?) $body:block) => {
        $(#[$meta])*
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[inline(always)]
            #[allow(clippy::too_many_arguments)]
            fn body($($arg: $ty),*) $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2,fma")]
                #[allow(clippy::too_many_arguments)]
                unsafe fn avx2($($arg: $ty),*) {
                    body($($arg),*)
                }
                if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                    // SAFETY: both features were detected on this CPU just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            body($($arg),*)
        }
    };
}

// ---------------------------------------------------------------------------------------
// Scalar maths that vectorises (no libm calls inside the hot loops).

/// e^x in f32 (Cephes `expf`: Cody-Waite range reduction + degree-5 polynomial, ~1 ulp);
/// exactly 0 below -87.3 so masked (-inf) logits give probability 0.
#[inline(always)]
pub fn fast_exp(x: f32) -> f32 {
    const HI: f32 = 88.376_26;
    const LO: f32 = -87.336_55;
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const C1: f32 = 0.693_359_4;
    const C2: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23: adding it rounds to the nearest integer
    let xc = x.clamp(LO, HI);
    let n = (xc * LOG2E + ROUND) - ROUND;
    let r = xc - n * C1 - n * C2;
    let r2 = r * r;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 5e-1;
    let e = p * r2 + r + 1.0;
    let scale = f32::from_bits(((n as i32 + 127) as u32) << 23);
    if x < LO { 0.0 } else { e * scale }
}

/// erf(x) in f32 (the rational approximation used by Eigen and XLA, |err| < 2e-7 on
/// the clamped range [-4, 4]; beyond it erf is +-1 to f32 precision).
#[inline(always)]
pub fn fast_erf(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = -2.726_142_3e-10_f32;
    p = p * x2 + 2.770_681_4e-8;
    p = p * x2 - 2.101_024e-6;
    p = p * x2 - 5.692_506_4e-5;
    p = p * x2 - 7.349_906_3e-4;
    p = p * x2 - 2.954_6e-3;
    p = p * x2 - 1.609_603_3e-2;
    let mut q = -1.456_607_2e-5_f32;
    q = q * x2 - 2.133_740_6e-4;
    q = q * x2 - 1.682_827e-3;
    q = q * x2 - 7.373_329_4e-3;
    q = q * x2 - 1.426_474e-2;
    x * p / q
}

const INV_SQRT_2: f32 = std::f32::consts::FRAC_1_SQRT_2;
/// 1 / sqrt(2 pi), the standard normal density at 0.
const INV_SQRT_2PI: f32 = 0.398_942_3;

/// Exact (erf) GELU, as PyTorch's default `F.gelu`.
#[inline(always)]
pub fn gelu(u: f32) -> f32 {
    0.5 * u * (1.0 + fast_erf(u * INV_SQRT_2))
}

/// d gelu(u) / du = Phi(u) + u phi(u).
#[inline(always)]
fn gelu_grad(u: f32) -> f32 {
    0.5 * (1.0 + fast_erf(u * INV_SQRT_2)) + u * INV_SQRT_2PI * fast_exp(-0.5 * u * u)
}

// Reductions with 8 independent accumulators: a plain `iter().sum()` over f32 is a serial
// dependency chain (float addition is not reassociated), eight lanes let it vectorise.

const LANES: usize = 8;

#[inline(always)]
fn sum(x: &[f32]) -> f32 {
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += c[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; LANES];
    let (ca, cb) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(x, y)| x * y).sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..LANES {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn max(x: &[f32]) -> f32 {
    let mut acc = [f32::NEG_INFINITY; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail = chunks.remainder().iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    for c in chunks {
        for i in 0..LANES {
            acc[i] = acc[i].max(c[i]);
        }
    }
    acc.iter().fold(tail, |m, &v| m.max(v))
}

/// exp(v - shift) in place; returns the sum.
#[inline(always)]
fn exp_shifted_in_place(x: &mut [f32], shift: f32) -> f32 {
    for v in x.iter_mut() {
        *v = fast_exp(*v - shift);
    }
    sum(x)
}

// ---------------------------------------------------------------------------------------
// Attention softmax: softmax(scale * scores + bias) over the last dim.

struct AttnSoftmax {
    scale: f32,
}

struct AttnSoftmaxBwd {
    scale: f32,
}

/// Row softmax of `scale * z + bias`, in place.
#[inline(always)]
fn softmax_row_in_place(z: &mut [f32], bias: &[f32], scale: f32) {
    for (o, &b) in z.iter_mut().zip(bias) {
        *o = *o * scale + b;
    }
    let m = max(z);
    if m == f32::NEG_INFINITY {
        // A row with every key masked; cannot happen with our masks (a token always
        // sees itself) but must not produce NaN.
        z.iter_mut().for_each(|o| *o = 0.0);
        return;
    }
    let inv = 1.0 / exp_shifted_in_place(z, m);
    z.iter_mut().for_each(|o| *o *= inv);
}

multiversion! {
    /// Softmax of `scale * z + bias` over rows of `width`, in place (single-threaded; the
    /// fused attention calls it from its own parallel tasks).
    pub(crate) fn softmax_rows_in_place(z: &mut [f32], bias: &[f32], width: usize, scale: f32) {
        for (row, b) in z.chunks_mut(width).zip(bias.chunks(width)) {
            softmax_row_in_place(row, b, scale);
        }
    }
}

multiversion! {
    /// Softmax backward over rows of `width`, in place: g <- scale * p o (g - rowsum(g o p)).
    pub(crate) fn softmax_backward_rows_in_place(g: &mut [f32], p: &[f32], width: usize, scale: f32) {
        for (g, p) in g.chunks_mut(width).zip(p.chunks(width)) {
            let gp = dot(g, p);
            for (g, &p) in g.iter_mut().zip(p) {
                *g = scale * p * (*g - gp);
            }
        }
    }
}

multiversion! {
    /// Softmax of `scale * z + bias` on a block of `rows` rows, each `width` wide with row
    /// stride `stride` (the fused attention's causal row blocks), in place.
    pub(crate) fn softmax_block_in_place(z: &mut [f32], bias: &[f32], rows: usize, width: usize, stride: usize, scale: f32) {
        for r in 0..rows {
            let s = r * stride..r * stride + width;
            softmax_row_in_place(&mut z[s.clone()], &bias[s], scale);
        }
    }
}

multiversion! {
    /// Softmax backward on a strided block, in place: g <- scale * p o (g - rowsum(g o p)).
    pub(crate) fn softmax_backward_block_in_place(g: &mut [f32], p: &[f32], rows: usize, width: usize, stride: usize, scale: f32) {
        for r in 0..rows {
            let s = r * stride..r * stride + width;
            let (g, p) = (&mut g[s.clone()], &p[s]);
            let gp = dot(g, p);
            for (g, &p) in g.iter_mut().zip(p) {
                *g = scale * p * (*g - gp);
            }
        }
    }
}

impl CustomOp2 for AttnSoftmax {
    fn name(&self) -> &'static str {
        "lum-attn-softmax"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice_f32(s1, l1, self.name())?;
        let bias = slice_f32(s2, l2, self.name())?;
        let (b, h, lq, lk) = l1.shape().dims4()?;
        let (bm, bq, bk) = l2.shape().dims3()?;
        if (bm != 1 && bm != b) || bq != lq || bk != lk {
            candle_core::bail!("attention bias {:?} does not fit scores {:?}", l2.shape(), l1.shape());
        }
        let plane = lq * lk;
        let mut out = vec![0f32; x.len()];
        if plane > 0 {
            let scale = self.scale;
            out.par_chunks_mut(plane).zip(x.par_chunks(plane)).enumerate().for_each(|(i, (o, xs))| {
                let bi = if bm == 1 { 0 } else { i / h };
                let bp = &bias[bi * plane..(bi + 1) * plane];
                o.copy_from_slice(xs);
                softmax_rows_in_place(o, bp, lk, scale);
            });
        }
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(&self, _x: &Tensor, _bias: &Tensor, res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let dx = res.apply_op2_no_bwd(&g, &AttnSoftmaxBwd { scale: self.scale })?;
        Ok((Some(dx), None))
    }
}

impl CustomOp2 for AttnSoftmaxBwd {
    fn name(&self) -> &'static str {
        "lum-attn-softmax-bwd"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let y = slice_f32(s1, l1, self.name())?;
        let g = slice_f32(s2, l2, self.name())?;
        let lk = l1.shape().dims().last().copied().unwrap_or(1).max(1);
        let rows = y.len() / lk;
        let chunk = rows_per_task(rows, lk) * lk;
        let mut dx = vec![0f32; y.len()];
        let scale = self.scale;
        dx.par_chunks_mut(chunk).zip(y.par_chunks(chunk)).zip(g.par_chunks(chunk)).for_each(|((d, y), g)| {
            d.copy_from_slice(g);
            softmax_backward_rows_in_place(d, y, lk, scale);
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// Attention probabilities `softmax(scale * scores + bias)` over the keys.
///
/// scores: (B, H, Lq, Lk) f32; bias: (Bm, Lq, Lk) f32 additive mask (0 or -inf) with
/// Bm = 1 (shared by the batch) or B -> (B, H, Lq, Lk). The gradient flows to `scores` only.
pub fn attention_softmax(scores: &Tensor, bias: &Tensor, scale: f64) -> Result<Tensor> {
    if fused(scores) {
        let s = scores.contiguous()?;
        let b = bias.contiguous()?;
        return s.apply_op2(&b, AttnSoftmax { scale: scale as f32 });
    }
    let z = (scores * scale)?.broadcast_add(&bias.unsqueeze(1)?)?;
    candle_nn::ops::softmax(&z, D::Minus1)
}

// ---------------------------------------------------------------------------------------
// LayerNorm over the last dim.

struct LayerNormOp {
    eps: f32,
}

struct LayerNormBwd {
    eps: f32,
}

#[inline(always)]
fn row_stats(x: &[f32], eps: f32) -> (f32, f32) {
    let n = x.len() as f32;
    let mean = sum(x) / n;
    // Two-pass variance (as PyTorch), lanes unrolled so it vectorises.
    let mut acc = [0f32; LANES];
    let chunks = x.chunks_exact(LANES);
    let tail: f32 = chunks.remainder().iter().map(|v| (v - mean) * (v - mean)).sum();
    for c in chunks {
        for i in 0..LANES {
            acc[i] += (c[i] - mean) * (c[i] - mean);
        }
    }
    let var = (acc.iter().sum::<f32>() + tail) / n;
    (mean, 1.0 / (var + eps).sqrt())
}

multiversion! {
    /// LayerNorm of rows of `gamma.len()`.
    fn layer_norm_rows(out: &mut [f32], x: &[f32], gamma: &[f32], beta: &[f32], eps: f32) {
        let d = gamma.len();
        for (o, x) in out.chunks_mut(d).zip(x.chunks(d)) {
            let (mean, rstd) = row_stats(x, eps);
            for (((o, &x), &g), &b) in o.iter_mut().zip(x).zip(gamma).zip(beta) {
                *o = (x - mean) * rstd * g + b;
            }
        }
    }
}

multiversion! {
    /// LayerNorm backward of rows: writes dx, adds dgamma | dbeta into `acc` (2d).
    fn layer_norm_bwd_rows(dx: &mut [f32], x: &[f32], gy: &[f32], gamma: &[f32], eps: f32, acc: &mut [f32]) {
        let d = gamma.len();
        let mut xhat = vec![0f32; d];
        let mut dxh = vec![0f32; d];
        let (ag, ab) = acc.split_at_mut(d);
        for ((dx, x), gy) in dx.chunks_mut(d).zip(x.chunks(d)).zip(gy.chunks(d)) {
            let (mean, rstd) = row_stats(x, eps);
            for i in 0..d {
                xhat[i] = (x[i] - mean) * rstd;
                dxh[i] = gy[i] * gamma[i];
            }
            let m1 = sum(&dxh) / d as f32; // mean(dxhat)
            let m2 = dot(&dxh, &xhat) / d as f32; // mean(dxhat * xhat)
            for i in 0..d {
                ag[i] += gy[i] * xhat[i];
                ab[i] += gy[i];
                dx[i] = rstd * (dxh[i] - m1 - xhat[i] * m2);
            }
        }
    }
}

impl CustomOp3 for LayerNormOp {
    fn name(&self) -> &'static str {
        "lum-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice_f32(s1, l1, self.name())?;
        let gamma = slice_f32(s2, l2, self.name())?;
        let beta = slice_f32(s3, l3, self.name())?;
        let d = gamma.len();
        if d == 0 || beta.len() != d || l1.shape().dims().last() != Some(&d) {
            candle_core::bail!("layer norm: weight ({d}) does not fit input {:?}", l1.shape());
        }
        let chunk = rows_per_task(x.len() / d, d) * d;
        let mut out = vec![0f32; x.len()];
        let eps = self.eps;
        out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(o, x)| {
            layer_norm_rows(o, x, gamma, beta, eps);
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        // One flat output: [dx (N*d) | dgamma (d) | dbeta (d)], split below without copies.
        let flat = x.apply_op3_no_bwd(gamma, &g, &LayerNormBwd { eps: self.eps })?;
        let [dx, dgamma, dbeta] = split_flat(&flat, [x.shape(), gamma.shape(), gamma.shape()])?;
        Ok((Some(dx), Some(dgamma), Some(dbeta)))
    }
}

impl CustomOp3 for LayerNormBwd {
    fn name(&self) -> &'static str {
        "lum-layer-norm-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice_f32(s1, l1, self.name())?;
        let gamma = slice_f32(s2, l2, self.name())?;
        let gy = slice_f32(s3, l3, self.name())?;
        let d = gamma.len();
        let n = x.len();
        let chunk = rows_per_task(n / d, d) * d;
        let mut out = vec![0f32; n + 2 * d];
        let (dx, params) = out.split_at_mut(n);
        let eps = self.eps;
        let partial = dx
            .par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .zip(gy.par_chunks(chunk))
            .map(|((dx, x), gy)| {
                let mut acc = vec![0f32; 2 * d];
                layer_norm_bwd_rows(dx, x, gy, gamma, eps, &mut acc);
                acc
            })
            .reduce(
                || vec![0f32; 2 * d],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    a
                },
            );
        params.copy_from_slice(&partial);
        Ok((CpuStorage::F32(out), Shape::from(n + 2 * d)))
    }
}

/// LayerNorm over the last dim (biased variance, as PyTorch).
///
/// x: (.., d) f32; gamma, beta: (d,) -> (.., d).
pub fn layer_norm(x: &Tensor, gamma: &Tensor, beta: &Tensor, eps: f64) -> Result<Tensor> {
    if fused(x) {
        let x = x.contiguous()?;
        return x.apply_op3(gamma, beta, LayerNormOp { eps: eps as f32 });
    }
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xhat = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xhat.broadcast_mul(gamma)?.broadcast_add(beta)
}

// ---------------------------------------------------------------------------------------
// Bias + GELU.

struct BiasGelu;
struct BiasGeluBwd;

multiversion! {
    /// gelu(x + b) over rows of `b.len()`.
    fn bias_gelu_rows(out: &mut [f32], x: &[f32], b: &[f32]) {
        for (o, x) in out.chunks_mut(b.len()).zip(x.chunks(b.len())) {
            for ((o, &x), &b) in o.iter_mut().zip(x).zip(b) {
                *o = gelu(x + b);
            }
        }
    }
}

multiversion! {
    /// Backward of gelu(x + b) over rows: writes dx, adds db into `acc`.
    fn bias_gelu_bwd_rows(dx: &mut [f32], x: &[f32], gy: &[f32], b: &[f32], acc: &mut [f32]) {
        let f = b.len();
        for ((dx, x), gy) in dx.chunks_mut(f).zip(x.chunks(f)).zip(gy.chunks(f)) {
            for i in 0..f {
                let d = gy[i] * gelu_grad(x[i] + b[i]);
                dx[i] = d;
                acc[i] += d;
            }
        }
    }
}

multiversion! {
    /// out = gelu(u), elementwise.
    pub(crate) fn gelu_into(out: &mut [f32], u: &[f32]) {
        for (o, &u) in out.iter_mut().zip(u) {
            *o = gelu(u);
        }
    }
}

multiversion! {
    /// g <- g * gelu'(u), elementwise, in place.
    pub(crate) fn gelu_backward_in_place(g: &mut [f32], u: &[f32]) {
        for (g, &u) in g.iter_mut().zip(u) {
            *g *= gelu_grad(u);
        }
    }
}

impl CustomOp2 for BiasGelu {
    fn name(&self) -> &'static str {
        "lum-bias-gelu"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice_f32(s1, l1, self.name())?;
        let b = slice_f32(s2, l2, self.name())?;
        let f = b.len();
        if f == 0 || l1.shape().dims().last() != Some(&f) {
            candle_core::bail!("bias-gelu: bias ({f}) does not fit input {:?}", l1.shape());
        }
        let chunk = rows_per_task(x.len() / f, f) * f;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(o, x)| {
            bias_gelu_rows(o, x, b);
        });
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let g = grad.contiguous()?;
        let flat = x.apply_op3_no_bwd(b, &g, &BiasGeluBwd)?;
        let [dx, db] = split_flat(&flat, [x.shape(), b.shape()])?;
        Ok((Some(dx), Some(db)))
    }
}

impl CustomOp3 for BiasGeluBwd {
    fn name(&self) -> &'static str {
        "lum-bias-gelu-bwd"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let x = slice_f32(s1, l1, self.name())?;
        let b = slice_f32(s2, l2, self.name())?;
        let gy = slice_f32(s3, l3, self.name())?;
        let f = b.len();
        let n = x.len();
        let chunk = rows_per_task(n / f, f) * f;
        let mut out = vec![0f32; n + f];
        let (dx, db) = out.split_at_mut(n);
        let partial = dx
            .par_chunks_mut(chunk)
            .zip(x.par_chunks(chunk))
            .zip(gy.par_chunks(chunk))
            .map(|((dx, x), gy)| {
                let mut acc = vec![0f32; f];
                bias_gelu_bwd_rows(dx, x, gy, b, &mut acc);
                acc
            })
            .reduce(
                || vec![0f32; f],
                |mut a, b| {
                    a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                    a
                },
            );
        db.copy_from_slice(&partial);
        Ok((CpuStorage::F32(out), Shape::from(n + f)))
    }
}

/// `gelu(x + b)` with the exact (erf) GELU.
///
/// x: (.., f) f32; b: (f,) -> (.., f).
pub fn bias_gelu(x: &Tensor, b: &Tensor) -> Result<Tensor> {
    if fused(x) {
        let x = x.contiguous()?;
        return x.apply_op2(b, BiasGelu);
    }
    x.broadcast_add(b)?.gelu_erf()
}

// ---------------------------------------------------------------------------------------
// Row L2 normalisation.

struct L2Norm;
struct L2NormBwd;

multiversion! {
    /// Rows of `d` scaled to unit norm.
    fn l2_rows(out: &mut [f32], x: &[f32], d: usize) {
        for (o, x) in out.chunks_mut(d).zip(x.chunks(d)) {
            let inv = 1.0 / dot(x, x).sqrt().max(L2_EPS);
            o.iter_mut().zip(x).for_each(|(o, x)| *o = x * inv);
        }
    }
}

multiversion! {
    /// Backward of row normalisation: dx = (g - y (g . y)) / n with y = x / n.
    fn l2_bwd_rows(dx: &mut [f32], x: &[f32], g: &[f32], d: usize) {
        for ((dx, x), g) in dx.chunks_mut(d).zip(x.chunks(d)).zip(g.chunks(d)) {
            let norm = dot(x, x).sqrt();
            if norm > L2_EPS {
                let inv = 1.0 / norm;
                let gy = dot(x, g) * inv;
                for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(g) {
                    *dx = (g - x * inv * gy) * inv;
                }
            } else {
                dx.iter_mut().zip(g).for_each(|(dx, g)| *dx = g / L2_EPS);
            }
        }
    }
}

impl CustomOp1 for L2Norm {
    fn name(&self) -> &'static str {
        "lum-l2-normalize"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice_f32(s, l, self.name())?;
        let d = l.shape().dims().last().copied().unwrap_or(1).max(1);
        let chunk = rows_per_task(x.len() / d, d) * d;
        let mut out = vec![0f32; x.len()];
        out.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).for_each(|(o, x)| {
            l2_rows(o, x, d);
        });
        Ok((CpuStorage::F32(out), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let g = grad.contiguous()?;
        Ok(Some(x.apply_op2_no_bwd(&g, &L2NormBwd)?))
    }
}

impl CustomOp2 for L2NormBwd {
    fn name(&self) -> &'static str {
        "lum-l2-normalize-bwd"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let x = slice_f32(s1, l1, self.name())?;
        let g = slice_f32(s2, l2, self.name())?;
        let d = l1.shape().dims().last().copied().unwrap_or(1).max(1);
        let chunk = rows_per_task(x.len() / d, d) * d;
        let mut dx = vec![0f32; x.len()];
        dx.par_chunks_mut(chunk).zip(x.par_chunks(chunk)).zip(g.par_chunks(chunk)).for_each(|((dx, x), g)| {
            l2_bwd_rows(dx, x, g, d);
        });
        Ok((CpuStorage::F32(dx), l1.shape().clone()))
    }
}

/// Rows scaled to unit L2 norm: `x / max(||x||, 1e-12)` (PyTorch's `F.normalize`).
///
/// x: (.., d) f32 -> (.., d).
pub fn l2_normalize(x: &Tensor) -> Result<Tensor> {
    if fused(x) {
        return x.contiguous()?.apply_op1(L2Norm);
    }
    let norm = x.sqr()?.sum_keepdim(D::Minus1)?.sqrt()?.clamp(L2_EPS, f32::INFINITY)?;
    x.broadcast_div(&norm)
}

// ---------------------------------------------------------------------------------------
// Sampled-softmax cross-entropy with the positive in column 0.

struct SampledCe {
    scale: f32,
    targets: Arc<Vec<u32>>,
    negatives: Arc<Vec<u32>>,
    /// Softmax of every row's logits (N x (K + 1)), kept by the forward for the backward.
    probs: Mutex<Option<Arc<Vec<f32>>>>,
}

struct SampledCeBwd {
    scale: f32,
    probs: Arc<Vec<f32>>,
}

/// Turns `z` into the softmax of the scaled logits [pos, negs] of one row, where a negative
/// equal to the row's own target is masked (-inf); returns the row's cross-entropy
/// -log softmax(z)[0].
#[inline(always)]
fn ce_row(pos: f32, negs: &[f32], target: u32, neg_ids: &[u32], scale: f32, z: &mut [f32]) -> f32 {
    z[0] = pos * scale;
    for ((z, &s), &id) in z[1..].iter_mut().zip(negs).zip(neg_ids) {
        *z = if id == target { f32::NEG_INFINITY } else { s * scale };
    }
    let m = max(z);
    let z0 = z[0] - m;
    let total = exp_shifted_in_place(z, m);
    let inv = 1.0 / total;
    z.iter_mut().for_each(|v| *v *= inv);
    total.ln() - z0
}

multiversion! {
    /// Cross-entropy of rows: `out[r]` for positives `pos[r]`, negatives `neg[r*k..]`; the
    /// softmax of each row goes to `probs[r*(k+1)..]`.
    fn ce_rows(out: &mut [f32], probs: &mut [f32], pos: &[f32], neg: &[f32], targets: &[u32], negs: &[u32], scale: f32) {
        let k = negs.len();
        for (r, (o, z)) in out.iter_mut().zip(probs.chunks_mut(k + 1)).enumerate() {
            *o = ce_row(pos[r], &neg[r * k..(r + 1) * k], targets[r], negs, scale, z);
        }
    }
}

multiversion! {
    /// Gradient of the rows' cross-entropy: softmax(z) - onehot(0), through z = scale * s.
    fn ce_bwd_rows(dp: &mut [f32], dn: &mut [f32], probs: &[f32], gr: &[f32], scale: f32) {
        let k1 = probs.len() / gr.len().max(1);
        for (r, ((dp, dn), z)) in dp.iter_mut().zip(dn.chunks_mut(k1 - 1)).zip(probs.chunks(k1)).enumerate() {
            let gs = gr[r] * scale;
            *dp = gs * (z[0] - 1.0);
            for (d, &p) in dn.iter_mut().zip(&z[1..]) {
                *d = gs * p;
            }
        }
    }
}

impl CustomOp2 for SampledCe {
    fn name(&self) -> &'static str {
        "lum-sampled-ce"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        let pos = slice_f32(s1, l1, self.name())?;
        let neg = slice_f32(s2, l2, self.name())?;
        let (n, k) = l2.shape().dims2()?;
        if pos.len() != n || self.targets.len() != n || self.negatives.len() != k {
            candle_core::bail!("sampled CE: {} positives, {n}x{k} negatives, {} targets", pos.len(), self.targets.len());
        }
        let mut out = vec![0f32; n];
        let mut probs = vec![0f32; n * (k + 1)];
        let rows = rows_per_task(n, k + 1);
        let (scale, targets, negs) = (self.scale, &self.targets, &self.negatives);
        out.par_chunks_mut(rows).zip(probs.par_chunks_mut(rows * (k + 1))).enumerate().for_each(|(c, (o, p))| {
            let r0 = c * rows;
            let r1 = r0 + o.len();
            ce_rows(o, p, &pos[r0..r1], &neg[r0 * k..r1 * k], &targets[r0..r1], negs, scale);
        });
        *self.probs.lock().map_err(|_| lock_poisoned())? = Some(Arc::new(probs));
        Ok((CpuStorage::F32(out), Shape::from(n)))
    }

    fn bwd(&self, pos: &Tensor, neg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>)> {
        let Some(probs) = self.probs.lock().map_err(|_| lock_poisoned())?.clone() else {
            candle_core::bail!("sampled CE backward without a forward");
        };
        let flat = grad.contiguous()?.apply_op1_no_bwd(&SampledCeBwd { scale: self.scale, probs })?;
        let [dpos, dneg] = split_flat(&flat, [pos.shape(), neg.shape()])?;
        Ok((Some(dpos), Some(dneg)))
    }
}

fn lock_poisoned() -> candle_core::Error {
    candle_core::Error::Msg("saved softmax lock poisoned".into())
}

impl CustomOp1 for SampledCeBwd {
    fn name(&self) -> &'static str {
        "lum-sampled-ce-bwd"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let gr = slice_f32(s, l, self.name())?;
        let n = gr.len();
        if n == 0 || !self.probs.len().is_multiple_of(n) || self.probs.len() / n < 1 {
            candle_core::bail!("sampled CE backward: {n} rows do not fit the saved softmax");
        }
        let k = self.probs.len() / n - 1;
        let mut out = vec![0f32; n + n * k];
        let (dpos, dneg) = out.split_at_mut(n);
        let rows = rows_per_task(n, k + 1);
        let (scale, probs) = (self.scale, &self.probs);
        dpos.par_chunks_mut(rows).zip(dneg.par_chunks_mut(rows * k.max(1))).enumerate().for_each(|(c, (dp, dn))| {
            let r0 = c * rows;
            let r1 = r0 + dp.len();
            ce_bwd_rows(dp, dn, &probs[r0 * (k + 1)..r1 * (k + 1)], &gr[r0..r1], scale);
        });
        Ok((CpuStorage::F32(out), Shape::from(n + n * k)))
    }
}

/// Per-row cross-entropy of `[pos, negs] * scale` against class 0, where a negative whose
/// id equals the row's target is masked out (-inf) so the positive never counts against itself.
///
/// pos: (N,) f32; neg: (N, K) f32; targets: (N,) u32; negatives: (K,) u32 -> (N,) f32.
pub fn sampled_softmax_ce(pos: &Tensor, neg: &Tensor, targets: &Tensor, negatives: &Tensor, scale: f64) -> Result<Tensor> {
    if fused(neg) {
        let op = SampledCe {
            scale: scale as f32,
            targets: Arc::new(targets.to_vec1::<u32>()?),
            negatives: Arc::new(negatives.to_vec1::<u32>()?),
            probs: Mutex::new(None),
        };
        return pos.contiguous()?.apply_op2(&neg.contiguous()?, op);
    }
    let same = targets.unsqueeze(1)?.broadcast_eq(&negatives.unsqueeze(0)?)?;
    let neg_scaled = (neg * scale)?;
    let minus_inf = Tensor::full(f32::NEG_INFINITY, neg.shape(), neg.device())?.to_dtype(neg.dtype())?;
    let masked = same.where_cond(&minus_inf, &neg_scaled)?;
    let logits = Tensor::cat(&[&(pos * scale)?.unsqueeze(1)?, &masked], 1)?;
    let logp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
    logp.narrow(1, 0, 1)?.squeeze(1)?.neg()
}

/// Splits a backward kernel's one flat output into consecutive gradients of the
/// given shapes (narrowed views, no copies).
pub(crate) fn split_flat<const N: usize>(flat: &Tensor, shapes: [&Shape; N]) -> Result<[Tensor; N]> {
    let mut at = 0;
    let mut out = Vec::with_capacity(N);
    for shape in shapes {
        let n = shape.elem_count();
        out.push(flat.narrow(0, at, n)?.reshape(shape)?);
        at += n;
    }
    out.try_into().map_err(|_| candle_core::Error::Msg("split_flat: wrong number of parts".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;
    use candle_core::{Device, Var};

    fn rand(rng: &mut Rng, shape: &[usize]) -> Tensor {
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n).map(|_| rng.normal() as f32).collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap()
    }

    /// Runs `f` fused (CPU f32) and composed (same math through f64, which takes the
    /// fallback path), and compares values and the gradients of `sum(out * w)`.
    fn check_against_composed(inputs: &[Tensor], f: impl Fn(&[Tensor]) -> Tensor, tol: f32) {
        let mut rng = Rng::new(99);
        let run = |dtype: DType| {
            let vars: Vec<Var> = inputs.iter().map(|t| Var::from_tensor(&t.to_dtype(dtype).unwrap()).unwrap()).collect();
            let ts: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
            let out = f(&ts);
            (out, vars)
        };
        let (out32, vars32) = run(DType::F32);
        let (out64, vars64) = run(DType::F64);
        let w = rand(&mut rng, out32.dims());
        let loss32 = (&out32 * &w).unwrap().sum_all().unwrap();
        let loss64 = (&out64 * &w.to_dtype(DType::F64).unwrap()).unwrap().sum_all().unwrap();
        let g32 = loss32.backward().unwrap();
        let g64 = loss64.backward().unwrap();
        let d = max_diff(&out32, &out64.to_dtype(DType::F32).unwrap());
        assert!(d < tol, "forward differs by {d}");
        for (v32, v64) in vars32.iter().zip(&vars64) {
            if let (Some(a), Some(b)) = (g32.get(v32), g64.get(v64)) {
                let d = max_diff(a, &b.to_dtype(DType::F32).unwrap());
                assert!(d < tol, "gradient differs by {d}");
            }
        }
    }

    #[test]
    fn fast_exp_and_erf_match_libm() {
        for i in -2000..=2000 {
            let x = i as f32 * 0.02;
            let e = fast_exp(x);
            assert!((e - x.exp()).abs() <= 2e-7 * x.exp().max(1e-30), "exp({x}) = {e} vs {}", x.exp());
            let erf = fast_erf(x);
            let want = candle_core::cpu::erf::erf_f64(x as f64) as f32;
            assert!((erf - want).abs() < 1e-6, "erf({x}) = {erf} vs {want}");
        }
        assert_eq!(fast_exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(fast_exp(-100.0), 0.0);
    }

    #[test]
    fn attention_softmax_matches_composed_with_masks() {
        let mut rng = Rng::new(1);
        let scores = rand(&mut rng, &[2, 3, 5, 5]);
        let mut bias = vec![0f32; 2 * 25];
        for b in 0..2 {
            for i in 0..5 {
                for j in 0..5 {
                    if j > i || (b == 1 && j == 0 && i > 0) {
                        bias[b * 25 + i * 5 + j] = f32::NEG_INFINITY;
                    }
                }
            }
        }
        let bias = Tensor::from_vec(bias, (2, 5, 5), &Device::Cpu).unwrap();
        check_against_composed(&[scores], |t| attention_softmax(&t[0], &bias.to_dtype(t[0].dtype()).unwrap(), 0.7).unwrap(), 1e-5);
    }

    #[test]
    fn layer_norm_matches_composed() {
        let mut rng = Rng::new(2);
        let x = rand(&mut rng, &[7, 12]);
        let g = rand(&mut rng, &[12]);
        let b = rand(&mut rng, &[12]);
        check_against_composed(&[x, g, b], |t| layer_norm(&t[0], &t[1], &t[2], 1e-5).unwrap(), 1e-4);
    }

    #[test]
    fn bias_gelu_matches_composed() {
        let mut rng = Rng::new(3);
        let x = (rand(&mut rng, &[9, 16]) * 2.0).unwrap();
        let b = rand(&mut rng, &[16]);
        check_against_composed(&[x, b], |t| bias_gelu(&t[0], &t[1]).unwrap(), 1e-5);
    }

    #[test]
    fn l2_normalize_matches_composed() {
        let mut rng = Rng::new(4);
        let x = rand(&mut rng, &[6, 10]);
        check_against_composed(&[x], |t| l2_normalize(&t[0]).unwrap(), 1e-5);
    }

    #[test]
    fn sampled_ce_matches_composed() {
        let mut rng = Rng::new(5);
        let pos = rand(&mut rng, &[6]);
        let neg = rand(&mut rng, &[6, 4]);
        let targets = Tensor::new(&[3u32, 1, 7, 7, 0, 2], &Device::Cpu).unwrap();
        let negatives = Tensor::new(&[7u32, 1, 9, 3], &Device::Cpu).unwrap();
        check_against_composed(
            &[pos, neg],
            |t| sampled_softmax_ce(&t[0], &t[1], &targets, &negatives, 2.5).unwrap(),
            1e-5,
        );
    }
}
