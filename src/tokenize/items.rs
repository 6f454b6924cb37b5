//! Item sub-tokens for the `id` and `attributes` strategies (semantic ids live
//! in [`super::semantic`]).
//!
//! `id`: one sub-token per item that has at least `min_count` non-impression
//! behaviours; rarer items share `<unk>` (an item seen too rarely cannot learn
//! its own embedding, and sharing one row lets that row learn "rare item").
//! `attributes`: category, brand, log-scale price bucket and up to `max_words`
//! title words (words used by fewer than `min_word_count` items are dropped).
//! An item with no attribute at all, or missing from the items table, gets an
//! id-only sub-token instead and is counted.

use super::content::{described, price_bucket, price_bucket_name, words};
use super::stats::{AttributeStats, IdStats};
use super::vocab::{SubKind, SubTokens, VocabBuilder};
use crate::data::{Dataset, NONE};
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Name of the shared rare-item sub-token.
pub const UNK: &str = "<unk>";

/// Non-impression behaviours per item.
pub(crate) fn behaviour_counts(data: &Dataset) -> Vec<u64> {
    let mut counts = vec![0u64; data.n_items()];
    for (r, item) in data.item.iter().enumerate() {
        if !data.is_impression(r)
            && let Some(c) = counts.get_mut(*item as usize)
        {
            *c += 1;
        }
    }
    counts
}

/// `id` strategy.
pub(crate) fn id_items(
    data: &Dataset,
    min_count: u32,
    vb: &mut VocabBuilder,
) -> (SubTokens, IdStats) {
    let counts = behaviour_counts(data);
    let kept: Vec<bool> = counts.iter().map(|c| *c >= min_count as u64).collect();
    let below = kept.iter().filter(|k| !**k).count();
    let mut names: Vec<&str> = Vec::new();
    if below > 0 {
        names.push(UNK);
    }
    names.extend(
        (0..data.n_items() as u32)
            .filter(|i| kept[*i as usize])
            .map(|i| data.items.name(i)),
    );
    let base = vb.add_kind(SubKind::ItemId, names);
    let first_item = base + (below > 0) as u32;
    let mut sub = SubTokens::new();
    let mut next = first_item;
    for k in &kept {
        if *k {
            sub.push(&[next]);
            next += 1;
        } else {
            sub.push(&[base]);
        }
    }
    let behaviours_on_unk = counts
        .iter()
        .zip(&kept)
        .filter(|(_, k)| !**k)
        .map(|(c, _)| *c)
        .sum();
    (
        sub,
        IdStats {
            min_count,
            items_below_min_count: below,
            behaviours_on_unk,
        },
    )
}

/// Share of entries in groups of two or more identical keys, and the largest group.
pub(crate) fn collisions<K: std::hash::Hash + Eq>(keys: impl Iterator<Item = K>) -> (f64, usize) {
    let mut groups: HashMap<K, usize> = HashMap::new();
    let mut n = 0usize;
    for k in keys {
        *groups.entry(k).or_default() += 1;
        n += 1;
    }
    let shared: usize = groups.values().filter(|g| **g > 1).sum();
    let largest = groups.values().copied().max().unwrap_or(0);
    (
        if n == 0 {
            0.0
        } else {
            shared as f64 / n as f64
        },
        largest,
    )
}

/// `attributes` strategy. Returns sub-tokens, stats and the number of id-only items.
pub(crate) fn attribute_items(
    data: &Dataset,
    min_word_count: u32,
    max_words: usize,
    vb: &mut VocabBuilder,
) -> (SubTokens, AttributeStats, usize) {
    let t = &data.item_table;
    let n = data.n_items();
    let cat = |i: usize| {
        t.category
            .get(i)
            .copied()
            .filter(|c| *c != NONE && described(t, i))
    };
    let brand = |i: usize| {
        t.brand
            .get(i)
            .copied()
            .filter(|b| *b != NONE && described(t, i))
    };
    let price = |i: usize| {
        if described(t, i) {
            t.price.get(i).and_then(|p| price_bucket(*p))
        } else {
            None
        }
    };
    let title_words: Vec<Vec<String>> = (0..n)
        .map(|i| {
            if described(t, i) {
                words(t.title(i as u32), max_words)
            } else {
                Vec::new()
            }
        })
        .collect();
    let mut word_items: BTreeMap<&str, u32> = BTreeMap::new();
    for ws in &title_words {
        for w in ws {
            *word_items.entry(w.as_str()).or_default() += 1;
        }
    }
    let kept_words: Vec<&str> = word_items
        .iter()
        .filter(|(_, c)| **c >= min_word_count)
        .map(|(w, _)| *w)
        .collect();
    let word_id: HashMap<&str, u32> = kept_words
        .iter()
        .enumerate()
        .map(|(i, w)| (*w, i as u32))
        .collect();
    let buckets: BTreeSet<u32> = (0..n).filter_map(price).collect();
    let bucket_id: HashMap<u32, u32> = buckets
        .iter()
        .enumerate()
        .map(|(i, b)| (*b, i as u32))
        .collect();

    // Attribute-less items need their own id row; find them before laying out the vocabulary.
    let has_attr = |i: usize| {
        cat(i).is_some()
            || brand(i).is_some()
            || price(i).is_some()
            || title_words[i]
                .iter()
                .any(|w| word_id.contains_key(w.as_str()))
    };
    let id_only: Vec<u32> = (0..n as u32).filter(|i| !has_attr(*i as usize)).collect();
    let id_base = vb.add_kind(SubKind::ItemId, id_only.iter().map(|i| data.items.name(*i)));
    let c_base = vb.add_kind(SubKind::Category, t.categories.names().iter());
    let b_base = vb.add_kind(SubKind::Brand, t.brands.names().iter());
    let p_base = vb.add_kind(
        SubKind::PriceBucket,
        buckets.iter().map(|b| price_bucket_name(*b)),
    );
    let w_base = vb.add_kind(SubKind::TitleWord, kept_words.iter());

    let mut sub = SubTokens::new();
    let mut next_id = id_base;
    let mut ids = Vec::new();
    let mut stats = AttributeStats {
        items_with_category: 0,
        items_with_brand: 0,
        items_with_price: 0,
        items_with_title_words: 0,
        collision_rate: 0.0,
        largest_collision_group: 0,
    };
    for (i, item_words) in title_words.iter().enumerate() {
        ids.clear();
        if let Some(c) = cat(i) {
            ids.push(c_base + c);
            stats.items_with_category += 1;
        }
        if let Some(b) = brand(i) {
            ids.push(b_base + b);
            stats.items_with_brand += 1;
        }
        if let Some(b) = price(i) {
            ids.push(p_base + bucket_id[&b]);
            stats.items_with_price += 1;
        }
        let before = ids.len();
        for w in item_words {
            if let Some(wi) = word_id.get(w.as_str()) {
                ids.push(w_base + wi);
            }
        }
        if ids.len() > before {
            stats.items_with_title_words += 1;
        }
        if ids.is_empty() {
            ids.push(next_id);
            next_id += 1;
        }
        sub.push(&ids);
    }
    let with_attrs = (0..n).filter(|i| has_attr(*i)).map(|i| {
        let mut s = sub.get(i).to_vec();
        s.sort_unstable();
        s
    });
    (stats.collision_rate, stats.largest_collision_group) = collisions(with_attrs);
    (sub, stats, id_only.len())
}
