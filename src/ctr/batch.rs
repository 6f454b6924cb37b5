//! Gathers CTR samples into model batches: ids, the recent-behaviour window
//! (padded and masked), the +LUM model's dense inputs and the labels.

use candle_core::{Device, Result, Tensor};

use super::data::CtrSamples;
use super::features::ExtraInputs;
use super::model::{DinBatch, DinDims};

/// Table sizes of a model over these samples (unknown/none rows included).
pub fn dims_for(samples: &CtrSamples, cfg: &super::CtrConfig, extra_width: usize) -> DinDims {
    DinDims {
        n_users: samples.n_users,
        n_queries: samples.n_queries + 1,
        n_items: samples.n_items,
        n_categories: samples.n_categories + 1,
        n_brands: samples.n_brands + 1,
        n_positions: cfg.max_position + 1,
        emb_dim: cfg.emb_dim,
        attn_hidden: cfg.attn_hidden,
        mlp_hidden: cfg.mlp_hidden,
        context_width: super::context::CONTEXT_WIDTH,
        extra_width,
    }
}

/// The batch of samples `indices`. The window is the last `history_len`
/// behaviours before each impression, oldest first, padded at the end with
/// item 0 under mask 0 (the padding id is never read: its weight is 0).
pub fn gather(
    samples: &CtrSamples,
    indices: &[usize],
    history_len: usize,
    max_position: usize,
    extra: Option<&ExtraInputs>,
    with_labels: bool,
    device: &Device,
) -> Result<DinBatch> {
    let b = indices.len();
    let h = history_len;
    let (mut user, mut query, mut item, mut category, mut brand, mut position) = (
        Vec::with_capacity(b),
        Vec::with_capacity(b),
        Vec::with_capacity(b),
        Vec::with_capacity(b),
        Vec::with_capacity(b),
        Vec::with_capacity(b),
    );
    let mut hist_item = vec![0u32; b * h];
    let mut hist_category = vec![0u32; b * h];
    let mut hist_brand = vec![0u32; b * h];
    let mut hist_mask = vec![0f32; b * h];
    let mut context = Vec::with_capacity(b * super::context::CONTEXT_WIDTH);
    let mut labels = Vec::with_capacity(if with_labels { b } else { 0 });
    let mut extra_values = Vec::with_capacity(extra.map_or(0, |e| e.width * b));
    for (k, &i) in indices.iter().enumerate() {
        user.push(samples.user[i]);
        query.push(samples.query[i]);
        item.push(samples.item[i]);
        category.push(samples.category(i));
        brand.push(samples.brand(i));
        position.push((samples.position[i] as usize).min(max_position) as u32);
        context.extend_from_slice(samples.context_row(i));
        for (j, &it) in samples.recent_history(i, h).iter().enumerate() {
            hist_item[k * h + j] = it;
            hist_category[k * h + j] = samples.item_category[it as usize];
            hist_brand[k * h + j] = samples.item_brand[it as usize];
            hist_mask[k * h + j] = 1.0;
        }
        if with_labels {
            labels.push(samples.label[i] as u8 as f32);
        }
        if let Some(e) = extra {
            extra_values.extend_from_slice(e.row(i));
        }
    }
    let ids = |v: Vec<u32>| Tensor::from_vec(v, b, device);
    let grid = |v: Vec<u32>| Tensor::from_vec(v, (b, h), device);
    Ok(DinBatch {
        user: ids(user)?,
        query: ids(query)?,
        item: ids(item)?,
        category: ids(category)?,
        brand: ids(brand)?,
        position: ids(position)?,
        hist_item: grid(hist_item)?,
        hist_category: grid(hist_category)?,
        hist_brand: grid(hist_brand)?,
        hist_mask: Tensor::from_vec(hist_mask, (b, h), device)?,
        context: Tensor::from_vec(context, (b, super::context::CONTEXT_WIDTH), device)?,
        extra: match extra {
            Some(e) => Some(Tensor::from_vec(extra_values, (b, e.width), device)?),
            None => None,
        },
        label: if with_labels {
            Some(Tensor::from_vec(labels, b, device)?)
        } else {
            None
        },
    })
}
