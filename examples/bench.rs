//! Times the `bench` preset of LUM pre-training (what `lumlab bench pretrain --preset bench`
//! runs) and prints one JSON line, plus the time of each phase with `--phases`.
//!
//! Usage: cargo run --release --example bench -- [--steps 30] [--warmup 5] [--phases]

use anyhow::Context;

/// The same allocator as the `lumlab` binary: it reuses freed blocks instead of returning
/// large ones to the OS, which otherwise costs a page fault per page of every fresh tensor.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str, default: usize| -> anyhow::Result<usize> {
        match args.iter().position(|a| a == flag) {
            Some(i) => args.get(i + 1).context("missing value")?.parse().with_context(|| format!("{flag} needs a number")),
            None => Ok(default),
        }
    };
    let steps = value("--steps", 30)?;
    let warmup = value("--warmup", 5)?;
    let device = candle_core::Device::Cpu;
    let (result, phases) = lumlab::model::bench::run_bench_profiled(steps, warmup, &device)?;
    println!("{}", serde_json::to_string(&result)?);
    if args.iter().any(|a| a == "--phases") {
        let per = |s: f64| format!("{:.1} ms", 1e3 * s / steps as f64);
        eprintln!(
            "per step: batch {}, forward {}, backward {}, optimizer {}",
            per(phases.batch),
            per(phases.forward),
            per(phases.backward),
            per(phases.optimizer)
        );
    }
    Ok(())
}
