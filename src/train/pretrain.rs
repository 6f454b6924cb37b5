//! The one training loop: pre-trains a LUM (or the SASRec / popularity
//! baselines) on a behaviour log, validates as it goes, keeps the best
//! checkpoint, and writes a run folder. It reports through a sink of
//! [`JobEvent`]s and obeys a [`CancelToken`]; the CLI and the GUI are consumers.

use super::config::{ModelKind, PretrainConfig};
use super::evaluate::{Scorer, evaluate};
use super::optim::AdamW;
use super::split::{EvalSplit, UserSeq, user_sequences};
use crate::data::{Dataset, LoadOptions, LoadReport};
use crate::eval::{Metric, Protocol, RetrievalReport};
use crate::job::{CancelToken, JobEvent};
use crate::model::{Lum, RaggedIds, SasRec, SasRecBatch, batch_from_sequences};
use crate::run::{CheckpointPolicy, CreateOptions, RunDir, RunStatus};
use crate::tokenize::{Tokenized, TokenizerConfig, tokenize_cached};
use crate::util::Rng;
use anyhow::Context;
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Metric the best checkpoint is chosen by.
pub const BEST_BY: &str = "ndcg@10";
/// Cutoffs reported by default.
pub const DEFAULT_KS: [usize; 3] = [1, 10, 50];

/// What to train and where.
#[derive(Clone)]
pub struct PretrainRequest {
    pub data: PathBuf,
    pub out: PathBuf,
    pub config: PretrainConfig,
    /// Continue a stopped or killed run in `out` (its config.json wins).
    pub resume: bool,
    pub load: LoadOptions,
}

/// Where the data a run was trained on came from (`config.json` → `data`).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DataInfo {
    pub path: PathBuf,
    pub fingerprint: String,
    pub format: String,
    pub users: usize,
    pub items: usize,
    pub behaviors: usize,
}

/// A pre-training run's `config.json`: the complete resolved configuration.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RunConfig {
    pub kind: String,
    pub pretrain: PretrainConfig,
    pub tokenizer: TokenizerConfig,
    pub data: DataInfo,
    pub device: String,
    pub lumlab_version: String,
}

/// Saved beside the checkpoint so a resumed run continues exactly.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
struct TrainerState {
    step: u64,
    rng: [u64; 4],
    best_metric: Option<f64>,
    best_step: Option<u64>,
}

/// A trained sequence model with its parameters.
pub enum Net {
    Lum(Lum),
    Sasrec(SasRec),
    Popularity(Vec<f32>),
}

impl Net {
    /// A scorer view for evaluation.
    pub fn scorer(&self) -> Scorer<'_> {
        match self {
            Net::Lum(m) => Scorer::Lum(m),
            Net::Sasrec(m) => Scorer::Sasrec(m),
            Net::Popularity(c) => Scorer::Popularity(c),
        }
    }
}

/// Tokenizer cache directory: `$XDG_CACHE_HOME/lumlab/tokens` (or `~/.cache/...`).
pub fn token_cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("lumlab")
        .join("tokens")
}

/// Builds the network for `cfg` with fresh (seeded) parameters in `varmap`.
pub fn build_net(cfg: &PretrainConfig, tok: &Tokenized, seqs: &[UserSeq], n_items: usize, varmap: &VarMap, device: &Device) -> anyhow::Result<Net> {
    Ok(match cfg.model {
        ModelKind::Lum => Net::Lum(Lum::with_varmap(
            varmap,
            &cfg.lum(),
            RaggedIds::new(&tok.item_sub.offsets, &tok.item_sub.ids),
            RaggedIds::new(&tok.cond_sub.offsets, &tok.cond_sub.ids),
            tok.vocab.len(),
            device,
        )?),
        ModelKind::Sasrec => Net::Sasrec(SasRec::with_varmap(varmap, &cfg.sasrec(), n_items, device)?),
        ModelKind::Popularity => {
            let mut counts = vec![0f32; n_items];
            for s in seqs {
                for &i in &s.items[..s.train_len()] {
                    counts[i as usize] += 1.0;
                }
            }
            Net::Popularity(counts)
        }
    })
}

/// Loads and tokenizes a log, reporting progress through `sink`.
pub fn load_and_tokenize(path: &Path, load: &LoadOptions, tok_cfg: &TokenizerConfig, sink: &mut dyn FnMut(JobEvent)) -> anyhow::Result<(Dataset, LoadReport, Tokenized)> {
    sink(JobEvent::Progress { done: 0, total: 3, what: format!("loading {}", path.display()) });
    let mut load = load.clone();
    load.use_cache = true;
    let (data, report) = crate::data::load(path, &load).with_context(|| format!("loading {}", path.display()))?;
    sink(JobEvent::info(format!(
        "loaded {} users, {} items, {} behaviours ({}{})",
        data.n_users(),
        data.n_items(),
        data.n_behaviors(),
        report.format,
        if report.from_cache { ", from cache" } else { "" }
    )));
    sink(JobEvent::Progress { done: 1, total: 3, what: format!("tokenizing ({})", tok_cfg.strategy.name()) });
    let (tok, cached) = tokenize_cached(&data, tok_cfg, &report.fingerprint, &token_cache_dir())?;
    sink(JobEvent::info(format!(
        "tokenized: {} items, {} conditions (source: {}), {} sub-tokens{}",
        tok.item_sub.len(),
        tok.n_conditions,
        tok.condition_source.name(),
        tok.vocab.len(),
        if cached { ", from cache" } else { "" }
    )));
    sink(JobEvent::Progress { done: 2, total: 3, what: "building the model".into() });
    Ok((data, report, tok))
}

fn data_info(path: &Path, d: &Dataset, r: &LoadReport) -> DataInfo {
    DataInfo { path: path.to_path_buf(), fingerprint: r.fingerprint.clone(), format: r.format.to_string(), users: d.n_users(), items: d.n_items(), behaviors: d.n_behaviors() }
}

/// Users evaluated during training: a fixed sample (same for every run with the seed).
fn eval_subset(seqs: &[UserSeq], n: usize, seed: u64) -> Vec<usize> {
    let mut all: Vec<usize> = (0..seqs.len()).filter(|&u| seqs[u].target_index(EvalSplit::Valid).is_some()).collect();
    if n > 0 && all.len() > n {
        Rng::fork(seed, 0xe7a1).shuffle(&mut all);
        all.truncate(n);
        all.sort_unstable();
    }
    all
}

fn save_checkpoint(varmap: &VarMap, opt: Option<&AdamW>, state: &TrainerState, run: &RunDir, best: bool) -> anyhow::Result<()> {
    let target = if best { run.best_checkpoint_path() } else { run.checkpoint_path() };
    let tmp = crate::util::fs::temp_path(&target);
    varmap.save(&tmp)?;
    std::fs::rename(&tmp, &target)?;
    if !best {
        if let Some(opt) = opt {
            let o = run.optimizer_path();
            let tmp = crate::util::fs::temp_path(&o);
            opt.save(&tmp)?;
            std::fs::rename(&tmp, &o)?;
        }
        crate::run::save_json_atomic(&run.path().join("trainer_state.json"), state)?;
    }
    Ok(())
}

fn metrics_of(report: &RetrievalReport) -> Vec<Metric> {
    report.metrics()
}

/// Sequences for one training step: random users, each a random window of its training split.
fn sample_batch<'a>(seqs: &'a [UserSeq], trainable: &[usize], n: usize, window: usize, rng: &mut Rng) -> Vec<(&'a [u32], &'a [u32])> {
    (0..n)
        .map(|_| {
            let s = &seqs[trainable[rng.index(trainable.len())]];
            let len = s.train_len();
            let w = len.min(window);
            let end = w + rng.index(len - w + 1);
            (&s.conds[end - w..end], &s.items[end - w..end])
        })
        .collect()
}

/// Every parameter of `varmap` with its name (what [`AdamW::new`] optimises).
pub fn named_vars(varmap: &VarMap) -> anyhow::Result<Vec<(String, candle_core::Var)>> {
    let data = varmap.data().lock().map_err(|_| anyhow::anyhow!("parameter map lock poisoned"))?;
    Ok(data.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
}

/// `k` negatives drawn uniformly from the catalogue of `n_items` (shared by one batch) -> (k,) u32.
pub fn sample_negatives(rng: &mut Rng, n_items: usize, k: usize, device: &Device) -> candle_core::Result<Tensor> {
    let ids: Vec<u32> = (0..k).map(|_| rng.index(n_items) as u32).collect();
    Tensor::from_vec(ids, k, device)
}

/// One optimisation step of the training loop: back-propagates `loss`, scales the
/// gradients so their global norm is at most `grad_clip` (0 = no clipping) and applies
/// AdamW at `lr`. Shared by pre-training and post-training fine-tuning.
/// -> the gradient norm before clipping.
pub fn optimisation_step(opt: &mut AdamW, loss: &Tensor, lr: f64, grad_clip: f64) -> candle_core::Result<f64> {
    let grads = loss.backward()?;
    let norm = opt.grad_norm(&grads)?;
    let scale = if grad_clip > 0.0 && norm > grad_clip { grad_clip / norm } else { 1.0 };
    opt.step(&grads, lr, scale)?;
    Ok(norm)
}

/// Runs pre-training. Always leaves a consistent run folder: config.json first,
/// checkpoints and state atomically, report.json at the end.
pub fn run_pretrain(req: &PretrainRequest, sink: &mut dyn FnMut(JobEvent), cancel: &CancelToken) -> anyhow::Result<Value> {
    let (run, cfg) = if req.resume {
        let run = RunDir::open(&req.out).with_context(|| format!("opening run {}", req.out.display()))?;
        let rc: RunConfig = run.read_config().context("reading the run's config.json")?;
        anyhow::ensure!(rc.kind == "pretrain", "{} is a `{}` run, not a pre-training run", req.out.display(), rc.kind);
        (Some((run, rc.clone())), rc.pretrain)
    } else {
        (None, req.config.clone())
    };
    cfg.validate().map_err(|e| anyhow::anyhow!("invalid config: {e}"))?;
    let device = super::device::pick(&cfg.device)?;
    let device_name = super::device::describe(&device);
    let data_path = match &run {
        Some((_, rc)) if req.data.as_os_str().is_empty() => rc.data.path.clone(),
        _ => req.data.clone(),
    };
    let (data, report, tok) = load_and_tokenize(&data_path, &req.load, &cfg.tokenizer(), sink)?;
    let info = data_info(&data_path, &data, &report);
    let run = match run {
        Some((run, rc)) => {
            anyhow::ensure!(
                report.has_fingerprint(&rc.data.fingerprint, &req.load),
                "{} was trained on different data (fingerprint {} vs {}); resume with the same log",
                req.out.display(),
                rc.data.fingerprint,
                info.fingerprint
            );
            run
        }
        None => {
            let rc = RunConfig {
                kind: "pretrain".into(),
                pretrain: cfg.clone(),
                tokenizer: cfg.tokenizer(),
                data: info.clone(),
                device: device_name.clone(),
                lumlab_version: env!("CARGO_PKG_VERSION").into(),
            };
            RunDir::create_with(&req.out, &rc, &CreateOptions { kind: Some(format!("pretrain:{}", cfg.model.name())), replace: false })
                .with_context(|| format!("creating run {}", req.out.display()))?
        }
    };
    run.set_status(RunStatus::Running)?;
    let log = |sink: &mut dyn FnMut(JobEvent), text: String| {
        let _ = run.log_event(&text);
        sink(JobEvent::info(text));
    };
    log(sink, format!("device: {device_name}; model {} · strategy {} · {} steps", cfg.model.name(), cfg.strategy.name(), cfg.steps));
    let seqs = user_sequences(&data, &tok);
    let trainable: Vec<usize> = (0..seqs.len()).filter(|&u| seqs[u].train_len() >= 2).collect();
    anyhow::ensure!(!trainable.is_empty(), "no user has enough behaviours to train on (need at least 4: two to learn from, one to validate, one to test)");
    let skipped = seqs.len() - trainable.len();
    if skipped > 0 {
        log(sink, format!("{skipped} users have fewer than 4 behaviours and are not trained on"));
    }
    let varmap = VarMap::new();
    let net = build_net(&cfg, &tok, &seqs, data.n_items(), &varmap, &device)?;
    let valid_users = eval_subset(&seqs, cfg.eval_users, cfg.seed);
    let ks = DEFAULT_KS;
    let mut policy = CheckpointPolicy::new(cfg.checkpoint_every.max(1), BEST_BY);
    let mut state = TrainerState { step: 0, rng: Rng::fork(cfg.seed, 0x7a1).state(), best_metric: None, best_step: None };
    let mut opt = if cfg.model == ModelKind::Popularity {
        None
    } else {
        Some(AdamW::new(named_vars(&varmap)?, cfg.weight_decay)?)
    };
    if req.resume && run.checkpoint_path().is_file() {
        let st: TrainerState = crate::run::load_json(&run.path().join("trainer_state.json")).context("reading trainer_state.json")?;
        let mut vm = varmap.clone();
        vm.load(run.checkpoint_path()).context("loading checkpoint.safetensors")?;
        if let Some(o) = opt.as_mut() {
            o.load(&run.optimizer_path(), st.step).context("loading optimizer.safetensors")?;
        }
        if let Some(b) = st.best_metric {
            policy.restore_best(st.best_step.unwrap_or(0), b);
        }
        log(sink, format!("resumed at step {} (best {BEST_BY} so far: {:?})", st.step, st.best_metric));
        state = st;
    }
    let total = if cfg.model == ModelKind::Popularity { 0 } else { cfg.steps };
    sink(JobEvent::Started { total_steps: total, label: format!("pre-train {} ({})", cfg.model.name(), cfg.strategy.name()) });
    let mut rng = Rng::from_state(state.rng);
    let validate = |net: &Net, step: u64, sink: &mut dyn FnMut(JobEvent)| -> anyhow::Result<f64> {
        let rep = evaluate(&net.scorer(), &seqs, &valid_users, EvalSplit::Valid, Protocol::Full, &ks, data.n_items())?;
        let v = rep.ndcg(10).unwrap_or(0.0);
        let _ = run.append_metric(&json!({"kind": "eval", "split": "valid", "step": step, "users": rep.users, "metrics": rep.labelled()}));
        sink(JobEvent::Eval { step, metrics: metrics_of(&rep) });
        Ok(v)
    };
    let t_start = Instant::now();
    if let Some(opt) = opt.as_mut() {
        while state.step < cfg.steps {
            cancel.check().map_err(|_| {
                let _ = save_checkpoint(&varmap, Some(opt), &TrainerState { rng: rng.state(), ..state.clone() }, &run, false);
                let _ = run.set_status(RunStatus::Stopped);
                anyhow::anyhow!(crate::job::STOPPED_MESSAGE)
            })?;
            let step = state.step + 1;
            let t0 = Instant::now();
            let lr = cfg.lr_at(step);
            let negatives = sample_negatives(&mut rng, data.n_items(), cfg.negatives, &device)?;
            let drop_seed = cfg.seed ^ step.wrapping_mul(0x9E37_79B9);
            let (loss, tokens) = match &net {
                Net::Lum(m) => {
                    m.reseed_dropout(drop_seed);
                    let seqs_b = sample_batch(&seqs, &trainable, cfg.batch_size, cfg.max_behaviors, &mut rng);
                    let batch = batch_from_sequences(&seqs_b, cfg.max_behaviors, cfg.packing, &device)?;
                    let n = batch.n_valid();
                    (m.loss(&batch, &negatives, true)?, 2 * n)
                }
                Net::Sasrec(m) => {
                    m.reseed_dropout(drop_seed);
                    let seqs_b = sample_batch(&seqs, &trainable, cfg.batch_size, cfg.max_behaviors + 1, &mut rng);
                    let items: Vec<&[u32]> = seqs_b.iter().map(|s| s.1).collect();
                    let batch = SasRecBatch::from_sequences(&items, cfg.max_behaviors, &device)?;
                    let n = items.iter().map(|s| s.len().saturating_sub(1)).sum::<usize>();
                    (m.loss(&batch, &negatives, true)?, n)
                }
                Net::Popularity(_) => unreachable!("popularity has no optimiser"),
            };
            let loss_v = loss.to_scalar::<f32>()? as f64;
            if !loss_v.is_finite() || loss_v > cfg.max_loss {
                let _ = run.set_status(RunStatus::Failed);
                anyhow::bail!(
                    "loss is {loss_v} at step {step} (NaN or exploding); training stopped; the last good checkpoint (step {}) is kept — try a lower lr",
                    state.step - state.step % policy.every_steps
                );
            }
            let norm = optimisation_step(opt, &loss, lr, cfg.grad_clip)?;
            state.step = step;
            let secs = t0.elapsed().as_secs_f64();
            let tps = tokens as f64 / secs.max(1e-9);
            let _ = run.append_metric(&json!({"kind": "step", "step": step, "loss": loss_v, "lr": lr, "grad_norm": norm, "tokens_per_sec": tps, "step_secs": secs}));
            sink(JobEvent::Step { step, loss: loss_v as f32, tokens_per_sec: tps as f32, step_secs: secs as f32, lr: lr as f32 });
            let val = if step % cfg.eval_every.max(1) == 0 || step == cfg.steps { Some(validate(&net, step, sink)?) } else { None };
            let decision = if step == cfg.steps { policy.decide_final(step, val) } else { policy.decide(step, val) };
            if let Some(v) = val {
                if decision.save_best {
                    state.best_metric = Some(v);
                    state.best_step = Some(step);
                }
            }
            state.rng = rng.state();
            if decision.save_best {
                save_checkpoint(&varmap, None, &state, &run, true)?;
            }
            if decision.save_last {
                save_checkpoint(&varmap, Some(opt), &state, &run, false)?;
                sink(JobEvent::Checkpoint { step, path: run.checkpoint_path() });
            }
        }
    }
    // Final test evaluation with the best checkpoint (by validation NDCG@10).
    if cfg.model != ModelKind::Popularity && run.best_checkpoint_path().is_file() {
        let mut vm = varmap.clone();
        vm.load(run.best_checkpoint_path()).context("loading the best checkpoint")?;
        log(sink, format!("testing the best checkpoint (step {:?}, valid {BEST_BY} {:?})", state.best_step, state.best_metric));
    }
    sink(JobEvent::Progress { done: 0, total: 2, what: "test evaluation".into() });
    let all: Vec<usize> = (0..seqs.len()).collect();
    let full = evaluate(&net.scorer(), &seqs, &all, EvalSplit::Test, Protocol::Full, &ks, data.n_items())?;
    sink(JobEvent::Progress { done: 1, total: 2, what: "test evaluation".into() });
    let sampled = evaluate(&net.scorer(), &seqs, &all, EvalSplit::Test, Protocol::Sampled100, &ks, data.n_items())?;
    for rep in [&full, &sampled] {
        let _ = run.append_metric(&json!({"kind": "eval", "split": "test", "step": state.step, "users": rep.users, "metrics": rep.labelled()}));
        sink(JobEvent::Eval { step: state.step, metrics: metrics_of(rep) });
    }
    let headline: Vec<Metric> = full.metrics().into_iter().chain(sampled.metrics()).filter(|m| m.name == "NDCG@10" || m.name == "HR@10").collect();
    let summary = json!({
        "kind": "pretrain",
        "model": cfg.model.name(),
        "strategy": cfg.strategy.name(),
        "status": "finished",
        "steps": state.step,
        "best_step": state.best_step,
        "best_valid_ndcg10": state.best_metric,
        "train_secs": t_start.elapsed().as_secs_f64(),
        "device": device_name,
        "test": {"full": full, "sampled100": sampled},
        "headline": headline,
        "tokenizer_stats": tok.stats,
    });
    run.write_report(&summary)?;
    run.set_status(RunStatus::Finished)?;
    log(sink, format!("done: test {}", headline.iter().map(|m| format!("{} {:.4}", m.label(), m.value)).collect::<Vec<_>>().join(" · ")));
    Ok(summary)
}

/// A trained run reopened for evaluation, post-training or visualisation.
pub struct Trained {
    pub run: RunDir,
    pub config: RunConfig,
    pub data: Dataset,
    pub report: LoadReport,
    pub tok: Tokenized,
    pub seqs: Vec<UserSeq>,
    pub varmap: VarMap,
    pub net: Net,
    pub device: Device,
}

/// Reopens a pre-training run with its best checkpoint (else the last one). `data`
/// overrides the log recorded in config.json; a log with another fingerprint is refused
/// unless `allow_other_data`.
pub fn open_trained(run_path: &Path, data: Option<&Path>, allow_other_data: bool, sink: &mut dyn FnMut(JobEvent)) -> anyhow::Result<Trained> {
    let run = RunDir::open(run_path).with_context(|| format!("opening run {}", run_path.display()))?;
    let config: RunConfig = run.read_config().context("reading the run's config.json")?;
    anyhow::ensure!(config.kind == "pretrain", "{} is a `{}` run, not a pre-training run", run_path.display(), config.kind);
    let path = data.map(Path::to_path_buf).unwrap_or_else(|| config.data.path.clone());
    let (data, report, tok) = load_and_tokenize(&path, &LoadOptions::cached(), &config.tokenizer, sink)?;
    anyhow::ensure!(
        allow_other_data || report.has_fingerprint(&config.data.fingerprint, &LoadOptions::cached()),
        "{} was trained on {} (fingerprint {}), not on {} (fingerprint {}); pass --allow-other-data to use it anyway",
        run_path.display(),
        config.data.path.display(),
        config.data.fingerprint,
        path.display(),
        report.fingerprint
    );
    let device = super::device::pick(&config.pretrain.device).or_else(|_| super::device::pick("cpu"))?;
    let seqs = user_sequences(&data, &tok);
    let varmap = VarMap::new();
    let net = build_net(&config.pretrain, &tok, &seqs, data.n_items(), &varmap, &device)?;
    if config.pretrain.model != ModelKind::Popularity {
        let ck = [run.best_checkpoint_path(), run.checkpoint_path()].into_iter().find(|p| p.is_file()).ok_or_else(|| anyhow::anyhow!("{} has no checkpoint yet", run_path.display()))?;
        let mut vm = varmap.clone();
        vm.load(&ck).with_context(|| format!("loading {} (was the run made with another config?)", ck.display()))?;
    }
    Ok(Trained { run, config, data, report, tok, seqs, varmap, net, device })
}
