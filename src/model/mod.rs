//! Sequence models on candle: the LUM (token encoder + causal Transformer + InfoNCE, with
//! packing and group query), the SASRec-style baseline, the shared layers and fused CPU
//! kernels they run on, and the `bench` preset that times one pre-training step.
//!
//! Model code returns `candle_core::Result`; input problems are [`ModelError`]s wrapped in
//! a candle error so callers get the message.

pub mod attention;
pub mod bench;
pub mod init;
pub mod kernels;
pub mod layers;
pub mod linear;
pub mod loss;
pub mod lum;
pub mod mask;
pub mod sasrec;

pub use bench::{BenchResult, run_bench};
pub use init::seeded_var_builder;
pub use lum::{Lum, LumBatch, LumConfig, Pooling, QueryGroup, RaggedIds, SeqSpan, batch_from_sequences};
pub use sasrec::{SasRec, SasRecBatch, SasRecConfig};

/// What is wrong with a model's inputs or settings.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A hyper-parameter the model cannot be built with.
    #[error("invalid model setting {field}: {reason}")]
    Config { field: String, reason: String },
    /// Malformed sub-token lists from the tokenizer.
    #[error("sub-token lists for {what} are malformed: {reason}")]
    SubTokens { what: &'static str, reason: String },
    /// A behaviour sequence whose condition and item lists differ in length.
    #[error("sequence {index}: {conds} conditions but {items} items")]
    RaggedSequence { index: usize, conds: usize, items: usize },
    /// More behaviours in a row than the position table covers.
    #[error("a row holds {behaviors} behaviours but the model was built for at most {max}")]
    TooLong { behaviors: usize, max: usize },
}
