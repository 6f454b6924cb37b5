//! Item content: words, log-scale price buckets and the content vectors that
//! semantic ids cluster.
//!
//! A content vector is a fixed seeded random projection of an item's hashed
//! sparse features to [`CONTENT_DIM`] dims, then L2-normalised:
//! `v = W_c·R("c:"+category) + W_b·R("b:"+brand) + W_p·price + W_t/√n·Σ_words R("w:"+word)`.
//! `R(f)` is a Gaussian vector (entries N(0, 1/CONTENT_DIM)) drawn from an RNG
//! seeded by xxh3(f, seed): the same as multiplying the one-hot feature vector
//! (a 2^64-bucket feature hash) by a random Gaussian matrix, without storing the
//! matrix. Random directions are nearly orthogonal in 64 dims, so items that
//! share a category (the heaviest weight) land close together, then those that
//! share brand, price range and title words. The price feature interpolates
//! between the random vectors of its two nearest log-scale buckets, so nearby
//! prices stay nearby.

use crate::data::{ItemTable, NONE};
use crate::util::Rng;
use std::collections::HashMap;
use xxhash_rust::xxh3::xxh3_64_with_seed;

/// Width of content vectors.
pub const CONTENT_DIM: usize = 64;
/// Log-scale price buckets per doubling of (1 + price).
pub const PRICE_BUCKETS_PER_OCTAVE: f32 = 2.0;
/// Feature weights in the content vector (category dominates; see the module docs).
const W_CATEGORY: f32 = 1.0;
const W_BRAND: f32 = 0.7;
const W_PRICE: f32 = 0.5;
const W_TITLE: f32 = 0.8;

/// Normalises a word: lower case, surrounding punctuation removed ("Red," -> "red").
pub fn normalize_word(w: &str) -> String {
    w.trim_matches(|c: char| c.is_ascii_punctuation())
        .to_lowercase()
}

/// Distinct normalised words of `text` split on whitespace, first `max` kept, in order.
pub fn words(text: &str, max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for w in text.split_whitespace() {
        if out.len() >= max {
            break;
        }
        let w = normalize_word(w);
        if !w.is_empty() && !out.contains(&w) {
            out.push(w);
        }
    }
    out
}

/// Continuous log-scale bucket position of a price: `PRICE_BUCKETS_PER_OCTAVE · log2(1 + price)`;
/// None for unknown (NaN) or negative prices.
fn price_position(price: f32) -> Option<f32> {
    (price.is_finite() && price >= 0.0).then(|| PRICE_BUCKETS_PER_OCTAVE * (1.0 + price).log2())
}

/// Log-scale price bucket of a price (None when unknown or negative).
pub fn price_bucket(price: f32) -> Option<u32> {
    price_position(price).map(|p| p.floor() as u32)
}

/// The price range a bucket stands for, e.g. "[3, 4.657)" (3 decimals below 100, none above).
pub fn price_bucket_name(b: u32) -> String {
    // The tiny offset keeps exact powers of two from printing as 2.999.
    let edge = |b: u32| 2f64.powf(b as f64 / PRICE_BUCKETS_PER_OCTAVE as f64) - 1.0 + 1e-9;
    let fmt = |v: f64| {
        if v >= 100.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
                .trim_end_matches('0')
                .trim_end_matches('.')
                .to_string()
        }
    };
    format!("[{}, {})", fmt(edge(b)), fmt(edge(b + 1)))
}

/// Whether the items table describes item `i`.
pub fn described(table: &ItemTable, i: usize) -> bool {
    table.described.get(i).copied().unwrap_or(false)
}

/// Seeded random feature directions, memoised per feature string.
struct Projector {
    seed: u64,
    cache: HashMap<String, Vec<f32>>,
}

impl Projector {
    fn dir(&mut self, feature: &str) -> &[f32] {
        let seed = self.seed;
        self.cache.entry(feature.to_string()).or_insert_with(|| {
            let mut rng = Rng::new(xxh3_64_with_seed(feature.as_bytes(), seed));
            let scale = 1.0 / (CONTENT_DIM as f32).sqrt();
            (0..CONTENT_DIM)
                .map(|_| rng.normal() as f32 * scale)
                .collect()
        })
    }

    fn add(&mut self, v: &mut [f32], feature: &str, w: f32) {
        for (a, b) in v.iter_mut().zip(self.dir(feature)) {
            *a += w * b;
        }
    }
}

/// Content vectors of every item the table describes with at least one feature.
/// Returns (item ids ascending, their vectors as (m, CONTENT_DIM) row-major).
pub fn content_vectors(
    table: &ItemTable,
    n_items: usize,
    seed: u64,
    max_words: usize,
) -> (Vec<u32>, Vec<f32>) {
    let mut proj = Projector {
        seed,
        cache: HashMap::new(),
    };
    let mut ids = Vec::new();
    let mut x = Vec::new();
    let mut v = vec![0f32; CONTENT_DIM];
    for i in 0..n_items {
        if !described(table, i) {
            continue;
        }
        v.fill(0.0);
        let mut any = false;
        if let Some(c) = table.category.get(i).filter(|c| **c != NONE) {
            proj.add(
                &mut v,
                &format!("c:{}", table.categories.name(*c)),
                W_CATEGORY,
            );
            any = true;
        }
        if let Some(b) = table.brand.get(i).filter(|b| **b != NONE) {
            proj.add(&mut v, &format!("b:{}", table.brands.name(*b)), W_BRAND);
            any = true;
        }
        if let Some(pos) = table.price.get(i).and_then(|p| price_position(*p)) {
            let (lo, frac) = (pos.floor(), pos - pos.floor());
            proj.add(&mut v, &format!("p:{}", lo as u32), W_PRICE * (1.0 - frac));
            proj.add(&mut v, &format!("p:{}", lo as u32 + 1), W_PRICE * frac);
            any = true;
        }
        let ws = words(table.title(i as u32), max_words);
        if !ws.is_empty() {
            let w = W_TITLE / (ws.len() as f32).sqrt();
            for word in &ws {
                proj.add(&mut v, &format!("w:{word}"), w);
            }
            any = true;
        }
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        if !any || norm <= f32::MIN_POSITIVE {
            continue;
        }
        ids.push(i as u32);
        x.extend(v.iter().map(|a| a / norm));
    }
    (ids, x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_and_price_buckets() {
        assert_eq!(words("  Red, red SHOES!  x ", 8), vec!["red", "shoes", "x"]);
        assert_eq!(words("a b c d", 2), vec!["a", "b"]);
        assert_eq!(price_bucket(0.0), Some(0));
        // 2·log2(1+3) = 4 exactly; 2·log2(1+2.9) < 4.
        assert_eq!(price_bucket(3.0), Some(4));
        assert_eq!(price_bucket(2.9), Some(3));
        assert_eq!(price_bucket(f32::NAN), None);
        assert_eq!(price_bucket(-1.0), None);
        assert_eq!(price_bucket_name(4), "[3, 4.657)");
    }

    #[test]
    fn same_category_vectors_are_closer() {
        let mut t = ItemTable::default();
        let shoes = t.categories.intern("shoes");
        let phones = t.categories.intern("phones");
        for (i, (c, title)) in [
            (shoes, "runner blue"),
            (shoes, "trail green"),
            (phones, "pixel black"),
        ]
        .into_iter()
        .enumerate()
        {
            t.titles.push(title);
            t.category.push(c);
            t.brand.push(NONE);
            t.price.push(10.0 * (i + 1) as f32);
            t.described.push(true);
        }
        t.titles.push("");
        t.category.push(NONE);
        t.brand.push(NONE);
        t.price.push(f32::NAN);
        t.described.push(false);
        let (ids, x) = content_vectors(&t, 4, 1, 8);
        assert_eq!(ids, vec![0, 1, 2], "undescribed item 3 has no vector");
        let dot = |a: usize, b: usize| -> f32 {
            (0..CONTENT_DIM)
                .map(|j| x[a * CONTENT_DIM + j] * x[b * CONTENT_DIM + j])
                .sum()
        };
        assert!((dot(0, 0) - 1.0).abs() < 1e-5, "L2-normalised");
        assert!(
            dot(0, 1) > dot(0, 2) + 0.2,
            "{} vs {}",
            dot(0, 1),
            dot(0, 2)
        );
        let (_, x2) = content_vectors(&t, 4, 1, 8);
        assert_eq!(x, x2, "deterministic");
    }
}
