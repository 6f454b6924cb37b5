//! `lumlab sample`: write a synthetic search-advertising world.

use crate::data::sample::{WorldConfig, generate};
use crate::util::apply_overrides;
use std::path::PathBuf;

/// Arguments of `lumlab sample`.
#[derive(clap::Args, Debug)]
pub struct SampleArgs {
    /// Output folder (created if missing).
    #[arg(long)]
    pub out: PathBuf,
    /// Number of users.
    #[arg(long, default_value_t = 2000)]
    pub users: usize,
    /// Random seed: the same seed gives byte-identical files.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Override a generator knob as recorded in world.json, e.g. `--set b_long=0`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Print the summary as one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs `lumlab sample`.
pub fn run(a: SampleArgs) -> anyhow::Result<()> {
    let base = WorldConfig { users: a.users, seed: a.seed, ..WorldConfig::default() };
    let cfg = apply_overrides(&base, &a.set).map_err(anyhow::Error::msg)?;
    let bar = super::progress_bar(1000, "sample");
    let s = generate(&cfg, &a.out, Some(&|f| bar.set_position((f * 1000.0) as u64)))?;
    bar.finish_and_clear();
    if a.json {
        println!("{}", serde_json::to_string(&s)?);
    } else {
        use crate::util::thousands;
        println!("wrote {} ({} users, {} items, {} queries)", a.out.display(), thousands(s.users as u64), thousands(s.items as u64), thousands(s.queries as u64));
        println!("  behaviours   {}", thousands(s.behaviors));
        println!("  impressions  {} ({} clicks, CTR {:.2}%)", thousands(s.impressions), thousands(s.clicks), 100.0 * s.ctr);
        println!("  oracle AUC   {:.4} (true p_click vs sampled labels, all impressions)", s.oracle_auc);
        println!("  oracle logloss {:.4}", s.oracle_logloss);
    }
    Ok(())
}
