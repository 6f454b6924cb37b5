//! Errors of the tokenizers: each names what the user must fix.

/// Why a tokenizer run failed.
#[derive(Debug, thiserror::Error)]
pub enum TokenizeError {
    /// A bad row in a user-supplied item-vector file (`line` is 1-based; for `.npy`, the row + 1).
    #[error("{path}:{line}: {reason}")]
    VectorFile {
        path: String,
        line: u64,
        reason: String,
    },
    /// The item-vector file as a whole is unusable (empty, unknown layout).
    #[error("{path}: {reason}")]
    VectorFileFormat { path: String, reason: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// `semantic` found no item with content to cluster.
    #[error(
        "semantic ids need item content: no item has a category, brand, price or title in the items table \
         (load an items table or pass an item-vector file)"
    )]
    NoContent,
    #[error("invalid tokenizer config: {0}")]
    Config(String),
}
