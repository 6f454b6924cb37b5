//! The runs of a workspace at a glance: name, kind, when, status and a few
//! headline numbers, for the Runs panel and `lumlab` listings.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{RunDir, RunError, RunStatus, clock};
use crate::eval::Metric;

/// At most this many headline numbers per run.
const MAX_HEADLINE: usize = 8;
/// Status of a run whose `run.json` says running but whose process is gone.
pub const STATUS_INTERRUPTED: &str = "interrupted";

/// One row of a run listing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Folder name.
    pub name: String,
    /// Folder.
    pub path: PathBuf,
    /// `run.json` kind, else the config's `kind` field, else `unknown`.
    pub kind: String,
    /// Unix seconds at creation (from `run.json`, else config.json's mtime).
    pub created_unix: Option<i64>,
    /// `created_unix` as UTC text ("" when unknown).
    pub created: String,
    /// `running`, `finished`, `stopped`, `failed`, `interrupted` (killed while
    /// running) or `unknown`.
    pub status: String,
    /// A few numbers: the report's `headline` (a list of `Metric`s or a
    /// name -> number map), else the numeric fields of the last metrics row.
    pub headline: Vec<Metric>,
}

/// Whether process `pid` is alive. Only Linux can tell cheaply (`/proc`);
/// elsewhere a recorded owner is assumed alive.
fn process_alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    if cfg!(target_os = "linux") { Path::new("/proc").join(pid.to_string()).exists() } else { true }
}

fn report_status(report: &Option<Value>) -> Option<String> {
    let r = report.as_ref()?;
    Some(r.get("status").and_then(Value::as_str).unwrap_or("finished").to_string())
}

/// Headline numbers from a report's `headline` field.
fn headline_from_report(report: &Value) -> Option<Vec<Metric>> {
    let h = report.get("headline")?;
    if let Ok(list) = serde_json::from_value::<Vec<Metric>>(h.clone()) {
        return Some(list);
    }
    let map = h.as_object()?;
    Some(map.iter().filter_map(|(k, v)| v.as_f64().map(|x| Metric::new(k.clone(), x, "report.json"))).collect())
}

/// Headline numbers from the last metrics row (its numeric fields but `step`).
fn headline_from_metrics(row: &Value) -> Vec<Metric> {
    let Some(map) = row.as_object() else { return Vec::new() };
    let protocol = match map.get("step").and_then(Value::as_u64) {
        Some(step) => format!("last metrics row, step {step}"),
        None => "last metrics row".to_string(),
    };
    map.iter()
        .filter(|(k, _)| k.as_str() != "step")
        .filter_map(|(k, v)| v.as_f64().map(|x| Metric::new(k.clone(), x, protocol.clone())))
        .collect()
}

impl RunSummary {
    /// Summarises one run; a broken `run.json` or report degrades to "unknown"
    /// fields rather than hiding the run.
    pub fn read(run: &RunDir) -> RunSummary {
        let meta = run.meta().ok().flatten();
        let report = run.read_report().ok().flatten();
        let kind = meta
            .as_ref()
            .map(|m| m.kind.clone())
            .or_else(|| run.read_config::<Value>().ok()?.get("kind")?.as_str().map(str::to_string));
        let status = match &meta {
            Some(m) if m.status != RunStatus::Running => m.status.name().to_string(),
            Some(m) if process_alive(m.pid) => RunStatus::Running.name().to_string(),
            Some(_) => report_status(&report).unwrap_or_else(|| STATUS_INTERRUPTED.to_string()),
            None => report_status(&report).unwrap_or_else(|| "unknown".to_string()),
        };
        let created_unix = meta.as_ref().map(|m| m.created_unix).or_else(|| {
            let modified = std::fs::metadata(run.config_path()).ok()?.modified().ok()?;
            Some(modified.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
        });
        let mut headline = report
            .as_ref()
            .and_then(headline_from_report)
            .or_else(|| run.last_metric().map(|row| headline_from_metrics(&row)))
            .unwrap_or_default();
        headline.truncate(MAX_HEADLINE);
        RunSummary {
            name: run.name(),
            path: run.path().to_path_buf(),
            kind: kind.unwrap_or_else(|| "unknown".to_string()),
            created_unix,
            created: created_unix.map(clock::format_utc).unwrap_or_default(),
            status,
            headline,
        }
    }
}

/// Every run folder inside `workspace`, newest first (then by name): its direct
/// sub-folders that are runs, and the runs one level below a folder that is not a
/// run itself (a `lumlab flow --out` folder holds `pretrain/` and `ctr/`), named
/// `parent/child`. A missing workspace has no runs; other folders and files are skipped.
pub fn list_runs(workspace: &Path) -> Result<Vec<RunSummary>, RunError> {
    let mut runs = Vec::new();
    for dir in sub_dirs(workspace)? {
        if RunDir::is_run(&dir) {
            runs.extend(RunDir::open(&dir).ok().map(|run| RunSummary::read(&run)));
            continue;
        }
        // An unreadable grouping folder hides only its own runs.
        let Ok(inner) = sub_dirs(&dir) else { continue };
        let group = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        for sub in inner.into_iter().filter(|p| RunDir::is_run(p)) {
            if let Ok(run) = RunDir::open(&sub) {
                let mut summary = RunSummary::read(&run);
                summary.name = format!("{group}/{}", summary.name);
                runs.push(summary);
            }
        }
    }
    runs.sort_by(|a, b| b.created_unix.cmp(&a.created_unix).then_with(|| a.name.cmp(&b.name)));
    Ok(runs)
}

/// The folders directly inside `dir` (none when it does not exist).
fn sub_dirs(dir: &Path) -> Result<Vec<PathBuf>, RunError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(RunError::Io { path: dir.to_path_buf(), source }),
    };
    Ok(entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_dir()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{META_FILE, RunMeta, save_json_atomic};
    use serde_json::json;

    #[test]
    fn lists_runs_with_kind_status_and_headline() {
        let ws = tempfile::tempdir().unwrap();
        // A finished run with a headline of metrics (with protocols).
        let a = RunDir::create(&ws.path().join("a"), &json!({"kind": "pretrain"})).unwrap();
        let hr = Metric::new("HR@10", 0.31, "full, leave-one-out, seen removed");
        a.write_report(&json!({"headline": [hr]})).unwrap();
        a.set_status(RunStatus::Finished).unwrap();
        // A run still running in this process, headline from its last metrics row.
        let b = RunDir::create(&ws.path().join("b"), &json!({"kind": "ctr"})).unwrap();
        b.append_metric(&json!({"step": 1, "loss": 0.9})).unwrap();
        b.append_metric(&json!({"step": 2, "loss": 0.7, "note": "x"})).unwrap();
        // A run whose process was killed: status says running, pid is dead.
        let c = RunDir::create(&ws.path().join("c"), &json!({"lr": 0.1})).unwrap();
        let mut meta: RunMeta = crate::run::load_json(&c.meta_path()).unwrap();
        meta.pid = u32::MAX - 1; // no such process
        meta.created_unix -= 100; // older
        save_json_atomic(&ws.path().join("c").join(META_FILE), &meta).unwrap();
        // Not runs: a stray folder and a file.
        std::fs::create_dir(ws.path().join("junk")).unwrap();
        std::fs::write(ws.path().join("file.txt"), "x").unwrap();

        let runs = list_runs(ws.path()).unwrap();
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, vec!["a", "b", "c"], "newest first, ties by name");
        assert_eq!((runs[0].kind.as_str(), runs[0].status.as_str()), ("pretrain", "finished"));
        assert_eq!(runs[0].headline, vec![Metric::new("HR@10", 0.31, "full, leave-one-out, seen removed")]);
        assert_eq!((runs[1].kind.as_str(), runs[1].status.as_str()), ("ctr", "running"));
        assert_eq!(runs[1].headline, vec![Metric::new("loss", 0.7, "last metrics row, step 2")]);
        assert_eq!((runs[2].kind.as_str(), runs[2].status.as_str()), ("run", STATUS_INTERRUPTED));
        assert!(runs[2].created.ends_with('Z'));
        assert!(list_runs(&ws.path().join("nope")).unwrap().is_empty());
    }

    #[test]
    fn runs_inside_a_flow_folder_are_listed_with_its_name() {
        let ws = tempfile::tempdir().unwrap();
        let flow = ws.path().join("flow-1");
        RunDir::create(&flow.join("pretrain"), &json!({"kind": "pretrain"})).unwrap();
        RunDir::create(&flow.join("ctr"), &json!({"kind": "ctr"})).unwrap();
        std::fs::create_dir_all(flow.join("notes")).unwrap();
        // Two levels down is not searched.
        RunDir::create(&ws.path().join("deep").join("x").join("y"), &json!({"kind": "ctr"})).unwrap();
        RunDir::create(&ws.path().join("top"), &json!({"kind": "pretrain"})).unwrap();
        let mut names: Vec<String> = list_runs(ws.path()).unwrap().into_iter().map(|r| r.name).collect();
        names.sort();
        assert_eq!(names, vec!["flow-1/ctr", "flow-1/pretrain", "top"]);
    }

    #[test]
    fn runs_without_metadata_fall_back_to_report() {
        let ws = tempfile::tempdir().unwrap();
        let p = ws.path().join("old");
        std::fs::create_dir(&p).unwrap();
        std::fs::write(p.join("config.json"), r#"{"kind": "eval"}"#).unwrap();
        std::fs::write(p.join("report.json"), r#"{"status": "stopped", "headline": {"auc": 0.71}}"#).unwrap();
        let runs = list_runs(ws.path()).unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].kind, "eval");
        assert_eq!(runs[0].status, "stopped");
        assert_eq!(runs[0].headline, vec![Metric::new("auc", 0.71, "report.json")]);
        assert!(runs[0].created_unix.is_some());
    }
}
