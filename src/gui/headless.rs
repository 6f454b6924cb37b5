//! Rendering every panel to PNG without a display (egui_kittest on wgpu:
//! lavapipe on CI, any adapter elsewhere), for `lumlab screenshot`, the README
//! and the tests.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use egui_kittest::Harness;

use crate::gui::app::{DEFAULT_RUNS_DIR, LumApp};
use crate::gui::attention_job::{self, AttentionRequest, ModelCache};
use crate::gui::loader;
use crate::gui::runs;
use std::sync::Arc;

use crate::gui::app::TREE_EXAMPLES;
use crate::gui::workspace::{PanelId, TokenizerRun, Workspace};
use crate::tokenize::{self, ItemStrategy, TokenizerConfig};
use crate::train::pretrain::token_cache_dir;

/// Default screenshot size.
pub const SHOT_SIZE: [f32; 2] = [1600.0, 1000.0];
/// Frames run before each capture so plots and layouts settle.
const SETTLE_FRAMES: usize = 4;

/// What to render.
#[derive(Clone, Debug)]
pub struct RenderOptions {
    pub out_dir: PathBuf,
    /// A behaviour log to load first.
    pub data: Option<PathBuf>,
    /// A run folder to select; its parent is the runs folder (default `runs/`).
    pub run: Option<PathBuf>,
    pub width: f32,
    pub height: f32,
    pub dark: bool,
    /// Run the semantic tokenizer on the data first (the Tokens panel then shows its tree).
    pub tokenize: bool,
}

/// Builds the workspace synchronously: data loaded, runs scanned.
pub fn headless_workspace(data: Option<&Path>, run: Option<&Path>) -> anyhow::Result<Workspace> {
    let runs_dir = run
        .and_then(Path::parent)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNS_DIR));
    let mut ws = Workspace::new(runs_dir);
    ws.runs = runs::scan_runs(&ws.runs_dir).map_err(anyhow::Error::msg)?;
    ws.runs_scanned = true;
    if let Some(run) = run {
        ws.selected_runs.push(run.to_path_buf());
    }
    if let Some(path) = data {
        let loaded =
            loader::load_blocking(path).with_context(|| format!("loading {}", path.display()))?;
        ws.selected_user = (loaded.stats.users > 0).then_some(0);
        ws.data = Some(loaded);
    }
    crate::gui::ranking_jobs::preload_blocking(&mut ws);
    Ok(ws)
}

/// Tokenizes the workspace's data with `config` (through the engine's cache), as the
/// Tokens panel's Run button does, so screenshots show a real tokenizer run.
pub fn tokenize_workspace(ws: &mut Workspace, config: &TokenizerConfig) -> anyhow::Result<()> {
    let Some(data) = &ws.data else { return Ok(()) };
    let started = std::time::Instant::now();
    let (tokenized, from_cache) = if data.report.fingerprint.is_empty() {
        (tokenize::tokenize(&data.dataset, config)?, false)
    } else {
        tokenize::tokenize_cached(
            &data.dataset,
            config,
            &data.report.fingerprint,
            &token_cache_dir(),
        )?
    };
    let tree = tokenized
        .codebook_tree(&data.dataset, TREE_EXAMPLES)
        .map(Arc::new);
    ws.tokens = Some(TokenizerRun {
        tokenized: Arc::new(tokenized),
        tree,
        from_cache,
        secs: started.elapsed().as_secs_f64(),
        dataset_key: Arc::as_ptr(&data.dataset) as usize,
    });
    Ok(())
}

/// Renders every panel of `app` into `<out_dir>/<panel>.png`; returns the paths in panel order.
pub fn render_workspace(
    workspace: Workspace,
    out_dir: &Path,
    width: f32,
    height: f32,
    dark: bool,
) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(out_dir).with_context(|| format!("creating {}", out_dir.display()))?;
    let mut harness = Harness::builder()
        .with_size(egui::vec2(width, height))
        .with_accessibility_check(false)
        .wgpu()
        .build_eframe(move |cc| LumApp::from_workspace(&cc.egui_ctx, workspace));
    if !dark {
        let ctx = harness.ctx.clone();
        harness
            .state_mut()
            .apply(&ctx, crate::gui::command::Command::ToggleTheme);
    }
    let mut out = Vec::new();
    for id in PanelId::ALL {
        harness.state_mut().set_panel(id);
        harness.run_steps(SETTLE_FRAMES);
        let image = harness
            .render()
            .map_err(anyhow::Error::msg)
            .with_context(|| format!("rendering the {} panel", id.title()))?;
        let path = out_dir.join(format!("{}.png", id.file_stem()));
        image
            .save(&path)
            .with_context(|| format!("writing {}", path.display()))?;
        out.push(path);
    }
    Ok(out)
}

/// Renders every panel to `<out_dir>/<panel>.png` at `w`×`h` (dark theme), loading `data`
/// first and, when given, tokenizing it with the semantic strategy for the Tokens panel.
pub fn render_panels(
    out_dir: &Path,
    data: Option<&Path>,
    w: f32,
    h: f32,
) -> anyhow::Result<Vec<PathBuf>> {
    render_panels_with(&RenderOptions {
        out_dir: out_dir.to_path_buf(),
        data: data.map(PathBuf::from),
        run: None,
        width: w,
        height: h,
        dark: true,
        tokenize: data.is_some(),
    })
}

/// [`render_panels`] with every option.
pub fn render_panels_with(opts: &RenderOptions) -> anyhow::Result<Vec<PathBuf>> {
    let mut ws = headless_workspace(opts.data.as_deref(), opts.run.as_deref())?;
    if opts.tokenize {
        let config = TokenizerConfig {
            strategy: ItemStrategy::Semantic,
            ..TokenizerConfig::default()
        };
        tokenize_workspace(&mut ws, &config).context("tokenizing for the Tokens panel")?;
    }
    if opts.data.is_some()
        && let Err(e) = attention_workspace(&mut ws, 2)
    {
        // A run of another log, say: the panel shows why instead of the whole render failing.
        ws.attention_error = Some(format!("{e:#}"));
    }
    render_workspace(ws, &opts.out_dir, opts.width, opts.height, opts.dark)
}

/// Computes attention of the newest LUM run over the selected user with their
/// `queries` most recent searches appended, as the Attention panel's Compute does.
/// Nothing happens without data, a user or a trained LUM run.
pub fn attention_workspace(ws: &mut Workspace, queries: usize) -> anyhow::Result<()> {
    let (Some(data), Some(user)) = (&ws.data, ws.selected_user) else { return Ok(()) };
    let Some(run) = ws.latest_lum_run().filter(|r| r.has_checkpoint) else { return Ok(()) };
    let ds = &data.dataset;
    let mut texts: Vec<String> = Vec::new();
    for r in ds.user_range(user).rev() {
        let q = ds.query_at(r);
        if q != crate::data::NONE && !texts.iter().any(|t| t == ds.queries.name(q)) {
            texts.push(ds.queries.name(q).to_string());
        }
        if texts.len() == queries {
            break;
        }
    }
    let req = AttentionRequest {
        run: run.path.clone(),
        data: data.path.clone(),
        user: ds.users.name(user).to_string(),
        queries: texts,
    };
    let view = attention_job::compute(&req, &ModelCache::default(), &|_, _| {}).map_err(anyhow::Error::msg)?;
    ws.attention = Some(view);
    Ok(())
}
