//! Tokenizers on the synthetic sample world (loaded through the real loader).

use lumlab::data::sample::{WorldConfig, generate};
use lumlab::data::{Dataset, LoadOptions, NONE, load};
use lumlab::tokenize::{
    ConditionSource, ItemStrategy, SubKind, TokenType, TokenizerConfig, tokenize, tokenize_cached,
};

fn sample_world(dir: &std::path::Path) -> (Dataset, String) {
    generate(&WorldConfig::small(60, 7), dir, None).unwrap();
    let (data, report) = load(&dir.join("behaviors.csv"), &LoadOptions::default()).unwrap();
    (data, report.fingerprint)
}

#[test]
fn semantic_level1_groups_items_by_category_far_above_chance() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = sample_world(dir.path());
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        ..Default::default()
    };
    let t = tokenize(&data, &cfg).unwrap();
    let sem = t.stats.semantic.as_ref().unwrap();
    assert_eq!(sem.items_coded + t.stats.items_id_only, data.n_items());
    let labels = data.item_table.category.clone();
    assert!(labels.iter().any(|c| *c != NONE));
    let (purity, chance) = t.level1_purity(&labels).unwrap();
    eprintln!(
        "sample world: {} items, {} categories; level-1 category purity {purity:.3} vs chance {chance:.3}; \
         collision rate {:.3}, largest group {}, quant mse per level {:?}",
        data.n_items(),
        data.item_table.categories.len(),
        sem.collision_rate,
        sem.largest_collision_group,
        sem.levels
            .iter()
            .map(|l| (l.quant_mse * 1000.0).round() / 1000.0)
            .collect::<Vec<_>>()
    );
    assert!(purity > 0.9, "purity {purity}");
    assert!(purity > 3.0 * chance, "purity {purity} vs chance {chance}");
    assert!(
        sem.levels
            .windows(2)
            .all(|w| w[1].quant_mse < w[0].quant_mse)
    );
    // Every item's sub-token list is unique under semantic ids.
    let mut lists: Vec<&[u32]> = (0..data.n_items()).map(|i| t.item_sub.get(i)).collect();
    lists.sort();
    lists.dedup();
    assert_eq!(lists.len(), data.n_items());
}

#[test]
fn sample_world_streams_conditions_and_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (data, fingerprint) = sample_world(dir.path());
    let t = tokenize(&data, &TokenizerConfig::default()).unwrap();
    // Search logs: queries are the condition source; feed rows fall back to the scenario.
    assert_eq!(t.condition_source, ConditionSource::Query);
    let kinds: Vec<_> = t
        .stats
        .rows_by_condition_kind
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(k, _)| k.as_str())
        .collect();
    assert!(
        kinds.contains(&"query") && kinds.contains(&"scenario"),
        "{kinds:?}"
    );
    // Impression rows carry no condition; every other row does.
    for r in 0..data.n_behaviors() {
        assert_eq!(t.cond_of_row[r] == NONE, data.is_impression(r), "row {r}");
    }
    // Every query (many appear only on impressions) has a post-training condition.
    for q in 0..data.queries.len() as u32 {
        let c = t.query_condition(q).unwrap();
        let subs = t.cond_sub.get(c as usize);
        assert_eq!(t.vocab.kind(subs[0]), SubKind::QueryId);
        assert_eq!(t.vocab.name(subs[0]), data.queries.name(q));
    }
    let stream = t.user_stream(&data, 0);
    let non_imp = data
        .user_range(0)
        .filter(|r| !data.is_impression(*r))
        .count();
    assert_eq!(stream.len(), 2 * non_imp);
    assert!(
        stream
            .chunks(2)
            .all(|p| p[0].token_type == TokenType::Condition && p[1].token_type == TokenType::Item)
    );

    for strategy in [ItemStrategy::Id, ItemStrategy::Attributes] {
        let cfg = TokenizerConfig {
            strategy,
            ..Default::default()
        };
        let (a, hit) = tokenize_cached(&data, &cfg, &fingerprint, &dir.path().join("tok")).unwrap();
        assert!(!hit);
        let (b, hit) = tokenize_cached(&data, &cfg, &fingerprint, &dir.path().join("tok")).unwrap();
        assert!(hit);
        // Bit-exact, floats included (serde_json's float_roundtrip).
        assert_eq!(a, b);
        assert!(a.item_sub.is_valid(a.vocab.len()));
    }
}
