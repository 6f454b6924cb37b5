//! `lumlab posttrain`: group-query extraction of the interest vectors o(u, q) into a
//! pre-trained LUM run, optionally after condition-aware fine-tuning (LumLab's extension).

use super::pretrain::drive;
use crate::posttrain::{ExtractOptions, FinetuneConfig, PosttrainRequest, run_posttrain};
use crate::util::apply_overrides;
use serde_json::Value;
use std::path::PathBuf;

/// Arguments of `lumlab posttrain`.
#[derive(clap::Args, Debug)]
pub struct PosttrainArgs {
    /// Pre-trained LUM run folder (interest.safetensors, interest_index.csv and posttrain.json are written into it).
    #[arg(long)]
    pub run: PathBuf,
    /// Behaviour log (default: the one recorded in the run).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// First fine-tune the LUM on the search scenario (LumLab's own extension, not in the LUM paper);
    /// writes checkpoint_finetuned.safetensors, which later extractions use while it is up to date.
    #[arg(long)]
    pub finetune: bool,
    /// Fine-tuning setting, e.g. `--set steps=200 --set lr=1e-3` (with --finetune).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Recompute even when the run already holds up-to-date results.
    #[arg(long)]
    pub force: bool,
    /// Use a log with another fingerprint than the one the run was trained on.
    #[arg(long)]
    pub allow_other_data: bool,
    /// Most tokens per extraction forward pass (histories x padded length); larger batches
    /// use more memory. Does not change the vectors.
    #[arg(long, default_value_t = ExtractOptions::default().max_tokens_per_batch)]
    pub batch_tokens: usize,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lumlab posttrain`.
pub fn run(a: PosttrainArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.finetune || a.set.is_empty(), "--set configures fine-tuning; add --finetune");
    let finetune = if a.finetune {
        let cfg = apply_overrides(&FinetuneConfig::default(), &a.set).map_err(anyhow::Error::msg)?;
        cfg.validate().map_err(|e| anyhow::anyhow!("invalid fine-tuning config: {e}"))?;
        Some(cfg)
    } else {
        None
    };
    anyhow::ensure!(a.batch_tokens > 0, "--batch-tokens must be positive");
    let extract = ExtractOptions { max_tokens_per_batch: a.batch_tokens, ..ExtractOptions::default() };
    let req = PosttrainRequest { data: a.data.clone(), finetune, force: a.force, allow_other_data: a.allow_other_data, extract, ..PosttrainRequest::new(&a.run) };
    let report = drive("posttrain", a.json, move |sink, cancel| run_posttrain(&req, sink, cancel))?;
    if a.json {
        println!("{report}");
    } else {
        print_summary(&report);
    }
    Ok(())
}

fn print_summary(r: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!("run {}", r["run"].as_str().unwrap_or(""));
    println!(
        "  {} interest vectors o(u,q) (width {}) for {} users, from {}{}",
        r["keys"],
        r["dim"],
        r["users"],
        r["checkpoint"].as_str().unwrap_or(""),
        if r["from_cache"].as_bool() == Some(true) { " (cached, unchanged run and log)" } else { "" }
    );
    if let Some(ft) = r["finetune"].as_object() {
        let vs = &ft["valid_search"];
        println!(
            "  fine-tuned ({}): {} steps, search valid InfoNCE {:.4} -> {:.4}{}",
            ft["extension"].as_str().unwrap_or(""),
            ft["steps"],
            f(&vs["before"]),
            f(&vs["after"]),
            if r["finetune_reused"].as_bool() == Some(true) { " (reused)" } else { "" }
        );
    }
    let ex = &r["extraction"];
    println!(
        "  extraction {:.2} s ({:.0} keys/s): {} histories in {} forward passes",
        f(&r["extract_secs"]),
        f(&r["keys_per_sec"]),
        ex["groups"],
        ex["forwards"]
    );
    let s = &r["speedup"];
    if s.is_object() {
        println!(
            "  grouped vs one forward per query on {} keys: {:.3} s vs {:.3} s = {:.1}x (one history per pass: {:.3} s; max |diff| {:.1e})",
            s["keys"],
            f(&s["grouped_secs"]),
            f(&s["per_query_secs"]),
            f(&s["speedup"]),
            f(&s["one_history_per_pass_secs"]),
            f(&s["max_abs_diff"])
        );
    }
    println!("  files: interest.safetensors, interest_index.csv, posttrain.json");
}
