//! `lumlab pretrain` and `lumlab eval`: train a sequence model into a run folder,
//! and evaluate a run under a retrieval protocol.

use crate::eval::Protocol;
use crate::job::{JobEvent, ProgressPrinter, spawn_job};
use crate::train::evaluate::evaluate;
use crate::train::pretrain::{DEFAULT_KS, open_trained};
use crate::train::split::EvalSplit;
use crate::train::{PretrainConfig, PretrainRequest, run_pretrain};
use crate::util::apply_overrides;
use std::path::PathBuf;

/// Arguments of `lumlab pretrain`.
#[derive(clap::Args, Debug)]
pub struct PretrainArgs {
    /// Behaviour log to train on (not needed with --resume).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder to create (or, with --resume, to continue).
    #[arg(long)]
    pub out: PathBuf,
    /// JSON config file (a flat pre-training config, or a run's config.json).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a setting, named as in config.json, e.g. `--set steps=300 --set negatives=512`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// cpu | cuda | metal | auto (default cpu).
    #[arg(long)]
    pub device: Option<String>,
    /// Continue a stopped or killed run in --out with its recorded config.
    #[arg(long)]
    pub resume: bool,
    /// Print the final report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Reads `--config`: a flat PretrainConfig or a run config.json with a `pretrain` key.
pub fn read_config(path: Option<&PathBuf>) -> anyhow::Result<PretrainConfig> {
    let Some(p) = path else { return Ok(PretrainConfig::default()) };
    let text = std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?;
    let v = v.get("pretrain").cloned().unwrap_or(v);
    serde_json::from_value(v).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))
}

/// Runs a job on a worker thread, drawing its progress; returns its result.
pub fn drive(name: &str, json: bool, work: impl FnOnce(&mut dyn FnMut(JobEvent), &crate::job::CancelToken) -> anyhow::Result<serde_json::Value> + Send + 'static) -> anyhow::Result<serde_json::Value> {
    let mut job = spawn_job(name, || {}, work);
    let mut printer = if json { ProgressPrinter::hidden() } else { ProgressPrinter::new() };
    let out = printer.drive(&mut job).map_err(anyhow::Error::msg);
    job.join();
    out
}

/// Runs `lumlab pretrain`.
pub fn run(a: PretrainArgs) -> anyhow::Result<()> {
    let mut cfg = read_config(a.config.as_ref())?;
    cfg = apply_overrides(&cfg, &a.set).map_err(anyhow::Error::msg)?;
    if let Some(d) = &a.device {
        cfg.device = d.clone();
    }
    cfg.validate().map_err(|e| anyhow::anyhow!("invalid config: {e}"))?;
    let data = match (&a.data, a.resume) {
        (Some(d), _) => d.clone(),
        (None, true) => PathBuf::new(),
        (None, false) => anyhow::bail!("--data is required (unless --resume)"),
    };
    let req = PretrainRequest { data, out: a.out.clone(), config: cfg, resume: a.resume, load: Default::default() };
    let summary = drive("pretrain", a.json, move |sink, cancel| run_pretrain(&req, sink, cancel))?;
    if a.json {
        println!("{summary}");
    } else {
        println!("run {}", a.out.display());
        if let Some(h) = summary["headline"].as_array() {
            for m in h {
                println!("  {} ({}) {:.4}", m["name"].as_str().unwrap_or(""), m["protocol"].as_str().unwrap_or(""), m["value"].as_f64().unwrap_or(f64::NAN));
            }
        }
    }
    Ok(())
}

/// Arguments of `lumlab eval`.
#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Pre-training run folder.
    #[arg(long)]
    pub run: PathBuf,
    /// Behaviour log (default: the one recorded in the run).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// full (whole catalogue, seen items removed) or sampled100 (100 sampled unseen items).
    #[arg(long, default_value = "full")]
    pub protocol: Protocol,
    /// Cutoffs, e.g. `--k 1,10,50`.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_KS.to_vec())]
    pub k: Vec<usize>,
    /// valid (second-last behaviour) or test (last behaviour).
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Evaluate a run trained on another log.
    #[arg(long)]
    pub allow_other_data: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lumlab eval`.
pub fn eval(a: EvalArgs) -> anyhow::Result<()> {
    let split = match a.split.as_str() {
        "valid" => EvalSplit::Valid,
        "test" => EvalSplit::Test,
        s => anyhow::bail!("--split must be valid or test (got {s})"),
    };
    anyhow::ensure!(!a.k.is_empty() && a.k.iter().all(|&k| k > 0), "--k needs positive cutoffs");
    let (run, data, allow, ks, protocol) = (a.run.clone(), a.data.clone(), a.allow_other_data, a.k.clone(), a.protocol);
    let rep = drive("eval", a.json, move |sink, _| {
        let t = open_trained(&run, data.as_deref(), allow, sink)?;
        let all: Vec<usize> = (0..t.seqs.len()).collect();
        let rep = evaluate(&t.net.scorer(), &t.seqs, &all, split, protocol, &ks, t.data.n_items())?;
        Ok(serde_json::to_value(rep)?)
    })?;
    if a.json {
        println!("{rep}");
    } else {
        let r: crate::eval::RetrievalReport = serde_json::from_value(rep)?;
        println!("{} users, split {}", r.users, split.name());
        for (label, v) in r.labelled() {
            println!("  {label:<48} {v:.4}");
        }
    }
    Ok(())
}
