//! Times residual k-means (`cargo run --release --example bench_kmeans -- N DIM L1,L2,.. [full]`).
use lumlab::tokenize::kmeans::{KmeansConfig, bench::bench_kmeans_with};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args
        .get(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let d: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let levels: Vec<usize> = args
        .get(3)
        .map(|s| s.split(',').filter_map(|v| v.parse().ok()).collect())
        .unwrap_or(vec![256, 256, 256]);
    let mut cfg = KmeansConfig::default();
    if args.get(4).map(|s| s == "full").unwrap_or(false) {
        cfg.max_points_per_centroid = 0;
    }
    let r = bench_kmeans_with(n, d, &levels, &cfg);
    println!("{}", serde_json::to_string_pretty(&r)?);
    Ok(())
}
