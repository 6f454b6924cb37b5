//! `LumApp`: the eframe application. It owns the [`Workspace`], the panels and
//! the background jobs; each frame it drains job events (in `logic`, under a
//! time budget), draws the window chrome and the current panel, then applies
//! the [`Command`]s the panels pushed.

use std::path::PathBuf;
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use crate::data::LoadOptions;
use crate::gui::attention_job::{self, AttentionRequest, AttentionView, ModelCache};
use crate::gui::chrome;
use crate::gui::command::Command;
use crate::gui::format;
use crate::gui::jobs::{JobHandle, Waker, spawn_job};
use crate::gui::loader::{self, LoadOutcome};
use crate::gui::mapping::ColumnMapping;
use crate::gui::panels::{self, Panel, PanelCx};
use crate::gui::runs::{self, RunInfo};
use crate::gui::theme;
use crate::gui::training::{LiveRun, LiveStatus};
use crate::gui::workspace::TokenizerRun;
use crate::gui::workspace::{JobView, LoadedData, Notice, PanelId, Workspace};
use crate::job::JobEvent;
use crate::tokenize::{self, TokenizerConfig};
use crate::train::{PretrainConfig, PretrainRequest, run_pretrain};

/// Time budget per frame for applying job events.
const DRAIN_BUDGET: Duration = Duration::from_millis(10);
/// Example titles kept per codebook-tree node.
pub const TREE_EXAMPLES: usize = 3;
/// Default folder of run folders, relative to the working directory.
pub const DEFAULT_RUNS_DIR: &str = "runs";

/// How the app starts.
#[derive(Clone, Debug, Default)]
pub struct AppOptions {
    /// A log to load at start.
    pub data: Option<PathBuf>,
    /// A run folder to open; its parent becomes the runs folder.
    pub run: Option<PathBuf>,
}

/// Window-level UI state: which panel, which theme, which overlay.
#[derive(Clone, Debug)]
pub struct Shell {
    pub current: PanelId,
    pub dark: bool,
    pub help_open: bool,
    pub jobs_open: bool,
}

/// The background work the app is waiting on.
#[derive(Default)]
struct Background {
    loader: Option<JobHandle<LoadOutcome>>,
    scan: Option<JobHandle<Vec<RunInfo>>>,
    export: Option<JobHandle<PathBuf>>,
    tokenizer: Option<JobHandle<TokenizerRun>>,
    attention: Option<JobHandle<AttentionView>>,
    /// The engine's pre-training job (its events fold into `Workspace::training`).
    training: Option<crate::job::JobHandle>,
    /// The engine's flow job (events fold into `Workspace::flow`, stage 1's also into `training`).
    flow: Option<crate::job::JobHandle>,
    file_dialog: Option<mpsc::Receiver<Option<PathBuf>>>,
    /// A plot export waiting for its screenshot.
    plot_png: Option<mpsc::Receiver<Result<PathBuf, String>>>,
    /// The Ranking panel's jobs (reading a CTR run, projecting interests).
    ranking: crate::gui::ranking_jobs::RankingJobs,
}

/// The LumLab workbench window.
pub struct LumApp {
    workspace: Workspace,
    panels: Vec<Box<dyn Panel>>,
    shell: Shell,
    commands: Vec<Command>,
    background: Background,
    waker: Waker,
    /// Settings of "Run the whole flow" (`lumlab flow`'s defaults).
    flow_settings: FlowSettings,
    /// The checkpoint the Attention panel last opened (reused by the next request).
    attention_model: ModelCache,
}

/// What "Run the whole flow" trains: `lumlab flow`'s defaults unless changed.
#[derive(Clone, Debug)]
pub struct FlowSettings {
    pub pretrain: PretrainConfig,
    pub ctr: crate::ctr::CtrConfig,
}

impl Default for FlowSettings {
    fn default() -> Self {
        let req = crate::flow::FlowRequest::new(std::path::Path::new(""), std::path::Path::new(""));
        FlowSettings { pretrain: req.pretrain, ctr: req.ctr }
    }
}

impl LumApp {
    /// The app as eframe creates it: theme installed, runs scanned and `opts.data` loaded in the background.
    pub fn new(ctx: &egui::Context, opts: AppOptions) -> Self {
        let runs_dir = opts
            .run
            .as_ref()
            .and_then(|r| r.parent().map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from(DEFAULT_RUNS_DIR));
        let mut ws = Workspace::new(runs_dir);
        if let Some(run) = &opts.run {
            ws.selected_runs.push(run.clone());
        }
        let mut app = Self::from_workspace(ctx, ws);
        app.apply(ctx, Command::RefreshRuns);
        if let Some(path) = opts.data {
            app.apply(ctx, Command::LoadData(path));
        }
        app
    }

    /// An app over a ready workspace, starting no jobs (headless rendering and tests).
    pub fn from_workspace(ctx: &egui::Context, workspace: Workspace) -> Self {
        theme::install(ctx, true);
        let repaint_ctx = ctx.clone();
        LumApp {
            workspace,
            panels: panels::all_panels(),
            shell: Shell {
                current: PanelId::Flow,
                dark: true,
                help_open: false,
                jobs_open: false,
            },
            commands: Vec::new(),
            background: Background::default(),
            waker: Arc::new(move || repaint_ctx.request_repaint()),
            flow_settings: FlowSettings::default(),
            attention_model: ModelCache::default(),
        }
    }

    /// The panel on screen.
    pub fn current_panel(&self) -> PanelId {
        self.shell.current
    }
    /// Switches panels.
    pub fn set_panel(&mut self, id: PanelId) {
        self.shell.current = id;
    }
    /// Whether the dark theme is on.
    pub fn is_dark(&self) -> bool {
        self.shell.dark
    }
    /// Whether the keyboard-shortcut overlay is open.
    pub fn help_open(&self) -> bool {
        self.shell.help_open
    }
    /// Changes what "Run the whole flow" trains (tests use tiny models).
    pub fn set_flow_settings(&mut self, settings: FlowSettings) {
        self.flow_settings = settings;
    }
    /// What "Run the whole flow" trains.
    pub fn flow_settings(&self) -> &FlowSettings {
        &self.flow_settings
    }
    /// The engine state the panels read.
    pub fn workspace(&self) -> &Workspace {
        &self.workspace
    }
    /// Mutable engine state (tests and headless rendering fill it directly).
    pub fn workspace_mut(&mut self) -> &mut Workspace {
        &mut self.workspace
    }
    /// Installs loaded data and selects its first user.
    pub fn set_data(&mut self, data: LoadedData) {
        self.workspace.selected_user = (data.stats.users > 0).then_some(0);
        self.workspace.mapping = None;
        self.workspace.data_error = None;
        self.workspace.data = Some(data);
    }
    /// Whether any background job is still running.
    pub fn is_busy(&self) -> bool {
        let b = &self.background;
        b.loader.is_some()
            || b.scan.is_some()
            || b.export.is_some()
            || b.file_dialog.is_some()
            || b.plot_png.is_some()
            || b.training.is_some()
            || b.flow.is_some()
            || b.tokenizer.is_some()
            || b.attention.is_some()
            || b.ranking.is_busy()
    }

    fn notify(&mut self, text: impl Into<String>, is_error: bool) {
        let text = text.into();
        self.workspace.last_event = Some(text.clone());
        self.workspace.notice = Some(Notice { text, is_error });
    }

    /// Applies one command (what panels and shortcuts ask for).
    pub fn apply(&mut self, ctx: &egui::Context, command: Command) {
        match command {
            Command::ShowPanel(id) => self.shell.current = id,
            Command::OpenFileDialog => self.open_file_dialog(),
            Command::LoadData(path) => self.start_load(path, None),
            Command::LoadMapped { path, mapping } => self.start_load(path, Some(mapping)),
            Command::CancelMapping => self.workspace.mapping = None,
            Command::CancelLoading => {
                if let Some(job) = &self.background.loader {
                    job.cancel();
                }
            }
            Command::SelectUser(u) => self.workspace.selected_user = u,
            Command::ToggleRun(path) => {
                let sel = &mut self.workspace.selected_runs;
                match sel.iter().position(|p| *p == path) {
                    Some(i) => {
                        sel.remove(i);
                    }
                    None => sel.push(path),
                }
            }
            Command::RefreshRuns => self.start_scan(),
            Command::ExportRunsCsv => self.start_export(),
            Command::ExportPlotPng { rect, name } => self.export_plot(ctx, rect, &name),
            Command::ToggleTheme => {
                self.shell.dark = !self.shell.dark;
                theme::set_dark(ctx, self.shell.dark);
            }
            Command::ToggleHelp => self.shell.help_open = !self.shell.help_open,
            Command::ToggleJobs => self.shell.jobs_open = !self.shell.jobs_open,
            Command::StartTraining(config) => self.start_training(config),
            Command::PauseTraining => self.toggle_pause(),
            Command::StopTraining => {
                if let Some(job) = self.training_job() {
                    job.stop();
                }
            }
            Command::ResumeRun(path) => self.resume_run(path),
            Command::RunTokenizer(config) => self.start_tokenizer(config),
            Command::RunWholeFlow => self.start_flow(),
            Command::SetFlowCtr(ctr) => self.flow_settings.ctr = ctr,
            Command::StopFlow => {
                if let Some(job) = &self.background.flow {
                    job.stop();
                }
            }
            Command::ComputeAttention { run, user, queries } => {
                self.start_attention(run, user, queries)
            }
            Command::LoadRanking(path) => {
                let started = self.background.ranking.load_run(&mut self.workspace, path, self.waker.clone());
                if let Err(e) = started {
                    self.notify(format!("could not read the ranking: {e}"), true);
                }
            }
            Command::ComputeInterestMap(req) => {
                let started = self.background.ranking.compute_map(&mut self.workspace, req, self.waker.clone());
                if let Err(e) = started {
                    self.notify(format!("could not project interests: {e}"), true);
                }
            }
        }
    }

    fn start_load(&mut self, path: PathBuf, mapping: Option<ColumnMapping>) {
        if let Some(old) = self.background.loader.take() {
            old.cancel();
        }
        self.workspace.data_error = None;
        let name = format!(
            "load {}",
            path.file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default()
        );
        match spawn_job("load-data", self.waker.clone(), move |sink| {
            loader::load_job(&path, mapping, sink)
        }) {
            Ok(job) => {
                self.workspace.last_event = Some(name);
                self.background.loader = Some(job);
            }
            Err(e) => self.notify(format!("could not start loading: {e}"), true),
        }
    }

    /// Starts pre-training on the loaded log into a new folder under the runs folder
    /// (or resumes this session's paused job).
    fn start_training(&mut self, config: PretrainConfig) {
        if self.background.flow.is_some() {
            self.notify("the flow is running: stop it first (Flow panel)", false);
            return;
        }
        if self.background.training.is_some() {
            if self
                .workspace
                .training
                .as_ref()
                .is_some_and(|t| t.status == LiveStatus::Paused)
            {
                self.toggle_pause();
            } else {
                self.notify("a training job is already running: stop it first", false);
            }
            return;
        }
        let Some(data) = &self.workspace.data else {
            self.notify("load a behaviour log first (Data panel)", true);
            return;
        };
        let name = format!("{}-{}-{}", config.model.name(), config.strategy.name(), time_stamp());
        let out = unused_run_folder(&self.workspace.runs_dir, &name);
        let req = PretrainRequest {
            data: data.path.clone(),
            out,
            config,
            resume: false,
            load: LoadOptions::cached(),
        };
        self.spawn_training(req);
    }

    /// Runs the whole flow (the engine's `flow::run_flow`, defaults of `lumlab flow`) on the
    /// loaded log into a new `flow-<time>` folder; its pre-training streams into Train.
    fn start_flow(&mut self) {
        if self.background.flow.is_some() {
            self.notify("the flow is already running", false);
            return;
        }
        if self.background.training.is_some() {
            self.notify("a training job is running: stop it first (Train panel)", false);
            return;
        }
        let Some(data) = &self.workspace.data else {
            self.notify("load a behaviour log first (Data panel)", true);
            return;
        };
        let out = unused_run_folder(&self.workspace.runs_dir, &format!("flow-{}", time_stamp()));
        let mut req = crate::flow::FlowRequest::new(&data.path, &out);
        req.pretrain = self.flow_settings.pretrain.clone();
        req.ctr = self.flow_settings.ctr.clone();
        let waker = self.waker.clone();
        let job = crate::job::spawn_job(
            "flow",
            move || waker(),
            move |sink, cancel| crate::flow::run_flow(&req, sink, cancel),
        );
        let flow = crate::gui::flow_job::FlowLive::new(out.clone());
        self.workspace.training = Some(LiveRun::new(flow.pretrain_dir()));
        self.workspace.flow = Some(flow);
        self.workspace.last_event = Some(format!("started the flow into {}", out.display()));
        self.background.flow = Some(job);
    }

    /// Captures attention of `run`'s checkpoint for `user` on a background thread.
    fn start_attention(&mut self, run: PathBuf, user: u32, queries: Vec<String>) {
        let Some(data) = &self.workspace.data else {
            self.notify("load a behaviour log first (Data panel)", true);
            return;
        };
        if (user as usize) >= data.dataset.n_users() {
            self.notify("pick a user in the Data panel first", true);
            return;
        }
        if self.background.attention.is_some() {
            self.notify("attention is being computed: wait for it to finish", false);
            return;
        }
        let req = AttentionRequest {
            run,
            data: data.path.clone(),
            user: data.dataset.users.name(user).to_string(),
            queries,
        };
        let cache = self.attention_model.clone();
        self.workspace.attention_error = None;
        let job = spawn_job("attention", self.waker.clone(), move |sink| {
            attention_job::compute(&req, &cache, &|f, what| sink.progress(f, what))
        });
        match job {
            Ok(job) => self.background.attention = Some(job),
            Err(e) => self.notify(format!("could not start the attention job: {e}"), true),
        }
    }

    /// Tokenizes the loaded data on a background thread (through the engine's cache).
    fn start_tokenizer(&mut self, config: TokenizerConfig) {
        let Some(data) = &self.workspace.data else {
            self.notify("load a behaviour log first (Data panel)", true);
            return;
        };
        if let Some(old) = self.background.tokenizer.take() {
            old.cancel();
        }
        let dataset = data.dataset.clone();
        let fingerprint = data.report.fingerprint.clone();
        let job = spawn_job("tokenize", self.waker.clone(), move |sink| {
            sink.progress(0.0, format!("tokenizing ({})", config.strategy.name()));
            let started = Instant::now();
            let (tokenized, from_cache) = if fingerprint.is_empty() {
                (
                    tokenize::tokenize(&dataset, &config).map_err(|e| e.to_string())?,
                    false,
                )
            } else {
                tokenize::tokenize_cached(
                    &dataset,
                    &config,
                    &fingerprint,
                    &crate::train::pretrain::token_cache_dir(),
                )
                .map_err(|e| e.to_string())?
            };
            sink.progress(0.9, "building the codebook tree");
            let tree = tokenized
                .codebook_tree(&dataset, TREE_EXAMPLES)
                .map(Arc::new);
            Ok(TokenizerRun {
                tokenized: Arc::new(tokenized),
                tree,
                from_cache,
                secs: started.elapsed().as_secs_f64(),
                dataset_key: Arc::as_ptr(&dataset) as usize,
            })
        });
        match job {
            Ok(job) => self.background.tokenizer = Some(job),
            Err(e) => self.notify(format!("could not start the tokenizer: {e}"), true),
        }
    }

    /// Continues a stopped or interrupted run from its checkpoint (its config.json and data).
    fn resume_run(&mut self, path: PathBuf) {
        if self.background.training.is_some() {
            self.notify("a training job is already running: stop it first", false);
            return;
        }
        let req = PretrainRequest {
            data: PathBuf::new(),
            out: path,
            config: PretrainConfig::default(),
            resume: true,
            load: LoadOptions::cached(),
        };
        self.spawn_training(req);
    }

    fn spawn_training(&mut self, req: PretrainRequest) {
        let waker = self.waker.clone();
        let out = req.out.clone();
        let job = crate::job::spawn_job(
            "pretrain",
            move || waker(),
            move |sink, cancel| run_pretrain(&req, sink, cancel),
        );
        self.workspace.training = Some(LiveRun::new(out.clone()));
        self.workspace.last_event = Some(format!("started pre-training into {}", out.display()));
        self.background.training = Some(job);
        self.shell.current = PanelId::Train;
    }

    /// The job whose training the Train panel shows: a pre-training job, or the flow.
    fn training_job(&self) -> Option<&crate::job::JobHandle> {
        self.background.training.as_ref().or(self.background.flow.as_ref())
    }

    /// Pauses the training job, or resumes it when paused.
    fn toggle_pause(&mut self) {
        let job = self.background.training.as_ref().or(self.background.flow.as_ref());
        if let (Some(job), Some(live)) = (job, self.workspace.training.as_mut()) {
            if live.status == LiveStatus::Paused {
                job.resume();
                live.status = LiveStatus::Running;
            } else {
                job.pause();
                live.status = LiveStatus::Paused;
            }
        }
    }

    fn start_scan(&mut self) {
        let dir = self.workspace.runs_dir.clone();
        match spawn_job("scan-runs", self.waker.clone(), move |_| {
            runs::scan_runs(&dir)
        }) {
            Ok(job) => self.background.scan = Some(job),
            Err(e) => self.notify(format!("could not scan runs: {e}"), true),
        }
    }

    /// Asks the renderer for a screenshot of this frame and saves the part under `rect`.
    fn export_plot(&mut self, ctx: &egui::Context, rect: egui::Rect, name: &str) {
        if self.background.plot_png.is_some() {
            return;
        }
        let path = unused_run_folder(&self.workspace.runs_dir, &format!("{name}-{}", time_stamp()))
            .with_extension("png");
        let (tx, rx) = mpsc::channel();
        let waker = self.waker.clone();
        let ppp = ctx.pixels_per_point();
        ctx.request_screenshot(move |image| {
            let _ = tx.send(crate::gui::png::save_region(&image, rect, ppp, &path).map(|()| path));
            waker();
        });
        self.background.plot_png = Some(rx);
    }

    fn start_export(&mut self) {
        let runs: Vec<RunInfo> = self.workspace.runs.clone();
        let out = self.workspace.runs_dir.join("runs_table.csv");
        let job = spawn_job("export-runs", self.waker.clone(), move |_| {
            let refs: Vec<&RunInfo> = runs.iter().collect();
            crate::util::atomic_write(&out, runs::runs_table_csv(&refs).as_bytes())
                .map_err(|e| format!("{}: {e}", out.display()))?;
            Ok(out)
        });
        match job {
            Ok(job) => self.background.export = Some(job),
            Err(e) => self.notify(format!("could not start the export: {e}"), true),
        }
    }

    fn open_file_dialog(&mut self) {
        if self.background.file_dialog.is_some() {
            return;
        }
        let (tx, rx) = mpsc::channel();
        let waker = self.waker.clone();
        // rfd blocks until the dialog closes, so it runs on its own thread.
        let spawned = std::thread::Builder::new()
            .name("file-dialog".into())
            .spawn(move || {
                let picked = rfd::FileDialog::new()
                    .set_title("Open a behaviour log")
                    .add_filter("behaviour logs", &["csv", "tsv", "txt", "dat", "jsonl"])
                    .add_filter("all files", &["*"])
                    .pick_file();
                let _ = tx.send(picked);
                waker();
            });
        match spawned {
            Ok(_) => self.background.file_dialog = Some(rx),
            Err(e) => self.notify(format!("could not open the file dialog: {e}"), true),
        }
    }

    /// Applies finished job results and refreshes job progress, within `DRAIN_BUDGET`.
    fn drain_jobs(&mut self, ctx: &egui::Context) {
        let deadline = Instant::now() + DRAIN_BUDGET;
        if let Some(rx) = &self.background.file_dialog {
            match rx.try_recv() {
                Ok(picked) => {
                    self.background.file_dialog = None;
                    if let Some(path) = picked {
                        self.shell.current = PanelId::Data;
                        self.apply(ctx, Command::LoadData(path));
                    }
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => self.background.file_dialog = None,
            }
        }
        if let Some(job) = &mut self.background.loader
            && let Some(result) = job.drain(deadline)
        {
            let elapsed = job.elapsed();
            self.background.loader = None;
            match result {
                Ok(LoadOutcome::Loaded(data)) => {
                    let event = format!(
                        "loaded {}: {} users, {} behaviours in {:.1} s",
                        data.file_name(),
                        format::count(data.stats.users),
                        format::count(data.stats.behaviors),
                        elapsed.as_secs_f32()
                    );
                    self.set_data(*data);
                    self.workspace.last_event = Some(event);
                }
                Ok(LoadOutcome::NeedsMapping(preview)) => {
                    self.workspace.last_event =
                        Some("header not recognised: map the columns".into());
                    self.workspace.mapping = Some(preview);
                    self.shell.current = PanelId::Data;
                }
                Err(e) => {
                    self.workspace.data_error = Some(e.clone());
                    self.notify(format!("loading failed: {e}"), true);
                }
            }
        }
        if let Some(job) = &mut self.background.scan
            && let Some(result) = job.drain(deadline)
        {
            self.background.scan = None;
            match result {
                Ok(found) => {
                    self.workspace.runs = found;
                    self.workspace.runs_scanned = true;
                }
                Err(e) => {
                    self.workspace.runs_scanned = true;
                    self.notify(format!("scanning runs failed: {e}"), true);
                }
            }
        }
        if let Some(job) = &mut self.background.tokenizer
            && let Some(result) = job.drain(deadline)
        {
            self.background.tokenizer = None;
            match result {
                Ok(run) => {
                    let s = &run.tokenized.stats;
                    let how = if run.from_cache {
                        "from the cache".to_string()
                    } else {
                        format!("in {:.1} s", run.secs)
                    };
                    self.workspace.last_event = Some(format!(
                        "tokenized ({}): {} sub-tokens, {how}",
                        s.strategy.name(),
                        format::count(s.vocab_size as u64)
                    ));
                    self.workspace.tokens = Some(run);
                }
                Err(e) => self.notify(format!("tokenizing failed: {e}"), true),
            }
        }
        if let Some(job) = &mut self.background.attention
            && let Some(result) = job.drain(deadline)
        {
            self.background.attention = None;
            match result {
                Ok(view) => {
                    let m = &view.map;
                    self.workspace.last_event = Some(format!(
                        "attention of {}: {} tokens, {} layers × {} heads",
                        m.user_name,
                        m.len(),
                        m.n_layers,
                        m.n_heads
                    ));
                    self.workspace.attention = Some(view);
                }
                Err(e) => {
                    self.workspace.attention_error = Some(e.clone());
                    self.notify(format!("attention failed: {e}"), true);
                }
            }
        }
        if let Some(rx) = &self.background.plot_png {
            match rx.try_recv() {
                Ok(Ok(path)) => {
                    self.background.plot_png = None;
                    self.notify(format!("wrote {}", path.display()), false);
                }
                Ok(Err(e)) => {
                    self.background.plot_png = None;
                    self.notify(format!("plot export failed: {e}"), true);
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.background.plot_png = None;
                    self.notify("plot export failed: the renderer gave no screenshot", true);
                }
            }
        }
        self.background.ranking.drain(&mut self.workspace, deadline);
        if let Some(job) = &mut self.background.export
            && let Some(result) = job.drain(deadline)
        {
            self.background.export = None;
            match result {
                Ok(path) => self.notify(format!("wrote {}", path.display()), false),
                Err(e) => self.notify(format!("export failed: {e}"), true),
            }
        }
        if let Some(job) = &mut self.background.training {
            let budget = deadline.saturating_duration_since(Instant::now());
            let events = job.try_drain(budget);
            let mut finished = false;
            for event in &events {
                if let Some(live) = &mut self.workspace.training {
                    let paused = live.status == LiveStatus::Paused;
                    live.apply(event);
                    // A paused job may still report the step it was in; it stays paused.
                    if paused && live.status == LiveStatus::Running {
                        live.status = LiveStatus::Paused;
                    }
                }
                if !matches!(event, JobEvent::Step { .. }) {
                    self.workspace.last_event = Some(event.describe());
                }
                finished |= event.is_finished();
            }
            if finished {
                self.background.training = None;
                if let Some(live) = &self.workspace.training
                    && let LiveStatus::Failed(e) = &live.status
                {
                    let e = e.clone();
                    self.notify(format!("pre-training failed: {e}"), true);
                }
                self.start_scan();
            }
        }
        self.drain_flow(deadline);
        self.workspace.refresh_stages();
        let view = |j: &dyn JobLike| JobView {
            name: j.job_name().to_string(),
            progress: j.job_progress(),
            eta_secs: j.job_eta(),
            message: j.job_message().to_string(),
        };
        let mut jobs = Vec::new();
        self.workspace.loading = self.background.loader.as_ref().map(|j| view(j));
        jobs.extend(self.workspace.loading.clone());
        if let Some(j) = &self.background.export {
            jobs.push(view(j));
        }
        if let Some(j) = &self.background.tokenizer {
            jobs.push(view(j));
        }
        if let Some(j) = &self.background.attention {
            jobs.push(view(j));
        }
        if let Some(flow) = self.workspace.flow.as_ref().filter(|f| f.is_active()) {
            jobs.insert(
                0,
                JobView {
                    name: "flow".into(),
                    progress: flow.overall(),
                    eta_secs: None,
                    message: flow.phase.clone(),
                },
            );
        }
        jobs.extend(self.background.ranking.views());
        if let Some(live) = self.workspace.training.as_ref().filter(|t| t.is_active()) {
            let view = JobView {
                name: live.label.clone(),
                progress: live.fraction(),
                eta_secs: live.eta_secs(),
                message: live.status_line(),
            };
            jobs.insert(0, view);
        }
        self.workspace.jobs = jobs;
    }

    /// Applies the flow job's events: stage progress, and the pre-training stage's
    /// steps into the Train panel's live run. Runs are rescanned at every stage
    /// boundary so finished stages show their results.
    fn drain_flow(&mut self, deadline: Instant) {
        let Some(job) = &mut self.background.flow else { return };
        let budget = deadline.saturating_duration_since(Instant::now());
        let events = job.try_drain(budget);
        let mut rescan = false;
        let mut ended = None;
        for event in &events {
            let Some(flow) = &mut self.workspace.flow else { break };
            flow.apply(event);
            let in_pretrain = flow.stage == Some(0);
            if let Some(live) = &mut self.workspace.training {
                if in_pretrain && !event.is_finished() {
                    live.apply(event);
                } else if matches!(event, JobEvent::Stage { .. }) && live.is_active() {
                    // Pre-training is over (or was reused): its run is on disk now.
                    live.status = LiveStatus::Finished;
                    live.phase = "finished (the flow goes on)".into();
                }
            }
            match event {
                JobEvent::Stage { .. } => rescan = true,
                JobEvent::Finished(result) => ended = Some(result.clone()),
                JobEvent::Step { .. } => {}
                other => self.workspace.last_event = Some(other.describe()),
            }
        }
        if let Some(result) = ended {
            self.background.flow = None;
            if let Some(live) = self.workspace.training.as_mut().filter(|l| l.is_active()) {
                live.status = LiveStatus::Stopped;
            }
            match result {
                Ok(report) => {
                    let auc = |k: &str| report.pointer("/ctr/models").and_then(|m| {
                        m.as_array()?.iter().find(|x| x["name"] == k)?.pointer("/report/auc")?.as_f64()
                    });
                    let text = match (auc("baseline"), auc("+LUM")) {
                        (Some(b), Some(l)) => format!("the flow finished: AUC {l:.4} with LUM vs {b:.4} baseline"),
                        _ => "the flow finished".to_string(),
                    };
                    self.notify(text, false);
                }
                Err(e) if e == crate::job::STOPPED_MESSAGE => self.notify("the flow was stopped", false),
                Err(e) => self.notify(format!("the flow failed: {e}"), true),
            }
            rescan = true;
        }
        if rescan {
            self.start_scan();
        }
    }

    /// Keyboard shortcuts (ignored while a text field has focus).
    fn shortcuts(&mut self, ctx: &egui::Context) {
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        use egui::{Key, Modifiers};
        let mut cmds = Vec::new();
        ctx.input_mut(|i| {
            for (n, id) in PanelId::ALL.iter().enumerate() {
                let key = Key::from_name(&(n + 1).to_string());
                if key.is_some_and(|k| i.consume_key(Modifiers::NONE, k)) {
                    cmds.push(Command::ShowPanel(*id));
                }
            }
            if i.consume_key(Modifiers::NONE, Key::F1)
                || i.consume_key(Modifiers::SHIFT, Key::Questionmark)
                || i.consume_key(Modifiers::NONE, Key::Questionmark)
            {
                cmds.push(Command::ToggleHelp);
            }
            if i.consume_key(Modifiers::NONE, Key::Escape) && self.shell.help_open {
                cmds.push(Command::ToggleHelp);
            }
            if i.consume_key(Modifiers::COMMAND, Key::O) {
                cmds.push(Command::OpenFileDialog);
            }
            if i.consume_key(Modifiers::NONE, Key::T) {
                cmds.push(Command::ToggleTheme);
            }
            if i.consume_key(Modifiers::NONE, Key::F5) {
                cmds.push(Command::RefreshRuns);
            }
        });
        self.commands.extend(cmds);
    }
}

/// The time now as `20251125-123456` (UTC), so folder names sort by time.
fn time_stamp() -> String {
    crate::run::clock::format_utc(crate::run::clock::now_unix())
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'T')
        .map(|c| if c == 'T' { '-' } else { c })
        .collect()
}

/// `dir/name`, or `dir/name-2`, `-3`, ... when that folder exists (two runs in one second).
fn unused_run_folder(dir: &std::path::Path, name: &str) -> PathBuf {
    let mut out = dir.join(name);
    let mut n = 2;
    while out.exists() {
        out = dir.join(format!("{name}-{n}"));
        n += 1;
    }
    out
}

/// What the job chips need from any handle, whatever its result type.
trait JobLike {
    fn job_name(&self) -> &str;
    fn job_progress(&self) -> f32;
    fn job_eta(&self) -> Option<f64>;
    fn job_message(&self) -> &str;
}

impl<T> JobLike for JobHandle<T> {
    fn job_name(&self) -> &str {
        self.name()
    }
    fn job_progress(&self) -> f32 {
        self.progress()
    }
    fn job_eta(&self) -> Option<f64> {
        self.eta().map(|d| d.as_secs_f64())
    }
    fn job_message(&self) -> &str {
        self.message()
    }
}

impl eframe::App for LumApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.drain_jobs(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        let ctx = ui.ctx().clone();
        self.workspace.refresh_stages();
        self.shortcuts(&ctx);
        let dropped: Option<PathBuf> =
            ctx.input(|i| i.raw.dropped_files.first().map(|f| f.path().to_path_buf()));
        if let Some(path) = dropped {
            self.commands.push(Command::ShowPanel(PanelId::Data));
            self.commands.push(Command::LoadData(path));
        }
        let missing: Vec<Option<&'static str>> = self
            .panels
            .iter()
            .map(|p| p.missing(&self.workspace))
            .collect();
        chrome::top_bar_ui(ui, &self.workspace, &self.shell, &mut self.commands);
        chrome::status_bar_ui(ui, &self.workspace);
        chrome::nav_ui(ui, self.shell.current, &missing, &mut self.commands);
        let current = self.shell.current;
        egui::CentralPanel::no_frame().show(ui, |ui| {
            if let Some(notice) = &self.workspace.notice
                && chrome::notice_ui(ui, notice)
            {
                self.workspace.notice = None;
            }
            if let Some(panel) = self.panels.iter_mut().find(|p| p.id() == current) {
                let mut cx = PanelCx {
                    workspace: &self.workspace,
                    commands: &mut self.commands,
                };
                panel.ui(ui, &mut cx);
            }
        });
        if self.shell.help_open && chrome::help_ui(&ctx) {
            self.shell.help_open = false;
        }
        if self.shell.jobs_open
            && chrome::jobs_popover_ui(&ctx, &self.workspace, &mut self.commands)
        {
            self.shell.jobs_open = false;
        }
        chrome::drop_overlay_ui(&ctx);
        for command in std::mem::take(&mut self.commands) {
            self.apply(&ctx, command);
        }
        if self.is_busy() {
            // Keep progress moving even if a worker reports rarely.
            ctx.request_repaint_after(Duration::from_millis(100));
        }
    }
}
