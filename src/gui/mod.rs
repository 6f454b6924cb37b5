//! The desktop workbench (egui/eframe on wgpu). Panels read the engine state in
//! a [`Workspace`] and push typed [`Command`]s; [`LumApp`] applies them and runs
//! long work on background threads. Also headless rendering of every panel
//! ([`render_panels`]) and the real window ([`run_native`]).

pub mod app;
pub mod attention_job;
pub mod chrome;
pub mod command;
pub mod flow_job;
pub mod format;
pub mod headless;
pub mod jobs;
pub mod loader;
pub mod mapping;
pub mod native;
pub mod panels;
pub mod png;
pub mod ranking_data;
pub mod ranking_jobs;
pub mod runs;
pub mod theme;
pub mod training;
pub mod widgets;
pub mod workspace;

pub use app::{AppOptions, LumApp};
pub use command::Command;
pub use headless::{RenderOptions, render_panels, render_panels_with};
pub use native::{GuiOptions, run_native};
pub use workspace::{LoadedData, PanelId, Workspace};
