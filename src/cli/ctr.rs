//! `lumlab ctr`: train the baseline CTR model and, with LUM features, the
//! +LUM model side by side; print their metrics beside the oracle and the
//! queries whose ranking gained or lost most.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::ctr::report::TOP_QUERIES;
use crate::ctr::sanity::history_share_features;
use crate::ctr::{CtrConfig, CtrResult, LumFeatures, Truth, train_ctr};
use crate::data::{Dataset, LoadOptions};
use crate::job::{ProgressPrinter, spawn_job};
use crate::run::{CreateOptions, RunDir};

/// Arguments of `lumlab ctr`.
#[derive(clap::Args, Debug)]
pub struct CtrArgs {
    /// Behaviour log with ad impressions (action `impression`, a 0/1 label and a query).
    #[arg(long)]
    pub data: PathBuf,
    /// Run folder to create (must be new or empty; see --replace).
    #[arg(long)]
    pub out: PathBuf,
    /// Post-train run whose frozen LUM features feed the +LUM model.
    /// Without it only the baseline is trained.
    #[arg(long)]
    pub lum: Option<PathBuf>,
    /// True click probabilities for the oracle row (default: truth.csv beside the log, if present).
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Start from this config.json instead of the defaults.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Override a setting, e.g. `--set epochs=5 --set features=sim,simtier`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Plumbing check: feed the category/brand shares of each user's whole
    /// history instead of LUM features (the model is labelled `+sanity`;
    /// these are NOT LUM results).
    #[arg(long, conflicts_with = "lum")]
    pub sanity_features: bool,
    /// Replace a run already in --out.
    #[arg(long)]
    pub replace: bool,
    /// Do not read or write the log's binary cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print the report as one JSON object and nothing else.
    #[arg(long)]
    pub json: bool,
}

/// Reads the frozen LUM features of a post-train run for `data`'s impressions.
/// The one place where the post-train output is plugged into the CTR stage.
fn lum_features_from_run(run: &Path, data: &Dataset) -> anyhow::Result<LumFeatures> {
    crate::flow::lum_features_from_run(run, data)
}

/// `--truth`, else `truth.csv` beside the log when it exists.
fn truth_path(a: &CtrArgs) -> Option<PathBuf> {
    a.truth.clone().or_else(|| {
        let p = a.data.parent().unwrap_or(Path::new(".")).join("truth.csv");
        p.is_file().then_some(p)
    })
}

/// Runs `lumlab ctr`.
pub fn run(a: CtrArgs) -> anyhow::Result<()> {
    let base = match &a.config {
        Some(p) => crate::run::load_json::<CtrConfig>(p)
            .with_context(|| format!("reading config {}", p.display()))?,
        None => CtrConfig::default(),
    };
    let cfg = crate::util::apply_overrides(&base, &a.set).map_err(anyhow::Error::msg)?;
    cfg.validate()?;
    let opts = LoadOptions {
        use_cache: !a.no_cache,
        ..Default::default()
    };
    let (data, _report) = super::inspect::load_with_progress(&a.data, opts)
        .with_context(|| format!("loading {}", a.data.display()))?;
    // Refuse a log without impressions, labels or queries before making a run folder.
    crate::ctr::impression_rows(&data)?;
    let lum = match (&a.lum, a.sanity_features) {
        (Some(p), _) => Some(lum_features_from_run(p, &data)?),
        (None, true) => Some(history_share_features(&data)?),
        (None, false) => None,
    };
    let truth: Option<Truth> = match truth_path(&a) {
        Some(p) => Some(
            crate::data::sample::read_truth(&p)
                .with_context(|| format!("reading true click probabilities {}", p.display()))?,
        ),
        None => None,
    };
    let run = RunDir::create_with(
        &a.out,
        &cfg,
        &CreateOptions {
            kind: Some("ctr".to_string()),
            replace: a.replace,
        },
    )?;
    if !a.json && lum.is_none() {
        eprintln!(
            "note: no --lum run given: training the baseline CTR model only (no +LUM comparison)"
        );
    }
    let mut job = spawn_job(
        "ctr",
        || {},
        move |sink, cancel| {
            let r = train_ctr(
                &data,
                truth.as_ref(),
                lum.as_ref(),
                &cfg,
                &run,
                sink,
                cancel,
            )?;
            Ok(serde_json::to_value(r)?)
        },
    );
    let mut printer = if a.json {
        ProgressPrinter::hidden()
    } else {
        ProgressPrinter::new()
    };
    let value = printer
        .drive(&mut job)
        .map_err(|e| anyhow::anyhow!("ctr: {e}"))?;
    if a.json {
        println!("{}", serde_json::to_string(&value)?);
        return Ok(());
    }
    let r: CtrResult = serde_json::from_value(value).context("reading the CTR report")?;
    print_summary(&r, &a.out);
    Ok(())
}

fn opt4(v: Option<f64>) -> String {
    v.map_or_else(|| "   n/a".to_string(), |x| format!("{x:.4}"))
}

/// The terminal summary: one row per model, the oracle, top gains and losses.
fn print_summary(r: &CtrResult, out: &Path) {
    let sp = &r.split;
    println!("CTR run {} ({})", out.display(), r.device);
    println!("  split        {}", sp.protocol);
    println!(
        "               train {} impressions ({} clicks), test {} impressions ({} clicks)",
        sp.train_impressions, sp.train_clicks, sp.test_impressions, sp.test_clicks
    );
    if let Some(src) = &r.lum_source {
        println!("  features     {src}");
    }
    println!();
    println!(
        "  {:<24} {:>7} {:>10} {:>11} {:>8} {:>9} {:>9} {:>8}",
        "model", "AUC", "GAUC(user)", "GAUC(query)", "logloss", "pred/obs", "RelaImpr", "train s"
    );
    for m in &r.models {
        let rep = &m.report;
        println!(
            "  {:<24} {:>7.4} {:>10} {:>11} {:>8.4} {:>9} {:>9} {:>8.1}",
            m.name,
            rep.auc,
            opt4(rep.gauc_user.value),
            opt4(rep.gauc_query.as_ref().and_then(|g| g.value)),
            rep.logloss,
            opt4(rep.calibration.ratio),
            rep.rela_impr
                .map_or_else(|| "-".to_string(), |x| format!("{x:+.2}%")),
            m.train_secs
        );
    }
    if let Some(o) = &r.oracle {
        let rep = &o.report;
        println!(
            "  {:<24} {:>7.4} {:>10} {:>11} {:>8.4} {:>9} {:>9} {:>8}",
            "oracle (true p)",
            rep.auc,
            opt4(rep.gauc_user.value),
            opt4(rep.gauc_query.as_ref().and_then(|g| g.value)),
            rep.logloss,
            opt4(rep.calibration.ratio),
            "-",
            "-"
        );
    }
    if let Some(m) = r.models.first() {
        let g = &m.report.gauc_user;
        println!(
            "  protocol: {}; GAUC(user) used {} groups, dropped {} single-class groups",
            m.report.split, g.groups_used, g.groups_dropped
        );
    }
    if let (Some(name), Some(s)) = (&r.ranking_model, &r.ranking) {
        println!();
        println!(
            "  ranking per result page (baseline vs {name}): mean NDCG@10 {:.4} -> {:.4} over {} pages with clicks; \
             {} better, {} worse, {} same; mean Kendall tau {}",
            s.mean_ndcg_base,
            s.mean_ndcg_lum,
            s.queries_with_clicks,
            s.improved,
            s.worsened,
            s.unchanged,
            opt4(s.mean_tau)
        );
        for (title, list) in [
            ("top gains", r.top_gains(TOP_QUERIES)),
            ("top losses", r.top_losses(TOP_QUERIES)),
        ] {
            println!("  {title} (per query, mean NDCG@10 over its pages with clicks):");
            if list.is_empty() {
                println!("    none");
            }
            for q in list {
                println!(
                    "    {:<32} {:>3} pages  {:.3} -> {:.3}  ({:+.3})",
                    q.text, q.pages_with_clicks, q.mean_ndcg_base, q.mean_ndcg_lum, q.delta
                );
            }
        }
    }
    for n in r
        .notes
        .iter()
        .filter(|n| n.starts_with("baseline only") || n.starts_with("oracle:"))
    {
        println!("  note: {n}");
    }
    println!("  wrote {}", r.files.join(", "));
}
