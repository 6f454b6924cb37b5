//! `lumlab flow`: pre-train -> post-train -> CTR in one command, one report.

use crate::flow::{FlowRequest, run_flow};
use crate::util::apply_overrides;
use std::path::PathBuf;

/// Arguments of `lumlab flow`.
#[derive(clap::Args, Debug)]
pub struct FlowArgs {
    /// Behaviour log (with search impressions and labels; truth.csv beside it adds the oracle).
    #[arg(long)]
    pub data: PathBuf,
    /// Output folder: pretrain/ (the LUM run), ctr/ (the CTR run) and flow_report.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Pre-training override, named as in config.json, e.g. `--set steps=400`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// CTR override, e.g. `--ctr-set epochs=3`.
    #[arg(long = "ctr-set", value_name = "KEY=VALUE")]
    pub ctr_set: Vec<String>,
    /// Condition-aware fine-tuning before extraction (LumLab's own extension).
    #[arg(long)]
    pub finetune: bool,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lumlab flow`.
pub fn run(a: FlowArgs) -> anyhow::Result<()> {
    let mut req = FlowRequest::new(&a.data, &a.out);
    req.pretrain = apply_overrides(&req.pretrain, &a.set).map_err(anyhow::Error::msg)?;
    req.pretrain.validate().map_err(|e| anyhow::anyhow!("invalid pre-training config: {e}"))?;
    req.ctr = apply_overrides(&req.ctr, &a.ctr_set).map_err(anyhow::Error::msg)?;
    req.finetune = a.finetune;
    let report = super::pretrain::drive("flow", a.json, move |sink, cancel| run_flow(&req, sink, cancel))?;
    if a.json {
        println!("{report}");
        return Ok(());
    }
    println!("flow report: {}", a.out.join("flow_report.json").display());
    for stage in ["pretrain", "ctr"] {
        if let Some(h) = report[stage]["headline"].as_array() {
            for m in h {
                println!("  {stage:<9} {} ({}) {:.4}", m["name"].as_str().unwrap_or(""), m["protocol"].as_str().unwrap_or(""), m["value"].as_f64().unwrap_or(f64::NAN));
            }
        }
    }
    println!("  time: pre-train {:.0} s, post-train {:.0} s, total {:.0} s", report["secs"]["pretrain"].as_f64().unwrap_or(0.0), report["secs"]["posttrain"].as_f64().unwrap_or(0.0), report["secs"]["total"].as_f64().unwrap_or(0.0));
    Ok(())
}
