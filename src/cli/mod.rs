//! The command line: clap definitions and dispatch to the engine. Each command
//! prints a progress bar on a terminal, a readable summary (or one JSON object
//! with `--json`), and returns an error that `main` prints as one line.

mod bench;
mod ctr;
mod inspect;
mod sample;

pub use sample::apply_overrides;

use clap::{Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

/// LumLab: pre-train -> post-train -> CTR for large user models, with a desktop workbench.
#[derive(Parser, Debug)]
#[command(name = "lumlab", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Open the desktop workbench (the default when no command is given).
    Gui(GuiArgs),
    /// Generate a synthetic search-advertising world (behaviors.csv, items.csv, truth.csv, world.json).
    Sample(sample::SampleArgs),
    /// Load a behaviour log and print its format, sizes, distributions and bad rows.
    Inspect(inspect::InspectArgs),
    /// Train the baseline CTR model and, with --lum, the same model + LUM features; compare them.
    Ctr(ctr::CtrArgs),
    /// Benchmarks (figures for the notes; not tests).
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

/// Arguments of `lumlab gui`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct GuiArgs {
    /// Behaviour log to open (default: the bundled sample_data/behaviors.csv).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder to open.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// CI smoke test: save a screenshot of the window to this PNG once it is up, then exit.
    #[arg(long, hide = true)]
    pub self_shot: Option<PathBuf>,
}

/// Parses the process arguments and runs the command.
pub fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        None => gui(GuiArgs::default()),
        Some(Command::Gui(a)) => gui(a),
        Some(Command::Sample(a)) => sample::run(a),
        Some(Command::Inspect(a)) => inspect::run(a),
        Some(Command::Ctr(a)) => ctr::run(a),
        Some(Command::Bench(b)) => bench::run(b),
    }
}

/// The bundled sample log, looked up next to the binary's crate and the working directory.
pub fn default_data() -> Option<PathBuf> {
    let candidates = [
        PathBuf::from("sample_data/behaviors.csv"),
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sample_data/behaviors.csv"),
    ];
    candidates.into_iter().find(|p| p.is_file())
}

#[cfg(feature = "gui")]
fn gui(a: GuiArgs) -> anyhow::Result<()> {
    let _ = a;
    anyhow::bail!("the GUI is being wired")
}

#[cfg(not(feature = "gui"))]
fn gui(_: GuiArgs) -> anyhow::Result<()> {
    anyhow::bail!("this lumlab was built without the `gui` feature; rebuild with default features")
}

/// A progress bar on a terminal, nothing otherwise (scripts and pipes stay clean).
pub fn progress_bar(len: u64, what: &str) -> indicatif::ProgressBar {
    if !std::io::stdout().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template("{msg:>10} [{bar:32.cyan/blue}] {percent:>3}% {elapsed_precise} ETA {eta}")
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
    bar.set_message(what.to_string());
    bar
}
