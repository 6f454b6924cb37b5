//! k-means and residual k-means (hierarchical semantic ids), fast and deterministic.
//!
//! Semantic item ids (TIGER, Rajput et al. 2023, §3.1, with k-means in place of
//! the RQ-VAE) quantise each item vector level by level: level 1 clusters the
//! vectors, level 2 clusters what level 1 left over (`x - c1[a1]`), and so on.
//!
//! Speed: the assignment step is a blocked matrix product in [`kernel`],
//! run on `threads` threads over fixed slices of the points. Like FAISS, each
//! level trains on at most `max_points_per_centroid · k` points sampled with the
//! seed (0 = train on all points) and then assigns every point once.
//!
//! Determinism: k-means++ and the training sample draw from the seeded
//! [`Rng`]; per-slice partial sums are f64 and combined in slice order, and the
//! slices do not depend on the thread count, so the same seed gives the same
//! codes whatever `threads` is. Empty clusters are re-seeded with the points
//! farthest from their centres (ties to the lowest point index).

pub mod bench;
pub mod kernel;

use crate::util::Rng;
use kernel::PackedCentres;
use serde::{Deserialize, Serialize};

/// Points per parallel work slice (fixed so results do not depend on thread count).
const SLICE_ROWS: usize = 8192;
/// k-means++ seeding runs on at most this many points per centre (a seeded sample).
const KMEANS_PP_POINTS_PER_CENTROID: usize = 64;

/// Settings of one k-means run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KmeansConfig {
    /// Lloyd iterations at most.
    pub max_iters: usize,
    /// Stop when the inertia improves by less than this fraction.
    pub tol: f64,
    pub seed: u64,
    /// Worker threads; 0 = all available cores.
    pub threads: usize,
    /// Train on at most this many sampled points per centre (0 = all points).
    pub max_points_per_centroid: usize,
}

impl Default for KmeansConfig {
    fn default() -> Self {
        Self {
            max_iters: 25,
            tol: 1e-4,
            seed: 42,
            threads: 0,
            max_points_per_centroid: 256,
        }
    }
}

impl KmeansConfig {
    fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        }
    }
}

/// A trained codebook.
#[derive(Clone, Debug, PartialEq)]
pub struct Kmeans {
    pub k: usize,
    pub d: usize,
    /// (k, d) row-major.
    pub centroids: Vec<f32>,
    /// Lloyd iterations run.
    pub iters: usize,
    /// Whether the tolerance was met before `max_iters`.
    pub converged: bool,
    /// Empty clusters re-seeded over all iterations.
    pub reseeded: usize,
    /// Points the codebook was trained on.
    pub train_points: usize,
}

/// Result of assigning points to a codebook.
#[derive(Clone, Debug, PartialEq)]
pub struct Assignment {
    /// Nearest centre per point.
    pub code: Vec<u32>,
    /// Squared distance to it per point.
    pub dist2: Vec<f32>,
}

/// Runs `f(slice_index, rows)` over fixed slices of `n` rows on `threads`
/// threads; returns the results in slice order (independent of scheduling).
fn par_slices<R: Send>(
    n: usize,
    threads: usize,
    f: impl Fn(usize, std::ops::Range<usize>) -> R + Sync,
) -> Vec<R> {
    let n_slices = n.div_ceil(SLICE_ROWS);
    let range = |s: usize| s * SLICE_ROWS..((s + 1) * SLICE_ROWS).min(n);
    if threads <= 1 || n_slices <= 1 {
        return (0..n_slices).map(|s| f(s, range(s))).collect();
    }
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut out: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads.min(n_slices))
            .map(|_| {
                scope.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let s = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        if s >= n_slices {
                            break;
                        }
                        mine.push((s, f(s, range(s))));
                    }
                    mine
                })
            })
            .collect();
        // A worker can only panic on a bug; re-raise it here rather than hide it.
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    });
    out.sort_by_key(|(s, _)| *s);
    out.into_iter().map(|(_, r)| r).collect()
}

/// Squared L2 norm of every row of `x` ((n, d)).
fn row_norms(x: &[f32], d: usize) -> Vec<f32> {
    x.chunks_exact(d.max(1))
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect()
}

/// Assigns every row of `x` ((n, d)) to its nearest centre; multithreaded.
pub fn assign(x: &[f32], d: usize, centres: &[f32], k: usize, threads: usize) -> Assignment {
    let n = x.len().checked_div(d).unwrap_or(0);
    let pc = PackedCentres::new(centres, k, d);
    let parts = par_slices(n, threads, |_, rows| {
        let xs = &x[rows.start * d..rows.end * d];
        let mut code = vec![0u32; rows.len()];
        let mut score = vec![0f32; rows.len()];
        kernel::nearest(xs, &pc, &mut code, &mut score);
        for (s, xr) in score.iter_mut().zip(xs.chunks_exact(d)) {
            let xn: f32 = xr.iter().map(|v| v * v).sum();
            *s = (*s + xn).max(0.0);
        }
        (code, score)
    });
    let mut out = Assignment {
        code: Vec::with_capacity(n),
        dist2: Vec::with_capacity(n),
    };
    for (c, s) in parts {
        out.code.extend(c);
        out.dist2.extend(s);
    }
    out
}

/// Seeded sample of `m` distinct row indices of `0..n`, sorted (for memory locality).
fn sample_rows(n: usize, m: usize, rng: &mut Rng) -> Vec<usize> {
    if m >= n {
        return (0..n).collect();
    }
    let mut idx: Vec<usize> = (0..n).collect();
    for i in 0..m {
        let j = i + rng.index(n - i);
        idx.swap(i, j);
    }
    idx.truncate(m);
    idx.sort_unstable();
    idx
}

fn gather_rows(x: &[f32], d: usize, rows: &[usize]) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows.len() * d);
    for &r in rows {
        out.extend_from_slice(&x[r * d..(r + 1) * d]);
    }
    out
}

/// k-means++ seeding (Arthur & Vassilvitskii 2007) on `x` ((n, d)): returns (k, d).
/// When fewer than k distinct points exist, the remaining centres repeat point 0
/// (they stay empty and show up as dead codes).
fn kmeans_pp(x: &[f32], d: usize, k: usize, rng: &mut Rng) -> Vec<f32> {
    let n = x.len() / d;
    let mut centres = Vec::with_capacity(k * d);
    let first = rng.index(n);
    centres.extend_from_slice(&x[first * d..(first + 1) * d]);
    let dist_to = |c: &[f32], p: usize| -> f32 {
        x[p * d..(p + 1) * d]
            .iter()
            .zip(c)
            .map(|(a, b)| (a - b) * (a - b))
            .sum()
    };
    let mut d2: Vec<f32> = (0..n).map(|p| dist_to(&centres[0..d], p)).collect();
    for _ in 1..k {
        let total: f64 = d2.iter().map(|v| *v as f64).sum();
        let pick = if total > 0.0 {
            let mut t = rng.f64() * total;
            let mut pick = n - 1;
            for (p, v) in d2.iter().enumerate() {
                t -= *v as f64;
                if t < 0.0 {
                    pick = p;
                    break;
                }
            }
            pick
        } else {
            0
        };
        let start = centres.len();
        centres.extend_from_slice(&x[pick * d..(pick + 1) * d]);
        let c = centres[start..start + d].to_vec();
        for (p, v) in d2.iter_mut().enumerate() {
            *v = v.min(dist_to(&c, p));
        }
    }
    centres
}

/// Trains a k-means codebook of `k` centres on `x` ((n, d) row-major, finite values).
pub fn train(x: &[f32], d: usize, k: usize, cfg: &KmeansConfig) -> Kmeans {
    let n = x.len().checked_div(d).unwrap_or(0);
    let threads = cfg.thread_count();
    let mut rng = Rng::new(cfg.seed);
    if n == 0 || k == 0 {
        return Kmeans {
            k,
            d,
            centroids: vec![0.0; k * d],
            iters: 0,
            converged: true,
            reseeded: 0,
            train_points: 0,
        };
    }
    // Training sample (FAISS-style cap), then k-means++ on a smaller sample of it.
    let cap = if cfg.max_points_per_centroid == 0 {
        n
    } else {
        cfg.max_points_per_centroid.saturating_mul(k)
    };
    let train_rows = sample_rows(n, cap, &mut rng);
    let owned;
    let xt: &[f32] = if train_rows.len() == n {
        x
    } else {
        owned = gather_rows(x, d, &train_rows);
        &owned
    };
    let nt = xt.len() / d;
    let pp_rows = sample_rows(
        nt,
        KMEANS_PP_POINTS_PER_CENTROID.saturating_mul(k),
        &mut rng,
    );
    let centroids = kmeans_pp(&gather_rows(xt, d, &pp_rows), d, k, &mut rng);
    lloyd(xt, d, k, centroids, cfg.max_iters, cfg.tol, threads)
}

/// Lloyd iterations on `xt` ((nt, d)) from the given (k, d) centroids.
fn lloyd(
    xt: &[f32],
    d: usize,
    k: usize,
    mut centroids: Vec<f32>,
    max_iters: usize,
    tol: f64,
    threads: usize,
) -> Kmeans {
    let nt = xt.len() / d;
    let norms = row_norms(xt, d);

    let (mut iters, mut converged, mut reseeded) = (0, false, 0);
    let mut prev_inertia = f64::INFINITY;
    let mut prev_codes: Vec<u32> = Vec::new();
    while iters < max_iters {
        iters += 1;
        let pc = PackedCentres::new(&centroids, k, d);
        // Assign + per-slice partial sums in one pass over the points.
        let parts = par_slices(nt, threads, |_, rows| {
            let xs = &xt[rows.start * d..rows.end * d];
            let mut code = vec![0u32; rows.len()];
            let mut score = vec![0f32; rows.len()];
            kernel::nearest(xs, &pc, &mut code, &mut score);
            let mut sums = vec![0f64; k * d];
            let mut counts = vec![0u64; k];
            let mut inertia = 0f64;
            for (i, xr) in xs.chunks_exact(d).enumerate() {
                let c = code[i] as usize;
                counts[c] += 1;
                for (s, v) in sums[c * d..(c + 1) * d].iter_mut().zip(xr) {
                    *s += *v as f64;
                }
                score[i] = (score[i] + norms[rows.start + i]).max(0.0);
                inertia += score[i] as f64;
            }
            (code, score, sums, counts, inertia)
        });
        let mut sums = vec![0f64; k * d];
        let mut counts = vec![0u64; k];
        let mut inertia = 0f64;
        let mut codes = Vec::with_capacity(nt);
        let mut dist2 = Vec::with_capacity(nt);
        for (c, s, ps, pcnt, pi) in parts {
            codes.extend(c);
            dist2.extend(s);
            for (a, b) in sums.iter_mut().zip(&ps) {
                *a += b;
            }
            for (a, b) in counts.iter_mut().zip(&pcnt) {
                *a += b;
            }
            inertia += pi;
        }
        // Update step; empty clusters take the points farthest from their centres.
        let empty: Vec<usize> = (0..k).filter(|c| counts[*c] == 0).collect();
        for c in 0..k {
            if counts[c] > 0 {
                for j in 0..d {
                    centroids[c * d + j] = (sums[c * d + j] / counts[c] as f64) as f32;
                }
            }
        }
        // Only points off their centre can help; with fewer distinct points than
        // centres the rest stay empty (dead codes) and do not block convergence.
        let mut reseeded_now = 0;
        if !empty.is_empty() {
            let mut far: Vec<usize> = (0..nt).filter(|p| dist2[*p] > 0.0).collect();
            far.sort_by(|a, b| dist2[*b].total_cmp(&dist2[*a]).then(a.cmp(b)));
            for (c, p) in empty.iter().zip(far) {
                centroids[c * d..(c + 1) * d].copy_from_slice(&xt[p * d..(p + 1) * d]);
                reseeded_now += 1;
            }
            reseeded += reseeded_now;
        }
        let unchanged = codes == prev_codes;
        let small_gain = prev_inertia.is_finite() && prev_inertia - inertia <= tol * prev_inertia;
        if reseeded_now == 0 && (unchanged || small_gain) {
            converged = true;
            break;
        }
        prev_inertia = inertia;
        prev_codes = codes;
    }
    Kmeans {
        k,
        d,
        centroids,
        iters,
        converged,
        reseeded,
        train_points: nt,
    }
}

/// One level of a residual quantiser.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualLevel {
    pub kmeans: Kmeans,
    /// Mean squared distance of the points to their centre at this level
    /// (= mean ||residual||² after this level).
    pub quant_mse: f64,
    /// Mean Euclidean distance of the points to their centre at this level.
    pub mean_dist: f64,
}

/// Codes of residual k-means over n points.
#[derive(Clone, Debug, PartialEq)]
pub struct ResidualCodes {
    pub n: usize,
    /// (n, levels) row-major: codes of point p are `codes[p*L..(p+1)*L]`.
    pub codes: Vec<u32>,
    pub levels: Vec<ResidualLevel>,
    /// Mean ||x||² before any level (the error of quantising everything to 0).
    pub input_mse: f64,
}

/// Residual k-means: level l clusters `x - Σ_{m<l} c_m[a_m]`. `x`: (n, d).
/// Each level uses its own stream of the seed.
pub fn residual_kmeans(x: &[f32], d: usize, sizes: &[usize], cfg: &KmeansConfig) -> ResidualCodes {
    let n = x.len().checked_div(d).unwrap_or(0);
    let levels_n = sizes.len();
    let threads = cfg.thread_count();
    let mut residual = x.to_vec();
    let mut codes = vec![0u32; n * levels_n];
    let mut levels = Vec::with_capacity(levels_n);
    let input_mse = if n == 0 {
        0.0
    } else {
        row_norms(x, d).iter().map(|v| *v as f64).sum::<f64>() / n as f64
    };
    for (l, &k) in sizes.iter().enumerate() {
        let level_cfg = KmeansConfig {
            seed: cfg.seed.wrapping_add(l as u64 * 0x9E37_79B9),
            ..cfg.clone()
        };
        let km = train(&residual, d, k, &level_cfg);
        let a = assign(&residual, d, &km.centroids, k, threads);
        // Subtract the chosen centre: what the next level must explain. Memory-bound,
        // so one thread suffices and no second copy of the residuals is made.
        for (r, c) in residual.chunks_exact_mut(d).zip(&a.code) {
            let c = *c as usize;
            for (v, cv) in r.iter_mut().zip(&km.centroids[c * d..(c + 1) * d]) {
                *v -= cv;
            }
        }
        for p in 0..n {
            codes[p * levels_n + l] = a.code[p];
        }
        let (quant_mse, mean_dist) = if n == 0 {
            (0.0, 0.0)
        } else {
            let s2: f64 = a.dist2.iter().map(|v| *v as f64).sum();
            let s1: f64 = a.dist2.iter().map(|v| (*v as f64).sqrt()).sum();
            (s2 / n as f64, s1 / n as f64)
        };
        levels.push(ResidualLevel {
            kmeans: km,
            quant_mse,
            mean_dist,
        });
    }
    ResidualCodes {
        n,
        codes,
        levels,
        input_mse,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `clusters` well-separated Gaussian blobs in `d` dims; returns (x, label).
    pub(crate) fn planted(
        n: usize,
        d: usize,
        clusters: usize,
        spread: f32,
        seed: u64,
    ) -> (Vec<f32>, Vec<u32>) {
        let mut rng = Rng::new(seed);
        let centres: Vec<f32> = (0..clusters * d)
            .map(|_| rng.normal() as f32 * 3.0)
            .collect();
        let mut x = Vec::with_capacity(n * d);
        let mut label = Vec::with_capacity(n);
        for _ in 0..n {
            let c = rng.index(clusters);
            label.push(c as u32);
            for j in 0..d {
                x.push(centres[c * d + j] + rng.normal() as f32 * spread);
            }
        }
        (x, label)
    }

    #[test]
    fn recovers_planted_clusters_and_error_falls_per_level() {
        let (x, label) = planted(3000, 16, 8, 0.5, 11);
        let cfg = KmeansConfig {
            seed: 5,
            threads: 2,
            ..Default::default()
        };
        let rc = residual_kmeans(&x, 16, &[8, 8, 8], &cfg);
        let l1: Vec<u32> = (0..rc.n).map(|p| rc.codes[p * 3]).collect();
        let ari = crate::tokenize::stats::adjusted_rand_index(&l1, &label);
        let purity = crate::tokenize::stats::purity(&l1, &label);
        // Chance ARI is 0 and chance purity about 1/8; well-separated blobs give ~1.
        assert!(ari > 0.9, "ari {ari}");
        assert!(purity > 0.9, "purity {purity}");
        assert!(rc.levels[0].quant_mse < rc.input_mse);
        for w in rc.levels.windows(2) {
            assert!(
                w[1].quant_mse < w[0].quant_mse,
                "{} !< {}",
                w[1].quant_mse,
                w[0].quant_mse
            );
        }
    }

    #[test]
    fn same_seed_same_codes_any_thread_count() {
        let (x, _) = planted(20_000, 8, 5, 1.0, 2);
        let a = residual_kmeans(
            &x,
            8,
            &[6, 4],
            &KmeansConfig {
                seed: 9,
                threads: 1,
                ..Default::default()
            },
        );
        let b = residual_kmeans(
            &x,
            8,
            &[6, 4],
            &KmeansConfig {
                seed: 9,
                threads: 3,
                ..Default::default()
            },
        );
        assert_eq!(a.codes, b.codes);
        assert_eq!(a.levels[0].kmeans.centroids, b.levels[0].kmeans.centroids);
        let c = residual_kmeans(
            &x,
            8,
            &[6, 4],
            &KmeansConfig {
                seed: 10,
                threads: 1,
                ..Default::default()
            },
        );
        assert_ne!(
            a.levels[0].kmeans.centroids, c.levels[0].kmeans.centroids,
            "seed has no effect"
        );
    }

    #[test]
    fn more_centres_than_points_and_duplicates_do_not_panic() {
        let x = vec![1.0, 1.0, 1.0, 1.0, 2.0, 2.0];
        let km = train(&x, 2, 5, &KmeansConfig::default());
        // Two distinct points for five centres: three stay dead, and that does
        // not keep Lloyd running to the iteration cap.
        assert!(km.converged && km.iters < 5, "iters {}", km.iters);
        let a = assign(&x, 2, &km.centroids, 5, 1);
        assert_eq!(a.code[0], a.code[1]);
        assert_ne!(a.code[0], a.code[2]);
        assert!(a.dist2.iter().all(|v| *v < 1e-6));
    }

    #[test]
    fn empty_clusters_are_reseeded_with_the_farthest_points() {
        // One point at the origin (twice) and four far away; all five centres start
        // at the origin, so four clusters are empty after the first assignment.
        let mut x = vec![0.0f32; 4];
        x.extend([10.0, 0.0, 0.0, 20.0, -30.0, 0.0, 0.0, -40.0]);
        let km = lloyd(&x, 2, 5, vec![0.0; 10], 10, 1e-4, 1);
        assert_eq!(km.reseeded, 4);
        assert!(km.converged);
        // Farthest first: centre 1 took (0,-40), centre 2 (-30,0), ...
        assert_eq!(&km.centroids[2..4], &[0.0, -40.0]);
        assert_eq!(&km.centroids[4..6], &[-30.0, 0.0]);
        let a = assign(&x, 2, &km.centroids, 5, 1);
        assert!(a.dist2.iter().all(|v| *v < 1e-9), "{:?}", a.dist2);
    }

    #[test]
    fn training_on_a_sample_still_finds_clusters() {
        let (x, label) = planted(5000, 8, 4, 0.3, 7);
        let cfg = KmeansConfig {
            max_points_per_centroid: 40,
            ..Default::default()
        };
        let km = train(&x, 8, 4, &cfg);
        assert_eq!(km.train_points, 160);
        let a = assign(&x, 8, &km.centroids, 4, 2);
        assert!(crate::tokenize::stats::adjusted_rand_index(&a.code, &label) > 0.9);
    }
}
