//! LumLab: a workbench for the pre-train -> post-train -> CTR flow of large user models.
//!
//! The engine (data -> tokenize -> model -> train -> eval, plus jobs and run
//! folders) never names egui; the GUI sits behind the default `gui` feature.

pub mod ctr;
pub mod data;
pub mod eval;
pub mod job;
pub mod run;
pub mod util;
pub mod cli;
