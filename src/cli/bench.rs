//! `lumlab bench ...`: measured figures for the notes (medians, ratios), never tests.

use crate::data::{Format, LoadOptions, load};
use crate::util::{Rng, atomic_write_with, thousands};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Benchmarks.
#[derive(clap::Subcommand, Debug)]
pub enum BenchCommand {
    /// Cold parse vs cache reopen of a Taobao-format log, bytes per behaviour, and pandas side by side.
    Load(LoadBenchArgs),
    /// One LUM pre-training step of the `bench` preset (the PyTorch reference's exact shapes).
    Pretrain(PretrainBenchArgs),
    /// Residual k-means on synthetic item vectors (default 1M x 64, 3 levels of 256), with one assignment pass against candle.
    Kmeans(KmeansBenchArgs),
}

/// Arguments of `lumlab bench pretrain`.
#[derive(clap::Args, Debug)]
pub struct PretrainBenchArgs {
    /// The preset (only `bench`, as shared/bench/README.md specifies).
    #[arg(long, default_value = "bench")]
    pub preset: String,
    /// Timed steps.
    #[arg(long, default_value_t = 30)]
    pub steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// cpu | cuda | metal | auto.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Also print where the step spends its time (batch / forward / backward / optimizer).
    #[arg(long)]
    pub profile: bool,
    /// Print one JSON object (same keys as the reference: steps_per_s, tokens_per_s, loss_first, loss_last).
    #[arg(long)]
    pub json: bool,
}

fn bench_pretrain(a: PretrainBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.preset == "bench", "unknown preset `{}`; the only preset is `bench`", a.preset);
    let device = crate::train::device::pick(&a.device)?;
    let (r, phases) = crate::model::bench::run_bench_profiled(a.steps, a.warmup, &device)?;
    if a.json {
        let mut v = serde_json::to_value(&r)?;
        if a.profile {
            v["phase_secs"] = serde_json::to_value(&phases)?;
        }
        println!("{v}");
    } else {
        println!("bench preset on {} ({} threads): {:.3} steps/s, {:.0} tokens/s", r.device, r.threads, r.steps_per_s, r.tokens_per_s);
        println!("  loss first {:.4} -> last {:.4} ({} warm-up + {} timed steps)", r.loss_first, r.loss_last, r.warmup, r.steps);
        if a.profile {
            let total = phases.batch + phases.forward + phases.backward + phases.optimizer;
            for (name, s) in [("batch", phases.batch), ("forward", phases.forward), ("backward", phases.backward), ("optimizer", phases.optimizer)] {
                println!("  {name:<10} {:5.1}%", 100.0 * s / total.max(1e-12));
            }
        }
    }
    Ok(())
}

/// Arguments of `lumlab bench kmeans`.
#[derive(clap::Args, Debug)]
pub struct KmeansBenchArgs {
    /// Synthetic items.
    #[arg(long, default_value_t = 1_000_000)]
    pub items: usize,
    /// Vector width.
    #[arg(long, default_value_t = 64)]
    pub dim: usize,
    /// Codebook size per level.
    #[arg(long, value_delimiter = ',', default_values_t = vec![256usize, 256, 256])]
    pub levels: Vec<usize>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `lumlab bench load`.
#[derive(clap::Args, Debug)]
pub struct LoadBenchArgs {
    /// Rows of the generated Taobao-format file.
    #[arg(long, default_value_t = 10_000_000)]
    pub rows: u64,
    /// Use this file instead of generating one.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// Timed repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
    /// Also time `pandas.read_csv` on the same file, one run right after each lumlab load (a
    /// python3 helper process; needs pandas), and pandas doing lumlab's whole job.
    #[arg(long)]
    pub pandas: bool,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
}

/// Runs a benchmark.
pub fn run(cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Load(a) => bench_load(a),
        BenchCommand::Pretrain(a) => bench_pretrain(a),
        BenchCommand::Kmeans(a) => bench_kmeans(a),
    }
}

fn bench_kmeans(a: KmeansBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(a.items > 0 && a.dim > 0, "--items and --dim must be positive");
    anyhow::ensure!(
        !a.levels.is_empty() && a.levels.iter().all(|&k| k > 0 && k <= a.items),
        "--levels needs codebook sizes between 1 and --items"
    );
    let r = crate::tokenize::bench_kmeans(a.items, a.dim, &a.levels);
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
        return Ok(());
    }
    println!("residual k-means: {} items x {} dims, levels {:?}, {} threads, kernel {}", thousands(r.n_items as u64), r.dim, r.levels, r.threads, r.kernel);
    println!("  total        {:.2} s (synthetic data {:.2} s, not counted)", r.kmeans_secs, r.data_secs);
    for (i, l) in r.per_level.iter().enumerate() {
        println!("  level {}      k {} · trained on {} points · {} iters{} · quant mse {:.5}", i + 1, l.k, thousands(l.train_points as u64), l.iters, if l.converged { " (converged)" } else { "" }, l.quant_mse);
    }
    println!("  assign pass  {:.3} s ({:.1} GFLOP/s)", r.assign_pass_secs, r.assign_gflops);
    if let (Some(c), Some(agree)) = (r.candle_assign_pass_secs, r.candle_agreement) {
        println!("  candle pass  {:.3} s (same centre for {:.2}% of points)", c, 100.0 * agree);
    }
    Ok(())
}

/// Writes a Taobao UserBehavior-shaped file: users grouped, ~100 rows per user, 89% pv.
fn write_taobao(path: &Path, rows: u64) -> anyhow::Result<()> {
    let mut rng = Rng::new(2017);
    let users = (rows / 100).max(1);
    let items = (rows / 10).max(1);
    atomic_write_with(path, |w| {
        let mut left = rows;
        let mut u = 1u64;
        let mut line = String::with_capacity(64);
        while left > 0 {
            let n = (50 + rng.below(101)).min(left);
            for _ in 0..n {
                let item = 1 + rng.below(items);
                let cat = 1 + item % 9439;
                let beh = match rng.below(100) {
                    0..=88 => "pv",
                    89..=94 => "cart",
                    95..=97 => "fav",
                    _ => "buy",
                };
                let ts = 1_511_539_200 + rng.below(9 * 86_400);
                line.clear();
                use std::fmt::Write as _;
                let _ = writeln!(line, "{},{},{},{},{}", u * 7 % (users * 7 + 1), item, cat, beh, ts);
                w.write_all(line.as_bytes())?;
            }
            left -= n;
            u += 1;
        }
        Ok(())
    })?;
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn bench_load(a: LoadBenchArgs) -> anyhow::Result<()> {
    let tmp = tempdir_in_target()?;
    let path = match &a.file {
        Some(f) => f.clone(),
        None => {
            let p = tmp.join(format!("UserBehavior-{}.csv", a.rows));
            if !p.is_file() || std::fs::metadata(&p)?.len() == 0 {
                eprintln!("generating {} rows into {} ...", thousands(a.rows), p.display());
                write_taobao(&p, a.rows)?;
            }
            p
        }
    };
    let size = std::fs::metadata(&path)?.len();
    let opts = LoadOptions { format: Some(Format::Taobao), ..Default::default() };
    let reps = a.reps.max(1);
    let mut parse = Vec::new();
    // Seconds of the parse to typed columns (the part `pandas.read_csv` also does).
    let mut columns = Vec::new();
    // Seconds of each phase of the cold parse, one entry per repetition.
    let mut phases: Vec<(&'static str, Vec<f64>)> = Vec::new();
    // (behaviours, users, items, column bytes) of the loaded log; each load is dropped
    // (untimed) before the next thing is timed.
    let mut shape = None;
    // pandas runs beside, one read_csv after each of our loads, so both see the same minutes.
    let mut helper = if a.pandas { PandasHelper::start(&path) } else { None };
    let mut pandas_read = Vec::new();
    for _ in 0..reps {
        // The last load unmaps its file on a background thread after it returns; let that
        // finish (untimed) so that each repetition times one load on a quiet machine, as a
        // user's single load is, not one racing the last one's clean-up.
        crate::util::mapped::wait_for_releases();
        crate::util::phases::start();
        let t = Instant::now();
        let (data, _) = load(&path, &opts)?;
        parse.push(t.elapsed().as_secs_f64());
        let rep = crate::util::phases::stop();
        columns.push(rep.iter().filter(|(n, _)| crate::data::taobao::COLUMN_PHASES.contains(n)).map(|(_, s)| s).sum::<f64>());
        for (name, secs) in rep {
            match phases.iter_mut().find(|(n, _)| *n == name) {
                Some((_, v)) => v.push(secs),
                None => phases.push((name, vec![secs])),
            }
        }
        shape = Some((data.n_behaviors(), data.n_users(), data.n_items(), data.column_bytes()));
        drop(data);
        if let Some(h) = helper.as_mut() {
            crate::util::mapped::wait_for_releases();
            match h.time("read") {
                Some(t) => pandas_read.push(t),
                None => helper = None,
            }
        }
    }
    // The pandas equivalent of lumlab's whole load (ids and sort too), then the helper ends.
    let pandas_full: Vec<f64> = helper.as_mut().map(|h| (0..reps).map_while(|_| h.time("full")).collect()).unwrap_or_default();
    drop(helper);
    let phases_each: serde_json::Map<String, serde_json::Value> = phases.iter().map(|(n, v)| (n.to_string(), serde_json::json!(v))).collect();
    let parse_each = parse.clone();
    let phases: Vec<(&'static str, f64)> = phases.into_iter().map(|(n, v)| (n, median(v))).collect();
    let (n_rows, n_users, n_items, column_bytes) = shape.ok_or_else(|| anyhow::anyhow!("no repetitions"))?;
    // Write the cache once, then time reopening from it.
    let cached = LoadOptions { use_cache: true, ..opts.clone() };
    let (beside, fallback) = crate::data::cache::cache_paths(&path);
    let _ = std::fs::remove_file(&beside);
    let _ = std::fs::remove_file(&fallback);
    crate::util::mapped::wait_for_releases();
    let t = Instant::now();
    load(&path, &cached)?;
    let parse_and_write = t.elapsed().as_secs_f64();
    // Write the new cache out now (untimed): left to the kernel, ~100 MB of write-back
    // would land on whatever runs half a minute later, pandas or the next benchmark.
    for p in [&beside, &fallback] {
        if let Ok(f) = std::fs::File::open(p) {
            let _ = f.sync_all();
        }
    }
    let mut reopen = Vec::new();
    for _ in 0..reps {
        crate::util::mapped::wait_for_releases();
        let t = Instant::now();
        let (_, r) = load(&path, &cached)?;
        reopen.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(r.from_cache, "cache was not used on reopen");
    }
    let rows = n_rows as f64;
    let reopen_each = reopen.clone();
    let (parse_s, reopen_s, columns_s) = (median(parse), median(reopen), median(columns));
    let bytes_per = column_bytes as f64 / rows;
    let pandas_s = (pandas_read.len() == reps).then(|| median(pandas_read.clone()));
    let pandas_full_s = (pandas_full.len() == reps).then(|| median(pandas_full.clone()));
    // Each repetition's pandas time over the lumlab load just before it.
    let pair_ratios: Vec<f64> = pandas_read.iter().zip(&parse_each).map(|(p, l)| p / l).collect();
    let out = serde_json::json!({
        "file": path, "file_bytes": size, "rows": n_rows, "users": n_users, "items": n_items,
        "parse_secs_median": parse_s, "parse_rows_per_s": rows / parse_s, "parse_secs_each": parse_each, "parse_phases_secs_each": phases_each,
        "columns_secs_median": columns_s,
        "parse_phases_secs_median": phases.iter().map(|(n, s)| (n.to_string(), serde_json::json!(s))).collect::<serde_json::Map<_, _>>(),
        "parse_and_cache_write_secs": parse_and_write,
        "reopen_secs_each": reopen_each, "reopen_secs_median": reopen_s, "reopen_rows_per_s": rows / reopen_s,
        "reopen_speedup": parse_s / reopen_s,
        "bytes_per_behavior": bytes_per,
        "pandas_read_csv_secs_each": pandas_read, "pandas_read_csv_secs_median": pandas_s,
        "parse_speedup_vs_pandas_each": pair_ratios,
        "parse_speedup_vs_pandas": pandas_s.map(|p| p / parse_s),
        "columns_speedup_vs_pandas_read_csv": pandas_s.map(|p| p / columns_s),
        "pandas_same_result_secs_median": pandas_full_s,
        "parse_speedup_vs_pandas_same_result": pandas_full_s.map(|p| p / parse_s),
        "threads": std::thread::available_parallelism().map_or(1, |n| n.get()),
    });
    if a.json {
        println!("{out}");
    } else {
        println!("{} ({} rows, {:.0} MB)", path.display(), thousands(rows as u64), size as f64 / 1e6);
        println!("  cold parse     {parse_s:.3} s  ({:.2} M rows/s, median of {reps})", rows / parse_s / 1e6);
        let parts: Vec<String> = phases.iter().map(|(n, s)| format!("{n} {:.0}", s * 1e3)).collect();
        println!("    phases (ms, medians): {}", parts.join(" · "));
        println!("    of which to typed columns {columns_s:.3} s (count lines + parse fields)");
        println!("  parse + writing the cache {parse_and_write:.3} s  (a first open)");
        println!("  cache reopen   {reopen_s:.3} s  ({:.1}x faster than parse)", parse_s / reopen_s);
        println!("  memory         {bytes_per:.2} bytes per behaviour (columns + offsets)");
        if let (Some(p), Some(f)) = (pandas_s, pandas_full_s) {
            println!("  pandas.read_csv {p:.3} s  -> lumlab's whole parse is {:.1}x pandas, its columns {:.1}x", p / parse_s, p / columns_s);
            let pairs: Vec<String> = pair_ratios.iter().map(|r| format!("{r:.1}")).collect();
            println!("    each repetition (pandas right after lumlab): {}x", pairs.join(" / "));
            println!("  pandas read_csv + ids + stable sort (lumlab's result) {f:.3} s  -> lumlab is {:.1}x", f / parse_s);
        }
    }
    Ok(())
}

/// The pandas side of `bench load`, a helper process that times one thing per request
/// line: `read` is `read_csv` alone; `full` is `read_csv` plus what lumlab's load also
/// does (dense ids in first-seen order, rows grouped by user and sorted by time with a
/// stable sort, compact arrays). It prints `ready` once pandas is imported, then the
/// seconds of each request.
const PANDAS_SCRIPT: &str = r#"
import sys, time
import numpy as np, pandas as pd
path = sys.argv[1]
names = ['user', 'item', 'category', 'behavior', 'ts']
print('ready', flush=True)
for line in sys.stdin:
    t = time.perf_counter()
    df = pd.read_csv(path, header=None, names=names)
    if line.strip() == 'full':
        u, _ = pd.factorize(df['user'])
        i, _ = pd.factorize(df['item'])
        pd.factorize(df['category'])
        a, _ = pd.factorize(df['behavior'])
        ts = df['ts'].to_numpy()
        order = np.lexsort((ts, u))
        cols = (u[order].astype(np.uint32), ts[order], i[order].astype(np.uint32), a[order].astype(np.uint8))
        del cols
    print(time.perf_counter() - t, flush=True)
    del df
"#;

/// The running pandas helper (see [`PANDAS_SCRIPT`]).
struct PandasHelper {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::io::BufReader<std::process::ChildStdout>,
}

impl PandasHelper {
    /// Starts python3 with pandas on `path`; `None` (with a note on stderr) if it cannot.
    fn start(path: &Path) -> Option<Self> {
        use std::process::{Command, Stdio};
        let spawned = Command::new("python3").arg("-c").arg(PANDAS_SCRIPT).arg(path).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
        let mut child = match spawned {
            Ok(c) => c,
            Err(e) => {
                eprintln!("pandas timing skipped: python3: {e}");
                return None;
            }
        };
        let (input, output) = (child.stdin.take()?, child.stdout.take()?);
        let mut h = PandasHelper { child, input, output: std::io::BufReader::new(output) };
        if h.line().as_deref() == Some("ready") {
            return Some(h);
        }
        let _ = h.child.kill();
        let mut err = String::new();
        if let Some(mut e) = h.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut err);
        }
        eprintln!("pandas timing skipped: {}", err.lines().last().unwrap_or("python3 with pandas did not start"));
        None
    }

    fn line(&mut self) -> Option<String> {
        let mut s = String::new();
        match std::io::BufRead::read_line(&mut self.output, &mut s) {
            Ok(n) if n > 0 => Some(s.trim().to_string()),
            _ => None,
        }
    }

    /// Seconds of one `what` (`read` or `full`); `None` if the helper failed.
    fn time(&mut self, what: &str) -> Option<f64> {
        use std::io::Write;
        writeln!(self.input, "{what}").ok()?;
        self.input.flush().ok()?;
        self.line()?.parse().ok()
    }
}

impl Drop for PandasHelper {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tempdir_in_target() -> anyhow::Result<PathBuf> {
    let p = std::env::temp_dir().join("lumlab-bench");
    std::fs::create_dir_all(&p)?;
    Ok(p)
}
