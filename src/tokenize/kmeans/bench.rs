//! `lumlab bench kmeans`: times residual k-means on synthetic vectors, and one
//! assignment pass of the Rust kernel against the same pass done with a candle
//! CPU matmul (the alternative we measured before choosing the kernel).

use super::{KmeansConfig, assign, residual_kmeans};
use crate::util::Rng;
use serde::Serialize;
use std::time::Instant;

/// Planted blobs in the synthetic benchmark data (so k-means has structure to find).
const BENCH_BLOBS: usize = 1024;
/// Rows per candle matmul block in the comparison pass.
const CANDLE_BLOCK_ROWS: usize = 16_384;

/// Timing of one level of residual k-means.
#[derive(Clone, Debug, Serialize)]
pub struct BenchLevel {
    pub k: usize,
    pub train_points: usize,
    pub iters: usize,
    pub converged: bool,
    pub quant_mse: f64,
}

/// What `bench_kmeans` measured.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub n_items: usize,
    pub dim: usize,
    pub levels: Vec<usize>,
    pub threads: usize,
    /// Assignment kernel used ("avx2+fma" or "portable").
    pub kernel: String,
    pub config: KmeansConfig,
    /// Seconds to make the synthetic data (not part of k-means).
    pub data_secs: f64,
    /// Wall seconds of the whole residual k-means (all levels, train + assign).
    pub kmeans_secs: f64,
    pub per_level: Vec<BenchLevel>,
    /// One full assignment pass (n × k_1 × dim) with the Rust kernel: seconds and GFLOP/s (2 flops per multiply-add).
    pub assign_pass_secs: f64,
    pub assign_gflops: f64,
    /// The same pass as blocked candle CPU matmuls + argmin in Rust, for comparison; None if candle failed.
    pub candle_assign_pass_secs: Option<f64>,
    /// Whether both passes chose the same centres for every point (ties aside, they should).
    pub candle_agreement: Option<f64>,
}

/// Synthetic (n, d) data: points around `BENCH_BLOBS` seeded centres, L2-normalised like content vectors.
fn synthetic(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let centres: Vec<f32> = (0..BENCH_BLOBS * d).map(|_| rng.normal() as f32).collect();
    let mut x = vec![0f32; n * d];
    for row in x.chunks_exact_mut(d) {
        let c = rng.index(BENCH_BLOBS);
        for (j, v) in row.iter_mut().enumerate() {
            *v = centres[c * d + j] + 0.5 * rng.normal() as f32;
        }
        let norm = row
            .iter()
            .map(|v| v * v)
            .sum::<f32>()
            .sqrt()
            .max(f32::MIN_POSITIVE);
        row.iter_mut().for_each(|v| *v /= norm);
    }
    x
}

/// Times residual k-means with the default config (training sample capped at 256 points per centre).
pub fn bench_kmeans(n_items: usize, dim: usize, levels: &[usize]) -> BenchReport {
    bench_kmeans_with(n_items, dim, levels, &KmeansConfig::default())
}

/// Times residual k-means with an explicit config (e.g. `max_points_per_centroid: 0` to train on all points).
pub fn bench_kmeans_with(
    n_items: usize,
    dim: usize,
    levels: &[usize],
    cfg: &KmeansConfig,
) -> BenchReport {
    let threads = cfg.thread_count();
    let t = Instant::now();
    let x = synthetic(n_items, dim, cfg.seed);
    let data_secs = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let rc = residual_kmeans(&x, dim, levels, cfg);
    let kmeans_secs = t.elapsed().as_secs_f64();

    // One assignment pass against the level-1 codebook, Rust kernel vs candle.
    let (centres, k1) = match rc.levels.first() {
        Some(l) => (l.kmeans.centroids.clone(), l.kmeans.k),
        None => (Vec::new(), 0),
    };
    let t = Instant::now();
    let ours = assign(&x, dim, &centres, k1, threads);
    let assign_pass_secs = t.elapsed().as_secs_f64();
    let flops = 2.0 * n_items as f64 * k1 as f64 * dim as f64;
    let t = Instant::now();
    let candle = candle_assign(&x, dim, &centres, k1);
    let candle_secs = t.elapsed().as_secs_f64();
    let (candle_assign_pass_secs, candle_agreement) = match candle {
        Ok(codes) if !codes.is_empty() => {
            let same = codes.iter().zip(&ours.code).filter(|(a, b)| a == b).count();
            (Some(candle_secs), Some(same as f64 / codes.len() as f64))
        }
        _ => (None, None),
    };
    BenchReport {
        n_items,
        dim,
        levels: levels.to_vec(),
        threads,
        kernel: super::kernel::kernel_name().to_string(),
        config: cfg.clone(),
        data_secs,
        kmeans_secs,
        per_level: rc
            .levels
            .iter()
            .map(|l| BenchLevel {
                k: l.kmeans.k,
                train_points: l.kmeans.train_points,
                iters: l.kmeans.iters,
                converged: l.kmeans.converged,
                quant_mse: l.quant_mse,
            })
            .collect(),
        assign_pass_secs,
        assign_gflops: flops / assign_pass_secs.max(1e-9) / 1e9,
        candle_assign_pass_secs,
        candle_agreement,
    }
}

/// Nearest centre per row via candle: scores = ||c||² - 2 x cᵀ per block, argmin in Rust.
fn candle_assign(x: &[f32], d: usize, centres: &[f32], k: usize) -> candle_core::Result<Vec<u32>> {
    use candle_core::{Device, Tensor};
    if k == 0 || d == 0 {
        return Ok(Vec::new());
    }
    let dev = Device::Cpu;
    let c = Tensor::from_slice(centres, (k, d), &dev)?;
    let ct = c.t()?.contiguous()?; // (d, k)
    let cn: Vec<f32> = centres
        .chunks_exact(d)
        .map(|r| r.iter().map(|v| v * v).sum())
        .collect();
    let n = x.len() / d;
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    while start < n {
        let rows = CANDLE_BLOCK_ROWS.min(n - start);
        let xb = Tensor::from_slice(&x[start * d..(start + rows) * d], (rows, d), &dev)?;
        let dots: Vec<f32> = xb.matmul(&ct)?.flatten_all()?.to_vec1()?; // (rows, k)
        for r in dots.chunks_exact(k) {
            let mut best = (0u32, f32::INFINITY);
            for (j, dot) in r.iter().enumerate() {
                let s = cn[j] - 2.0 * dot;
                if s < best.1 {
                    best = (j as u32, s);
                }
            }
            out.push(best.0);
        }
        start += rows;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_bench_runs_and_candle_agrees() {
        let r = bench_kmeans_with(
            3000,
            16,
            &[8, 8],
            &KmeansConfig {
                max_iters: 5,
                ..Default::default()
            },
        );
        assert_eq!(r.per_level.len(), 2);
        assert!(r.kmeans_secs > 0.0 && r.assign_gflops > 0.0);
        assert!(r.per_level[1].quant_mse < r.per_level[0].quant_mse);
        // Same nearest centre, bar float ties, from both implementations.
        assert!(
            r.candle_agreement.unwrap_or(0.0) > 0.99,
            "{:?}",
            r.candle_agreement
        );
    }
}
