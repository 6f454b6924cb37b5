//! `x W^T + b` as one op with its own backward pass on the CPU.
//!
//! Composed from candle ops this is a matmul, a transposed view and a broadcast add whose
//! backward reduces the bias gradient with a strided column sum and routes every gradient
//! through an extra zero-filled buffer. Here the bias is written into the output first and
//! the product accumulated onto it by one `gemm` call; the backward computes dx, dW and db
//! in one op. Other devices and dtypes use the composed version.

use std::sync::{Arc, Mutex};

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

use super::kernels;

fn parallelism() -> Parallelism {
    match rayon::current_num_threads() {
        0 | 1 => Parallelism::None,
        n => Parallelism::Rayon(n),
    }
}

fn slice<'a>(s: &'a CpuStorage, l: &Layout) -> Result<&'a [f32]> {
    let data = s.as_slice::<f32>()?;
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("linear: input must be contiguous"),
    }
}

/// `dst (m x n) [+]= lhs (m x k) * rhs (k x n)` on strided views, `dst` row-major.
///
/// # Safety
/// Every view must lie inside its slice; `dst` must not overlap the inputs.
#[allow(clippy::too_many_arguments)]
unsafe fn matmul_into(
    accumulate: bool,
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    lhs: &[f32],
    lhs_rs: isize,
    lhs_cs: isize,
    rhs: &[f32],
    rhs_rs: isize,
    rhs_cs: isize,
) {
    let alpha = if accumulate { 1.0 } else { 0.0 };
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            1,
            n as isize,
            accumulate,
            lhs.as_ptr(),
            lhs_cs,
            lhs_rs,
            rhs.as_ptr(),
            rhs_cs,
            rhs_rs,
            alpha,
            1.0,
            false,
            false,
            false,
            parallelism(),
        )
    }
}

struct Linear;
struct LinearBwd;

/// Column sums of a row-major (rows x cols) matrix, accumulated row by row so the inner
/// loop is contiguous and vectorises.
fn column_sums(g: &[f32], cols: usize) -> Vec<f32> {
    let rows = (g.len() / cols.max(1) / (4 * rayon::current_num_threads().max(1))).max(64);
    g.par_chunks(rows * cols.max(1))
        .map(|chunk| {
            let mut acc = vec![0f32; cols];
            for row in chunk.chunks(cols.max(1)) {
                acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
            }
            acc
        })
        .reduce(
            || vec![0f32; cols],
            |mut a, b| {
                a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                a
            },
        )
}

/// `x W^T + b` into a new (n x d_out) buffer.
fn affine(x: &[f32], w: &[f32], b: &[f32], n: usize, d_in: usize, d_out: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * d_out);
    for _ in 0..n {
        out.extend_from_slice(b);
    }
    if n > 0 && d_in > 0 {
        // out += x (n x in) * W^T (in x out); W^T's element (i, j) is W[j, i].
        // SAFETY: the caller checked the shapes; views stay inside x, w, out.
        unsafe { matmul_into(true, n, d_out, d_in, &mut out, x, d_in as isize, 1, w, 1, d_in as isize) };
    }
    out
}

/// Backward of `y = x W^T + b` given dy: flat [dx (n x in) | dW (out x in) | db (out)].
fn affine_backward(x: &[f32], w: &[f32], g: &[f32], n: usize, d_in: usize, d_out: usize) -> Vec<f32> {
    let mut out = vec![0f32; n * d_in + d_out * d_in + d_out];
    let (dx, rest) = out.split_at_mut(n * d_in);
    let (dw, db) = rest.split_at_mut(d_out * d_in);
    if n > 0 && d_in > 0 && d_out > 0 {
        // SAFETY: shapes come from the checked layouts; the destinations are disjoint slices.
        unsafe {
            // dx = g (n x out) * W (out x in)
            matmul_into(false, n, d_in, d_out, dx, g, d_out as isize, 1, w, d_in as isize, 1);
            // dW = g^T (out x n) * x (n x in); g^T's element (j, i) is g[i, j].
            matmul_into(false, d_out, d_in, n, dw, g, 1, d_out as isize, x, d_in as isize, 1);
        }
        db.copy_from_slice(&column_sums(g, d_out));
    }
    out
}

fn dims(x: &Layout, w: &Layout, b: &Layout) -> Result<(usize, usize, usize)> {
    let (n, d_in) = x.shape().dims2()?;
    let (d_out, w_in) = w.shape().dims2()?;
    if w_in != d_in || b.shape().elem_count() != d_out {
        candle_core::bail!("linear: x {:?}, weight {:?}, bias {:?} do not fit", x.shape(), w.shape(), b.shape());
    }
    Ok((n, d_in, d_out))
}

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "lum-linear"
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
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (n, d_in, d_out) = dims(l1, l2, l3)?;
        let out = affine(x, w, b, n, d_in, d_out);
        Ok((CpuStorage::F32(out), Shape::from((n, d_out))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let flat = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LinearBwd)?;
        let [dx, dw, db] = super::kernels::split_flat(&flat, [x.shape(), w.shape(), b.shape()])?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

impl CustomOp3 for LinearBwd {
    fn name(&self) -> &'static str {
        "lum-linear-bwd"
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
        let (x, w, g) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (n, d_in) = l1.shape().dims2()?;
        let (d_out, _) = l2.shape().dims2()?;
        if g.len() != n * d_out {
            candle_core::bail!("linear backward: gradient {:?} does not fit {n} x {d_out}", l3.shape());
        }
        let out = affine_backward(x, w, g, n, d_in, d_out);
        Ok((CpuStorage::F32(out), Shape::from(n * d_in + d_out * d_in + d_out)))
    }
}

/// `x W^T + b`. x: (N, d_in); w: (d_out, d_in); b: (d_out,) -> (N, d_out)
pub fn linear(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        return x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, Linear);
    }
    x.matmul(&w.t()?)?.broadcast_add(b)
}

/// `gelu(x W^T + b)`; keeps the pre-activation for its backward pass.
struct LinearGelu {
    pre: Mutex<Option<Arc<Vec<f32>>>>,
}

/// Backward of [`LinearGelu`] on (x, W, dy) with the saved pre-activation.
struct LinearGeluBwd {
    pre: Arc<Vec<f32>>,
}

fn poisoned() -> candle_core::Error {
    candle_core::Error::Msg("linear-gelu pre-activation lock poisoned".into())
}

impl CustomOp3 for LinearGelu {
    fn name(&self) -> &'static str {
        "lum-linear-gelu"
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
        let (x, w, b) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (n, d_in, d_out) = dims(l1, l2, l3)?;
        let pre = affine(x, w, b, n, d_in, d_out);
        let mut out = vec![0f32; pre.len()];
        let chunk = (pre.len() / (4 * rayon::current_num_threads().max(1))).max(16 * 1024);
        out.par_chunks_mut(chunk).zip(pre.par_chunks(chunk)).for_each(|(o, u)| kernels::gelu_into(o, u));
        *self.pre.lock().map_err(|_| poisoned())? = Some(Arc::new(pre));
        Ok((CpuStorage::F32(out), Shape::from((n, d_out))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let Some(pre) = self.pre.lock().map_err(|_| poisoned())?.clone() else {
            candle_core::bail!("linear-gelu backward without a forward");
        };
        let flat = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LinearGeluBwd { pre })?;
        let [dx, dw, db] = super::kernels::split_flat(&flat, [x.shape(), w.shape(), b.shape()])?;
        Ok((Some(dx), Some(dw), Some(db)))
    }
}

impl CustomOp3 for LinearGeluBwd {
    fn name(&self) -> &'static str {
        "lum-linear-gelu-bwd"
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
        let (x, w, g) = (slice(s1, l1)?, slice(s2, l2)?, slice(s3, l3)?);
        let (n, d_in) = l1.shape().dims2()?;
        let (d_out, _) = l2.shape().dims2()?;
        if g.len() != n * d_out || self.pre.len() != g.len() {
            candle_core::bail!("linear-gelu backward: gradient {:?} does not fit {n} x {d_out}", l3.shape());
        }
        // dU = dY * gelu'(U), then the plain affine backward on dU.
        let mut du = g.to_vec();
        let chunk = (du.len() / (4 * rayon::current_num_threads().max(1))).max(16 * 1024);
        du.par_chunks_mut(chunk).zip(self.pre.par_chunks(chunk)).for_each(|(d, u)| kernels::gelu_backward_in_place(d, u));
        let out = affine_backward(x, w, &du, n, d_in, d_out);
        Ok((CpuStorage::F32(out), Shape::from(n * d_in + d_out * d_in + d_out)))
    }
}

/// `gelu(x W^T + b)` (exact GELU). x: (N, d_in); w: (d_out, d_in); b: (d_out,) -> (N, d_out)
pub fn linear_gelu(x: &Tensor, w: &Tensor, b: &Tensor) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        let op = LinearGelu { pre: Mutex::new(None) };
        return x.contiguous()?.apply_op3(&w.contiguous()?, &b.contiguous()?, op);
    }
    kernels::bias_gelu(&x.matmul(&w.t()?)?, b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;
    use candle_core::{Device, Var};

    #[test]
    fn linear_and_linear_gelu_match_composed_values_and_gradients() {
        let mut rng = Rng::new(12);
        let mut t = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            Tensor::from_vec((0..n).map(|_| rng.normal() as f32).collect::<Vec<_>>(), shape, &Device::Cpu).unwrap()
        };
        let (x, w, b, wy) = (t(&[37, 5]), t(&[3, 5]), t(&[3]), t(&[37, 3]));
        let run = |dtype: DType| {
            let vars: Vec<Var> = [&x, &w, &b].iter().map(|v| Var::from_tensor(&v.to_dtype(dtype).unwrap()).unwrap()).collect();
            let (x, w, b) = (vars[0].as_tensor(), vars[1].as_tensor(), vars[2].as_tensor());
            // Both ops in one graph: y = linear + linear_gelu.
            let y = (linear(x, w, b).unwrap() + linear_gelu(x, w, b).unwrap()).unwrap();
            let g = (&y * &wy.to_dtype(dtype).unwrap()).unwrap().sum_all().unwrap().backward().unwrap();
            let grads: Vec<Tensor> = vars.iter().map(|v| g.get(v).unwrap().to_dtype(DType::F32).unwrap()).collect();
            (y.to_dtype(DType::F32).unwrap(), grads)
        };
        let (y32, g32) = run(DType::F32);
        let (y64, g64) = run(DType::F64);
        let diff = |a: &Tensor, b: &Tensor| (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar::<f32>().unwrap();
        assert!(diff(&y32, &y64) < 1e-5);
        for (a, b) in g32.iter().zip(&g64) {
            assert!(diff(a, b) < 1e-4, "gradient differs by {}", diff(a, b));
        }
    }
}
