//! Run folders: where one training or evaluation run keeps everything it
//! produces, so runs can be reopened, compared and resumed.
//!
//! ```text
//! RUN/
//!   config.json              the run's config, verbatim (reusable with --config)
//!   run.json                 LumLab's own metadata: kind, created time, status, pid
//!   metrics.jsonl            one JSON object per line, appended
//!   events.log               "<UTC time> <text>" lines, appended
//!   checkpoint.safetensors   latest weights  (+ optimizer.safetensors)
//!   checkpoint_best.safetensors  best weights by the policy's validation metric
//!   report.json              final results
//! ```
//!
//! JSON files are replaced atomically (temp file + rename), so a killed
//! process leaves the old or the new file, never half of one. Appended files
//! can end in a torn line after a kill: readers ignore an unterminated last
//! line, and the first append of a session cuts it away. Checkpoint bytes are
//! written by the model code with `util::atomic_write`; this module only names
//! the paths and decides nothing about when ([`CheckpointPolicy`] does).

pub mod clock;
pub mod list;
pub mod policy;

pub use list::{RunSummary, list_runs};
pub use policy::{CheckpointPolicy, Decision};

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The run's configuration.
pub const CONFIG_FILE: &str = "config.json";
/// LumLab's metadata about the run.
pub const META_FILE: &str = "run.json";
/// Appended metric rows.
pub const METRICS_FILE: &str = "metrics.jsonl";
/// Appended human-readable events.
pub const EVENTS_FILE: &str = "events.log";
/// Latest model weights.
pub const CHECKPOINT_FILE: &str = "checkpoint.safetensors";
/// Optimiser state matching [`CHECKPOINT_FILE`].
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// Best model weights by the checkpoint policy's metric.
pub const BEST_CHECKPOINT_FILE: &str = "checkpoint_best.safetensors";
/// Final results.
pub const REPORT_FILE: &str = "report.json";

/// Every file a run owns; replacing a run removes exactly these.
const RUN_FILES: [&str; 8] = [
    CONFIG_FILE,
    META_FILE,
    METRICS_FILE,
    EVENTS_FILE,
    CHECKPOINT_FILE,
    OPTIMIZER_FILE,
    BEST_CHECKPOINT_FILE,
    REPORT_FILE,
];

/// Version of the `run.json` layout.
const META_FORMAT: u32 = 1;
/// Chunk size when scanning a file backwards for its last newline.
const TAIL_CHUNK: u64 = 64 * 1024;

/// What went wrong with a run folder; each message names the path.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}: not a run folder (no {CONFIG_FILE})", .path.display())]
    NotARun { path: PathBuf },
    #[error("{} is not empty and is not a run folder; choose a new or empty folder", .path.display())]
    NotEmpty { path: PathBuf },
    #[error("{} already holds a run; choose another folder or replace it explicitly", .path.display())]
    RunExists { path: PathBuf },
    #[error("{} is a file, not a folder", .path.display())]
    NotADirectory { path: PathBuf },
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: invalid JSON: {source}", .path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{}:{line}: invalid metrics row: {reason}", .path.display())]
    BadMetricLine { path: PathBuf, line: usize, reason: String },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> RunError + '_ {
    move |source| RunError::Io { path: path.to_path_buf(), source }
}

fn json_err(path: &Path) -> impl FnOnce(serde_json::Error) -> RunError + '_ {
    move |source| RunError::Json { path: path.to_path_buf(), source }
}

/// Writes `value` as pretty JSON to `path` atomically (temp file + rename).
pub fn save_json_atomic(path: &Path, value: &impl Serialize) -> Result<(), RunError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(json_err(path))?;
    bytes.push(b'\n');
    crate::util::atomic_write(path, &bytes).map_err(io_err(path))
}

/// Reads a JSON file into `T`.
pub fn load_json<T: DeserializeOwned>(path: &Path) -> Result<T, RunError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    serde_json::from_slice(&bytes).map_err(json_err(path))
}

/// Where a run is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// A process is (or was, if it was killed) working on it.
    Running,
    Finished,
    Stopped,
    Failed,
}

impl RunStatus {
    /// Lower-case name shown in tables.
    pub fn name(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Stopped => "stopped",
            RunStatus::Failed => "failed",
        }
    }
}

/// Contents of `run.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// Layout version.
    pub format: u32,
    /// What produced the run: `pretrain`, `posttrain`, `ctr`, `eval`, ...
    pub kind: String,
    /// Unix seconds at creation.
    pub created_unix: i64,
    /// Current status.
    pub status: RunStatus,
    /// Process that last set the status (to tell a killed run from a live one).
    pub pid: u32,
}

/// How [`RunDir::create_with`] treats the folder.
#[derive(Clone, Debug, Default)]
pub struct CreateOptions {
    /// Kind recorded in `run.json`; default: the config's `kind` field, else `run`.
    pub kind: Option<String>,
    /// Replace an existing run in the folder (its run files are deleted).
    pub replace: bool,
}

/// An open run folder.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    /// Whether this session already cut a torn last line off `metrics.jsonl`.
    metrics_repaired: AtomicBool,
}

impl RunDir {
    /// Creates a run in `path` (made if missing) with `config`. Refuses a
    /// folder that already holds a run, or holds anything else.
    pub fn create(path: &Path, config: &impl Serialize) -> Result<RunDir, RunError> {
        Self::create_with(path, config, &CreateOptions::default())
    }

    /// [`create`](Self::create) with options (kind, replace an existing run).
    pub fn create_with(path: &Path, config: &impl Serialize, opts: &CreateOptions) -> Result<RunDir, RunError> {
        if path.exists() {
            if !path.is_dir() {
                return Err(RunError::NotADirectory { path: path.to_path_buf() });
            }
            if Self::is_run(path) {
                if !opts.replace {
                    return Err(RunError::RunExists { path: path.to_path_buf() });
                }
                for name in RUN_FILES {
                    let p = path.join(name);
                    if p.exists() {
                        std::fs::remove_file(&p).map_err(io_err(&p))?;
                    }
                }
            } else if std::fs::read_dir(path).map_err(io_err(path))?.next().is_some() {
                return Err(RunError::NotEmpty { path: path.to_path_buf() });
            }
        }
        std::fs::create_dir_all(path).map_err(io_err(path))?;
        let config_value = serde_json::to_value(config).map_err(json_err(&path.join(CONFIG_FILE)))?;
        let kind = opts
            .kind
            .clone()
            .or_else(|| config_value.get("kind").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "run".to_string());
        let run = RunDir { path: path.to_path_buf(), metrics_repaired: AtomicBool::new(true) };
        // Metadata first: a folder with config.json counts as a run, so once
        // config.json exists, run.json should too.
        save_json_atomic(
            &run.meta_path(),
            &RunMeta {
                format: META_FORMAT,
                kind,
                created_unix: clock::now_unix(),
                status: RunStatus::Running,
                pid: std::process::id(),
            },
        )?;
        if let Err(e) = save_json_atomic(&run.config_path(), &config_value) {
            // Leave no half-made run behind (it would block the next attempt).
            let _ = std::fs::remove_file(run.meta_path());
            return Err(e);
        }
        Ok(run)
    }

    /// Opens an existing run (one with `config.json`).
    pub fn open(path: &Path) -> Result<RunDir, RunError> {
        if !path.exists() {
            return Err(RunError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such folder"),
            });
        }
        if !path.is_dir() {
            return Err(RunError::NotADirectory { path: path.to_path_buf() });
        }
        if !Self::is_run(path) {
            return Err(RunError::NotARun { path: path.to_path_buf() });
        }
        Ok(RunDir { path: path.to_path_buf(), metrics_repaired: AtomicBool::new(false) })
    }

    /// Whether `path` is a run folder (it has `config.json`).
    pub fn is_run(path: &Path) -> bool {
        path.join(CONFIG_FILE).is_file()
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The folder's name (the run's name in lists).
    pub fn name(&self) -> String {
        self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
    }

    /// `config.json`.
    pub fn config_path(&self) -> PathBuf {
        self.path.join(CONFIG_FILE)
    }
    /// `run.json`.
    pub fn meta_path(&self) -> PathBuf {
        self.path.join(META_FILE)
    }
    /// `metrics.jsonl`.
    pub fn metrics_path(&self) -> PathBuf {
        self.path.join(METRICS_FILE)
    }
    /// `events.log`.
    pub fn events_path(&self) -> PathBuf {
        self.path.join(EVENTS_FILE)
    }
    /// `checkpoint.safetensors` (write with `util::atomic_write`).
    pub fn checkpoint_path(&self) -> PathBuf {
        self.path.join(CHECKPOINT_FILE)
    }
    /// `optimizer.safetensors` (write with `util::atomic_write`).
    pub fn optimizer_path(&self) -> PathBuf {
        self.path.join(OPTIMIZER_FILE)
    }
    /// `checkpoint_best.safetensors` (write with `util::atomic_write`).
    pub fn best_checkpoint_path(&self) -> PathBuf {
        self.path.join(BEST_CHECKPOINT_FILE)
    }
    /// `report.json`.
    pub fn report_path(&self) -> PathBuf {
        self.path.join(REPORT_FILE)
    }

    /// The config, deserialised.
    pub fn read_config<T: DeserializeOwned>(&self) -> Result<T, RunError> {
        load_json(&self.config_path())
    }

    /// `run.json`, if present.
    pub fn meta(&self) -> Result<Option<RunMeta>, RunError> {
        let p = self.meta_path();
        if !p.exists() {
            return Ok(None);
        }
        load_json(&p).map(Some)
    }

    /// Records the run's status (and this process as its owner).
    pub fn set_status(&self, status: RunStatus) -> Result<(), RunError> {
        let mut meta = self.meta()?.unwrap_or_else(|| RunMeta {
            format: META_FORMAT,
            kind: "run".to_string(),
            created_unix: clock::now_unix(),
            status,
            pid: 0,
        });
        meta.status = status;
        meta.pid = std::process::id();
        save_json_atomic(&self.meta_path(), &meta)
    }

    /// Appends one row (serialised on one line) to `metrics.jsonl`. The first
    /// append of a session first cuts away a torn last line left by a kill.
    pub fn append_metric(&self, row: &impl Serialize) -> Result<(), RunError> {
        let path = self.metrics_path();
        let mut line = serde_json::to_vec(row).map_err(json_err(&path))?;
        line.push(b'\n');
        let mut file = OpenOptions::new().create(true).read(true).append(true).open(&path).map_err(io_err(&path))?;
        if !self.metrics_repaired.load(Ordering::Acquire) {
            truncate_torn_tail(&mut file).map_err(io_err(&path))?;
            self.metrics_repaired.store(true, Ordering::Release);
        }
        // One write call per row, so a kill tears at most this row.
        file.write_all(&line).map_err(io_err(&path))
    }

    /// Every complete row of `metrics.jsonl` (none if the file is missing).
    /// An unterminated last line (torn by a kill) is ignored; a malformed
    /// complete line is an error naming its line number.
    pub fn read_metrics(&self) -> Result<Vec<Value>, RunError> {
        let path = self.metrics_path();
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(RunError::Io { path, source: e }),
        };
        parse_jsonl(&bytes).map_err(|(line, reason)| RunError::BadMetricLine { path, line, reason })
    }

    /// The last complete row of `metrics.jsonl`, reading only the file's
    /// tail (cheap for listing many runs). `None` if there is none, or it
    /// does not fit in the tail window or does not parse.
    pub fn last_metric(&self) -> Option<Value> {
        let mut file = File::open(self.metrics_path()).ok()?;
        let len = file.metadata().ok()?.len();
        let start = len.saturating_sub(TAIL_CHUNK);
        file.seek(SeekFrom::Start(start)).ok()?;
        let mut tail = Vec::with_capacity((len - start) as usize);
        file.read_to_end(&mut tail).ok()?;
        let end = tail.iter().rposition(|&b| b == b'\n')?;
        let complete = &tail[..end];
        let line_start = complete.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if line_start == 0 && start > 0 {
            return None; // the line began before the window
        }
        serde_json::from_slice(&complete[line_start..]).ok()
    }

    /// Appends `<UTC time> <text>` to `events.log` (newlines in `text` become spaces).
    pub fn log_event(&self, text: &str) -> Result<(), RunError> {
        let path = self.events_path();
        let clean: String = text.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
        let line = format!("{} {clean}\n", clock::format_utc(clock::now_unix()));
        let mut file = OpenOptions::new().create(true).append(true).open(&path).map_err(io_err(&path))?;
        file.write_all(line.as_bytes()).map_err(io_err(&path))
    }

    /// Writes `report.json` atomically.
    pub fn write_report(&self, report: &impl Serialize) -> Result<(), RunError> {
        save_json_atomic(&self.report_path(), report)
    }

    /// `report.json`, if written.
    pub fn read_report(&self) -> Result<Option<Value>, RunError> {
        let p = self.report_path();
        if !p.exists() {
            return Ok(None);
        }
        load_json(&p).map(Some)
    }
}

/// Parses newline-terminated JSON lines; the unterminated tail is ignored and
/// blank lines skipped. Err: (1-based line, reason).
fn parse_jsonl(bytes: &[u8]) -> Result<Vec<Value>, (usize, String)> {
    let complete = match bytes.iter().rposition(|&b| b == b'\n') {
        Some(last_nl) => &bytes[..last_nl],
        None => return Ok(Vec::new()),
    };
    let mut rows = Vec::new();
    for (i, line) in complete.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        rows.push(serde_json::from_slice(line).map_err(|e| (i + 1, e.to_string()))?);
    }
    Ok(rows)
}

/// Cuts the file back to just after its last newline (to empty if it has
/// none), removing a torn last line. Reads backwards in chunks, so a long
/// file costs one chunk.
fn truncate_torn_tail(file: &mut File) -> std::io::Result<()> {
    let len = file.metadata()?.len();
    let mut end = len;
    let mut buf = vec![0u8; TAIL_CHUNK as usize];
    while end > 0 {
        let start = end.saturating_sub(TAIL_CHUNK);
        let chunk = &mut buf[..(end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(chunk)?;
        if let Some(i) = chunk.iter().rposition(|&b| b == b'\n') {
            let keep = start + i as u64 + 1;
            if keep < len {
                file.set_len(keep)?;
            }
            return Ok(());
        }
        end = start;
    }
    if len > 0 {
        file.set_len(0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct Cfg {
        kind: String,
        d_model: usize,
    }

    fn cfg() -> Cfg {
        Cfg { kind: "pretrain".into(), d_model: 16 }
    }

    #[test]
    fn create_open_append_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("run1");
        let run = RunDir::create(&p, &cfg()).unwrap();
        run.append_metric(&json!({"step": 1, "loss": 2.5})).unwrap();
        run.append_metric(&json!({"step": 2, "loss": 2.0})).unwrap();
        run.log_event("started\nwith two lines").unwrap();
        run.write_report(&json!({"status": "finished", "hr@10": 0.3})).unwrap();

        let again = RunDir::open(&p).unwrap();
        assert_eq!(again.read_config::<Cfg>().unwrap(), cfg());
        assert_eq!(
            again.read_metrics().unwrap(),
            vec![json!({"step": 1, "loss": 2.5}), json!({"step": 2, "loss": 2.0})]
        );
        assert_eq!(again.read_report().unwrap().unwrap()["hr@10"], 0.3);
        assert_eq!(again.last_metric(), Some(json!({"step": 2, "loss": 2.0})));
        let meta = again.meta().unwrap().unwrap();
        assert_eq!(meta.kind, "pretrain");
        assert_eq!(meta.status, RunStatus::Running);
        let log = std::fs::read_to_string(again.events_path()).unwrap();
        assert_eq!(log.lines().count(), 1);
        assert!(log.trim_end().ends_with("Z started with two lines"), "{log}");
        again.set_status(RunStatus::Finished).unwrap();
        assert_eq!(again.meta().unwrap().unwrap().status, RunStatus::Finished);
    }

    #[test]
    fn torn_last_line_is_ignored_then_cut_before_appending() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), &cfg()).unwrap();
        run.append_metric(&json!({"step": 1})).unwrap();
        // A kill mid-write leaves half a row.
        let mut f = OpenOptions::new().append(true).open(run.metrics_path()).unwrap();
        f.write_all(br#"{"step": 2, "lo"#).unwrap();
        drop(f);
        drop(run);

        let run = RunDir::open(dir.path()).unwrap();
        assert_eq!(run.read_metrics().unwrap(), vec![json!({"step": 1})]);
        run.append_metric(&json!({"step": 2})).unwrap();
        run.append_metric(&json!({"step": 3})).unwrap();
        assert_eq!(run.read_metrics().unwrap(), vec![json!({"step": 1}), json!({"step": 2}), json!({"step": 3})]);
        let text = std::fs::read_to_string(run.metrics_path()).unwrap();
        assert_eq!(text, "{\"step\":1}\n{\"step\":2}\n{\"step\":3}\n");
    }

    #[test]
    fn torn_only_line_and_long_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), &cfg()).unwrap();
        std::fs::write(run.metrics_path(), br#"{"half"#).unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        assert!(run.read_metrics().unwrap().is_empty());
        run.append_metric(&json!({"a": 1})).unwrap();
        assert_eq!(std::fs::read_to_string(run.metrics_path()).unwrap(), "{\"a\":1}\n");

        // A torn line longer than one scan chunk, after a long file.
        let mut text = String::new();
        for i in 0..5000 {
            text.push_str(&format!("{{\"step\":{i},\"pad\":\"{}\"}}\n", "x".repeat(20)));
        }
        let good_len = text.len();
        text.push_str(&format!("{{\"torn\":\"{}", "y".repeat(3 * TAIL_CHUNK as usize)));
        std::fs::write(run.metrics_path(), &text).unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        assert_eq!(run.read_metrics().unwrap().len(), 5000);
        run.append_metric(&json!({"step": 5000})).unwrap();
        let rows = run.read_metrics().unwrap();
        assert_eq!(rows.len(), 5001);
        assert_eq!(rows[5000], json!({"step": 5000}));
        assert_eq!(run.last_metric(), Some(json!({"step": 5000})));
        assert_eq!(std::fs::metadata(run.metrics_path()).unwrap().len() as usize, good_len + "{\"step\":5000}\n".len());
    }

    #[test]
    fn malformed_middle_line_is_reported_with_its_number() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), &cfg()).unwrap();
        std::fs::write(run.metrics_path(), "{\"a\":1}\n\nnot json\n{\"a\":2}\n").unwrap();
        let e = run.read_metrics().unwrap_err().to_string();
        assert!(e.contains("metrics.jsonl:3: invalid metrics row"), "{e}");
    }

    #[test]
    fn create_refuses_existing_runs_and_foreign_folders() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("r");
        RunDir::create(&p, &cfg()).unwrap().append_metric(&json!({"x": 1})).unwrap();
        let e = RunDir::create(&p, &cfg()).unwrap_err();
        assert!(matches!(e, RunError::RunExists { .. }));
        assert!(e.to_string().contains("already holds a run"), "{e}");
        // Metrics untouched by the refused create.
        assert_eq!(RunDir::open(&p).unwrap().read_metrics().unwrap().len(), 1);

        // Replacing on request starts afresh, keeping unrelated files.
        std::fs::write(p.join("notes.txt"), "mine").unwrap();
        let opts = CreateOptions { kind: Some("ctr".into()), replace: true };
        let run = RunDir::create_with(&p, &json!({"lr": 0.1}), &opts).unwrap();
        assert!(run.read_metrics().unwrap().is_empty());
        assert_eq!(run.meta().unwrap().unwrap().kind, "ctr");
        assert!(p.join("notes.txt").exists());

        // A non-empty folder that is not a run.
        let other = dir.path().join("photos");
        std::fs::create_dir(&other).unwrap();
        std::fs::write(other.join("cat.png"), "x").unwrap();
        let e = RunDir::create(&other, &cfg()).unwrap_err();
        assert!(e.to_string().contains("is not empty and is not a run folder"), "{e}");
        // An empty existing folder is fine.
        let empty = dir.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        RunDir::create(&empty, &cfg()).unwrap();
        // A file in the way.
        let file = dir.path().join("file");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(RunDir::create(&file, &cfg()), Err(RunError::NotADirectory { .. })));
    }

    #[test]
    fn open_explains_what_is_wrong() {
        let dir = tempfile::tempdir().unwrap();
        let e = RunDir::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("not a run folder (no config.json)"), "{e}");
        let e = RunDir::open(&dir.path().join("missing")).unwrap_err().to_string();
        assert!(e.contains("no such folder"), "{e}");
        std::fs::write(dir.path().join(CONFIG_FILE), "{ broken").unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let e = run.read_config::<Cfg>().unwrap_err().to_string();
        assert!(e.contains("config.json: invalid JSON"), "{e}");
    }

    #[test]
    fn atomic_writes_leave_no_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(dir.path(), &cfg()).unwrap();
        for i in 0..3 {
            run.write_report(&json!({"i": i})).unwrap();
            run.set_status(RunStatus::Stopped).unwrap();
            save_json_atomic(&dir.path().join("extra.json"), &json!([i])).unwrap();
        }
        crate::util::atomic_write(&run.checkpoint_path(), b"weights").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, vec!["checkpoint.safetensors", "config.json", "extra.json", "report.json", "run.json"]);
        assert_eq!(run.read_report().unwrap(), Some(json!({"i": 2})));
    }
}
