//! The command line: clap definitions and dispatch to the engine. Each command
//! prints a progress bar on a terminal, a readable summary (or one JSON object
//! with `--json`), and returns an error that `main` prints as one line.

mod bench;
mod ctr;
mod flow;
mod inspect;
mod posttrain;
mod pretrain;
mod sample;
mod tokens;


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
    /// Pre-train a LUM (or the SASRec / popularity baselines) into a run folder.
    Pretrain(pretrain::PretrainArgs),
    /// Evaluate a pre-training run: HR@K, NDCG@K, MRR, leave-one-out.
    Eval(pretrain::EvalArgs),
    /// Post-train a LUM run: interest vectors o(u,q) for every search session (group query), optional fine-tuning.
    Posttrain(posttrain::PosttrainArgs),
    /// Tokenize a log (id | semantic | attributes) and print the tokenizer statistics.
    Tokens(tokens::TokensArgs),
    /// Render every panel of the workbench to PNG without a display.
    #[cfg(feature = "gui")]
    Screenshot(ScreenshotArgs),
    /// Train the baseline CTR model and, with --lum, the same model + LUM features; compare them.
    Ctr(ctr::CtrArgs),
    /// Run pre-train -> post-train -> CTR end to end and write one comparison report.
    Flow(flow::FlowArgs),
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
    if !matches!(cli.command, None | Some(Command::Gui(_))) {
        quiet_broken_pipe();
    }
    match cli.command {
        None => gui(GuiArgs::default()),
        Some(Command::Gui(a)) => gui(a),
        Some(Command::Sample(a)) => sample::run(a),
        Some(Command::Inspect(a)) => inspect::run(a),
        Some(Command::Pretrain(a)) => pretrain::run(a),
        Some(Command::Eval(a)) => pretrain::eval(a),
        Some(Command::Posttrain(a)) => posttrain::run(a),
        Some(Command::Tokens(a)) => tokens::run(a),
        Some(Command::Ctr(a)) => ctr::run(a),
        Some(Command::Flow(a)) => flow::run(a),
        Some(Command::Bench(b)) => bench::run(b),
        #[cfg(feature = "gui")]
        Some(Command::Screenshot(a)) => screenshot(a),
    }
}

/// Lets a command whose output goes into a closed pipe (`lumlab inspect … | head -1`) end
/// quietly, as command-line tools do, instead of panicking in `println!`. Not for the
/// GUI, whose sockets must see EPIPE as an error rather than end the process.
fn quiet_broken_pipe() {
    #[cfg(unix)]
    // SAFETY: restoring the default action of SIGPIPE before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
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

/// Arguments of `lumlab screenshot`.
#[cfg(feature = "gui")]
#[derive(clap::Args, Debug)]
pub struct ScreenshotArgs {
    /// Folder for the PNGs (one per panel: flow.png, data.png, ...).
    #[arg(long)]
    pub out: PathBuf,
    /// Behaviour log to show (default: the bundled sample data).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Run folder to show (its parent folder is scanned for runs).
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Image width in pixels.
    #[arg(long, default_value_t = 1600.0)]
    pub width: f32,
    /// Image height in pixels.
    #[arg(long, default_value_t = 1000.0)]
    pub height: f32,
    /// Light theme instead of dark.
    #[arg(long)]
    pub light: bool,
}

#[cfg(feature = "gui")]
fn screenshot(a: ScreenshotArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&a.out).map_err(|e| anyhow::anyhow!("{}: {e}", a.out.display()))?;
    let data = a.data.or_else(default_data);
    let paths = crate::gui::render_panels_with(&crate::gui::RenderOptions {
        out_dir: a.out.clone(),
        tokenize: data.is_some(),
        data,
        run: a.run,
        width: a.width,
        height: a.height,
        dark: !a.light,
    })?;
    for p in paths {
        println!("{}", p.display());
    }
    Ok(())
}

#[cfg(feature = "gui")]
fn gui(a: GuiArgs) -> anyhow::Result<()> {
    let data = a.data.or_else(default_data);
    crate::gui::run_native(crate::gui::GuiOptions { data, run: a.run, self_shot: a.self_shot })
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
