//! Errors of the data layer. Every message names the file (and the line when
//! there is one) so a user can go straight to the problem.

use std::path::PathBuf;

/// Why a log could not be loaded (fatal), or why one row was rejected.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: is a directory, expected a behaviour log file", path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: file is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{}: unknown format ({reason}); pass --format native|taobao|movielens|sasrec|alimama", path.display())]
    UnknownFormat { path: PathBuf, reason: String },
    #[error("{}: missing required column `{column}` (header has: {found})", path.display())]
    MissingColumn { path: PathBuf, column: String, found: String },
    #[error("{}:{line}: {reason}", path.display())]
    Row { path: PathBuf, line: u64, reason: String },
    #[error("{}: no valid behaviours ({skipped} rows skipped; first: {first})", path.display())]
    NoBehaviours { path: PathBuf, skipped: u64, first: String },
    #[error("{}: {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

impl DataError {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        DataError::Io { path: path.into(), source }
    }
}
