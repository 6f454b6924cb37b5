//! 2-D PCA for embedding plots (item tables, interest vectors).
//!
//! Power iteration with deflation on the covariance, applied as `Xᵀ(X v)` so
//! the d×d matrix is never formed: O(n·d) memory-free per iteration, fine for
//! (100k, 256) tables. The start vector comes from a fixed-seed RNG, so the
//! same data always gives the same picture; each component's sign is fixed so
//! that its largest-magnitude entry is positive.

use serde::{Deserialize, Serialize};

use crate::util::Rng;

/// Iteration cap per component; with the tolerance below, well-separated
/// spectra converge in tens of iterations.
const MAX_ITERS: usize = 1000;
/// Stop when the eigenvalue estimate changes by less than this, relatively.
const REL_TOL: f64 = 1e-12;
/// Seed of the deterministic start vector.
const INIT_SEED: u64 = 0x5CA1AB1E;

/// Why PCA could not run.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PcaError {
    /// `data.len() != n * d`.
    #[error("PCA input has {len} values, expected n*d = {n}*{d}")]
    Shape { len: usize, n: usize, d: usize },
    /// Variance needs two points, components need a dimension.
    #[error("PCA needs at least 2 vectors of dimension >= 1 (got n = {n}, d = {d})")]
    TooSmall { n: usize, d: usize },
    /// A NaN or infinite entry.
    #[error("PCA input entry {index} (row {row}) is not finite")]
    NonFinite { index: usize, row: usize },
}

/// The top two principal components and the data projected onto them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pca2 {
    /// Per-dimension mean that was subtracted, length d.
    pub mean: Vec<f32>,
    /// Unit principal directions, each length d (the second is zero when d = 1
    /// or the data has no variance left after the first).
    pub components: [Vec<f32>; 2],
    /// Coordinates of each row on the two components, length n.
    pub coords: Vec<[f32; 2]>,
    /// Variance along each component (sample covariance, divisor n - 1).
    pub explained_variance: [f64; 2],
    /// `explained_variance / total variance` (0 when the data is constant).
    pub explained_variance_ratio: [f64; 2],
}

/// PCA to 2-D of `n` row-major vectors of dimension `d` in `data` (n*d values).
pub fn pca_2d(data: &[f32], n: usize, d: usize) -> Result<Pca2, PcaError> {
    if data.len() != n.saturating_mul(d) {
        return Err(PcaError::Shape { len: data.len(), n, d });
    }
    if n < 2 || d == 0 {
        return Err(PcaError::TooSmall { n, d });
    }
    if let Some(index) = data.iter().position(|v| !v.is_finite()) {
        return Err(PcaError::NonFinite { index, row: index / d });
    }
    let rows = || data.chunks_exact(d);
    let mut mean = vec![0.0f64; d];
    for row in rows() {
        for (m, &x) in mean.iter_mut().zip(row) {
            *m += x as f64;
        }
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let denom = (n - 1) as f64;
    let total_variance: f64 =
        rows().map(|row| row.iter().zip(&mean).map(|(&x, m)| (x as f64 - m).powi(2)).sum::<f64>()).sum::<f64>() / denom;

    // C v = Xcᵀ (Xc v) / (n-1), with Xc = X - 1·meanᵀ applied on the fly.
    let cov_times = |v: &[f64], out: &mut [f64]| {
        out.iter_mut().for_each(|o| *o = 0.0);
        let mean_dot_v: f64 = mean.iter().zip(v).map(|(m, x)| m * x).sum();
        for row in rows() {
            let proj: f64 = row.iter().zip(v).map(|(&x, vi)| x as f64 * vi).sum::<f64>() - mean_dot_v;
            for ((o, &x), m) in out.iter_mut().zip(row).zip(&mean) {
                *o += (x as f64 - m) * proj;
            }
        }
        out.iter_mut().for_each(|o| *o /= denom);
    };

    let mut rng = Rng::new(INIT_SEED);
    let (v1, l1) = top_eigen(d, &[], &cov_times, &mut rng);
    let (v2, l2) = if d > 1 { top_eigen(d, &[&v1], &cov_times, &mut rng) } else { (vec![0.0; d], 0.0) };

    let coords = rows()
        .map(|row| {
            let project = |v: &[f64]| -> f32 {
                row.iter().zip(&mean).zip(v).map(|((&x, m), vi)| (x as f64 - m) * vi).sum::<f64>() as f32
            };
            [project(&v1), project(&v2)]
        })
        .collect();
    let ratio = |l: f64| if total_variance > 0.0 { l / total_variance } else { 0.0 };
    Ok(Pca2 {
        mean: mean.iter().map(|&m| m as f32).collect(),
        components: [v1.iter().map(|&x| x as f32).collect(), v2.iter().map(|&x| x as f32).collect()],
        coords,
        explained_variance: [l1, l2],
        explained_variance_ratio: [ratio(l1), ratio(l2)],
    })
}

fn norm(v: &[f64]) -> f64 {
    v.iter().map(|x| x * x).sum::<f64>().sqrt()
}

/// Removes the components along each (unit) vector in `against`.
fn orthogonalise(v: &mut [f64], against: &[&Vec<f64>]) {
    for u in against {
        let dot: f64 = v.iter().zip(u.iter()).map(|(a, b)| a * b).sum();
        v.iter_mut().zip(u.iter()).for_each(|(a, b)| *a -= dot * b);
    }
}

/// Dominant eigenvector (unit, sign-fixed) and eigenvalue of the symmetric PSD
/// operator `apply`, restricted to the complement of `deflate` (deflation by
/// projection, which for an exact eigenvector equals `C - λ v vᵀ`).
fn top_eigen(d: usize, deflate: &[&Vec<f64>], apply: &dyn Fn(&[f64], &mut [f64]), rng: &mut Rng) -> (Vec<f64>, f64) {
    let mut v: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
    orthogonalise(&mut v, deflate);
    let nv = norm(&v);
    if nv == 0.0 {
        return (vec![0.0; d], 0.0);
    }
    v.iter_mut().for_each(|x| *x /= nv);
    let mut w = vec![0.0; d];
    let mut lambda = 0.0;
    for _ in 0..MAX_ITERS {
        apply(&v, &mut w);
        // Re-project every step: rounding would otherwise let the deflated
        // direction grow back.
        orthogonalise(&mut w, deflate);
        let new_lambda: f64 = v.iter().zip(&w).map(|(a, b)| a * b).sum();
        let nw = norm(&w);
        if nw <= f64::MIN_POSITIVE {
            // No variance left in this subspace.
            return (vec![0.0; d], 0.0);
        }
        w.iter_mut().for_each(|x| *x /= nw);
        std::mem::swap(&mut v, &mut w);
        let converged = (new_lambda - lambda).abs() <= REL_TOL * new_lambda.abs().max(f64::MIN_POSITIVE);
        lambda = new_lambda;
        if converged {
            break;
        }
    }
    // Rayleigh quotient of the final vector.
    apply(&v, &mut w);
    lambda = v.iter().zip(&w).map(|(a, b)| a * b).sum::<f64>().max(0.0);
    let biggest = v.iter().copied().fold(0.0f64, |acc, x| if x.abs() > acc.abs() { x } else { acc });
    if biggest < 0.0 {
        v.iter_mut().for_each(|x| *x = -*x);
    }
    (v, lambda)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_planted_direction() {
        // 5-D data: large variance along u = (1, 2, 0, -2, 0)/3, small noise elsewhere,
        // a second planted direction w ⟂ u with medium variance.
        let u = [1.0 / 3.0, 2.0 / 3.0, 0.0, -2.0 / 3.0, 0.0];
        let w = [0.0, 0.0, 1.0, 0.0, 0.0];
        let mut rng = Rng::new(9);
        let n = 2000;
        let mut data = Vec::with_capacity(n * 5);
        for _ in 0..n {
            let a = 10.0 * rng.normal();
            let b = 3.0 * rng.normal();
            for j in 0..5 {
                data.push((a * u[j] + b * w[j] + 0.1 * rng.normal() + 7.0) as f32);
            }
        }
        let p = pca_2d(&data, n, 5).unwrap();
        let dot = |v: &[f32], t: &[f64]| v.iter().zip(t).map(|(&a, b)| a as f64 * b).sum::<f64>();
        assert!(dot(&p.components[0], &u).abs() > 0.999, "{:?}", p.components[0]);
        assert!(dot(&p.components[1], &w).abs() > 0.999, "{:?}", p.components[1]);
        assert!(dot(&p.components[0], &p.components[1].iter().map(|&x| x as f64).collect::<Vec<_>>()).abs() < 1e-5);
        // Ratios: about 100 : 9 : noise 5*0.01.
        let r = p.explained_variance_ratio;
        assert!(r[0] > 0.9 && r[0] < 0.93, "{r:?}");
        assert!(r[1] > 0.07 && r[1] < 0.09, "{r:?}");
        // The mean was removed: coordinates average to ~0.
        let m0 = p.coords.iter().map(|c| c[0] as f64).sum::<f64>() / n as f64;
        assert!(m0.abs() < 1e-3);
        assert!((p.mean[2] - 7.0).abs() < 0.3);
        // Deterministic.
        assert_eq!(pca_2d(&data, n, 5).unwrap(), p);
    }

    #[test]
    fn ratios_match_closed_form_2x2() {
        // Four points in 2-D; sample covariance computed by hand-formula below,
        // eigenvalues of [[a, b], [b, c]] = (a+c)/2 ± sqrt(((a-c)/2)² + b²).
        let pts = [[2.0f32, 0.0], [0.0, 1.0], [-2.0, 0.5], [1.0, -1.5]];
        let n = pts.len();
        let data: Vec<f32> = pts.iter().flatten().copied().collect();
        let mx = pts.iter().map(|p| p[0] as f64).sum::<f64>() / n as f64;
        let my = pts.iter().map(|p| p[1] as f64).sum::<f64>() / n as f64;
        let cov = |f: &dyn Fn(&[f32; 2]) -> f64| pts.iter().map(f).sum::<f64>() / (n - 1) as f64;
        let a = cov(&|p| (p[0] as f64 - mx).powi(2));
        let c = cov(&|p| (p[1] as f64 - my).powi(2));
        let b = cov(&|p| (p[0] as f64 - mx) * (p[1] as f64 - my));
        let mid = (a + c) / 2.0;
        let rad = (((a - c) / 2.0).powi(2) + b * b).sqrt();
        let (l1, l2) = (mid + rad, mid - rad);
        let p = pca_2d(&data, n, 2).unwrap();
        assert!((p.explained_variance[0] - l1).abs() < 1e-9, "{:?} vs {l1}", p.explained_variance);
        assert!((p.explained_variance[1] - l2).abs() < 1e-9);
        assert!((p.explained_variance_ratio[0] - l1 / (a + c)).abs() < 1e-9);
        assert!((p.explained_variance_ratio[1] - l2 / (a + c)).abs() < 1e-9);
        assert!((p.explained_variance_ratio.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    }

    #[test]
    fn degenerate_inputs() {
        // Constant data: no variance, zero ratios, zero coordinates.
        let p = pca_2d(&[1.0; 6], 3, 2).unwrap();
        assert_eq!(p.explained_variance_ratio, [0.0, 0.0]);
        assert!(p.coords.iter().all(|c| c[0] == 0.0 && c[1] == 0.0));
        // d = 1: the second component is empty.
        let p = pca_2d(&[1.0, 2.0, 4.0], 3, 1).unwrap();
        assert!((p.explained_variance_ratio[0] - 1.0).abs() < 1e-12);
        assert_eq!(p.components[1], vec![0.0]);
        assert_eq!(pca_2d(&[1.0; 5], 2, 2), Err(PcaError::Shape { len: 5, n: 2, d: 2 }));
        assert_eq!(pca_2d(&[1.0; 2], 1, 2), Err(PcaError::TooSmall { n: 1, d: 2 }));
        assert!(matches!(pca_2d(&[1.0, f32::NAN], 2, 1), Err(PcaError::NonFinite { row: 1, .. })));
    }
}
