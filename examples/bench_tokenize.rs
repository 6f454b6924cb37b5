//! Times `tokenize` (semantic, levels 256,256,256) on a synthetic catalogue of N items with an
//! items table and one behaviour per item: `cargo run --release --example bench_tokenize -- N`.
use lumlab::data::{Action, Dataset, Interner, ItemTable, StrPool};
use lumlab::tokenize::{ItemStrategy, TokenizerConfig, tokenize, tokenize_cached};
use lumlab::util::Rng;
use std::time::Instant;

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut rng = Rng::new(1);
    let mut d = Dataset {
        users: Interner::new(),
        items: Interner::new(),
        queries: Interner::new(),
        ..Default::default()
    };
    let mut t = ItemTable {
        titles: StrPool::new(),
        ..Default::default()
    };
    d.users.intern("u");
    d.user_offsets = vec![0, n as u32].into();
    for i in 0..n {
        d.items.intern(&format!("item{i}"));
        d.ts.to_mut().push(i as u32);
        d.item.to_mut().push(i as u32);
        d.action.to_mut().push(Action::Click as u8);
        let c = rng.index(200);
        t.category.push(t.categories.intern(&format!("cat{c}")));
        t.brand
            .push(t.brands.intern(&format!("brand{}", c * 10 + rng.index(10))));
        t.price.push((rng.f64() * 500.0) as f32);
        t.titles.push(&format!(
            "w{} w{} w{} cat{c}",
            rng.index(5000),
            rng.index(5000),
            rng.index(5000)
        ));
        t.described.push(true);
    }
    d.item_table = t;
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        levels: vec![256, 256, 256],
        ..Default::default()
    };
    let t0 = Instant::now();
    let tok = tokenize(&d, &cfg)?;
    let secs = t0.elapsed().as_secs_f64();
    let dir = std::env::temp_dir().join("lumlab-bench-tok");
    let _ = std::fs::remove_dir_all(&dir);
    let t1 = Instant::now();
    let (_, hit) = tokenize_cached(&d, &cfg, "bench", &dir)?;
    let miss_secs = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let (_, hit2) = tokenize_cached(&d, &cfg, "bench", &dir)?;
    let hit_secs = t2.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    let labels = d.item_table.category.clone();
    let (p, chance) = tok.level1_purity(&labels).unwrap_or_default();
    println!(
        "items {n}: tokenize {secs:.2}s; cached miss {miss_secs:.2}s (hit={hit}), hit {hit_secs:.2}s (hit={hit2}); vocab {}; purity {p:.3} vs chance {chance:.3}",
        tok.vocab.len()
    );
    println!("{}", serde_json::to_string(&tok.stats.semantic)?);
    Ok(())
}
