//! LumLab: a workbench for the pre-train -> post-train -> CTR flow of large user models.
//!
//! The engine (data -> tokenize -> model -> train -> eval, plus jobs and run
//! folders) never names egui; the GUI sits behind the default `gui` feature.

pub mod data;
#[cfg(feature = "gui")]
pub mod gui;
pub mod util;
