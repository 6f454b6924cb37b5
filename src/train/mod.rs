//! The one training loop for sequence models (LUM, SASRec baseline, popularity),
//! its optimiser and schedule, the leave-one-out split and retrieval evaluation.
//! The CLI and the GUI both drive [`pretrain::run_pretrain`] and consume its events.

pub mod config;
pub mod device;
pub mod evaluate;
pub mod optim;
pub mod pretrain;
pub mod split;

pub use config::{ModelKind, PretrainConfig};
pub use pretrain::{PretrainRequest, run_pretrain};
