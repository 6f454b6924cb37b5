//! Tokenizer tests on hand-built datasets (tiny, seeded).

use super::*;
use crate::data::{Action, Dataset, Interner, ItemTable, NONE, Scenario};

/// One behaviour of a hand-built log.
struct Row {
    user: &'static str,
    item: &'static str,
    action: Action,
    query: Option<&'static str>,
    scenario: Scenario,
}

fn row(user: &'static str, item: &'static str, action: Action) -> Row {
    Row {
        user,
        item,
        action,
        query: None,
        scenario: Scenario::Unknown,
    }
}

fn q(mut r: Row, query: &'static str) -> Row {
    r.query = Some(query);
    r
}

fn s(mut r: Row, scenario: Scenario) -> Row {
    r.scenario = scenario;
    r
}

/// Item attributes: (id, title, category, brand, price).
type ItemRow = (&'static str, &'static str, &'static str, &'static str, f32);

/// Builds a Dataset; rows must be grouped by user and in time order.
fn build(rows: &[Row], with_query: bool, with_scenario: bool, table: &[ItemRow]) -> Dataset {
    let mut d = Dataset {
        users: Interner::new(),
        items: Interner::new(),
        queries: Interner::new(),
        ..Default::default()
    };
    d.user_offsets.to_mut().push(0);
    for (t, r) in rows.iter().enumerate() {
        let known = d.users.len();
        let u = d.users.intern(r.user);
        if (u as usize) == known && known > 0 {
            d.user_offsets.to_mut().push(t as u32);
        }
        d.ts.to_mut().push(t as u32);
        d.item.to_mut().push(d.items.intern(r.item));
        d.action.to_mut().push(r.action as u8);
        if with_query {
            d.query.to_mut()
                .push(r.query.map(|x| d.queries.intern(x)).unwrap_or(NONE));
        }
        if with_scenario {
            d.scenario.to_mut().push(r.scenario as u8);
        }
    }
    d.user_offsets.to_mut().push(rows.len() as u32);
    let mut it = ItemTable::default();
    let n = d.items.len();
    it.titles.resize(n);
    let mut titles = vec![String::new(); n];
    it.category = vec![NONE; n];
    it.brand = vec![NONE; n];
    it.price = vec![f32::NAN; n];
    it.described = vec![false; n];
    for (id, title, cat, brand, price) in table {
        let Some(i) = d.items.get(id) else { continue };
        let i = i as usize;
        titles[i] = title.to_string();
        it.category[i] = it.categories.intern(cat);
        it.brand[i] = it.brands.intern(brand);
        it.price[i] = *price;
        it.described[i] = true;
    }
    it.titles = crate::data::StrPool::new();
    for t in &titles {
        it.titles.push(t);
    }
    d.item_table = it;
    d
}

/// A search log: two users, queries on search rows, feed rows without query, one impression.
fn search_log() -> Dataset {
    let rows = vec![
        s(
            q(row("u1", "shoe1", Action::Click), "red running shoes"),
            Scenario::Search,
        ),
        s(row("u1", "shoe2", Action::Click), Scenario::Feed),
        s(
            q(row("u1", "ad9", Action::Impression), "cheap phone"),
            Scenario::Search,
        ),
        s(
            q(row("u1", "shoe1", Action::Buy), "red running shoes"),
            Scenario::Search,
        ),
        s(row("u2", "phone1", Action::Cart), Scenario::Feed),
        s(
            q(row("u2", "phone2", Action::Click), "phone"),
            Scenario::Search,
        ),
    ];
    let table: Vec<ItemRow> = vec![
        ("shoe1", "Red Running Shoe", "shoes", "acme", 59.0),
        ("shoe2", "Blue Running Shoe", "shoes", "acme", 64.0),
        ("phone1", "Pixel phone black", "phones", "gooble", 499.0),
        ("phone2", "Pixel phone white", "phones", "gooble", 549.0),
        // ad9 is missing from the items table on purpose.
    ];
    build(&rows, true, true, &table)
}

fn names(t: &Tokenized, ids: &[u32]) -> Vec<String> {
    ids.iter().map(|i| t.vocab.display(*i)).collect()
}

#[test]
fn stream_interleaves_conditions_and_items_and_skips_impressions() {
    let d = search_log();
    let t = tokenize(&d, &TokenizerConfig::default()).unwrap();
    assert_eq!(t.cond_of_row.len(), d.n_behaviors());
    assert_eq!(t.cond_of_row[2], NONE, "impression row has no condition");
    let stream = t.user_stream(&d, 0);
    assert_eq!(stream.len(), 2 * 3, "u1 has 3 non-impression behaviours");
    for (p, tok) in stream.iter().enumerate() {
        let want = if p % 2 == 0 {
            TokenType::Condition
        } else {
            TokenType::Item
        };
        assert_eq!(tok.token_type, want, "position {p}");
    }
    let rows: Vec<u32> = stream.iter().map(|t| t.row).collect();
    assert_eq!(
        rows,
        vec![0, 0, 1, 1, 3, 3],
        "time order, condition before its item"
    );
    assert_eq!(stream[1].id, d.items.get("shoe1").unwrap());
    let (conds, items) = t.user_sequence(&d, 1);
    assert_eq!(
        items,
        vec![
            d.items.get("phone1").unwrap(),
            d.items.get("phone2").unwrap()
        ]
    );
    assert_eq!(conds.len(), 2);
    assert!(t.is_consistent_with(&d));
}

#[test]
fn condition_source_falls_back_query_scenario_action() {
    let d = search_log();
    let t = tokenize(&d, &TokenizerConfig::default()).unwrap();
    assert_eq!(t.condition_source, ConditionSource::Query);
    let c0 = t.cond_of_row[0];
    assert_eq!(t.conditions[c0 as usize].kind, ConditionSource::Query);
    assert_eq!(
        names(&t, t.cond_sub.get(c0 as usize)),
        vec![
            "query_id:red running shoes",
            "query_word:red",
            "query_word:running",
            "query_word:shoes",
            "scenario:search",
            "action:click"
        ]
    );
    let c1 = t.cond_of_row[1];
    assert_eq!(
        t.conditions[c1 as usize].kind,
        ConditionSource::Scenario,
        "no query -> scenario"
    );
    assert_eq!(
        names(&t, t.cond_sub.get(c1 as usize)),
        vec!["scenario:feed", "action:click"]
    );
    // Same query, different action: a different condition sharing the query sub-tokens.
    let c3 = t.cond_of_row[3];
    assert_ne!(c0, c3);
    assert_eq!(
        t.cond_sub.get(c3 as usize)[..5],
        t.cond_sub.get(c0 as usize)[..5]
    );
    assert_eq!(
        t.condition_name(&d, c3),
        "query \"red running shoes\" · search · buy"
    );

    // No query column: scenario is the source.
    let rows = vec![
        s(row("a", "x", Action::Click), Scenario::Feed),
        s(row("a", "y", Action::Buy), Scenario::Search),
    ];
    let d2 = build(&rows, false, true, &[]);
    let t2 = tokenize(&d2, &TokenizerConfig::default()).unwrap();
    assert_eq!(t2.condition_source, ConditionSource::Scenario);
    assert_eq!(t2.n_conditions, 2);
    assert_eq!(t2.query_condition(0), None);

    // Neither: the action is the condition; equal actions share one condition.
    let rows = vec![
        row("a", "x", Action::Click),
        row("a", "y", Action::Buy),
        row("b", "x", Action::Click),
    ];
    let d3 = build(&rows, false, false, &[]);
    let t3 = tokenize(&d3, &TokenizerConfig::default()).unwrap();
    assert_eq!(t3.condition_source, ConditionSource::Action);
    assert_eq!(t3.n_conditions, 2);
    assert_eq!(t3.cond_of_row[0], t3.cond_of_row[2]);
    assert_eq!(
        names(&t3, t3.cond_sub.get(t3.cond_of_row[1] as usize)),
        vec!["action:buy"]
    );
    assert_eq!(
        t3.stats.conditions_by_kind,
        vec![
            ("query".into(), 0),
            ("scenario".into(), 0),
            ("action".into(), 2)
        ]
    );
}

#[test]
fn query_condition_exists_for_impression_only_queries() {
    let d = search_log();
    let t = tokenize(&d, &TokenizerConfig::default()).unwrap();
    let cheap = d.queries.get("cheap phone").unwrap();
    let c = t.query_condition(cheap).unwrap();
    assert_eq!(
        names(&t, t.cond_sub.get(c as usize)),
        vec![
            "query_id:cheap phone",
            "query_word:cheap",
            "query_word:phone",
            "scenario:search",
            "action:click"
        ]
    );
    // The pre-training condition of a search click under that query is the same id.
    let red = d.queries.get("red running shoes").unwrap();
    assert_eq!(t.query_condition(red), Some(t.cond_of_row[0]));
    assert_eq!(t.query_condition(d.queries.len() as u32), None);
}

#[test]
fn sub_token_offsets_and_kinds_are_consistent_for_every_strategy() {
    let d = search_log();
    for strategy in [
        ItemStrategy::Id,
        ItemStrategy::Attributes,
        ItemStrategy::Semantic,
    ] {
        let cfg = TokenizerConfig {
            strategy,
            levels: vec![2, 2],
            min_word_count: 1,
            ..Default::default()
        };
        let t = tokenize(&d, &cfg).unwrap();
        assert_eq!(t.item_sub.len(), d.n_items(), "{strategy}");
        assert!(t.item_sub.is_valid(t.vocab.len()), "{strategy}");
        assert!(t.cond_sub.is_valid(t.vocab.len()), "{strategy}");
        assert_eq!(t.cond_sub.len(), t.n_conditions);
        assert_eq!(
            *t.item_sub.offsets.last().unwrap() as usize,
            t.item_sub.ids.len()
        );
        // Item sub-tokens never use condition kinds and vice versa.
        for id in &t.item_sub.ids {
            let k = t.vocab.kind(*id);
            assert!(!matches!(
                k,
                SubKind::QueryId
                    | SubKind::QueryWord
                    | SubKind::Scenario
                    | SubKind::Action
                    | SubKind::Pad
            ));
        }
        for id in &t.cond_sub.ids {
            assert!(matches!(
                t.vocab.kind(*id),
                SubKind::QueryId | SubKind::QueryWord | SubKind::Scenario | SubKind::Action
            ));
        }
        let total: usize = t.stats.vocab_by_kind.iter().map(|k| k.size).sum();
        assert_eq!(total, t.vocab.len());
    }
}

#[test]
fn missing_item_gets_id_only_sub_tokens_and_is_counted() {
    let d = search_log();
    let ad = d.items.get("ad9").unwrap() as usize;
    for strategy in [ItemStrategy::Attributes, ItemStrategy::Semantic] {
        let cfg = TokenizerConfig {
            strategy,
            levels: vec![2, 2],
            min_word_count: 1,
            ..Default::default()
        };
        let t = tokenize(&d, &cfg).unwrap();
        assert_eq!(t.stats.items_not_in_table, 1, "{strategy}");
        assert_eq!(t.stats.items_id_only, 1, "{strategy}");
        assert_eq!(
            names(&t, t.item_sub.get(ad)),
            vec!["item_id:ad9"],
            "{strategy}"
        );
        let v = t.item_view(&d, ad as u32);
        assert_eq!(v.kind, "id-only");
    }
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Attributes,
        min_word_count: 1,
        ..Default::default()
    };
    let t = tokenize(&d, &cfg).unwrap();
    let shoe1 = d.items.get("shoe1").unwrap() as usize;
    assert_eq!(
        names(&t, t.item_sub.get(shoe1)),
        vec![
            "category:shoes",
            "brand:acme",
            "price_bucket:[44.255, 63)",
            "title_word:red",
            "title_word:running",
            "title_word:shoe"
        ]
    );
}

#[test]
fn id_strategy_min_count_shares_unk() {
    let d = search_log();
    let t = tokenize(
        &d,
        &TokenizerConfig {
            min_count: 2,
            ..Default::default()
        },
    )
    .unwrap();
    let stats = t.stats.id.as_ref().unwrap();
    // Non-impression counts: shoe1 2, shoe2 1, phone1 1, phone2 1, ad9 0.
    assert_eq!(stats.items_below_min_count, 4);
    assert_eq!(stats.behaviours_on_unk, 3);
    let shoe1 = d.items.get("shoe1").unwrap() as usize;
    assert_eq!(names(&t, t.item_sub.get(shoe1)), vec!["item_id:shoe1"]);
    let unk = t.item_sub.get(d.items.get("ad9").unwrap() as usize)[0];
    assert_eq!(t.vocab.name(unk), "<unk>");
    assert_eq!(
        t.item_sub.get(d.items.get("shoe2").unwrap() as usize),
        &[unk]
    );
    assert_eq!(t.vocab.range(SubKind::ItemId).len(), 2);
}

/// A catalogue of `per` items in each of 4 categories, each with one user behaviour.
fn catalogue(per: usize) -> Dataset {
    const CATS: [&str; 4] = ["shoes", "phones", "books", "toys"];
    let mut rows = Vec::new();
    let mut table: Vec<ItemRow> = Vec::new();
    for (c, cat) in CATS.iter().enumerate() {
        for i in 0..per {
            let id: &'static str = Box::leak(format!("{cat}{i}").into_boxed_str());
            let title: &'static str =
                Box::leak(format!("{cat} item model{}", i % 7).into_boxed_str());
            let brand: &'static str = Box::leak(format!("brand{}", (i + c) % 5).into_boxed_str());
            rows.push(row("u", id, Action::Click));
            table.push((id, title, cat, brand, 10.0 + (c * 50 + i) as f32));
        }
    }
    build(&rows, false, false, &table)
}

#[test]
fn semantic_codes_group_categories_and_paths_are_unique() {
    let d = catalogue(30);
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        levels: vec![4, 4, 2],
        seed: 3,
        ..Default::default()
    };
    let t = tokenize(&d, &cfg).unwrap();
    let sem = t.stats.semantic.as_ref().unwrap();
    assert_eq!(sem.items_coded, 120);
    // Every item's sub-token list (path + suffix) is unique.
    let mut lists: Vec<&[u32]> = (0..d.n_items()).map(|i| t.item_sub.get(i)).collect();
    lists.sort();
    lists.dedup();
    assert_eq!(lists.len(), 120);
    // Category purity of level 1 far above chance.
    let labels = d.item_table.category.clone();
    let (purity, chance) = t.level1_purity(&labels).unwrap();
    assert!(
        purity > 0.9 && purity > chance + 0.4,
        "purity {purity} chance {chance}"
    );
    // Quantisation error falls level by level.
    assert!(sem.levels[0].quant_mse < sem.input_mse);
    assert!(
        sem.levels
            .windows(2)
            .all(|w| w[1].quant_mse < w[0].quant_mse)
    );
    // Collision stats agree with the suffixes.
    let codes = t.semantic.as_ref().unwrap();
    assert_eq!(sem.max_suffix as u32, *codes.suffix.iter().max().unwrap());
    assert_eq!(sem.largest_collision_group, sem.max_suffix + 1);
    assert_eq!(t.vocab.range(SubKind::Suffix).len(), sem.max_suffix + 1);
    // Same seed, same codes; a different seed changes them.
    assert_eq!(tokenize(&d, &cfg).unwrap(), t);
    let other = tokenize(
        &d,
        &TokenizerConfig {
            seed: 4,
            ..cfg.clone()
        },
    )
    .unwrap();
    assert_ne!(other.semantic.unwrap().codebooks, codes.codebooks);
}

#[test]
fn semantic_hierarchy_and_codebook_tree() {
    let d = catalogue(10);
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        levels: vec![4, 3],
        ..Default::default()
    };
    let t = tokenize(&d, &cfg).unwrap();
    let h = t.user_hierarchy(&d, 0, Some(5));
    assert_eq!(h.total_behaviours, 40);
    assert_eq!(h.behaviours.len(), 5);
    assert_eq!(h.behaviours[0].row, 35, "the most recent five");
    let item = &h.behaviours[0].item;
    let path = item.semantic_path.as_ref().unwrap();
    assert_eq!(path.len(), 3, "two levels + suffix");
    assert_eq!(item.sub.len(), 3);
    assert_eq!(item.sub[0].kind, SubKind::Code(1));
    assert_eq!(item.sub[0].name, path[0].to_string());
    assert_eq!(item.sub[2].kind, SubKind::Suffix);
    assert_eq!(h.behaviours[0].condition.sub[0].name, "click");

    let tree = t.codebook_tree(&d, 3).unwrap();
    assert_eq!(tree.items_coded, 40);
    assert_eq!(tree.roots.iter().map(|n| n.count).sum::<usize>(), 40);
    for root in &tree.roots {
        assert!(root.examples.len() <= 3 && !root.examples.is_empty());
        assert_eq!(
            root.children.iter().map(|c| c.count).sum::<usize>(),
            root.count
        );
        for leaf in &root.children {
            assert_eq!(leaf.items.len(), leaf.count);
            for i in &leaf.items {
                let p = t.semantic.as_ref().unwrap().path(*i).unwrap();
                assert_eq!(p, &[root.code, leaf.code]);
            }
        }
    }
    assert!(
        tokenize(&d, &TokenizerConfig::default())
            .unwrap()
            .codebook_tree(&d, 3)
            .is_none()
    );
}

#[test]
fn vector_file_drives_semantic_ids_and_bad_files_name_the_line() {
    let d = catalogue(8);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("vecs.csv");
    // Planted: one axis per category, a little per-item noise; one item left without a row.
    let mut text = String::from("item_id,a,b,c,d\n");
    for i in 0..d.n_items() as u32 {
        if i == 5 {
            continue;
        }
        let c = d.item_table.category[i as usize] as usize;
        let mut v = [0.0f32; 4];
        v[c] = 1.0;
        v[(c + 1) % 4] = 0.01 * (i % 3) as f32;
        text.push_str(&format!(
            "{},{},{},{},{}\n",
            d.items.name(i),
            v[0],
            v[1],
            v[2],
            v[3]
        ));
    }
    std::fs::write(&p, &text).unwrap();
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        levels: vec![4, 2],
        vector_file: Some(p.clone()),
        ..Default::default()
    };
    let t = tokenize(&d, &cfg).unwrap();
    let sem = t.stats.semantic.as_ref().unwrap();
    assert_eq!((sem.vector_dim, sem.items_coded), (4, 31));
    assert_eq!(t.stats.items_id_only, 1);
    let l1 = t.level1_codes();
    assert_eq!(l1[5], NONE);
    assert!(adjusted_rand_index(&l1, &d.item_table.category) > 0.99);

    std::fs::write(&p, "item_id,a,b\nshoes0,1,2\nshoes1,1,2,3\n").unwrap();
    let e = tokenize(&d, &cfg).unwrap_err().to_string();
    assert!(e.contains("vecs.csv:3:"), "{e}");
    std::fs::write(&p, "shoes0,1,inf\n").unwrap();
    let e = tokenize(&d, &cfg).unwrap_err().to_string();
    assert!(e.contains("vecs.csv:1:") && e.contains("finite"), "{e}");
}

#[test]
fn semantic_without_content_is_a_clear_error() {
    let rows = vec![row("a", "x", Action::Click)];
    let d = build(&rows, false, false, &[]);
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        ..Default::default()
    };
    assert!(matches!(tokenize(&d, &cfg), Err(TokenizeError::NoContent)));
    let bad = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        levels: vec![],
        ..Default::default()
    };
    assert!(matches!(tokenize(&d, &bad), Err(TokenizeError::Config(_))));
    assert_eq!(
        "semantic".parse::<ItemStrategy>().unwrap(),
        ItemStrategy::Semantic
    );
    assert!("bogus".parse::<ItemStrategy>().is_err());
    let json: TokenizerConfig = serde_json::from_str(r#"{"strategy":"attributes"}"#).unwrap();
    assert_eq!(json.strategy, ItemStrategy::Attributes);
    assert_eq!(json.levels, vec![64, 64, 64]);
}

#[test]
fn cache_round_trip_and_corruption_is_rebuilt() {
    let d = catalogue(6);
    let dir = tempfile::tempdir().unwrap();
    let cfg = TokenizerConfig {
        strategy: ItemStrategy::Semantic,
        levels: vec![3, 2],
        ..Default::default()
    };
    let (a, hit) = tokenize_cached(&d, &cfg, "abc123", dir.path()).unwrap();
    assert!(!hit);
    let (b, hit) = tokenize_cached(&d, &cfg, "abc123", dir.path()).unwrap();
    assert!(hit);
    assert_eq!(a, b);
    // Thread count does not change the key; another fingerprint or config does.
    let path = cache::cache_path(dir.path(), "abc123", &cfg);
    assert_eq!(
        path,
        cache::cache_path(
            dir.path(),
            "abc123",
            &TokenizerConfig {
                threads: 7,
                ..cfg.clone()
            }
        )
    );
    assert_ne!(path, cache::cache_path(dir.path(), "abc124", &cfg));
    assert_ne!(
        path,
        cache::cache_path(
            dir.path(),
            "abc123",
            &TokenizerConfig {
                seed: 1,
                ..cfg.clone()
            }
        )
    );

    // Flip one byte in the body: checksum fails, the cache is rebuilt (and rewritten).
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x55;
    std::fs::write(&path, &bytes).unwrap();
    assert!(cache::decode(&bytes).is_none());
    let (c, hit) = tokenize_cached(&d, &cfg, "abc123", dir.path()).unwrap();
    assert!(!hit);
    assert_eq!(c, a);
    assert!(
        tokenize_cached(&d, &cfg, "abc123", dir.path()).unwrap().1,
        "rewritten after corruption"
    );
    // Truncation is caught too.
    let good = std::fs::read(&path).unwrap();
    for cut in [0, 7, 20, good.len() - 1] {
        assert!(cache::decode(&good[..cut]).is_none(), "cut {cut}");
    }
    // A cache that does not fit the dataset (same key, different data) is not trusted.
    let other = catalogue(5);
    let (e, hit) = tokenize_cached(&other, &cfg, "abc123", dir.path()).unwrap();
    assert!(!hit);
    assert_eq!(e.item_sub.len(), other.n_items());
}
