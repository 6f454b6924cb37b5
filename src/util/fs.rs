//! Crash-safe file writes: write a sibling temp file, fsync, then rename over the target.
//!
//! A reader therefore sees either the old file or the complete new one, never a
//! half-written file, even if the process is killed or the disk fills mid-write.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The temp path used while writing `path` (same directory, so rename is atomic).
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// Writes `bytes` to `path` atomically (temp file + fsync + rename).
pub fn atomic_write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    atomic_write_with(path, |w| w.write_all(bytes))
}

/// Streams into `path` atomically: `fill` writes into a buffered temp file; on any
/// error the temp file is removed and the old `path` is left untouched.
pub fn atomic_write_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_renamed(path, true, fill)
}

/// [`atomic_write_with`] without waiting for the disk: for files whose readers verify a
/// checksum (caches), where a crash can leave at worst a file that fails its check and
/// is rebuilt, never one that is trusted. A killed process still leaves no partial file.
pub fn checked_write_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    write_renamed(path, false, fill)
}

/// Writes a temp file beside `path` (synced to disk when `sync`), then renames it over `path`.
fn write_renamed(
    path: &Path,
    sync: bool,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let file = std::fs::File::create(&tmp)?;
        let mut w = std::io::BufWriter::with_capacity(1 << 20, file);
        fill(&mut w)?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        if sync {
            file.sync_all()?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_write_keeps_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.txt");
        atomic_write(&p, b"old").unwrap();
        let err = atomic_write_with(&p, |w| {
            w.write_all(b"partial")?;
            Err(std::io::Error::other("disk full"))
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temp file left behind");
        // The unsynced variant behaves the same way for a process (only a crash differs).
        assert!(checked_write_with(&p, |_| Err(std::io::Error::other("disk full"))).is_err());
        assert_eq!(std::fs::read(&p).unwrap(), b"old");
        checked_write_with(&p, |w| w.write_all(b"new")).unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "temp file left behind");
    }
}
