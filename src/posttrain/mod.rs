//! Post-training (LUM "knowledge querying"): reads the interest vector o(u, q) of every
//! search ad session from a pre-trained LUM and caches it in the run folder for the CTR
//! stage; optionally fine-tunes the LUM on the search scenario first (LumLab's own
//! extension, [`finetune`]).
//!
//! o(u, q) is the LUM output at a query-condition token (`Tokenized::query_condition(q)`)
//! appended after the user's history as of the session: only behaviours strictly before
//! its timestamp ([`keys`]). Sessions that share a history share one group query, and
//! groups of several users share one forward pass ([`extract`]). The tables and the
//! report live beside the checkpoint ([`table`]); rerunning on an unchanged run and log
//! reuses them.

pub mod attention;
pub mod extract;
pub mod finetune;
pub mod keys;
pub mod projection;
pub mod table;

pub use extract::{ExtractOptions, ExtractStats, Extraction, SpeedUp, extract_grouped, extract_per_query, measure_speedup};
pub use finetune::{FinetuneConfig, FinetuneReport};
pub use keys::{SessionCounts, SessionKey, session_keys};
pub use projection::{InterestMap, MapPoint, PointKind, ProjectionError, interest_map, probe_interests};
pub use table::{InterestKey, InterestTable, load_interest};

use crate::job::{CancelToken, JobEvent};
use crate::run::RunDir;
use crate::train::ModelKind;
use crate::train::pretrain::{Net, RunConfig, Trained, open_trained};
use anyhow::Context;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use table::{FINETUNE_FILE, FINETUNED_CHECKPOINT_FILE, INDEX_FILE, INTEREST_FILE, REPORT_FILE};

/// Bumped when extraction changes what it computes, so old caches are not reused.
pub const EXTRACT_VERSION: u32 = 1;
/// Keys timed for the grouped vs per-query comparison.
pub const SPEEDUP_KEYS: usize = 256;

/// What is wrong with a post-training request or its inputs.
#[derive(Debug, thiserror::Error)]
pub enum PosttrainError {
    #[error("{run} is a `{kind}` run, not a pre-training run; post-training reads a pre-trained LUM (`lumlab pretrain --set model=lum`)")]
    NotPretrain { run: PathBuf, kind: String },
    #[error("{run} is a pre-training run of the `{model}` model; post-training needs a LUM run (model=lum): only the LUM reads query conditions")]
    NotLum { run: PathBuf, model: String },
    #[error("the log has no `query` column, so it has no search sessions to read interests for (post-training needs ad impressions with a query)")]
    NoQueryColumn,
    #[error("the log has a `query` column but none of its {impressions} impression rows has a query, so there is no search session to read interests for")]
    NoSearchImpressions { impressions: u64 },
    #[error("{}: {reason}", path.display())]
    BadInterest { path: PathBuf, reason: String },
}

/// What to post-train.
#[derive(Clone, Debug)]
pub struct PosttrainRequest {
    /// The pre-trained LUM run (outputs are written into it).
    pub run: PathBuf,
    /// Behaviour log (default: the one recorded in the run).
    pub data: Option<PathBuf>,
    /// Fine-tune first with these settings (LumLab's extension); None = no fine-tuning
    /// (an existing, up-to-date fine-tuned checkpoint is still used).
    pub finetune: Option<FinetuneConfig>,
    /// Redo fine-tuning and extraction even when cached results match.
    pub force: bool,
    /// Accept a log with another fingerprint than the run's.
    pub allow_other_data: bool,
    pub extract: ExtractOptions,
    /// Keys timed for the speed-up figure (0 = skip).
    pub speedup_keys: usize,
}

impl PosttrainRequest {
    /// Defaults for `run`: recorded log, no fine-tuning, cache on.
    pub fn new(run: &Path) -> Self {
        Self { run: run.to_path_buf(), data: None, finetune: None, force: false, allow_other_data: false, extract: ExtractOptions::default(), speedup_keys: SPEEDUP_KEYS }
    }
}

/// Refuses, before loading anything, a folder that is not a pre-trained LUM run.
pub fn check_lum_run(run: &Path) -> anyhow::Result<RunConfig> {
    let dir = RunDir::open(run).with_context(|| format!("opening run {}", run.display()))?;
    let raw: Value = dir.read_config().context("reading the run's config.json")?;
    let kind = raw["kind"].as_str().unwrap_or("unknown").to_string();
    if kind != "pretrain" {
        return Err(PosttrainError::NotPretrain { run: run.to_path_buf(), kind }.into());
    }
    let cfg: RunConfig = serde_json::from_value(raw).context("reading the run's config.json")?;
    if cfg.pretrain.model != ModelKind::Lum {
        return Err(PosttrainError::NotLum { run: run.to_path_buf(), model: cfg.pretrain.model.name().into() }.into());
    }
    Ok(cfg)
}

fn file_hash(path: &Path) -> anyhow::Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(format!("{:016x}", xxhash_rust::xxh3::xxh3_64(&bytes)))
}

fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Decides which weights extraction reads, fine-tuning first when asked.
/// -> (checkpoint file name, its hash, fine-tuning report, whether it was reused)
fn prepare_weights(
    t: &Trained,
    req: &PosttrainRequest,
    sink: &mut dyn FnMut(JobEvent),
    cancel: &CancelToken,
) -> anyhow::Result<(String, String, Option<FinetuneReport>, bool)> {
    let base = [t.run.best_checkpoint_path(), t.run.checkpoint_path()].into_iter().find(|p| p.is_file()).ok_or_else(|| anyhow::anyhow!("{} has no checkpoint", t.run.path().display()))?;
    let (base_name, base_hash) = (file_name(&base), file_hash(&base)?);
    let ft_path = t.run.path().join(FINETUNED_CHECKPOINT_FILE);
    let existing: Option<FinetuneReport> = if ft_path.is_file() { crate::run::load_json(&t.run.path().join(FINETUNE_FILE)).ok() } else { None };
    let current = existing.filter(|r| r.base_checkpoint_hash == base_hash && t.report.has_fingerprint(&r.data_fingerprint, &crate::data::LoadOptions::cached()));
    if ft_path.is_file() && current.is_none() {
        sink(JobEvent::warn(format!(
            "ignoring {FINETUNED_CHECKPOINT_FILE}: it was fine-tuned from other weights or data (rerun with --finetune to redo it)"
        )));
    }
    let load_finetuned = |sink: &mut dyn FnMut(JobEvent)| -> anyhow::Result<()> {
        let mut vm = t.varmap.clone();
        vm.load(&ft_path).with_context(|| format!("loading {}", ft_path.display()))?;
        sink(JobEvent::info(format!("using the fine-tuned checkpoint ({FINETUNED_CHECKPOINT_FILE}; {})", finetune::EXTENSION_LABEL)));
        Ok(())
    };
    let (report, reused) = match (&req.finetune, current) {
        (Some(cfg), Some(r)) if !req.force && r.config == *cfg => {
            load_finetuned(sink)?;
            (Some(r), true)
        }
        (Some(cfg), _) => {
            sink(JobEvent::info(format!("{} from {base_name}", finetune::EXTENSION_LABEL)));
            let r = finetune::finetune(t, cfg, (&base_name, &base_hash), sink, cancel)?;
            let msg = format!(
                "fine-tuned {} steps: search valid InfoNCE {} -> {}, all-condition valid {} -> {}",
                r.steps,
                fmt_opt(r.valid_search.before),
                fmt_opt(r.valid_search.after),
                fmt_opt(r.valid_all.before),
                fmt_opt(r.valid_all.after)
            );
            let _ = t.run.log_event(&msg);
            sink(JobEvent::info(msg));
            (Some(r), false)
        }
        (None, Some(r)) => {
            load_finetuned(sink)?;
            (Some(r), true)
        }
        (None, None) => (None, false),
    };
    Ok(match report {
        Some(r) => (FINETUNED_CHECKPOINT_FILE.to_string(), file_hash(&ft_path)?, Some(r), reused),
        None => (base_name, base_hash, None, false),
    })
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |x| format!("{x:.4}"))
}

/// Runs post-training on a pre-trained LUM run and returns the report (also written to
/// `posttrain.json`, with `from_cache` telling whether the stored tables were reused).
pub fn run_posttrain(req: &PosttrainRequest, sink: &mut dyn FnMut(JobEvent), cancel: &CancelToken) -> anyhow::Result<Value> {
    check_lum_run(&req.run)?;
    let t = open_trained(&req.run, req.data.as_deref(), req.allow_other_data, sink)?;
    let Net::Lum(lum) = &t.net else { anyhow::bail!("{} did not reopen as a LUM", req.run.display()) };
    let data_path = req.data.clone().unwrap_or_else(|| t.config.data.path.clone());
    let (keys, counts) = session_keys(&t.data, &t.tok).map_err(|e| anyhow::anyhow!("{}: {e}", data_path.display()))?;
    let (checkpoint, checkpoint_hash, ft, ft_reused) = prepare_weights(&t, req, sink, cancel)?;
    let window = lum.config().max_behaviors - 1;
    let cache_key = format!(
        "{:016x}",
        xxhash_rust::xxh3::xxh3_64(format!("v{EXTRACT_VERSION}|{}|{checkpoint}|{checkpoint_hash}|{window}|{}", t.report.fingerprint, keys.len()).as_bytes())
    );
    let run_dir = t.run.path().to_path_buf();
    if !req.force
        && let Ok(mut old) = crate::run::load_json::<Value>(&run_dir.join(REPORT_FILE))
        && old["cache_key"].as_str() == Some(cache_key.as_str())
        && load_interest(&run_dir).is_ok_and(|tab| tab.len() == keys.len())
    {
        sink(JobEvent::info(format!("interest vectors are up to date in {} (use --force to recompute)", run_dir.join(INTEREST_FILE).display())));
        old["from_cache"] = json!(true);
        old["finetune_reused"] = json!(ft_reused);
        return Ok(old);
    }
    let users = {
        let mut u: Vec<u32> = keys.iter().map(|k| k.user).collect();
        u.dedup();
        u.len()
    };
    let msg = format!("{} search sessions of {users} users; reading o(u,q) from {checkpoint}", keys.len());
    let _ = t.run.log_event(&msg);
    sink(JobEvent::info(msg));
    let speedup = if req.speedup_keys > 0 {
        sink(JobEvent::Progress { done: 0, total: 0, what: format!("timing grouped vs per-query on {} keys", req.speedup_keys.min(keys.len())) });
        let s = measure_speedup(lum, &t.tok, &t.seqs, &keys, req.speedup_keys, &req.extract)?;
        sink(JobEvent::info(format!(
            "grouped {:.3}s vs per-query {:.3}s on {} keys: {:.1}x (max |diff| {:.1e})",
            s.grouped_secs, s.per_query_secs, s.keys, s.speedup, s.max_abs_diff
        )));
        Some(s)
    } else {
        None
    };
    sink(JobEvent::Started { total_steps: 0, label: "post-train: group-query extraction".into() });
    let ex = extract_grouped(lum, &t.tok, &t.seqs, &keys, &req.extract, sink, cancel)?;
    let item_emb = extract::normalised_item_table(lum)?;
    let table = InterestTable::new(table::index_keys(&t.data, &keys), ex.d, ex.vectors, item_emb)?;
    table::write_tables(&run_dir, &table).with_context(|| format!("writing the interest tables into {}", run_dir.display()))?;
    let report = json!({
        "kind": "posttrain",
        "run": run_dir,
        "data": {"path": data_path, "fingerprint": t.report.fingerprint},
        "checkpoint": checkpoint,
        "checkpoint_hash": checkpoint_hash,
        "finetuned": ft.is_some(),
        "finetune": ft,
        "finetune_reused": ft_reused,
        "cache_key": cache_key,
        "extract_version": EXTRACT_VERSION,
        "keys": keys.len(),
        "users": users,
        "sessions": counts,
        "dim": table.dim,
        "n_items": table.n_items(),
        "normalised": "interest and item_emb rows are L2-normalised (the LUM scores by cosine)",
        "history_rule": "behaviours strictly before the session's timestamp; the model reads the most recent history_window of them",
        "history_window": window,
        "extraction": ex.stats,
        "extract_secs": ex.stats.secs,
        "keys_per_sec": keys.len() as f64 / ex.stats.secs.max(1e-9),
        "speedup": speedup,
        "options": req.extract,
        "device": crate::train::device::describe(&t.device),
        "files": {"interest": INTEREST_FILE, "index": INDEX_FILE},
        "from_cache": false,
    });
    crate::run::save_json_atomic(&run_dir.join(REPORT_FILE), &report)?;
    let msg = format!("extracted {} interest vectors in {:.2}s ({} forward passes)", keys.len(), ex.stats.secs, ex.stats.forwards);
    let _ = t.run.log_event(&msg);
    sink(JobEvent::info(msg));
    Ok(report)
}

#[cfg(test)]
mod tests;
