//! Post-training tests: session keys and history cut points, grouped vs per-query
//! extraction, no leakage from behaviours at or after a session, the index and its loader,
//! refusals, fine-tuning and the cache, on tiny data with a tiny LUM on the CPU.

use super::*;
use crate::data::sample::{WorldConfig, generate};
use crate::data::{Dataset, LoadOptions, LoadReport};
use crate::job::CancelToken;
use crate::model::Lum;
use crate::tokenize::{Tokenized, tokenize};
use crate::train::PretrainConfig;
use crate::train::pretrain::{DataInfo, PretrainRequest, build_net, run_pretrain};
use crate::train::split::{UserSeq, user_sequences};
use candle_core::Device;
use candle_nn::VarMap;

/// A tiny LUM: width 16, one layer, a 12-behaviour window (so some histories are cut).
fn tiny_config() -> PretrainConfig {
    PretrainConfig {
        strategy: crate::tokenize::ItemStrategy::Id,
        d_model: 16,
        n_layers: 1,
        n_heads: 2,
        d_ff: 32,
        max_behaviors: 12,
        dropout: 0.0,
        negatives: 16,
        batch_size: 8,
        steps: 4,
        warmup_steps: 1,
        eval_every: 100,
        eval_users: 10,
        checkpoint_every: 2,
        min_count: 0,
        seed: 3,
        ..PretrainConfig::default()
    }
}

fn load(path: &Path) -> (Dataset, LoadReport) {
    crate::data::load(path, &LoadOptions::default()).unwrap()
}

fn tok_of(data: &Dataset, cfg: &PretrainConfig) -> Tokenized {
    tokenize(data, &cfg.tokenizer()).unwrap()
}

fn lum_of(data: &Dataset, tok: &Tokenized, cfg: &PretrainConfig) -> (Lum, Vec<UserSeq>) {
    let seqs = user_sequences(data, tok);
    let net = build_net(cfg, tok, &seqs, data.n_items(), &VarMap::new(), &Device::Cpu).unwrap();
    let Net::Lum(lum) = net else { panic!("not a LUM") };
    (lum, seqs)
}

fn world(dir: &Path, users: usize) -> PathBuf {
    let cfg = WorldConfig { seq_median: 20.0, seq_p90: 40.0, ..WorldConfig::small(users, 5) };
    generate(&cfg, dir, None).unwrap();
    dir.join("behaviors.csv")
}

fn extract_all(lum: &Lum, tok: &Tokenized, seqs: &[UserSeq], keys: &[SessionKey], opts: &ExtractOptions) -> Extraction {
    extract_grouped(lum, tok, seqs, keys, opts, &mut |_| {}, &CancelToken::new()).unwrap()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

/// User a: two LUM behaviours, then at t=300 a page for "shoes" (2 ads) and one for "bags",
/// with a click logged in the same second (must not be read), then "shoes" again at 400.
/// User b: an impression before any behaviour, and a feed impression without a query.
const HAND_LOG: &str = "user_id,timestamp,item_id,action,query,scenario,position,label
a,100,i1,click,,feed,,
a,200,i2,click,shoes,search,,
a,300,i3,impression,shoes,search,1,0
a,300,i4,impression,shoes,search,2,1
a,300,i5,click,,feed,,
a,300,i6,impression,bags,search,1,0
a,400,i1,impression,shoes,search,1,0
b,50,i2,impression,bags,search,1,0
b,60,i3,click,,feed,,
b,70,i9,impression,,feed,1,0
";

fn hand_data(dir: &Path) -> (Dataset, Tokenized) {
    let p = dir.join("hand.csv");
    std::fs::write(&p, HAND_LOG).unwrap();
    let (data, _) = load(&p);
    let tok = tok_of(&data, &tiny_config());
    (data, tok)
}

#[test]
fn session_keys_cut_history_strictly_before_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let (data, tok) = hand_data(dir.path());
    let (keys, counts) = session_keys(&data, &tok).unwrap();
    let named: Vec<(&str, &str, i64, u32, u32)> = keys
        .iter()
        .map(|k| (data.users.name(k.user), data.queries.name(k.query), k.timestamp, k.history_len, k.impressions))
        .collect();
    assert_eq!(
        named,
        vec![("a", "shoes", 300, 2, 2), ("a", "bags", 300, 2, 1), ("a", "shoes", 400, 3, 1), ("b", "bags", 50, 0, 1)]
    );
    assert_eq!(counts, SessionCounts { impressions_with_query: 5, impressions_without_query: 1, keys_without_history: 1 });
}

#[test]
fn index_maps_keys_to_their_own_history_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let (data, tok) = hand_data(dir.path());
    let cfg = tiny_config();
    let (lum, seqs) = lum_of(&data, &tok, &cfg);
    let (keys, _) = session_keys(&data, &tok).unwrap();
    let ex = extract_all(&lum, &tok, &seqs, &keys, &ExtractOptions::default());
    // (a, 300) holds two queries over one history: 3 histories, 4 queries, one pass.
    assert_eq!((ex.stats.groups, ex.stats.queries, ex.stats.forwards, ex.stats.max_queries_per_group), (3, 4, 1, 2));
    let items = extract::normalised_item_table(&lum).unwrap();
    let table = InterestTable::new(table::index_keys(&data, &keys), ex.d, ex.vectors.clone(), items.clone()).unwrap();
    table::write_tables(dir.path(), &table).unwrap();
    let back = load_interest(dir.path()).unwrap();
    assert_eq!(back.keys, table.keys);
    assert_eq!((back.len(), back.dim, back.n_items()), (4, 16, data.n_items()));
    assert_eq!(back.interest, ex.vectors);
    assert_eq!(back.item(2).unwrap(), &items[32..48]);
    // Each row is o(u, q) computed independently from that key's own history.
    let a = data.users.get("a").unwrap();
    let (conds, its) = tok.user_sequence(&data, a);
    for (user, query, ts, hist) in [("a", "shoes", 300, 2), ("a", "bags", 300, 2), ("a", "shoes", 400, 3)] {
        let row = back.lookup(user, query, ts).unwrap();
        let q = tok.query_condition(data.queries.get(query).unwrap()).unwrap();
        let want = crate::model::kernels::l2_normalize(&lum.group_query(&conds[..hist], &its[..hist], &[q]).unwrap()).unwrap();
        let want = want.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(max_diff(back.vector(row).unwrap(), &want) < 1e-5, "{user} {query} {ts}");
        let norm: f32 = back.vector(row).unwrap().iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5);
    }
    assert_eq!(back.lookup_ids(&data, a, data.queries.get("bags").unwrap(), 300), Some(1));
    assert_eq!(back.lookup("b", "bags", 50), Some(3));
    assert_eq!(back.lookup("a", "bags", 400), None);
    // A truncated index is an error that names the file.
    std::fs::write(dir.path().join(table::INDEX_FILE), "row,user_id,query,timestamp,history_len,impressions\n0,a,shoes,300,2,2\n").unwrap();
    let err = load_interest(dir.path()).unwrap_err().to_string();
    assert!(err.contains("interest.safetensors") && err.contains("1 keys"), "{err}");
}

#[test]
fn grouped_extraction_equals_one_forward_per_query() {
    let dir = tempfile::tempdir().unwrap();
    let (data, _) = load(&world(dir.path(), 30));
    let cfg = tiny_config();
    let tok = tok_of(&data, &cfg);
    let (lum, seqs) = lum_of(&data, &tok, &cfg);
    let (keys, _) = session_keys(&data, &tok).unwrap();
    assert!(keys.len() > 20);
    assert!(keys.iter().any(|k| k.history_len as usize > cfg.max_behaviors), "some histories exceed the window");
    let grouped = extract_all(&lum, &tok, &seqs, &keys, &ExtractOptions::default());
    let per_query = extract_per_query(&lum, &tok, &seqs, &keys).unwrap();
    assert!(max_diff(&grouped.vectors, &per_query) < 1e-5);
    // Tiny batches give the same vectors.
    let small = extract_all(&lum, &tok, &seqs, &keys, &ExtractOptions { max_tokens_per_batch: 40, max_groups_per_batch: 3 });
    assert!(small.stats.forwards > grouped.stats.forwards);
    assert!(max_diff(&small.vectors, &grouped.vectors) < 1e-5);
    let s = measure_speedup(&lum, &tok, &seqs, &keys, 10, &ExtractOptions::default()).unwrap();
    assert!(s.keys <= 10 && s.keys > 0 && s.grouped_secs > 0.0 && s.per_query_secs > 0.0);
    assert!(s.max_abs_diff < 1e-5);
}

#[test]
fn interest_ignores_behaviours_at_or_after_the_session() {
    let dir = tempfile::tempdir().unwrap();
    let (mut a, _) = load(&world(dir.path(), 30));
    let cfg = tiny_config();
    let tok_a0 = tok_of(&a, &cfg);
    let (keys0, _) = session_keys(&a, &tok_a0).unwrap();
    let pivot = keys0.iter().find(|k| k.history_len > 3).unwrap().clone();
    let t = (pivot.timestamp - a.base_ts) as u32;
    // Put one of the pivot user's later LUM behaviours at the session's own second: a
    // same-second click must not be read either.
    let same_second = a
        .user_range(pivot.user)
        .find(|&r| a.ts[r] > t && !a.is_impression(r))
        .expect("the pivot user has a behaviour after the session");
    assert!(a.user_range(pivot.user).filter(|&r| r < same_second).all(|r| a.ts[r] <= t));
    a.ts[same_second] = t;
    // B: every LUM behaviour at or after t is moved to another item.
    let mut b = a.clone();
    let n_items = b.n_items() as u32;
    let mut altered = 0;
    for r in 0..b.n_behaviors() {
        if b.ts[r] >= t && !b.is_impression(r) {
            b.item[r] = (b.item[r] + 1) % n_items;
            altered += 1;
        }
    }
    assert!(altered > 10);
    let (tok_a, tok_b) = (tok_of(&a, &cfg), tok_of(&b, &cfg));
    assert_eq!((tok_a.vocab.len(), tok_a.n_conditions), (tok_b.vocab.len(), tok_b.n_conditions), "same tables, so the same seeded weights");
    let (lum_a, seqs_a) = lum_of(&a, &tok_a, &cfg);
    let (lum_b, seqs_b) = lum_of(&b, &tok_b, &cfg);
    let (keys_a, _) = session_keys(&a, &tok_a).unwrap();
    let (keys_b, _) = session_keys(&b, &tok_b).unwrap();
    assert_eq!(keys_a, keys_b);
    let oa = extract_all(&lum_a, &tok_a, &seqs_a, &keys_a, &ExtractOptions::default());
    let ob = extract_all(&lum_b, &tok_b, &seqs_b, &keys_b, &ExtractOptions::default());
    let d = oa.d;
    let (mut before, mut after_changed) = (0, 0);
    for (i, k) in keys_a.iter().enumerate() {
        let diff = max_diff(&oa.vectors[i * d..(i + 1) * d], &ob.vectors[i * d..(i + 1) * d]);
        if k.timestamp <= pivot.timestamp {
            assert!(diff < 1e-5, "key {i} at {} changed by {diff} although only behaviours at or after {} were altered", k.timestamp, pivot.timestamp);
            before += 1;
        } else if diff > 1e-3 {
            after_changed += 1;
        }
    }
    assert!(before > 0 && keys_a.contains(&pivot));
    assert!(after_changed > 0, "altering later behaviours must change later sessions (the test can fail)");
}

#[test]
fn logs_without_search_sessions_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = tiny_config();
    let p = dir.path().join("noq.csv");
    std::fs::write(&p, "user_id,timestamp,item_id,action\na,1,i1,click\na,2,i2,impression\n").unwrap();
    let (data, _) = load(&p);
    let err = session_keys(&data, &tok_of(&data, &cfg)).unwrap_err();
    assert!(matches!(err, PosttrainError::NoQueryColumn));
    assert!(err.to_string().contains("no `query` column"), "{err}");
    let p = dir.path().join("feedonly.csv");
    std::fs::write(&p, "user_id,timestamp,item_id,action,query\na,1,i1,click,shoes\na,2,i2,impression,\na,3,i3,impression,\n").unwrap();
    let (data, _) = load(&p);
    let err = session_keys(&data, &tok_of(&data, &cfg)).unwrap_err();
    assert!(err.to_string().contains("none of its 2 impression rows has a query"), "{err}");
}

fn fake_run(dir: &Path, kind: &str, model: crate::train::ModelKind) -> PathBuf {
    let pretrain = PretrainConfig { model, ..tiny_config() };
    let rc = RunConfig {
        kind: kind.into(),
        tokenizer: pretrain.tokenizer(),
        pretrain,
        data: DataInfo { path: dir.join("none.csv"), fingerprint: "0".into(), format: "native".into(), users: 0, items: 0, behaviors: 0 },
        device: "cpu".into(),
        lumlab_version: "test".into(),
    };
    let p = dir.join(format!("{kind}-{}", model.name()));
    RunDir::create(&p, &rc).unwrap();
    p
}

#[test]
fn runs_that_are_not_pretrained_lums_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for model in [ModelKind::Sasrec, ModelKind::Popularity] {
        let run = fake_run(dir.path(), "pretrain", model);
        let err = run_posttrain(&PosttrainRequest::new(&run), &mut |_| {}, &CancelToken::new()).unwrap_err().to_string();
        assert!(err.contains(&format!("`{}` model", model.name())) && err.contains("needs a LUM run"), "{err}");
    }
    let run = fake_run(dir.path(), "ctr", ModelKind::Lum);
    let err = check_lum_run(&run).unwrap_err().to_string();
    assert!(err.contains("is a `ctr` run, not a pre-training run"), "{err}");
    assert!(check_lum_run(&fake_run(dir.path(), "pretrain", ModelKind::Lum)).is_ok());
    let err = format!("{:#}", check_lum_run(&dir.path().join("missing")).unwrap_err());
    assert!(err.contains("missing"), "{err}");
}

#[test]
fn posttrain_run_caches_fine_tunes_and_reuses() {
    let dir = tempfile::tempdir().unwrap();
    let data = world(dir.path(), 24);
    let out = dir.path().join("run");
    let req = PretrainRequest { data: data.clone(), out: out.clone(), config: tiny_config(), resume: false, load: LoadOptions::default() };
    run_pretrain(&req, &mut |_| {}, &CancelToken::new()).unwrap();
    let cancel = CancelToken::new();
    let base = PosttrainRequest { speedup_keys: 8, ..PosttrainRequest::new(&out) };
    let r1 = run_posttrain(&base, &mut |_| {}, &cancel).unwrap();
    assert_eq!((r1["from_cache"].as_bool(), r1["finetuned"].as_bool()), (Some(false), Some(false)));
    let n = r1["keys"].as_u64().unwrap() as usize;
    let t1 = load_interest(&out).unwrap();
    assert_eq!(t1.len(), n);
    assert!(n > 10 && !t1.finetuned && t1.data_fingerprint.is_some());
    assert!(r1["speedup"]["max_abs_diff"].as_f64().unwrap() < 1e-5);
    // Unchanged run and log: reused. --force: recomputed, same vectors.
    let r2 = run_posttrain(&base, &mut |_| {}, &cancel).unwrap();
    assert_eq!(r2["from_cache"].as_bool(), Some(true));
    let r3 = run_posttrain(&PosttrainRequest { force: true, ..base.clone() }, &mut |_| {}, &cancel).unwrap();
    assert_eq!(r3["from_cache"].as_bool(), Some(false));
    assert!(max_diff(&load_interest(&out).unwrap().interest, &t1.interest) < 1e-6);
    // Fine-tuning (LumLab's extension): a separate checkpoint, labelled, used from then on.
    let ft_cfg = FinetuneConfig { steps: 6, batch_size: 8, warmup_steps: 1, lr: 5e-3, valid_users: 20, ..FinetuneConfig::default() };
    let mut steps = 0;
    let r4 = run_posttrain(&PosttrainRequest { finetune: Some(ft_cfg.clone()), ..base.clone() }, &mut |e| steps += matches!(e, JobEvent::Step { .. }) as usize, &cancel)
        .unwrap();
    assert_eq!(steps, 6);
    assert!(out.join(table::FINETUNED_CHECKPOINT_FILE).is_file() && out.join(table::FINETUNE_FILE).is_file());
    assert_eq!((r4["finetuned"].as_bool(), r4["from_cache"].as_bool(), r4["checkpoint"].as_str()), (Some(true), Some(false), Some(table::FINETUNED_CHECKPOINT_FILE)));
    assert!(r4["finetune"]["extension"].as_str().unwrap().contains("LumLab's own extension"));
    assert!(r4["finetune"]["first_loss"].as_f64().unwrap().is_finite());
    assert!(r4["finetune"]["valid_search"]["targets"].as_u64().unwrap() > 0);
    let t4 = load_interest(&out).unwrap();
    assert!(t4.finetuned && max_diff(&t4.interest, &t1.interest) > 1e-4, "fine-tuned weights give other vectors");
    // Without --finetune the up-to-date fine-tuned checkpoint is still the one read (cached).
    let r5 = run_posttrain(&base, &mut |_| {}, &cancel).unwrap();
    assert_eq!((r5["finetuned"].as_bool(), r5["from_cache"].as_bool()), (Some(true), Some(true)));
    let r6 = run_posttrain(&PosttrainRequest { finetune: Some(ft_cfg), ..base.clone() }, &mut |_| {}, &cancel).unwrap();
    assert_eq!((r6["finetune_reused"].as_bool(), r6["from_cache"].as_bool()), (Some(true), Some(true)));
}

#[test]
fn attention_map_labels_tokens_and_keeps_rows_distributions_within_the_masks() {
    use super::attention::{AttentionError, TokenRole, attention_map, resolve_queries};
    let dir = tempfile::tempdir().unwrap();
    let path = world(dir.path(), 30);
    let (data, _) = load(&path);
    let cfg = tiny_config();
    let tok = tok_of(&data, &cfg);
    let (lum, _) = lum_of(&data, &tok, &cfg);
    // The user with the longest LUM sequence, so the 12-behaviour window cuts it.
    let user = (0..data.n_users() as u32).max_by_key(|&u| tok.user_sequence(&data, u).0.len()).unwrap();
    let total = tok.user_sequence(&data, user).0.len();
    assert!(total > cfg.max_behaviors);
    let texts: Vec<String> = (0..2).map(|q| data.queries.name(q).to_string()).collect();
    let queries = resolve_queries(&data, &texts).unwrap();
    let map = attention_map(&lum, &tok, &data, user, &queries).unwrap();
    let shown = lum.config().max_behaviors - 1;
    assert_eq!((map.behaviours_total, map.behaviours_shown), (total, shown));
    assert_eq!(map.len(), 2 * shown + 2);
    assert_eq!((map.n_layers, map.n_heads), (cfg.n_layers, cfg.n_heads));
    assert_eq!(map.tokens[0].role, TokenRole::Condition);
    assert_eq!(map.tokens[1].role, TokenRole::Item);
    assert_eq!(map.tokens[2 * shown].label, format!("Q {}", texts[0]));
    let l = map.len();
    for layer in 0..map.n_layers {
        for head in 0..map.n_heads {
            for row in 0..l {
                let sum: f32 = (0..l).map(|c| map.weight(layer, head, row, c)).sum();
                assert!((sum - 1.0).abs() < 1e-5, "row {row} sums to {sum}");
                for col in 0..l {
                    if map.is_masked(row, col) {
                        assert_eq!(map.weight(layer, head, row, col), 0.0, "({row},{col}) is masked");
                    }
                }
            }
        }
    }
    // Causal history; the two queries do not see each other.
    assert!(map.is_masked(0, 1) && map.is_masked(2 * shown, 2 * shown + 1) && map.is_masked(2 * shown + 1, 2 * shown));
    assert!(!map.is_masked(2 * shown + 1, 0) && !map.is_masked(2 * shown + 1, 2 * shown + 1));
    // What a query reads: one entry per behaviour; with its self weight the row sums to 1.
    let reads = map.query_reads(1, None);
    assert_eq!(reads.len(), shown);
    assert!(reads.windows(2).all(|w| w[0].weight >= w[1].weight));
    let self_w: f32 = (0..map.n_layers).flat_map(|la| (0..map.n_heads).map(move |h| (la, h))).map(|(la, h)| map.weight(la, h, 2 * shown + 1, 2 * shown + 1)).sum::<f32>() / (map.n_layers * map.n_heads) as f32;
    let read: f32 = reads.iter().map(|r| r.weight).sum();
    assert!((read + self_w - 1.0).abs() < 1e-4, "{read} + {self_w}");
    assert!(matches!(resolve_queries(&data, &["no such query".into()]), Err(AttentionError::UnknownQuery(_))));
    assert!(matches!(attention_map(&lum, &tok, &data, 10_000, &[]), Err(AttentionError::NoUser(_))));
    // Without queries: the history's own attention.
    let plain = attention_map(&lum, &tok, &data, user, &[]).unwrap();
    assert_eq!(plain.len(), 2 * shown);
    assert!(plain.query_reads(0, None).is_empty());
}
