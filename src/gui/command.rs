//! Typed actions panels ask for. A panel pushes them into `PanelCx::commands`;
//! app.rs applies them once per frame, so panels never mutate engine state.

use std::path::PathBuf;

use crate::gui::mapping::ColumnMapping;
use crate::gui::workspace::PanelId;
use crate::tokenize::TokenizerConfig;
use crate::train::PretrainConfig;

/// Something the user asked for.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    ShowPanel(PanelId),
    /// Open the native file dialog (on a helper thread) to pick a log.
    OpenFileDialog,
    /// Load a log, detecting its format; asks for a mapping when the header is unknown.
    LoadData(PathBuf),
    /// Load a log with an explicit column mapping.
    LoadMapped {
        path: PathBuf,
        mapping: ColumnMapping,
    },
    /// Leave the column-mapping step without loading.
    CancelMapping,
    /// Stop the data-loading job.
    CancelLoading,
    SelectUser(Option<u32>),
    /// Add or remove a run from the selection.
    ToggleRun(PathBuf),
    RefreshRuns,
    /// Write the runs table as CSV into the runs folder.
    ExportRunsCsv,
    /// Save the screen region `rect` (a plot, in points) as `<name>-<time>.png` in the runs folder.
    ExportPlotPng { rect: egui::Rect, name: String },
    ToggleTheme,
    ToggleHelp,
    /// Show or hide the jobs popover.
    ToggleJobs,
    /// Run pre-train → post-train → CTR on the loaded log into a new flow folder.
    RunWholeFlow,
    /// Stop the running flow at its next check.
    StopFlow,
    /// Use these CTR settings for "Run the whole flow".
    SetFlowCtr(crate::ctr::CtrConfig),
    /// Tokenize the loaded log (a background job, cached by data fingerprint and config).
    RunTokenizer(TokenizerConfig),
    /// Pre-train on the loaded log into a new run folder (or resume a paused job).
    StartTraining(PretrainConfig),
    /// Pause the running training job, or resume it when paused.
    PauseTraining,
    StopTraining,
    /// Continue a stopped or interrupted pre-training run from its checkpoint.
    ResumeRun(PathBuf),
    /// Capture the attention of `run`'s checkpoint over `user`'s sequence with `queries` appended.
    ComputeAttention {
        run: PathBuf,
        user: u32,
        queries: Vec<String>,
    },
    /// Read a CTR run's per-page rankings for the Ranking panel (a background job).
    LoadRanking(PathBuf),
    /// Project one user's interest vectors with item embeddings (a background job).
    ComputeInterestMap(crate::gui::ranking_data::MapRequest),
}
