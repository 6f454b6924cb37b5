//! The whole flow, end to end: pre-train a LUM, post-train (group-query
//! interest vectors), then train the CTR baseline and the same model + LUM
//! features, and write one report comparing baseline, +LUM and the oracle.
//! `lumlab flow` and the GUI's "Run the whole flow" both call [`run_flow`].

use crate::ctr::{CtrConfig, LumFeatures, Truth, impression_rows, train_ctr};
use crate::data::{Dataset, LoadOptions};
use crate::job::{CancelToken, JobEvent};
use crate::posttrain::{PosttrainRequest, load_interest, run_posttrain};
use crate::run::{CreateOptions, RunDir};
use crate::train::{PretrainConfig, PretrainRequest, run_pretrain};
use anyhow::Context;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// What the flow runs, and where.
#[derive(Clone, Debug)]
pub struct FlowRequest {
    pub data: PathBuf,
    /// Folder that receives `pretrain/`, `ctr/` and `flow_report.json`.
    pub out: PathBuf,
    pub pretrain: PretrainConfig,
    pub ctr: CtrConfig,
    /// Condition-aware fine-tuning before extraction (LumLab's own extension).
    pub finetune: bool,
}

impl FlowRequest {
    /// The flow's defaults: a pre-training budget that finishes in minutes on a 2-core CPU.
    pub fn new(data: &Path, out: &Path) -> Self {
        Self { data: data.to_path_buf(), out: out.to_path_buf(), pretrain: PretrainConfig::flow(), ctr: CtrConfig::default(), finetune: false }
    }
}

/// LUM features for every impression of `data`, read from a post-trained run's
/// interest table (o(u,q) as of each impression) and its item embeddings.
pub fn lum_features_from_run(run: &Path, data: &Dataset) -> anyhow::Result<LumFeatures> {
    let table = load_interest(run).with_context(|| format!("reading the post-train interest vectors of {} (run `lumlab posttrain --run {}` first)", run.display(), run.display()))?;
    anyhow::ensure!(table.n_items() == data.n_items(), "{}: interest table has {} items but the log has {}; was it post-trained on another log?", run.display(), table.n_items(), data.n_items());
    let mut user_of_row = vec![0u32; data.n_behaviors()];
    for u in 0..data.n_users() as u32 {
        for r in data.user_range(u) {
            user_of_row[r] = u;
        }
    }
    let rows = impression_rows(data)?;
    let dim = table.dim;
    let mut interest = Vec::with_capacity(rows.len() * dim);
    let mut missing = 0usize;
    for &r in &rows {
        match table.lookup_ids(data, user_of_row[r], data.query_at(r), data.time(r)).and_then(|k| table.vector(k)) {
            Some(v) => interest.extend_from_slice(v),
            None => {
                missing += 1;
                interest.extend(std::iter::repeat_n(0.0, dim));
            }
        }
    }
    anyhow::ensure!(missing * 100 <= rows.len(), "{}: {missing} of {} impressions have no interest vector; re-run posttrain on this log", run.display(), rows.len());
    Ok(LumFeatures::new(format!("LUM run {} (post-train group query)", run.display()), dim, interest, table.item_emb.clone()))
}

/// Runs the three stages. A finished pre-training run already in `out/pretrain` is reused.
pub fn run_flow(req: &FlowRequest, sink: &mut dyn FnMut(JobEvent), cancel: &CancelToken) -> anyhow::Result<Value> {
    std::fs::create_dir_all(&req.out).with_context(|| format!("creating {}", req.out.display()))?;
    let lum_dir = req.out.join("pretrain");
    let ctr_dir = req.out.join("ctr");
    let t0 = std::time::Instant::now();
    sink(JobEvent::Stage { index: 0, total: 3, name: "pre-train".into() });
    let finished = RunDir::open(&lum_dir).ok().and_then(|r| r.read_report().ok().flatten()).filter(|r| r["status"] == "finished");
    let pre = match finished {
        Some(r) => {
            sink(JobEvent::info(format!("reusing the finished pre-training run {}", lum_dir.display())));
            r
        }
        None => {
            let replace = lum_dir.exists();
            if replace {
                std::fs::remove_dir_all(&lum_dir).with_context(|| format!("clearing the unfinished run {}", lum_dir.display()))?;
            }
            let r = PretrainRequest { data: req.data.clone(), out: lum_dir.clone(), config: req.pretrain.clone(), resume: false, load: LoadOptions::cached() };
            run_pretrain(&r, sink, cancel)?
        }
    };
    let t_pre = t0.elapsed().as_secs_f64();
    cancel.check()?;
    sink(JobEvent::Stage { index: 1, total: 3, name: "post-train (group-query interest vectors)".into() });
    let mut p = PosttrainRequest::new(&lum_dir);
    p.data = Some(req.data.clone());
    if req.finetune {
        p.finetune = Some(Default::default());
    }
    let post = run_posttrain(&p, sink, cancel)?;
    let t_post = t0.elapsed().as_secs_f64() - t_pre;
    cancel.check()?;
    sink(JobEvent::Stage { index: 2, total: 3, name: "CTR baseline vs +LUM".into() });
    let (data, _) = crate::data::load(&req.data, &LoadOptions::cached()).with_context(|| format!("loading {}", req.data.display()))?;
    let features = lum_features_from_run(&lum_dir, &data)?;
    let truth_path = req.data.parent().unwrap_or(Path::new(".")).join("truth.csv");
    let truth: Option<Truth> = if truth_path.is_file() { Some(crate::data::sample::read_truth(&truth_path)?) } else { None };
    let run = RunDir::create_with(&ctr_dir, &req.ctr, &CreateOptions { kind: Some("ctr".into()), replace: true })?;
    let ctr = train_ctr(&data, truth.as_ref(), Some(&features), &req.ctr, &run, sink, cancel)?;
    let ctr_v = serde_json::to_value(&ctr)?;
    let report = json!({
        "kind": "flow",
        "data": req.data,
        "pretrain": {"run": lum_dir, "headline": pre["headline"], "secs": t_pre},
        "posttrain": post,
        "ctr": {"run": ctr_dir, "headline": ctr_v["headline"], "models": ctr_v["models"], "oracle": ctr_v["oracle"]},
        "secs": {"pretrain": t_pre, "posttrain": t_post, "total": t0.elapsed().as_secs_f64()},
    });
    crate::run::save_json_atomic(&req.out.join("flow_report.json"), &report)?;
    Ok(report)
}
