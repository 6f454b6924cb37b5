//! The k-means assignment kernel: for a block of points, the nearest of k centres.
//!
//! This is where k-means spends nearly all of its time (n · k · d multiply-adds
//! per pass), so it is written as a register-blocked matrix product:
//! `argmin_c ||x - c||² = argmin_c (||c||² - 2 x·c)` (||x||² is the same for every
//! c). Centres are packed once per pass into panels of [`NR`] centres laid out
//! `panel[j][lane]`, so the inner loop reads one contiguous 64-byte line per
//! dimension and broadcasts one coordinate of each of [`MR`] points: 12
//! independent accumulators, enough to keep both FMA pipes busy.
//!
//! Two implementations of the same loop: AVX2+FMA intrinsics chosen at run time
//! on x86-64 CPUs that have them, and a portable version the compiler
//! auto-vectorises (SSE2 / NEON). They can differ in the last bit (fused vs
//! separate multiply-add), so codes are reproducible on one machine, and across
//! machines up to exact ties.

/// Points per register block.
pub const MR: usize = 6;
/// Centres per panel (two 8-lane vectors).
pub const NR: usize = 16;

/// Centres prepared for [`nearest`]: panels of [`NR`] centres, transposed, padded.
#[derive(Clone, Debug)]
pub struct PackedCentres {
    /// Dimension of every vector.
    pub d: usize,
    /// Real centres.
    pub k: usize,
    /// `k` rounded up to a multiple of [`NR`].
    kp: usize,
    /// `kp / NR` panels, each `d × NR` floats: `panels[p*d*NR + j*NR + lane]`.
    panels: Vec<f32>,
    /// `||c||²` per padded centre; padding centres are `+inf` so they never win.
    norms: Vec<f32>,
}

impl PackedCentres {
    /// centroids: (k, d) row-major.
    pub fn new(centroids: &[f32], k: usize, d: usize) -> Self {
        debug_assert_eq!(centroids.len(), k * d);
        let kp = k.div_ceil(NR) * NR;
        let mut panels = vec![0f32; kp * d];
        let mut norms = vec![f32::INFINITY; kp];
        for c in 0..k {
            let row = &centroids[c * d..(c + 1) * d];
            let (p, lane) = (c / NR, c % NR);
            for (j, v) in row.iter().enumerate() {
                panels[p * d * NR + j * NR + lane] = *v;
            }
            norms[c] = row.iter().map(|v| v * v).sum();
        }
        Self {
            d,
            k,
            kp,
            panels,
            norms,
        }
    }
}

/// For each point of `xs` ((m, d) row-major, m = `idx.len()`): the index of the
/// nearest centre into `idx` and `||c||² - 2 x·c` into `score` (add `||x||²` for
/// the squared distance). Ties go to the lowest centre index.
pub fn nearest(xs: &[f32], centres: &PackedCentres, idx: &mut [u32], score: &mut [f32]) {
    debug_assert_eq!(xs.len(), idx.len() * centres.d);
    debug_assert_eq!(idx.len(), score.len());
    if centres.k == 0 {
        idx.fill(0);
        score.fill(f32::INFINITY);
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above); all
            // memory accesses inside stay within the slices (see the function).
            unsafe { avx2::nearest(xs, centres, idx, score) };
            return;
        }
    }
    portable_nearest(xs, centres, idx, score);
}

/// Whether the fast x86-64 kernel is used on this machine (reported by the benchmark).
pub fn kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if has_avx2_fma() {
            return "avx2+fma";
        }
    }
    "portable"
}

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Iterates over blocks of [`MR`] points; a short tail is copied into a zero-padded buffer.
fn for_each_block(xs: &[f32], d: usize, m: usize, mut f: impl FnMut(usize, usize, &[f32])) {
    let mut tail = vec![0f32; MR * d];
    let mut g = 0;
    while g < m {
        let rows = MR.min(m - g);
        if rows == MR {
            f(g, rows, &xs[g * d..(g + MR) * d]);
        } else {
            tail.fill(0.0);
            tail[..rows * d].copy_from_slice(&xs[g * d..(g + rows) * d]);
            f(g, rows, &tail);
        }
        g += MR;
    }
}

/// Picks the best of NR lanes: lowest score, ties to the lowest centre index.
fn reduce_lanes(v: &[f32; NR], i: &[u32; NR]) -> (u32, f32) {
    let (mut bi, mut bv) = (i[0], v[0]);
    for l in 1..NR {
        if v[l] < bv || (v[l] == bv && i[l] < bi) {
            bv = v[l];
            bi = i[l];
        }
    }
    (bi, bv)
}

/// The same blocked loop in plain Rust; LLVM vectorises the lane loops.
fn portable_nearest(xs: &[f32], pc: &PackedCentres, idx: &mut [u32], score: &mut [f32]) {
    let d = pc.d;
    for_each_block(xs, d, idx.len(), |g, rows, xb| {
        let mut best_v = [[f32::INFINITY; NR]; MR];
        let mut best_i = [[0u32; NR]; MR];
        for p in 0..pc.kp / NR {
            let panel = &pc.panels[p * d * NR..(p + 1) * d * NR];
            let mut acc = [[0f32; NR]; MR];
            for j in 0..d {
                let c: &[f32; NR] = panel[j * NR..(j + 1) * NR].try_into().unwrap_or(&[0.0; NR]);
                for r in 0..MR {
                    let x = xb[r * d + j];
                    for l in 0..NR {
                        acc[r][l] += x * c[l];
                    }
                }
            }
            let norms = &pc.norms[p * NR..(p + 1) * NR];
            for r in 0..MR {
                for l in 0..NR {
                    let s = norms[l] - 2.0 * acc[r][l];
                    if s < best_v[r][l] {
                        best_v[r][l] = s;
                        best_i[r][l] = (p * NR + l) as u32;
                    }
                }
            }
        }
        for r in 0..rows {
            let (bi, bv) = reduce_lanes(&best_v[r], &best_i[r]);
            idx[g + r] = bi;
            score[g + r] = bv;
        }
    });
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{MR, NR, PackedCentres, for_each_block, reduce_lanes};
    use std::arch::x86_64::*;

    /// AVX2+FMA version of [`super::portable_nearest`].
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA. Reads stay inside `xb` (MR·d floats),
    /// the panel (d·NR floats) and `norms` (kp floats), as in the portable loop.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn nearest(xs: &[f32], pc: &PackedCentres, idx: &mut [u32], score: &mut [f32]) {
        let d = pc.d;
        for_each_block(xs, d, idx.len(), |g, rows, xb| {
            // SAFETY: same CPU features as the enclosing function; pointer
            // offsets are bounded by the slice lengths noted above.
            unsafe {
                let lane0 = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
                let lane1 = _mm256_setr_epi32(8, 9, 10, 11, 12, 13, 14, 15);
                let two = _mm256_set1_ps(2.0);
                let mut best_v = [_mm256_set1_ps(f32::INFINITY); 2 * MR];
                let mut best_i = [_mm256_setzero_si256(); 2 * MR];
                let xp = xb.as_ptr();
                for p in 0..pc.kp / NR {
                    let mut cp = pc.panels.as_ptr().add(p * d * NR);
                    let mut acc = [_mm256_setzero_ps(); 2 * MR];
                    for j in 0..d {
                        let c0 = _mm256_loadu_ps(cp);
                        let c1 = _mm256_loadu_ps(cp.add(8));
                        for r in 0..MR {
                            let b = _mm256_broadcast_ss(&*xp.add(r * d + j));
                            acc[2 * r] = _mm256_fmadd_ps(b, c0, acc[2 * r]);
                            acc[2 * r + 1] = _mm256_fmadd_ps(b, c1, acc[2 * r + 1]);
                        }
                        cp = cp.add(NR);
                    }
                    let np = pc.norms.as_ptr().add(p * NR);
                    let n0 = _mm256_loadu_ps(np);
                    let n1 = _mm256_loadu_ps(np.add(8));
                    let base = _mm256_set1_epi32((p * NR) as i32);
                    let i0 = _mm256_add_epi32(base, lane0);
                    let i1 = _mm256_add_epi32(base, lane1);
                    for r in 0..MR {
                        for (h, (n, iv)) in [(n0, i0), (n1, i1)].into_iter().enumerate() {
                            let a = 2 * r + h;
                            // s = ||c||² - 2 x·c
                            let s = _mm256_fnmadd_ps(two, acc[a], n);
                            let lt = _mm256_cmp_ps::<_CMP_LT_OQ>(s, best_v[a]);
                            best_v[a] = _mm256_blendv_ps(best_v[a], s, lt);
                            best_i[a] = _mm256_castps_si256(_mm256_blendv_ps(
                                _mm256_castsi256_ps(best_i[a]),
                                _mm256_castsi256_ps(iv),
                                lt,
                            ));
                        }
                    }
                }
                for r in 0..rows {
                    let mut v = [0f32; NR];
                    let mut i = [0u32; NR];
                    _mm256_storeu_ps(v.as_mut_ptr(), best_v[2 * r]);
                    _mm256_storeu_ps(v.as_mut_ptr().add(8), best_v[2 * r + 1]);
                    _mm256_storeu_si256(i.as_mut_ptr() as *mut __m256i, best_i[2 * r]);
                    _mm256_storeu_si256(i.as_mut_ptr().add(8) as *mut __m256i, best_i[2 * r + 1]);
                    let (bi, bv) = reduce_lanes(&v, &i);
                    idx[g + r] = bi;
                    score[g + r] = bv;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::util::Rng;

    /// Brute force nearest centre by direct squared distance.
    fn brute(xs: &[f32], cs: &[f32], k: usize, d: usize) -> Vec<u32> {
        xs.chunks(d)
            .map(|x| {
                let mut best = (0u32, f64::INFINITY);
                for c in 0..k {
                    let dist: f64 = (0..d)
                        .map(|j| ((x[j] - cs[c * d + j]) as f64).powi(2))
                        .sum();
                    if dist < best.1 {
                        best = (c as u32, dist);
                    }
                }
                best.0
            })
            .collect()
    }

    #[test]
    fn kernels_match_brute_force_for_odd_shapes() {
        let mut rng = Rng::new(3);
        for &(m, k, d) in &[(1, 1, 1), (7, 5, 3), (13, 17, 9), (25, 33, 16), (6, 16, 64)] {
            let xs: Vec<f32> = (0..m * d).map(|_| rng.normal() as f32).collect();
            let cs: Vec<f32> = (0..k * d).map(|_| rng.normal() as f32).collect();
            let pc = PackedCentres::new(&cs, k, d);
            let want = brute(&xs, &cs, k, d);
            let (mut idx, mut score) = (vec![0u32; m], vec![0f32; m]);
            nearest(&xs, &pc, &mut idx, &mut score);
            assert_eq!(idx, want, "dispatching kernel, m={m} k={k} d={d}");
            let (mut idx2, mut score2) = (vec![0u32; m], vec![0f32; m]);
            portable_nearest(&xs, &pc, &mut idx2, &mut score2);
            assert_eq!(idx2, want, "portable kernel, m={m} k={k} d={d}");
            // score + ||x||² is the squared distance to the chosen centre.
            for (p, x) in xs.chunks(d).enumerate() {
                let c = &cs[idx[p] as usize * d..(idx[p] as usize + 1) * d];
                let dist: f32 = x.iter().zip(c).map(|(a, b)| (a - b) * (a - b)).sum();
                let xn: f32 = x.iter().map(|v| v * v).sum();
                assert!(
                    (score[p] + xn - dist).abs() < 1e-3 * (1.0 + dist),
                    "{} vs {dist}",
                    score[p] + xn
                );
            }
        }
    }

    #[test]
    fn ties_go_to_the_lowest_index() {
        // Three identical centres: every point must pick centre 0.
        let cs = vec![1.0, 2.0, 1.0, 2.0, 1.0, 2.0];
        let pc = PackedCentres::new(&cs, 3, 2);
        let xs = vec![0.0, 0.0, 5.0, -1.0];
        let (mut idx, mut score) = (vec![9u32; 2], vec![0f32; 2]);
        nearest(&xs, &pc, &mut idx, &mut score);
        assert_eq!(idx, vec![0, 0]);
    }
}
