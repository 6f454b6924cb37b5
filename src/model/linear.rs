//! `x W^T + b` as one op with its own backward pass on the CPU.
//!
//! Composed from candle ops this is a matmul, a transposed view and a broadcast add whose
//! backward reduces the bias gradient with a strided column sum and routes every gradient
//! through an extra zero-filled buffer. Here the bias is written into the output first and
//! the product accumulated onto it by one `gemm` call; the backward computes dx, dW and db
//! in one op. Other devices and dtypes use the composed version.

use candle_core::{CpuStorage, CustomOp3, DType, Layout, Result, Shape, Tensor};
use gemm::{Parallelism, gemm};
use rayon::prelude::*;

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
        let mut out = Vec::with_capacity(n * d_out);
        for _ in 0..n {
            out.extend_from_slice(b);
        }
        if n > 0 && d_in > 0 {
            // out += x (n x in) * W^T (in x out); W^T's element (i, j) is W[j, i].
            // SAFETY: shapes checked by `dims`; views stay inside x, w, out.
            unsafe { matmul_into(true, n, d_out, d_in, &mut out, x, d_in as isize, 1, w, 1, d_in as isize) };
        }
        Ok((CpuStorage::F32(out), Shape::from((n, d_out))))
    }

    fn bwd(&self, x: &Tensor, w: &Tensor, b: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let flat = x.apply_op3_no_bwd(w, &grad.contiguous()?, &LinearBwd)?;
        let (nx, nw) = (x.elem_count(), w.elem_count());
        let dx = flat.narrow(0, 0, nx)?.reshape(x.shape())?;
        let dw = flat.narrow(0, nx, nw)?.reshape(w.shape())?;
        let db = flat.narrow(0, nx + nw, b.elem_count())?.reshape(b.shape())?;
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
        let mut out = vec![0f32; n * d_in + d_out * d_in + d_out];
        let (dx, rest) = out.split_at_mut(n * d_in);
        let (dw, db) = rest.split_at_mut(d_out * d_in);
        if n > 0 && d_in > 0 && d_out > 0 {
            // SAFETY: shapes checked above; the three destinations are disjoint slices.
            unsafe {
                // dx = g (n x out) * W (out x in)
                matmul_into(false, n, d_in, d_out, dx, g, d_out as isize, 1, w, d_in as isize, 1);
                // dW = g^T (out x n) * x (n x in); g^T's element (j, i) is g[i, j].
                matmul_into(false, d_out, d_in, n, dw, g, 1, d_out as isize, x, d_in as isize, 1);
            }
            // db = column sums of g, accumulated row by row (contiguous, vectorises).
            let rows = (n / (4 * rayon::current_num_threads().max(1))).max(64);
            let sums = g
                .par_chunks(rows * d_out)
                .map(|chunk| {
                    let mut acc = vec![0f32; d_out];
                    for row in chunk.chunks(d_out) {
                        acc.iter_mut().zip(row).for_each(|(a, v)| *a += v);
                    }
                    acc
                })
                .reduce(
                    || vec![0f32; d_out],
                    |mut a, b| {
                        a.iter_mut().zip(&b).for_each(|(a, b)| *a += b);
                        a
                    },
                );
            db.copy_from_slice(&sums);
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;
    use candle_core::{Device, Var};

    #[test]
    fn linear_matches_composed_values_and_gradients() {
        let mut rng = Rng::new(12);
        let mut t = |shape: &[usize]| {
            let n: usize = shape.iter().product();
            Tensor::from_vec((0..n).map(|_| rng.normal() as f32).collect::<Vec<_>>(), shape, &Device::Cpu).unwrap()
        };
        let (x, w, b, wy) = (t(&[37, 5]), t(&[3, 5]), t(&[3]), t(&[37, 3]));
        let run = |dtype: DType| {
            let vars: Vec<Var> = [&x, &w, &b].iter().map(|v| Var::from_tensor(&v.to_dtype(dtype).unwrap()).unwrap()).collect();
            let y = linear(vars[0].as_tensor(), vars[1].as_tensor(), vars[2].as_tensor()).unwrap();
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
