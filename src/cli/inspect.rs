//! `lumlab inspect`: load a log and describe it.

use crate::data::stats::{Stats, hist_text};
use crate::data::{Format, LoadOptions, LoadReport, load, time::format_utc};
use crate::util::thousands;
use std::path::PathBuf;
use std::sync::Arc;

/// Arguments of `lumlab inspect`.
#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Behaviour log (CSV/TSV/JSONL or a preset's file).
    pub data: PathBuf,
    /// Force a format instead of detecting it.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Items table (default: items.csv / movies.dat / ad_feature.csv beside the log).
    #[arg(long)]
    pub items: Option<PathBuf>,
    /// Stop at the first bad row instead of skipping it.
    #[arg(long)]
    pub strict: bool,
    /// Do not read or write the binary cache.
    #[arg(long)]
    pub no_cache: bool,
    /// Print one JSON object on stdout and nothing else.
    #[arg(long)]
    pub json: bool,
}

/// Loads with a progress bar (terminal only).
pub fn load_with_progress(path: &std::path::Path, mut opts: LoadOptions) -> anyhow::Result<(crate::data::Dataset, LoadReport)> {
    let bar = super::progress_bar(1000, "load");
    let b2 = bar.clone();
    opts.progress = Some(Arc::new(move |f| b2.set_position((f * 1000.0) as u64)));
    let out = load(path, &opts);
    bar.finish_and_clear();
    Ok(out?)
}

/// Runs `lumlab inspect`.
pub fn run(a: InspectArgs) -> anyhow::Result<()> {
    let opts = LoadOptions { format: a.format, items: a.items.clone(), strict: a.strict, use_cache: !a.no_cache, ..Default::default() };
    let (d, report) = load_with_progress(&a.data, opts)?;
    let stats = Stats::compute(&d);
    if a.json {
        // JSON strings are UTF-8: a path that is not prints lossily rather than failing.
        let lossy = |p: &std::path::Path| std::path::PathBuf::from(p.to_string_lossy().into_owned());
        let report = LoadReport { source: lossy(&report.source), items_file: report.items_file.as_deref().map(lossy), ..report };
        println!("{}", serde_json::to_string(&serde_json::json!({ "report": report, "stats": stats }))?);
        return Ok(());
    }
    println!("{}", report.source.display());
    println!("  format       {} ({}){}", report.format, report.detection, if report.from_cache { " · from cache" } else { "" });
    if let Some(i) = &report.items_file {
        println!("  items table  {}", i.display());
    }
    println!("  users        {}", thousands(stats.users));
    println!("  items        {}", thousands(stats.items));
    println!("  behaviours   {}", thousands(stats.behaviors));
    if stats.impressions > 0 {
        println!("  impressions  {} ({} clicked)", thousands(stats.impressions), thousands(stats.clicks_on_impressions));
    }
    println!("  queries      {}", thousands(stats.queries));
    println!("  time span    {} .. {} UTC ({:.1} days)", format_utc(stats.time_min), format_utc(stats.time_max), (stats.time_max - stats.time_min) as f64 / 86_400.0);
    let list = |v: &[(String, u64)]| v.iter().map(|(k, n)| format!("{k} {}", thousands(*n))).collect::<Vec<_>>().join(" · ");
    println!("  by action    {}", list(&stats.by_action));
    if !stats.by_scenario.is_empty() {
        println!("  by scenario  {}", list(&stats.by_scenario));
    }
    let p = &stats.seq_len;
    println!("  sequence length (impressions excluded): p50 {} · p90 {} · p99 {} · max {} · mean {:.1}", p.p50, p.p90, p.p99, p.max, p.mean);
    println!("\nbehaviours per user");
    print!("{}", hist_text(&stats.seq_len_hist, 40));
    println!("items per user (distinct)");
    print!("{}", hist_text(&stats.items_per_user_hist, 40));
    println!("users per item");
    print!("{}", hist_text(&stats.users_per_item_hist, 40));
    println!("\nrows skipped: {}", thousands(report.rows_skipped));
    for e in &report.first_errors {
        println!("  {e}");
    }
    for n in &report.notes {
        println!("note: {n}");
    }
    Ok(())
}
