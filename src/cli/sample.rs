//! `lumlab sample`: write a synthetic search-advertising world.

use crate::data::sample::{WorldConfig, generate};
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

/// Applies `key=value` overrides to a serde config, with an error listing valid keys.
pub fn apply_overrides<T: serde::Serialize + serde::de::DeserializeOwned>(cfg: &T, sets: &[String]) -> anyhow::Result<T> {
    let mut v = serde_json::to_value(cfg)?;
    let obj = v.as_object_mut().ok_or_else(|| anyhow::anyhow!("config is not an object"))?;
    for s in sets {
        let (k, val) = s.split_once('=').ok_or_else(|| anyhow::anyhow!("--set `{s}`: expected KEY=VALUE"))?;
        let k = k.trim();
        let Some(old) = obj.get(k) else {
            let mut keys: Vec<&String> = obj.keys().collect();
            keys.sort();
            anyhow::bail!("--set: unknown key `{k}`; valid keys: {}", keys.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", "));
        };
        let parsed: serde_json::Value = match old {
            serde_json::Value::String(_) => serde_json::Value::String(val.to_string()),
            _ => serde_json::from_str(val.trim()).unwrap_or_else(|_| serde_json::Value::String(val.to_string())),
        };
        obj.insert(k.to_string(), parsed);
    }
    serde_json::from_value(v.clone()).map_err(|e| anyhow::anyhow!("--set: bad value ({e})"))
}

/// Runs `lumlab sample`.
pub fn run(a: SampleArgs) -> anyhow::Result<()> {
    let base = WorldConfig { users: a.users, seed: a.seed, ..WorldConfig::default() };
    let cfg = apply_overrides(&base, &a.set)?;
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
