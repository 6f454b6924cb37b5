//! The engine state panels read: the loaded dataset with its load report and
//! figures, the pending column mapping, run folders, job progress, the shared
//! selection and the last notice. Panels get it by shared reference; only
//! app.rs changes it, when it applies [`crate::gui::Command`]s and job results.

use std::path::PathBuf;
use std::sync::Arc;

use crate::data::stats::Stats;
use crate::data::{Dataset, LoadReport};
use crate::gui::attention_job::AttentionView;
use crate::gui::flow_job::FlowLive;
use crate::gui::format;
use crate::gui::mapping::HeaderPreview;
use crate::gui::runs::RunInfo;
use crate::gui::training::{LiveRun, LiveStatus};
use crate::tokenize::Tokenized;
use crate::tokenize::hierarchy::CodebookTree;

/// The panels, in flow order (keys 1-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PanelId {
    Flow,
    Data,
    Tokens,
    Train,
    Attention,
    Ranking,
    Runs,
}

impl PanelId {
    /// Every panel in navigation order.
    pub const ALL: [PanelId; 7] = [
        PanelId::Flow,
        PanelId::Data,
        PanelId::Tokens,
        PanelId::Train,
        PanelId::Attention,
        PanelId::Ranking,
        PanelId::Runs,
    ];

    /// The navigation label.
    pub fn title(self) -> &'static str {
        match self {
            PanelId::Flow => "Flow",
            PanelId::Data => "Data",
            PanelId::Tokens => "Tokens",
            PanelId::Train => "Train",
            PanelId::Attention => "Attention",
            PanelId::Ranking => "Ranking",
            PanelId::Runs => "Runs",
        }
    }

    /// File stem of the panel's screenshot (`flow` -> `flow.png`).
    pub fn file_stem(self) -> &'static str {
        match self {
            PanelId::Flow => "flow",
            PanelId::Data => "data",
            PanelId::Tokens => "tokens",
            PanelId::Train => "train",
            PanelId::Attention => "attention",
            PanelId::Ranking => "ranking",
            PanelId::Runs => "runs",
        }
    }

    /// 1-based position, also the keyboard shortcut.
    pub fn number(self) -> usize {
        PanelId::ALL
            .iter()
            .position(|p| *p == self)
            .map_or(0, |i| i + 1)
    }
}

/// A loaded behaviour log with what the panels show about it.
#[derive(Clone, Debug)]
pub struct LoadedData {
    pub path: PathBuf,
    pub dataset: Arc<Dataset>,
    pub report: LoadReport,
    pub stats: Stats,
}

impl LoadedData {
    /// The file name (or the path when it has none).
    pub fn file_name(&self) -> String {
        self.path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }

    /// `behaviors.csv · 2,000 users · 9,812 items · 412k behaviours`.
    pub fn chip_text(&self) -> String {
        let s = &self.stats;
        format!(
            "{} · {} users · {} items · {} behaviours",
            self.file_name(),
            format::count(s.users),
            format::count(s.items),
            format::compact(s.behaviors)
        )
    }
}

/// A finished tokenizer run over the loaded data.
#[derive(Clone, Debug)]
pub struct TokenizerRun {
    pub tokenized: Arc<Tokenized>,
    /// The semantic codebook tree (None for the id and attribute strategies).
    pub tree: Option<Arc<CodebookTree>>,
    pub from_cache: bool,
    pub secs: f64,
    /// The dataset it was computed on (an `Arc` address), so a reload invalidates it.
    pub dataset_key: usize,
}

/// Progress of a running job, as the bars and chips show it.
#[derive(Clone, Debug, PartialEq)]
pub struct JobView {
    pub name: String,
    pub progress: f32,
    pub eta_secs: Option<f64>,
    pub message: String,
}

/// The compute device shown in the top bar.
#[derive(Clone, Debug, PartialEq)]
pub struct DeviceInfo {
    pub name: String,
    pub threads: usize,
}

impl DeviceInfo {
    /// The CPU with the number of threads this process may use.
    pub fn cpu() -> Self {
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1);
        DeviceInfo {
            name: "CPU".into(),
            threads,
        }
    }
    /// `CPU · 2 threads`.
    pub fn label(&self) -> String {
        let s = if self.threads == 1 { "" } else { "s" };
        format!("{} · {} thread{s}", self.name, self.threads)
    }
}

/// Where a stage of the flow stands.
#[derive(Clone, Debug, PartialEq)]
pub enum StageStatus {
    NotRun,
    /// Part of a running flow, waiting for an earlier stage.
    Waiting,
    Running { fraction: f32 },
    Done { headline: String },
    Failed { error: String },
}

/// A one-line message for the user (an action that cannot run yet, an error, a finished export).
#[derive(Clone, Debug, PartialEq)]
pub struct Notice {
    pub text: String,
    pub is_error: bool,
}

/// The state the panels read.
#[derive(Debug)]
pub struct Workspace {
    pub data: Option<LoadedData>,
    /// A file whose header needs the column-mapping step.
    pub mapping: Option<HeaderPreview>,
    /// The last loading error.
    pub data_error: Option<String>,
    /// Folder holding run folders.
    pub runs_dir: PathBuf,
    pub runs: Vec<RunInfo>,
    /// Whether `runs` reflects a finished scan of `runs_dir`.
    pub runs_scanned: bool,
    /// Runs picked in the Runs panel (their curves overlay in Train and Runs).
    pub selected_runs: Vec<PathBuf>,
    /// The user shown in Data, Tokens and Attention.
    pub selected_user: Option<u32>,
    pub device: DeviceInfo,
    /// Running jobs, refreshed every frame.
    pub jobs: Vec<JobView>,
    /// Progress of the data-loading job, if one runs.
    pub loading: Option<JobView>,
    pub notice: Option<Notice>,
    pub last_event: Option<String>,
    /// Pre-train, post-train, CTR, as the Flow panel shows them; refreshed every
    /// frame by [`Workspace::refresh_stages`].
    pub stages: [StageStatus; 3],
    /// The flow job of this session (running, or the last one).
    pub flow: Option<FlowLive>,
    /// The last attention map computed (Attention panel).
    pub attention: Option<AttentionView>,
    /// Why the last attention request failed.
    pub attention_error: Option<String>,
    /// The training job of this session (running, or the last one).
    pub training: Option<LiveRun>,
    /// The last tokenizer run on the loaded data.
    pub tokens: Option<TokenizerRun>,
    /// The Ranking panel's CTR run and interest map.
    pub ranking: crate::gui::ranking_data::RankingState,
}

impl Workspace {
    /// An empty workspace whose runs live in `runs_dir`.
    pub fn new(runs_dir: PathBuf) -> Self {
        Workspace {
            data: None,
            mapping: None,
            data_error: None,
            runs_dir,
            runs: Vec::new(),
            runs_scanned: false,
            selected_runs: Vec::new(),
            selected_user: None,
            device: DeviceInfo::cpu(),
            jobs: Vec::new(),
            loading: None,
            notice: None,
            last_event: None,
            stages: [
                StageStatus::NotRun,
                StageStatus::NotRun,
                StageStatus::NotRun,
            ],
            training: None,
            tokens: None,
            flow: None,
            attention: None,
            attention_error: None,
            ranking: Default::default(),
        }
    }

    /// Recomputes [`Workspace::stages`] from the flow job, the training job and the runs on disk.
    pub fn refresh_stages(&mut self) {
        let from_flow = |i: usize| self.flow.as_ref().and_then(|f| f.status(i));
        self.stages = [
            from_flow(0).unwrap_or_else(|| self.pretrain_stage()),
            from_flow(1).unwrap_or_else(|| self.posttrain_stage()),
            from_flow(2).unwrap_or_else(|| self.ctr_stage()),
        ];
    }

    /// The newest pre-training run that post-training has written into.
    pub fn latest_posttrained(&self) -> Option<&RunInfo> {
        self.runs.iter().find(|r| r.posttrain.is_some())
    }

    /// The newest finished CTR run.
    pub fn latest_ctr_run(&self) -> Option<&RunInfo> {
        self.runs
            .iter()
            .find(|r| r.summary.kind == "ctr" && r.summary.status == "finished")
    }

    /// Post-training as the runs on disk show it.
    pub fn posttrain_stage(&self) -> StageStatus {
        match self.latest_posttrained() {
            Some(run) => {
                let Some(p) = &run.posttrain else {
                    return StageStatus::NotRun;
                };
                let speedup = p
                    .speedup
                    .map(|s| format!(" · group query {s:.1}× faster"))
                    .unwrap_or_default();
                StageStatus::Done {
                    headline: format!("{} (user, query) pairs{speedup}", format::count(p.keys)),
                }
            }
            None => StageStatus::NotRun,
        }
    }

    /// The CTR stage as the runs on disk show it: +LUM vs baseline AUC.
    pub fn ctr_stage(&self) -> StageStatus {
        let Some(run) = self.latest_ctr_run() else {
            return StageStatus::NotRun;
        };
        let find = |name: &str| run.summary.headline.iter().find(|m| m.name == name).map(|m| m.value);
        let headline = match (find("baseline AUC"), find("+LUM AUC")) {
            (Some(b), Some(l)) => format!("AUC {l:.4} +LUM vs {b:.4} baseline"),
            (Some(b), None) => format!("baseline AUC {b:.4}"),
            _ => run.name.clone(),
        };
        StageStatus::Done { headline }
    }

    /// The newest finished LUM pre-training run on disk (baselines do not count).
    pub fn latest_lum_run(&self) -> Option<&RunInfo> {
        self.runs.iter().find(|r| {
            matches!(r.summary.kind.as_str(), "pretrain:lum" | "pretrain")
                && r.summary.status == "finished"
        })
    }

    /// The tokenizer run, if it belongs to the loaded dataset.
    pub fn tokens_for_data(&self) -> Option<&TokenizerRun> {
        let key = self
            .data
            .as_ref()
            .map(|d| Arc::as_ptr(&d.dataset) as usize)?;
        self.tokens.as_ref().filter(|t| t.dataset_key == key)
    }

    /// Where pre-training stands: this session's job, else the newest finished
    /// pre-training run on disk with its headline metric.
    pub fn pretrain_stage(&self) -> StageStatus {
        if let Some(live) = &self.training {
            match &live.status {
                LiveStatus::Preparing | LiveStatus::Running | LiveStatus::Paused => {
                    return StageStatus::Running {
                        fraction: live.fraction(),
                    };
                }
                LiveStatus::Failed(e) => return StageStatus::Failed { error: e.clone() },
                LiveStatus::Finished | LiveStatus::Stopped => {}
            }
        }
        let finished = self.latest_lum_run();
        match finished {
            Some(run) => {
                let headline = run
                    .summary
                    .headline
                    .iter()
                    .find(|m| m.name == "NDCG@10")
                    .map(|m| {
                        format!(
                            "NDCG@10 {:.3} ({})",
                            m.value,
                            m.protocol.split(',').next().unwrap_or("")
                        )
                    })
                    .unwrap_or_else(|| "finished".into());
                StageStatus::Done {
                    headline: format!("{} · {headline}", run.name),
                }
            }
            None => StageStatus::NotRun,
        }
    }

    /// The dataset, if one is loaded.
    pub fn dataset(&self) -> Option<&Dataset> {
        self.data.as_ref().map(|d| d.dataset.as_ref())
    }

    /// Runs that hold a checkpoint (the ones Attention and post-training can use).
    pub fn trained_runs(&self) -> impl Iterator<Item = &RunInfo> {
        self.runs.iter().filter(|r| r.has_checkpoint)
    }

    /// Whether `run` is among the selected runs.
    pub fn is_run_selected(&self, run: &RunInfo) -> bool {
        self.selected_runs.contains(&run.path)
    }
}
