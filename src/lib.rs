//! LumLab: a workbench for the pre-train -> post-train -> CTR flow of large user models.
//!
//! The engine (data -> tokenize -> model -> train -> eval, plus jobs and run
//! folders) never names egui; the GUI sits behind the default `gui` feature.

pub mod cli;
pub mod data;
pub mod eval;
#[cfg(feature = "gui")]
pub mod gui;
pub mod job;
pub mod model;
pub mod posttrain;
pub mod run;
pub mod tokenize;
pub mod train;
pub mod util;
