//! A cheap, honest stand-in for LUM features, for checking the +LUM plumbing
//! and the sample world, never for presenting as LUM results.
//!
//! "Interest" = the user's category shares and brand shares over the WHOLE
//! history before the impression (what a model reading the long sequence could
//! learn); "item embedding" = a one-hot category block and a one-hot brand
//! block. So sim(o, e_t) ∝ share of t's category + share of t's brand, and
//! SimTier counts history items sharing neither, one or both attributes with
//! t. If a model fed these beats the recent-window baseline, the wiring works
//! and the log holds long-history information; if it does not, one of the two
//! is broken. Reports label the model `+sanity` and its source says "not LUM".

use super::data::{CtrDataError, CtrSamples};
use super::features::LumFeatures;
use crate::data::Dataset;

/// Model label of the sanity features in reports (never `+LUM`).
pub const SANITY_LABEL: &str = "+sanity";

/// Source line recorded in reports for the sanity features.
pub const SANITY_SOURCE: &str = "sanity check, NOT LUM: category and brand shares of the user's whole history before \
                                 each impression (interest) and one-hot category/brand item vectors (item embeddings)";

/// The sanity features for every labelled impression of `data`, aligned with
/// [`impression_rows`](super::impression_rows). dim = categories + brands.
pub fn history_share_features(data: &Dataset) -> Result<LumFeatures, CtrDataError> {
    let s = CtrSamples::without_split(data)?;
    Ok(history_share_features_for(&s))
}

/// [`history_share_features`] from samples already built.
pub fn history_share_features_for(s: &CtrSamples) -> LumFeatures {
    let (nc, nb) = (s.n_categories, s.n_brands);
    let dim = (nc + nb).max(1);
    let mut item_emb = vec![0f32; s.n_items * dim];
    for i in 0..s.n_items {
        let (c, b) = (s.item_category[i] as usize, s.item_brand[i] as usize);
        // Unknown attributes (index nc / nb) get no one-hot entry.
        if c < nc {
            item_emb[i * dim + c] = 1.0;
        }
        if b < nb {
            item_emb[i * dim + nc + b] = 1.0;
        }
    }
    let mut interest = vec![0f32; s.len() * dim];
    let mut counts = vec![0u32; dim];
    // Samples of a user are contiguous and in time order, so their histories
    // are growing prefixes: count incrementally.
    let (mut cur_user, mut counted) = (u32::MAX, 0usize);
    for i in 0..s.len() {
        if s.user[i] != cur_user {
            cur_user = s.user[i];
            counted = 0;
            counts.iter_mut().for_each(|c| *c = 0);
        }
        let hist = s.full_history(i);
        for &it in &hist[counted.min(hist.len())..] {
            let (c, b) = (
                s.item_category[it as usize] as usize,
                s.item_brand[it as usize] as usize,
            );
            if c < nc {
                counts[c] += 1;
            }
            if b < nb {
                counts[nc + b] += 1;
            }
        }
        counted = hist.len();
        let row = &mut interest[i * dim..(i + 1) * dim];
        let (cat_total, brand_total) = (
            counts[..nc].iter().sum::<u32>(),
            counts[nc..].iter().sum::<u32>(),
        );
        for k in 0..nc {
            row[k] = counts[k] as f32 / cat_total.max(1) as f32;
        }
        for k in 0..nb {
            row[nc + k] = counts[nc + k] as f32 / brand_total.max(1) as f32;
        }
    }
    LumFeatures {
        source: SANITY_SOURCE.to_string(),
        label: SANITY_LABEL.to_string(),
        dim,
        interest,
        item_emb,
    }
}
