//! `lumlab tokens`: run a tokenizer on a log (cached) and print its statistics.

use crate::data::{Dataset, LoadOptions, NONE};
use crate::tokenize::{ItemStrategy, TokenStats, TokenizerConfig, tokenize_cached};
use crate::train::pretrain::token_cache_dir;
use crate::util::thousands;
use serde_json::{Value, json};
use std::path::PathBuf;

/// Arguments of `lumlab tokens`.
#[derive(clap::Args, Debug)]
pub struct TokensArgs {
    /// Behaviour log.
    pub data: PathBuf,
    /// Item tokenization strategy: id | semantic | attributes.
    #[arg(long, default_value = "id")]
    pub strategy: ItemStrategy,
    /// Semantic-id codebook sizes per level, e.g. `64,64,64`.
    #[arg(long, value_delimiter = ',')]
    pub levels: Option<Vec<usize>>,
    /// `id`: items with fewer non-impression behaviours share `<unk>`.
    #[arg(long)]
    pub min_count: Option<u32>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Category purity of level-1 semantic codes vs the same with shuffled categories.
fn purity(data: &Dataset, tok: &crate::tokenize::Tokenized) -> Option<Value> {
    let labels = &data.item_table.category;
    if labels.iter().all(|c| *c == NONE) {
        return None;
    }
    let (purity, chance) = tok.level1_purity(labels)?;
    Some(json!({"purity": purity, "chance": chance, "of": "level-1 codes vs item categories (chance: categories shuffled)"}))
}

/// Runs `lumlab tokens`.
pub fn run(a: TokensArgs) -> anyhow::Result<()> {
    let defaults = TokenizerConfig::default();
    let cfg = TokenizerConfig {
        strategy: a.strategy,
        levels: a.levels.clone().unwrap_or(defaults.levels.clone()),
        min_count: a.min_count.unwrap_or(defaults.min_count),
        ..defaults
    };
    cfg.validate()?;
    let (data, report) = super::inspect::load_with_progress(&a.data, LoadOptions::cached())?;
    let t = std::time::Instant::now();
    let (tok, cached) = tokenize_cached(&data, &cfg, &report.fingerprint, &token_cache_dir())?;
    let secs = t.elapsed().as_secs_f64();
    let purity = purity(&data, &tok);
    if a.json {
        let out = json!({
            "data": a.data, "config": cfg, "from_cache": cached, "secs": secs,
            "stats": tok.stats, "category_purity": purity,
        });
        println!("{out}");
        return Ok(());
    }
    print_stats(&tok.stats, cached, secs);
    if let Some(p) = purity {
        println!("  category purity of level-1 codes {:.3} (chance {:.3})", p["purity"].as_f64().unwrap_or(0.0), p["chance"].as_f64().unwrap_or(0.0));
    }
    Ok(())
}

fn print_stats(s: &TokenStats, cached: bool, secs: f64) {
    println!("strategy {} · {} items · {} conditions (source: {}){}", s.strategy, thousands(s.n_items as u64), thousands(s.n_conditions as u64), s.condition_source.name(), if cached { " · from cache" } else { "" });
    println!("  tokenized in {secs:.2} s");
    println!("  vocabulary {} sub-tokens:", thousands(s.vocab_size as u64));
    for k in &s.vocab_by_kind {
        println!("    {:<14} {:>9}", k.kind, thousands(k.size as u64));
    }
    println!("  sub-tokens per item: mean {:.2}, max {} · per condition: mean {:.2}", s.mean_sub_tokens_per_item, s.max_sub_tokens_per_item, s.mean_sub_tokens_per_condition);
    println!("  items not in the items table {} · id-only items {}", s.items_not_in_table, s.items_id_only);
    if let Some(id) = &s.id {
        println!("  id: {} items below min-count {} ({} behaviours on <unk>)", id.items_below_min_count, id.min_count, id.behaviours_on_unk);
    }
    if let Some(sem) = &s.semantic {
        println!("  semantic ids from {} (width {}), {} items coded", sem.vector_source, sem.vector_dim, sem.items_coded);
        println!("    level   used/size  dead  perplexity  mean dist  quant mse");
        for (i, l) in sem.levels.iter().enumerate() {
            println!("    {:<5} {:>5}/{:<5} {:>5}  {:>10.1}  {:>9.4}  {:>9.5}", i + 1, l.used, l.size, l.dead, l.perplexity, l.mean_dist, l.quant_mse);
        }
        println!(
            "    collision rate {:.2}% · largest collision group {} · max suffix {}",
            100.0 * sem.collision_rate,
            sem.largest_collision_group,
            sem.max_suffix
        );
    }
    if let Some(at) = &s.attributes {
        println!(
            "  attributes: category {} · brand {} · price {} · title words {} items; collision rate {:.2}% (largest group {})",
            at.items_with_category,
            at.items_with_brand,
            at.items_with_price,
            at.items_with_title_words,
            100.0 * at.collision_rate,
            at.largest_collision_group
        );
    }
    for n in &s.notes {
        println!("  note: {n}");
    }
}
