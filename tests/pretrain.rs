//! Pre-training end to end on a small sample world: the LUM beats popularity,
//! a stopped run resumes exactly, and bad settings are refused clearly.

use lumlab::data::sample::{WorldConfig, generate};
use lumlab::job::{CancelToken, JobEvent};
use lumlab::train::{ModelKind, PretrainConfig, PretrainRequest, run_pretrain};
use serde_json::Value;
use std::path::Path;

fn world(dir: &Path, users: usize) -> std::path::PathBuf {
    generate(&WorldConfig { items_per_category: 40, ..WorldConfig::small(users, 5) }, dir, None).unwrap();
    dir.join("behaviors.csv")
}

fn train(data: &Path, out: &Path, cfg: PretrainConfig) -> Value {
    let req = PretrainRequest { data: data.to_path_buf(), out: out.to_path_buf(), config: cfg, resume: false, load: Default::default() };
    run_pretrain(&req, &mut |_| {}, &CancelToken::new()).unwrap()
}

fn test_metric(summary: &Value, name: &str) -> f64 {
    summary["test"]["full"]["at_k"].as_array().unwrap().iter().find(|a| a["k"] == 10).map(|a| a[name].as_f64().unwrap()).unwrap()
}

#[test]
fn lum_beats_popularity_on_the_full_protocol() {
    let dir = tempfile::tempdir().unwrap();
    // 400 users: each HR@10 is a count of hits over the users, so fewer make the test a coin flip.
    let data = world(dir.path(), 400);
    let cfg = PretrainConfig { steps: 80, eval_every: 40, levels: vec![16, 16, 16], ..PretrainConfig::tiny() };
    let lum = train(&data, &dir.path().join("lum"), cfg.clone());
    let pop = train(&data, &dir.path().join("pop"), PretrainConfig { model: ModelKind::Popularity, ..cfg });
    let (l_hr, p_hr) = (test_metric(&lum, "hr"), test_metric(&pop, "hr"));
    let (l_nd, p_nd) = (test_metric(&lum, "ndcg"), test_metric(&pop, "ndcg"));
    eprintln!("HR@10 lum {l_hr:.4} pop {p_hr:.4}; NDCG@10 lum {l_nd:.4} pop {p_nd:.4}");
    assert!(l_hr > 1.5 * p_hr && l_hr - p_hr > 0.03, "HR@10 lum {l_hr} vs popularity {p_hr}");
    assert!(l_nd > 1.5 * p_nd, "NDCG@10 lum {l_nd} vs popularity {p_nd}");
    // The run folder is complete and its config records everything.
    let run = dir.path().join("lum");
    for f in ["config.json", "metrics.jsonl", "events.log", "checkpoint.safetensors", "checkpoint_best.safetensors", "optimizer.safetensors", "report.json"] {
        assert!(run.join(f).is_file(), "{f} missing");
    }
    let cfgj: Value = serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfgj["pretrain"]["negatives"], 128);
    assert!(cfgj["data"]["fingerprint"].as_str().unwrap().len() >= 8);
    assert!(cfgj["tokenizer"]["strategy"] == "semantic");
}

fn step_losses(run: &Path) -> Vec<(u64, f64)> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["kind"] == "step")
        .map(|v| (v["step"].as_u64().unwrap(), v["loss"].as_f64().unwrap()))
        .collect()
}

#[test]
fn resume_continues_exactly_where_a_stopped_run_left_off() {
    let dir = tempfile::tempdir().unwrap();
    let data = world(dir.path(), 60);
    let cfg = PretrainConfig { steps: 12, eval_every: 6, checkpoint_every: 6, eval_users: 20, dropout: 0.1, strategy: lumlab::tokenize::ItemStrategy::Id, ..PretrainConfig::tiny() };
    let full = dir.path().join("full");
    train(&data, &full, cfg.clone());
    // Stop after step 7 (between checkpoints), then resume.
    let part = dir.path().join("part");
    let req = PretrainRequest { data: data.clone(), out: part.clone(), config: cfg.clone(), resume: false, load: Default::default() };
    let cancel = CancelToken::new();
    let c2 = cancel.clone();
    let err = run_pretrain(&req, &mut |e| if let JobEvent::Step { step: 7, .. } = e { c2.stop() }, &cancel).unwrap_err();
    assert!(err.to_string().contains("stopped"), "{err}");
    let resume = PretrainRequest { data: Default::default(), resume: true, ..req };
    run_pretrain(&resume, &mut |_| {}, &CancelToken::new()).unwrap();
    let (a, b) = (step_losses(&full), step_losses(&part));
    assert_eq!(b.iter().map(|s| s.0).collect::<Vec<_>>(), (1..=12).collect::<Vec<_>>(), "no step repeated or missing");
    for ((sa, la), (sb, lb)) in a.iter().zip(&b) {
        assert_eq!(sa, sb);
        assert!((la - lb).abs() < 1e-5, "step {sa}: {la} uninterrupted vs {lb} resumed");
    }
}

#[test]
fn incompatible_resume_and_bad_config_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = world(dir.path(), 30);
    let pop = dir.path().join("pop");
    train(&data, &pop, PretrainConfig { model: ModelKind::Popularity, ..PretrainConfig::tiny() });
    // Creating over an existing run is refused.
    let req = PretrainRequest { data: data.clone(), out: pop.clone(), config: PretrainConfig::tiny(), resume: false, load: Default::default() };
    let e = run_pretrain(&req, &mut |_| {}, &CancelToken::new()).unwrap_err();
    assert!(format!("{e:#}").contains("pop"), "{e:#}");
    // Resuming on another log is refused.
    let other = tempfile::tempdir().unwrap();
    generate(&WorldConfig::small(30, 99), other.path(), None).unwrap();
    let req = PretrainRequest { data: other.path().join("behaviors.csv"), resume: true, ..req };
    let e = run_pretrain(&req, &mut |_| {}, &CancelToken::new()).unwrap_err();
    assert!(format!("{e:#}").contains("different data"), "{e:#}");
    let bad = PretrainConfig { d_model: 30, n_heads: 4, ..PretrainConfig::tiny() };
    assert!(bad.validate().unwrap_err().contains("multiple of n_heads"));
}
